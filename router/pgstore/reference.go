package pgstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/routeops/routeops/router"
)

func (s *Store) UpsertOrg(ctx context.Context, o router.Org) error {
	if err := router.CheckID("org", o.ID); err != nil {
		return err
	}
	_, err := s.w.Exec(ctx, `INSERT INTO orgs (id, name) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`, o.ID, o.Name)
	return s.wrap(err)
}

func (s *Store) UpsertQueue(ctx context.Context, q router.Queue) error {
	if err := router.CheckID("queue", q.ID); err != nil {
		return err
	}
	_, err := s.w.Exec(ctx, `WITH up AS (
			INSERT INTO queues (org_id, id, priority, paused) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, id) DO UPDATE SET priority = EXCLUDED.priority, paused = EXCLUDED.paused,
				paused_by = CASE WHEN EXCLUDED.paused THEN queues.paused_by ELSE '' END,
				pause_reason = CASE WHEN EXCLUDED.paused THEN queues.pause_reason ELSE '' END,
				paused_at = CASE WHEN EXCLUDED.paused THEN queues.paused_at END,
				paused_until = CASE WHEN EXCLUDED.paused THEN queues.paused_until END
			RETURNING org_id)
		SELECT pg_notify($5, org_id) FROM up`, q.OrgID, q.ID, q.Priority, q.Paused, s.WakeChannel())
	return s.wrapFK(err, "org %s does not exist", q.OrgID)
}

func (s *Store) UpsertTeam(ctx context.Context, t router.Team) error {
	if err := router.CheckID("team", t.ID); err != nil {
		return err
	}
	st := t.Status
	if st == "" {
		st = router.TeamActive
	}
	_, err := s.w.Exec(ctx, `INSERT INTO teams (org_id, id, status) VALUES ($1, $2, $3)
		ON CONFLICT (org_id, id) DO UPDATE SET status = EXCLUDED.status,
			paused_by = CASE WHEN EXCLUDED.status = 'paused' THEN teams.paused_by ELSE '' END,
			pause_reason = CASE WHEN EXCLUDED.status = 'paused' THEN teams.pause_reason ELSE '' END,
			paused_at = CASE WHEN EXCLUDED.status = 'paused' THEN teams.paused_at END`, t.OrgID, t.ID, string(st))
	return s.wrapFK(err, "org %s does not exist", t.OrgID)
}

