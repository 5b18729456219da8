package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var itemTests = []suiteTest{
	{"Items/GetItemUnknown", testGetItemUnknown},
	{"Items/ListItemsFilters", testListItems},
	{"Items/ListItemsPagination", testListItemsPagination},
	{"Items/Events", testEvents},
}

func testGetItemUnknown(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	_, err := s.GetItem(f.ctx, it.ID+1_000_000)
	wantNotFound(t, "GetItem of an unknown id", err)
}

func testListItems(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "q2", 0, false)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	f.basicOrg("o2")
	a := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	b := f.enqueue("o1", "q", attrs(1, "chat"), sec(1))
	c := f.enqueue("o1", "q2", attrs(1, "chat"), sec(2))
	d := f.enqueue("o1", "q2", attrs(1, "chat"), sec(3))
	e := f.enqueue("o2", "q", attrs(1, "chat"), sec(4))
	g := f.enqueue("o2", "q", attrs(1, "chat"), sec(5))
	f.assign("o1", sec(10), map[int64]string{b.ID: "a1", d.ID: "a1"})
	f.quarantine("o1", c.ID, "x", sec(11))
	f.quarantine("o2", g.ID, "x", sec(11))

	cases := []struct {
		flt  router.ItemFilter
		want []int64
	}{
		{router.ItemFilter{Org: "o1"}, []int64{a.ID, b.ID, c.ID, d.ID}},
		{router.ItemFilter{Org: "o2"}, []int64{e.ID, g.ID}},
		{router.ItemFilter{}, []int64{a.ID, b.ID, c.ID, d.ID, e.ID, g.ID}},
		{router.ItemFilter{Org: "o1", Queue: "q2"}, []int64{c.ID, d.ID}},
		{router.ItemFilter{Org: "o1", State: router.StateAssigned}, []int64{b.ID, d.ID}},
		{router.ItemFilter{Org: "o1", Queue: "q", State: router.StateQueued}, []int64{a.ID}},
		{router.ItemFilter{State: router.StateQuarantined}, []int64{c.ID, g.ID}},
		{router.ItemFilter{State: router.StateCompleted}, nil},
		{router.ItemFilter{Org: "nope"}, nil},
	}
	for _, tc := range cases {
		got := router.ItemIDs(f.listItems(tc.flt))
		if !equalInt64(got, sortedInt64(tc.want)) {
			t.Fatalf("ListItems(%+v) = %v, want %v (by id)", tc.flt, got, sortedInt64(tc.want))
		}
	}
	// Items come back whole.
	for _, it := range f.listItems(router.ItemFilter{Org: "o1", State: router.StateAssigned}) {
		if it.AgentID != "a1" || !timePtrEqual(it.AssignedAt, sec(10)) || it.QueueID == "" || it.CurrentRevisionID == 0 {
			t.Fatalf("listed item %+v", it)
		}
	}
}

