package ops

import "github.com/routeops/routeops/router"

// PickQueues exposes the per-queue series choice to the tests: how many
// queues get series of their own, and how many are left out by the bound.
func PickQueues(s *Snapshot, mode PerQueue, set Settings) (picked []string, dropped int) {
	ps, dropped := pickQueues(s, mode, set)
	for _, p := range ps {
		picked = append(picked, p.org+"/"+p.q.Queue)
	}
	return picked, dropped
}

// EvaluateReleasing is the monitor's evaluation, which lets go of each
// org's raw aggregates once the org is evaluated.
func EvaluateReleasing(raw *router.StoreSnapshot, s Settings) *Snapshot {
	return evaluate(raw, s, true)
}

// ObserveWait exposes how long the monitor waits between observations.
var ObserveWait = observeWait

// MetricsKeep hands the metrics a snapshot as the monitor does.
func MetricsKeep(m *Metrics, s *Snapshot) { m.snap.keep(s) }
