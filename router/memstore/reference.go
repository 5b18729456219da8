package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/routeops/routeops/router"
)

func (s *Store) UpsertOrg(ctx context.Context, o router.Org) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := router.CheckID("org", o.ID); err != nil {
		return err
	}
	if d := s.orgs[o.ID]; d != nil {
		d.org = o
		return nil
	}
	s.orgs[o.ID] = &orgData{org: o, queues: map[string]*queueData{}, teams: map[string]*router.Team{},
		agents: map[string]*router.Agent{}, queued: map[string]map[int64]struct{}{}}
	return nil
}

func (s *Store) UpsertQueue(ctx context.Context, q router.Queue) error {
	if err := router.CheckID("queue", q.ID); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(q.OrgID)
	if err != nil {
		return err
	}
	q.Pause = router.PauseInfo{}
	if d := o.queues[q.ID]; d != nil {
		if q.Paused && d.q.Paused {
			q.Pause = d.q.Pause // as pgstore: an upsert keeps a pause's who, why and until
		}
		d.q = q
	} else {
		o.queues[q.ID] = &queueData{q: q}
	}
	s.notify(q.OrgID)
	return nil
}

func (s *Store) UpsertTeam(ctx context.Context, t router.Team) error {
	if err := router.CheckID("team", t.ID); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(t.OrgID)
	if err != nil {
		return err
	}
	if t.Status == "" {
		t.Status = router.TeamActive
	}
	tc := t
	tc.Pause = router.PauseInfo{}
	if old := o.teams[t.ID]; old != nil && old.Status == router.TeamPaused && t.Status == router.TeamPaused {
		tc.Pause = old.Pause // as pgstore: an upsert keeps a pause's who and why
	}
	o.teams[t.ID] = &tc
	s.notify(t.OrgID)
	return nil
}

func (s *Store) UpsertAgent(ctx context.Context, a router.Agent) error {
	if err := router.CheckID("agent", a.ID); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(a.OrgID)
	if err != nil {
		return err
	}
	if _, ok := o.teams[a.TeamID]; !ok {
		return router.NotFoundf("team %s/%s does not exist", a.OrgID, a.TeamID)
	}
	if a.Capacity < 0 {
		return fmt.Errorf("agent capacity must not be negative")
	}
	ac := a
	if ac.Status == "" {
		ac.Status = router.AgentAvailable
	}
	ac.Skills = slices.Clone(a.Skills)
	ac.TeamStatus = ""
	if old := o.agents[a.ID]; old != nil {
		ac.Load = old.Load
	} else {
		ac.Load = 0
	}
	o.agents[a.ID] = &ac
	s.notify(a.OrgID)
	return nil
}

func (s *Store) SetAgentStatus(ctx context.Context, req router.AgentStatusRequest) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return err
	}
	a := o.agents[req.Agent]
	if a == nil {
		return router.NotFoundf("agent %s/%s does not exist", req.Org, req.Agent)
	}
	a.Status = req.Status
	if req.Status == router.AgentAvailable {
		s.notify(req.Org)
	}
	return nil
}

func (s *Store) SetTeamStatus(ctx context.Context, req router.TeamStatusRequest) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return err
	}
	t := o.teams[req.Team]
	if t == nil {
		return router.NotFoundf("team %s/%s does not exist", req.Org, req.Team)
	}
	if req.Status != router.TeamPaused || t.Status != router.TeamPaused {
		t.Pause = router.PauseInfo{}
	}
	t.Status = req.Status
	if req.Status == router.TeamActive {
		s.notify(req.Org)
	}
	return nil
}

func (s *Store) ListQueues(ctx context.Context, org string) ([]router.Queue, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	var out []router.Queue
	for _, q := range o.sortedQueues() {
		out = append(out, q.q)
	}
	return out, nil
}

func (s *Store) ListAgents(ctx context.Context, org string) ([]router.Agent, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	out := make([]router.Agent, 0, len(o.agents))
	for _, a := range o.agents {
		ac := *a
		ac.Skills = slices.Clone(a.Skills)
		if t := o.teams[a.TeamID]; t != nil {
			ac.TeamStatus = t.Status
		}
		out = append(out, ac)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Store) ListTeams(ctx context.Context, org string) ([]router.Team, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	out := make([]router.Team, 0, len(o.teams))
	for _, t := range o.teams {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
