package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// parseIDs parses item ids, refusing malformed ones before anything runs.
func parseIDs(args []string) ([]int64, error) {
	if len(args) == 0 {
		return nil, usageErr("give at least one item id")
	}
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := router.ParseItemID(a)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a *app) itemsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "items", Short: "List items, or show one item's revision chain and events"}
	cmd.AddCommand(a.itemsListCmd(), a.itemsShowCmd())
	return cmd
}

func (a *app) itemsShowCmd() *cobra.Command {
	var org string
	var full bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an item: its revision chain with verdicts, the journal copy, its events, the last error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			d, err := a.newOps(st).Item(cmd.Context(), org, ids[0])
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(d)
			}
			opts := present.ItemOptions{Style: present.CLI}
			if full {
				opts.MaxValue = -1
			}
			return a.printLines(present.ItemLines(d, time.Now(), opts))
		},
	}
	show.Flags().StringVar(&org, "org", "", "refuse the id unless it belongs to this org")
	show.Flags().BoolVar(&full, "full", false, fmt.Sprintf("show attribute documents and event details whole (default: the first %d bytes, then how many more)", present.DefaultMaxValue))
	return show
}

// printLines prints present's lines, which are sanitized already.
func (a *app) printLines(lines []string) error {
	_, err := fmt.Fprintln(a.stdout, strings.Join(lines, "\n"))
	return err
}

// printOutcomes prints one sentence per item (or the JSON), and fails when
// any item was refused.
func (a *app) printOutcomes(verb string, outs []ops.Outcome) error {
	if a.output("table") == "json" {
		if err := a.printJSON(map[string]any{"results": outs, "failed": ops.Failed(outs)}); err != nil {
			return err
		}
	} else {
		for _, o := range outs {
			fmt.Fprintln(a.stdout, present.Outcome(verb, o))
		}
	}
	if n := ops.Failed(outs); n > 0 {
		return failed(errors.New(present.Refusals(n, len(outs))))
	}
	return nil
}

func (a *app) quarantineCmd() *cobra.Command {
	var f selectorFlags
	var b bulkFlags
	cmd := &cobra.Command{
		Use:   "quarantine [ID...]",
		Short: "Move queued items out of the head path: the ids given, or every queued item a selection matches",
		Long: `quarantine moves queued items aside, recorded with your name, origin and reason.
With ids alone it acts on each id. With selector flags it acts on the queued items
the selection matches (intersected with any ids): it prints the plan first (how
many, by org and queue, the first rows), applies on y or --yes in set-based batches
under one operation id, and refuses above --max. Interrupted, the same command
continues the operation and changes nothing twice.`,
		Example: `  routeops quarantine 1042 --reason "rev 8812 deleted by cleanup"
  routeops quarantine --org org-0007 --cause missing_revision --reason "incident 2026-11-28" --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !f.filtered() {
				return a.quarantineIDs(cmd.Context(), args, f.org, b.reason)
			}
			sel, err := f.selector(args)
			if err != nil {
				return err
			}
			return a.runBulk(cmd.Context(), ops.ActionQuarantine, sel, b)
		},
	}
	cmd.Flags().StringVar(&b.reason, "reason", "", "why (recorded in the journal)")
	f.bind(cmd.Flags(), "only this org (with ids alone: refuse ids of another org)")
	b.bindMax(cmd.Flags())
	return cmd
}

// quarantineIDs quarantines items by id, one outcome each.
func (a *app) quarantineIDs(ctx context.Context, args []string, org, reason string) error {
	ids, err := parseIDs(args)
	if err != nil {
		return err
	}
	if err := ops.RequireReason(ops.ActionQuarantine, reason); err != nil {
		return a.opsErr(err)
	}
	if err := a.confirm(ops.ActionQuarantine, present.AskQuarantine(ids, "", reason)); err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	outs, err := a.newOps(st).Quarantine(ctx, org, ids, reason)
	if err != nil {
		return a.opsErr(err)
	}
	return a.printOutcomes(ops.ActionQuarantine, outs)
}

func (a *app) releaseCmd() *cobra.Command {
	var f selectorFlags
	var b bulkFlags
	cmd := &cobra.Command{
		Use:   "release [ID...]",
		Short: "Return quarantined or skipped items to their queue, in their original place in line",
		Long: `release returns items to their queue with their original enqueued_at. With ids
alone it acts on each id. With selector flags it acts on the quarantined (or
skipped) items the selection matches, plan first, as quarantine does; --rate N
releases at most N items per second, so that a backlog does not land on agents
at once. Without --force it leaves alone items whose current revision is still
missing, oversized or invalid (they would fault again) and exits 2.`,
		Example: `  routeops release 1042
  routeops release --org org-0007 --state quarantined --rate 100 --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !f.filtered() {
				return a.releaseIDs(cmd.Context(), args, f.org, b.force)
			}
			sel, err := f.selector(args)
			if err != nil {
				return err
			}
			return a.runBulk(cmd.Context(), ops.ActionRelease, sel, b)
		},
	}
	f.bind(cmd.Flags(), "only this org (with ids alone: refuse ids of another org)")
	b.bindMax(cmd.Flags())
	cmd.Flags().IntVar(&b.rate, "rate", 0, "release at most this many items per second (0: as fast as it goes)")
	cmd.Flags().BoolVar(&b.force, "force", false, "release even items whose current revision is missing, oversized or invalid (they fault again when routed; repair them first)")
	return cmd
}

// releaseIDs releases items by id, one outcome each.
func (a *app) releaseIDs(ctx context.Context, args []string, org string, force bool) error {
	ids, err := parseIDs(args)
	if err != nil {
		return err
	}
	ask := present.AskRelease(ids, "")
	if force {
		ask = present.AskForcedRelease(ids, "")
	}
	if err := a.confirm(ops.ActionRelease, ask); err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	outs, err := a.newOps(st).Release(ctx, org, ids, force)
	if err != nil {
		return a.opsErr(err)
	}
	return a.printOutcomes(ops.ActionRelease, outs)
}

func (a *app) pauseCmd(pause bool) *cobra.Command {
	verb, use, short := ops.ActionResume, "resume ORG/QUEUE", "Resume a paused queue"
	if pause {
		verb, use, short = ops.ActionPause, "pause ORG/QUEUE --reason TEXT [--for DURATION]",
			"Pause a queue, saying why: nothing is routed from it until resumed, or until --for has passed"
	}
	var reason string
	var d time.Duration
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := queueRef(args[0])
			if err != nil {
				return err
			}
			question := present.AskPause(ref, pause, -1)
			if pause {
				if err := ops.CheckPause(reason, d); err != nil {
					return a.opsErr(err)
				}
				question = present.AskTimedPause(ref, reason, d)
			}
			if err := a.confirm(verb, question); err != nil {
				return err
			}
			return a.withOps(cmd.Context(), func(o *ops.Ops) error {
				var res router.ActionResult
				var err error
				if pause {
					res, err = o.Pause(cmd.Context(), ref, reason, d)
				} else {
					res, err = o.SetPaused(cmd.Context(), ref, false)
				}
				if err != nil {
					return a.opsErr(err)
				}
				return a.printAction(res, present.PauseOutcome(ref, pause, res))
			})
		},
	}
	if pause {
		cmd.Example = `  routeops pause org-0007/billing --reason "billing backend down" --for 30m`
		cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the journal and shown with the queue)")
		cmd.Flags().DurationVar(&d, "for", 0, "resume by itself after this long (an engine resumes it, journalled); default: until resumed")
	}
	return cmd
}
