package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/sim"
)

// BenchmarkSnapshot builds the monitor's raw snapshot of every org (the
// aggregate queries behind status, check, /metrics and the console) on a
// modest seeded database: 500 orgs, 1,000 queues, 10,000 queued items.
// The full-size figure (5,000 orgs, 1M items) is `routeops bench
// --scenario snapshot`'s; nothing here asserts a timing.
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	st := pgtest.NewStore(b)
	const orgs, perOrg = 500, 20
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 3, Capacity: 5, ItemsPerOrg: perOrg,
		Seed: 1, Now: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := sim.Seed(ctx, st, spec); err != nil {
		b.Fatal(err)
	}
	// One warm-up, as a monitor that has been running would be.
	if _, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Orgs) != orgs {
			b.Fatalf("snapshot has %d orgs, want %d", len(snap.Orgs), orgs)
		}
	}
}
