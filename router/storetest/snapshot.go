package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var snapshotTests = []suiteTest{
	{"Snapshot/Queues", testSnapshotQueues},
	{"Snapshot/HeadWithMissingRevision", testSnapshotMissingHead},
	{"Snapshot/AgentGroups", testSnapshotAgentGroups},
	{"Snapshot/AgentOverCapacity", testAgentOverCapacity},
	{"Snapshot/OrgFilter", testSnapshotFilter},
	{"Snapshot/MarkStall", testMarkStall},
}

func testSnapshotQueues(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.queue("o1", "qa", 2, false)
	f.queue("o1", "qb", 1, true)
	f.queue("o1", "qc", 0, false)
	f.team("o1", "t1", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 10)
	now := sec(3600)
	hAttrs := attrs(5, "chat", "tier", "gold")
	skipped := f.enqueue("o1", "qa", attrs(5, "chat"), sec(100))
	head := f.enqueue("o1", "qa", hAttrs, sec(200))
	f.enqueue("o1", "qa", attrs(1, "chat"), sec(10)) // the oldest, but low priority
	quar := f.enqueue("o1", "qa", attrs(1, "chat"), sec(300))
	x1 := f.enqueue("o1", "qa", attrs(50, "chat"), sec(0))
	x2 := f.enqueue("o1", "qa", attrs(50, "chat"), sec(1))
	x3 := f.enqueue("o1", "qa", attrs(50, "chat"), sec(2))
	f.enqueue("o1", "qb", attrs(0, "chat"), sec(50))

	f.assign("o1", now.Add(-10*time.Minute), map[int64]string{x1.ID: "a1"})
	f.assign("o1", now.Add(-3*time.Minute), map[int64]string{x2.ID: "a1"})
	f.assign("o1", now.Add(-30*time.Second), map[int64]string{x3.ID: "a1"})
	f.complete("o1", x3.ID, now.Add(-10*time.Second)) // completion does not undo an assignment
	f.fault("o1", skipped.ID, router.CauseCorruptRevision, "test", router.PolicySkip, now.Add(-20*time.Second))
	f.quarantine("o1", quar.ID, "test", now.Add(-5*time.Second))

	snap := f.snapshot("o1", now)
	if !snap.Now.Equal(now) {
		t.Fatalf("snapshot Now = %v, want %v", snap.Now, now)
	}
	if len(snap.Orgs) != 1 {
		t.Fatalf("snapshot has %d orgs, want 1", len(snap.Orgs))
	}
	os := snap.Orgs[0]
	if os.Org != "o1" || os.Queued != 4 || os.Assigned != 2 || os.Quarantined != 1 || os.Orphans != 0 {
		t.Fatalf("org stats %+v, want 4 queued, 2 assigned, 1 quarantined, no orphans", describe(os))
	}
	if len(os.Queues) != 3 {
		t.Fatalf("org stats list %d queues, want 3", len(os.Queues))
	}
	if len(os.Teams) != 1 || os.Teams[0].ID != "t1" || os.Teams[0].Status != router.TeamActive {
		t.Fatalf("org teams %+v", os.Teams)
	}

	qa := findQueue(t, os, "qa")
	if qa.Org != "o1" || qa.Priority != 2 || qa.Paused || qa.Depth != 3 || qa.Skipped != 1 || qa.Quarantined != 1 {
		t.Fatalf("qa stats %s, want depth 3 (skipped included), 1 skipped, 1 quarantined", describe(qa))
	}
	if !timePtrEqual(qa.OldestEnqueuedAt, sec(10)) {
		t.Fatalf("qa oldest %s, want %v", fmtTimePtr(qa.OldestEnqueuedAt), sec(10))
	}
	h := qa.Head
	if h == nil || h.ID != head.ID {
		t.Fatalf("qa head %+v, want item %d (the first unskipped queued item in routing order)", h, head.ID)
	}
	if !h.EnqueuedAt.Equal(sec(200)) || h.Attempts != 0 || h.LastError != "" || h.LastAttemptAt != nil || h.FaultCause != "" ||
		!h.RevisionFound || h.CurrentRevisionID != head.CurrentRevisionID {
		t.Fatalf("qa head %+v", h)
	}
	wantBytes(t, "head attributes", h.Attributes, hAttrs)
	if !timePtrEqual(qa.LastAssignedAt, now.Add(-30*time.Second)) {
		t.Fatalf("qa last assigned %s, want %v", fmtTimePtr(qa.LastAssignedAt), now.Add(-30*time.Second))
	}
	if qa.Assigned1m != 1 || qa.Assigned5m != 2 {
		t.Fatalf("qa assigned 1m/5m = %d/%d, want 1/2", qa.Assigned1m, qa.Assigned5m)
	}
	if qa.StalledSince != nil || qa.StallCause != "" {
		t.Fatalf("qa has a stall state nobody marked: %s %q", fmtTimePtr(qa.StalledSince), qa.StallCause)
	}

	qb := findQueue(t, os, "qb")
	if !qb.Paused || qb.Priority != 1 || qb.Depth != 1 || qb.Skipped != 0 || qb.Quarantined != 0 || !timePtrEqual(qb.OldestEnqueuedAt, sec(50)) ||
		qb.LastAssignedAt != nil || qb.Assigned5m != 0 {
		t.Fatalf("qb stats %s", describe(qb))
	}
	qc := findQueue(t, os, "qc")
	if qc.Depth != 0 || qc.Head != nil || qc.OldestEnqueuedAt != nil || qc.LastAssignedAt != nil || qc.Assigned1m != 0 || qc.Assigned5m != 0 {
		t.Fatalf("empty queue stats %s", describe(qc))
	}

	// The throughput windows are relative to req.Now, and a snapshot is a
	// pure read: a later Now does not disturb an earlier one.
	later := findQueue(t, f.orgStats("o1", now.Add(10*time.Minute)), "qa")
	if later.Assigned1m != 0 || later.Assigned5m != 0 || !timePtrEqual(later.LastAssignedAt, now.Add(-30*time.Second)) {
		t.Fatalf("ten minutes later qa shows %d/%d assignments (last %s), want 0/0", later.Assigned1m, later.Assigned5m, fmtTimePtr(later.LastAssignedAt))
	}
	mid := findQueue(t, f.orgStats("o1", now.Add(3*time.Minute)), "qa")
	if mid.Assigned1m != 0 || mid.Assigned5m != 1 {
		t.Fatalf("three minutes later qa shows %d/%d assignments, want 0/1", mid.Assigned1m, mid.Assigned5m)
	}
	again := findQueue(t, f.orgStats("o1", now), "qa")
	if again.Assigned1m != 1 || again.Assigned5m != 2 {
		t.Fatalf("snapshot at the first Now again shows %d/%d assignments, want 1/2", again.Assigned1m, again.Assigned5m)
	}
}

