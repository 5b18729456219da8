package memstore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

func (s *Store) queueOf(org, queue string) (*queueData, error) {
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	q := o.queues[queue]
	if q == nil {
		return nil, router.NotFoundf("queue %s/%s does not exist", org, queue)
	}
	return q, nil
}

func timeCopy(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func (s *Store) PauseQueue(ctx context.Context, req router.PauseRequest) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	q, err := s.queueOf(req.Org, req.Queue)
	if err != nil {
		return router.ActionResult{}, err
	}
	until := timeCopy(req.Until)
	p := &q.q.Pause
	sameUntil := (until == nil && p.Until == nil) || (until != nil && p.Until != nil && until.Equal(*p.Until))
	if q.q.Paused && p.Reason == req.Reason && sameUntil {
		return router.ActionResult{Message: fmt.Sprintf("queue %s/%s is already paused", req.Org, req.Queue)}, nil
	}
	was := q.q.Paused
	if !was || p.At == nil {
		p.At = timeCopy(&req.At)
	}
	q.q.Paused = true
	p.By, p.Reason, p.Until = req.Actor.String(), req.Reason, until
	s.appendEvent(actorEvent(req.Org, router.EventQueuePaused, 0, req.Queue, req.Actor, req.At.UTC(),
		pauseDetail(req.Reason, until, was)))
	msg := fmt.Sprintf("queue %s/%s paused", req.Org, req.Queue)
	if was {
		msg = fmt.Sprintf("queue %s/%s: pause updated", req.Org, req.Queue)
	}
	return router.ActionResult{Changed: true, Message: msg}, nil
}

// pauseDetail is the detail of a queue_paused event, as pgstore writes it.
func pauseDetail(reason string, until *time.Time, updated bool) []byte {
	var u any
	if until != nil {
		u = until.UTC()
	}
	return router.Detail("reason", reason, "until", u, "updated", updated)
}

func (s *Store) ResumeExpired(ctx context.Context, now time.Time, actor router.Actor) ([]router.QueueRef, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []router.QueueRef
	for org, o := range s.orgs {
		for id, q := range o.queues {
			if q.q.Paused && q.q.Pause.Until != nil && !q.q.Pause.Until.After(now) {
				out = append(out, router.QueueRef{Org: org, Queue: id})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Org != out[j].Org {
			return out[i].Org < out[j].Org
		}
		return out[i].Queue < out[j].Queue
	})
	for _, ref := range out {
		q := s.orgs[ref.Org].queues[ref.Queue]
		p := q.q.Pause
		q.q.Paused, q.q.Pause = false, router.PauseInfo{}
		s.appendEvent(actorEvent(ref.Org, router.EventQueueResumed, 0, ref.Queue, actor, now.UTC(),
			router.Detail("expired", true, "paused_by", p.By, "pause_reason", p.Reason, "paused_until", p.Until)))
		s.notify(ref.Org)
	}
	return out, nil
}

func (s *Store) SetTeamStatusBy(ctx context.Context, req router.TeamStatusRequest) (router.ActionResult, error) {
	if req.Status != router.TeamActive && req.Status != router.TeamPaused {
		return router.ActionResult{}, fmt.Errorf("unknown team status %q", req.Status)
	}
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return router.ActionResult{}, err
	}
	t := o.teams[req.Team]
	if t == nil {
		return router.ActionResult{}, router.NotFoundf("team %s/%s does not exist", req.Org, req.Team)
	}
	if t.Status == req.Status {
		return router.ActionResult{Message: fmt.Sprintf("team %s/%s is already %s", req.Org, req.Team, t.Status)}, nil
	}
	t.Status, t.Pause = req.Status, router.PauseInfo{}
	kind := router.EventTeamResumed
	if req.Status == router.TeamPaused {
		kind = router.EventTeamPaused
		t.Pause = router.PauseInfo{By: req.Actor.String(), Reason: req.Reason, At: timeCopy(&req.At)}
	} else {
		s.notify(req.Org)
	}
	s.appendEvent(actorEvent(req.Org, kind, 0, "", req.Actor, req.At.UTC(), router.Detail("team", req.Team, "reason", req.Reason)))
	return router.ActionResult{Changed: true, Message: fmt.Sprintf("team %s/%s %s", req.Org, req.Team, req.Status)}, nil
}

func (s *Store) SetAgentStatusBy(ctx context.Context, req router.AgentStatusRequest) (router.ActionResult, error) {
	if _, err := router.ParseAgentStatus(string(req.Status)); err != nil {
		return router.ActionResult{}, err
	}
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return router.ActionResult{}, err
	}
	a := o.agents[req.Agent]
	if a == nil {
		return router.ActionResult{}, router.NotFoundf("agent %s/%s does not exist", req.Org, req.Agent)
	}
	if a.Status == req.Status {
		return router.ActionResult{Message: fmt.Sprintf("agent %s/%s is already %s", req.Org, req.Agent, a.Status)}, nil
	}
	from := a.Status
	a.Status = req.Status
	if req.Status == router.AgentAvailable {
		s.notify(req.Org)
	}
	s.appendEvent(actorEvent(req.Org, router.EventAgentStatusChanged, 0, "", req.Actor, req.At.UTC(),
		router.Detail("agent", req.Agent, "from", string(from), "to", string(req.Status))))
	return router.ActionResult{Changed: true, Message: fmt.Sprintf("agent %s/%s %s", req.Org, req.Agent, req.Status)}, nil
}
