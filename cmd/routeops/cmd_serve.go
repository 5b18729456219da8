package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/config"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/sim"
)

// engineConfig builds the engine's configuration from routing.*.
func (a *app) engineConfig(obs router.Observer) router.EngineConfig {
	host, _ := os.Hostname()
	return router.EngineConfig{
		ID:                fmt.Sprintf("%s:%d", host, os.Getpid()),
		Policy:            a.cfg.Routing.OnItemFault,
		BatchSize:         a.cfg.Routing.BatchSize,
		Workers:           a.cfg.Routing.Workers,
		PollInterval:      a.cfg.Routing.PollInterval,
		HeartbeatInterval: a.cfg.Routing.HeartbeatInterval,
		BackoffMin:        a.cfg.Routing.BackoffMin,
		BackoffMax:        a.cfg.Routing.BackoffMax,
		Version:           buildVersion(),
		Logger:            a.log,
		Observer:          obs,
	}
}

// serveMetrics starts the /metrics endpoint; the listener is opened before
// returning so a bad address fails at once.
func (a *app) serveMetrics(ctx context.Context, addr string, m *ops.Metrics) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageErr("--metrics-addr %q: want HOST:PORT, such as 127.0.0.1:9464", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return failed(fmt.Errorf("metrics: cannot listen on %s: %v", addr, err))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	a.log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// monitorLoop observes the store every health.interval, recording stall
// transitions, until ctx ends. Failures are logged once per streak.
func (a *app) monitorLoop(ctx context.Context, mon *ops.Monitor, wg *sync.WaitGroup) {
	wg.Go(func() {
		failing := false
		mon.Run(ctx, a.cfg.Health.Interval, func(_ *ops.Snapshot, err error) {
			switch {
			case err != nil && !failing:
				failing = true
				a.log.Warn("monitor: snapshot failed; retrying", "error", a.redact(err.Error()))
			case err == nil && failing:
				failing = false
				a.log.Info("monitor: snapshot recovered")
			}
		})
	})
}

type serveSummary struct {
	Assigned    int64   `json:"assigned"`
	Quarantined int64   `json:"quarantined"`
	Skipped     int64   `json:"skipped"`
	Faults      int64   `json:"faults"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"items_per_second"`
	Stopped     string  `json:"stopped"`
}

// serveStore opens the store for the engine. While the database cannot be
// reached it retries with backoff, for db.connect_timeout or, with wait,
// until it can. A server in recovery (a standby) cannot route: serve
// refuses it (exit 1), or with waitPrimary waits until the DSN reaches a
// primary (reconnecting each time, so a multi-host DSN finds a promoted
// host).
func (a *app) serveStore(ctx context.Context, wait, waitPrimary bool) (*pgstore.Store, error) {
	if a.cfg.DSN == "" {
		return a.openStore(ctx)
	}
	reported := false
	open := func() (*pgstore.Store, error) {
		var deadline time.Time
		if !wait && !waitPrimary {
			deadline = time.Now().Add(a.cfg.DB.ConnectTimeout)
		}
		st, err := pgstore.OpenRetrying(ctx, a.pgOptions(), deadline, func(err error, next time.Duration) {
			if !reported {
				reported = true
				how := "until db.connect_timeout (" + config.FormatDuration(a.cfg.DB.ConnectTimeout) + ")"
				if deadline.IsZero() {
					how = "until it answers"
				}
				a.log.Warn("database unreachable; retrying "+how, "error", a.redact(err.Error()))
				return
			}
			a.log.Debug("database still unreachable", "error", a.redact(err.Error()), "retry_in", next.String())
		})
		if err != nil {
			return nil, failed(errors.New(a.redact(err.Error())))
		}
		return st, nil
	}
	waited := false
	for {
		st, err := open()
		if err != nil {
			return nil, err
		}
		rec, err := st.InRecovery(ctx)
		if err != nil {
			st.Close()
			return nil, failed(errors.New(a.redact(err.Error())))
		}
		if !rec {
			if waited || reported {
				a.log.Info("connected to the primary", "store", st.Describe())
			}
			return st, nil
		}
		desc := st.Describe()
		st.Close()
		if !waitPrimary {
			return nil, usageErr("serve: %s is a standby (in recovery), and the engine writes: point dsn at the primary "+
				"(a multi-host DSN with target_session_attrs=read-write finds it, also after a failover), "+
				"or pass --wait-for-primary to wait until it is promoted", desc)
		}
		if !waited {
			waited = true
			a.log.Warn("the database is a standby (in recovery); waiting for a primary (--wait-for-primary)", "store", desc)
		}
		select {
		case <-ctx.Done():
			return nil, failed(ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func (a *app) serveCmd() *cobra.Command {
	var untilIdle, wait, waitPrimary bool
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the routing engine headless (with metrics on --metrics-addr)",
		Long: `serve routes every org's queues until stopped (SIGINT/SIGTERM), for --duration, or
with --until-idle until a full pass over every org can neither assign nor
quarantine anything. Transient database errors back off per org and never end it.
It also runs the health monitor, which records stall detected/cleared events.

At start, a database that cannot be reached is retried with backoff for
db.connect_timeout (with --wait, until it answers). A standby (a server in
recovery) is refused with exit 1, since the engine writes; --wait-for-primary
waits until the DSN reaches a primary instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.serveStore(ctx, wait, waitPrimary)
			if err != nil {
				return err
			}
			defer st.Close()
			mon := ops.NewMonitor(st, router.RealClock{}, a.settings(), a.monitorActor(), a.log)
			metrics := ops.NewMetrics(mon)
			eng := router.NewEngine(st, a.engineConfig(metrics))
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			if err := a.serveMetrics(ctx, a.cfg.Metrics.Addr, metrics); err != nil {
				return err
			}
			// Beat before the monitor's first look, and give the engine one
			// interval to route, so starting serve does not record a stall
			// (engine_down) that the engine is about to clear.
			if err := eng.Beat(ctx, false); err != nil {
				a.log.Warn("first heartbeat failed", "error", a.redact(err.Error()))
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(a.cfg.Health.Interval):
				}
				a.monitorLoop(ctx, mon, &wg)
			})
			wg.Go(func() { a.progressLoop(ctx, eng) })
			start := time.Now()
			sum := serveSummary{Stopped: "signal"}
			var runErr error
			if untilIdle {
				_, err := eng.RunUntilIdle(ctx)
				switch {
				case err == nil:
					sum.Stopped = "idle"
				case errors.Is(ctx.Err(), context.DeadlineExceeded):
					sum.Stopped = "duration"
				case ctx.Err() == nil:
					runErr = err
				}
			} else {
				if err := eng.Run(ctx); err != nil && ctx.Err() == nil {
					runErr = err
				}
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					sum.Stopped = "duration"
				}
			}
			if runErr != nil {
				stop()
				wg.Wait()
				return failed(fmt.Errorf("serve stopped: %s", a.redact(runErr.Error())))
			}
			stop()
			wg.Wait()
			// One last look, so a stall that ended with this run is recorded.
			fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = mon.Observe(fctx)
			fcancel()
			s := eng.Stats()
			sum.Assigned, sum.Quarantined, sum.Skipped, sum.Faults, sum.Errors = s.Assigned, s.Quarantined, s.Skipped, s.Faults, s.Errors
			sum.Seconds = round2(time.Since(start).Seconds())
			if sum.Seconds > 0 {
				sum.PerSecond = round2(float64(s.Assigned) / time.Since(start).Seconds())
			}
			a.log.Info("serve finished", "stopped", sum.Stopped, "assigned", s.Assigned, "quarantined", s.Quarantined,
				"faults", s.Faults, "errors", s.Errors, "seconds", sum.Seconds)
			if a.output("") == "json" {
				return a.printJSON(sum)
			}
			if untilIdle {
				fmt.Fprintf(a.stdout, "serve: %s after %.2fs: assigned %d, quarantined %d, skipped %d, item faults %d, transient errors %d\n",
					sum.Stopped, sum.Seconds, sum.Assigned, sum.Quarantined, sum.Skipped, sum.Faults, sum.Errors)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&untilIdle, "until-idle", false, "exit 0 once a full pass over every org can neither assign nor quarantine anything")
	f.DurationVar(&duration, "duration", 0, "stop after this long")
	f.BoolVar(&wait, "wait", false, "at start, wait for an unreachable database as long as it takes (default: db.connect_timeout)")
	f.BoolVar(&waitPrimary, "wait-for-primary", false, "on a standby, wait until the DSN reaches a primary instead of exiting 1")
	f.String("on-item-fault", "", "what to do with an item whose revision is missing or corrupt: quarantine, skip, block")
	f.String("metrics-addr", "", "serve Prometheus /metrics on HOST:PORT")
	f.Duration("stall-after", 0, "override health.stall_after for the monitor")
	f.Int("workers", 0, "orgs routed at once (routing.workers)")
	f.Int("batch-size", 0, "items claimed per queue per transaction (routing.batch_size)")
	return cmd
}

// progressLoop logs the engine's progress every 10 seconds.
func (a *app) progressLoop(ctx context.Context, eng *router.Engine) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s := eng.Stats()
			a.log.Info("progress", "assigned", s.Assigned, "assigned_10s", s.Assigned-last, "quarantined", s.Quarantined,
				"faults", s.Faults, "errors", s.Errors, "orgs_backing_off", s.OrgsBackingOff)
			last = s.Assigned
		}
	}
}

// demoRuntime is the embedded demo: memstore, simulator, engine, monitor.
type demoRuntime struct {
	store   *memstore.Store
	ops     *ops.Ops
	engine  *router.Engine
	sim     *sim.Simulator
	metrics *ops.Metrics
}

func (a *app) newDemo(ctx context.Context, withEngine bool) (*demoRuntime, error) {
	st := newMemstore()
	o := a.newOps(st, true)
	s := sim.New(st, sim.Config{Orgs: a.cfg.Demo.Orgs, Seed: a.cfg.Demo.Seed, Rate: a.cfg.Demo.Rate,
		Clock: router.RealClock{}, Logger: a.log})
	if err := s.Setup(ctx); err != nil {
		return nil, failed(fmt.Errorf("demo setup: %w", err))
	}
	d := &demoRuntime{store: st, ops: o, sim: s, metrics: ops.NewMetrics(o.Monitor)}
	if withEngine {
		d.engine = router.NewEngine(st, a.engineConfig(d.metrics))
	}
	return d, nil
}

// demoRetention is how long the demo remembers finished conversations.
const demoRetention = 15 * time.Minute

// start runs the simulator and the engine until ctx ends, and compacts
// finished conversations so a long-running demo stays small.
func (d *demoRuntime) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { _ = d.sim.Run(ctx, sim.DefaultTick) })
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.store.Compact(time.Now().Add(-demoRetention))
			}
		}
	})
	if d.engine != nil {
		wg.Go(func() { _ = d.engine.Run(ctx) })
	}
}

// incidentOrg picks the org with the most free capacity: there a stuck
// head is a stall (work and capacity, no progress), not starvation.
func incidentOrg(snap *ops.Snapshot) string {
	best, free := "", -1
	for _, o := range snap.Orgs {
		if o.AvailableCapacity > free {
			best, free = o.Org, o.AvailableCapacity
		}
	}
	return best
}

func (a *app) demoCmd() *cobra.Command {
	var o consoleOpts
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the embedded demo: ~20 orgs of simulated traffic, routed in process",
		Long: `demo runs routeops on its embedded in-process store with simulated traffic:
conversations arrive at varied rates, agents take and finish them and change
status. On a terminal it opens the console; otherwise (or with --duration) it
runs headless and prints the final status.

--incident reproduces the incident a few seconds in: it deletes the current
revisions of a few queued items. With --on-item-fault block the queue stalls
as it did; with the default policy the items are quarantined and can be
repaired.`,
		Example: `  routeops demo
  routeops demo --incident --on-item-fault block --stall-after 3s
  routeops demo --duration 10s -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.demo = true
			if a.tty && duration == 0 && a.output("table") != "json" {
				return a.runConsole(cmd, o)
			}
			if duration == 0 {
				duration = 10 * time.Second
			}
			return a.runDemoHeadless(cmd.Context(), o, duration)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.incident, "incident", false, "inject the incident (missing revisions) a few seconds in")
	f.DurationVar(&o.incidentAfter, "incident-after", 3*time.Second, "when --incident strikes")
	f.IntVar(&o.incidentCount, "incident-count", 3, "how many items --incident hits")
	f.BoolVar(&o.noEngine, "no-engine", false, "do not route (watch queues fill up)")
	f.DurationVar(&duration, "duration", 0, "run headless for this long, then print the status")
	f.String("on-item-fault", "", "quarantine (default), skip, or block (the legacy behaviour)")
	f.Duration("stall-after", 0, "override health.stall_after")
	f.Duration("refresh", 0, "console refresh interval (console.refresh)")
	return cmd
}

func (a *app) runDemoHeadless(ctx context.Context, o consoleOpts, duration time.Duration) error {
	d, err := a.newDemo(ctx, !o.noEngine)
	if err != nil {
		return err
	}
	defer d.store.Close()
	// The engine and the simulator get their own context, so that the
	// final snapshot is taken while they still run (a stopped engine would
	// turn every stall's cause into engine_down).
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	if d.engine != nil {
		_ = d.engine.Beat(runCtx, false)
	}
	d.start(runCtx, &wg)
	a.monitorLoop(ctx, d.ops.Monitor, &wg)
	if o.incident {
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.incidentAfter):
			}
			snap, err := d.ops.Monitor.Snapshot(ctx, "")
			if err != nil {
				return
			}
			org := incidentOrg(snap)
			ids, err := d.ops.InjectIncident(ctx, ops.DrillMissingRevisions, org, o.incidentCount)
			if err != nil {
				a.log.Warn("incident drill failed", "error", err.Error())
				return
			}
			a.log.Warn("incident injected: current revisions deleted", "org", org, "items", ids)
		})
	}
	<-ctx.Done()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	snap, err := d.ops.Monitor.Observe(fctx)
	stopRun()
	wg.Wait()
	if err != nil {
		return failed(err)
	}
	if a.output("table") == "json" {
		return a.printJSON(snap)
	}
	return a.printStatus(snap, false)
}

