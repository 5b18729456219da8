package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var writerTests = []suiteTest{
	{"Writer/EnqueueKeepsJournal", testEnqueueKeepsJournal},
	{"Writer/EnqueueStoresInvalidAttributesAsGiven", testEnqueueInvalidAttributes},
	{"Writer/EnqueueUnknownOrgOrQueue", testEnqueueUnknown},
	{"Writer/NotJSONRefused", testNotJSONRefused},
	{"Writer/AddRevision", testAddRevision},
	{"Writer/Complete", testComplete},
	{"Writer/BulkLoad", testBulkLoad},
}

func testEnqueueKeepsJournal(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	a := attrs(5, "chat", "team", "t1", "tier", "gold", "skills", []string{"a", "b"})
	// The helper writes jsonb's canonical order.
	wantBytes(t, "canonical attributes", a, []byte(`{"team": "t1", "tier": "gold", "skills": ["a", "b"], "channel": "chat", "priority": 5}`))
	when := at(90 * time.Second)
	it := f.enqueue("o1", "q", a, when)
	check := func(what string, it router.WorkItem) {
		t.Helper()
		if it.ID == 0 || it.OrgID != "o1" || it.QueueID != "q" || it.State != router.StateQueued {
			t.Fatalf("%s: item %+v, want a queued item of o1/q with an id", what, it)
		}
		if !it.EnqueuedAt.Equal(when) {
			t.Fatalf("%s: enqueued_at %v, want %v", what, it.EnqueuedAt, when)
		}
		if it.CurrentRevisionID == 0 {
			t.Fatalf("%s: no current revision id", what)
		}
		if it.Priority != 5 {
			t.Fatalf("%s: priority %d, want 5 (denormalized from the attributes)", what, it.Priority)
		}
		if it.JournalRevisionID != it.CurrentRevisionID {
			t.Fatalf("%s: journal revision %d, want the current revision %d", what, it.JournalRevisionID, it.CurrentRevisionID)
		}
		wantBytes(t, what+": journal attributes", it.JournalAttributes, a)
		if it.Attempts != 0 || it.LastError != "" || it.LastAttemptAt != nil || it.FaultCause != "" || it.Skipped ||
			it.AgentID != "" || it.AssignedAt != nil || it.CompletedAt != nil {
			t.Fatalf("%s: a new item carries routing history: %+v", what, it)
		}
	}
	check("Enqueue result", it)
	got := f.item(it.ID)
	check("GetItem", got)
	if got.CurrentRevisionID != it.CurrentRevisionID {
		t.Fatalf("GetItem current revision %d, Enqueue said %d", got.CurrentRevisionID, it.CurrentRevisionID)
	}
	revs := f.revisions("o1", it.ID)
	if len(revs) != 1 {
		t.Fatalf("ItemRevisions = %d revisions, want 1", len(revs))
	}
	r := revs[0]
	if r.ID != it.CurrentRevisionID || r.WorkItemID != it.ID || r.OrgID != "o1" {
		t.Fatalf("revision %+v does not belong to item %d as its current revision %d", r, it.ID, it.CurrentRevisionID)
	}
	if !r.CreatedAt.Equal(when) {
		t.Fatalf("first revision created_at %v, want the enqueue time %v (times come from the caller)", r.CreatedAt, when)
	}
	wantBytes(t, "revision attributes", r.Attributes, a)
}

func testEnqueueInvalidAttributes(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	for i, a := range [][]byte{badPriorityAttrs, badChannelAttrs, unknownKeyAttrs, notObjectAttrs, []byte(`[1, 2, 3]`)} {
		if router.ValidateAttributes(a) == nil {
			t.Fatalf("test data %s is valid", a)
		}
		it := f.enqueue("o1", "q", a, sec(i))
		got := f.item(it.ID)
		wantState(t, got, router.StateQueued)
		if got.Priority != 0 {
			t.Fatalf("item with invalid attributes %s has priority %d, want 0", a, got.Priority)
		}
		wantBytes(t, "journal of invalid attributes", got.JournalAttributes, a)
		revs := f.revisions("o1", it.ID)
		if len(revs) != 1 {
			t.Fatalf("ItemRevisions = %+v, want one", revs)
		}
		wantBytes(t, "stored invalid attributes", revs[0].Attributes, a)
	}
}

