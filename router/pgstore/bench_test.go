package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/sim"
)

// BenchmarkRoute measures the engine draining seeded items with ample
// capacity on a real PostgreSQL (the private test server, which runs with
// fsync off; `routeops bench` measures against a durable server). It
// reports items/s; nothing asserts a timing.
func BenchmarkRoute(b *testing.B) {
	ctx := context.Background()
	st := pgtest.NewStore(b)
	orgs := 20
	perOrg := max(1, (b.N+orgs-1)/orgs)
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 10, Capacity: perOrg/10 + 1, ItemsPerOrg: perOrg,
		Seed: 1, Now: time.Now().UTC().Truncate(time.Microsecond)}
	res, err := sim.Seed(ctx, st, spec)
	if err != nil {
		b.Fatal(err)
	}
	eng := router.NewEngine(st, router.EngineConfig{BatchSize: 200, Workers: 4, Clock: router.RealClock{}})
	b.ResetTimer()
	start := time.Now()
	pass, err := eng.RunUntilIdle(ctx)
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if pass.Assigned != res.Items {
		b.Fatalf("assigned %d of %d", pass.Assigned, res.Items)
	}
	b.ReportMetric(float64(pass.Assigned)/elapsed.Seconds(), "items/s")
}

// BenchmarkClaim measures one routing transaction (claim, decide, apply)
// of a full batch.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	st := pgtest.NewStore(b)
	const batch = 100
	spec := sim.SeedSpec{Orgs: 1, QueuesPerOrg: 1, AgentsPerOrg: 20, Capacity: (b.N*batch)/20 + 1, ItemsPerOrg: b.N * batch,
		Seed: 1, Now: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := sim.Seed(ctx, st, spec); err != nil {
		b.Fatal(err)
	}
	org := sim.OrgID(1)
	req := router.RouteRequest{Org: org, Limit: batch, Actor: router.Actor{Name: "engine:bench"}}
	decide := func(bt *router.Batch) []router.Decision { return router.Decide(router.PolicyQuarantine, bt) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Now = time.Now()
		r, err := st.RouteOrg(ctx, req, decide)
		if err != nil {
			b.Fatal(err)
		}
		if r.Assigned != batch {
			b.Fatalf("assigned %d, want %d", r.Assigned, batch)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "items/s")
}
