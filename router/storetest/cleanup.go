package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var cleanupTests = []suiteTest{
	{"Cleanup/PlanAndBatch", testCleanup},
}

// allRevisions maps every revision id of the given items to its revision.
func (f *fx) allRevisions(items map[int64]string) map[int64]router.Revision {
	f.t.Helper()
	out := map[int64]router.Revision{}
	for id, org := range items {
		for _, r := range f.revisions(org, id) {
			out[r.ID] = r
		}
	}
	return out
}

func testCleanup(t *testing.T, s router.Store) {
	f := newFx(t, s)
	h := func(m int) time.Time { return at(time.Duration(m) * time.Minute) }
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	f.basicOrg("o2")
	f.basicOrg("o3")
	items := map[int64]string{}
	// o3/E: two revisions, the current (newest) deleted by a drill, so E1 is
	// its newest surviving revision: kept.
	e := f.enqueue("o3", "q", attrs(1, "chat"), h(0))
	f.addRevision("o3", e.ID, attrs(2, "chat"), h(60))
	if del, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o3", Count: 1, Actor: operator, At: h(61)}); err != nil || !equalInt64(del, []int64{e.ID}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v", del, err)
	}
	items[e.ID] = "o3"
	// o1/A: three revisions.
	a := f.enqueue("o1", "q", attrs(1, "chat"), h(0))
	f.addRevision("o1", a.ID, attrs(2, "chat"), h(60))
	a3 := f.addRevision("o1", a.ID, attrs(3, "chat"), h(120))
	items[a.ID] = "o1"
	// o1/B: one revision.
	b := f.enqueue("o1", "q", attrs(1, "chat"), h(0))
	items[b.ID] = "o1"
	// o1/C: completed, two revisions.
	c := f.enqueue("o1", "q", attrs(100, "chat"), h(0))
	c2 := f.addRevision("o1", c.ID, attrs(100, "email"), h(60))
	f.assign("o1", h(70), map[int64]string{c.ID: "a1"})
	f.complete("o1", c.ID, h(80))
	items[c.ID] = "o1"
	// o1/F: quarantined, two revisions.
	fi := f.enqueue("o1", "q", attrs(1, "chat"), h(0))
	f2 := f.addRevision("o1", fi.ID, attrs(1, "sms"), h(30))
	f.quarantine("o1", fi.ID, "x", h(31))
	items[fi.ID] = "o1"
	// o2/D: two revisions.
	d := f.enqueue("o2", "q", attrs(1, "chat"), h(0))
	d2 := f.addRevision("o2", d.ID, attrs(5, "chat"), h(30))
	items[d.ID] = "o2"

	current := map[int64]bool{a3.ID: true, b.CurrentRevisionID: true, c2.ID: true, f2.ID: true, d2.ID: true}
	eligibleAt3h := []int64{a.CurrentRevisionID, c.CurrentRevisionID, fi.CurrentRevisionID, d.CurrentRevisionID}
	all := f.allRevisions(items)
	if len(all) != 11 {
		t.Fatalf("%d revisions, want 11", len(all))
	}
	// second revision of A
	for id, r := range all {
		if r.WorkItemID == a.ID && id != a.CurrentRevisionID && id != a3.ID {
			eligibleAt3h = append(eligibleAt3h, id)
		}
	}
	eligibleAt3h = sortedInt64(eligibleAt3h)

	checkCleanupPlans(t, f.cleanupPlan, h)

	if n := cleanupPass(t, f, s, items, eligibleAt3h, h(300), 11); n != 5 {
		t.Fatalf("a cleanup pass deleted %d revisions, want the 5 eligible ones", n)
	}
	if st := f.cleanupPlan(h(180)); st.Eligible != 0 || st.Total != 6 {
		t.Fatalf("plan after cleanup %+v, want nothing eligible and 6 revisions", st)
	}
	nev := len(f.cleanedEvents())
	if n := cleanupPass(t, f, s, items, eligibleAt3h, h(301), 6); n != 0 {
		t.Fatalf("a second cleanup pass deleted %d", n)
	}
	if len(f.cleanedEvents()) != nev {
		t.Fatal("a cleanup pass that deleted nothing wrote an event")
	}
	left := f.allRevisions(items)
	for id := range current {
		if _, ok := left[id]; !ok {
			t.Fatalf("cleanup deleted revision %d, which an item points at", id)
		}
	}
	if _, ok := left[e.CurrentRevisionID]; !ok {
		t.Fatalf("cleanup deleted E's newest surviving revision %d", e.CurrentRevisionID)
	}
	if len(left) != 6 {
		t.Fatalf("%d revisions left, want 6 (five current and E's newest)", len(left))
	}
	for id, org := range items {
		it := f.item(id)
		if _, ok := left[it.CurrentRevisionID]; !ok && id != e.ID {
			t.Fatalf("item %d (%s) lost its current revision", id, org)
		}
	}
	// Only the drill's damage remains.
	rep := f.verify(100)
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != router.FindingDanglingRevision || rep.Findings[0].ItemID != e.ID {
		t.Fatalf("Verify after cleanup %+v, want only E's dangling revision (made by the drill)", rep.Findings)
	}
}

