package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var setTests = []suiteTest{
	{"Sets/SelectorFilters", testSelectorFilters},
	{"Sets/SelectorPaging", testSelectorPaging},
	{"Sets/BulkQuarantineResumes", testBulkQuarantineResumes},
	{"Sets/BulkReleaseNeverTwice", testBulkReleaseNeverTwice},
	{"Sets/BulkRepair", testBulkRepair},
	{"Sets/Operations", testOperations},
}

// selectorWorld is a small fleet with every kind of item a selector tells
// apart: states, causes, a deleted revision, a corrupted one, a newer
// revision, attributes with arrays and numbers.
type selectorWorld struct {
	f *fx
	// named items
	i1, i2, i3, i4, i5, i6, i7, i8, i9 int64
	// revisions
	i5Rev, i6Old, i6New int64
	items               []refItem
}

func newSelectorWorld(t *testing.T, s router.Store) *selectorWorld {
	f := newFx(t, s)
	w := &selectorWorld{f: f}
	f.basicOrg("o1")
	f.queue("o1", "vip", 5, false)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	f.basicOrg("o2")

	w.i1 = f.enqueue("o1", "q", attrs(5, "chat", "tier", "gold", "skills", []string{"billing", "fr"}), sec(0)).ID
	w.i2 = f.enqueue("o1", "q", attrs(7, "email", "tier", "silver"), sec(10)).ID
	w.i3 = f.enqueue("o1", "vip", attrs(9, "chat", "tier", "gold"), sec(20)).ID
	f.assign("o1", sec(25), map[int64]string{w.i3: "a1"})
	w.i4 = f.enqueue("o1", "vip", attrs(3, "sms", "skills", []string{"billing"}), sec(30)).ID
	f.quarantine("o1", w.i4, "looks wrong", sec(31))

	// i5: its revision deleted (the incident), then quarantined by the
	// engine with the fault's cause; the journal copy still says gold.
	i5 := f.enqueue("o2", "q", attrs(5, "chat", "tier", "gold"), sec(40))
	w.i5, w.i5Rev = i5.ID, i5.CurrentRevisionID
	if ids, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o2", Count: 1, Actor: operator, At: sec(41)}); err != nil || !slices.Equal(ids, []int64{w.i5}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v; want [%d]", ids, err, w.i5)
	}
	f.fault("o2", w.i5, router.CauseMissingRevision, "current revision missing", router.PolicyQuarantine, sec(42))

	// i7: its revision corrupted in place, then skipped by the engine.
	w.i7 = f.enqueue("o2", "q", attrs(10, "chat", "tier", "gold"), sec(50)).ID
	if ids, err := drillerOf(t, s).DrillCorruptRevisions(f.ctx, router.DrillRequest{Org: "o2", Count: 1, Actor: operator, At: sec(51)}); err != nil || !slices.Equal(ids, []int64{w.i7}) {
		t.Fatalf("DrillCorruptRevisions = %v, %v; want [%d]", ids, err, w.i7)
	}
	f.fault("o2", w.i7, router.CauseCorruptRevision, "attributes do not validate", router.PolicySkip, sec(52))

	// i6: a newer revision replaced the first.
	i6 := f.enqueue("o2", "q", attrs(50, "voice", "team", "t1"), sec(60))
	w.i6, w.i6Old = i6.ID, i6.CurrentRevisionID
	w.i6New = f.addRevision("o2", w.i6, attrs(60, "voice", "tier", "bronze"), sec(61)).ID

	w.i8 = f.enqueue("o1", "q", attrs(42, "chat"), sec(70)).ID
	w.i9 = f.enqueue("o1", "q", attrs(1, "email", "tier", "gold"), sec(80)).ID
	f.assign("o1", sec(81), map[int64]string{w.i9: "a1"})
	f.complete("o1", w.i9, sec(82))
	return w
}

