// Package memstore is the embedded, in-process Store: the zero-setup demo,
// drills, and fast tests. One mutex serialises every operation, which
// gives it the same all-or-nothing transactions as pgstore.
package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/routeops/routeops/router"
)

// Store is the in-memory store.
type Store struct {
	mu         sync.Mutex
	orgs       map[string]*orgData
	items      map[int64]*router.WorkItem
	revisions  map[int64]*router.Revision
	itemRevs   map[int64][]int64 // item id -> revision ids, oldest first
	events     []router.Event
	heartbeats map[string]router.Heartbeat
	nextItem   int64
	nextRev    int64
	nextEvent  int64
	subs       map[chan string]struct{}
	closed     bool
	// operations are the bulk actions, by id.
	operations map[string]*operation
}

type orgData struct {
	org    router.Org
	queues map[string]*queueData
	teams  map[string]*router.Team
	agents map[string]*router.Agent
	// queued holds the ids of queued items per queue id (including queue
	// ids that do not exist: orphans).
	queued map[string]map[int64]struct{}
}

type queueData struct {
	q            router.Queue
	lastAssigned *time.Time
	assignedAt   []time.Time // recent assignment times, pruned past 5 minutes
	stalledSince *time.Time
	stallCause   router.Cause
}

var _ router.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		orgs:       map[string]*orgData{},
		items:      map[int64]*router.WorkItem{},
		revisions:  map[int64]*router.Revision{},
		itemRevs:   map[int64][]int64{},
		heartbeats: map[string]router.Heartbeat{},
		subs:       map[chan string]struct{}{},
	}
}

func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
}

func (s *Store) Describe() string { return "embedded demo (in-process store)" }

func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: closed")
	}
	return nil
}

// lock takes the store mutex after checking the context, as a database
// call would.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memstore: closed")
	}
	return nil
}

func (s *Store) notify(org string) {
	for ch := range s.subs {
		select {
		case ch <- org:
		default:
		}
	}
}

func (s *Store) org(id string) (*orgData, error) {
	o := s.orgs[id]
	if o == nil {
		return nil, router.NotFoundf("org %s does not exist", id)
	}
	return o, nil
}

func (s *Store) appendEvent(ev router.Event) {
	s.nextEvent++
	ev.ID = s.nextEvent
	if ev.Detail == nil {
		ev.Detail = []byte(`{}`)
	}
	s.events = append(s.events, ev)
}

func actorEvent(org, kind string, item int64, queue string, a router.Actor, at time.Time, detail []byte) router.Event {
	return router.Event{OrgID: org, At: at.UTC(), Kind: kind, WorkItemID: item, QueueID: queue,
		Actor: a.Name, Origin: a.Origin, OSUser: a.OSUser, Detail: detail}
}

// ---- setup and writers ----

func (s *Store) UpsertOrg(ctx context.Context, o router.Org) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if o.ID == "" {
		return fmt.Errorf("org id is empty")
	}
	if d := s.orgs[o.ID]; d != nil {
		d.org = o
		return nil
	}
	s.orgs[o.ID] = &orgData{org: o, queues: map[string]*queueData{}, teams: map[string]*router.Team{},
		agents: map[string]*router.Agent{}, queued: map[string]map[int64]struct{}{}}
	return nil
}

func (s *Store) UpsertQueue(ctx context.Context, q router.Queue) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(q.OrgID)
	if err != nil {
		return err
	}
	q.Pause = router.PauseInfo{}
	if d := o.queues[q.ID]; d != nil {
		if q.Paused && d.q.Paused {
			q.Pause = d.q.Pause // as pgstore: an upsert keeps a pause's who, why and until
		}
		d.q = q
	} else {
		o.queues[q.ID] = &queueData{q: q}
	}
	s.notify(q.OrgID)
	return nil
}

func (s *Store) UpsertTeam(ctx context.Context, t router.Team) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(t.OrgID)
	if err != nil {
		return err
	}
	if t.Status == "" {
		t.Status = router.TeamActive
	}
	tc := t
	tc.Pause = router.PauseInfo{}
	if old := o.teams[t.ID]; old != nil && old.Status == router.TeamPaused && t.Status == router.TeamPaused {
		tc.Pause = old.Pause // as pgstore: an upsert keeps a pause's who and why
	}
	o.teams[t.ID] = &tc
	s.notify(t.OrgID)
	return nil
}

