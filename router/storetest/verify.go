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
	out, err := s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: []router.RepairFix{{OrgID: "o1", ItemID: bad.ID, ExpectRevisionID: bad.CurrentRevisionID,
		Attributes: attrs(1, "chat"), Source: "defaults"}}, Actor: operator, At: sec(52)})
	if err != nil || len(out) != 1 || !out[0].Repaired {
		t.Fatalf("ApplyRepair: %+v %v", out, err)
	}
	if _, err := s.MarkStall(f.ctx, router.MarkStallRequest{Org: "o1", Queue: "q", Cause: router.CauseNoCapacity, Actor: operator, At: sec(60)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CleanupBatch(f.ctx, router.CleanupBatchRequest{OlderThan: sec(100), Limit: 100, Actor: operator, At: sec(100)}); err != nil {
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
	del, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "del", Count: 2, Actor: operator, At: sec(10)})
	if err != nil || len(del) != 2 {
		t.Fatalf("DrillDeleteRevisions = %v, %v", del, err)
	}
	cor, err := drillerOf(t, s).DrillCorruptRevisions(f.ctx, router.DrillRequest{Org: "cor", Count: 2, Actor: operator, At: sec(10)})
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
