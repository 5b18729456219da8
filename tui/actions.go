package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// Every action asks first: the question waits in the status line for y,
// and anything else cancels it. The actions themselves (calls.go) are the
// same ops calls as the CLI's.

// confirmState is a pending y/N question.
type confirmState struct {
	prompt string
	action string
	cmd    tea.Cmd
	quit   bool
}

// permit applies a command's rules to an action, from a key or from the
// command line, and says a refusal in the status line.
func (m *Model) permit(c *command) bool {
	switch {
	case c.allowed(m.readOnly(), m.opts.Demo):
		return true
	case c.demo && !m.opts.Demo:
		m.setStatus(statusErr, (&ops.DemoOnlyError{Action: c.name}).Error())
	default:
		refusal := &ops.ReadOnlyError{Action: c.name}
		if m.opts.Ops != nil {
			refusal.Reason = m.opts.Ops.Policy().ReadOnlyReason
		}
		m.setStatus(statusErr, refusal.Error())
	}
	return false
}

// headTarget is a queue's head item as an action's target.
func headTarget(org string, q *ops.QueueHealth) (string, int64, string, error) {
	if q.Head == nil {
		return "", 0, "", fmt.Errorf("queue %s/%s has no head item (nothing queued)", org, q.Queue)
	}
	id, err := router.ParseItemID(q.Head.Item)
	if err != nil {
		return "", 0, "", err
	}
	return org, id, present.HeadDesc(org, q), nil
}

// askQuarantine asks before quarantining the item id, or (id 0) the
// target item.
func (m *Model) askQuarantine(id int64, org, reason string) tea.Cmd {
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(false)
		if err != nil {
			m.setStatus(statusErr, "quarantine: "+present.Error(err))
			return nil
		}
	}
	if reason == "" {
		reason = ops.ConsoleReason(m.opts.Operator)
	}
	m.confirm = &confirmState{action: ops.ActionQuarantine, prompt: present.AskQuarantine([]int64{id}, desc, reason),
		cmd: quarantineCmd(&m.shared, org, id, reason)}
	return nil
}

// askRelease asks before releasing the item id, or (id 0) the target item.
func (m *Model) askRelease(id int64, org string, force bool) tea.Cmd {
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(true)
		if err != nil {
			m.setStatus(statusErr, present.Error(err))
			return nil
		}
	}
	prompt := present.AskRelease([]int64{id}, desc)
	if force {
		prompt = present.AskForcedRelease([]int64{id}, desc)
	}
	m.confirm = &confirmState{action: ops.ActionRelease, prompt: prompt, cmd: releaseCmd(&m.shared, org, id, force)}
	return nil
}

// askPause pauses or resumes the org view's selected queue.
func (m *Model) askPause() tea.Cmd {
	if m.view != viewOrg {
		m.setStatus(statusErr, "pause: select a queue in the org view (enter on an org), or :pause ORG/QUEUE")
		return nil
	}
	q := m.org.selectedQueue()
	if q == nil {
		m.setStatus(statusErr, "pause: no queue selected")
		return nil
	}
	ref := router.QueueRef{Org: m.org.name, Queue: q.Queue}
	if q.Paused {
		return m.askSetPaused(ref, false, q.Depth)
	}
	return m.askPauseWith(ref, q.Depth, "")
}

// askPauseWith asks before pausing a queue with a reason (the console's
// own when none is typed): a pause always says why.
func (m *Model) askPauseWith(ref router.QueueRef, depth int, reason string) tea.Cmd {
	if reason == "" {
		reason = ops.ConsolePauseReason(m.opts.Operator)
	}
	m.confirm = &confirmState{action: "pause",
		prompt: present.AskPauseReason(ref, depth, reason),
		cmd: m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
			r, err := api.Pause(ctx, ref, reason, 0)
			if err != nil {
				return actionMsg{action: "pause", err: fmt.Errorf("pause %s: %w", ref, err)}
			}
			return actionMsg{action: "pause", text: present.PauseOutcome(ref, true, r)}
		})}
	return nil
}

func (m *Model) askSetPaused(ref router.QueueRef, pause bool, depth int) tea.Cmd {
	verb := ops.ActionResume
	if pause {
		verb = ops.ActionPause
	}
	m.confirm = &confirmState{action: verb, prompt: present.AskPause(ref, pause, depth), cmd: pauseCmd(&m.shared, ref, pause)}
	return nil
}