func testSnapshotMissingHead(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	d1 := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	got, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 1, Actor: operator, At: sec(1)})
	if err != nil || !equalInt64(got, []int64{d1.ID}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v; want [%d]", got, err, d1.ID)
	}
	f.enqueue("o1", "q", attrs(1, "chat"), sec(5))
	q := f.queueStats("o1", "q", sec(10))
	if h := q.Head; h == nil || h.ID != d1.ID || h.RevisionFound || len(h.Attributes) != 0 || h.CurrentRevisionID != d1.CurrentRevisionID {
		t.Fatalf("head %+v, want item %d with its current revision %d not found", h, d1.ID, d1.CurrentRevisionID)
	}
	f.routeWith("o1", router.PolicyBlock, sec(60))
	h := f.queueStats("o1", "q", sec(61)).Head
	if h == nil || h.ID != d1.ID || h.RevisionFound || h.Attempts != 1 || h.LastError == "" ||
		!timePtrEqual(h.LastAttemptAt, sec(60)) || h.FaultCause != router.CauseMissingRevision {
		t.Fatalf("head after a blocked attempt %+v", h)
	}
}

func testSnapshotAgentGroups(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.team("o1", "t2", router.TeamPaused)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 3, "x")
	f.agent("o1", "a2", "t1", router.AgentAvailable, 2, "x")
	f.agent("o1", "a3", "t1", router.AgentAway, 4, "x")
	f.agent("o1", "a4", "t2", router.AgentAvailable, 1)
	f.agent("o1", "a5", "t1", router.AgentAvailable, 1)
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	f.assign("o1", sec(1), map[int64]string{it.ID: "a2"})

	os := f.orgStats("o1", sec(2))
	type key struct {
		team   string
		ts     router.TeamStatus
		skills string
		st     router.AgentStatus
	}
	got := map[key]router.AgentGroup{}
	for _, g := range os.AgentGroups {
		k := key{g.TeamID, g.TeamStatus, describe(normSkills(g.Skills)), g.Status}
		if _, dup := got[k]; dup {
			t.Fatalf("agent group %+v listed twice", k)
		}
		got[k] = g
	}
	want := map[key][4]int{ // agents, capacity, load, free
		{"t1", router.TeamActive, describe([]string{"x"}), router.AgentAvailable}: {2, 5, 1, 4},
		{"t1", router.TeamActive, describe([]string{"x"}), router.AgentAway}:      {1, 4, 0, 4},
		{"t2", router.TeamPaused, describe([]string(nil)), router.AgentAvailable}: {1, 1, 0, 1},
		{"t1", router.TeamActive, describe([]string(nil)), router.AgentAvailable}: {1, 1, 0, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("agent groups %+v, want %d groups", os.AgentGroups, len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("no agent group %+v in %+v", k, os.AgentGroups)
		}
		if g.Agents != w[0] || g.Capacity != w[1] || g.Load != w[2] || g.Free != w[3] {
			t.Fatalf("group %+v = %d agents, capacity %d, load %d, free %d; want %v", k, g.Agents, g.Capacity, g.Load, g.Free, w)
		}
	}
	// What the monitor computes from them for a head that needs skill x.
	if free := router.GroupFree(os.AgentGroups, &router.Attributes{Skills: []string{"x"}}); free != 4 {
		t.Fatalf("GroupFree for skill x = %d, want 4", free)
	}
}

