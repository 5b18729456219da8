package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/config"
	"github.com/routeops/routeops/demo"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router/pgstore"
)

// printJSON prints v as indented JSON, with every control and bidi
// character escaped (present.JSON); it never truncates.
func (a *app) printJSON(v any) error { return present.JSON(a.stdout, v) }

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the routeops version, its VCS revision and the schema version it needs (also --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.flags.output == "json" {
				rev, at, modified := vcsInfo()
				return a.printJSON(map[string]any{"version": buildVersion(), "revision": rev, "revision_time": at,
					"modified": modified, "schema_version": pgstore.LatestVersion()})
			}
			fmt.Fprintln(a.stdout, versionText())
			return nil
		},
	}
}

func (a *app) configCmd() *cobra.Command {
	var example bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration and where each value came from (every DSN redacted)",
		Long: `config prints every key's effective value and where it came from: default, the
config file, a credential ($CREDENTIALS_DIRECTORY/<key>), the environment or a flag.
DSNs are shown without their passwords.

--example prints a config file that sets every key to its default, with what
each key does (docs/deploy/routeops.example.yaml is its output).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if example {
				_, err := fmt.Fprint(a.stdout, config.ExampleFile())
				return err
			}
			vals := a.cfg.Redacted()
			if a.output("table") == "json" {
				return a.printJSON(vals)
			}
			tw := newTable(a.stdout, "KEY", "VALUE", "FROM")
			for _, k := range config.Keys() {
				tw.row(k, fmt.Sprint(vals[k]), a.cfg.Source(k))
			}
			if a.cfg.File != "" {
				tw.note("config file: " + a.cfg.File)
			}
			return tw.flush()
		},
	}
	cmd.Flags().BoolVar(&example, "example", false, "print a config file with every key at its default, and what it does")
	return cmd
}

func (a *app) migrateCmd() *cobra.Command {
	var roles bool
	var limit string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema (idempotent, under an advisory lock)",
		Long: `migrate applies routeops's embedded SQL migrations under an advisory lock, so two
at once are safe and a second run changes nothing. It refuses a database whose
schema is newer than this binary. The lock is held by the session, so under
transaction pooling (db.pooler: transaction) migrate connects through
db.listen_dsn (PostgreSQL itself or a session pool), and without one it
refuses (exit 1).

With --roles it also creates (or brings up to date) two NOLOGIN group roles and
their grants, whatever the migrations did: routeops_viewer (read every routeops
table: status, check, timeline, items, verify, the read-only console) and
routeops_operator (a viewer that may also quarantine, release, repair, pause,
resume and clean up). Neither may UPDATE or DELETE the journal. Run it as a
superuser, or as the owner of the tables with CREATEROLE; then grant people's
login roles membership in one of them (GRANT routeops_viewer TO alice).

The database bounds every revision's attributes (64 KiB by default, measured as
JSON text), for every writer, routeops or not: a larger document is refused when
it is written, and one already stored is an item fault (oversized_attributes),
never loaded. --attributes-limit sets the bound (16KiB to 64MiB); without it the
current one is kept and shown.`,
		Example: `  routeops migrate
  routeops migrate --roles
  routeops migrate --attributes-limit 128KiB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.cfg.DSN == "" {
				return usageErr("migrate needs a database: set --dsn or ROUTEOPS_DSN")
			}
			if err := a.allow(ops.ActionMigrate); err != nil {
				return err
			}
			set := 0
			if limit != "" {
				n, err := parseBytes(limit)
				if err != nil {
					return usageErr("--attributes-limit: %v", err)
				}
				set = n
			}
			res, err := pgstore.Migrate(cmd.Context(), a.pgOptions())
			if errors.Is(err, pgstore.ErrNeedsSession) {
				return usageErr("migrate: %s", a.redact(err.Error()))
			}
			if err != nil {
				return failed(errors.New(a.redact(err.Error())))
			}
			maxBytes, err := pgstore.AttributesLimit(cmd.Context(), a.pgOptions(), set)
			if err != nil {
				return failed(errors.New(a.redact(err.Error())))
			}
			if roles {
				if err := pgstore.CreateRoles(cmd.Context(), a.pgOptions()); err != nil {
					return failed(errors.New(a.redact(err.Error())))
				}
			}
			if a.output("table") == "json" {
				out := map[string]any{"from": res.From, "to": res.To, "changed": res.From != res.To,
					"attributes_limit_bytes": maxBytes}
				if roles {
					out["roles"] = []string{pgstore.RoleViewer, pgstore.RoleOperator}
				}
				return a.printJSON(out)
			}
			if res.From == res.To {
				fmt.Fprintf(a.stdout, "schema already at version %d; nothing to do\n", res.To)
			} else {
				fmt.Fprintf(a.stdout, "schema migrated from version %d to %d\n", res.From, res.To)
			}
			fmt.Fprintf(a.stdout, "attributes limit: %d bytes (routeops_settings.attributes_max_bytes)\n", maxBytes)
			if roles {
				fmt.Fprintf(a.stdout, "roles %s and %s are up to date; grant login roles membership, such as: GRANT %s TO alice\n",
					pgstore.RoleViewer, pgstore.RoleOperator, pgstore.RoleViewer)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&roles, "roles", false, "also create or update the group roles routeops_viewer and routeops_operator and their grants")
	cmd.Flags().StringVar(&limit, "attributes-limit", "", "largest revision attributes the database accepts, in bytes or with KiB/MiB (16KiB to 64MiB; default: keep, 64KiB when new)")
	return cmd
}

