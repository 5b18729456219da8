// Package demo is the embedded runtime behind `routeops demo`, and behind
// the console, status and check when no database is configured: the
// in-process store, simulated traffic (conversations arrive, agents take
// and finish them), the routing engine, the compaction that keeps a
// long-running demo small, and the rehearsed incident. cmd/routeops only
// wires it: it never touches the store or the simulator itself.
//
// A Demo is a service: New builds it, Start runs its loops until Stop (or
// the context ends), RunOnce moves it one step on its own clock (the
// warm-up behind status without a database), and InjectIncident breaks
// the heads of the org that ops.IncidentOrg picks.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/sim"
)

// Retention is how long the demo remembers finished conversations; older
// ones are compacted away every CompactEvery.
const (
	Retention    = 15 * time.Minute
	CompactEvery = time.Minute
)

// Config builds a demo.
type Config struct {
	// Orgs, Seed and Rate are demo.* in the config: how many orgs, the
	// random seed, and the mean arrivals per second per org.
	Orgs int
	Seed int64
	Rate float64
	// Engine configures the routing engine (routing.*). The demo sets its
	// clock, and its observer to the demo's metrics when none is given.
	Engine router.EngineConfig
	// NoEngine runs the demo without routing (watch queues fill up).
	NoEngine bool
	// Pressure puts the demo under pressure (sim.Config.Pressure): peaks,
	// a starved org, a paused queue with a reason, agents away and back,
	// so that every queue state shows within a minute.
	Pressure bool
	// Ops are the operator API's options; the demo marks its store as
	// embedded (drills allowed) and uses Ops.Clock (the wall clock when
	// nil) for everything.
	Ops ops.Options
	// Log receives the simulator's and the demo's own messages; nil
	// discards them.
	Log *slog.Logger
}

// Demo is one embedded runtime.
type Demo struct {
	cfg     Config
	clock   router.Clock
	log     *slog.Logger
	store   *memstore.Store
	sim     *sim.Simulator
	ops     *ops.Ops
	engine  *router.Engine
	metrics *ops.Metrics

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool
}

// New builds a demo and sets up its orgs, teams, agents and queues. Stop
// releases it.
func New(ctx context.Context, cfg Config) (*Demo, error) {
	if cfg.Ops.Clock == nil {
		cfg.Ops.Clock = router.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Ops.Policy.Embedded = true
	d := &Demo{cfg: cfg, clock: cfg.Ops.Clock, log: cfg.Log, store: memstore.New()}
	d.sim = sim.New(d.store, sim.Config{Orgs: cfg.Orgs, Seed: cfg.Seed, Rate: cfg.Rate, Clock: d.clock, Logger: d.log,
		Pressure: cfg.Pressure})
	if err := d.sim.Setup(ctx); err != nil {
		d.store.Close()
		return nil, fmt.Errorf("demo setup: %w", err)
	}
	d.ops = ops.New(d.store, cfg.Ops)
	d.metrics = ops.NewMetrics(d.ops.Monitor, ops.MetricsOptions{})
	if !cfg.NoEngine {
		ec := cfg.Engine
		ec.Clock = d.clock
		if ec.Observer == nil {
			ec.Observer = d.metrics
		}
		d.engine = router.NewEngine(d.store, ec)
	}
	return d, nil
}

// Ops is the operator API on the demo's store: the only way in.
func (d *Demo) Ops() *ops.Ops { return d.ops }

// Engine is the demo's routing engine, nil with NoEngine.
func (d *Demo) Engine() *router.Engine { return d.engine }

// SimStats counts what the simulated world did.
func (d *Demo) SimStats() sim.Stats { return d.sim.Stats() }

// Metrics are the demo's Prometheus metrics.
func (d *Demo) Metrics() *ops.Metrics { return d.metrics }

// Start runs the simulator, the compaction loop and the engine until Stop
// or ctx ends. The engine beats first, so a snapshot taken at once does
// not show engine_down for an engine that is about to run.
func (d *Demo) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil || d.stopped {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	if d.engine != nil {
		_ = d.engine.Beat(ctx, false)
		d.wg.Go(func() { _ = d.engine.Run(ctx) })
	}
	d.wg.Go(func() { _ = d.sim.Run(ctx, sim.DefaultTick) })
	d.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.clock.After(CompactEvery):
				d.CompactOnce()
			}
		}
	})
}

// Stop ends the loops, waits for them and releases the store. It is safe
// to call more than once.
func (d *Demo) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.wg.Wait()
	d.store.Close()
}

// CompactOnce forgets conversations finished more than Retention ago.
func (d *Demo) CompactOnce() int { return d.store.Compact(d.clock.Now().Add(-Retention)) }

// RunOnce moves the demo one step of dt: the simulator's arrivals and
// completions over dt, then (with an engine) one routing pass and a
// heartbeat. With a manual clock it also advances the clock by dt.
func (d *Demo) RunOnce(ctx context.Context, dt time.Duration) error {
	if err := d.sim.Step(ctx, d.clock.Now(), dt); err != nil {
		return err
	}
	if mc, ok := d.clock.(*router.ManualClock); ok {
		mc.Advance(dt)
	}
	if d.engine == nil {
		return nil
	}
	if _, err := d.engine.Pass(ctx); err != nil {
		return err
	}
	return d.engine.Beat(ctx, false)
}

// InjectIncident rehearses the incident: kind (ops.DrillMissingRevisions
// or ops.DrillCorruptRevisions) on count items at the head of the org
// that ops.IncidentOrg picks from a fresh snapshot.
func (d *Demo) InjectIncident(ctx context.Context, kind string, count int) (string, []int64, error) {
	snap, err := d.ops.Monitor.Snapshot(ctx, "")
	if err != nil {
		return "", nil, err
	}
	org := ops.IncidentOrg(snap)
	if org == "" {
		return "", nil, errors.New("incident: the demo has no org to break")
	}
	ids, err := d.ops.InjectIncident(ctx, kind, org, count)
	return org, ids, err
}
