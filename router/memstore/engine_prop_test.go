package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
)

// TestEngineProperties drives the Engine on memstore through random worlds:
// orgs with queues (some paused), teams (some paused) and agents (random
// capacity, status, team and skills), items with random attributes (valid
// ones with random team and skill requirements, corrupt ones, and ones
// whose revision a drill deleted), orphans, a random fault policy, and
// random operator actions, completions and status changes interleaved with
// engine passes on a manual clock. After every step it checks what must
// always hold; after RunUntilIdle it checks that faulty items never hold up
// the work behind them (or, under the block policy, that they do).
func TestEngineProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(rt)
		w.build()
		steps := rapid.IntRange(0, 12).Draw(rt, "steps")
		for range steps {
			w.step()
			w.checkAlways("after a step")
		}
		w.runUntilIdle()
		w.checkAlways("after RunUntilIdle")
		w.checkIdle()
	})
}

var (
	propBase  = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	propSkill = []string{"de", "fr", "vip"}
	operator  = router.Actor{Name: "prop-operator", OSUser: "prop", Origin: "local"}
)

type world struct {
	t      *rapid.T
	ctx    context.Context
	s      *memstore.Store
	clock  *router.ManualClock
	engine *router.Engine
	policy router.FaultPolicy
	batch  int

	orgs    []string
	queues  map[string][]string
	teams   map[string][]string
	agents  map[string][]string
	items   []int64
	orgOf   map[int64]string
	orphans map[int64]bool
	// bad holds the items the test made faulty on purpose, with the
	// finding Verify must report for each.
	bad map[int64]string
}

func newWorld(t *rapid.T) *world {
	return &world{
		t: t, ctx: context.Background(), s: memstore.New(), clock: router.NewManualClock(propBase),
		queues: map[string][]string{}, teams: map[string][]string{}, agents: map[string][]string{},
		orgOf: map[int64]string{}, orphans: map[int64]bool{}, bad: map[int64]string{},
	}
}

func (w *world) must(err error, what string) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func (w *world) build() {
	t := w.t
	w.policy = rapid.SampledFrom(router.FaultPolicies).Draw(t, "policy")
	w.batch = rapid.IntRange(1, 20).Draw(t, "batch")
	nOrgs := rapid.IntRange(1, 3).Draw(t, "orgs")
	for o := range nOrgs {
		org := fmt.Sprintf("org-%d", o)
		w.orgs = append(w.orgs, org)
		w.must(w.s.UpsertOrg(w.ctx, router.Org{ID: org}), "UpsertOrg")
		for q := range rapid.IntRange(1, 3).Draw(t, "queues") {
			id := fmt.Sprintf("q%d", q)
			paused := rapid.IntRange(0, 4).Draw(t, "queuePaused") == 0
			w.must(w.s.UpsertQueue(w.ctx, router.Queue{OrgID: org, ID: id, Priority: rapid.IntRange(0, 2).Draw(t, "queuePriority"),
				Paused: paused}), "UpsertQueue")
			w.queues[org] = append(w.queues[org], id)
		}
		for tm := range rapid.IntRange(1, 2).Draw(t, "teams") {
			id := fmt.Sprintf("t%d", tm)
			st := router.TeamActive
			if rapid.IntRange(0, 3).Draw(t, "teamPaused") == 0 {
				st = router.TeamPaused
			}
			w.must(w.s.UpsertTeam(w.ctx, router.Team{OrgID: org, ID: id, Status: st}), "UpsertTeam")
			w.teams[org] = append(w.teams[org], id)
		}
		for a := range rapid.IntRange(0, 4).Draw(t, "agents") {
			id := fmt.Sprintf("a%d", a)
			var skills []string
			for _, sk := range propSkill {
				if rapid.IntRange(0, 2).Draw(t, "hasSkill") == 0 {
					skills = append(skills, sk)
				}
			}
			w.must(w.s.UpsertAgent(w.ctx, router.Agent{OrgID: org, ID: id,
				TeamID:   rapid.SampledFrom(w.teams[org]).Draw(t, "agentTeam"),
				Skills:   skills,
				Status:   rapid.SampledFrom([]router.AgentStatus{router.AgentAvailable, router.AgentAvailable, router.AgentAway, router.AgentOffline}).Draw(t, "agentStatus"),
				Capacity: rapid.IntRange(0, 3).Draw(t, "capacity")}), "UpsertAgent")
			w.agents[org] = append(w.agents[org], id)
		}
		for range rapid.IntRange(0, 12).Draw(t, "items") {
			w.enqueue(org)
		}
		if rapid.IntRange(0, 3).Draw(t, "hasOrphans") == 0 {
			for range rapid.IntRange(1, 2).Draw(t, "orphans") {
				res, err := w.s.BulkLoad(w.ctx, &router.BulkData{Items: []router.BulkItem{{OrgID: org, QueueID: "gone",
					EnqueuedAt: propBase, Revisions: []router.BulkRevision{{Attributes: []byte(`{"channel": "chat", "priority": 1}`), CreatedAt: propBase}}}}})
				w.must(err, "BulkLoad orphan")
				w.items = append(w.items, res.FirstItemID)
				w.orgOf[res.FirstItemID] = org
				w.orphans[res.FirstItemID] = true
			}
		}
		if n := rapid.IntRange(0, 2).Draw(t, "drillDelete"); n > 0 {
			ids, err := w.s.DrillDeleteRevisions(w.ctx, router.DrillRequest{Org: org, Count: n, Actor: operator, At: w.clock.Now()})
			w.must(err, "DrillDeleteRevisions")
			for _, id := range ids {
				w.bad[id] = router.FindingDanglingRevision
			}
		}
	}
	w.engine = router.NewEngine(w.s, router.EngineConfig{ID: "prop", Policy: w.policy, BatchSize: w.batch,
		Workers: rapid.IntRange(1, 3).Draw(t, "workers"), Clock: w.clock})
	w.checkAlways("after setup")
}