// expected is the reference answer: the selector's own semantics
// (router.ItemSelector.Matches) applied to what the store says about each
// item through the rest of its interface.
func (w *selectorWorld) expected(sel router.ItemSelector) []int64 {
	f := w.f
	if w.items == nil {
		for _, listed := range f.allItems("") {
			// GetItem: lists leave the journal copy out.
			it := f.item(listed.ID)
			ri := refItem{item: it}
			for _, r := range f.revisions(it.OrgID, it.ID) {
				if r.ID == it.CurrentRevisionID {
					ri.found, ri.attrs = true, r.Attributes
				}
			}
			w.items = append(w.items, ri)
		}
	}
	var out []int64
	for _, ri := range w.items {
		if sel.ExcludeOperation != "" && len(f.events(router.EventFilter{ItemID: ri.item.ID, OperationID: sel.ExcludeOperation})) > 0 {
			continue
		}
		if sel.Matches(&ri.item, ri.found, ri.attrs) {
			out = append(out, ri.item.ID)
		}
	}
	slices.Sort(out)
	return out
}

// refItem is an item with its current revision, as the reference reads
// them (once: the world does not change while it is asked).
type refItem struct {
	item  router.WorkItem
	found bool
	attrs []byte
}

// selected pages through SelectItems, two at a time.
func (w *selectorWorld) selected(sel router.ItemSelector) []int64 {
	f := w.f
	f.t.Helper()
	var out []int64
	sel.After, sel.Limit = 0, 2
	for {
		page, err := f.s.SelectItems(f.ctx, sel)
		if err != nil {
			f.t.Fatalf("SelectItems(%+v): %v", sel, err)
		}
		for _, it := range page {
			if it.ID <= sel.After {
				f.t.Fatalf("SelectItems(%+v) returned item %d, not after %d", sel, it.ID, sel.After)
			}
			out = append(out, it.ID)
			sel.After = it.ID
		}
		if len(page) < 2 {
			return out
		}
	}
}

func (w *selectorWorld) counted(sel router.ItemSelector) (int, []router.SelectionCount) {
	f := w.f
	f.t.Helper()
	cs, err := f.s.CountSelected(f.ctx, sel)
	if err != nil {
		f.t.Fatalf("CountSelected(%+v): %v", sel, err)
	}
	n := 0
	for i, c := range cs {
		n += c.N
		if c.N <= 0 {
			f.t.Fatalf("CountSelected(%+v) has an empty group %+v", sel, c)
		}
		if i > 0 && (cs[i-1].Org > c.Org || (cs[i-1].Org == c.Org && cs[i-1].Queue >= c.Queue)) {
			f.t.Fatalf("CountSelected(%+v) groups are not sorted by org, queue: %+v", sel, cs)
		}
	}
	return n, cs
}