func sortedSkills(sk []string) []string {
	out := slices.Clone(sk)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func (s *Store) UpsertAgent(ctx context.Context, a router.Agent) error {
	if err := router.CheckID("agent", a.ID); err != nil {
		return err
	}
	if a.Capacity < 0 {
		return fmt.Errorf("agent capacity must not be negative")
	}
	st := a.Status
	if st == "" {
		st = router.AgentAvailable
	}
	_, err := s.w.Exec(ctx, `WITH up AS (
			INSERT INTO agents (org_id, id, team_id, skills, status, capacity) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (org_id, id) DO UPDATE SET team_id = EXCLUDED.team_id, skills = EXCLUDED.skills,
				status = EXCLUDED.status, capacity = EXCLUDED.capacity
			RETURNING org_id)
		SELECT pg_notify($7, org_id) FROM up`,
		a.OrgID, a.ID, a.TeamID, sortedSkills(a.Skills), string(st), a.Capacity, s.WakeChannel())
	return s.wrapFK(err, "team %s/%s does not exist", a.OrgID, a.TeamID)
}

func (s *Store) SetAgentStatus(ctx context.Context, req router.AgentStatusRequest) error {
	tag, err := s.w.Exec(ctx, `WITH up AS (
			UPDATE agents SET status = $3 WHERE org_id = $1 AND id = $2 RETURNING org_id, status)
		SELECT pg_notify($4, org_id) FROM up WHERE status = 'available'`, req.Org, req.Agent, string(req.Status), s.WakeChannel())
	if err != nil {
		return s.wrap(err)
	}
	_ = tag
	var n int
	if err := s.w.QueryRow(ctx, `SELECT count(*) FROM agents WHERE org_id = $1 AND id = $2`, req.Org, req.Agent).Scan(&n); err != nil {
		return s.wrap(err)
	}
	if n == 0 {
		return router.NotFoundf("agent %s/%s does not exist", req.Org, req.Agent)
	}
	return nil
}

func (s *Store) SetTeamStatus(ctx context.Context, req router.TeamStatusRequest) error {
	var found bool
	err := s.w.QueryRow(ctx, `WITH up AS (
			UPDATE teams SET status = $3,
				paused_by = CASE WHEN $3 = 'paused' AND status = 'paused' THEN paused_by ELSE '' END,
				pause_reason = CASE WHEN $3 = 'paused' AND status = 'paused' THEN pause_reason ELSE '' END,
				paused_at = CASE WHEN $3 = 'paused' AND status = 'paused' THEN paused_at END
			WHERE org_id = $1 AND id = $2 RETURNING org_id, status),
		n AS (SELECT pg_notify($4, org_id) FROM up WHERE status = 'active')
		SELECT EXISTS (SELECT 1 FROM up), (SELECT count(*) FROM n)`, req.Org, req.Team, string(req.Status), s.WakeChannel()).Scan(&found, new(int))
	if err != nil {
		return s.wrap(err)
	}
	if !found {
		return router.NotFoundf("team %s/%s does not exist", req.Org, req.Team)
	}
	return nil
}

func (s *Store) orgExists(ctx context.Context, d *db, org string) error {
	var ok bool
	if err := d.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)`, org).Scan(&ok); err != nil {
		return s.wrap(err)
	}
	if !ok {
		return router.NotFoundf("org %s does not exist", org)
	}
	return nil
}

func (s *Store) ListQueues(ctx context.Context, org string) ([]router.Queue, error) {
	if err := s.orgExists(ctx, s.rd(ctx), org); err != nil {
		return nil, err
	}
	rows, err := s.rd(ctx).Query(ctx, `SELECT org_id, id, priority, paused, paused_by, pause_reason, paused_at, paused_until
		FROM queues WHERE org_id = $1
		ORDER BY priority DESC, id COLLATE "C"`, org)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Queue, error) {
		var q router.Queue
		err := r.Scan(&q.OrgID, &q.ID, &q.Priority, &q.Paused, &q.Pause.By, &q.Pause.Reason, &q.Pause.At, &q.Pause.Until)
		utcp(q.Pause.At)
		utcp(q.Pause.Until)
		return q, err
	})
	return out, s.wrap(err)
}

func (s *Store) ListAgents(ctx context.Context, org string) ([]router.Agent, error) {
	if err := s.orgExists(ctx, s.rd(ctx), org); err != nil {
		return nil, err
	}
	rows, err := s.rd(ctx).Query(ctx, `SELECT a.org_id, a.id, a.team_id, a.skills, a.status, a.capacity, a.load, coalesce(t.status, '')
		FROM agents a LEFT JOIN teams t ON t.org_id = a.org_id AND t.id = a.team_id
		WHERE a.org_id = $1 ORDER BY a.id COLLATE "C"`, org)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Agent, error) {
		var a router.Agent
		var st, ts string
		err := r.Scan(&a.OrgID, &a.ID, &a.TeamID, &a.Skills, &st, &a.Capacity, &a.Load, &ts)
		a.Status, a.TeamStatus = router.AgentStatus(st), router.TeamStatus(ts)
		return a, err
	})
	return out, s.wrap(err)
}

func (s *Store) ListTeams(ctx context.Context, org string) ([]router.Team, error) {
	if err := s.orgExists(ctx, s.rd(ctx), org); err != nil {
		return nil, err
	}
	rows, err := s.rd(ctx).Query(ctx, `SELECT org_id, id, status, paused_by, pause_reason, paused_at
		FROM teams WHERE org_id = $1 ORDER BY id COLLATE "C"`, org)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Team, error) {
		var t router.Team
		var st string
		err := r.Scan(&t.OrgID, &t.ID, &st, &t.Pause.By, &t.Pause.Reason, &t.Pause.At)
		t.Status = router.TeamStatus(st)
		utcp(t.Pause.At)
		return t, err
	})
	return out, s.wrap(err)
}
