package ops_test

import (
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// TestStalledSeriesKeepsItsIdentity: through one stall the stalled series
// keeps the cause it was detected with, while routeops_queue_cause
// follows what is wrong now; so one stall is one series, one alert.
func TestStalledSeriesKeepsItsIdentity(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		m := ops.NewMetrics(e.ops.Monitor)
		e.org("o1", 1, 5)
		e.enqueue("o1", "default", attrs(1), base)
		// An engine that beats but never routes: after stall_after the
		// queue is stalled with cause unknown.
		eng := e.engine(router.PolicyBlock, m)
		e.clk.Set(at(2 * time.Minute))
		e.beat(eng)
		snap := e.observe(e.ops.Monitor)
		q := snap.Orgs[0].Queues[0]
		if !q.Stalled || q.Cause != router.CauseUnknown || q.StallCause != router.CauseUnknown {
			t.Fatalf("first look: %+v", q)
		}
		labels := map[string]string{"org": "o1", "queue": "default"}
		fams, err := m.Registry().Gather()
		e.must(err)
		if v := metric(t, fams, "routeops_queue_stalled", labels); v != 1 {
			t.Fatalf("stalled = %v", v)
		}
		// Now the head's revision goes missing: the cause changes, the
		// stall goes on.
		e.drill(ops.DrillMissingRevisions, "o1", 1)
		e.clk.Set(at(3 * time.Minute))
		e.beat(eng)
		snap = e.observe(e.ops.Monitor)
		q = snap.Orgs[0].Queues[0]
		if !q.Stalled || q.Cause != router.CauseMissingRevision || q.StallCause != router.CauseUnknown {
			t.Fatalf("second look: %+v", q)
		}
		fams, err = m.Registry().Gather()
		e.must(err)
		// Exactly one stalled series for the queue, still the one it began as.
		if v := metric(t, fams, "routeops_queue_stalled", map[string]string{"org": "o1", "queue": "default", "cause": "unknown"}); v != 1 {
			t.Fatalf("stalled{cause=unknown} = %v", v)
		}
		if v := metric(t, fams, "routeops_queue_stalled", labels); v != 1 {
			t.Fatalf("stalled = %v", v)
		}
		if v := metric(t, fams, "routeops_queue_cause", map[string]string{"org": "o1", "queue": "default", "cause": "missing_revision"}); v != 1 {
			t.Fatalf("cause{missing_revision} = %v", v)
		}
		if v := metric(t, fams, "routeops_queue_cause", labels); v != 1 {
			t.Fatalf("cause series = %v", v)
		}
	})
}

// TestPausedQueueIsNotAStallMetric: a deliberate pause with work and free
// capacity waiting for an hour is stalled 0 in /metrics, with cause
// queue_paused, and a warning: nothing there pages.
func TestPausedQueueIsNotAStallMetric(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		m := ops.NewMetrics(e.ops.Monitor)
		e.org("o1", 1, 5)
		e.enqueue("o1", "default", attrs(1), base)
		_, err := e.ops.SetPaused(e.ctx, router.QueueRef{Org: "o1", Queue: "default"}, true)
		e.must(err)
		eng := e.engine(router.PolicyQuarantine, m)
		e.clk.Set(at(time.Hour))
		e.beat(eng)
		snap := e.observe(e.ops.Monitor)
		q := snap.Orgs[0].Queues[0]
		if q.Stalled || q.Cause != router.CauseQueuePaused || q.Health != ops.HealthWarning || snap.Summary.Health != ops.HealthWarning {
			t.Fatalf("a paused queue: %+v (summary %s)", q, snap.Summary.Health)
		}
		fams, err := m.Registry().Gather()
		e.must(err)
		labels := map[string]string{"org": "o1", "queue": "default"}
		if v := metric(t, fams, "routeops_queue_stalled", labels); v != 0 {
			t.Fatalf("stalled = %v", v)
		}
		if v := metric(t, fams, "routeops_queue_cause", map[string]string{"org": "o1", "queue": "default", "cause": "queue_paused"}); v != 1 {
			t.Fatalf("cause{queue_paused} = %v", v)
		}
		if v := metric(t, fams, "routeops_queue_health", labels); v != 1 {
			t.Fatalf("health = %v, want 1 (warning)", v)
		}
		if n := len(e.events("o1", router.EventStallDetected)); n != 0 {
			t.Fatalf("%d stall events for a paused queue", n)
		}
	})
}

// TestReplicaLagRule: reads from a standby past health.max_replica_lag
// make the fleet a warning with the reason; within it, health is the
// queues'. Reads from a standby without a split make a viewer.
func TestReplicaLagRule(t *testing.T) {
	raw := &router.StoreSnapshot{Now: base, Source: &router.SnapshotSource{Store: "postgres://u@p:5432/db",
		Reads: "postgres://u@r:5432/db", ReadSplit: true, Pooler: "transaction", InRecovery: true, ReplicaLag: 45 * time.Second}}
	s := settings()
	s.MaxReplicaLag = 30 * time.Second
	snap := ops.Evaluate(raw, s)
	d := snap.Database
	if d == nil || snap.Summary.Health != ops.HealthWarning || d.Health != ops.HealthWarning || d.Viewer || !d.Standby ||
		snap.Summary.ReplicaLagSeconds == nil || *snap.Summary.ReplicaLagSeconds != 45 || snap.Store != "postgres://u@p:5432/db" {
		t.Fatalf("45s behind a 30s limit: %+v %+v", snap.Summary, d)
	}
	raw.Source.ReplicaLag = 0
	snap = ops.Evaluate(raw, s)
	if snap.Summary.Health != ops.HealthOK || *snap.Summary.ReplicaLagSeconds != 0 {
		t.Fatalf("caught up: %+v", snap.Summary)
	}
	raw.Source.ReadSplit, raw.Source.Reads = false, ""
	if d := ops.Evaluate(raw, s).Database; !d.Viewer {
		t.Fatalf("a standby without a split: %+v", d)
	}
	raw.Source.InRecovery = false
	snap = ops.Evaluate(raw, s)
	if snap.Summary.ReplicaLagSeconds != nil || snap.Database.Viewer {
		t.Fatalf("a primary: %+v %+v", snap.Summary, snap.Database)
	}
}

// TestScopedRepairVerdict: a repair scoped to one org is judged on that
// org's findings; other orgs' are counted apart, not held against it.
func TestScopedRepairVerdict(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for _, org := range []string{"o1", "o2"} {
			e.org(org, 1, 1)
			e.enqueue(org, "default", attrs(1), base)
			e.drill(ops.DrillMissingRevisions, org, 1)
		}
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 1 || !rep.VerifyOK || rep.VerifyOrg != "o1" || rep.OtherFindings == 0 || len(rep.Verify.Findings) != 0 {
			t.Fatalf("repair of o1 with o2 still broken: %+v (verify %+v)", rep, rep.Verify)
		}
		plan, err = e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		rep, err = e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 1 || !rep.VerifyOK || rep.VerifyOrg != "" || rep.OtherFindings != 0 {
			t.Fatalf("repair of every org: %+v", rep)
		}
	})
}