// enqueue adds one item with random attributes to a random queue of org.
func (w *world) enqueue(org string) {
	t := w.t
	var a []byte
	corrupt := rapid.IntRange(0, 4).Draw(t, "corrupt") == 0
	if corrupt {
		a = router.CorruptAttributes(rapid.IntRange(0, 4).Draw(t, "corruptKind"))
	} else {
		attrs := router.Attributes{Priority: rapid.IntRange(0, 3).Draw(t, "priority"),
			Channel: rapid.SampledFrom(router.Channels).Draw(t, "channel")}
		if rapid.IntRange(0, 3).Draw(t, "needsTeam") == 0 {
			attrs.Team = rapid.SampledFrom(append(slices.Clone(w.teams[org]), "no-such-team")).Draw(t, "team")
		}
		if rapid.IntRange(0, 3).Draw(t, "needsSkill") == 0 {
			attrs.Skills = []string{rapid.SampledFrom(propSkill).Draw(t, "skill")}
		}
		a = attrs.Marshal()
	}
	it, err := w.s.Enqueue(w.ctx, router.EnqueueRequest{OrgID: org, QueueID: rapid.SampledFrom(w.queues[org]).Draw(t, "queue"),
		Attributes: a, EnqueuedAt: propBase.Add(time.Duration(rapid.IntRange(0, 30).Draw(t, "enqueuedAt")) * time.Second)})
	w.must(err, "Enqueue")
	w.items = append(w.items, it.ID)
	w.orgOf[it.ID] = org
	if corrupt {
		w.bad[it.ID] = router.FindingInvalidAttributes
	}
}

func (w *world) item(id int64) router.WorkItem {
	w.t.Helper()
	it, err := w.s.GetItem(w.ctx, id)
	w.must(err, "GetItem")
	return it
}