// parseBytes reads a size such as 65536, 64KiB or 1MiB.
func parseBytes(s string) (int, error) {
	mult := 1
	num := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > (1<<30)/mult {
		return 0, fmt.Errorf("%q is not a size: give bytes, or KiB or MiB, such as 65536 or 64KiB", s)
	}
	return n * mult, nil
}

func (a *app) seedCmd() *cobra.Command {
	var spec demo.SeedSpec
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Write realistic synthetic orgs, teams, agents, queues and items (with revision histories)",
		Long: `seed writes a deterministic data set with COPY: each item has one to three
revisions, so it has a history. Org ids are org-0001, org-0002, ... (shifted by
--org-offset). Requirements always match some agent of the org, so with
capacity >= items everything can be routed.`,
		Example: `  routeops seed --orgs 20 --queues-per-org 2 --agents-per-org 10 --capacity 5 --items-per-org 40`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.allow(ops.ActionSeed); err != nil {
				return err
			}
			spec.Now = time.Now().UTC().Truncate(time.Microsecond)
			if err := spec.Validate(); err != nil {
				return usageErr("%v", err)
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			bar := a.newProgress("seed", "items")
			res, err := demo.SeedProgress(cmd.Context(), st, spec, bar.update)
			bar.finish()
			if err != nil {
				return failed(fmt.Errorf("seed: %s", a.redact(err.Error())))
			}
			secs := time.Since(start).Seconds()
			out := map[string]any{"orgs": spec.Orgs, "items": res.Items, "revisions": res.Revisions,
				"seconds": round2(secs), "items_per_second": round2(float64(res.Items) / secs)}
			if a.output("table") == "json" {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "seeded %d orgs, %d items, %d revisions in %.2fs (%.0f items/s)\n",
				spec.Orgs, res.Items, res.Revisions, secs, float64(res.Items)/secs)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Orgs, "orgs", 20, "number of orgs")
	f.IntVar(&spec.QueuesPerOrg, "queues-per-org", 2, "queues per org")
	f.IntVar(&spec.TeamsPerOrg, "teams-per-org", 0, "teams per org (0: up to 3)")
	f.IntVar(&spec.AgentsPerOrg, "agents-per-org", 10, "agents per org")
	f.IntVar(&spec.Capacity, "capacity", 5, "capacity of each agent")
	f.IntVar(&spec.ItemsPerOrg, "items-per-org", 40, "queued items per org")
	f.Int64Var(&spec.Seed, "seed", 1, "random seed (same seed, same data)")
	f.IntVar(&spec.OrgOffset, "org-offset", 0, "number the orgs after this one (to add orgs to a seeded database)")
	return cmd
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
