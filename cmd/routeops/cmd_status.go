package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/demo"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// table is a small tabwriter wrapper. Every cell is untrusted text: it is
// sanitized on one line (present.Line) before it is laid out.
type table struct {
	tw    *tabwriter.Writer
	w     *bufio.Writer
	notes []string
}

// newTable writes through a buffer: tabwriter writes each cell and each
// run of padding on its own, which was one system call each (2.5 of the
// 4.5 s that a status table of 50,000 orgs took).
func newTable(w io.Writer, headers ...string) *table {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := &table{tw: tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0), w: bw}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = present.Line(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) note(s string) { t.notes = append(t.notes, s) }

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	for _, n := range t.notes {
		fmt.Fprintln(t.w, n)
	}
	return t.w.Flush()
}

type statusOpts struct {
	output string
	org    string
	all    bool
}

func (a *app) statusCmd() *cobra.Command {
	var o statusOpts
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every org's queue health (-o json prints the documented shape)",
		Long: `status builds one snapshot of every queue from aggregate queries: depth, oldest
wait, the head item (age, attempts, last error), the capacity that could take it,
quarantined items, and whether the queue is stalled and why. Without a DSN it
shows a briefly warmed-up embedded demo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.output = a.output("table")
			return a.runStatus(cmd, o)
		},
	}
	cmd.Flags().StringVar(&o.org, "org", "", "only this org")
	cmd.Flags().BoolVar(&o.all, "all", false, "table: list every queue, not only those that are not ok")
	cmd.Flags().Duration("stall-after", 0, "override health.stall_after for this run")
	return cmd
}

// snapshot builds a snapshot from the configured database, or from a
// briefly warmed-up embedded demo when there is none.
func (a *app) snapshot(ctx context.Context, org string) (*ops.Snapshot, error) {
	if a.cfg.DSN == "" {
		snap, err := demo.WarmUp(ctx, a.demoConfig(false), time.Now())
		if err != nil {
			return nil, failed(err)
		}
		return snap, nil
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	snap, err := a.newOps(st).Monitor.Snapshot(ctx, org)
	if err != nil {
		return nil, failed(fmt.Errorf("status: %s", present.Error(a.redactErr(err))))
	}
	return snap, nil
}

func (a *app) runStatus(cmd *cobra.Command, o statusOpts) error {
	if o.output == "" {
		o.output = "table"
	}
	snap, err := a.snapshot(cmd.Context(), o.org)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return present.SnapshotJSON(a.stdout, snap)
	}
	return a.printStatus(snap, o.all)
}

func (a *app) printStatus(s *ops.Snapshot, all bool) error {
	w := a.stdout
	fmt.Fprintf(w, "routeops status  %s  %s\n", present.Time(s.GeneratedAt), present.Line(s.Store))
	eng := "engine " + present.Line(s.Engine.State)
	if s.Engine.Policy != "" {
		eng += " (policy " + present.Line(s.Engine.Policy)
		if s.Engine.LastBeatAge >= 0 {
			eng += ", last heartbeat " + present.Duration(time.Duration(s.Engine.LastBeatAge*float64(time.Second))) + " ago"
		}
		eng += ")"
	}
	fmt.Fprintln(w, eng)
	for _, n := range present.TopologyNotes(s) {
		fmt.Fprintln(w, n)
	}
	sm := s.Summary
	fmt.Fprintf(w, "%s  orgs %d  queued %d  assigned %d  quarantined %d  stalled queues %d  starved queues %d  assigned/5m %d\n\n",
		present.CheckWord(sm.Health), sm.Orgs, sm.Queued, sm.Assigned, sm.Quarantined, sm.StalledQueues, sm.StarvedQueues, sm.Assigned5m)
	t := newTable(w, "ORG", "QUEUE", "HEALTH", "DEPTH", "OLDEST", "HEAD", "HEAD AGE", "ATTEMPTS", "FREE CAP", "QUAR", "STATUS")
	rows, okOrgs := 0, 0
	for _, org := range s.Orgs {
		if org.Health == ops.HealthOK && !all {
			okOrgs++
			continue
		}
		for i := range org.Queues {
			if q := &org.Queues[i]; q.Health != ops.HealthOK || all {
				t.row(queueRow(org.Org, q)...)
				rows++
			}
		}
		if org.Orphans > 0 {
			t.row(org.Org, "(unknown)", present.HealthWord(ops.HealthWarning), fmt.Sprint(org.Orphans), "-", "-", "-", "-", "-", "-",
				"items name a queue that does not exist")
		}
	}
	if rows == 0 {
		if okOrgs > 0 {
			fmt.Fprintf(w, "all %d orgs are ok (--all lists every queue)\n", okOrgs)
		}
		return nil
	}
	if okOrgs > 0 {
		t.note(fmt.Sprintf("\n%d orgs are ok (--all lists every queue)", okOrgs))
	}
	return t.flush()
}

// queueRow is one queue of the status table: its state word from
// present's one ranking, then why.
func queueRow(org string, q *ops.QueueHealth) []string {
	head, hage, att := "-", "-", "-"
	if q.Head != nil {
		head, hage, att = q.Head.Item, present.Age(q.Head.AgeSeconds), fmt.Sprint(q.Head.Attempts)
	}
	status := present.QueueStatus(q)
	if q.Reason != "" {
		status += ": " + q.Reason
	}
	return []string{org, q.Queue, present.HealthWord(q.Health), fmt.Sprint(q.Depth), present.Age(q.OldestAgeSeconds), head, hage, att,
		fmt.Sprint(q.AvailableCapacity), fmt.Sprint(q.Quarantined), status}
}

func (a *app) checkCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "One-line health check for cron, Nagios or Icinga: exit 0 ok, 1 warning, 2 critical, 3 unknown",
		Args:  cobra.NoArgs,
		// check reports every failure, even a bad config, as UNKNOWN (3).
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := a.loadConfig(cmd); err != nil {
				fmt.Fprintln(a.stdout, present.CheckUnknownLine(a.redact(err.Error())))
				return silent(exitUnknown)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), a.cfg.DB.ConnectTimeout+30*time.Second)
			defer cancel()
			snap, err := a.snapshot(ctx, org)
			if err != nil {
				msg := a.redact(err.Error())
				if a.output("table") == "json" {
					_ = a.printJSON(map[string]any{"status": "unknown", "code": exitUnknown, "message": msg})
				} else {
					fmt.Fprintln(a.stdout, present.CheckUnknownLine(msg))
				}
				return silent(exitUnknown)
			}
			line, stalled := present.CheckLine(snap)
			code := snap.Summary.Health.ExitCode()
			if a.output("table") == "json" {
				if err := a.printJSON(map[string]any{"status": string(snap.Summary.Health), "code": code, "message": line,
					"summary": snap.Summary, "engine": snap.Engine, "stalled": stalled}); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(a.stdout, line)
			}
			if code != 0 {
				return silent(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this org")
	cmd.Flags().Duration("stall-after", 0, "override health.stall_after for this run")
	return cmd
}

// queueRef parses ORG/QUEUE.
func queueRef(s string) (router.QueueRef, error) {
	ref, err := router.ParseQueueRef(s)
	if err != nil {
		return ref, usageErr("%v", err)
	}
	return ref, nil
}
