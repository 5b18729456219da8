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

// Teams and agents from the org view: a sets the selected agent's
// presence (available, away, offline, in turn), T pauses or resumes the
// team of the selected agent (or the team the selected queue's head
// needs). Each asks first and is journalled, as the CLI's team and agent.

// nextStatus is the presence a sets after st.
func nextStatus(st router.AgentStatus) router.AgentStatus {
	switch st {
	case router.AgentAvailable:
		return router.AgentAway
	case router.AgentAway:
		return router.AgentOffline
	}
	return router.AgentAvailable
}

func (m *Model) askAgentStatus() tea.Cmd {
	if m.view != viewOrg || m.org.focus != paneAgents || m.org.aCursor >= len(m.org.agents) {
		m.setStatus(statusErr, "agent: tab to the org view's agents and select one (or :agent ORG/AGENT STATUS)")
		return nil
	}
	a := m.org.agents[m.org.aCursor]
	return m.askAgent(a.OrgID, a.ID, nextStatus(a.Status))
}

func (m *Model) askAgent(org, agent string, st router.AgentStatus) tea.Cmd {
	m.confirm = &confirmState{action: "agent", prompt: present.AskAgent(org, agent, st),
		cmd: m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
			r, err := api.SetAgentStatus(ctx, org, agent, st)
			return actionMsg{action: "agent", text: present.ActionOutcome(r), err: err}
		})}
	return nil
}

// teamTarget is the team T acts on, and whether it is paused now.
func (m *Model) teamTarget() (string, bool, error) {
	if m.view != viewOrg {
		return "", false, fmt.Errorf("team: open an org first (or :team pause|resume ORG/TEAM)")
	}
	if m.org.focus == paneAgents && m.org.aCursor < len(m.org.agents) {
		a := m.org.agents[m.org.aCursor]
		return a.TeamID, a.TeamStatus == router.TeamPaused, nil
	}
	if q := m.org.selectedQueue(); q != nil && q.Head != nil && q.Head.Team != "" {
		return q.Head.Team, q.Cause == router.CauseTeamPaused, nil
	}
	return "", false, fmt.Errorf("team: select an agent (tab to the agents), or a queue whose head needs a team")
}

func (m *Model) askTeamPause() tea.Cmd {
	team, paused, err := m.teamTarget()
	if err != nil {
		return m.fail(err)
	}
	st := router.TeamPaused
	if paused {
		st = router.TeamActive
	}
	return m.askTeam(m.org.name, team, st, "")
}

func (m *Model) askTeam(org, team string, st router.TeamStatus, reason string) tea.Cmd {
	if st == router.TeamPaused && reason == "" {
		reason = ops.ConsolePauseReason(m.opts.Operator)
	}
	m.confirm = &confirmState{action: "team", prompt: present.AskTeam(org, team, st, reason),
		cmd: m.call(actionTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
			r, err := api.SetTeamStatus(ctx, org, team, st, reason)
			return actionMsg{action: "team", text: present.ActionOutcome(r), err: err}
		})}
	return nil
}

func (m *Model) cmdTeam(args []string) tea.Cmd {
	verb := strings.ToLower(args[0])
	if verb != "pause" && verb != "resume" {
		return m.fail(fmt.Errorf("usage: :team pause|resume ORG/TEAM [REASON]"))
	}
	ref, err := router.ParseQueueRef(args[1])
	if err != nil {
		return m.fail(fmt.Errorf("malformed team %q: give it as org/team", args[1]))
	}
	st := router.TeamPaused
	if verb == "resume" {
		st = router.TeamActive
	}
	return m.askTeam(ref.Org, ref.Queue, st, strings.Join(args[2:], " "))
}

func (m *Model) cmdAgent(args []string) tea.Cmd {
	ref, err := router.ParseQueueRef(args[0])
	if err != nil {
		return m.fail(fmt.Errorf("malformed agent %q: give it as org/agent", args[0]))
	}
	st, err := router.ParseAgentStatus(args[1])
	if err != nil {
		return m.fail(err)
	}
	return m.askAgent(ref.Org, ref.Queue, st)
}
