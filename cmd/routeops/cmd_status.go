package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// table is a small tabwriter wrapper.
type table struct {
	tw    *tabwriter.Writer
	w     io.Writer
	notes []string
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), w: w}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.ReplaceAll(strings.ReplaceAll(c, "\t", " "), "\n", " ")
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
	return nil
}

func healthWord(h ops.Health) string {
	switch h {
	case ops.HealthCritical:
		return "✖ CRIT"
	case ops.HealthWarning:
		return "▲ WARN"
	}
	return "● OK"
}

func ageStr(secs float64) string {
	if secs < 0 {
		return "-"
	}
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", secs)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

type statusOpts struct {
	output     string
	org        string
	all        bool
	stallAfter time.Duration
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
		return a.demoSnapshot(ctx)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	mon := ops.NewMonitor(st, router.RealClock{}, a.settings(), a.monitorActor(), a.log)
	snap, err := mon.Snapshot(ctx, org)
	if err != nil {
		return nil, failed(fmt.Errorf("status: %s", a.redact(err.Error())))
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
		return a.printJSON(snap)
	}
	return a.printStatus(snap, o.all)
}

func (a *app) printStatus(s *ops.Snapshot, all bool) error {
	w := a.stdout
	fmt.Fprintf(w, "routeops status  %s  %s\n", fmtTime(s.GeneratedAt), s.Store)
	eng := "engine " + s.Engine.State
	if s.Engine.Policy != "" {
		eng += fmt.Sprintf(" (policy %s", s.Engine.Policy)
		if s.Engine.LastBeatAge >= 0 {
			eng += fmt.Sprintf(", last heartbeat %s ago", ageStr(s.Engine.LastBeatAge))
		}
		eng += ")"
	}
	fmt.Fprintln(w, eng)
	for _, n := range ops.TopologyNotes(s) {
		fmt.Fprintln(w, n)
	}
	sm := s.Summary
	fmt.Fprintf(w, "%s  orgs %d  queued %d  assigned %d  quarantined %d  stalled queues %d  starved queues %d  assigned/5m %d\n\n",
		strings.ToUpper(string(sm.Health)), sm.Orgs, sm.Queued, sm.Assigned, sm.Quarantined, sm.StalledQueues, sm.StarvedQueues, sm.Assigned5m)
	t := newTable(w)
	t.row("ORG", "QUEUE", "HEALTH", "DEPTH", "OLDEST", "HEAD", "HEAD AGE", "ATTEMPTS", "FREE CAP", "QUAR", "STATUS")
	rows := 0
	okOrgs := 0
	for _, org := range s.Orgs {
		if org.Health == ops.HealthOK && !all {
			okOrgs++
			continue
		}
		for _, q := range org.Queues {
			if q.Health == ops.HealthOK && !all {
				continue
			}
			head, hage, att := "-", "-", "-"
			if q.Head != nil {
				head, hage, att = q.Head.Item, ageStr(q.Head.AgeSeconds), fmt.Sprint(q.Head.Attempts)
			}
			status := "flowing"
			switch {
			case q.Stalled:
				status = "STALLED " + string(q.Cause)
			case q.Starved:
				status = "starved (no capacity)"
			case q.Paused:
				status = "paused"
			}
			if q.Reason != "" {
				status += ": " + q.Reason
			}
			t.row(org.Org, q.Queue, healthWord(q.Health), fmt.Sprint(q.Depth), ageStr(q.OldestAgeSeconds), head, hage, att,
				fmt.Sprint(q.AvailableCapacity), fmt.Sprint(q.Quarantined), status)
			rows++
		}
		if org.Orphans > 0 {
			t.row(org.Org, "(unknown)", healthWord(ops.HealthWarning), fmt.Sprint(org.Orphans), "-", "-", "-", "-", "-", "-",
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

func (a *app) checkCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "One-line health check for cron, Nagios or Icinga: exit 0 ok, 1 warning, 2 critical, 3 unknown",
		Args:  cobra.NoArgs,
		// check reports every failure, even a bad config, as UNKNOWN (3).
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := a.loadConfig(cmd); err != nil {
				fmt.Fprintln(a.stdout, "ROUTEOPS UNKNOWN - "+a.redact(err.Error()))
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
					fmt.Fprintln(a.stdout, "ROUTEOPS UNKNOWN - "+msg)
				}
				return silent(exitUnknown)
			}
			line, stalled := checkLine(snap)
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

type stalledRef struct {
	Org    string  `json:"org"`
	Queue  string  `json:"queue"`
	Cause  string  `json:"cause"`
	Head   string  `json:"head,omitempty"`
	Waited float64 `json:"head_age_seconds"`
}

// checkLine renders the monitoring plugin line, with perfdata after "|".
func checkLine(s *ops.Snapshot) (string, []stalledRef) {
	var stalled []stalledRef
	var warns []string
	if s.Database != nil && s.Database.Reason != "" {
		warns = append(warns, s.Database.Reason)
	}
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if q.Stalled {
				r := stalledRef{Org: o.Org, Queue: q.Queue, Cause: string(q.Cause)}
				if q.Head != nil {
					r.Head, r.Waited = q.Head.Item, q.Head.AgeSeconds
				}
				stalled = append(stalled, r)
			} else if q.Health == ops.HealthWarning && len(warns) < 3 {
				warns = append(warns, o.Org+"/"+q.Queue+": "+q.Reason)
			}
		}
	}
	sm := s.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "ROUTEOPS %s - ", strings.ToUpper(map[ops.Health]string{ops.HealthOK: "OK", ops.HealthWarning: "WARNING", ops.HealthCritical: "CRITICAL"}[sm.Health]))
	switch {
	case len(stalled) > 0:
		parts := make([]string, 0, 3)
		for i, r := range stalled {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(stalled)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s/%s (%s, head %s waited %s)", r.Org, r.Queue, r.Cause, r.Head, ageStr(r.Waited)))
		}
		fmt.Fprintf(&b, "%d stalled queue(s): %s", len(stalled), strings.Join(parts, ", "))
	case len(warns) > 0:
		b.WriteString(strings.Join(warns, "; "))
	default:
		fmt.Fprintf(&b, "%d orgs routing, engine %s", sm.Orgs, s.Engine.State)
	}
	fmt.Fprintf(&b, " | orgs=%d queued=%d assigned=%d quarantined=%d stalled_queues=%d starved_queues=%d assigned_5m=%d",
		sm.Orgs, sm.Queued, sm.Assigned, sm.Quarantined, sm.StalledQueues, sm.StarvedQueues, sm.Assigned5m)
	if sm.ReplicaLagSeconds != nil {
		fmt.Fprintf(&b, " replica_lag=%.1fs", *sm.ReplicaLagSeconds)
	}
	if stalled == nil {
		stalled = []stalledRef{}
	}
	return b.String(), stalled
}
