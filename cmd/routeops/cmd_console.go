package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/demo"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/tui"
)

// consoleOpts are the console's and the demo's options.
type consoleOpts struct {
	demo          bool
	noEngine      bool
	incident      bool
	incidentAfter time.Duration
	incidentCount int
}

func (a *app) consoleCmd() *cobra.Command {
	var o consoleOpts
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Open the console on the configured database (or the embedded demo without one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !a.tty {
				return a.runStatus(cmd, statusOpts{output: a.output("table")})
			}
			return a.runConsole(cmd, o)
		},
	}
	cmd.Flags().BoolVar(&o.noEngine, "no-engine", false, "watch only: do not run the routing engine in this process")
	cmd.Flags().Duration("refresh", 0, "refresh interval (console.refresh; default 1s demo, 2s database)")
	return cmd
}

func (a *app) runConsole(cmd *cobra.Command, o consoleOpts) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	// Logs never reach the screen: to log.file, or nowhere.
	a.quietLog()
	var (
		opsAPI  *ops.Ops
		eng     *router.Engine
		storeID string
		viewer  bool
		wg      sync.WaitGroup
	)
	if o.demo || a.cfg.DSN == "" {
		d, err := demo.New(ctx, a.demoConfig(o.noEngine))
		if err != nil {
			return failed(err)
		}
		defer d.Stop()
		d.Start(ctx)
		opsAPI, eng, storeID = d.Ops(), d.Engine(), "embedded demo"
		o.demo = true
	} else {
		st, err := a.openStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		storeID = st.Describe()
		// On a standby nothing can be written: the console only watches,
		// with no engine and no stall events, and says why.
		opt := a.opsOptions()
		if rec, err := st.InRecovery(ctx); err == nil && rec {
			viewer = true
			opt.Policy.ReadOnly, opt.Policy.ReadOnlyReason = true, ops.StandbyReason
			a.log.Info("the database is a standby: watching only (no engine, no changes, no stall events)", "store", storeID)
		}
		opsAPI = ops.New(st, opt)
		// A read-only console on a database only watches: routing writes.
		if !o.noEngine && !a.cfg.Console.ReadOnly && !viewer {
			eng = router.NewEngine(st, a.engineConfig(nil))
			// Beat before the first snapshot, so the console does not open
			// on an engine_down picture that this engine is about to clear.
			_ = eng.Beat(ctx, false)
			wg.Go(func() { _ = eng.Run(ctx) })
		}
	}
	defer wg.Wait()
	defer cancel()
	info := tui.EngineInfo{Running: eng != nil, Policy: a.cfg.Routing.OnItemFault}
	if eng != nil {
		info.Stats = eng.Stats
	}
	opts := tui.Options{
		Ops: opsAPI, Refresh: a.cfg.ConsoleRefresh(), Store: storeID, Engine: info,
		Operator: opsAPI.Actor.String(), ReadOnly: a.cfg.Console.ReadOnly || viewer, Color: a.cfg.Console.Color,
		Demo: o.demo, Record: !a.cfg.Console.ReadOnly && !viewer,
		Input: a.stdin, Output: a.stdout,
	}
	if o.incident {
		opts.Incident = &tui.IncidentPlan{Count: o.incidentCount, Kind: ops.DrillMissingRevisions, Delay: o.incidentAfter}
	}
	if err := tui.Run(ctx, opts); err != nil {
		return failed(fmt.Errorf("console: %s", present.Error(a.redactErr(err))))
	}
	return nil
}
