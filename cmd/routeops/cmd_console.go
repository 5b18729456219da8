package main

import (
	"time"

	"github.com/spf13/cobra"
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
	return usageErr("the console is not built yet")
}