func (s *Store) UpsertAgent(ctx context.Context, a router.Agent) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(a.OrgID)
	if err != nil {
		return err
	}
	if _, ok := o.teams[a.TeamID]; !ok {
		return router.NotFoundf("team %s/%s does not exist", a.OrgID, a.TeamID)
	}
	if a.Capacity < 0 {
		return fmt.Errorf("agent capacity must not be negative")
	}
	ac := a
	if ac.Status == "" {
		ac.Status = router.AgentAvailable
	}
	ac.Skills = slices.Clone(a.Skills)
	ac.TeamStatus = ""
	if old := o.agents[a.ID]; old != nil {
		ac.Load = old.Load
	} else {
		ac.Load = 0
	}
	o.agents[a.ID] = &ac
	s.notify(a.OrgID)
	return nil
}

func (s *Store) SetAgentStatus(ctx context.Context, org, agent string, st router.AgentStatus, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return err
	}
	a := o.agents[agent]
	if a == nil {
		return router.NotFoundf("agent %s/%s does not exist", org, agent)
	}
	a.Status = st
	if st == router.AgentAvailable {
		s.notify(org)
	}
	return nil
}

func (s *Store) SetTeamStatus(ctx context.Context, org, team string, st router.TeamStatus, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return err
	}
	t := o.teams[team]
	if t == nil {
		return router.NotFoundf("team %s/%s does not exist", org, team)
	}
	if st != router.TeamPaused || t.Status != router.TeamPaused {
		t.Pause = router.PauseInfo{}
	}
	t.Status = st
	if st == router.TeamActive {
		s.notify(org)
	}
	return nil
}

func (s *Store) newRevision(org string, item int64, attrs []byte, at time.Time, source string) *router.Revision {
	s.nextRev++
	r := &router.Revision{OrgID: org, ID: s.nextRev, WorkItemID: item, Attributes: bytes.Clone(attrs),
		CreatedAt: at.UTC(), Source: source}
	s.revisions[r.ID] = r
	s.itemRevs[item] = append(s.itemRevs[item], r.ID)
	return r
}

func (o *orgData) addQueued(it *router.WorkItem) {
	m := o.queued[it.QueueID]
	if m == nil {
		m = map[int64]struct{}{}
		o.queued[it.QueueID] = m
	}
	m[it.ID] = struct{}{}
}

func (o *orgData) removeQueued(it *router.WorkItem) {
	if m := o.queued[it.QueueID]; m != nil {
		delete(m, it.ID)
	}
}

