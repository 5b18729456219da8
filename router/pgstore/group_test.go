package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestRouteOrgsBusyOrgInGroup: an org whose routing lock another engine
// holds comes back Busy and untouched, and the other orgs of the same
// transaction are routed.
func TestRouteOrgsBusyOrgInGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := pgtest.NewStore(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	items := map[string]int64{}
	for _, org := range []string{"a", "b", "c"} {
		must(st.UpsertOrg(ctx, router.Org{ID: org}))
		must(st.UpsertQueue(ctx, router.Queue{OrgID: org, ID: "q"}))
		must(st.UpsertTeam(ctx, router.Team{OrgID: org, ID: "t"}))
		must(st.UpsertAgent(ctx, router.Agent{OrgID: org, ID: "x", TeamID: "t", Status: router.AgentAvailable, Capacity: 5}))
		it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: org, QueueID: "q", Attributes: []byte(`{"channel": "chat", "priority": 5}`), EnqueuedAt: now})
		must(err)
		items[org] = it.ID
	}
	other, err := st.Pool().Acquire(ctx)
	must(err)
	defer other.Release()
	_, err = other.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext('b'))`, pgstore.LockNSOrg)
	must(err)
	defer other.Exec(context.Background(), `SELECT pg_advisory_unlock_all()`) //nolint:errcheck

	var reqs []router.RouteRequest
	for _, org := range []string{"a", "b", "c"} {
		reqs = append(reqs, router.RouteRequest{Org: org, Limit: 10, Now: now, Actor: router.Actor{Name: "engine:test"}})
	}
	decided := map[string]bool{}
	res, err := st.RouteOrgs(ctx, reqs, func(b *router.Batch) []router.Decision {
		decided[b.Org] = true
		return router.Decide(router.PolicyQuarantine, b)
	})
	must(err)
	if !res[1].Busy || res[1].Claimed != 0 || decided["b"] {
		t.Fatalf("b is held by another engine: result %+v, decided %v", res[1], decided["b"])
	}
	for i, org := range []string{"a", "c"} {
		r := res[i*2]
		if r.Busy || r.Assigned != 1 {
			t.Fatalf("%s: %+v", org, r)
		}
	}
	for org, id := range items {
		it, err := st.GetItem(ctx, id)
		must(err)
		want := router.StateAssigned
		if org == "b" {
			want = router.StateQueued
		}
		if it.State != want {
			t.Fatalf("%s's item is %s, want %s", org, it.State, want)
		}
	}
	// Released, b routes.
	_, err = other.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	must(err)
	res, err = st.RouteOrgs(ctx, reqs[1:2], func(b *router.Batch) []router.Decision { return router.Decide(router.PolicyQuarantine, b) })
	must(err)
	if res[0].Busy || res[0].Assigned != 1 {
		t.Fatalf("b after release: %+v", res[0])
	}
}
