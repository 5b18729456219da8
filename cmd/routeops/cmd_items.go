package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/ops"
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
			page, err := a.newOps(st, false).ListItems(cmd.Context(), f)
			if err != nil {
				return failed(err)
			}
			if a.output("table") == "json" {
				return a.printJSON(page)
			}
			t := newTable(a.stdout, "ITEM", "ORG", "QUEUE", "STATE", "PRIORITY", "ENQUEUED", "AGENT", "ATTEMPTS", "LAST ERROR")
			for _, it := range page.Items {
				t.row(router.FormatItemID(it.ID), it.OrgID, it.QueueID, string(it.State), fmt.Sprint(it.Priority),
					fmtTime(it.EnqueuedAt), it.AgentID, fmt.Sprint(it.Attempts), it.LastError)
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
			d, err := a.newOps(st, false).Item(cmd.Context(), org, ids[0])
			if err != nil {
				return failed(errors.New(explainErr(err)))
			}
			if a.output("table") == "json" {
				return a.printJSON(d)
			}
			return a.printItem(d)
		},
	}
	show.Flags().StringVar(&org, "org", "", "refuse the id unless it belongs to this org")
	cmd.AddCommand(list, show)
	return cmd
}

func explainErr(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, router.ErrNotFound.Error()+": ")
	return strings.TrimPrefix(msg, router.ErrConflict.Error()+": ")
}

func (a *app) printItem(d *ops.ItemDetail) error {
	w := a.stdout
	it := d.Item
	fmt.Fprintf(w, "item %d  org %s  queue %s  state %s\n", it.ID, it.OrgID, it.QueueID, it.State)
	fmt.Fprintf(w, "enqueued %s  priority %d  attempts %d", fmtTime(it.EnqueuedAt), it.Priority, it.Attempts)
	if it.AgentID != "" {
		fmt.Fprintf(w, "  agent %s", it.AgentID)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "current revision %d: %s", it.CurrentRevisionID, d.Revision)
	if d.Error != "" {
		fmt.Fprintf(w, " (%s)", d.Error)
	}
	fmt.Fprintln(w)
	if it.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", it.LastError)
	}
	if it.QuarantineReason != "" {
		fmt.Fprintf(w, "quarantine reason: %s\n", it.QuarantineReason)
	}
	if d.Journal != nil {
		v := "valid"
		if !d.Journal.Valid {
			v = "INVALID"
		}
		fmt.Fprintf(w, "journal copy (revision %d, %s): %s\n", d.Journal.RevisionID, v, string(d.Journal.Attributes))
	}
	fmt.Fprintln(w, "\nrevisions (oldest first):")
	t := newTable(w, "  ID", "CREATED", "SOURCE", "CURRENT", "VALID", "ATTRIBUTES")
	for _, r := range d.Revisions {
		cur, valid := "", "yes"
		if r.Current {
			cur = "*"
		}
		if !r.Valid {
			valid = "no: " + r.Error
		}
		t.row("  "+fmt.Sprint(r.ID), fmtTime(r.CreatedAt), r.Source, cur, valid, string(r.Attributes))
	}
	if d.Revision == "missing" {
		t.row("  "+fmt.Sprint(it.CurrentRevisionID), "-", "-", "*", "MISSING", "(the row is gone)")
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nevents:")
	t = newTable(w, "  AT", "KIND", "BY", "DETAIL")
	for _, e := range d.Events {
		by := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			by += " from " + e.Origin
		}
		t.row("  "+fmtTime(e.At), e.Kind, by, string(e.Detail))
	}
	return t.flush()
}

func (a *app) printOutcomes(outs []ops.Outcome) error {
	if a.output("table") == "json" {
		if err := a.printJSON(map[string]any{"results": outs, "failed": ops.Failed(outs)}); err != nil {
			return err
		}
	} else {
		for _, o := range outs {
			mark := "ok"
			if !o.OK {
				mark = "REFUSED"
			} else if !o.Changed {
				mark = "unchanged"
			}
			fmt.Fprintf(a.stdout, "%s\t%s\t%s\n", o.Item, mark, o.Message)
		}
	}
	if n := ops.Failed(outs); n > 0 {
		return failed(fmt.Errorf("%d of %d items refused; see above", n, len(outs)))
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
			if strings.TrimSpace(reason) == "" {
				return usageErr("quarantine needs --reason")
			}
			if err := a.confirm("quarantine", fmt.Sprintf("Quarantine %d item(s): %s, reason %q.", len(ids), strings.Join(args, " "), reason)); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			outs, err := a.newOps(st, false).Quarantine(cmd.Context(), org, ids, reason)
			if err != nil {
				return failed(err)
			}
			return a.printOutcomes(outs)
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
			if err := a.confirm("release", fmt.Sprintf("Release %d item(s) back to their queues: %s.", len(ids), strings.Join(args, " "))); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			outs, err := a.newOps(st, false).Release(cmd.Context(), org, ids)
			if err != nil {
				return failed(err)
			}
			return a.printOutcomes(outs)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "refuse ids that do not belong to this org")
	return cmd
}

func (a *app) pauseCmd(pause bool) *cobra.Command {
	use, short := "resume ORG/QUEUE", "Resume a paused queue"
	if pause {
		use, short = "pause ORG/QUEUE", "Pause a queue: nothing is routed from it until resumed"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := router.ParseQueueRef(args[0])
			if err != nil {
				return usageErr("%v", err)
			}
			verb := map[bool]string{true: "pause", false: "resume"}[pause]
			if err := a.confirm(verb, fmt.Sprintf("%s queue %s.", strings.ToUpper(verb[:1])+verb[1:], ref)); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := a.newOps(st, false).SetPaused(cmd.Context(), ref, pause)
			if err != nil {
				return failed(errors.New(explainErr(err)))
			}
			if a.output("table") == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintln(a.stdout, res.Message)
			return nil
		},
	}
}