func (s *Store) Enqueue(ctx context.Context, req router.EnqueueRequest) (router.WorkItem, error) {
	if err := s.lock(ctx); err != nil {
		return router.WorkItem{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.OrgID)
	if err != nil {
		return router.WorkItem{}, err
	}
	if _, ok := o.queues[req.QueueID]; !ok {
		return router.WorkItem{}, router.NotFoundf("queue %s/%s does not exist", req.OrgID, req.QueueID)
	}
	if !json.Valid(req.Attributes) {
		return router.WorkItem{}, router.ErrInvalidJSON
	}
	at := req.EnqueuedAt.UTC()
	s.nextItem++
	it := &router.WorkItem{OrgID: req.OrgID, ID: s.nextItem, QueueID: req.QueueID, State: router.StateQueued,
		EnqueuedAt: at}
	rev := s.newRevision(req.OrgID, it.ID, req.Attributes, at, "platform")
	it.CurrentRevisionID = rev.ID
	it.Priority = router.PriorityOf(req.Attributes)
	it.JournalRevisionID = rev.ID
	it.JournalAttributes = bytes.Clone(req.Attributes)
	s.items[it.ID] = it
	o.addQueued(it)
	s.notify(req.OrgID)
	return cloneItem(it), nil
}

func (s *Store) AddRevision(ctx context.Context, org string, item int64, attrs []byte, at time.Time) (router.Revision, error) {
	if err := s.lock(ctx); err != nil {
		return router.Revision{}, err
	}
	defer s.mu.Unlock()
	it := s.items[item]
	if it == nil || it.OrgID != org {
		return router.Revision{}, router.NotFoundf("item %d does not exist in org %s", item, org)
	}
	if !json.Valid(attrs) {
		return router.Revision{}, router.ErrInvalidJSON
	}
	rev := s.newRevision(org, item, attrs, at, "platform")
	it.CurrentRevisionID = rev.ID
	it.Priority = router.PriorityOf(attrs)
	it.JournalRevisionID = rev.ID
	it.JournalAttributes = bytes.Clone(attrs)
	if it.State == router.StateQueued {
		s.notify(org)
	}
	return cloneRevision(rev), nil
}

func (s *Store) Complete(ctx context.Context, org string, item int64, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	it := s.items[item]
	if it == nil || it.OrgID != org {
		return router.NotFoundf("item %d does not exist in org %s", item, org)
	}
	if it.State != router.StateAssigned {
		return router.Conflictf("item %d is %s; only an assigned item can be completed", item, it.State)
	}
	o := s.orgs[org]
	if a := o.agents[it.AgentID]; a != nil && a.Load > 0 {
		a.Load--
	}
	t := at.UTC()
	it.State = router.StateCompleted
	it.CompletedAt = &t
	s.notify(org)
	return nil
}

func (s *Store) BulkLoad(ctx context.Context, data *router.BulkData) (router.BulkResult, error) {
	var res router.BulkResult
	for _, o := range data.Orgs {
		if err := s.UpsertOrg(ctx, o); err != nil {
			return res, err
		}
	}
	for _, q := range data.Queues {
		if err := s.UpsertQueue(ctx, q); err != nil {
			return res, err
		}
	}
	for _, t := range data.Teams {
		if err := s.UpsertTeam(ctx, t); err != nil {
			return res, err
		}
	}
	for _, a := range data.Agents {
		if err := s.UpsertAgent(ctx, a); err != nil {
			return res, err
		}
	}
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	for i := range data.Items {
		bi := &data.Items[i]
		o, err := s.org(bi.OrgID)
		if err != nil {
			return res, err
		}
		if len(bi.Revisions) == 0 {
			return res, fmt.Errorf("bulk item %d has no revisions", i)
		}
		for _, br := range bi.Revisions {
			if !json.Valid(br.Attributes) {
				return res, fmt.Errorf("bulk item %d: %w", i, router.ErrInvalidJSON)
			}
		}
		st := bi.State
		if st == "" {
			st = router.StateQueued
		}
		if st != router.StateQueued && st != router.StateCancelled {
			return res, fmt.Errorf("bulk item %d: state %s cannot be loaded", i, st)
		}
		s.nextItem++
		it := &router.WorkItem{OrgID: bi.OrgID, ID: s.nextItem, QueueID: bi.QueueID, State: st,
			EnqueuedAt: bi.EnqueuedAt.UTC()}
		var last *router.Revision
		for _, br := range bi.Revisions {
			last = s.newRevision(bi.OrgID, it.ID, br.Attributes, br.CreatedAt, "seed")
			res.Revisions++
		}
		it.CurrentRevisionID = last.ID
		it.Priority = router.PriorityOf(last.Attributes)
		it.JournalRevisionID = last.ID
		it.JournalAttributes = bytes.Clone(last.Attributes)
		s.items[it.ID] = it
		if st == router.StateQueued {
			o.addQueued(it)
		}
		if res.FirstItemID == 0 {
			res.FirstItemID = it.ID
		}
		res.LastItemID = it.ID
		res.Items++
	}
	for _, o := range data.Orgs {
		s.notify(o.ID)
	}
	return res, nil
}

// ---- engine ----

func (s *Store) ListOrgs(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.orgs))
	for id := range s.orgs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) RoutableOrgs(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []string
	for id, o := range s.orgs {
		if !o.hasFreeAgent() {
			continue
		}
		has := false
		for _, m := range o.queued {
			for iid := range m {
				if !s.items[iid].Skipped {
					has = true
					break
				}
			}
			if has {
				break
			}
		}
		if has {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (o *orgData) hasFreeAgent() bool {
	for _, a := range o.agents {
		if a.Status == router.AgentAvailable && a.Load < a.Capacity {
			return true
		}
	}
	return false
}

// ordered returns the ids of queued items of one queue id in routing
// order, skipped ones excluded unless withSkipped.
func (s *Store) ordered(o *orgData, queue string, withSkipped bool) []*router.WorkItem {
	m := o.queued[queue]
	out := make([]*router.WorkItem, 0, len(m))
	for id := range m {
		it := s.items[id]
		if it.Skipped && !withSkipped {
			continue
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return lessItem(out[i], out[j]) })
	return out
}

func lessItem(a, b *router.WorkItem) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.EnqueuedAt.Equal(b.EnqueuedAt) {
		return a.EnqueuedAt.Before(b.EnqueuedAt)
	}
	return a.ID < b.ID
}

func (o *orgData) sortedQueues() []*queueData {
	qs := make([]*queueData, 0, len(o.queues))
	for _, q := range o.queues {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].q.Priority != qs[j].q.Priority {
			return qs[i].q.Priority > qs[j].q.Priority
		}
		return qs[i].q.ID < qs[j].q.ID
	})
	return qs
}