func testEnqueueUnknown(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	_, err := s.Enqueue(f.ctx, router.EnqueueRequest{OrgID: "nope", QueueID: "q", Attributes: attrs(1, "chat"), EnqueuedAt: sec(0)})
	wantNotFound(t, "Enqueue into an unknown org", err)
	_, err = s.Enqueue(f.ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "nope", Attributes: attrs(1, "chat"), EnqueuedAt: sec(0)})
	wantNotFound(t, "Enqueue into an unknown queue", err)
	if items := f.allItems(""); len(items) != 0 {
		t.Fatalf("failed enqueues left items: %+v", items)
	}
}

func testNotJSONRefused(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	for _, junk := range [][]byte{[]byte("not json"), []byte(`{"priority": 5,`), nil} {
		_, err := s.Enqueue(f.ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: junk, EnqueuedAt: sec(0)})
		if !errors.Is(err, router.ErrInvalidJSON) {
			t.Fatalf("Enqueue(%q): got %v, want an error wrapping ErrInvalidJSON", junk, err)
		}
	}
	if items := f.allItems("o1"); len(items) != 0 {
		t.Fatalf("refused enqueues left items: %+v", items)
	}
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	_, err := s.AddRevision(f.ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID, Attributes: []byte("{nope"), At: sec(1)})
	if !errors.Is(err, router.ErrInvalidJSON) {
		t.Fatalf("AddRevision of non-JSON: got %v, want an error wrapping ErrInvalidJSON", err)
	}
	if got := f.item(it.ID); got.CurrentRevisionID != it.CurrentRevisionID || len(f.revisions("o1", it.ID)) != 1 {
		t.Fatalf("a refused AddRevision changed the item: %+v", got)
	}
}

func testAddRevision(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	a1 := attrs(5, "chat")
	a2 := attrs(9, "email", "tier", "gold")
	t0, t1, t2 := sec(0), sec(60), sec(120)
	it := f.enqueue("o1", "q", a1, t0)
	first := f.revisions("o1", it.ID)[0]

	r := f.addRevision("o1", it.ID, a2, t1)
	if r.ID == 0 || r.ID == first.ID || r.WorkItemID != it.ID || r.OrgID != "o1" || !r.CreatedAt.Equal(t1) {
		t.Fatalf("AddRevision returned %+v", r)
	}
	wantBytes(t, "returned revision attributes", r.Attributes, a2)
	got := f.item(it.ID)
	if got.CurrentRevisionID != r.ID || got.JournalRevisionID != r.ID {
		t.Fatalf("item points at revision %d (journal %d), want the new revision %d", got.CurrentRevisionID, got.JournalRevisionID, r.ID)
	}
	wantBytes(t, "journal after AddRevision", got.JournalAttributes, a2)
	if got.Priority != 9 {
		t.Fatalf("priority after AddRevision = %d, want 9", got.Priority)
	}
	if !got.EnqueuedAt.Equal(t0) || got.State != router.StateQueued {
		t.Fatalf("AddRevision changed the item's place or state: %+v", got)
	}
	revs := f.revisions("o1", it.ID)
	if len(revs) != 2 || revs[0].ID != first.ID || revs[1].ID != r.ID {
		t.Fatalf("ItemRevisions = %+v, want [first, new] oldest first", revs)
	}
	wantBytes(t, "first revision untouched", revs[0].Attributes, a1)
	if !revs[0].CreatedAt.Equal(t0) {
		t.Fatalf("first revision created_at changed to %v", revs[0].CreatedAt)
	}

	// Invalid attributes are stored as given, and the priority drops to 0.
	r3 := f.addRevision("o1", it.ID, badChannelAttrs, t2)
	got = f.item(it.ID)
	if got.CurrentRevisionID != r3.ID || got.JournalRevisionID != r3.ID || got.Priority != 0 {
		t.Fatalf("after an invalid revision: %+v", got)
	}
	wantBytes(t, "journal of an invalid revision", got.JournalAttributes, badChannelAttrs)
	revs = f.revisions("o1", it.ID)
	if len(revs) != 3 || revs[2].ID != r3.ID {
		t.Fatalf("ItemRevisions = %+v", revs)
	}
	wantBytes(t, "stored invalid revision", revs[2].Attributes, badChannelAttrs)

	_, err := s.AddRevision(f.ctx, router.AddRevisionRequest{Org: "o2", ItemID: it.ID, Attributes: a1, At: t2})
	wantNotFound(t, "AddRevision with the item's id in another org", err)
	_, err = s.AddRevision(f.ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID + 1_000_000, Attributes: a1, At: t2})
	wantNotFound(t, "AddRevision of an unknown item", err)
	_, err = s.ItemRevisions(f.ctx, "o2", it.ID)
	wantNotFound(t, "ItemRevisions with the item's id in another org", err)
	_, err = s.ItemRevisions(f.ctx, "o1", it.ID+1_000_000)
	wantNotFound(t, "ItemRevisions of an unknown item", err)
	if n := len(f.revisions("o1", it.ID)); n != 3 {
		t.Fatalf("refused AddRevision calls wrote revisions: now %d", n)
	}
}

