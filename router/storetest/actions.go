package storetest

import (
	"slices"
	"testing"

	"github.com/routeops/routeops/router"
)

var actionTests = []suiteTest{
	{"Actions/QuarantineAndRelease", testQuarantineRelease},
	{"Actions/RefusedStates", testActionsRefused},
	{"Actions/UnknownOrOtherOrg", testActionsNotFound},
	{"Actions/SkippedItem", testActionsSkipped},
	{"Actions/SetQueuePaused", testSetQueuePaused},
}

func testQuarantineRelease(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	first := f.enqueue("o1", "q", attrs(5, "chat"), sec(0))
	second := f.enqueue("o1", "q", attrs(5, "chat"), sec(1))
	third := f.enqueue("o1", "q", attrs(5, "chat"), sec(2))

	r := f.quarantine("o1", first.ID, "customer data looks wrong", sec(60))
	if !r.Changed || r.State != router.StateQuarantined {
		t.Fatalf("Quarantine = %+v, want Changed and quarantined", r)
	}
	it := f.item(first.ID)
	wantState(t, it, router.StateQuarantined)
	if it.QuarantineReason != "customer data looks wrong" {
		t.Fatalf("quarantine reason %q", it.QuarantineReason)
	}
	evs := f.itemEvents("o1", first.ID, router.EventQuarantined)
	if len(evs) != 1 || !evs[0].At.Equal(sec(60)) || evs[0].QueueID != "q" {
		t.Fatalf("quarantined events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	if !detailMentions(evs[0].Detail, "customer data looks wrong") {
		t.Fatalf("quarantined event detail %s does not carry the reason", evs[0].Detail)
	}
	q := f.queueStats("o1", "q", sec(61))
	if q.Depth != 2 || q.Quarantined != 1 || q.Head == nil || q.Head.ID != second.ID {
		t.Fatalf("queue after quarantine: depth %d quarantined %d head %+v", q.Depth, q.Quarantined, q.Head)
	}
	var claimed []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(62)}, func(b *router.Batch) []router.Decision { claimed = claimedIDs(b); return nil })
	if slices.Contains(claimed, first.ID) {
		t.Fatalf("a quarantined item was claimed: %v", claimed)
	}

	// Repeating is harmless.
	r = f.quarantine("o1", first.ID, "again", sec(70))
	if r.Changed || r.State != router.StateQuarantined {
		t.Fatalf("second Quarantine = %+v, want unchanged", r)
	}
	if n := len(f.itemEvents("o1", first.ID)); n != 1 {
		t.Fatalf("a repeated quarantine wrote events: %d in all", n)
	}
	if it := f.item(first.ID); it.QuarantineReason != "customer data looks wrong" {
		t.Fatalf("a repeated quarantine changed the reason to %q", it.QuarantineReason)
	}

	r = f.release("o1", first.ID, sec(120))
	if !r.Changed || r.State != router.StateQueued {
		t.Fatalf("Release = %+v, want Changed and queued", r)
	}
	it = f.item(first.ID)
	wantState(t, it, router.StateQueued)
	if !it.EnqueuedAt.Equal(sec(0)) || it.Skipped {
		t.Fatalf("released item %+v, want its original enqueued_at %v", it, sec(0))
	}
	evs = f.itemEvents("o1", first.ID, router.EventReleased)
	if len(evs) != 1 || !evs[0].At.Equal(sec(120)) {
		t.Fatalf("released events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	// Back in its place: the head again, and first in the claim order.
	if h := f.queueStats("o1", "q", sec(121)).Head; h == nil || h.ID != first.ID {
		t.Fatalf("head after release %+v, want item %d", h, first.ID)
	}
	f.route(router.RouteRequest{Org: "o1", Now: sec(122)}, func(b *router.Batch) []router.Decision { claimed = claimedIDs(b); return nil })
	if want := []int64{first.ID, second.ID, third.ID}; !equalInt64(claimed, want) {
		t.Fatalf("claim order after release %v, want %v", claimed, want)
	}

	r = f.release("o1", first.ID, sec(130))
	if r.Changed || r.State != router.StateQueued {
		t.Fatalf("second Release = %+v, want unchanged", r)
	}
	if n := len(f.itemEvents("o1", first.ID)); n != 2 {
		t.Fatalf("a repeated release wrote events: %d in all", n)
	}
	f.verifyClean()
}

func testActionsRefused(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	busy := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	done := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	f.assign("o1", sec(10), map[int64]string{busy.ID: "a1", done.ID: "a1"})
	f.complete("o1", done.ID, sec(20))
	before := len(f.events(router.EventFilter{Org: "o1"}))

	r, err := s.Quarantine(f.ctx, router.QuarantineRequest{Org: "o1", ItemID: busy.ID, Reason: "x", Actor: operator, At: sec(30)})
	wantConflict(t, "quarantining an assigned item", err)
	if r.Changed {
		t.Fatalf("refused quarantine reports Changed")
	}
	_, err = s.Quarantine(f.ctx, router.QuarantineRequest{Org: "o1", ItemID: done.ID, Reason: "x", Actor: operator, At: sec(30)})
	wantConflict(t, "quarantining a completed item", err)
	_, err = s.Release(f.ctx, router.ReleaseRequest{Org: "o1", ItemID: busy.ID, Actor: operator, At: sec(30)})
	wantConflict(t, "releasing an assigned item", err)
	_, err = s.Release(f.ctx, router.ReleaseRequest{Org: "o1", ItemID: done.ID, Actor: operator, At: sec(30)})
	wantConflict(t, "releasing a completed item", err)

	it := f.item(busy.ID)
	if it.State != router.StateAssigned || it.AgentID != "a1" || it.QuarantineReason != "" {
		t.Fatalf("refused actions changed the assigned item: %+v", it)
	}
	wantState(t, f.item(done.ID), router.StateCompleted)
	if l := f.load("o1", "a1"); l != 1 {
		t.Fatalf("refused actions changed the load to %d", l)
	}
	if after := len(f.events(router.EventFilter{Org: "o1"})); after != before {
		t.Fatalf("refused actions wrote %d events", after-before)
	}
	f.verifyClean()
}

func testActionsNotFound(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	unknown := it.ID + 1_000_000
	_, err := s.Quarantine(f.ctx, router.QuarantineRequest{Org: "o1", ItemID: unknown, Reason: "x", Actor: operator, At: sec(1)})
	wantNotFound(t, "quarantining an unknown item", err)
	_, err = s.Release(f.ctx, router.ReleaseRequest{Org: "o1", ItemID: unknown, Actor: operator, At: sec(1)})
	wantNotFound(t, "releasing an unknown item", err)
	_, err = s.Quarantine(f.ctx, router.QuarantineRequest{Org: "o2", ItemID: it.ID, Reason: "x", Actor: operator, At: sec(1)})
	wantNotFound(t, "quarantining an item given with another org", err)
	wantState(t, f.item(it.ID), router.StateQueued)
	f.quarantine("o1", it.ID, "x", sec(2))
	_, err = s.Release(f.ctx, router.ReleaseRequest{Org: "o2", ItemID: it.ID, Actor: operator, At: sec(3)})
	wantNotFound(t, "releasing an item given with another org", err)
	wantState(t, f.item(it.ID), router.StateQuarantined)
	if n := len(f.events(router.EventFilter{Org: "o2"})); n != 0 {
		t.Fatalf("refused actions wrote %d events in o2", n)
	}
	_, err = s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "o1", Queue: "nope", Paused: true, Actor: operator, At: sec(4)})
	wantNotFound(t, "pausing an unknown queue", err)
	_, err = s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "nope", Queue: "q", Paused: true, Actor: operator, At: sec(4)})
	wantNotFound(t, "pausing a queue of an unknown org", err)
}

