package storetest

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var routeTests = []suiteTest{
	{"Route/Order", testRouteOrder},
	{"Route/LimitPerQueue", testRouteLimit},
	{"Route/PausedQueueNotClaimed", testRoutePausedQueue},
	{"Route/BatchAgents", testRouteBatchAgents},
	{"Route/AssignWithEvents", testRouteAssign},
	{"Route/UndecidedItemsReleasedUntouched", testRouteUndecided},
	{"Route/FaultQuarantine", testRouteFaultQuarantine},
	{"Route/FaultSkip", testRouteFaultSkip},
	{"Route/FaultBlock", testRouteFaultBlock},
	{"Route/Orphans", testRouteOrphans},
	{"Route/AllOrNothing", testRouteAllOrNothing},
	{"Route/CapacityRespected", testRouteCapacity},
}

type orderKey struct {
	queuePrio int
	queue     string
	prio      int
	enq       time.Time
	id        int64
}

func sortRoutingOrder(keys []orderKey) []int64 {
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.queuePrio != b.queuePrio {
			return a.queuePrio > b.queuePrio
		}
		if a.queue != b.queue {
			return a.queue < b.queue
		}
		if a.prio != b.prio {
			return a.prio > b.prio
		}
		if !a.enq.Equal(b.enq) {
			return a.enq.Before(b.enq)
		}
		return a.id < b.id
	})
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.id
	}
	return out
}

func testRouteOrder(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.queue("o1", "qa", 1, false)
	f.queue("o1", "qb", 5, false)
	f.queue("o1", "qc", 5, false)
	f.queue("o1", "qp", 9, true)
	f.team("o1", "t1", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 3)
	qprio := map[string]int{"qa": 1, "qb": 5, "qc": 5}
	type spec struct {
		queue string
		prio  int
		enq   int
	}
	specs := []spec{
		{"qa", 100, 0}, // highest item priority, lowest queue priority: last
		{"qb", 5, 20},
		{"qb", 9, 30},
		{"qb", 5, 10},
		{"qb", 5, 10}, // ties on priority and enqueued_at: by id
		{"qc", 0, 0},
		{"qb", 5, 10},
		{"qc", 3, 50},
	}
	var keys []orderKey
	revOf := map[int64]int64{}
	attrOf := map[int64][]byte{}
	for _, sp := range specs {
		a := attrs(sp.prio, "chat")
		it := f.enqueue("o1", sp.queue, a, sec(sp.enq))
		keys = append(keys, orderKey{qprio[sp.queue], sp.queue, sp.prio, sec(sp.enq), it.ID})
		revOf[it.ID] = it.CurrentRevisionID
		attrOf[it.ID] = a
	}
	f.enqueue("o1", "qp", attrs(100, "chat"), sec(0)) // paused: never claimed
	want := sortRoutingOrder(keys)

	var batch *router.Batch
	res := f.route(router.RouteRequest{Org: "o1", Limit: 10, Now: sec(100)}, func(b *router.Batch) []router.Decision {
		batch = b
		return nil
	})
	if batch == nil {
		t.Fatal("decide was not called with claimed items")
	}
	if got := claimedIDs(batch); !equalInt64(got, want) {
		t.Fatalf("claimed order %v, want %v (queue priority desc, queue id, item priority desc, enqueued_at, id)", got, want)
	}
	if res.Claimed != len(want) || res.Assigned != 0 || res.Progress() {
		t.Fatalf("RouteResult %+v, want %d claimed and nothing done", res, len(want))
	}
	if res.FreeCapacity != 3 {
		t.Fatalf("FreeCapacity = %d, want 3", res.FreeCapacity)
	}
	if batch.Org != "o1" {
		t.Fatalf("batch org %q", batch.Org)
	}
	if len(batch.Queues) != 4 || !batch.Queues["qp"].Paused || batch.Queues["qb"].Priority != 5 {
		t.Fatalf("batch queues %+v, want all four of the org's queues", batch.Queues)
	}
	if len(batch.Teams) != 1 || batch.Teams["t1"].Status != router.TeamActive {
		t.Fatalf("batch teams %+v", batch.Teams)
	}
	for _, ci := range batch.Items {
		if !ci.RevisionFound || ci.Item.CurrentRevisionID != revOf[ci.Item.ID] || ci.Item.State != router.StateQueued ||
			ci.Item.OrgID != "o1" {
			t.Fatalf("claimed item %+v (found %v)", ci.Item, ci.RevisionFound)
		}
		wantBytes(t, "claimed attributes", ci.Attributes, attrOf[ci.Item.ID])
	}
	// Undecided: nothing changed, no events.
	for _, id := range want {
		if it := f.item(id); it.State != router.StateQueued || it.Attempts != 0 {
			t.Fatalf("an undecided item changed: %+v", it)
		}
	}
	if evs := f.events(router.EventFilter{Org: "o1"}); len(evs) != 0 {
		t.Fatalf("a routing pass that decided nothing wrote events: %+v", evs)
	}
}