func testComplete(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 1)
	i1 := f.enqueue("o1", "q", attrs(5, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	f.assign("o1", sec(10), map[int64]string{i1.ID: "a1"})
	if r, _ := s.RoutableOrgs(f.ctx); len(r) != 0 {
		t.Fatalf("RoutableOrgs = %v with the only agent full", r)
	}

	wantConflict(t, "Complete of a queued item", s.Complete(f.ctx, router.CompleteRequest{Org: "o1", ItemID: i2.ID, At: sec(20)}))
	wantNotFound(t, "Complete with the item's id in another org", s.Complete(f.ctx, router.CompleteRequest{Org: "o2", ItemID: i1.ID, At: sec(20)}))
	wantNotFound(t, "Complete of an unknown item", s.Complete(f.ctx, router.CompleteRequest{Org: "o1", ItemID: i1.ID + 1_000_000, At: sec(20)}))
	if got := f.item(i1.ID); got.State != router.StateAssigned {
		t.Fatalf("refused Complete calls changed item: %+v", got)
	}

	f.complete("o1", i1.ID, sec(30))
	got := f.item(i1.ID)
	wantState(t, got, router.StateCompleted)
	if !timePtrEqual(got.CompletedAt, sec(30)) {
		t.Fatalf("completed_at = %s, want %v", fmtTimePtr(got.CompletedAt), sec(30))
	}
	if got.AgentID != "a1" || !timePtrEqual(got.AssignedAt, sec(10)) {
		t.Fatalf("completion lost the assignment record: %+v", got)
	}
	if l := f.load("o1", "a1"); l != 0 {
		t.Fatalf("load after completion = %d, want 0", l)
	}
	if r, _ := s.RoutableOrgs(f.ctx); len(r) != 1 || r[0] != "o1" {
		t.Fatalf("RoutableOrgs after completion = %v, want [o1]", r)
	}
	wantConflict(t, "completing a completed item", s.Complete(f.ctx, router.CompleteRequest{Org: "o1", ItemID: i1.ID, At: sec(40)}))
	if l := f.load("o1", "a1"); l != 0 {
		t.Fatalf("a refused second completion changed the load to %d", l)
	}

	// A quarantined item cannot be completed either.
	f.quarantine("o1", i2.ID, "hold", sec(50))
	wantConflict(t, "Complete of a quarantined item", s.Complete(f.ctx, router.CompleteRequest{Org: "o1", ItemID: i2.ID, At: sec(60)}))
	wantState(t, f.item(i2.ID), router.StateQuarantined)
}

func testBulkLoad(t *testing.T, s router.Store) {
	f := newFx(t, s)
	a1 := attrs(1, "chat")
	a2 := attrs(2, "email")
	a3 := attrs(7, "sms", "skills", []string{"de"})
	data := &router.BulkData{
		Orgs:   []router.Org{{ID: "b1", Name: "Bulk 1"}, {ID: "b2", Name: "Bulk 2"}},
		Queues: []router.Queue{{OrgID: "b1", ID: "q", Priority: 1}, {OrgID: "b2", ID: "q"}},
		Teams:  []router.Team{{OrgID: "b1", ID: "t1", Status: router.TeamActive}, {OrgID: "b2", ID: "t1", Status: router.TeamActive}},
		Agents: []router.Agent{{OrgID: "b1", ID: "a1", TeamID: "t1", Skills: []string{"de"}, Status: router.AgentAvailable, Capacity: 5}},
		Items: []router.BulkItem{
			{OrgID: "b1", QueueID: "q", EnqueuedAt: sec(10), Revisions: []router.BulkRevision{{Attributes: a1, CreatedAt: sec(10)}}},
			{OrgID: "b1", QueueID: "q", EnqueuedAt: sec(20), Revisions: []router.BulkRevision{
				{Attributes: a1, CreatedAt: sec(20)}, {Attributes: a2, CreatedAt: sec(21)}, {Attributes: a3, CreatedAt: sec(22)}}},
			{OrgID: "b1", QueueID: "q", State: router.StateCancelled, EnqueuedAt: sec(5), Revisions: []router.BulkRevision{
				{Attributes: a1, CreatedAt: sec(5)}, {Attributes: a2, CreatedAt: sec(6)}}},
			{OrgID: "b2", QueueID: "q", EnqueuedAt: sec(30), Revisions: []router.BulkRevision{{Attributes: a2, CreatedAt: sec(30)}}},
		},
	}
	res, err := s.BulkLoad(f.ctx, data)
	if err != nil {
		t.Fatalf("BulkLoad: %v", err)
	}
	if res.Items != 4 || res.Revisions != 7 || res.FirstItemID == 0 || res.LastItemID < res.FirstItemID {
		t.Fatalf("BulkLoad result %+v, want 4 items and 7 revisions with an id range", res)
	}
	if orgs, _ := s.ListOrgs(f.ctx); len(orgs) != 2 {
		t.Fatalf("ListOrgs after BulkLoad = %v", orgs)
	}
	if as := f.agents("b1"); as["a1"].Capacity != 5 || as["a1"].Load != 0 {
		t.Fatalf("bulk agent = %+v", as["a1"])
	}
	items := f.allItems("b1")
	if len(items) != 3 {
		t.Fatalf("b1 has %d items, want 3", len(items))
	}
	byEnq := map[time.Time]router.WorkItem{}
	for _, it := range items {
		if it.ID < res.FirstItemID || it.ID > res.LastItemID {
			t.Fatalf("item %d is outside the reported range [%d, %d]", it.ID, res.FirstItemID, res.LastItemID)
		}
		byEnq[it.EnqueuedAt] = it
	}
	multi, ok := byEnq[sec(20)]
	if !ok {
		t.Fatalf("no item enqueued at %v: %+v", sec(20), items)
	}
	// ListItems leaves the journal copy's attributes out; GetItem has them.
	multi = f.item(multi.ID)
	revs := f.revisions("b1", multi.ID)
	if len(revs) != 3 {
		t.Fatalf("item with three revisions has %d", len(revs))
	}
	for i, want := range [][]byte{a1, a2, a3} {
		wantBytes(t, "bulk revision", revs[i].Attributes, want)
		if !revs[i].CreatedAt.Equal(sec(20 + i)) {
			t.Fatalf("bulk revision %d created_at %v, want %v", i, revs[i].CreatedAt, sec(20+i))
		}
	}
	if multi.CurrentRevisionID != revs[2].ID || multi.JournalRevisionID != revs[2].ID || multi.Priority != 7 {
		t.Fatalf("the last revision must become current, journalled, with its priority: %+v", multi)
	}
	wantBytes(t, "bulk journal", multi.JournalAttributes, a3)
	wantState(t, multi, router.StateQueued)
	wantState(t, byEnq[sec(5)], router.StateCancelled)

	// Bulk-loaded data is consistent: verify is clean, and routing takes
	// the queued items only.
	f.verifyClean()
	var claimed []int64
	f.route(router.RouteRequest{Org: "b1", Now: sec(100)}, func(b *router.Batch) []router.Decision {
		claimed = claimedIDs(b)
		return nil
	})
	if want := []int64{multi.ID, byEnq[sec(10)].ID}; !equalInt64(claimed, want) {
		t.Fatalf("claimed %v after BulkLoad, want %v (the queued ones, in routing order)", claimed, want)
	}
}

func equalInt64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