func (w *world) step() {
	t := w.t
	switch rapid.SampledFrom([]string{"pass", "pass", "quarantine", "release", "complete", "enqueue", "agent", "team", "queue", "clock"}).Draw(t, "op") {
	case "pass":
		w.engineRun("Pass", func() (router.PassResult, error) { return w.engine.Pass(w.ctx) })
	case "quarantine":
		if len(w.items) == 0 {
			return
		}
		id := rapid.SampledFrom(w.items).Draw(t, "quarantineItem")
		before := w.item(id)
		r, err := w.s.Quarantine(w.ctx, router.QuarantineRequest{Org: w.orgOf[id], ItemID: id, Reason: "prop", Actor: operator, At: w.clock.Now()})
		switch before.State {
		case router.StateQueued:
			if err != nil || !r.Changed || r.State != router.StateQuarantined {
				t.Fatalf("Quarantine of queued item %d = %+v, %v", id, r, err)
			}
		case router.StateQuarantined:
			if err != nil || r.Changed {
				t.Fatalf("Quarantine of quarantined item %d = %+v, %v; want unchanged", id, r, err)
			}
		default:
			if !errors.Is(err, router.ErrConflict) {
				t.Fatalf("Quarantine of %s item %d: %v, want ErrConflict", before.State, id, err)
			}
		}
		if after := w.item(id); after.State == router.StateQuarantined && after.Skipped {
			t.Fatalf("quarantined item %d is still flagged skipped", id)
		}
	case "release":
		if len(w.items) == 0 {
			return
		}
		id := rapid.SampledFrom(w.items).Draw(t, "releaseItem")
		before := w.item(id)
		// Forced: an item quarantined for a broken revision goes back as
		// the operator's --force sends it, and faults again when routed.
		r, err := w.s.Release(w.ctx, router.ReleaseRequest{Org: w.orgOf[id], ItemID: id, Force: true, Actor: operator, At: w.clock.Now()})
		switch {
		case before.State == router.StateQuarantined || (before.State == router.StateQueued && before.Skipped):
			if err != nil || !r.Changed || r.State != router.StateQueued {
				t.Fatalf("Release of %s (skipped %v) item %d = %+v, %v", before.State, before.Skipped, id, r, err)
			}
			after := w.item(id)
			if after.Skipped || !after.EnqueuedAt.Equal(before.EnqueuedAt) {
				t.Fatalf("released item %+v, was %+v", after, before)
			}
		case before.State == router.StateQueued:
			if err != nil || r.Changed {
				t.Fatalf("Release of queued item %d = %+v, %v; want unchanged", id, r, err)
			}
		default:
			if !errors.Is(err, router.ErrConflict) {
				t.Fatalf("Release of %s item %d: %v, want ErrConflict", before.State, id, err)
			}
		}
	case "complete":
		var assigned []int64
		for _, id := range w.items {
			if w.item(id).State == router.StateAssigned {
				assigned = append(assigned, id)
			}
		}
		if len(assigned) == 0 {
			return
		}
		id := rapid.SampledFrom(assigned).Draw(t, "completeItem")
		w.must(w.s.Complete(w.ctx, router.CompleteRequest{Org: w.orgOf[id], ItemID: id, At: w.clock.Now()}), "Complete")
	case "enqueue":
		w.enqueue(rapid.SampledFrom(w.orgs).Draw(t, "enqueueOrg"))
	case "agent":
		org := rapid.SampledFrom(w.orgs).Draw(t, "agentOrg")
		if len(w.agents[org]) == 0 {
			return
		}
		st := rapid.SampledFrom([]router.AgentStatus{router.AgentAvailable, router.AgentAway, router.AgentOffline}).Draw(t, "newAgentStatus")
		w.must(w.s.SetAgentStatus(w.ctx, router.AgentStatusRequest{Org: org, Agent: rapid.SampledFrom(w.agents[org]).Draw(t, "agent"), Status: st, At: w.clock.Now()}), "SetAgentStatus")
	case "team":
		org := rapid.SampledFrom(w.orgs).Draw(t, "teamOrg")
		st := rapid.SampledFrom([]router.TeamStatus{router.TeamActive, router.TeamPaused}).Draw(t, "newTeamStatus")
		w.must(w.s.SetTeamStatus(w.ctx, router.TeamStatusRequest{Org: org, Team: rapid.SampledFrom(w.teams[org]).Draw(t, "team"), Status: st, At: w.clock.Now()}), "SetTeamStatus")
	case "queue":
		org := rapid.SampledFrom(w.orgs).Draw(t, "queueOrg")
		_, err := w.s.SetQueuePaused(w.ctx, router.QueuePauseRequest{Org: org, Queue: rapid.SampledFrom(w.queues[org]).Draw(t, "pauseQueue"), Paused: rapid.Bool().Draw(t, "paused"), Actor: operator, At: w.clock.Now()})
		w.must(err, "SetQueuePaused")
	case "clock":
		w.clock.Advance(time.Duration(rapid.IntRange(1, 45).Draw(t, "advance")) * time.Second)
	}
}

// engineRun runs the engine and, under the block policy, checks that every
// item behind a faulty item in its queue is still queued afterwards.
func (w *world) engineRun(what string, run func() (router.PassResult, error)) {
	var behindFault []int64
	if w.policy == router.PolicyBlock {
		for _, org := range w.orgs {
			for _, q := range w.liveQueues(org) {
				line := w.line(org, q)
				for i, it := range line {
					if !w.valid(it) {
						behindFault = append(behindFault, ids(line[i+1:])...)
						break
					}
				}
			}
		}
	}
	res, err := run()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	if res.Errors != 0 {
		w.t.Fatalf("%s: %d routing errors, last %v", what, res.Errors, res.LastError)
	}
	for _, id := range behindFault {
		if it := w.item(id); it.State != router.StateQueued {
			w.t.Fatalf("block policy: item %d behind a faulty item is %s after %s, want still queued", id, it.State, what)
		}
	}
	if w.policy == router.PolicyBlock && (res.Quarantined != 0 || res.Skipped != 0) {
		w.t.Fatalf("block policy quarantined %d and skipped %d", res.Quarantined, res.Skipped)
	}
}

