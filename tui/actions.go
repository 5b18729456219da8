package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
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
		m.setStatus(statusErr, demoOnlyText(c.name))
	default:
		m.setStatus(statusErr, (&ops.ReadOnlyError{Action: c.name}).Error())
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
	desc := fmt.Sprintf("head of %s/%s, waited %s, attempts %d", org, q.Queue, fmtAge(q.Head.AgeSeconds), q.Head.Attempts)
	if q.Stalled {
		desc += ", STALLED " + string(q.Cause)
	}
	return org, id, desc, nil
}

// askQuarantine asks before quarantining the item id, or (id 0) the
// target item.
func (m *Model) askQuarantine(id int64, org, reason string) tea.Cmd {
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(false)
		if err != nil {
			m.setStatus(statusErr, "quarantine: "+err.Error())
			return nil
		}
	}
	if reason == "" {
		reason = defaultReason(m.opts.Operator)
	}
	prompt := fmt.Sprintf("Quarantine item %d", id)
	if desc != "" {
		prompt += " (" + desc + ")"
	}
	m.confirm = &confirmState{action: "quarantine", prompt: prompt + "? reason: " + reason,
		cmd: quarantineCmd(&m.shared, org, id, reason)}
	return nil
}

// askRelease asks before releasing the item id, or (id 0) the target item.
func (m *Model) askRelease(id int64, org string) tea.Cmd {
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(true)
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
	}
	prompt := fmt.Sprintf("Release item %d", id)
	if desc != "" {
		prompt += " (" + desc + ")"
	}
	m.confirm = &confirmState{action: "release", prompt: prompt + " back to its queue, in its original place?",
		cmd: releaseCmd(&m.shared, org, id)}
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
		reason = consoleReason("paused", m.opts.Operator)
	}
	m.confirm = &confirmState{action: "pause",
		prompt: fmt.Sprintf("Pause queue %s? Routing stops for its %d waiting items until resumed. reason: %s", ref, depth, reason),
		cmd: m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
			r, err := api.Pause(ctx, ref, reason, 0)
			if err != nil {
				return actionMsg{action: "pause", err: fmt.Errorf("pause %s: %w", ref, err)}
			}
			return actionMsg{action: "pause", text: pausedText(ref, "pause", r)}
		})}
	return nil
}

func (m *Model) askSetPaused(ref router.QueueRef, pause bool, depth int) tea.Cmd {
	verb := "resume"
	if pause {
		verb = "pause"
	}
	prompt := fmt.Sprintf("Resume queue %s? Routing starts again.", ref)
	if pause {
		prompt = fmt.Sprintf("Pause queue %s? Routing stops for its %d waiting items until resumed.", ref, depth)
	}
	m.confirm = &confirmState{action: verb, prompt: prompt, cmd: pauseCmd(&m.shared, ref, pause)}
	return nil
}

// askRepair plans first (a read, in a Cmd); the plan view then asks before
// applying.
func (m *Model) askRepair(org string, allowDefaults bool) tea.Cmd {
	m.setStatus(statusInfo, "planning the repair of "+scopeName(org)+"…")
	return fetchPlan(&m.shared, org, allowDefaults)
}

func (m *Model) askDrill(org string, count int, kind string) tea.Cmd {
	if org == "" {
		m.setStatus(statusErr, "drill: select an org first")
		return nil
	}
	what := "delete the revisions of"
	if kind == ops.DrillCorruptRevisions {
		what = "corrupt"
	}
	m.confirm = &confirmState{action: "drill",
		prompt: fmt.Sprintf("DRILL %s on %s: %s up to %d items?", kind, org, what, count),
		cmd:    drillCmd(&m.shared, kind, org, count)}
	return nil
}

// drillOrg is the org a drill goes to: the view's org, else the fleet's
// selected org.
func (m *Model) drillOrg() string {
	org := m.contextOrg()
	if org == "" {
		if oh := m.fleet.selected(&m.shared); oh != nil {
			org = oh.Org
		}
	}
	return org
}

// onPlan shows a repair plan and asks to apply it.
func (m *Model) onPlan(msg planMsg) {
	if msg.err != nil {
		m.setStatus(statusErr, "repair plan failed: "+msg.err.Error())
		return
	}
	scope := scopeName(msg.org)
	p := msg.plan
	if p == nil || len(p.Items) == 0 {
		m.setStatus(statusOK, "repair: nothing to repair in "+scope+" (no item has a missing or invalid current revision)")
		return
	}
	m.repair = newRepairState(msg)
	if m.view != viewRepair {
		m.pushView(viewRepair)
	}
	if p.Repairable == 0 {
		m.setStatus(statusErr, fmt.Sprintf("repair: none of the %d items can be repaired from a surviving copy; :repair %s--allow-defaults rebuilds them from defaults",
			len(p.Items), orgArg(msg.org)))
		return
	}
	m.confirm = &confirmState{action: "repair", prompt: repairPrompt(p), cmd: applyRepairCmd(&m.shared, p)}
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
		m.setStatus(statusInfo, c.action+" cancelled; nothing changed")
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
		text := msg.err.Error()
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