// demoSnapshot warms up an embedded demo for a few simulated seconds and
// returns its status, for status and check without a database.
func (a *app) demoSnapshot(ctx context.Context) (*ops.Snapshot, error) {
	st := newMemstore()
	defer st.Close()
	clk := router.NewManualClock(time.Now().UTC().Truncate(time.Microsecond))
	quiet := slog.New(slog.DiscardHandler)
	s := sim.New(st, sim.Config{Orgs: a.cfg.Demo.Orgs, Seed: a.cfg.Demo.Seed, Rate: a.cfg.Demo.Rate, Clock: clk, Logger: quiet})
	if err := s.Setup(ctx); err != nil {
		return nil, failed(err)
	}
	cfg := a.engineConfig(nil)
	cfg.Clock = clk
	cfg.Logger = quiet
	eng := router.NewEngine(st, cfg)
	for i := 0; i < 20; i++ {
		step := 500 * time.Millisecond
		if err := s.Step(ctx, clk.Now(), step); err != nil {
			return nil, failed(err)
		}
		clk.Advance(step)
		if _, err := eng.Pass(ctx); err != nil {
			return nil, failed(err)
		}
		_ = eng.Beat(ctx, false)
	}
	mon := ops.NewMonitor(st, clk, a.settings(), a.monitorActor(), a.log)
	return mon.Snapshot(ctx, "")
}