// testActionsSkipped: an item flagged by the skip policy is still queued, so
// it can be quarantined (and the flag goes, since only a queued item can be
// skipped), and releasing a skipped item clears the flag so that the engine
// routes it again (WorkItem.Skipped: "until it is repaired or released").
func testActionsSkipped(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	a := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	b := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	f.fault("o1", a.ID, router.CauseCorruptRevision, "test", router.PolicySkip, sec(10))
	f.fault("o1", b.ID, router.CauseCorruptRevision, "test", router.PolicySkip, sec(11))
	if !f.item(a.ID).Skipped || !f.item(b.ID).Skipped {
		t.Fatal("skip decisions did not flag the items")
	}

	r := f.quarantine("o1", a.ID, "operator", sec(20))
	if !r.Changed || r.State != router.StateQuarantined {
		t.Fatalf("quarantining a skipped item = %+v", r)
	}
	if it := f.item(a.ID); it.State != router.StateQuarantined || it.Skipped {
		t.Fatalf("quarantined skipped item %+v, want quarantined and not skipped", it)
	}

	r = f.release("o1", b.ID, sec(30))
	if !r.Changed || r.State != router.StateQueued {
		t.Fatalf("releasing a skipped item = %+v, want Changed", r)
	}
	if it := f.item(b.ID); it.State != router.StateQueued || it.Skipped || !it.EnqueuedAt.Equal(sec(1)) {
		t.Fatalf("released skipped item %+v", it)
	}
	var claimed []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(40)}, func(bt *router.Batch) []router.Decision { claimed = claimedIDs(bt); return nil })
	if !equalInt64(claimed, []int64{b.ID}) {
		t.Fatalf("claimed %v after releasing the skipped item, want [%d]", claimed, b.ID)
	}
	r = f.release("o1", a.ID, sec(50))
	if !r.Changed {
		t.Fatalf("releasing the quarantined item = %+v", r)
	}
	if q := f.queueStats("o1", "q", sec(60)); q.Depth != 2 || q.Skipped != 0 || q.Head == nil || q.Head.ID != a.ID {
		t.Fatalf("queue after both releases: depth %d skipped %d head %+v", q.Depth, q.Skipped, q.Head)
	}
}

