package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/routeops/routeops/router"
)

// pauseDetail is the detail of a queue_paused event.
func pauseDetail(reason string, until *time.Time, updated bool) []byte {
	var u any
	if until != nil {
		u = until.UTC()
	}
	return router.Detail("reason", reason, "until", u, "updated", updated)
}

func (s *Store) PauseQueue(ctx context.Context, req router.PauseRequest) (router.ActionResult, error) {
	var res router.ActionResult
	var until any
	if req.Until != nil {
		until = req.Until.UTC()
	}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		var paused bool
		var reason string
		var cur pgtype.Timestamptz
		err := tx.QueryRow(ctx, `SELECT paused, pause_reason, paused_until FROM queues WHERE org_id = $1 AND id = $2 FOR UPDATE`,
			req.Org, req.Queue).Scan(&paused, &reason, &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return router.NotFoundf("queue %s/%s does not exist", req.Org, req.Queue)
		}
		if err != nil {
			return err
		}
		sameUntil := (req.Until == nil && !cur.Valid) || (req.Until != nil && cur.Valid && cur.Time.Equal(req.Until.UTC().Truncate(time.Microsecond)))
		if paused && reason == req.Reason && sameUntil {
			res = router.ActionResult{Message: fmt.Sprintf("queue %s/%s is already paused", req.Org, req.Queue)}
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE queues SET paused = true, paused_by = $3, pause_reason = $4,
				paused_at = CASE WHEN paused THEN coalesce(paused_at, $5) ELSE $5 END, paused_until = $6
			WHERE org_id = $1 AND id = $2`, req.Org, req.Queue, req.Actor.String(), req.Reason, req.At.UTC(), until); err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s paused", req.Org, req.Queue)}
		if paused {
			res.Message = fmt.Sprintf("queue %s/%s: pause updated", req.Org, req.Queue)
		}
		return insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: router.EventQueuePaused, QueueID: req.Queue,
			Detail: pauseDetail(req.Reason, req.Until, paused)}, req.Actor)
	})
	return res, err
}

// ResumeExpired locks the expired pauses, so that of several engines
// calling it at once one resumes each queue and the others find it
// flowing (the lock's re-check sees paused = false).
func (s *Store) ResumeExpired(ctx context.Context, now time.Time, actor router.Actor) ([]router.QueueRef, error) {
	var due bool
	if err := s.w.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE paused AND paused_until IS NOT NULL AND paused_until <= $1)`,
		now.UTC()).Scan(&due); err != nil || !due {
		return nil, s.wrap(err)
	}
	var out []router.QueueRef
	err := s.withTx(ctx, false, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT org_id, id, paused_by, pause_reason, paused_at, paused_until FROM queues
			WHERE paused AND paused_until IS NOT NULL AND paused_until <= $1
			ORDER BY org_id, id FOR UPDATE`, now.UTC())
		if err != nil {
			return err
		}
		type expired struct {
			ref           router.QueueRef
			by, reason    string
			at, untilTime pgtype.Timestamptz
		}
		var due []expired
		for rows.Next() {
			var e expired
			if err := rows.Scan(&e.ref.Org, &e.ref.Queue, &e.by, &e.reason, &e.at, &e.untilTime); err != nil {
				rows.Close()
				return err
			}
			due = append(due, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range due {
			if _, err := tx.Exec(ctx, `UPDATE queues SET paused = false, paused_by = '', pause_reason = '', paused_at = NULL,
				paused_until = NULL WHERE org_id = $1 AND id = $2`, e.ref.Org, e.ref.Queue); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, router.Event{OrgID: e.ref.Org, At: now, Kind: router.EventQueueResumed, QueueID: e.ref.Queue,
				Detail: router.Detail("expired", true, "paused_by", e.by, "pause_reason", e.reason,
					"paused_until", tsPtr(e.untilTime))}, actor); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), e.ref.Org); err != nil {
				return err
			}
			out = append(out, e.ref)
		}
		return nil
	})
	return out, err
}

func (s *Store) SetTeamStatusBy(ctx context.Context, req router.TeamStatusRequest) (router.ActionResult, error) {
	var res router.ActionResult
	if req.Status != router.TeamActive && req.Status != router.TeamPaused {
		return res, fmt.Errorf("unknown team status %q", req.Status)
	}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		var st string
		err := tx.QueryRow(ctx, `SELECT status FROM teams WHERE org_id = $1 AND id = $2 FOR UPDATE`, req.Org, req.Team).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return router.NotFoundf("team %s/%s does not exist", req.Org, req.Team)
		}
		if err != nil {
			return err
		}
		if router.TeamStatus(st) == req.Status {
			res = router.ActionResult{Message: fmt.Sprintf("team %s/%s is already %s", req.Org, req.Team, st)}
			return nil
		}
		paused := req.Status == router.TeamPaused
		by, reason := "", ""
		var at any
		kind := router.EventTeamResumed
		if paused {
			by, reason, at, kind = req.Actor.String(), req.Reason, req.At.UTC(), router.EventTeamPaused
		}
		if _, err := tx.Exec(ctx, `UPDATE teams SET status = $3, paused_by = $4, pause_reason = $5, paused_at = $6
			WHERE org_id = $1 AND id = $2`, req.Org, req.Team, string(req.Status), by, reason, at); err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, Message: fmt.Sprintf("team %s/%s %s", req.Org, req.Team, req.Status)}
		if err := insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: kind,
			Detail: router.Detail("team", req.Team, "reason", req.Reason)}, req.Actor); err != nil {
			return err
		}
		if !paused {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), req.Org)
		}
		return err
	})
	return res, err
}

func (s *Store) SetAgentStatusBy(ctx context.Context, req router.AgentStatusRequest) (router.ActionResult, error) {
	var res router.ActionResult
	if _, err := router.ParseAgentStatus(string(req.Status)); err != nil {
		return res, err
	}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		var st string
		err := tx.QueryRow(ctx, `SELECT status FROM agents WHERE org_id = $1 AND id = $2 FOR UPDATE`, req.Org, req.Agent).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return router.NotFoundf("agent %s/%s does not exist", req.Org, req.Agent)
		}
		if err != nil {
			return err
		}
		if router.AgentStatus(st) == req.Status {
			res = router.ActionResult{Message: fmt.Sprintf("agent %s/%s is already %s", req.Org, req.Agent, st)}
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE agents SET status = $3 WHERE org_id = $1 AND id = $2`,
			req.Org, req.Agent, string(req.Status)); err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, Message: fmt.Sprintf("agent %s/%s %s", req.Org, req.Agent, req.Status)}
		if err := insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: router.EventAgentStatusChanged,
			Detail: router.Detail("agent", req.Agent, "from", st, "to", string(req.Status))}, req.Actor); err != nil {
			return err
		}
		if req.Status == router.AgentAvailable {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), req.Org)
		}
		return err
	})
	return res, err
}
