package main

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/bench"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/router"
)

// benchLong is bench's help.
const benchLong = `bench creates its own data in a fresh database per scenario on the server that --dsn
names (routeops_bench_<scenario>_<pid>, migrated, dropped afterwards unless --keep),
and prints one JSON object per scenario (-o json, one per line) or a table.
Progress goes to standard error. The role needs CREATEDB; poison and repair also
need superuser (they delete revisions with session_replication_role = replica, as
the drill does). Measure on a durable server: scripts/benchpg.sh starts one.

Scenarios (--scenario, a comma-separated list, or all):
  seed        1M items with the seeder: seed_seconds, items_per_second
  throughput  100 orgs x 2,000 items drained: items_per_second, and the pgbench
              yardstick (the simplest batch claim) on a copy of the same data:
              pgbench_items_per_second, ratio_vs_pgbench
  poison      the same with 1% of current revisions deleted: items_per_second,
              ratio_vs_clean, stalled_queues
  latency     200 items/s enqueued one at a time for 10s while the engine runs:
              p50_ms, p99_ms, max_ms (enqueue to assigned)
  snapshot    5,000 orgs and 1M queued items: status_ms (full monitor snapshot)
  repair      10,000 items with missing revisions among 100k: plan_seconds,
              apply_seconds
  cleanup     1M unreferenced old revisions deleted while the engine routes:
              deleted_per_second, ratio_during_cleanup
  fleet       50,000 orgs x 200 items (10M; not part of all): seed_seconds,
              snapshot_ms, status -o json and the status table run as processes
              (status_json_ms, _bytes, _rss_mb), serve --until-idle draining it
              (items_per_second, first_assignment_max_seconds, serve_rss_mb,
              /metrics scraped meanwhile: metrics_series, metrics_bytes,
              metrics_scrape_ms), and the bare-table pgbench yardstick after
              it (ratio_vs_pgbench_bare)
  incident    1,000 orgs x 1,000 items, 70% assigned, 12 orgs stalled: the item
              selector per filter (selector_*_count_ms, _page_ms), bulk
              quarantine and release rates (bulk_*_per_second, bulk_vs_single),
              the impact report (impact_ms, impact_org_ms, wait_series_ms)

--scale shrinks every scenario for a quick run; targets are judged at full size only.`

