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
	org           string
	allowDefaults bool
	plan          *ops.RepairPlan
}

type planMsg struct {
	org           string
	allowDefaults bool
	plan          *ops.RepairPlan
	err           error
}

// fetchPlan plans a repair: a read, which changes nothing.
func fetchPlan(c *shared, org string, allowDefaults bool) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		p, err := api.PlanRepair(ctx, org, allowDefaults)
		return planMsg{org: org, allowDefaults: allowDefaults, plan: p, err: err}
	})
}

func newRepairState(msg planMsg) repairState {
	s := repairState{org: msg.org, allowDefaults: msg.allowDefaults, plan: msg.plan}
	s.text = newText(present.PlanLines(msg.plan, msg.org))
	return s
}

func (s *repairState) about() string { return s.org }

func (s *repairState) body(c *shared, h int) []string {
	return s.text.render(c, h, "Repair plan for "+present.Scope(s.org)+" (nothing changes until you confirm)")
}