// askRepair plans first (a read, in a Cmd); the plan view then asks before
// applying.
func (m *Model) askRepair(org string, allow repairAllow) tea.Cmd {
	m.setStatus(statusInfo, "planning the repair of "+present.Scope(org)+"…")
	return fetchPlan(&m.shared, org, allow)
}

func (m *Model) askDrill(org string, count int, kind string) tea.Cmd {
	if org == "" {
		m.setStatus(statusErr, "drill: select an org first")
		return nil
	}
	m.confirm = &confirmState{action: ops.ActionDrill, prompt: present.AskDrill(kind, org, count),
		cmd: drillCmd(&m.shared, kind, org, count)}
	return nil
}

// drillOrg is the org a drill goes to: the view's org, else the fleet's
// selected org.
func (m *Model) drillOrg() string {
	org := m.contextOrg()
	if org == "" {
		// The fleet's selected org, if routing can reach a broken head
		// there; else where ops's incident rule says a fault shows.
		if oh := m.fleet.selected(&m.shared); oh != nil && oh.AvailableCapacity > 0 {
			org = oh.Org
		} else {
			org = ops.IncidentOrg(m.snap)
		}
	}
	return org
}

// onPlan shows a repair plan and asks to apply it.
func (m *Model) onPlan(msg planMsg) {
	if msg.err != nil {
		m.setStatus(statusErr, "repair plan failed: "+present.Error(msg.err))
		return
	}
	p := msg.plan
	if p == nil || len(p.Items) == 0 {
		m.setStatus(statusOK, "repair: "+present.NothingToRepair(msg.org))
		return
	}
	m.repair = newRepairState(msg)
	if m.view != viewRepair {
		m.pushView(viewRepair)
	}
	if p.Repairable == 0 {
		retry := ":repair --allow-defaults"
		if msg.org != "" {
			retry = ":repair " + msg.org + " --allow-defaults"
		}
		m.setStatus(statusErr, present.NoneRepairable(p, retry))
		return
	}
	if p.Repairable == p.NeedOptIn && !p.AllowFallback {
		retry := ":repair --allow-fallback"
		if msg.org != "" {
			retry = ":repair " + msg.org + " --allow-fallback"
		}
		m.setStatus(statusErr, present.OnlyFallbacks(p, retry))
		return
	}
	m.confirm = &confirmState{action: ops.ActionRepair, prompt: present.AskRepair(p), cmd: applyRepairCmd(&m.shared, p)}
}

func (m *Model) handleConfirm(k tea.KeyPressMsg) tea.Cmd {
	c := m.confirm
	if s := k.String(); s == "y" || s == "Y" {
		m.confirm = nil
		if c.quit {
			return tea.Quit
		}
		m.busy++
		m.busyWhat = c.action
		m.setStatus(statusInfo, c.action+": working…")
		return c.cmd
	}
	// The plan under a repair question can be scrolled before answering.
	if c.action == "repair" && m.view == viewRepair && m.keys.isNav(k) {
		m.repair.text.scroll(&m.shared, k)
		return nil
	}
	if m.view == viewSet && m.keys.isNav(k) {
		m.set.text.scroll(&m.shared, k)
		return nil
	}
	m.confirm = nil
	if c.quit {
		m.setStatus(statusInfo, "quit cancelled")
	} else {
		m.setStatus(statusInfo, present.Cancelled(c.action))
	}
	return nil
}

func (m *Model) onAction(msg actionMsg) tea.Cmd {
	if m.busy > 0 {
		m.busy--
	}
	if m.busy == 0 {
		m.busyWhat = ""
	}
	if msg.err != nil {
		text := present.Error(msg.err)
		if !strings.Contains(text, msg.action) {
			text = msg.action + " failed: " + text
		}
		m.setStatus(statusErr, text)
	} else {
		m.setStatus(statusOK, msg.text)
	}
	if msg.done && (m.view == viewRepair || m.view == viewSet) {
		m.confirm = nil
		m.popView()
	}
	if msg.bulk {
		m.org.marks = nil
	}
	cmds := []tea.Cmd{m.refresh(true)}
	if m.view == viewItem {
		cmds = append(cmds, m.item.fetch(&m.shared))
	}
	return tea.Batch(cmds...)
}
