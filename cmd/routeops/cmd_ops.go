package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

func (a *app) repairCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Rebuild missing or corrupt current revisions: plan (dry run), then apply",
		Long: `repair finds every live item whose current revision is missing or invalid and
rebuilds it: the exact attributes from the journal first (the copy the database
kept on the item when the revision was written). A journal copy it cannot prove
came from the revision (journal_unverified) and an earlier revision are
fallbacks: the plan shows them, and apply uses them only with --allow-fallback.
Defaults are used only with --allow-defaults. apply writes new revision rows
(history is never edited), repoints the items, returns repaired quarantined items
to their queue in their original place, journals each repair with your name,
and runs verify. It is idempotent.`,
	}
	var f selectorFlags
	var b bulkFlags
	plan := &cobra.Command{
		Use:   "plan [ID...]",
		Short: "Show what repair would do (changes nothing); selector flags narrow it",
		Example: `  routeops repair plan
  routeops repair plan --org org-0007 --attr tier=gold -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 || f.filtered() {
				return a.runRepairPlanSet(cmd.Context(), f, args, b)
			}
			org, allowDefaults, allowFallback := f.org, b.allowDefaults, b.allowFallback
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := a.newOps(st).PlanRepair(cmd.Context(), org, allowDefaults)
			if err != nil {
				return a.opsErr(err)
			}
			p.AllowFallback = allowFallback
			if a.output("table") == "json" {
				return a.printJSON(p)
			}
			return a.printPlan(p, org)
		},
	}
	apply := &cobra.Command{
		Use:   "apply [ID...]",
		Short: "Apply the repair plan (needs --yes without a terminal), then verify; selector flags narrow it",
		Example: `  routeops repair apply --yes
  routeops repair apply --org org-0007 --cause missing_revision --max 5000 --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 || f.filtered() {
				sel, err := f.selector(args)
				if err != nil {
					return err
				}
				return a.runBulk(cmd.Context(), ops.ActionRepair, sel, b)
			}
			return a.runRepairApply(cmd.Context(), f.org, b.allowDefaults, b.allowFallback)
		},
	}
	for _, c := range []*cobra.Command{plan, apply} {
		f.bind(c.Flags(), "only this org")
		c.Flags().BoolVar(&b.allowDefaults, "allow-defaults", false, "rebuild from repair.default_* when no copy survives")
		c.Flags().BoolVar(&b.allowFallback, "allow-fallback", false, "also apply fallback sources: an unverified journal copy (journal_unverified) or an earlier revision")
	}
	b.bindMax(apply.Flags())
	cmd.AddCommand(plan, apply)
	return cmd
}

// runRepairPlanSet prints the repair plan of a selection: the items it
// selects whose current revision is missing or invalid.
func (a *app) runRepairPlanSet(ctx context.Context, f selectorFlags, args []string, b bulkFlags) error {
	sel, err := f.selector(args)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := a.newOps(st).PlanSet(ctx, ops.ActionRepair, sel, ops.SetOptions{Max: math.MaxInt, AllowDefaults: b.allowDefaults, AllowFallback: b.allowFallback})
	if err != nil {
		return a.opsErr(err)
	}
	if a.output("table") == "json" {
		return a.printJSON(p.Repair)
	}
	if err := a.printLines(present.SetPlanLines(p)); err != nil {
		return err
	}
	return a.printPlan(p.Repair, f.org)
}