func testRouteLimit(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.queue("o1", "qx", 3, false)
	f.queue("o1", "qy", 2, false)
	f.queue("o1", "qz", 1, false)
	f.team("o1", "t1", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 10)
	x1 := f.enqueue("o1", "qx", attrs(1, "chat"), sec(1))
	x2 := f.enqueue("o1", "qx", attrs(1, "chat"), sec(2))
	f.enqueue("o1", "qx", attrs(1, "chat"), sec(3))
	y1 := f.enqueue("o1", "qy", attrs(1, "chat"), sec(1))
	y2 := f.enqueue("o1", "qy", attrs(2, "chat"), sec(2))
	z1 := f.enqueue("o1", "qz", attrs(1, "chat"), sec(1))
	var got []int64
	res := f.route(router.RouteRequest{Org: "o1", Limit: 2, Now: sec(10)}, func(b *router.Batch) []router.Decision {
		got = claimedIDs(b)
		return nil
	})
	if want := []int64{x1.ID, x2.ID, y2.ID, y1.ID, z1.ID}; !equalInt64(got, want) {
		t.Fatalf("claimed %v with Limit 2, want %v", got, want)
	}
	if res.Claimed != 5 || res.QueuesFull != 2 {
		t.Fatalf("RouteResult %+v, want Claimed 5 and QueuesFull 2 (qx and qy hit the limit)", res)
	}
}

func testRoutePausedQueue(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.queue("o1", "live", 0, false)
	f.queue("o1", "held", 10, true)
	f.team("o1", "t1", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	l := f.enqueue("o1", "live", attrs(1, "chat"), sec(1))
	h := f.enqueue("o1", "held", attrs(1, "chat"), sec(0))
	res := f.routeWith("o1", router.PolicyQuarantine, sec(10))
	if res.Claimed != 1 || res.Assigned != 1 {
		t.Fatalf("RouteResult %+v, want only the live item claimed and assigned", res)
	}
	wantState(t, f.item(l.ID), router.StateAssigned)
	wantState(t, f.item(h.ID), router.StateQueued)
	if _, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "o1", Queue: "held", Paused: false, Actor: operator, At: sec(20)}); err != nil {
		t.Fatalf("SetQueuePaused(false): %v", err)
	}
	if res := f.routeWith("o1", router.PolicyQuarantine, sec(30)); res.Assigned != 1 {
		t.Fatalf("after resuming, RouteResult %+v, want the held item assigned", res)
	}
	wantState(t, f.item(h.ID), router.StateAssigned)
}

