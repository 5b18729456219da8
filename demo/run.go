package demo

import (
	"context"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// Headless says how RunHeadless runs.
type Headless struct {
	// Duration is how long the demo runs before the final snapshot.
	Duration time.Duration
	// MonitorInterval is health.interval: how often the monitor looks and
	// records stall transitions.
	MonitorInterval time.Duration
	// Incident, when set, strikes IncidentAfter into the run, on
	// IncidentCount items.
	Incident      bool
	IncidentAfter time.Duration
	IncidentCount int
}

// RunHeadless runs a demo without a console for h.Duration, with the
// monitor recording, and returns its final snapshot. The final snapshot
// is taken while the engine and the simulator still run: a stopped engine
// would turn every stall's cause into engine_down.
func RunHeadless(ctx context.Context, cfg Config, h Headless) (*ops.Snapshot, error) {
	d, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if h.MonitorInterval <= 0 {
		h.MonitorInterval = time.Second
	}
	d.Start(ctx)
	runCtx, cancel := context.WithTimeout(ctx, h.Duration)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.ops.Monitor.Loop(runCtx, h.MonitorInterval)
	}()
	if h.Incident {
		go d.incidentAfter(runCtx, h.IncidentAfter, h.IncidentCount)
	}
	<-runCtx.Done()
	<-done
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	return d.ops.Monitor.Observe(fctx)
}

// incidentAfter injects the incident after a delay, and logs what it did.
func (d *Demo) incidentAfter(ctx context.Context, after time.Duration, count int) {
	select {
	case <-ctx.Done():
		return
	case <-d.clock.After(after):
	}
	org, ids, err := d.InjectIncident(ctx, ops.DrillMissingRevisions, count)
	if err != nil {
		d.log.Warn("incident drill failed", "org", org, "error", err.Error())
		return
	}
	d.log.Warn("incident injected: current revisions deleted", "org", org, "items", ids)
}

// WarmUpSteps and WarmUpStep are the warm-up behind status and check
// without a database: ten simulated seconds.
const (
	WarmUpSteps = 20
	WarmUpStep  = 500 * time.Millisecond
)

// WarmUp builds a demo on a manual clock (starting at start), runs it
// for WarmUpSteps steps of WarmUpStep without waiting, and returns its
// snapshot: a populated picture in milliseconds, for status and check
// when no database is configured. It logs nothing.
func WarmUp(ctx context.Context, cfg Config, start time.Time) (*ops.Snapshot, error) {
	cfg.Ops.Clock = router.NewManualClock(start.UTC().Truncate(time.Microsecond))
	cfg.Log, cfg.Ops.Log, cfg.Engine.Logger = nil, nil, nil
	d, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	for range WarmUpSteps {
		if err := d.RunOnce(ctx, WarmUpStep); err != nil {
			return nil, err
		}
	}
	return d.ops.Monitor.Snapshot(ctx, "")
}