func testSelectorFilters(t *testing.T, s router.Store) {
	w := newSelectorWorld(t, s)
	gold, _ := router.ParseAttrMatch("tier=gold")
	now := sec(100)
	cases := []struct {
		name string
		sel  router.ItemSelector
		// want anchors the reference semantics with a hand-written answer
		// (nil: the reference alone).
		want []int64
	}{
		{"everything", router.ItemSelector{}, []int64{w.i1, w.i2, w.i3, w.i4, w.i5, w.i7, w.i6, w.i8, w.i9}},
		{"org", router.ItemSelector{Org: "o1"}, []int64{w.i1, w.i2, w.i3, w.i4, w.i8, w.i9}},
		{"queue", router.ItemSelector{Org: "o1", Queue: "vip"}, []int64{w.i3, w.i4}},
		{"state queued", router.ItemSelector{State: router.StateQueued}, []int64{w.i1, w.i2, w.i7, w.i6, w.i8}},
		{"state quarantined", router.ItemSelector{State: router.StateQuarantined}, []int64{w.i4, w.i5}},
		{"state completed", router.ItemSelector{State: router.StateCompleted}, []int64{w.i9}},
		{"cause missing", router.ItemSelector{Cause: router.CauseMissingRevision}, []int64{w.i5}},
		{"cause corrupt", router.ItemSelector{Cause: router.CauseCorruptRevision}, []int64{w.i7}},
		{"waited over 55s", router.ItemSelector{WaitedOver: 55 * time.Second, Now: now}, []int64{w.i1, w.i2, w.i3, w.i4, w.i5}},
		{"waited over 55s queued", router.ItemSelector{WaitedOver: 55 * time.Second, Now: now, State: router.StateQueued}, []int64{w.i1, w.i2}},
		{"attr tier=gold", router.ItemSelector{Attrs: []router.AttrMatch{gold}}, []int64{w.i1, w.i3, w.i5, w.i7, w.i9}},
		{"attr gold waiting", router.ItemSelector{Attrs: []router.AttrMatch{gold}, Scope: router.ScopeQuarantine}, []int64{w.i1, w.i7}},
		{"attr skills=billing", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "skills", Value: "billing"}}}, []int64{w.i1, w.i4}},
		{"attr two", router.ItemSelector{Attrs: []router.AttrMatch{gold, {Key: "skills", Value: "fr"}}}, []int64{w.i1}},
		{"attr number", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "priority", Value: "42"}}}, []int64{w.i8}},
		{"attr number as decimal", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "priority", Value: "42.0"}}}, []int64{w.i8}},
		{"attr not a number", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "priority", Value: "042"}}}, []int64{}},
		{"attr newer revision", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "tier", Value: "bronze"}}}, []int64{w.i6}},
		{"attr older revision", router.ItemSelector{Attrs: []router.AttrMatch{{Key: "team", Value: "t1"}}}, []int64{}},
		{"revision deleted", router.ItemSelector{Revision: w.i5Rev}, []int64{w.i5}},
		{"revision replaced", router.ItemSelector{Revision: w.i6Old}, []int64{}},
		{"revision current", router.ItemSelector{Revision: w.i6New}, []int64{w.i6}},
		{"ids within org", router.ItemSelector{Org: "o1", IDs: []int64{w.i1, w.i5}}, []int64{w.i1}},
		{"scope quarantine", router.ItemSelector{Scope: router.ScopeQuarantine}, []int64{w.i1, w.i2, w.i7, w.i6, w.i8}},
		{"scope release", router.ItemSelector{Scope: router.ScopeRelease}, []int64{w.i4, w.i5, w.i7}},
		{"scope live", router.ItemSelector{Scope: router.ScopeLive}, []int64{w.i1, w.i2, w.i3, w.i4, w.i5, w.i7, w.i6, w.i8}},
		{"broken", router.ItemSelector{RevisionHealth: router.RevisionBroken}, []int64{w.i5, w.i7}},
		{"sound release", router.ItemSelector{RevisionHealth: router.RevisionSound, Scope: router.ScopeRelease}, []int64{w.i4}},
		{"broken gold org", router.ItemSelector{Org: "o2", RevisionHealth: router.RevisionBroken, Attrs: []router.AttrMatch{gold}}, []int64{w.i5, w.i7}},
		{"after", router.ItemSelector{Org: "o1", After: w.i3}, []int64{w.i4, w.i8, w.i9}},
	}
	for _, tc := range cases {
		want := w.expected(tc.sel)
		if tc.want != nil {
			hand := sortedInt64(tc.want)
			if !slices.Equal(want, hand) && !(len(want) == 0 && len(hand) == 0) {
				t.Errorf("%s: the reference semantics give %v, the hand-written answer is %v", tc.name, want, hand)
			}
		}
		sel := tc.sel
		got := w.selected(sel)
		if tc.sel.After != 0 {
			page, err := s.SelectItems(w.f.ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			got = router.ItemIDs(page)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: SelectItems = %v, want %v", tc.name, got, want)
		}
		cnt := sel
		cnt.After = 0
		wantN := len(w.expected(cnt))
		if n, cs := w.counted(sel); n != wantN {
			t.Errorf("%s: CountSelected = %d (%+v), want %d", tc.name, n, cs, wantN)
		}
	}
	// Grouping: by org and queue.
	_, cs := w.counted(router.ItemSelector{Scope: router.ScopeLive})
	want := []router.SelectionCount{{Org: "o1", Queue: "q", N: 3}, {Org: "o1", Queue: "vip", N: 2}, {Org: "o2", Queue: "q", N: 3}}
	if !slices.Equal(cs, want) {
		t.Errorf("CountSelected groups = %+v, want %+v", cs, want)
	}
}

