package ops

import (
	"context"

	"github.com/routeops/routeops/router"
)

// Agents lists an org's agents, sorted by id, with their status and load,
// for the console's org view. It is a read and needs no guard.
func (o *Ops) Agents(ctx context.Context, org string) ([]router.Agent, error) {
	return o.store.ListAgents(ctx, org)
}
