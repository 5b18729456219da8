package main

import (
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

func (a *app) itemsListCmd() *cobra.Command {
	var f router.ItemFilter
	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List items, paginated by id (--after NEXT for the next page)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if state != "" {
				st, err := router.ParseItemState(state)
				if err != nil {
					return usageErr("--state: %v", err)
				}
				f.State = st
			}
			if f.Limit < 1 || f.Limit > 10000 {
				return usageErr("--limit must be 1 to 10000")
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			page, err := a.newOps(st).ListItems(cmd.Context(), f)
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
	list.Flags().StringVar(&f.Org, "org", "", "only this org")
	list.Flags().StringVar(&f.Queue, "queue", "", "only this queue (with --org)")
	list.Flags().StringVar(&state, "state", "", "only this state: queued, assigned, completed, quarantined, cancelled")
	list.Flags().Int64Var(&f.AfterID, "after", 0, "start after this item id (the previous page's next)")
	list.Flags().IntVar(&f.Limit, "limit", 50, "items per page")
	return list
}

func (a *app) itemsShowCmd() *cobra.Command {
	var org string
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
			return a.printLines(present.ItemLines(d, time.Now(), present.ItemOptions{Style: present.CLI}))
		},
	}
	show.Flags().StringVar(&org, "org", "", "refuse the id unless it belongs to this org")
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
	var reason, org string
	cmd := &cobra.Command{
		Use:   "quarantine ID...",
		Short: "Move queued items out of the head path (recorded with your name and origin)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			outs, err := a.newOps(st).Quarantine(cmd.Context(), org, ids, reason)
			if err != nil {
				return a.opsErr(err)
			}
			return a.printOutcomes(ops.ActionQuarantine, outs)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the journal)")
	cmd.Flags().StringVar(&org, "org", "", "refuse ids that do not belong to this org")
	return cmd
}

func (a *app) releaseCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "release ID...",
		Short: "Return quarantined items to their queue, in their original place in line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			if err := a.confirm(ops.ActionRelease, present.AskRelease(ids, "")); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			outs, err := a.newOps(st).Release(cmd.Context(), org, ids)
			if err != nil {
				return a.opsErr(err)
			}
			return a.printOutcomes(ops.ActionRelease, outs)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "refuse ids that do not belong to this org")
	return cmd
}

func (a *app) pauseCmd(pause bool) *cobra.Command {
	verb, use, short := ops.ActionResume, "resume ORG/QUEUE", "Resume a paused queue"
	if pause {
		verb, use, short = ops.ActionPause, "pause ORG/QUEUE", "Pause a queue: nothing is routed from it until resumed"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := queueRef(args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(verb, present.AskPause(ref, pause, -1)); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := a.newOps(st).SetPaused(cmd.Context(), ref, pause)
			if err != nil {
				return a.opsErr(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintln(a.stdout, present.PauseOutcome(ref, pause, res))
			return nil
		},
	}
}
