package storetest

import (
	"slices"
	"testing"

	"github.com/routeops/routeops/router"
)

var groupTests = []suiteTest{
	{"RouteOrgs/EachOrgItsOwnBatch", testRouteOrgsEach},
	{"RouteOrgs/AllOrNothing", testRouteOrgsAllOrNothing},
	{"RouteOrgs/DistinctOrgs", testRouteOrgsDistinct},
	{"RouteOrgs/LimitsAndCursorsPerOrg", testRouteOrgsLimits},
	{"Backlog/CountsAndRoutable", testBacklog},
}

// groupFixture makes orgs g1..g3, each with queue "q", team "t1" and one
// agent "a1" of capacity 10, and n queued items each (priority by order).
func groupFixture(f *fx, n int) map[string][]router.WorkItem {
	items := map[string][]router.WorkItem{}
	for _, org := range []string{"g1", "g2", "g3"} {
		f.basicOrg(org)
		f.agent(org, "a1", "t1", router.AgentAvailable, 10)
		for i := 0; i < n; i++ {
			items[org] = append(items[org], f.enqueue(org, "q", attrs(50, "chat"), sec(i)))
		}
	}
	return items
}

// assignAll assigns every claimed item to a1.
func assignAll(b *router.Batch) []router.Decision {
	var ds []router.Decision
	for _, ci := range b.Items {
		ds = append(ds, router.Decision{Kind: router.DecideAssign, ItemID: ci.Item.ID, QueueID: ci.Item.QueueID, AgentID: "a1"})
	}
	return ds
}

func testRouteOrgsEach(t *testing.T, s router.Store) {
	f := newFx(t, s)
	items := groupFixture(f, 3)
	seen := map[string][]int64{}
	reqs := []router.RouteRequest{
		{Org: "g2", Limit: 10, Actor: engineActor, Now: sec(100)},
		{Org: "g1", Limit: 10, Actor: engineActor, Now: sec(100)},
	}
	res, err := s.RouteOrgs(f.ctx, reqs, func(b *router.Batch) []router.Decision {
		if _, twice := seen[b.Org]; twice {
			t.Errorf("decide called twice for %s", b.Org)
		}
		for _, ci := range b.Items {
			if ci.Item.OrgID != b.Org {
				t.Errorf("batch of %s holds item %d of %s", b.Org, ci.Item.ID, ci.Item.OrgID)
			}
		}
		if len(b.Agents) != 1 || b.Agents[0].OrgID != b.Org || len(b.Queues) != 1 || len(b.Teams) != 1 {
			t.Errorf("batch of %s: agents %+v, queues %+v, teams %+v", b.Org, b.Agents, b.Queues, b.Teams)
		}
		seen[b.Org] = claimedIDs(b)
		return assignAll(b)
	})
	if err != nil {
		t.Fatalf("RouteOrgs: %v", err)
	}
	if len(res) != 2 {
		t.Fatalf("RouteOrgs returned %d results for 2 orgs", len(res))
	}
	for i, org := range []string{"g2", "g1"} {
		r := res[i]
		if r.Busy || r.Claimed != 3 || r.Assigned != 3 || r.FreeCapacity != 10 || r.Queues["q"].Claimed != 3 {
			t.Fatalf("result %d (%s) = %+v", i, org, r)
		}
		if !slices.Equal(seen[org], router.ItemIDs(items[org])) {
			t.Fatalf("%s claimed %v, want %v", org, seen[org], router.ItemIDs(items[org]))
		}
		for _, it := range items[org] {
			if got := f.item(it.ID); got.State != router.StateAssigned || got.AgentID != "a1" {
				t.Fatalf("%s item %d: %+v", org, it.ID, got)
			}
			if evs := f.itemEvents(org, it.ID, router.EventAssigned); len(evs) != 1 || evs[0].OrgID != org {
				t.Fatalf("%s item %d: assigned events %+v", org, it.ID, evs)
			}
		}
		if l := f.load(org, "a1"); l != 3 {
			t.Fatalf("%s a1 load %d, want 3", org, l)
		}
	}
	for _, it := range items["g3"] {
		if got := f.item(it.ID); got.State != router.StateQueued {
			t.Fatalf("g3 was not in the call but its item %d is %s", it.ID, got.State)
		}
	}
	f.verifyClean()
}

// testRouteOrgsAllOrNothing: one org's impossible decision fails the call,
// and nothing of any org in it is applied.
func testRouteOrgsAllOrNothing(t *testing.T, s router.Store) {
	f := newFx(t, s)
	items := groupFixture(f, 2)
	reqs := []router.RouteRequest{
		{Org: "g1", Limit: 10, Actor: engineActor, Now: sec(100)},
		{Org: "g2", Limit: 10, Actor: engineActor, Now: sec(100)},
	}
	_, err := s.RouteOrgs(f.ctx, reqs, func(b *router.Batch) []router.Decision {
		ds := assignAll(b)
		if b.Org == "g2" {
			// g1's item, decided in g2's batch: never claimed there.
			ds = append(ds, router.Decision{Kind: router.DecideAssign, ItemID: items["g1"][0].ID, QueueID: "q", AgentID: "a1"})
		}
		return ds
	})
	if err == nil {
		t.Fatal("RouteOrgs accepted a decision for an item another org's batch claimed")
	}
	for _, org := range []string{"g1", "g2"} {
		for _, it := range items[org] {
			if got := f.item(it.ID); got.State != router.StateQueued || got.Attempts != 0 {
				t.Fatalf("a failed RouteOrgs changed %s item %d: %+v", org, it.ID, got)
			}
		}
		if l := f.load(org, "a1"); l != 0 {
			t.Fatalf("a failed RouteOrgs changed %s a1's load to %d", org, l)
		}
	}
	if evs := f.events(router.EventFilter{}); len(evs) != 0 {
		t.Fatalf("a failed RouteOrgs wrote events: %+v", evs)
	}
	res, err := s.RouteOrgs(f.ctx, reqs, assignAll)
	if err != nil || res[0].Assigned != 2 || res[1].Assigned != 2 {
		t.Fatalf("RouteOrgs after the failure: %+v, %v", res, err)
	}
}