// runRepairApply plans, shows the plan and asks on a terminal, applies,
// and reports with the verify verdict.
func (a *app) runRepairApply(ctx context.Context, org string, allowDefaults, allowFallback bool) error {
	if err := a.allow(ops.ActionRepair); err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	o := a.newOps(st)
	p, err := o.PlanRepair(ctx, org, allowDefaults)
	if err != nil {
		return a.opsErr(err)
	}
	p.AllowFallback = allowFallback
	if len(p.Items) == 0 {
		if a.output("table") == "json" {
			return a.printJSON(&ops.RepairReport{Outcomes: []router.RepairOutcome{}, VerifyOK: true})
		}
		fmt.Fprintln(a.stdout, present.NothingToRepair(org))
		return nil
	}
	if a.tty && !a.flags.yes && a.output("table") != "json" {
		_ = a.printPlan(p, org)
	}
	if err := a.confirm(ops.ActionRepair, present.AskRepair(p)); err != nil {
		return err
	}
	bar := a.newProgress("repair", "items")
	rep, err := o.ApplyRepairProgress(ctx, p, bar.update)
	bar.finish()
	if err != nil {
		return a.opsErr(err)
	}
	if a.output("table") == "json" {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else if err := a.printLines(present.RepairLines(rep)); err != nil {
		return err
	}
	if rep.Skipped > 0 || !rep.VerifyOK {
		return silent(exitFailed)
	}
	return nil
}

// printPlan prints a repair plan: present's lines, then that it was a
// dry run.
func (a *app) printPlan(p *ops.RepairPlan, org string) error {
	if len(p.Items) == 0 {
		fmt.Fprintln(a.stdout, present.NothingToRepair(org))
		return nil
	}
	return a.printLines(append(present.PlanLines(p, org), "",
		"Dry run: nothing changed; `routeops repair apply` applies it."))
}

func (a *app) cleanupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Retention for revisions nothing references: plan, then apply in batches",
		Long: `cleanup is the safe version of the script behind the incident. A revision is
eligible when no item points at it, it is older than --older-than, and it is not
the newest revision of its item. The reference check sits inside the deleting
statement, so a revision that becomes referenced between the plan and the delete
survives, even when the foreign key has been dropped.`,
	}
	var older time.Duration
	plan := &cobra.Command{
		Use:   "plan",
		Short: "Count the eligible revisions (changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ops.CheckRetention(older); err != nil {
				return a.opsErr(err)
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := a.newOps(st).PlanCleanup(cmd.Context(), older)
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "%d of %d revisions are eligible (older than %s, unreferenced, superseded)\n", p.Eligible, p.Total, present.Time(p.OlderThan))
			fmt.Fprintf(a.stdout, "kept: %d still referenced by an item, %d newest of their item\n", p.Referenced, p.Newest)
			return nil
		},
	}
	var maxRows, batch int
	var pause time.Duration
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Delete eligible revisions in batches, pausing between them, up to --max-rows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ops.CheckRetention(older); err != nil {
				return a.opsErr(err)
			}
			if err := a.confirm(ops.ActionCleanup, present.AskCleanup(a.cfg.Cleanup.MaxRows, older, a.cfg.Cleanup.BatchSize)); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			o := a.newOps(st)
			bar := a.newProgress("cleanup", "revisions")
			total := 0
			if bar.enabled() {
				// The bar's total: what the plan would delete, up to the cap.
				p, err := o.PlanCleanup(cmd.Context(), older)
				if err != nil {
					return a.opsErr(err)
				}
				total = min(p.Eligible, a.cfg.Cleanup.MaxRows)
			}
			res, err := o.ApplyCleanup(cmd.Context(), ops.CleanupOptions{Retention: older,
				BatchSize: a.cfg.Cleanup.BatchSize, MaxRows: a.cfg.Cleanup.MaxRows, Pause: a.cfg.Cleanup.Pause,
				Progress: func(r ops.CleanupResult) {
					a.log.Debug("cleanup batch", "deleted", r.Deleted, "examined", r.Examined, "batches", r.Batches)
					bar.update(r.Deleted, total)
				}})
			bar.finish()
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "deleted %d revisions in %d batches (%s) in %.2fs\n", res.Deleted, res.Batches, res.Stopped, res.Seconds)
			return nil
		},
	}
	for _, c := range []*cobra.Command{plan, apply} {
		c.Flags().DurationVar(&older, "older-than", 0, "retention: only revisions older than this, such as 720h")
	}
	apply.Flags().IntVar(&maxRows, "max-rows", 0, "stop after deleting this many (cleanup.max_rows)")
	apply.Flags().IntVar(&batch, "batch", 0, "revisions per batch (cleanup.batch_size)")
	apply.Flags().DurationVar(&pause, "pause", 0, "pause between batches (cleanup.pause)")
	cmd.AddCommand(plan, apply)
	return cmd
}