func testRouteBatchAgents(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.team("o1", "tp", router.TeamPaused)
	f.agent("o1", "a3", "t1", router.AgentAvailable, 2, "x", "y")
	f.agent("o1", "a1", "tp", router.AgentAvailable, 1)
	f.agent("o1", "a2", "t1", router.AgentAway, 5)
	f.agent("o1", "a4", "t1", router.AgentOffline, 5)
	f.agent("o1", "a5", "t1", router.AgentAvailable, 0)
	f.agent("o1", "a6", "t1", router.AgentAvailable, 1)
	f.agent("o1", "a7", "t1", router.AgentAvailable, 3)
	first := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	f.assign("o1", sec(1), map[int64]string{first.ID: "a6"}) // a6 is now full
	f.enqueue("o1", "q", attrs(1, "chat"), sec(2))
	var batch *router.Batch
	f.route(router.RouteRequest{Org: "o1", Now: sec(3)}, func(b *router.Batch) []router.Decision { batch = b; return nil })
	if batch == nil {
		t.Fatal("decide not called")
	}
	var got []string
	for _, a := range batch.Agents {
		got = append(got, a.ID)
	}
	if want := []string{"a1", "a3", "a7"}; !slices.Equal(got, want) {
		t.Fatalf("batch agents %v, want %v (available with free capacity, sorted by id)", got, want)
	}
	a1, a3 := batch.Agents[0], batch.Agents[1]
	if a1.TeamStatus != router.TeamPaused || a3.TeamStatus != router.TeamActive {
		t.Fatalf("team status not filled in: a1 %q, a3 %q", a1.TeamStatus, a3.TeamStatus)
	}
	if a3.Capacity != 2 || a3.Load != 0 || a3.TeamID != "t1" || !slices.Equal(a3.Skills, []string{"x", "y"}) ||
		a3.Status != router.AgentAvailable || a3.OrgID != "o1" {
		t.Fatalf("batch agent a3 = %+v", a3)
	}
}

func testRouteAssign(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	f.agent("o1", "a2", "t1", router.AgentAvailable, 1)
	i1 := f.enqueue("o1", "q", attrs(3, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(2, "chat"), sec(1))
	i3 := f.enqueue("o1", "q", attrs(1, "chat"), sec(2))
	now := sec(60)
	want := map[int64]string{i1.ID: "a1", i2.ID: "a2", i3.ID: "a1"}
	res := f.assign("o1", now, want)
	if res.Claimed != 3 || res.Assigned != 3 || res.FreeCapacity != 3 || len(res.Faults) != 0 || !res.Progress() {
		t.Fatalf("RouteResult %+v", res)
	}
	for id, agent := range want {
		it := f.item(id)
		wantState(t, it, router.StateAssigned)
		if it.AgentID != agent || !timePtrEqual(it.AssignedAt, now) {
			t.Fatalf("item %d: agent %q assigned_at %s, want %s at %v", id, it.AgentID, fmtTimePtr(it.AssignedAt), agent, now)
		}
		evs := f.itemEvents("o1", id, router.EventAssigned)
		if len(evs) != 1 {
			t.Fatalf("item %d has %d assigned events, want exactly 1", id, len(evs))
		}
		e := evs[0]
		wantActor(t, e, engineActor)
		if e.OrgID != "o1" || e.WorkItemID != id || e.QueueID != "q" || !e.At.Equal(now) {
			t.Fatalf("assigned event %+v", e)
		}
		if !detailMentions(e.Detail, agent) {
			t.Fatalf("assigned event detail %s does not name the agent %s", e.Detail, agent)
		}
	}
	as := f.agents("o1")
	if as["a1"].Load != 2 || as["a2"].Load != 1 {
		t.Fatalf("loads a1 %d a2 %d, want 2 and 1", as["a1"].Load, as["a2"].Load)
	}
	// Nothing is left to claim, and no further events appear.
	res = f.routeWith("o1", router.PolicyQuarantine, sec(120))
	if res.Claimed != 0 || res.Assigned != 0 {
		t.Fatalf("second RouteOrg %+v, want nothing claimed", res)
	}
	if n := len(f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventAssigned}})); n != 3 {
		t.Fatalf("%d assigned events, want 3", n)
	}
	f.verifyClean()
}