func testSelectorPaging(t *testing.T, s router.Store) {
	f := newFx(t, s)
	var all []int64
	for o := range 3 {
		org := fmt.Sprintf("o%d", o)
		f.basicOrg(org)
		for i := range 7 {
			all = append(all, f.enqueue(org, "q", attrs(i, "chat", "tier", "gold"), sec(o*10+i)).ID)
		}
	}
	slices.Sort(all)
	sel := router.ItemSelector{Attrs: []router.AttrMatch{{Key: "tier", Value: "gold"}}, State: router.StateQueued, Limit: 5}
	var got []int64
	for {
		page, err := s.SelectItems(f.ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, router.ItemIDs(page)...)
		if len(page) < sel.Limit {
			break
		}
		sel.After = page[len(page)-1].ID
	}
	if !slices.Equal(got, all) {
		t.Fatalf("paged selection %v, want %v", got, all)
	}
	// The default page is 100 items; an empty selection is empty.
	page, err := s.SelectItems(f.ctx, router.ItemSelector{Org: "o1", State: router.StateAssigned})
	if err != nil || len(page) != 0 {
		t.Fatalf("empty selection = %v, %v", page, err)
	}
	cs, err := s.CountSelected(f.ctx, router.ItemSelector{Org: "nobody"})
	if err != nil || len(cs) != 0 {
		t.Fatalf("count of an unknown org = %v, %v", cs, err)
	}
}

// startOp starts an operation for a bulk test.
func (f *fx) startOp(id, kind, fingerprint string, when time.Time) router.Operation {
	f.t.Helper()
	op, err := f.s.StartOperation(f.ctx, router.Operation{ID: id, Kind: kind, Fingerprint: fingerprint,
		Selector: "test", Actor: operator.String(), StartedAt: when})
	if err != nil {
		f.t.Fatalf("StartOperation(%s): %v", id, err)
	}
	return op
}

func (f *fx) bulk(quarantine bool, req router.BatchRequest) router.BatchResult {
	f.t.Helper()
	var res router.BatchResult
	var err error
	if quarantine {
		res, err = f.s.BulkQuarantine(f.ctx, req)
	} else {
		res, err = f.s.BulkRelease(f.ctx, req)
	}
	if err != nil {
		f.t.Fatalf("bulk (quarantine %v) %+v: %v", quarantine, req, err)
	}
	return res
}

