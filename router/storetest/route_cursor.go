package storetest

import (
	"testing"

	"github.com/routeops/routeops/router"
)

var cursorTests = []suiteTest{
	{"Route/CursorPagesPastSeenItems", testRouteCursor},
	{"Route/CursorSkipQueue", testRouteCursorSkip},
	{"Engine/UnmatchedHeadDoesNotHideRoutableItems", testEngineUnmatchedHead},
}

// A cursor claims only items after it in routing order, and the claim
// summary reports each queue's last claimed position and fullness.
func testRouteCursor(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	var ids []int64
	for i := 0; i < 5; i++ {
		ids = append(ids, f.enqueue("o1", "q", attrs(50-i, "chat"), sec(i)).ID)
	}
	var seen []int64
	none := func(b *router.Batch) []router.Decision {
		for _, ci := range b.Items {
			seen = append(seen, ci.Item.ID)
		}
		return nil
	}
	r := f.route(router.RouteRequest{Org: "o1", Limit: 2, Now: sec(10)}, none)
	c, ok := r.Queues["q"]
	if !ok || !c.Full || c.Claimed != 2 || c.Last.ID != ids[1] {
		t.Fatalf("first batch summary %+v, want full with last item %d", r.Queues, ids[1])
	}
	r = f.route(router.RouteRequest{Org: "o1", Limit: 2, Now: sec(11), Cursors: map[string]router.QueueCursor{"q": c.Last}}, none)
	if c2 := r.Queues["q"]; !c2.Full || c2.Last.ID != ids[3] {
		t.Fatalf("second batch summary %+v, want full with last item %d", r.Queues, ids[3])
	}
	r = f.route(router.RouteRequest{Org: "o1", Limit: 2, Now: sec(12), Cursors: map[string]router.QueueCursor{"q": r.Queues["q"].Last}}, none)
	if c3 := r.Queues["q"]; c3.Full || c3.Claimed != 1 || c3.Last.ID != ids[4] {
		t.Fatalf("third batch summary %+v, want one item, %d, not full", r.Queues, ids[4])
	}
	if !equalInt64(seen, ids) {
		t.Fatalf("claimed in order %v, want %v", seen, ids)
	}
}

func testRouteCursorSkip(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "q2", 10, false)
	a := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	f.enqueue("o1", "q2", attrs(1, "chat"), sec(1))
	var seen []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(5), Cursors: map[string]router.QueueCursor{"q2": {Skip: true}}},
		func(b *router.Batch) []router.Decision {
			for _, ci := range b.Items {
				seen = append(seen, ci.Item.ID)
			}
			return nil
		})
	if !equalInt64(seen, []int64{a.ID}) {
		t.Fatalf("claimed %v, want only %d (q2 skipped)", seen, a.ID)
	}
}

// More unmatchable items at a queue's head than one batch holds must not
// hide a routable item behind them: the engine pages past them.
func testEngineUnmatchedHead(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.team("o1", "t2", router.TeamPaused)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	f.agent("o1", "a2", "t2", router.AgentAvailable, 5)
	for i := 0; i < 5; i++ {
		f.enqueue("o1", "q", attrs(90, "chat", "team", "t2"), sec(i))
	}
	last := f.enqueue("o1", "q", attrs(10, "chat"), sec(10))
	eng := router.NewEngine(s, router.EngineConfig{BatchSize: 2, Clock: router.NewManualClock(sec(20))})
	turn, err := eng.RouteTurn(f.ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if it := f.item(last.ID); it.State != router.StateAssigned || it.AgentID != "a1" {
		t.Fatalf("the routable item behind five unmatched heads is %s (agent %q); want assigned to a1 (turn %+v)", it.State, it.AgentID, turn)
	}
	// With the block policy a faulty head is not paged past.
	f2 := newFx(t, s)
	f2.org("o2")
	f2.queue("o2", "q", 0, false)
	f2.team("o2", "t1", router.TeamActive)
	f2.agent("o2", "b1", "t1", router.AgentAvailable, 5)
	bad := f2.enqueue("o2", "q", attrs(90, "chat"), sec(0))
	for i := 0; i < 3; i++ {
		f2.enqueue("o2", "q", attrs(80, "chat"), sec(1+i))
	}
	if _, err := drillerOf(t, s).DrillDeleteRevisions(f2.ctx, router.DrillRequest{Org: "o2", Count: 1, Actor: operator, At: sec(5)}); err != nil {
		t.Fatal(err)
	}
	blk := router.NewEngine(s, router.EngineConfig{BatchSize: 2, Policy: router.PolicyBlock, Clock: router.NewManualClock(sec(20))})
	if _, err := blk.RouteTurn(f2.ctx, "o2"); err != nil {
		t.Fatal(err)
	}
	for _, it := range f2.allItems("o2") {
		if it.State != router.StateQueued {
			t.Fatalf("item %d is %s behind the blocking head %d; the block policy must hold the queue", it.ID, it.State, bad.ID)
		}
	}
}