func (a *app) verifyCmd() *cobra.Command {
	var limit int
	return &cobra.Command{
		Use:   "verify",
		Short: "Integrity scan: exit 0 when clean, 2 with findings",
		Long: `verify scans for dangling current revisions, invalid attributes, assigned items
without an agent, agents over capacity, stored loads that differ from the count
of assigned items, and journal entries that disagree with states.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := a.newOps(st).Verify(cmd.Context(), limit)
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				if err := a.printJSON(map[string]any{"clean": rep.Clean(), "checked": rep.Checked, "findings": rep.Findings,
					"truncated": rep.Truncated}); err != nil {
					return err
				}
			} else if rep.Clean() {
				fmt.Fprintf(a.stdout, "clean: %d items, %d revisions, %d agents, %d events checked\n",
					rep.Checked["items"], rep.Checked["revisions"], rep.Checked["agents"], rep.Checked["events"])
			} else {
				t := newTable(a.stdout, "FINDING", "ORG", "ITEM", "AGENT", "DETAIL")
				for _, f := range rep.Findings {
					item := ""
					if f.ItemID != 0 {
						item = fmt.Sprint(f.ItemID)
					}
					t.row(f.Kind, f.OrgID, item, f.Agent, f.Detail)
				}
				if rep.Truncated {
					t.note("(more findings not shown)")
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if !rep.Clean() {
				return silent(exitFailed)
			}
			return nil
		},
	}
}

func (a *app) drillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Rehearse the incident (embedded demo, or a database with drill.allow: true)",
	}
	var org string
	var count int
	inject := &cobra.Command{
		Use:   "inject missing-revisions|corrupt-revisions",
		Short: "Delete (or corrupt) the current revisions of queued items, bypassing the constraints",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := args[0]
			if err := ops.CheckDrill(kind, org, count); err != nil {
				return a.opsErr(err)
			}
			if a.cfg.DSN == "" {
				return errNoDatabase
			}
			if err := a.confirm(ops.ActionDrill, present.AskDrill(kind, org, count)); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ids, err := a.newOps(st).Drill(cmd.Context(), kind, org, count)
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(map[string]any{"drill": kind, "org": org, "items": ids})
			}
			fmt.Fprintln(a.stdout, present.DrillOutcome(kind, org, ids))
			return nil
		},
	}
	inject.Flags().StringVar(&org, "org", "", "the org to hit")
	inject.Flags().IntVar(&count, "count", 3, "how many queued items")
	cmd.AddCommand(inject)
	return cmd
}

func (a *app) timelineCmd() *cobra.Command {
	var opt ops.TimelineOptions
	cmd := &cobra.Command{
		Use:   "timeline",
		Short: "The journal as an incident timeline: faults, stalls, quarantines, repairs, cleanups, who did what",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			t, err := a.newOps(st).Timeline(cmd.Context(), opt)
			if err != nil {
				return a.opsErr(err)
			}
			switch a.output("markdown") {
			case "json":
				return a.printJSON(t)
			case "markdown":
				fmt.Fprint(a.stdout, t.Markdown())
				return nil
			default:
				return usageErr("timeline prints -o markdown or -o json")
			}
		},
	}
	cmd.Flags().DurationVar(&opt.Since, "since", time.Hour, "how far back")
	cmd.Flags().StringVar(&opt.Org, "org", "", "only this org")
	cmd.Flags().BoolVar(&opt.All, "all", false, "include every assignment and completion")
	cmd.Flags().IntVar(&opt.Limit, "limit", 5000, "most events")
	return cmd
}