func testRouteUndecided(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	i1 := f.enqueue("o1", "q", attrs(2, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	f.assign("o1", sec(10), map[int64]string{i2.ID: "a1"})
	left := f.item(i1.ID)
	if left.State != router.StateQueued || left.Attempts != 0 || left.LastAttemptAt != nil || left.AgentID != "" {
		t.Fatalf("an item decide left out changed: %+v", left)
	}
	if evs := f.itemEvents("o1", i1.ID); len(evs) != 0 {
		t.Fatalf("an item decide left out has events: %+v", evs)
	}
	// It is claimed again next time.
	f.assign("o1", sec(20), map[int64]string{i1.ID: "a1"})
}

func testRouteFaultQuarantine(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	bad := f.enqueue("o1", "q", badPriorityAttrs, sec(0))
	good := f.enqueue("o1", "q", attrs(0, "chat"), sec(1))
	now := sec(30)
	res := f.routeWith("o1", router.PolicyQuarantine, now)
	if res.Quarantined != 1 || res.Assigned != 1 || res.Skipped != 0 || res.Blocked != 0 || len(res.Faults) != 1 {
		t.Fatalf("RouteResult %+v, want one quarantined and one assigned", res)
	}
	fd := res.Faults[0]
	if fd.ItemID != bad.ID || fd.Cause != router.CauseCorruptRevision || fd.Action != router.PolicyQuarantine {
		t.Fatalf("fault reported %+v", fd)
	}
	it := f.item(bad.ID)
	wantState(t, it, router.StateQuarantined)
	if it.Attempts != 1 || it.LastError == "" || !timePtrEqual(it.LastAttemptAt, now) || it.FaultCause != router.CauseCorruptRevision {
		t.Fatalf("quarantined item does not record the attempt: %+v", it)
	}
	if it.Skipped || it.AgentID != "" {
		t.Fatalf("quarantined item %+v", it)
	}
	faults := f.itemEvents("o1", bad.ID, router.EventItemFault)
	quars := f.itemEvents("o1", bad.ID, router.EventQuarantined)
	if len(faults) != 1 || len(quars) != 1 {
		t.Fatalf("item_fault events %d, quarantined events %d, want 1 and 1", len(faults), len(quars))
	}
	for _, e := range []router.Event{faults[0], quars[0]} {
		wantActor(t, e, engineActor)
		if e.WorkItemID != bad.ID || e.QueueID != "q" || !e.At.Equal(now) || !detailMentions(e.Detail, string(router.CauseCorruptRevision)) {
			t.Fatalf("%s event %+v (detail %s) must name the item and the cause", e.Kind, e, e.Detail)
		}
	}
	if n := len(f.itemEvents("o1", bad.ID, router.EventAssigned)); n != 0 {
		t.Fatalf("quarantined item has %d assigned events", n)
	}
	wantState(t, f.item(good.ID), router.StateAssigned)
	// It is out of the head path.
	res = f.routeWith("o1", router.PolicyQuarantine, sec(60))
	if res.Claimed != 0 {
		t.Fatalf("a quarantined item was claimed again: %+v", res)
	}
	if it2 := f.item(bad.ID); it2.Attempts != 1 {
		t.Fatalf("attempts moved on a quarantined item: %+v", it2)
	}
}

func testRouteFaultSkip(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	bad := f.enqueue("o1", "q", badChannelAttrs, sec(0))
	good := f.enqueue("o1", "q", attrs(0, "chat"), sec(1))
	now := sec(30)
	res := f.routeWith("o1", router.PolicySkip, now)
	if res.Skipped != 1 || res.Assigned != 1 || res.Quarantined != 0 || len(res.Faults) != 1 || !res.Progress() {
		t.Fatalf("RouteResult %+v, want one skipped and one assigned", res)
	}
	it := f.item(bad.ID)
	wantState(t, it, router.StateQueued)
	if !it.Skipped || it.Attempts != 1 || it.LastError == "" || !timePtrEqual(it.LastAttemptAt, now) || it.FaultCause != router.CauseCorruptRevision {
		t.Fatalf("skipped item %+v", it)
	}
	if n := len(f.itemEvents("o1", bad.ID, router.EventItemFault)); n != 1 {
		t.Fatalf("%d item_fault events, want 1", n)
	}
	if n := len(f.itemEvents("o1", bad.ID, router.EventQuarantined)); n != 0 {
		t.Fatalf("skip policy wrote %d quarantined events", n)
	}
	wantState(t, f.item(good.ID), router.StateAssigned)
	// Skipped items are not claimed, and the org has no routable work.
	f.enqueue("o1", "q", attrs(0, "chat"), sec(40))
	var claimed []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(50)}, func(b *router.Batch) []router.Decision {
		claimed = claimedIDs(b)
		return router.Decide(router.PolicySkip, b)
	})
	if slices.Contains(claimed, bad.ID) || len(claimed) != 1 {
		t.Fatalf("claimed %v, want only the new item (the skipped one is routed past)", claimed)
	}
	if r, _ := s.RoutableOrgs(f.ctx); len(r) != 0 {
		t.Fatalf("RoutableOrgs = %v with only a skipped item queued", r)
	}
	if it := f.item(bad.ID); it.Attempts != 1 {
		t.Fatalf("skipped item attempted again: %+v", it)
	}
}