func testListItemsPagination(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	var want []int64
	for i := range 7 {
		it := f.enqueue("o1", "q", attrs(i, "chat"), sec(i))
		want = append(want, it.ID)
		f.enqueue("o2", "q", attrs(i, "chat"), sec(i)) // interleaved ids of another org
	}
	want = sortedInt64(want)
	var got []int64
	after := int64(0)
	pages := 0
	for {
		page := f.listItems(router.ItemFilter{Org: "o1", AfterID: after, Limit: 3})
		if len(page) > 3 {
			t.Fatalf("page of %d items with Limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages++
		for _, it := range page {
			if it.ID <= after {
				t.Fatalf("page after %d holds item %d", after, it.ID)
			}
			got = append(got, it.ID)
		}
		after = page[len(page)-1].ID
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if !equalInt64(got, want) || pages != 3 {
		t.Fatalf("paged ids %v in %d pages, want %v in 3 pages", got, pages, want)
	}
	if tail := f.listItems(router.ItemFilter{Org: "o1", AfterID: want[4], Limit: 100}); !equalInt64(router.ItemIDs(tail), want[5:]) {
		t.Fatalf("ListItems after %d = %v, want %v", want[4], router.ItemIDs(tail), want[5:])
	}
}

func testEvents(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.basicOrg("o2")
	i1 := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	i2 := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	j1 := f.enqueue("o2", "q", attrs(1, "chat"), sec(0))
	j2 := f.enqueue("o2", "q", attrs(1, "chat"), sec(0))
	m := func(n int) time.Time { return at(time.Duration(n) * time.Minute) }
	f.quarantine("o1", i1.ID, "r1", m(1)) // o1 #1
	f.release("o1", i1.ID, m(2))          // o1 #2
	pause := router.QueuePauseRequest{Org: "o1", Queue: "q", Paused: true, Actor: operator, At: m(3)}
	if _, err := s.SetQueuePaused(f.ctx, pause); err != nil { // o1 #3
		t.Fatal(err)
	}
	f.quarantine("o1", i2.ID, "r2", m(4))                // o1 #4
	f.quarantine("o2", j1.ID, "r3", at(135*time.Second)) // o2, between o1's #2 and #3
	// An event written later with an earlier time sorts by its time.
	f.quarantine("o2", j2.ID, "r4", at(30*time.Second))

	all := f.events(router.EventFilter{})
	if len(all) != 6 {
		t.Fatalf("%d events, want 6: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.Before(all[i-1].At) {
			t.Fatalf("events not oldest first: %v then %v", all[i-1].At, all[i].At)
		}
	}
	if all[0].WorkItemID != j2.ID {
		t.Fatalf("first event is for item %d, want %d (the one with the earliest time, written last)", all[0].WorkItemID, j2.ID)
	}

	o1 := f.events(router.EventFilter{Org: "o1"})
	wantKinds := []string{router.EventQuarantined, router.EventReleased, router.EventQueuePaused, router.EventQuarantined}
	if got := eventKinds(o1); !slices.Equal(got, wantKinds) {
		t.Fatalf("o1 events %v, want %v", got, wantKinds)
	}
	for i, e := range o1 {
		wantActor(t, e, operator)
		if e.OrgID != "o1" || !e.At.Equal(m(i+1)) || e.ID == 0 {
			t.Fatalf("o1 event %d = %+v, want at %v", i, e, m(i+1))
		}
	}
	if o1[0].WorkItemID != i1.ID || o1[0].QueueID != "q" || o1[2].QueueID != "q" || o1[2].WorkItemID != 0 {
		t.Fatalf("event item/queue fields: %+v", o1)
	}

	check := func(name string, flt router.EventFilter, want []router.Event) {
		t.Helper()
		got := f.events(flt)
		if !equalInt64(eventIDs(got), eventIDs(want)) {
			t.Fatalf("%s: Events(%+v) = %v %v, want %v %v", name, flt, eventIDs(got), eventKinds(got), eventIDs(want), eventKinds(want))
		}
	}
	check("kinds", router.EventFilter{Org: "o1", Kinds: []string{router.EventQuarantined}}, []router.Event{o1[0], o1[3]})
	check("two kinds", router.EventFilter{Org: "o1", Kinds: []string{router.EventReleased, router.EventQueuePaused}}, o1[1:3])
	check("item", router.EventFilter{Org: "o1", ItemID: i1.ID}, o1[:2])
	check("item without org", router.EventFilter{ItemID: i1.ID}, o1[:2])
	check("since", router.EventFilter{Org: "o1", Since: at(150 * time.Second)}, o1[2:])
	check("until", router.EventFilter{Org: "o1", Until: at(150 * time.Second)}, o1[:2])
	check("since and until", router.EventFilter{Org: "o1", Since: at(90 * time.Second), Until: at(210 * time.Second)}, o1[1:3])
	check("limit", router.EventFilter{Org: "o1", Limit: 2}, o1[:2])
	check("newest of", router.EventFilter{Org: "o1", Limit: 2, NewestOf: true}, o1[2:])
	check("newest of more than there are", router.EventFilter{Org: "o1", Limit: 10, NewestOf: true}, o1)
	check("after id", router.EventFilter{Org: "o1", AfterID: o1[1].ID}, o1[2:])
	check("other org", router.EventFilter{Org: "o2", Kinds: []string{router.EventQuarantined}}, f.events(router.EventFilter{Org: "o2"}))
	check("nothing", router.EventFilter{Org: "o1", Kinds: []string{router.EventStallCleared}}, nil)
	if n := len(f.events(router.EventFilter{Org: "o2"})); n != 2 {
		t.Fatalf("o2 has %d events, want 2", n)
	}
}