func (s *Store) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	var res router.RouteResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return res, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	b := &router.Batch{Org: req.Org, Queues: map[string]router.Queue{}, Teams: map[string]router.Team{}}
	for id, q := range o.queues {
		b.Queues[id] = q.q
	}
	for id, t := range o.teams {
		b.Teams[id] = *t
	}
	for _, a := range o.agents {
		if a.Status != router.AgentAvailable || a.Load >= a.Capacity {
			continue
		}
		ac := *a
		ac.Skills = slices.Clone(a.Skills)
		if t := o.teams[a.TeamID]; t != nil {
			ac.TeamStatus = t.Status
		} else {
			ac.TeamStatus = router.TeamPaused
		}
		res.FreeCapacity += ac.Free()
		b.Agents = append(b.Agents, ac)
	}
	sort.Slice(b.Agents, func(i, j int) bool { return b.Agents[i].ID < b.Agents[j].ID })
	for _, q := range o.sortedQueues() {
		if q.q.Paused {
			continue
		}
		items := s.ordered(o, q.q.ID, false)
		if cur, ok := req.Cursors[q.q.ID]; ok {
			after := items[:0:0]
			for _, it := range items {
				if cur.After(it) {
					after = append(after, it)
				}
			}
			items = after
		}
		if len(items) >= limit {
			items = items[:limit]
			res.QueuesFull++
		}
		for _, it := range items {
			b.Items = append(b.Items, s.claimed(it))
		}
	}
	if req.IncludeOrphans {
		var orphanQueues []string
		for qid := range o.queued {
			if _, ok := o.queues[qid]; !ok {
				orphanQueues = append(orphanQueues, qid)
			}
		}
		sort.Strings(orphanQueues)
		for _, qid := range orphanQueues {
			items := s.ordered(o, qid, false)
			if len(items) > limit {
				items = items[:limit]
			}
			for _, it := range items {
				b.Items = append(b.Items, s.claimed(it))
			}
		}
	}
	res.Claimed = len(b.Items)
	if len(b.Items) == 0 {
		return res, nil
	}
	decisions := decide(b)
	res.Queues = router.ClaimSummary(b, decisions, limit)

	// Validate every decision before changing anything, so that the
	// transaction is all or nothing.
	claimed := make(map[int64]bool, len(b.Items))
	for _, ci := range b.Items {
		claimed[ci.Item.ID] = true
	}
	loads := map[string]int{}
	seen := map[int64]bool{}
	for _, d := range decisions {
		if !claimed[d.ItemID] || seen[d.ItemID] {
			return router.RouteResult{}, fmt.Errorf("memstore: decision for item %d that was not claimed or was decided twice", d.ItemID)
		}
		seen[d.ItemID] = true
		if d.Kind == router.DecideAssign {
			a := o.agents[d.AgentID]
			if a == nil || a.Status != router.AgentAvailable {
				return router.RouteResult{}, fmt.Errorf("memstore: assignment to unavailable agent %s", d.AgentID)
			}
			loads[d.AgentID]++
			if a.Load+loads[d.AgentID] > a.Capacity {
				return router.RouteResult{}, fmt.Errorf("memstore: assignment would take agent %s over capacity", d.AgentID)
			}
		}
	}
	now := req.Now.UTC()
	for _, d := range decisions {
		it := s.items[d.ItemID]
		switch d.Kind {
		case router.DecideAssign:
			a := o.agents[d.AgentID]
			a.Load++
			o.removeQueued(it)
			it.State = router.StateAssigned
			it.AgentID = d.AgentID
			t := now
			it.AssignedAt = &t
			it.Attempts++
			it.LastAttemptAt = &t
			it.FaultCause = ""
			s.appendEvent(actorEvent(req.Org, router.EventAssigned, it.ID, it.QueueID, req.Actor, now,
				router.Detail("agent", d.AgentID, "queue", it.QueueID)))
			if q := o.queues[it.QueueID]; q != nil {
				q.lastAssigned = &t
				keep := q.assignedAt[:0]
				for _, at := range q.assignedAt {
					if now.Sub(at) <= 5*time.Minute {
						keep = append(keep, at)
					}
				}
				q.assignedAt = append(keep, now)
			}
			res.Assigned++
		case router.DecideFault:
			t := now
			it.Attempts++
			it.LastAttemptAt = &t
			it.LastError = d.Error
			it.FaultCause = d.Cause
			s.appendEvent(actorEvent(req.Org, router.EventItemFault, it.ID, it.QueueID, req.Actor, now,
				router.Detail("cause", d.Cause, "error", d.Error, "action", d.Action,
					"attempts", it.Attempts, "revision_id", it.CurrentRevisionID)))
			switch d.Action {
			case router.PolicyQuarantine:
				o.removeQueued(it)
				it.State = router.StateQuarantined
				it.QuarantineReason = string(d.Cause) + ": " + d.Error
				s.appendEvent(actorEvent(req.Org, router.EventQuarantined, it.ID, it.QueueID, req.Actor, now,
					router.Detail("cause", d.Cause, "reason", it.QuarantineReason)))
				res.Quarantined++
			case router.PolicySkip:
				it.Skipped = true
				res.Skipped++
			default:
				res.Blocked++
			}
			res.Faults = append(res.Faults, d)
		}
	}
	return res, nil
}

