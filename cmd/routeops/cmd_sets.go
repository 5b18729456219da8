package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// selectorFlags are the item selector's flags, the same on every command
// that takes items.
type selectorFlags struct {
	org, queue, state, cause string
	waitedOver               time.Duration
	attrs                    []string
	revision                 int64
}

func (f *selectorFlags) bind(fs *pflag.FlagSet, orgHelp string) {
	fs.StringVar(&f.org, "org", "", orgHelp)
	fs.StringVar(&f.queue, "queue", "", "only this queue (with --org)")
	fs.StringVar(&f.state, "state", "", "only this state: queued, assigned, completed, quarantined, cancelled")
	fs.StringVar(&f.cause, "cause", "", "only items whose recorded fault is this: missing_revision, corrupt_revision, unknown_queue")
	fs.DurationVar(&f.waitedOver, "waited-over", 0, "only items that have waited longer than this (now - enqueued_at)")
	fs.StringArrayVar(&f.attrs, "attr", nil, "only items whose attribute KEY is VALUE (or has it, for an array): KEY=VALUE, repeatable, all must match; "+
		"the journal copy when the revision is gone")
	fs.Int64Var(&f.revision, "revision", 0, "only items whose current revision, or journal copy, is this revision id")
}

// filtered reports whether any filter besides --org was given.
func (f *selectorFlags) filtered() bool {
	return f.queue != "" || f.state != "" || f.cause != "" || f.waitedOver != 0 || len(f.attrs) > 0 || f.revision != 0
}

// selector builds the selector, with the ids given as arguments.
func (f *selectorFlags) selector(args []string) (router.ItemSelector, error) {
	sel := router.ItemSelector{Org: f.org, Queue: f.queue, Cause: router.Cause(f.cause), WaitedOver: f.waitedOver, Revision: f.revision}
	if f.state != "" {
		st, err := router.ParseItemState(f.state)
		if err != nil {
			return sel, usageErr("--state: %v", err)
		}
		sel.State = st
	}
	for _, a := range f.attrs {
		m, err := router.ParseAttrMatch(a)
		if err != nil {
			return sel, usageErr("%v", err)
		}
		sel.Attrs = append(sel.Attrs, m)
	}
	if f.revision < 0 {
		return sel, usageErr("--revision must be a positive revision id")
	}
	for _, a := range args {
		id, err := router.ParseItemID(a)
		if err != nil {
			return sel, usageErr("%v", err)
		}
		sel.IDs = append(sel.IDs, id)
	}
	return sel, nil
}

func (a *app) itemsListCmd() *cobra.Command {
	var f selectorFlags
	var after int64
	var limit int
	var count bool
	list := &cobra.Command{
		Use:   "list [ID...]",
		Short: "List the items a selection matches, by id (--after NEXT for the next page), or count them",
		Example: `  routeops items list --org org-0007 --state quarantined --cause missing_revision
  routeops items list --attr tier=gold --waited-over 30m --count`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := f.selector(args)
			if err != nil {
				return err
			}
			if limit < 1 || limit > 10000 {
				return usageErr("--limit must be 1 to 10000")
			}
			sel.After, sel.Limit = after, limit
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			o := a.newOps(st)
			if count {
				n, _, err := o.CountSelection(cmd.Context(), sel)
				if err != nil {
					return a.opsErr(err)
				}
				if a.output("table") == "json" {
					return a.printJSON(map[string]int{"count": n})
				}
				_, err = fmt.Fprintln(a.stdout, n)
				return err
			}
			page, err := o.ListSelected(cmd.Context(), sel)
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(page)
			}
			t := newTable(a.stdout, "ITEM", "ORG", "QUEUE", "STATE", "PRIORITY", "ENQUEUED", "AGENT", "ATTEMPTS", "LAST ERROR")
			for _, it := range page.Items {
				t.row(router.FormatItemID(it.ID), it.OrgID, it.QueueID, string(it.State), fmt.Sprint(it.Priority),
					present.Time(it.EnqueuedAt), it.AgentID, fmt.Sprint(it.Attempts), present.LineCap(it.LastError, present.DefaultMaxValue))
			}
			if page.Next != 0 {
				t.note(fmt.Sprintf("more: --after %d", page.Next))
			}
			return t.flush()
		},
	}
	f.bind(list.Flags(), "only this org")
	list.Flags().Int64Var(&after, "after", 0, "start after this item id (the previous page's next)")
	list.Flags().IntVar(&limit, "limit", 50, "items per page")
	list.Flags().BoolVar(&count, "count", false, "print only how many items match ({\"count\": N} with -o json)")
	return list
}

// bulkFlags are a bulk action's flags beyond the selector.
type bulkFlags struct {
	max    int
	rate   int
	force  bool
	reason string
	// allowDefaults and allowFallback are repair's.
	allowDefaults, allowFallback bool
}

func (b *bulkFlags) bindMax(fs *pflag.FlagSet) {
	fs.IntVar(&b.max, "max", ops.DefaultMax, "change at most this many items; above it nothing changes and the exit code is 2")
}

// bulkOutput is a bulk action's -o json.
type bulkOutput struct {
	Plan    *ops.SetPlan   `json:"plan"`
	Result  *ops.SetReport `json:"result"`
	Refused string         `json:"refused,omitempty"`
}

// runBulk plans a bulk action on a selection, prints the plan, asks (or
// takes --yes), applies it with a progress bar, and prints the report.
// Exit 2 when it was refused, stopped, left items alone, or (repair)
// found problems among the selected items.
func (a *app) runBulk(ctx context.Context, action string, sel router.ItemSelector, b bulkFlags) error {
	if err := ops.CheckSelector(action, sel); err != nil {
		return a.opsErr(err)
	}
	if b.rate < 0 {
		return usageErr("--rate must not be negative")
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	o := a.newOps(st)
	jsonOut := a.output("table") == "json"
	out := &bulkOutput{}
	plan, err := o.PlanSet(ctx, action, sel, ops.SetOptions{Max: b.max, Reason: b.reason, Force: b.force, AllowDefaults: b.allowDefaults,
		AllowFallback: b.allowFallback})
	out.Plan = plan
	if plan != nil && !jsonOut {
		if perr := a.printLines(present.SetPlanLines(plan)); perr != nil {
			return perr
		}
	}
	if err != nil {
		var over *ops.OverMaxError
		if jsonOut && errors.As(err, &over) {
			out.Refused = present.Error(err)
			_ = a.printJSON(out)
		}
		return a.opsErr(err)
	}
	if plan.Empty() {
		if jsonOut {
			_ = a.printJSON(out)
		} else {
			fmt.Fprintln(a.stdout, present.NothingSelected(plan))
		}
		if plan.Held > 0 {
			return failed(errors.New(present.HeldBack(plan.Held)))
		}
		return nil
	}
	if err := a.confirm(action, present.AskSet(plan)); err != nil {
		return err
	}
	bar := a.newProgress(action, "items")
	rep, err := o.ApplySet(ctx, plan, ops.ApplyOptions{Rate: b.rate, Progress: bar.update})
	bar.finish()
	out.Result = rep
	if rep != nil {
		if jsonOut {
			_ = a.printJSON(out)
		} else if perr := a.printLines(present.SetReportLines(rep)); perr != nil {
			return perr
		}
	}
	switch {
	case err != nil:
		return a.opsErr(err)
	case rep.Held > 0:
		return failed(errors.New(present.HeldBack(rep.Held)))
	case action == ops.SetRepair && (rep.Failed > 0 || rep.Findings > 0):
		return silent(exitFailed)
	}
	return nil
}
