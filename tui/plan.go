package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
)

// repairState is the repair plan view: every item that the repair would
// touch, its source and its verdict, shown before the question to apply.
type repairState struct {
	textView
	org   string
	allow repairAllow
	plan  *ops.RepairPlan
}

// repairAllow is what the operator allowed repair to rebuild from besides
// the exact journal copy (:repair --allow-defaults, --allow-fallback).
type repairAllow struct{ defaults, fallback bool }

type planMsg struct {
	org   string
	allow repairAllow
	plan  *ops.RepairPlan
	err   error
}

// fetchPlan plans a repair: a read, which changes nothing.
func fetchPlan(c *shared, org string, allow repairAllow) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		p, err := api.PlanRepair(ctx, org, allow.defaults)
		if p != nil {
			p.AllowFallback = allow.fallback
		}
		return planMsg{org: org, allow: allow, plan: p, err: err}
	})
}

func newRepairState(msg planMsg) repairState {
	s := repairState{org: msg.org, allow: msg.allow, plan: msg.plan}
	s.text = newText(present.PlanLines(msg.plan, msg.org))
	return s
}

func (s *repairState) about() string { return s.org }

func (s *repairState) body(c *shared, h int) []string {
	return s.text.render(c, h, "Repair plan for "+present.Scope(s.org)+" (nothing changes until you confirm)")
}