func refIDs(refs []router.BulkItemRef) []int64 {
	out := make([]int64, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func testBulkQuarantineResumes(t *testing.T, s router.Store) {
	f := newFx(t, s)
	var planned []int64
	for o := range 3 {
		org := fmt.Sprintf("o%d", o)
		f.basicOrg(org)
		f.agent(org, "a1", "t1", router.AgentAvailable, 10)
		for i := range 10 {
			planned = append(planned, f.enqueue(org, "q", attrs(i, "chat", "tier", "gold"), sec(o*100+i)).ID)
		}
	}
	slices.Sort(planned)
	sel := router.ItemSelector{Attrs: []router.AttrMatch{{Key: "tier", Value: "gold"}}}
	op := f.startOp("op-1", "quarantine", "fp-gold", sec(1000))
	if op.Resumed || op.ID != "op-1" {
		t.Fatalf("StartOperation = %+v, want a new op-1", op)
	}
	req := router.BatchRequest{OperationID: op.ID, Items: planned[:10], Selector: sel, Reason: "bad cleanup", Actor: operator, At: sec(1001)}
	res := f.bulk(true, req)
	if !slices.Equal(refIDs(res.Changed), planned[:10]) || len(res.Skipped) != 0 {
		t.Fatalf("first batch: changed %v skipped %v, want %v", refIDs(res.Changed), res.Skipped, planned[:10])
	}
	// The run is interrupted. Meanwhile an engine assigns one planned item.
	victim := planned[15]
	vi := f.item(victim)
	f.assign(vi.OrgID, sec(1002), map[int64]string{victim: "a1"})

	// A second run with the same fingerprint resumes the same operation.
	found, err := s.FindOperation(f.ctx, "fp-gold")
	if err != nil || found == nil || found.ID != "op-1" {
		t.Fatalf("FindOperation = %+v, %v; want op-1", found, err)
	}
	again := f.startOp("op-2", "quarantine", "fp-gold", sec(1003))
	if !again.Resumed || again.ID != "op-1" {
		t.Fatalf("second StartOperation = %+v, want op-1 resumed", again)
	}
	// It replays the whole plan: what was done is skipped, not redone.
	req.At = sec(1004)
	var changed, skipped []int64
	for start := 0; start < len(planned); start += 7 {
		req.Items = planned[start:min(start+7, len(planned))]
		r := f.bulk(true, req)
		changed = append(changed, refIDs(r.Changed)...)
		skipped = append(skipped, r.Skipped...)
	}
	wantSkipped := append(slices.Clone(planned[:10]), victim)
	slices.Sort(wantSkipped)
	slices.Sort(skipped)
	if !slices.Equal(skipped, wantSkipped) {
		t.Fatalf("resumed run skipped %v, want %v", skipped, wantSkipped)
	}
	if len(changed) != len(planned)-11 {
		t.Fatalf("resumed run changed %d items, want %d", len(changed), len(planned)-11)
	}
	for _, id := range planned {
		evs := f.itemEvents(f.item(id).OrgID, id, router.EventQuarantined)
		want := 1
		if id == victim {
			want = 0
		}
		if len(evs) != want {
			t.Fatalf("item %d has %d quarantined events, want %d", id, len(evs), want)
		}
		if want == 1 {
			if evs[0].OperationID != "op-1" {
				t.Fatalf("item %d's event carries operation %q, want op-1", id, evs[0].OperationID)
			}
			wantActor(t, evs[0], operator)
			if it := f.item(id); it.State != router.StateQuarantined || it.QuarantineReason != "bad cleanup" {
				t.Fatalf("item %d after bulk quarantine: %s %q", id, it.State, it.QuarantineReason)
			}
		}
	}
	if n, err := s.OperationDone(f.ctx, "op-1", router.EventQuarantined); err != nil || n != len(planned)-1 {
		t.Fatalf("OperationDone = %d, %v; want %d", n, err, len(planned)-1)
	}
	if evs := f.events(router.EventFilter{OperationID: "op-1"}); len(evs) != len(planned)-1 {
		t.Fatalf("Events(op-1) = %d events, want %d", len(evs), len(planned)-1)
	}
	// The counters follow: each org's queue lost its quarantined items.
	for o := range 3 {
		org := fmt.Sprintf("o%d", o)
		q := f.queueStats(org, "q", sec(1005))
		wantQ := 10
		if org == vi.OrgID {
			wantQ = 9
		}
		if q.Quarantined != wantQ || q.Depth != 0 {
			t.Fatalf("%s/q after bulk quarantine: quarantined %d depth %d, want %d and 0", org, q.Quarantined, q.Depth, wantQ)
		}
	}
	// An empty batch changes nothing; an operation id is required.
	if r := f.bulk(true, router.BatchRequest{OperationID: "op-1", Selector: sel, Actor: operator, At: sec(1006)}); len(r.Changed)+len(r.Skipped) != 0 {
		t.Fatalf("empty batch = %+v", r)
	}
	if _, err := s.BulkQuarantine(f.ctx, router.BatchRequest{Items: planned, Selector: sel, Actor: operator, At: sec(1007)}); err == nil {
		t.Fatal("BulkQuarantine without an operation id succeeded")
	}
}

func testBulkReleaseNeverTwice(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	var planned []int64
	for i := range 12 {
		org := []string{"o1", "o2"}[i%2]
		id := f.enqueue(org, "q", attrs(5, "chat"), sec(i)).ID
		f.quarantine(org, id, "held", sec(20+i))
		planned = append(planned, id)
	}
	slices.Sort(planned)
	sel := router.ItemSelector{Scope: router.ScopeRelease}
	op := f.startOp("op-r", "release", "fp-r", sec(100))
	req := router.BatchRequest{OperationID: op.ID, Items: planned[:6], Selector: sel, Actor: operator, At: sec(101)}
	if r := f.bulk(false, req); len(r.Changed) != 6 {
		t.Fatalf("first release batch changed %v", refIDs(r.Changed))
	}
	// An engine quarantines two of the released items again (their fault
	// came back): they match the selector, but this operation released
	// them already, so a re-run leaves them alone.
	for _, id := range planned[:2] {
		f.quarantine(f.item(id).OrgID, id, "faulted again", sec(102))
	}
	if got := selectedIDs(f, router.ItemSelector{Scope: router.ScopeRelease, ExcludeOperation: op.ID}); !slices.Equal(got, planned[6:]) {
		t.Fatalf("release scope without op-r's items = %v, want %v", got, planned[6:])
	}
	req.Items, req.At = planned, sec(103)
	r := f.bulk(false, req)
	if !slices.Equal(refIDs(r.Changed), planned[6:]) || !slices.Equal(r.Skipped, planned[:6]) {
		t.Fatalf("re-run changed %v skipped %v; want %v and %v", refIDs(r.Changed), r.Skipped, planned[6:], planned[:6])
	}
	for i, id := range planned {
		it := f.item(id)
		if n := len(f.itemEvents(it.OrgID, id, router.EventReleased)); n != 1 {
			t.Fatalf("item %d released %d times", id, n)
		}
		wantSt := router.StateQueued
		if i < 2 {
			wantSt = router.StateQuarantined
		}
		if it.State != wantSt || !it.EnqueuedAt.Equal(sec(i)) {
			t.Fatalf("item %d: %s enqueued %v, want %s at its original %v", id, it.State, it.EnqueuedAt, wantSt, sec(i))
		}
	}
	// Release keeps the place in line: the head of o1/q is its oldest.
	if h := f.queueStats("o1", "q", sec(104)).Head; h == nil || h.ID != planned[2] {
		t.Fatalf("o1/q head after release %+v, want %d", h, planned[2])
	}
}

func selectedIDs(f *fx, sel router.ItemSelector) []int64 {
	f.t.Helper()
	sel.Limit = 1000
	page, err := f.s.SelectItems(f.ctx, sel)
	if err != nil {
		f.t.Fatalf("SelectItems(%+v): %v", sel, err)
	}
	return router.ItemIDs(page)
}

func testBulkRepair(t *testing.T, s router.Store) {
	f := newFx(t, s)
	for _, org := range []string{"o1", "o2"} {
		f.basicOrg(org)
		for i := range 4 {
			f.enqueue(org, "q", attrs(10+i, "chat", "tier", []string{"gold", "silver"}[i%2]), sec(i))
		}
		if _, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: org, Count: 3, Actor: operator, At: sec(10)}); err != nil {
			t.Fatal(err)
		}
	}
	sel := router.ItemSelector{Attrs: []router.AttrMatch{{Key: "tier", Value: "gold"}}, Limit: 100}
	cands, err := s.SelectRepairCandidates(f.ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	want := repairExpected(f, sel)
	if got := candIDs(cands); !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("SelectRepairCandidates = %v, want %v (the gold items with a deleted revision)", got, want)
	}
	var fixes []router.RepairFix
	for _, c := range cands {
		if c.RevisionFound || c.Item.JournalRevisionID != c.Item.CurrentRevisionID {
			t.Fatalf("candidate %+v: want a missing revision with its journal copy", c.Item)
		}
		fixes = append(fixes, router.RepairFix{OrgID: c.Item.OrgID, ItemID: c.Item.ID, ExpectRevisionID: c.Item.CurrentRevisionID,
			Attributes: c.Item.JournalAttributes, Source: "journal"})
	}
	outs, err := s.BulkRepair(f.ctx, router.RepairBatchRequest{OperationID: "op-fix", Fixes: fixes, Actor: operator, At: sec(20)})
	if err != nil {
		t.Fatal(err)
	}
	for _, oc := range outs {
		if !oc.Repaired {
			t.Fatalf("repair outcome %+v", oc)
		}
	}
	evs := f.events(router.EventFilter{OperationID: "op-fix"})
	if len(evs) != len(fixes) {
		t.Fatalf("op-fix has %d events, want %d", len(evs), len(fixes))
	}
	for _, e := range evs {
		if e.Kind != router.EventRevisionRepaired || e.OperationID != "op-fix" {
			t.Fatalf("event %+v", e)
		}
	}
	// Nothing gold is left to repair; the silver ones still are.
	if c, err := s.SelectRepairCandidates(f.ctx, sel); err != nil || len(c) != 0 {
		t.Fatalf("after repair: %v, %v", candIDs(c), err)
	}
	if c, err := s.SelectRepairCandidates(f.ctx, router.ItemSelector{}); err != nil || len(c) == 0 {
		t.Fatalf("silver candidates: %v, %v", candIDs(c), err)
	}
	// A plain repair journals no operation.
	if _, err := s.BulkRepair(f.ctx, router.RepairBatchRequest{Fixes: fixes, Actor: operator, At: sec(21)}); err == nil {
		t.Fatal("BulkRepair without an operation id succeeded")
	}
}

