package router

import (
	"context"
	"fmt"
	"time"
)

// ControlStore is the part of Store that changes who and what takes work,
// with the operator and the reason journalled: pauses with a reason and an
// end, team status, agent status.
type ControlStore interface {
	// PauseQueue pauses a queue with a reason, who paused it, and
	// optionally when it resumes by itself. Pausing a paused queue updates
	// its reason and end (and journals that) when they differ, and is
	// otherwise left as is (Changed false).
	PauseQueue(ctx context.Context, req PauseRequest) (ActionResult, error)
	// SetTeamStatusBy pauses (with a reason) or resumes a team, journalling
	// team_paused or team_resumed; repeating is harmless (Changed false).
	SetTeamStatusBy(ctx context.Context, req TeamStatusRequest) (ActionResult, error)
	// SetAgentStatusBy changes an agent's presence, journalling
	// agent_status_changed; repeating is harmless (Changed false).
	SetAgentStatusBy(ctx context.Context, req AgentStatusRequest) (ActionResult, error)
}

// Event kinds of the controls.
const (
	EventTeamPaused         = "team_paused"
	EventTeamResumed        = "team_resumed"
	EventAgentStatusChanged = "agent_status_changed"
)

// PauseRequest pauses one queue.
type PauseRequest struct {
	Org, Queue string
	Reason     string
	// Until, when set, is when an engine resumes the queue.
	Until *time.Time
	Actor Actor
	At    time.Time
}

// PauseInfo says who paused a queue or a team, why, and until when.
type PauseInfo struct {
	By     string     `json:"paused_by,omitempty"`
	Reason string     `json:"pause_reason,omitempty"`
	At     *time.Time `json:"paused_at,omitempty"`
	Until  *time.Time `json:"paused_until,omitempty"`
}

// TeamStatusRequest changes one team's status: SetTeamStatus (the
// platform's, which journals nothing and ignores Reason and Actor) and
// SetTeamStatusBy (an operator's, journalled).
type TeamStatusRequest struct {
	Org, Team string
	Status    TeamStatus
	Reason    string
	Actor     Actor
	At        time.Time
}

// AgentStatusRequest changes one agent's presence: SetAgentStatus (the
// platform's, which journals nothing and ignores Actor) and
// SetAgentStatusBy (an operator's, journalled).
type AgentStatusRequest struct {
	Org, Agent string
	Status     AgentStatus
	Actor      Actor
	At         time.Time
}

// ParseAgentStatus validates an agent status name.
func ParseAgentStatus(s string) (AgentStatus, error) {
	switch AgentStatus(s) {
	case AgentAvailable, AgentAway, AgentOffline:
		return AgentStatus(s), nil
	}
	return "", &ParseError{What: "agent status", Value: s, Allowed: "available, away, offline"}
}

// ParseError is a value an operator typed that is not one of the allowed.
type ParseError struct{ What, Value, Allowed string }

func (e *ParseError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("unknown %s %q (allowed: %s)", e.What, v, e.Allowed)
}