// testAgentOverCapacity: lowering an agent's capacity below its load is
// legal (the agent just takes no new work); groups floor free capacity at 0
// and Verify reports the agent.
func testAgentOverCapacity(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	f.agent("o1", "a2", "t1", router.AgentAvailable, 3)
	i1 := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	f.assign("o1", sec(2), map[int64]string{i1.ID: "a1", i2.ID: "a1"})
	f.verifyClean()
	f.agent("o1", "a1", "t1", router.AgentAvailable, 1)
	if a := f.agents("o1")["a1"]; a.Load != 2 || a.Capacity != 1 {
		t.Fatalf("agent after lowering capacity: %+v, want load 2 capacity 1", a)
	}
	os := f.orgStats("o1", sec(3))
	if len(os.AgentGroups) != 1 {
		t.Fatalf("agent groups %+v, want one", os.AgentGroups)
	}
	if g := os.AgentGroups[0]; g.Agents != 2 || g.Capacity != 4 || g.Load != 2 || g.Free != 3 {
		t.Fatalf("group %+v, want 2 agents, capacity 4, load 2, free 3 (a1's free floored at 0)", g)
	}
	f.enqueue("o1", "q", attrs(1, "chat"), sec(4))
	var agents []string
	f.route(router.RouteRequest{Org: "o1", Now: sec(5)}, func(b *router.Batch) []router.Decision {
		for _, a := range b.Agents {
			agents = append(agents, a.ID)
		}
		return nil
	})
	if !slices.Equal(agents, []string{"a2"}) {
		t.Fatalf("batch agents %v, want only a2", agents)
	}
	rep := f.verify(100)
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != router.FindingAgentOverCapacity || rep.Findings[0].Agent != "a1" ||
		rep.Findings[0].OrgID != "o1" {
		t.Fatalf("Verify findings %+v, want one %s for o1/a1", rep.Findings, router.FindingAgentOverCapacity)
	}
}

func testSnapshotFilter(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	f.enqueue("o2", "q", attrs(1, "chat"), sec(0))
	f.enqueue("o2", "q", attrs(1, "chat"), sec(1))
	snap := f.snapshot("o2", sec(10))
	if len(snap.Orgs) != 1 || snap.Orgs[0].Org != "o2" || snap.Orgs[0].Queued != 2 {
		t.Fatalf("filtered snapshot %+v, want only o2 with 2 queued", snap.Orgs)
	}
	all := f.snapshot("", sec(10))
	var names []string
	for _, o := range all.Orgs {
		names = append(names, o.Org)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"o1", "o2"}) {
		t.Fatalf("unfiltered snapshot orgs %v, want o1 and o2", names)
	}
	_, err := s.Snapshot(f.ctx, router.SnapshotRequest{Org: "nope", Now: sec(10)})
	wantNotFound(t, "Snapshot of an unknown org", err)
}