func testRouteOrgsDistinct(t *testing.T, s router.Store) {
	f := newFx(t, s)
	items := groupFixture(f, 1)
	reqs := []router.RouteRequest{
		{Org: "g1", Limit: 10, Actor: engineActor, Now: sec(100)},
		{Org: "g1", Limit: 10, Actor: engineActor, Now: sec(100)},
	}
	if _, err := s.RouteOrgs(f.ctx, reqs, assignAll); err == nil {
		t.Fatal("RouteOrgs accepted one org twice")
	}
	if got := f.item(items["g1"][0].ID); got.State != router.StateQueued {
		t.Fatalf("refused call changed item: %+v", got)
	}
	if res, err := s.RouteOrgs(f.ctx, nil, assignAll); err != nil || len(res) != 0 {
		t.Fatalf("RouteOrgs with no orgs = %+v, %v", res, err)
	}
}

// testRouteOrgsLimits: each request keeps its own limit and cursors.
func testRouteOrgsLimits(t *testing.T, s router.Store) {
	f := newFx(t, s)
	items := groupFixture(f, 4)
	cur := router.CursorOf(&items["g2"][1])
	reqs := []router.RouteRequest{
		{Org: "g1", Limit: 1, Actor: engineActor, Now: sec(100)},
		{Org: "g2", Limit: 2, Actor: engineActor, Now: sec(100), Cursors: map[string]router.QueueCursor{"q": cur}},
		{Org: "g3", Limit: 3, Actor: engineActor, Now: sec(100), Cursors: map[string]router.QueueCursor{"q": {Skip: true}}},
	}
	claimed := map[string][]int64{}
	res, err := s.RouteOrgs(f.ctx, reqs, func(b *router.Batch) []router.Decision {
		claimed[b.Org] = claimedIDs(b)
		return nil
	})
	if err != nil {
		t.Fatalf("RouteOrgs: %v", err)
	}
	want := map[string][]int64{"g1": router.ItemIDs(items["g1"][:1]), "g2": router.ItemIDs(items["g2"][2:4])}
	for _, org := range []string{"g1", "g2", "g3"} {
		if !slices.Equal(claimed[org], want[org]) {
			t.Fatalf("%s claimed %v, want %v", org, claimed[org], want[org])
		}
	}
	if res[0].QueuesFull != 1 || res[1].QueuesFull != 1 || res[2].QueuesFull != 0 || res[2].Claimed != 0 {
		t.Fatalf("results %+v", res)
	}
}

func testBacklog(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("ready") // two queued, capacity
	f.agent("ready", "a1", "t1", router.AgentAvailable, 1)
	f.enqueue("ready", "q", attrs(1, "chat"), sec(0))
	f.enqueue("ready", "q", attrs(1, "chat"), sec(1))
	f.basicOrg("full") // queued, no free capacity
	f.agent("full", "a1", "t1", router.AgentAway, 5)
	f.enqueue("full", "q", attrs(1, "chat"), sec(0))
	f.org("held") // queued only in a paused queue
	f.queue("held", "q", 0, true)
	f.team("held", "t1", router.TeamActive)
	f.agent("held", "a1", "t1", router.AgentAvailable, 5)
	f.enqueue("held", "q", attrs(1, "chat"), sec(0))
	f.basicOrg("skipped") // only a skipped item: not listed
	f.agent("skipped", "a1", "t1", router.AgentAvailable, 5)
	sk := f.enqueue("skipped", "q", attrs(1, "chat"), sec(0))
	f.fault("skipped", sk.ID, router.CauseCorruptRevision, "x", router.PolicySkip, sec(5))
	f.basicOrg("idle") // nothing queued: not listed
	f.agent("idle", "a1", "t1", router.AgentAvailable, 5)
	f.basicOrg("orphans") // an item naming a queue that does not exist
	f.agent("orphans", "a1", "t1", router.AgentAvailable, 5)
	f.makeOrphan("orphans", "gone", attrs(1, "chat"), sec(0))

	bl, err := s.Backlog(f.ctx)
	if err != nil {
		t.Fatalf("Backlog: %v", err)
	}
	want := []router.OrgBacklog{
		{Org: "full", Queued: 1, Routable: false},
		{Org: "held", Queued: 1, Routable: false},
		{Org: "orphans", Queued: 1, Routable: true},
		{Org: "ready", Queued: 2, Routable: true},
	}
	if !slices.Equal(bl, want) {
		t.Fatalf("Backlog = %+v, want %+v", bl, want)
	}
}
