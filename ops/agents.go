package ops

import (
	"context"
	"time"

	"github.com/routeops/routeops/router"
)

// Agents lists an org's agents, sorted by id, with their status and load,
// for the console's org view and agents list. It is a read and needs no
// guard.
func (o *Ops) Agents(ctx context.Context, org string) ([]router.Agent, error) {
	return o.store.ListAgents(ctx, org)
}

// Teams lists the teams of one org, or of every org when org is empty,
// with who paused them and why. It is a read.
func (o *Ops) Teams(ctx context.Context, org string) ([]router.Team, error) {
	orgs := []string{org}
	if org == "" {
		var err error
		if orgs, err = o.store.ListOrgs(ctx); err != nil {
			return nil, err
		}
	}
	out := []router.Team{}
	for _, id := range orgs {
		ts, err := o.store.ListTeams(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// SetTeamStatus pauses a team (with a reason) or resumes it, journalled
// with the operator; refused read-only.
func (o *Ops) SetTeamStatus(ctx context.Context, org, team string, st router.TeamStatus, reason string) (router.ActionResult, error) {
	if err := CheckTeamStatus(st, reason); err != nil {
		return router.ActionResult{}, err
	}
	action := ActionTeamResume
	if st == router.TeamPaused {
		action = ActionTeamPause
	}
	if err := o.guard(action); err != nil {
		return router.ActionResult{}, err
	}
	return o.store.SetTeamStatusBy(ctx, router.TeamStatusRequest{Org: org, Team: team, Status: st, Reason: reason,
		Actor: o.Actor, At: o.Clock.Now()})
}

// SetAgentStatus changes an agent's presence, journalled with the
// operator; refused read-only.
func (o *Ops) SetAgentStatus(ctx context.Context, org, agent string, st router.AgentStatus) (router.ActionResult, error) {
	if _, err := router.ParseAgentStatus(string(st)); err != nil {
		return router.ActionResult{}, requestErr("%s", err.Error())
	}
	if err := o.guard(ActionAgent); err != nil {
		return router.ActionResult{}, err
	}
	return o.store.SetAgentStatusBy(ctx, router.AgentStatusRequest{Org: org, Agent: agent, Status: st, Actor: o.Actor, At: o.Clock.Now()})
}

// Pause pauses a queue with a reason, and for d when d > 0 (an engine
// resumes it then); refused read-only.
func (o *Ops) Pause(ctx context.Context, ref router.QueueRef, reason string, d time.Duration) (router.ActionResult, error) {
	if err := CheckPause(reason, d); err != nil {
		return router.ActionResult{}, err
	}
	if err := o.guard(ActionPause); err != nil {
		return router.ActionResult{}, err
	}
	now := o.Clock.Now()
	req := router.PauseRequest{Org: ref.Org, Queue: ref.Queue, Reason: reason, Actor: o.Actor, At: now}
	if d > 0 {
		until := now.Add(d).UTC().Truncate(time.Microsecond)
		req.Until = &until
	}
	return o.store.PauseQueue(ctx, req)
}
