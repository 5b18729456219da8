package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// Actions on sets of items: x and u on the marked items (m marks), X and
// U on everything the org view's filter matches. Each plans first (the
// same ops.PlanSet as the CLI), shows the plan, and asks; then applies in
// batches under one operation id (ops.ApplySet).

// setState is a bulk action's plan view.
type setState struct {
	textView
	org  string
	plan *ops.SetPlan
}

type setPlanMsg struct {
	org  string
	plan *ops.SetPlan
	err  error
}

func (s *setState) about() string { return s.org }

func (s *setState) body(c *shared, h int) []string {
	return s.text.render(c, h, present.SetPlanTitle(s.plan, s.org))
}

// askBulk plans a bulk action on a selection: a read, in a Cmd.
func (m *Model) askBulk(action string, sel router.ItemSelector) tea.Cmd {
	reason := ""
	if action == ops.SetQuarantine {
		reason = ops.ConsoleReason(m.opts.Operator)
	}
	m.setStatus(statusInfo, "planning the "+action+" of "+ops.DescribeSelector(sel)+"…")
	return m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		p, err := api.PlanSet(ctx, action, sel, ops.SetOptions{Reason: reason, Max: ops.DefaultMax})
		return setPlanMsg{org: sel.Org, plan: p, err: err}
	})
}

// onSetPlan shows the plan and asks to apply it.
func (m *Model) onSetPlan(msg setPlanMsg) {
	var over *ops.OverMaxError
	switch {
	case msg.err != nil && !errors.As(msg.err, &over):
		m.setStatus(statusErr, "plan failed: "+msg.err.Error())
		return
	case msg.plan.Empty() && msg.err == nil:
		m.setStatus(statusOK, present.NothingSelected(msg.plan))
		return
	}
	m.set = setState{org: msg.org, plan: msg.plan}
	m.set.text = newText(present.SetPlanLines(msg.plan))
	if m.view != viewSet {
		m.pushView(viewSet)
	}
	if msg.err != nil {
		m.setStatus(statusErr, msg.err.Error()+" (the CLI's --max lifts the cap)")
		return
	}
	m.confirm = &confirmState{action: msg.plan.Action, prompt: present.AskSet(msg.plan), cmd: applySetCmd(&m.shared, msg.plan)}
}

func applySetCmd(c *shared, p *ops.SetPlan) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		rep, err := api.ApplySet(ctx, p, ops.ApplyOptions{})
		text := ""
		if rep != nil {
			text = strings.Join(present.SetReportLines(rep), "; ")
		}
		if err == nil && rep.Held > 0 {
			err = errors.New(text + "; " + present.HeldBack(rep.Held))
		}
		return actionMsg{action: p.Action, text: text, err: err, done: true, bulk: true}
	})
}

// markedSelector is the org view's marked items as a selector, or false
// when nothing is marked.
func (m *Model) markedSelector() (router.ItemSelector, bool) {
	if m.view != viewOrg || len(m.org.marks) == 0 {
		return router.ItemSelector{}, false
	}
	sel := router.ItemSelector{Org: m.org.name}
	for id := range m.org.marks {
		sel.IDs = append(sel.IDs, id)
	}
	slices.Sort(sel.IDs)
	return sel, true
}

// askAll plans the action on everything the org view's current filter
// matches: its org, its queue, and the filter's key=value attributes.
func (m *Model) askAll(action string) tea.Cmd {
	if m.view != viewOrg || m.org.queue == "" {
		m.setStatus(statusErr, action+": open an org and select a queue first (X and U act on what its filter matches)")
		return nil
	}
	sel := router.ItemSelector{Org: m.org.name, Queue: m.org.queue, Attrs: m.org.attrs}
	return m.askBulk(action, sel)
}

// ---- the impact report ----

// reportState is a read-only text view: the impact report.
type reportState struct {
	textView
	org   string
	title string
}

type reportMsg struct {
	org   string
	since time.Duration
	rep   *ops.ImpactReport
	err   error
}

func (s *reportState) about() string { return s.org }

func (s *reportState) body(c *shared, h int) []string { return s.text.render(c, h, s.title) }

// openImpact runs the impact report over the last since (a read, in a Cmd).
func (m *Model) openImpact(org string, since time.Duration) tea.Cmd {
	m.setStatus(statusInfo, "impact: computing the report of the last "+present.Duration(since)+"…")
	return m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		rep, err := api.Impact(ctx, ops.ImpactOptions{Since: since, Org: org, Charts: 5, ListItems: 20})
		return reportMsg{org: org, since: since, rep: rep, err: err}
	})
}

func (m *Model) onReport(msg reportMsg) {
	if msg.err != nil {
		m.setStatus(statusErr, "impact failed: "+msg.err.Error())
		return
	}
	m.report = reportState{org: msg.org, title: "Impact of the last " + present.Duration(msg.since) + " in " + present.Scope(msg.org)}
	m.report.text = newText(present.ImpactMarkdown(msg.rep))
	if m.view != viewReport {
		m.pushView(viewReport)
	}
	m.setStatus(statusOK, present.ImpactStatus(msg.rep))
}

func (m *Model) cmdImpact(args []string) tea.Cmd {
	org, since := m.contextOrg(), 24*time.Hour
	for _, a := range args {
		if d, err := time.ParseDuration(a); err == nil && d > 0 {
			since = d
			continue
		}
		if a == "all" {
			org = ""
			continue
		}
		name, err := m.matchOrg(a)
		if err != nil {
			return m.fail(err)
		}
		org = name
	}
	return m.openImpact(org, since)
}