func (w *world) runUntilIdle() {
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	w.engineRun("RunUntilIdle", func() (router.PassResult, error) { return w.engine.RunUntilIdle(ctx) })
}

func ids(items []router.WorkItem) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// liveQueues returns org's unpaused queues.
func (w *world) liveQueues(org string) []string {
	qs, err := w.s.ListQueues(w.ctx, org)
	w.must(err, "ListQueues")
	var out []string
	for _, q := range qs {
		if !q.Paused {
			out = append(out, q.ID)
		}
	}
	return out
}

// line returns a queue's unskipped queued items in routing order.
func (w *world) line(org, queue string) []router.WorkItem {
	items, err := w.s.ListItems(w.ctx, router.ItemFilter{Org: org, Queue: queue, State: router.StateQueued, Limit: 10_000})
	w.must(err, "ListItems")
	items = slices.DeleteFunc(items, func(it router.WorkItem) bool { return it.Skipped })
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if !a.EnqueuedAt.Equal(b.EnqueuedAt) {
			return a.EnqueuedAt.Before(b.EnqueuedAt)
		}
		return a.ID < b.ID
	})
	return items
}

// attrsOf loads an item's current attributes; ok is false for a faulty item.
func (w *world) attrsOf(it router.WorkItem) (router.Attributes, bool) {
	revs, err := w.s.ItemRevisions(w.ctx, it.OrgID, it.ID)
	w.must(err, "ItemRevisions")
	for _, r := range revs {
		if r.ID == it.CurrentRevisionID {
			a, err := router.ParseAttributes(r.Attributes)
			return a, err == nil
		}
	}
	return router.Attributes{}, false
}

func (w *world) valid(it router.WorkItem) bool {
	_, ok := w.attrsOf(it)
	return ok
}

// routingAgents returns org's agents as routing sees them: team status
// filled in, sorted by id.
func (w *world) routingAgents(org string) []router.Agent {
	as, err := w.s.ListAgents(w.ctx, org)
	w.must(err, "ListAgents")
	ts, err := w.s.ListTeams(w.ctx, org)
	w.must(err, "ListTeams")
	status := map[string]router.TeamStatus{}
	for _, tm := range ts {
		status[tm.ID] = tm.Status
	}
	for i := range as {
		as[i].TeamStatus = status[as[i].TeamID]
	}
	sort.Slice(as, func(i, j int) bool { return as[i].ID < as[j].ID })
	return as
}

