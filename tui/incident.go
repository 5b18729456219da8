package tui

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
)

// The demo's --incident: after its delay, the drill is injected through
// ops, into the named org or else the busiest one, and its result shown in
// the status line.

type (
	incidentDueMsg struct{}

	// incidentMsg is the result of the --incident drill.
	incidentMsg struct {
		plan IncidentPlan
		ids  []int64
		err  error
	}
)

// incidentTries bounds how many snapshots the incident waits for queued
// items to break.
const incidentTries = 60

func (m *Model) onIncidentDue() tea.Cmd {
	if m.opts.Incident == nil {
		return nil
	}
	if m.opts.Incident.Org == "" && m.snap == nil {
		m.incidentWait = true
		m.setStatus(statusInfo, "incident: waiting for the first snapshot")
		return nil
	}
	return m.startIncident()
}

func (m *Model) onIncident(msg incidentMsg) tea.Cmd {
	switch {
	case msg.err != nil:
		m.setStatus(statusErr, fmt.Sprintf("incident drill on %s failed: %s", msg.plan.Org, present.Error(msg.err)))
	case len(msg.ids) == 0 && m.incidentTries < incidentTries:
		// Nothing queued to break yet: try again after the next snapshot.
		m.incidentTries++
		m.incidentWait = true
		m.setStatus(statusInfo, "incident: no queued items in "+msg.plan.Org+" yet; retrying")
	default:
		m.setStatus(statusOK, "incident: "+present.DrillOutcome(msg.plan.Kind, msg.plan.Org, msg.ids))
		return m.refresh(true)
	}
	return nil
}

// startIncident injects the --incident drill, into the named org or else
// the one ops.IncidentOrg picks from the snapshot (the rule the CLI demo
// uses too).
func (m *Model) startIncident() tea.Cmd {
	plan := *m.opts.Incident
	if plan.Org == "" {
		plan.Org = ops.IncidentOrg(m.snap)
	}
	if plan.Org == "" {
		m.setStatus(statusErr, "incident: no org to inject into")
		return nil
	}
	m.setStatus(statusInfo, fmt.Sprintf("incident: injecting %s into %s…", plan.Kind, plan.Org))
	return m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		ids, err := api.InjectIncident(ctx, plan.Kind, plan.Org, plan.Count)
		return incidentMsg{plan: plan, ids: ids, err: err}
	})
}