func testRouteFaultBlock(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	bad := f.enqueue("o1", "q", unknownKeyAttrs, sec(0))
	behind := f.enqueue("o1", "q", attrs(0, "chat"), sec(1))
	res := f.routeWith("o1", router.PolicyBlock, sec(30))
	if res.Blocked != 1 || res.Assigned != 0 || res.Quarantined != 0 || res.Skipped != 0 || res.Progress() || len(res.Faults) != 1 {
		t.Fatalf("RouteResult %+v, want one blocked fault and no progress", res)
	}
	it := f.item(bad.ID)
	wantState(t, it, router.StateQueued)
	if it.Skipped || it.Attempts != 1 || it.LastError == "" || !timePtrEqual(it.LastAttemptAt, sec(30)) || it.FaultCause != router.CauseCorruptRevision {
		t.Fatalf("blocked item %+v", it)
	}
	wantState(t, f.item(behind.ID), router.StateQueued)
	// It stays at the head and faults again; the item behind keeps waiting.
	f.routeWith("o1", router.PolicyBlock, sec(45))
	it = f.item(bad.ID)
	if it.Attempts != 2 || !timePtrEqual(it.LastAttemptAt, sec(45)) {
		t.Fatalf("second blocked attempt not recorded: %+v", it)
	}
	if n := len(f.itemEvents("o1", bad.ID, router.EventItemFault)); n != 2 {
		t.Fatalf("%d item_fault events after two attempts, want 2", n)
	}
	if n := len(f.itemEvents("o1", bad.ID, router.EventQuarantined)); n != 0 {
		t.Fatalf("block policy wrote quarantined events")
	}
	wantState(t, f.item(behind.ID), router.StateQueued)
	if h := f.queueStats("o1", "q", sec(50)).Head; h == nil || h.ID != bad.ID || h.Attempts != 2 || h.FaultCause != router.CauseCorruptRevision {
		t.Fatalf("snapshot head %+v, want the blocked item with its attempts", h)
	}
}

func testRouteOrphans(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	live := f.enqueue("o1", "q", attrs(0, "chat"), sec(5))
	orphan := f.makeOrphan("o1", "ghost", attrs(100, "chat"), sec(0))

	os := f.orgStats("o1", sec(10))
	if os.Orphans != 1 || os.Queued != 2 {
		t.Fatalf("snapshot org stats %+v, want 1 orphan among 2 queued", os)
	}
	var claimed []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(10)}, func(b *router.Batch) []router.Decision {
		claimed = claimedIDs(b)
		return nil
	})
	if !equalInt64(claimed, []int64{live.ID}) {
		t.Fatalf("without IncludeOrphans claimed %v, want only %d", claimed, live.ID)
	}
	f.route(router.RouteRequest{Org: "o1", Now: sec(11), IncludeOrphans: true}, func(b *router.Batch) []router.Decision {
		claimed = claimedIDs(b)
		return nil
	})
	if !equalInt64(claimed, []int64{live.ID, orphan}) {
		t.Fatalf("with IncludeOrphans claimed %v, want [%d %d] (orphans last)", claimed, live.ID, orphan)
	}
	res := f.route(router.RouteRequest{Org: "o1", Now: sec(12), IncludeOrphans: true}, func(b *router.Batch) []router.Decision {
		return router.Decide(router.PolicyQuarantine, b)
	})
	if res.Assigned != 1 || res.Quarantined != 1 {
		t.Fatalf("RouteResult %+v, want the real item assigned and the orphan quarantined", res)
	}
	it := f.item(orphan)
	wantState(t, it, router.StateQuarantined)
	if it.FaultCause != router.CauseUnknownQueue {
		t.Fatalf("orphan fault cause %q, want %q", it.FaultCause, router.CauseUnknownQueue)
	}
	if os := f.orgStats("o1", sec(20)); os.Orphans != 0 || os.Quarantined != 1 {
		t.Fatalf("org stats after quarantining the orphan: %+v", os)
	}
}