// checkAlways checks the invariants that hold after any step.
func (w *world) checkAlways(when string) {
	t := w.t
	all := map[int64]router.WorkItem{}
	after := int64(0)
	for {
		page, err := w.s.ListItems(w.ctx, router.ItemFilter{AfterID: after, Limit: 100})
		w.must(err, "ListItems")
		for _, it := range page {
			all[it.ID] = it
		}
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].ID
	}
	// Nothing lost.
	if len(all) != len(w.items) {
		t.Fatalf("%s: %d items in the store, %d were created", when, len(all), len(w.items))
	}
	for _, id := range w.items {
		if _, ok := all[id]; !ok {
			t.Fatalf("%s: item %d is gone", when, id)
		}
	}
	// Exactly one assigned event per assigned (or completed) item, none
	// for any other; so nothing is both quarantined and assigned.
	evs, err := w.s.Events(w.ctx, router.EventFilter{Kinds: []string{router.EventAssigned}})
	w.must(err, "Events")
	assignedEvents := map[int64]int{}
	for _, e := range evs {
		assignedEvents[e.WorkItemID]++
	}
	for id, it := range all {
		n := assignedEvents[id]
		switch it.State {
		case router.StateAssigned, router.StateCompleted:
			if n != 1 {
				t.Fatalf("%s: item %d is %s with %d assigned events, want exactly 1", when, id, it.State, n)
			}
		default:
			if n != 0 {
				t.Fatalf("%s: item %d is %s with %d assigned events", when, id, it.State, n)
			}
		}
		if _, isBad := w.bad[id]; (isBad || w.orphans[id]) && (it.State == router.StateAssigned || it.State == router.StateCompleted) {
			t.Fatalf("%s: faulty item %d was assigned", when, id)
		}
		if it.Skipped && it.State != router.StateQueued {
			t.Fatalf("%s: item %d is %s and flagged skipped", when, id, it.State)
		}
		if it.Skipped && w.policy != router.PolicySkip {
			t.Fatalf("%s: item %d skipped under policy %s", when, id, w.policy)
		}
	}
	// No agent over capacity, every load equal to its assigned items, and
	// every assignment to an agent that matches the item.
	for _, org := range w.orgs {
		held := map[string]int{}
		agents := map[string]router.Agent{}
		for _, a := range w.routingAgents(org) {
			agents[a.ID] = a
		}
		for _, it := range all {
			if it.OrgID != org || it.State != router.StateAssigned {
				continue
			}
			held[it.AgentID]++
			a, ok := agents[it.AgentID]
			if !ok {
				t.Fatalf("%s: item %d assigned to unknown agent %q", when, it.ID, it.AgentID)
			}
			attrs, valid := w.attrsOf(it)
			if !valid {
				t.Fatalf("%s: assigned item %d has no valid attributes", when, it.ID)
			}
			if attrs.Team != "" && a.TeamID != attrs.Team {
				t.Fatalf("%s: item %d needs team %s, assigned to %s of team %s", when, it.ID, attrs.Team, a.ID, a.TeamID)
			}
			for _, sk := range attrs.Skills {
				if !slices.Contains(a.Skills, sk) {
					t.Fatalf("%s: item %d needs skill %s, assigned to %s with %v", when, it.ID, sk, a.ID, a.Skills)
				}
			}
		}
		for id, a := range agents {
			if a.Load > a.Capacity {
				t.Fatalf("%s: agent %s/%s has load %d over capacity %d", when, org, id, a.Load, a.Capacity)
			}
			if a.Load != held[id] {
				t.Fatalf("%s: agent %s/%s has load %d but %d assigned items", when, org, id, a.Load, held[id])
			}
		}
	}
	// Verify finds exactly what the test broke on purpose.
	rep, err := w.s.Verify(w.ctx, 10_000)
	w.must(err, "Verify")
	found := map[int64]string{}
	for _, f := range rep.Findings {
		want, ok := w.bad[f.ItemID]
		if f.ItemID == 0 || !ok || want != f.Kind {
			t.Fatalf("%s: unexpected Verify finding %+v", when, f)
		}
		found[f.ItemID] = f.Kind
	}
	for id, kind := range w.bad {
		if found[id] != kind {
			t.Fatalf("%s: Verify does not report %s for item %d", when, kind, id)
		}
	}
}

// checkIdle checks what holds once a full pass can do nothing more. In each
// unpaused queue the engine looks at the first `batch` unskipped queued
// items; none of them may be faulty (quarantine and skip move faulty items
// out of the way) or takeable by an agent with free capacity. Under the
// block policy the queue stops at its first faulty item, as the legacy
// router did.
func (w *world) checkIdle() {
	t := w.t
	for _, org := range w.orgs {
		agents := w.routingAgents(org)
		for _, q := range w.liveQueues(org) {
			line := w.line(org, q)
			if len(line) > w.batch {
				line = line[:w.batch]
			}
			for _, it := range line {
				attrs, ok := w.attrsOf(it)
				if !ok {
					if w.policy == router.PolicyBlock {
						if it.Attempts == 0 || it.FaultCause == "" {
							t.Fatalf("block policy: faulty item %d at the head of %s/%s was never attempted", it.ID, org, q)
						}
						break
					}
					t.Fatalf("policy %s: faulty item %d is still in the head of %s/%s after RunUntilIdle", w.policy, it.ID, org, q)
				}
				if i := router.PickAgent(agents, &attrs); i >= 0 {
					t.Fatalf("policy %s: item %d in %s/%s (attributes %+v) waits while agent %+v could take it",
						w.policy, it.ID, org, q, attrs, agents[i])
				}
			}
		}
		// Under quarantine, every faulty item the engine reached is out of
		// the way with its cause; under skip it is flagged.
		items, err := w.s.ListItems(w.ctx, router.ItemFilter{Org: org, Limit: 10_000})
		w.must(err, "ListItems")
		for _, it := range items {
			if it.State == router.StateQuarantined && it.QuarantineReason == "" {
				t.Fatalf("quarantined item %d has no reason", it.ID)
			}
			if it.Skipped && it.FaultCause == "" {
				t.Fatalf("skipped item %d has no fault cause", it.ID)
			}
		}
	}
}
