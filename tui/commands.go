package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// Every query and every action runs in a tea.Cmd, off the update loop, so
// a slow or unreachable store never freezes the console. The functions
// here only build the commands; the messages carry the results back.

const (
	queryTimeout  = 10 * time.Second
	actionTimeout = 2 * time.Minute
	itemsPage     = 200
	maxItems      = 5000
)

type (
	tickMsg struct{}

	snapMsg struct {
		snap  *ops.Snapshot
		stats *router.EngineStats
		err   error
	}

	orgDataMsg struct {
		key    string // org/queue/state the items belong to
		org    string
		page   *ops.ItemPage
		agents []router.Agent
		more   bool // a further page, to append
		err    error
	}

	itemMsg struct {
		org    string
		id     int64
		detail *ops.ItemDetail
		err    error
	}

	timelineMsg struct {
		org string
		tl  *ops.Timeline
		err error
	}

	planMsg struct {
		org           string
		allowDefaults bool
		plan          *ops.RepairPlan
		err           error
	}

	// actionMsg is the result of an operator action, for the status line.
	actionMsg struct {
		action string
		text   string
		err    error
		// done is set by repair apply, which leaves the plan view.
		done bool
	}

	incidentDueMsg struct{}

	// incidentMsg is the result of the --incident drill.
	incidentMsg struct {
		plan IncidentPlan
		ids  []int64
		err  error
	}
)

func (m *Model) queryCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, queryTimeout)
}

func tickCmd(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{} })
}

// fetchSnapshot builds a snapshot through the monitor: Observe (which
// records stall transitions) when recording, else Snapshot.
func (m *Model) fetchSnapshot() tea.Cmd {
	o, record, stats, ctx := m.opts.Ops, m.opts.Record, m.opts.Engine.Stats, m.ctx
	return func() tea.Msg {
		if o == nil || o.Monitor == nil {
			return snapMsg{err: errors.New("console started without a monitor")}
		}
		ctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		var snap *ops.Snapshot
		var err error
		if record {
			snap, err = o.Monitor.Observe(ctx)
		} else {
			snap, err = o.Monitor.Snapshot(ctx, "")
		}
		msg := snapMsg{snap: snap, err: err}
		if stats != nil {
			s := stats()
			msg.stats = &s
		}
		return msg
	}
}

func itemsKey(org, queue string, state router.ItemState) string {
	return org + "/" + queue + "/" + string(state)
}

// fetchOrgData loads the selected queue's items (first page, or the page
// after `after` to append) and the org's agents.
func (m *Model) fetchOrgData(after int64, limit int) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	org, queue, state := m.org.name, m.org.queue, m.org.state
	key := itemsKey(org, queue, state)
	withAgents := after == 0
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		msg := orgDataMsg{key: key, org: org, more: after != 0}
		if queue != "" {
			page, err := o.ListItems(ctx, router.ItemFilter{Org: org, Queue: queue, State: state, AfterID: after, Limit: limit})
			if err != nil {
				msg.err = err
				return msg
			}
			msg.page = page
		}
		if withAgents {
			agents, err := o.Agents(ctx, org)
			if err != nil {
				msg.err = err
				return msg
			}
			msg.agents = agents
		}
		return msg
	}
}

func (m *Model) fetchItem(org string, id int64) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		d, err := o.Item(ctx, org, id)
		return itemMsg{org: org, id: id, detail: d, err: err}
	}
}

func (m *Model) fetchTimeline(org string) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		tl, err := o.Timeline(ctx, ops.TimelineOptions{Since: time.Hour, Org: org})
		return timelineMsg{org: org, tl: tl, err: err}
	}
}

func (m *Model) fetchPlan(org string, allowDefaults bool) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		p, err := o.PlanRepair(ctx, org, allowDefaults)
		return planMsg{org: org, allowDefaults: allowDefaults, plan: p, err: err}
	}
}

// ---- actions: the same ops calls as the CLI ----

func (m *Model) quarantineCmd(org string, id int64, reason string) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		outs, err := o.Quarantine(ctx, org, []int64{id}, reason)
		if err != nil {
			return actionMsg{action: "quarantine", err: err}
		}
		text, err := outcomeText("quarantine", outs)
		if err == nil && outs[0].Changed {
			text += fmt.Sprintf("; undo with u on the item or :release %d", id)
		}
		return actionMsg{action: "quarantine", text: text, err: err}
	}
}

func (m *Model) releaseCmd(org string, id int64) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		outs, err := o.Release(ctx, org, []int64{id})
		if err != nil {
			return actionMsg{action: "release", err: err}
		}
		text, err := outcomeText("release", outs)
		return actionMsg{action: "release", text: text, err: err}
	}
}

func (m *Model) pauseCmd(ref router.QueueRef, paused bool) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	verb := "resume"
	if paused {
		verb = "pause"
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		r, err := o.SetPaused(ctx, ref, paused)
		if err != nil {
			return actionMsg{action: verb, err: fmt.Errorf("%s %s: %w", verb, ref, err)}
		}
		text := r.Message
		if text == "" {
			text = fmt.Sprintf("queue %s: %s done", ref, verb)
		}
		if !r.Changed {
			text += "; nothing changed"
		}
		return actionMsg{action: verb, text: text}
	}
}

func (m *Model) applyRepairCmd(plan *ops.RepairPlan) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		rep, err := o.ApplyRepair(ctx, plan)
		if err != nil {
			return actionMsg{action: "repair", err: err, done: rep != nil && rep.Repaired > 0}
		}
		text := fmt.Sprintf("repair: %d repaired (%d back in their queue), %d skipped", rep.Repaired, rep.Released, rep.Skipped)
		if rep.VerifyOK {
			text += "; verify clean"
		} else if rep.Verify != nil {
			text += fmt.Sprintf("; verify found %d problems (run routeops verify)", len(rep.Verify.Findings))
		}
		return actionMsg{action: "repair", text: text, done: true}
	}
}

func (m *Model) drillCmd(kind, org string, count int) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		ids, err := o.Drill(ctx, kind, org, count)
		if err != nil {
			return actionMsg{action: "drill", err: err}
		}
		return actionMsg{action: "drill", text: drillText(kind, org, ids)}
	}
}

// incidentCmd injects the demo's --incident drill.
func (m *Model) incidentCmd(plan IncidentPlan) tea.Cmd {
	o, ctx := m.opts.Ops, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		ids, err := o.InjectIncident(ctx, plan.Kind, plan.Org, plan.Count)
		return incidentMsg{plan: plan, ids: ids, err: err}
	}
}