// testRouteAllOrNothing: a decide that returns an impossible decision makes
// RouteOrg fail and change nothing, not even the valid decisions next to it.
func testRouteAllOrNothing(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.queue("o1", "q", 0, false)
	f.queue("o1", "held", 0, true)
	f.team("o1", "t1", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 1)
	i1 := f.enqueue("o1", "q", attrs(2, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	held := f.enqueue("o1", "held", attrs(1, "chat"), sec(0))
	f.basicOrg("o2")
	other := f.enqueue("o2", "q", attrs(1, "chat"), sec(0))

	assign := func(id int64, agent string) router.Decision {
		return router.Decision{Kind: router.DecideAssign, ItemID: id, QueueID: "q", AgentID: agent}
	}
	faultI2 := router.Decision{Kind: router.DecideFault, ItemID: i2.ID, QueueID: "q", Cause: router.CauseCorruptRevision,
		Error: "x", Action: router.PolicyQuarantine}
	cases := []struct {
		name string
		ds   []router.Decision
	}{
		{"unclaimed item in a paused queue", []router.Decision{assign(i1.ID, "a1"), assign(held.ID, "a1")}},
		{"unclaimed item of another org", []router.Decision{faultI2, assign(other.ID, "a1")}},
		{"unknown item", []router.Decision{faultI2, assign(i1.ID+held.ID+other.ID+1_000_000, "a1")}},
		{"over capacity", []router.Decision{assign(i1.ID, "a1"), assign(i2.ID, "a1")}},
		{"unknown agent", []router.Decision{faultI2, assign(i1.ID, "nobody")}},
	}
	for i, tc := range cases {
		res, err := s.RouteOrg(f.ctx, router.RouteRequest{Org: "o1", Limit: 10, Actor: engineActor, Now: sec(10 + i)},
			func(b *router.Batch) []router.Decision { return tc.ds })
		if err == nil {
			t.Fatalf("%s: RouteOrg accepted impossible decisions: %+v", tc.name, res)
		}
		for _, id := range []int64{i1.ID, i2.ID, held.ID, other.ID} {
			it := f.item(id)
			if it.State != router.StateQueued || it.Attempts != 0 || it.AgentID != "" || it.LastAttemptAt != nil {
				t.Fatalf("%s: a failed RouteOrg changed item %d: %+v", tc.name, id, it)
			}
		}
		if l := f.load("o1", "a1"); l != 0 {
			t.Fatalf("%s: a failed RouteOrg changed a1's load to %d", tc.name, l)
		}
		if evs := f.events(router.EventFilter{}); len(evs) != 0 {
			t.Fatalf("%s: a failed RouteOrg wrote events: %+v", tc.name, evs)
		}
	}
	// The store still routes normally afterwards.
	f.assign("o1", sec(100), map[int64]string{i1.ID: "a1"})
}

func testRouteCapacity(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	f.agent("o1", "a2", "t1", router.AgentAvailable, 1)
	for i := range 10 {
		f.enqueue("o1", "q", attrs(i%3, "chat"), sec(i))
	}
	total := 0
	for i := range 5 {
		res := f.routeWith("o1", router.PolicyQuarantine, sec(100+i))
		total += res.Assigned
	}
	if total != 3 {
		t.Fatalf("assigned %d items to agents with 3 slots in all", total)
	}
	as := f.agents("o1")
	if as["a1"].Load != 2 || as["a2"].Load != 1 {
		t.Fatalf("loads %+v, want every agent exactly full", as)
	}
	if n := len(f.listItems(router.ItemFilter{Org: "o1", State: router.StateAssigned})); n != 3 {
		t.Fatalf("%d items assigned, want 3", n)
	}
	// Decide saw no agents once everyone was full.
	var agents []router.Agent
	f.route(router.RouteRequest{Org: "o1", Now: sec(200)}, func(b *router.Batch) []router.Decision { agents = b.Agents; return nil })
	if len(agents) != 0 {
		t.Fatalf("batch offers full agents: %+v", agents)
	}
	f.verifyClean()
}