// cleanedEvents lists the revisions_cleaned events.
func (f *fx) cleanedEvents() []router.Event {
	return f.events(router.EventFilter{Kinds: []string{router.EventRevisionsCleaned}})
}

// cleanupPass runs one cleanup pass (cutoff three hours) in batches of
// three, checking each batch against the revisions that really went, and
// returns the total deleted.
func cleanupPass(t *testing.T, f *fx, s router.Store, items map[int64]string, eligible []int64, when time.Time, wantExamined int) int {
	t.Helper()
	t.Helper()
	total, examined, after := 0, 0, int64(0)
	for range 100 {
		before := f.allRevisions(items)
		nev := len(f.cleanedEvents())
		res, err := s.CleanupBatch(f.ctx, router.CleanupBatchRequest{OlderThan: at(3 * time.Hour), After: after, Limit: 3, Actor: operator, At: when})
		if err != nil {
			t.Fatalf("CleanupBatch: %v", err)
		}
		if res.Examined > 3 || res.Deleted > res.Examined || res.Examined < 0 {
			t.Fatalf("CleanupBatch(limit 3) = %+v", res)
		}
		if res.Examined < 3 && !res.Done {
			t.Fatalf("CleanupBatch examined %d of a limit of 3 but is not done: %+v", res.Examined, res)
		}
		if !res.Done && res.Next <= after {
			t.Fatalf("CleanupBatch cursor does not advance: after %d, result %+v", after, res)
		}
		left := f.allRevisions(items)
		orgsTouched := map[string]bool{}
		gone := 0
		for id, r := range before {
			if _, ok := left[id]; ok {
				continue
			}
			gone++
			orgsTouched[r.OrgID] = true
			if !slices.Contains(eligible, id) {
				t.Fatalf("CleanupBatch deleted revision %d, which was not eligible (eligible: %v)", id, eligible)
			}
			if id <= after || (res.Next != 0 && id > res.Next) {
				t.Fatalf("CleanupBatch(after %d) deleted revision %d outside the examined range up to %d", after, id, res.Next)
			}
		}
		if gone != res.Deleted {
			t.Fatalf("CleanupBatch reports %d deleted, %d revisions are gone", res.Deleted, gone)
		}
		evs := f.cleanedEvents()[nev:]
		if len(evs) != len(orgsTouched) {
			t.Fatalf("%d revisions_cleaned events for %d orgs touched", len(evs), len(orgsTouched))
		}
		for _, e := range evs {
			wantActor(t, e, operator)
			if !orgsTouched[e.OrgID] || !e.At.Equal(when) {
				t.Fatalf("revisions_cleaned event %+v", e)
			}
		}
		total += res.Deleted
		examined += res.Examined
		if res.Done {
			if examined != wantExamined {
				t.Fatalf("a full cleanup pass examined %d revisions, want all %d older than the cutoff", examined, wantExamined)
			}
			return total
		}
		after = res.Next
	}
	t.Fatal("cleanup pass never reported Done")
	return 0
}

// cleanupPlan returns CleanupPlan's figures for a cutoff.
func (f *fx) cleanupPlan(olderThan time.Time) router.CleanupStats {
	f.t.Helper()
	st, err := f.s.CleanupPlan(f.ctx, olderThan)
	if err != nil {
		f.t.Fatalf("CleanupPlan: %v", err)
	}
	return st
}

// checkCleanupPlans checks the plan of testCleanup's fixture at three
// cutoffs.
func checkCleanupPlans(t *testing.T, plan func(time.Time) router.CleanupStats, h func(int) time.Time) {
	t.Helper()
	st := plan(h(180))
	if st.Eligible != 5 || st.Referenced != 5 || st.Newest != 1 || st.Total != 11 {
		t.Fatalf("CleanupPlan(3h) = %+v, want eligible 5, referenced 5, newest 1, total 11", st)
	}
	if !maps.Equal(st.ByOrg, map[string]int{"o1": 4, "o2": 1}) {
		t.Fatalf("CleanupPlan(3h) by org %v, want o1: 4, o2: 1", st.ByOrg)
	}
	// "Older than" is by creation time: at 45 minutes the revisions from
	// the first hour and later are young.
	st = plan(h(45))
	if st.Eligible != 4 || st.Referenced != 3 || st.Newest != 1 || st.Total != 11 {
		t.Fatalf("CleanupPlan(45m) = %+v, want eligible 4, referenced 3, newest 1, total 11", st)
	}
	if st := plan(h(-60)); st.Eligible != 0 || st.Total != 11 {
		t.Fatalf("CleanupPlan before everything = %+v", st)
	}

}
