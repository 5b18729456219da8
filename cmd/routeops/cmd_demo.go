package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/demo"
	"github.com/routeops/routeops/ops/present"
)

// demoConfig is the embedded demo's configuration: demo.* and routing.*
// from the config, and the operator API's options.
func (a *app) demoConfig(noEngine bool) demo.Config {
	return demo.Config{Orgs: a.cfg.Demo.Orgs, Seed: a.cfg.Demo.Seed, Rate: a.cfg.Demo.Rate,
		Engine: a.engineConfig(nil), NoEngine: noEngine, Pressure: true, Ops: a.opsOptions(), Log: a.log}
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
			snap, err := demo.RunHeadless(cmd.Context(), a.demoConfig(o.noEngine), demo.Headless{Duration: duration,
				MonitorInterval: a.cfg.Health.Interval, Incident: o.incident, IncidentAfter: o.incidentAfter, IncidentCount: o.incidentCount})
			if err != nil {
				return failed(err)
			}
			if a.output("table") == "json" {
				return present.SnapshotJSON(a.stdout, snap)
			}
			return a.printStatus(snap, false)
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
