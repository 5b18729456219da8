package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// The actions, as tea.Cmds: the same ops calls as the CLI's, off the
// update loop. Each comes back as an actionMsg for the status line.

const (
	queryTimeout  = 10 * time.Second
	actionTimeout = 2 * time.Minute
	itemsPage     = 200
	maxItems      = 5000
)

// actionMsg is the result of an operator action, for the status line.
type actionMsg struct {
	action string
	text   string
	err    error
	// done is set by repair apply and bulk actions, which leave the plan
	// view.
	done bool
	// bulk is set by bulk actions, which clear the marks.
	bulk bool
}

func quarantineCmd(c *shared, org string, id int64, reason string) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		outs, err := api.Quarantine(ctx, org, []int64{id}, reason)
		if err != nil {
			return actionMsg{action: "quarantine", err: err}
		}
		text, err := itemOutcome(ops.ActionQuarantine, outs)
		if err == nil && outs[0].Changed {
			text += fmt.Sprintf("; undo with u on the item or :release %d", id)
		}
		return actionMsg{action: "quarantine", text: text, err: err}
	})
}

// itemOutcome is the status line's sentence for the one item an action
// touched, or its refusal as an error.
func itemOutcome(verb string, outs []ops.Outcome) (string, error) {
	if len(outs) == 0 {
		return "", fmt.Errorf("%s: nothing done", verb)
	}
	if !outs[0].OK {
		return "", errors.New(present.Outcome(verb, outs[0]))
	}
	return present.Outcome(verb, outs[0]), nil
}

func releaseCmd(c *shared, org string, id int64, force bool) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		outs, err := api.Release(ctx, org, []int64{id}, force)
		if err != nil {
			return actionMsg{action: "release", err: err}
		}
		text, err := itemOutcome(ops.ActionRelease, outs)
		return actionMsg{action: "release", text: text, err: err}
	})
}

func pauseCmd(c *shared, ref router.QueueRef, paused bool) tea.Cmd {
	verb := ops.ActionResume
	if paused {
		verb = ops.ActionPause
	}
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		r, err := api.SetPaused(ctx, ref, paused)
		if err != nil {
			return actionMsg{action: verb, err: fmt.Errorf("%s %s: %w", verb, ref, err)}
		}
		return actionMsg{action: verb, text: present.PauseOutcome(ref, paused, r)}
	})
}

func applyRepairCmd(c *shared, plan *ops.RepairPlan) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		rep, err := api.ApplyRepair(ctx, plan)
		if err != nil {
			return actionMsg{action: "repair", err: err, done: rep != nil && rep.Repaired > 0}
		}
		return actionMsg{action: "repair", text: present.RepairSummary(rep), done: true}
	})
}

func drillCmd(c *shared, kind, org string, count int) tea.Cmd {
	return c.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		// The drill always breaks something: with nothing queued where
		// routing reaches, it enqueues the victims first.
		ids, err := api.Rehearse(ctx, kind, org, count)
		if err != nil {
			return actionMsg{action: "drill", err: err}
		}
		return actionMsg{action: "drill", text: present.DrillOutcome(kind, org, ids)}
	})
}