func testSetQueuePaused(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "other", 0, false)
	set := func(paused, wantChanged bool, n int) {
		t.Helper()
		r, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "o1", Queue: "q", Paused: paused, Actor: operator, At: sec(n)})
		if err != nil {
			t.Fatalf("SetQueuePaused(%v): %v", paused, err)
		}
		if r.Changed != wantChanged {
			t.Fatalf("SetQueuePaused(%v) Changed = %v, want %v", paused, r.Changed, wantChanged)
		}
		qs, err := s.ListQueues(f.ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.ID == "q" && q.Paused != paused {
				t.Fatalf("ListQueues shows q paused=%v, want %v", q.Paused, paused)
			}
			if q.ID == "other" && q.Paused {
				t.Fatal("pausing q paused another queue")
			}
		}
		if st := f.queueStats("o1", "q", sec(n)); st.Paused != paused {
			t.Fatalf("snapshot shows q paused=%v, want %v", st.Paused, paused)
		}
	}
	set(false, false, 1) // already flowing
	set(true, true, 10)
	set(true, false, 20)
	set(false, true, 30)
	set(false, false, 40)
	evs := f.events(router.EventFilter{Org: "o1"})
	if got := eventKinds(evs); !slices.Equal(got, []string{router.EventQueuePaused, router.EventQueueResumed}) {
		t.Fatalf("queue events %v, want paused then resumed (repeats write nothing)", got)
	}
	for i, e := range evs {
		wantActor(t, e, operator)
		if e.QueueID != "q" || !e.At.Equal(sec(10+20*i)) {
			t.Fatalf("queue event %+v", e)
		}
	}
}