func repairExpected(f *fx, sel router.ItemSelector) []int64 {
	sel.Scope, sel.RevisionHealth, sel.Limit = router.ScopeLive, router.RevisionBroken, 0
	w := &selectorWorld{f: f}
	return w.expected(sel)
}

func candIDs(cs []router.RepairCandidate) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.Item.ID)
	}
	return out
}

func testOperations(t *testing.T, s router.Store) {
	f := newFx(t, s)
	if op, err := s.FindOperation(f.ctx, "fp"); err != nil || op != nil {
		t.Fatalf("FindOperation on nothing = %+v, %v", op, err)
	}
	a := f.startOp("op-a", "release", "fp", sec(1))
	b := f.startOp("op-b", "release", "fp", sec(2))
	if a.Resumed || !b.Resumed || b.ID != "op-a" || !b.StartedAt.Equal(sec(1)) || b.Kind != "release" {
		t.Fatalf("StartOperation twice = %+v then %+v", a, b)
	}
	if err := s.FinishOperation(f.ctx, "op-a", sec(3)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishOperation(f.ctx, "op-a", sec(4)); err != nil {
		t.Fatalf("finishing twice: %v", err)
	}
	if op, err := s.FindOperation(f.ctx, "fp"); err != nil || op != nil {
		t.Fatalf("FindOperation after finish = %+v, %v", op, err)
	}
	c := f.startOp("op-c", "release", "fp", sec(5))
	if c.Resumed || c.ID != "op-c" {
		t.Fatalf("StartOperation after finish = %+v, want a new op-c", c)
	}
	wantNotFound(t, "FinishOperation(unknown)", s.FinishOperation(f.ctx, "op-zzz", sec(6)))
	if n, err := s.OperationDone(f.ctx, "op-c", router.EventReleased); err != nil || n != 0 {
		t.Fatalf("OperationDone of a fresh operation = %d, %v", n, err)
	}
}