func (a *app) benchCmd() *cobra.Command {
	var (
		scenario    string
		opts        bench.Options
		printScript bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure routing, detection and operations speed on a PostgreSQL server against their targets",
		Long:  benchLong,
		Example: `  scripts/benchpg.sh start
  routeops bench --dsn "$(scripts/benchpg.sh dsn)" --scenario all -o json
  routeops bench --dsn "$(scripts/benchpg.sh dsn)" --scenario throughput --cpuprofile cpu.out --statements 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if printScript {
				// The yardstick, for measuring outside routeops (scripts/bench_sidebyside.sh).
				_, err := io.WriteString(a.stdout, bench.PgbenchScript(max(opts.Orgs, 1)))
				return err
			}
			// The bench builds million-item data sets in memory; under the
			// soft limit tuneGC sets for the console and serve it would
			// collect continuously and measure its own GC.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(math.MaxInt64)
			}
			if a.cfg.DSN == "" {
				return usageErr("bench needs a PostgreSQL server: set --dsn or ROUTEOPS_DSN (scripts/benchpg.sh start prints one)")
			}
			if err := a.allow(ops.ActionBench); err != nil {
				return err
			}
			if opts.CleanupPause == 0 {
				opts.CleanupPause = -1 // --cleanup-pause 0: no pause (bench.Options takes 0 as the default)
			}
			names, err := bench.Expand(scenario)
			if err != nil {
				return usageErr("--scenario: %v", err)
			}
			if err := checkBenchOptions(opts); err != nil {
				return err
			}
			opts.DSN = a.cfg.DSN
			if self, err := os.Executable(); err == nil {
				opts.Binary = self
			}
			opts.Log = a.log
			if err := a.runBench(cmd.Context(), opts, names); err != nil {
				return failed(errors.New(redact.Text(a.redact(err.Error()), opts.PoolDSN)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenario, "scenario", "all", "scenario to run: "+joinScenarios()+", a comma-separated list, or all")
	f.Float64Var(&opts.Scale, "scale", 1, "multiply every scenario's size by this (e.g. 0.1 for a quick run)")
	f.IntVar(&opts.Orgs, "orgs", 0, "override the org count of throughput, poison, latency, snapshot, repair, cleanup, seed and fleet")
	f.IntVar(&opts.ItemsPerOrg, "items-per-org", 0, "override the items per org of those scenarios")
	f.IntVar(&opts.BatchSize, "batch-size", router.DefaultBatchSize, "engine batch size (items claimed per queue per transaction; default routing.batch_size's)")
	f.IntVar(&opts.Workers, "workers", 4, "engine workers (orgs routed at once)")
	f.BoolVar(&opts.Keep, "keep", false, "keep the bench databases instead of dropping them")
	f.StringVar(&opts.PoolDSN, "pool-dsn", "", "route through this PgBouncer (transaction pooling, every database mapped to the --dsn server)")
	f.StringVar(&opts.PoolExecMode, "pool-exec-mode", "simple", "how statements go through --pool-dsn: simple (the simple protocol, the product's default) or exec (unnamed statements)")
	f.StringVar(&opts.Pgbench, "pgbench", "", "pgbench binary for the throughput yardstick (default: PATH, then pg_config --bindir)")
	f.IntVar(&opts.PgbenchClients, "pgbench-clients", 4, "pgbench clients for the yardstick")
	f.Float64Var(&opts.LatencyRate, "latency-rate", 200, "items enqueued per second in the latency scenario")
	f.DurationVar(&opts.LatencyDuration, "latency-duration", 10*time.Second, "how long the latency scenario enqueues (scaled by --scale, at least 1s)")
	f.IntVar(&opts.SnapshotRuns, "snapshot-runs", 5, "timed snapshots after the warm-up (the median is reported)")
	f.IntVar(&opts.CleanupBatch, "cleanup-batch", 1000, "cleanup batch size")
	f.DurationVar(&opts.CleanupPause, "cleanup-pause", 100*time.Millisecond, "cleanup pause between batches (the product default, cleanup.pause); 0 for none")
	f.IntVar(&opts.Statements, "statements", 0, "report the server's top N statements of each measured phase (pg_stat_statements must be preloaded)")
	f.BoolVar(&printScript, "print-pgbench-script", false, "print the pgbench yardstick script for --orgs orgs and exit")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of each scenario's measured phase to this file (FILE-<scenario>.EXT for several)")
	return cmd
}

func joinScenarios() string {
	s := ""
	for i, n := range append(append([]string(nil), bench.Scenarios...), bench.Named...) {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// runBench runs the scenarios, printing each result as it comes, with a
// progress bar of the scenarios done on a terminal.
func (a *app) runBench(ctx context.Context, opts bench.Options, names []string) error {
	format := a.output("table")
	bar, done := a.newProgress("bench", "scenarios"), 0
	bar.update(0, len(names))
	defer bar.finish()
	return bench.Run(ctx, opts, names, func(r *bench.Result) error {
		bar.finish() // the results print on a clean line
		done++
		defer bar.update(done, len(names))
		if format == "json" {
			return bench.WriteJSON(a.stdout, r)
		}
		return bench.WriteTable(a.stdout, r)
	})
}

// checkBenchOptions refuses bench flags out of range (exit 1).
func checkBenchOptions(opts bench.Options) error {
	switch {
	case opts.Scale <= 0 || opts.Scale > 100:
		return usageErr("--scale must be in (0, 100], got %g", opts.Scale)
	case opts.PoolExecMode != "exec" && opts.PoolExecMode != "simple":
		return usageErr("--pool-exec-mode %q: want simple or exec", opts.PoolExecMode)
	case opts.Orgs < 0 || opts.ItemsPerOrg < 0 || opts.BatchSize < 1 || opts.Workers < 1:
		return usageErr("--orgs and --items-per-org must not be negative; --batch-size and --workers must be at least 1")
	}
	return nil
}
