package storetest

import (
	"testing"

	"github.com/routeops/routeops/router"
)

func testDrillDelete(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "q2", 1, false)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 10)
	x := f.enqueue("o1", "q", attrs(100, "chat"), sec(0))
	y := f.enqueue("o1", "q", attrs(100, "chat"), sec(0))
	f.assign("o1", sec(1), map[int64]string{x.ID: "a1"})
	f.quarantine("o1", y.ID, "op", sec(2))
	queued := map[int64]router.WorkItem{}
	for i := range 4 {
		q := []string{"q", "q2"}[i%2]
		it := f.enqueue("o1", q, attrs(i, "chat", "tier", "gold"), sec(10+i))
		queued[it.ID] = it
	}
	got, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 2, Actor: operator, At: sec(20)})
	if err != nil {
		t.Fatalf("DrillDeleteRevisions: %v", err)
	}
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("DrillDeleteRevisions returned %v, want 2 distinct items", got)
	}
	hit := map[int64]bool{}
	for _, id := range got {
		orig, ok := queued[id]
		if !ok {
			t.Fatalf("DrillDeleteRevisions hit item %d, which is not queued", id)
		}
		hit[id] = true
		it := f.item(id)
		if it.State != router.StateQueued || it.CurrentRevisionID != orig.CurrentRevisionID {
			t.Fatalf("drilled item %+v", it)
		}
		wantBytes(t, "journal survives the drill", it.JournalAttributes, orig.JournalAttributes)
		for _, r := range f.revisions("o1", id) {
			if r.ID == orig.CurrentRevisionID {
				t.Fatalf("item %d's current revision %d still exists", id, r.ID)
			}
		}
	}
	for id, orig := range queued {
		if hit[id] {
			continue
		}
		if revs := f.revisions("o1", id); len(revs) != 1 || revs[0].ID != orig.CurrentRevisionID {
			t.Fatalf("the drill touched item %d: %+v", id, revs)
		}
	}
	for _, id := range []int64{x.ID, y.ID} {
		if revs := f.revisions("o1", id); len(revs) != 1 {
			t.Fatalf("the drill touched a non-queued item %d", id)
		}
	}

	res := f.routeWith("o1", router.PolicyQuarantine, sec(30))
	if res.Quarantined != 2 || res.Assigned != 2 {
		t.Fatalf("RouteResult %+v, want the 2 drilled items quarantined and the other 2 assigned", res)
	}
	for id := range queued {
		it := f.item(id)
		if hit[id] {
			if it.State != router.StateQuarantined || it.FaultCause != router.CauseMissingRevision || it.LastError == "" {
				t.Fatalf("drilled item after routing %+v, want quarantined for missing_revision", it)
			}
			evs := f.itemEvents("o1", id, router.EventItemFault)
			if len(evs) != 1 || !detailMentions(evs[0].Detail, string(router.CauseMissingRevision)) {
				t.Fatalf("item_fault events %+v", evs)
			}
		} else {
			wantState(t, it, router.StateAssigned)
		}
	}

	// Asking for more than there are takes what there is.
	f.basicOrg("o2")
	f.enqueue("o2", "q", attrs(1, "chat"), sec(0))
	f.enqueue("o2", "q", attrs(1, "chat"), sec(1))
	if got, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o2", Count: 5, Actor: operator, At: sec(2)}); err != nil || len(got) != 2 {
		t.Fatalf("DrillDeleteRevisions(count 5) on 2 queued items = %v, %v", got, err)
	}
	_, err = drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "nope", Count: 1, Actor: operator, At: sec(3)})
	wantNotFound(t, "DrillDeleteRevisions in an unknown org", err)
}

func testDrillCorrupt(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 10)
	queued := map[int64]router.WorkItem{}
	for i := range 3 {
		it := f.enqueue("o1", "q", attrs(i, "sms"), sec(i))
		queued[it.ID] = it
	}
	got, err := drillerOf(t, s).DrillCorruptRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 2, Actor: operator, At: sec(10)})
	if err != nil {
		t.Fatalf("DrillCorruptRevisions: %v", err)
	}
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("DrillCorruptRevisions returned %v, want 2 distinct items", got)
	}
	hit := map[int64]bool{}
	for _, id := range got {
		orig, ok := queued[id]
		if !ok {
			t.Fatalf("DrillCorruptRevisions hit item %d, which is not queued", id)
		}
		hit[id] = true
		revs := f.revisions("o1", id)
		if len(revs) != 1 || revs[0].ID != orig.CurrentRevisionID {
			t.Fatalf("corrupted item %d revisions %+v, want its current revision still there", id, revs)
		}
		if router.ValidateAttributes(revs[0].Attributes) == nil {
			t.Fatalf("item %d's revision still validates: %s", id, revs[0].Attributes)
		}
		wantBytes(t, "journal survives the drill", f.item(id).JournalAttributes, orig.JournalAttributes)
	}
	res := f.routeWith("o1", router.PolicyQuarantine, sec(20))
	if res.Quarantined != 2 || res.Assigned != 1 {
		t.Fatalf("RouteResult %+v, want 2 quarantined and 1 assigned", res)
	}
	for id := range queued {
		it := f.item(id)
		if hit[id] {
			if it.State != router.StateQuarantined || it.FaultCause != router.CauseCorruptRevision {
				t.Fatalf("corrupted item after routing %+v, want quarantined for corrupt_revision", it)
			}
		} else {
			wantState(t, it, router.StateAssigned)
		}
	}
	_, err = drillerOf(t, s).DrillCorruptRevisions(f.ctx, router.DrillRequest{Org: "nope", Count: 1, Actor: operator, At: sec(30)})
	wantNotFound(t, "DrillCorruptRevisions in an unknown org", err)
}

var drillTests = []suiteTest{
	{"Drill/DeleteRevisions", testDrillDelete},
	{"Drill/CorruptRevisions", testDrillCorrupt},
}