func testMarkStall(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "other", 0, false)
	monitor := router.Actor{Name: "monitor:m1", OSUser: "svc", Origin: "mon-host"}
	detail := canonJSON(map[string]any{"cause": "missing_revision", "head": 42})
	mark := func(cause router.Cause, when time.Time, want bool) {
		t.Helper()
		changed, err := s.MarkStall(f.ctx, router.MarkStallRequest{Org: "o1", Queue: "q", Cause: cause, Detail: detail, Actor: monitor, At: when})
		if err != nil {
			t.Fatalf("MarkStall(%q): %v", cause, err)
		}
		if changed != want {
			t.Fatalf("MarkStall(%q) at %v reported transition %v, want %v", cause, when, changed, want)
		}
	}
	stallEvents := func() []router.Event {
		return f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventStallDetected, router.EventStallCleared}})
	}
	mark("", sec(5), false) // clearing a clear queue is no transition
	mark(router.CauseMissingRevision, sec(10), true)
	mark(router.CauseMissingRevision, sec(20), false)
	mark(router.CauseNoCapacity, sec(25), false) // already stalled: state kept
	q := f.queueStats("o1", "q", sec(30))
	if !timePtrEqual(q.StalledSince, sec(10)) || q.StallCause != router.CauseMissingRevision {
		t.Fatalf("stall state since %s cause %q, want since %v cause missing_revision", fmtTimePtr(q.StalledSince), q.StallCause, sec(10))
	}
	if o := f.queueStats("o1", "other", sec(30)); o.StalledSince != nil || o.StallCause != "" {
		t.Fatalf("another queue got the stall state")
	}
	evs := stallEvents()
	if len(evs) != 1 || evs[0].Kind != router.EventStallDetected || evs[0].QueueID != "q" || !evs[0].At.Equal(sec(10)) {
		t.Fatalf("stall events %+v, want exactly one stall_detected for q at %v", evs, sec(10))
	}
	wantActor(t, evs[0], monitor)
	if !detailMentions(evs[0].Detail, "missing_revision") {
		t.Fatalf("stall_detected detail %s", evs[0].Detail)
	}
	mark("", sec(40), true)
	mark("", sec(50), false)
	q = f.queueStats("o1", "q", sec(60))
	if q.StalledSince != nil || q.StallCause != "" {
		t.Fatalf("stall state after clearing: since %s cause %q", fmtTimePtr(q.StalledSince), q.StallCause)
	}
	evs = stallEvents()
	if got := eventKinds(evs); !slices.Equal(got, []string{router.EventStallDetected, router.EventStallCleared}) {
		t.Fatalf("stall events %v, want detected then cleared", got)
	}
	if e := evs[1]; e.QueueID != "q" || !e.At.Equal(sec(40)) {
		t.Fatalf("stall_cleared event %+v", e)
	}
	wantActor(t, evs[1], monitor)
	// A new stall is a new transition.
	mark(router.CauseQueuePaused, sec(70), true)
	if q := f.queueStats("o1", "q", sec(80)); !timePtrEqual(q.StalledSince, sec(70)) || q.StallCause != router.CauseQueuePaused {
		t.Fatalf("second stall state since %s cause %q", fmtTimePtr(q.StalledSince), q.StallCause)
	}
	_, err := s.MarkStall(f.ctx, router.MarkStallRequest{Org: "o1", Queue: "nope", Cause: router.CauseUnknown, Actor: monitor, At: sec(90)})
	wantNotFound(t, "MarkStall of an unknown queue", err)
	_, err = s.MarkStall(f.ctx, router.MarkStallRequest{Org: "nope", Queue: "q", Cause: router.CauseUnknown, Actor: monitor, At: sec(90)})
	wantNotFound(t, "MarkStall in an unknown org", err)
}