func (s *Store) claimed(it *router.WorkItem) router.ClaimedItem {
	ci := router.ClaimedItem{Item: cloneItem(it)}
	if r := s.revisions[it.CurrentRevisionID]; r != nil && r.WorkItemID == it.ID {
		ci.RevisionFound = true
		ci.Attributes = bytes.Clone(r.Attributes)
	}
	return ci
}

func (s *Store) Heartbeat(ctx context.Context, hb router.Heartbeat) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if old, ok := s.heartbeats[hb.EngineID]; ok && hb.StartedAt.IsZero() {
		hb.StartedAt = old.StartedAt
	}
	hb.BeatAt = hb.BeatAt.UTC()
	hb.StartedAt = hb.StartedAt.UTC()
	s.heartbeats[hb.EngineID] = hb
	return nil
}

// Maintain has nothing to fold: memstore computes every answer directly.
func (s *Store) Maintain(ctx context.Context) error { return ctx.Err() }

func (s *Store) Heartbeats(ctx context.Context) ([]router.Heartbeat, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]router.Heartbeat, 0, len(s.heartbeats))
	for _, hb := range s.heartbeats {
		out = append(out, hb)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].BeatAt.Equal(out[j].BeatAt) {
			return out[i].BeatAt.After(out[j].BeatAt)
		}
		return out[i].EngineID < out[j].EngineID
	})
	return out, nil
}

func (s *Store) Notifications(ctx context.Context) (<-chan string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	ch := make(chan string, 256)
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch, nil
}

// ---- helpers ----

func cloneItem(it *router.WorkItem) router.WorkItem {
	c := *it
	c.JournalAttributes = bytes.Clone(it.JournalAttributes)
	if it.AssignedAt != nil {
		t := *it.AssignedAt
		c.AssignedAt = &t
	}
	if it.CompletedAt != nil {
		t := *it.CompletedAt
		c.CompletedAt = &t
	}
	if it.LastAttemptAt != nil {
		t := *it.LastAttemptAt
		c.LastAttemptAt = &t
	}
	return c
}

func cloneRevision(r *router.Revision) router.Revision {
	c := *r
	c.Attributes = bytes.Clone(r.Attributes)
	return c
}

// Compact forgets completed and cancelled items that finished before
// cutoff, with their revisions and the journal entries about them, so that
// a long-running demo keeps a bounded footprint. Journal entries about no
// item (stalls, cleanups, drills, pauses) are kept. It returns how many
// items it removed. PostgreSQL keeps everything; this is memstore only.
func (s *Store) Compact(cutoff time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int64]bool{}
	for id, it := range s.items {
		done := it.CompletedAt
		if it.State == router.StateCancelled && done == nil {
			done = &it.EnqueuedAt
		}
		if (it.State == router.StateCompleted || it.State == router.StateCancelled) && done != nil && done.Before(cutoff) {
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return 0
	}
	for id := range gone {
		for _, rid := range s.itemRevs[id] {
			delete(s.revisions, rid)
		}
		delete(s.itemRevs, id)
		delete(s.items, id)
	}
	keep := s.events[:0]
	for _, e := range s.events {
		if e.WorkItemID != 0 && gone[e.WorkItemID] {
			continue
		}
		keep = append(keep, e)
	}
	// Let the dropped tail be collected.
	clear(s.events[len(keep):])
	s.events = keep
	return len(gone)
}
