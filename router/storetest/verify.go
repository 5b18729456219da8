package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/routeops/routeops/router"
)

var verifyTests = []suiteTest{
	{"Verify/CleanOnConsistentData", testVerifyClean},
	{"Verify/Findings", testVerifyFindings},
}

var drillTests = []suiteTest{
	{"Drill/DeleteRevisions", testDrillDelete},
	{"Drill/CorruptRevisions", testDrillCorrupt},
}

// testVerifyClean builds data in every state through every writer and
// checks that Verify finds nothing.
func testVerifyClean(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "held", 0, true)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 3)
	f.agent("o1", "a2", "t1", router.AgentAway, 3)
	var ids []int64
	for i := range 6 {
		it := f.enqueue("o1", "q", attrs(i, "chat"), sec(i))
		f.addRevision("o1", it.ID, attrs(i+1, "email"), sec(10+i))
		ids = append(ids, it.ID)
	}
	f.enqueue("o1", "held", attrs(1, "chat"), sec(0))
	f.quarantine("o1", ids[0], "op", sec(20))
	f.quarantine("o1", ids[1], "op", sec(20))
	f.release("o1", ids[1], sec(21))
	f.routeWith("o1", router.PolicyQuarantine, sec(30)) // three assigned
	assigned := f.listItems(router.ItemFilter{Org: "o1", State: router.StateAssigned})
	if len(assigned) != 3 {
		t.Fatalf("%d assigned, want 3", len(assigned))
	}
	f.complete("o1", assigned[0].ID, sec(40))
	// skipped and repaired
	bad := f.enqueue("o1", "q", badPriorityAttrs, sec(50))
	f.fault("o1", bad.ID, router.CauseCorruptRevision, "x", router.PolicySkip, sec(51))
	out, err := s.ApplyRepair(f.ctx, []router.RepairFix{{OrgID: "o1", ItemID: bad.ID, ExpectRevisionID: bad.CurrentRevisionID,
		Attributes: attrs(1, "chat"), Source: "defaults"}}, operator, sec(52))
	if err != nil || len(out) != 1 || !out[0].Repaired {
		t.Fatalf("ApplyRepair: %+v %v", out, err)
	}
	if _, err := s.MarkStall(f.ctx, "o1", "q", router.CauseNoCapacity, nil, operator, sec(60)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CleanupBatch(f.ctx, router.CleanupBatchRequest{OlderThan: sec(100), Limit: 100}, operator, sec(100)); err != nil {
		t.Fatal(err)
	}
	rep := f.verify(100)
	if !rep.Clean() || rep.Truncated {
		t.Fatalf("Verify on consistent data: %+v", rep)
	}
}

type findingKey struct {
	kind string
	org  string
	item int64
}

func findingKeys(fs []router.Finding) []findingKey {
	out := make([]findingKey, len(fs))
	for i, f := range fs {
		out[i] = findingKey{f.Kind, f.OrgID, f.ItemID}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func testVerifyFindings(t *testing.T, s router.Store) {
	f := newFx(t, s)
	for _, o := range []string{"del", "cor", "inv"} {
		f.basicOrg(o)
	}
	for i := range 3 {
		f.enqueue("del", "q", attrs(i, "chat"), sec(i))
		f.enqueue("cor", "q", attrs(i, "chat"), sec(i))
	}
	inv := f.enqueue("inv", "q", unknownKeyAttrs, sec(0))
	f.enqueue("inv", "q", attrs(1, "chat"), sec(1))
	del, err := s.DrillDeleteRevisions(f.ctx, "del", 2, operator, sec(10))
	if err != nil || len(del) != 2 {
		t.Fatalf("DrillDeleteRevisions = %v, %v", del, err)
	}
	cor, err := s.DrillCorruptRevisions(f.ctx, "cor", 2, operator, sec(10))
	if err != nil || len(cor) != 2 {
		t.Fatalf("DrillCorruptRevisions = %v, %v", cor, err)
	}
	var want []router.Finding
	for _, id := range del {
		want = append(want, router.Finding{Kind: router.FindingDanglingRevision, OrgID: "del", ItemID: id})
	}
	for _, id := range cor {
		want = append(want, router.Finding{Kind: router.FindingInvalidAttributes, OrgID: "cor", ItemID: id})
	}
	want = append(want, router.Finding{Kind: router.FindingInvalidAttributes, OrgID: "inv", ItemID: inv.ID})
	rep := f.verify(100)
	if got := findingKeys(rep.Findings); !slices.Equal(got, findingKeys(want)) {
		t.Fatalf("Verify findings %v, want %v", got, findingKeys(want))
	}
	if rep.Truncated {
		t.Fatal("Verify reports truncation under its limit")
	}
	for _, fd := range rep.Findings {
		if fd.Detail == "" {
			t.Fatalf("finding %+v has no detail", fd)
		}
	}
	rep = f.verify(2)
	if len(rep.Findings) != 2 || !rep.Truncated {
		t.Fatalf("Verify(limit 2) = %d findings, truncated %v; want 2 and truncated", len(rep.Findings), rep.Truncated)
	}
}

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
	got, err := s.DrillDeleteRevisions(f.ctx, "o1", 2, operator, sec(20))
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
	if got, err := s.DrillDeleteRevisions(f.ctx, "o2", 5, operator, sec(2)); err != nil || len(got) != 2 {
		t.Fatalf("DrillDeleteRevisions(count 5) on 2 queued items = %v, %v", got, err)
	}
	_, err = s.DrillDeleteRevisions(f.ctx, "nope", 1, operator, sec(3))
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
	got, err := s.DrillCorruptRevisions(f.ctx, "o1", 2, operator, sec(10))
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
	_, err = s.DrillCorruptRevisions(f.ctx, "nope", 1, operator, sec(30))
	wantNotFound(t, "DrillCorruptRevisions in an unknown org", err)
}
