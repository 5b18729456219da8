package demo

import (
	"context"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/sim"
)

// SeedSpec describes a synthetic data set for a database (`routeops
// seed`): the same generator as the simulator's, written in bulk.
type SeedSpec = sim.SeedSpec

// Seed writes spec's deterministic data set to st in bulk and returns the
// totals. It is synthetic data for trying routeops on PostgreSQL; the
// caller decides whether a change is allowed (ops.Policy).
func Seed(ctx context.Context, st router.Store, spec SeedSpec) (router.BulkResult, error) {
	return sim.Seed(ctx, st, spec)
}

// SeedProgress is Seed, telling progress how many items are written of
// how many after each chunk.
func SeedProgress(ctx context.Context, st router.Store, spec SeedSpec, progress func(done, total int)) (router.BulkResult, error) {
	return sim.SeedProgress(ctx, st, spec, progress)
}
