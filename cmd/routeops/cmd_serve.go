package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/config"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
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
			return nil, usageErr("%s", present.ServeOnStandby(desc))
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
			return a.runServe(cmd.Context(), untilIdle, duration, wait, waitPrimary)
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

// runServe runs the engine and the monitor until a signal, the duration,
// or (untilIdle) a pass that can do nothing more.
func (a *app) runServe(ctx context.Context, untilIdle bool, duration time.Duration, wait, waitPrimary bool) error {
	st, err := a.serveStore(ctx, wait, waitPrimary)
	if err != nil {
		return err
	}
	defer st.Close()
	mon := a.newOps(st).Monitor
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
		mon.Loop(ctx, a.cfg.Health.Interval)
	})
	wg.Go(func() { a.progressLoop(ctx, eng) })
	start := time.Now()
	stopped, runErr := runEngine(ctx, eng, untilIdle)
	stop()
	wg.Wait()
	if runErr != nil {
		return failed(fmt.Errorf("serve stopped: %s", present.Error(a.redactErr(runErr))))
	}
	// One last look, so a stall that ended with this run is recorded.
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, _ = mon.Observe(fctx)
	fcancel()
	return a.serveReport(eng.Stats(), stopped, time.Since(start), untilIdle)
}

// runEngine routes until ctx ends or, with untilIdle, until a pass can do
// nothing more; it says why it stopped (idle, duration, signal).
func runEngine(ctx context.Context, eng *router.Engine, untilIdle bool) (string, error) {
	if untilIdle {
		_, err := eng.RunUntilIdle(ctx)
		switch {
		case err == nil:
			return "idle", nil
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return "duration", nil
		case ctx.Err() == nil:
			return "", err
		}
		return "signal", nil
	}
	if err := eng.Run(ctx); err != nil && ctx.Err() == nil {
		return "", err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "duration", nil
	}
	return "signal", nil
}

// serveReport logs and prints what serve did.
func (a *app) serveReport(s router.EngineStats, stopped string, took time.Duration, untilIdle bool) error {
	sum := serveSummary{Stopped: stopped, Assigned: s.Assigned, Quarantined: s.Quarantined, Skipped: s.Skipped,
		Faults: s.Faults, Errors: s.Errors, Seconds: round2(took.Seconds())}
	if sum.Seconds > 0 {
		sum.PerSecond = round2(float64(s.Assigned) / took.Seconds())
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
}
