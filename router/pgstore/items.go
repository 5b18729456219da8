package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

func (s *Store) GetItem(ctx context.Context, id int64) (router.WorkItem, error) {
	// work_item_orgs maps an id to its org, so that the lookup is the
	// primary key of work_items (see migration 007).
	it, err := scanItem(s.pool.QueryRow(ctx, `SELECT `+itemCols+` FROM work_items
		WHERE org_id = (SELECT org_id FROM work_item_orgs WHERE id = $1) AND id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return it, router.NotFoundf("item %d does not exist", id)
	}
	return it, s.wrap(err)
}

func (s *Store) ListItems(ctx context.Context, f router.ItemFilter) ([]router.WorkItem, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	// With an org, the primary key (org_id, id) pages in id order. Without
	// one, work_item_orgs does (its primary key is id), and each row is
	// fetched by the primary key of work_items.
	from := `work_items w`
	where := []string{"w.id > $1"}
	order := "w.id"
	args := []any{f.AfterID}
	if f.Org != "" {
		args = append(args, f.Org)
		where = append(where, fmt.Sprintf("w.org_id = $%d", len(args)))
	} else {
		from = `work_item_orgs o JOIN work_items w ON w.org_id = o.org_id AND w.id = o.id`
		where[0], order = "o.id > $1", "o.id"
	}
	if f.Queue != "" {
		args = append(args, f.Queue)
		where = append(where, fmt.Sprintf("w.queue_id = $%d", len(args)))
	}
	if f.State != "" {
		args = append(args, string(f.State))
		where = append(where, fmt.Sprintf("w.state = $%d", len(args)))
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+itemColsAs("w")+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(args)), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.WorkItem, error) { return scanItem(r) })
	return out, s.wrap(err)
}

func (s *Store) ItemRevisions(ctx context.Context, org string, item int64) ([]router.Revision, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_items WHERE org_id = $1 AND id = $2)`, org, item).Scan(&ok); err != nil {
		return nil, s.wrap(err)
	}
	if !ok {
		return nil, router.NotFoundf("item %d does not exist in org %s", item, org)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+revCols+` FROM work_item_revisions WHERE org_id = $1 AND work_item_id = $2 ORDER BY id`, org, item)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Revision, error) { return scanRevision(r) })
	return out, s.wrap(err)
}

func (s *Store) Events(ctx context.Context, f router.EventFilter) ([]router.Event, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.AfterID > 0 {
		add("id > $%d", f.AfterID)
	}
	if f.Org != "" {
		add("org_id = $%d", f.Org)
	}
	if f.ItemID != 0 {
		add("work_item_id = $%d", f.ItemID)
	}
	if f.OperationID != "" {
		add("operation_id = $%d", f.OperationID)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until.UTC())
	}
	if len(f.Kinds) > 0 {
		add("kind = ANY($%d)", f.Kinds)
		if !slices.Contains(f.Kinds, router.EventAssigned) && !slices.Contains(f.Kinds, router.EventCompleted) {
			// Stated literally so the planner can use the events_incident
			// partial index (it cannot prove it from the array parameter).
			where = append(where, "kind NOT IN ('assigned', 'completed')")
		}
	}
	q := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit > 0 && f.NewestOf {
		args = append(args, f.Limit)
		q = `SELECT * FROM (` + q + fmt.Sprintf(` ORDER BY at DESC, id DESC LIMIT $%d) e ORDER BY 3, 2`, len(args))
	} else {
		q += ` ORDER BY at, id`
		if f.Limit > 0 {
			args = append(args, f.Limit)
			q += fmt.Sprintf(` LIMIT $%d`, len(args))
		}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Event, error) { return scanEvent(r) })
	return out, s.wrap(err)
}

// locate finds an item's org, refusing an id given with another org.
func locate(ctx context.Context, tx pgx.Tx, org string, id int64) (string, error) {
	var got string
	err := tx.QueryRow(ctx, `SELECT w.org_id FROM work_item_orgs o
		JOIN work_items w ON w.org_id = o.org_id AND w.id = o.id WHERE o.id = $1`, id).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", router.NotFoundf("item %d does not exist", id)
	}
	if err != nil {
		return "", err
	}
	if org != "" && got != org {
		return "", router.NotFoundf("item %d does not exist in org %s", id, org)
	}
	return got, nil
}

// Quarantine moves a queued item aside. The UPDATE's state condition is
// re-checked after waiting for any routing transaction that holds the row,
// so a racing assignment leaves the item assigned (and the quarantine is
// refused), never both.
func (s *Store) Quarantine(ctx context.Context, org string, item int64, reason string, actor router.Actor, at time.Time) (router.ActionResult, error) {
	var res router.ActionResult
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		o, err := locate(ctx, tx, org, item)
		if err != nil {
			return err
		}
		var queue string
		err = tx.QueryRow(ctx, `UPDATE work_items SET state = 'quarantined', quarantine_reason = $3, skipped = false
			WHERE org_id = $1 AND id = $2 AND state = 'queued' RETURNING queue_id`, o, item, reason).Scan(&queue)
		if errors.Is(err, pgx.ErrNoRows) {
			var st string
			if err := tx.QueryRow(ctx, `SELECT state FROM work_items WHERE org_id = $1 AND id = $2`, o, item).Scan(&st); err != nil {
				return err
			}
			res.State = router.ItemState(st)
			if res.State == router.StateQuarantined {
				res.Message = fmt.Sprintf("item %d is already quarantined", item)
				return nil
			}
			return router.Conflictf("item %d is %s; only a queued item can be quarantined", item, st)
		}
		if err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, State: router.StateQuarantined, Message: fmt.Sprintf("item %d quarantined", item)}
		return insertEvent(ctx, tx, router.Event{OrgID: o, At: at, Kind: router.EventQuarantined, WorkItemID: item, QueueID: queue,
			Detail: router.Detail("cause", router.CauseOperator, "reason", reason)}, actor)
	})
	return res, err
}

func (s *Store) Release(ctx context.Context, org string, item int64, actor router.Actor, at time.Time) (router.ActionResult, error) {
	var res router.ActionResult
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		o, err := locate(ctx, tx, org, item)
		if err != nil {
			return err
		}
		var queue string
		var enq time.Time
		err = tx.QueryRow(ctx, `UPDATE work_items SET state = 'queued', skipped = false, fault_cause = '', quarantine_reason = ''
			WHERE org_id = $1 AND id = $2 AND (state = 'quarantined' OR (state = 'queued' AND skipped))
			RETURNING queue_id, enqueued_at`, o, item).Scan(&queue, &enq)
		if errors.Is(err, pgx.ErrNoRows) {
			var st string
			if err := tx.QueryRow(ctx, `SELECT state FROM work_items WHERE org_id = $1 AND id = $2`, o, item).Scan(&st); err != nil {
				return err
			}
			res.State = router.ItemState(st)
			if res.State == router.StateQueued {
				res.Message = fmt.Sprintf("item %d is already queued", item)
				return nil
			}
			return router.Conflictf("item %d is %s; only a quarantined or skipped item can be released", item, st)
		}
		if err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, State: router.StateQueued, Message: fmt.Sprintf("item %d released to %s", item, queue)}
		if err := insertEvent(ctx, tx, router.Event{OrgID: o, At: at, Kind: router.EventReleased, WorkItemID: item, QueueID: queue,
			Detail: router.Detail("enqueued_at", enq.UTC())}, actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, o)
		return err
	})
	return res, err
}

func (s *Store) SetQueuePaused(ctx context.Context, org, queue string, paused bool, actor router.Actor, at time.Time) (router.ActionResult, error) {
	var res router.ActionResult
	word := map[bool]string{true: "paused", false: "flowing"}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		// A pause without a reason (the console's, a drill's) still says
		// who; a resume clears the pause's who, why and until.
		tag, err := tx.Exec(ctx, `UPDATE queues SET paused = $3,
				paused_by = CASE WHEN $3 THEN $4 ELSE '' END, pause_reason = '',
				paused_at = CASE WHEN $3 THEN $5::timestamptz END, paused_until = NULL
			WHERE org_id = $1 AND id = $2 AND paused <> $3`, org, queue, paused, actor.String(), at.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE org_id = $1 AND id = $2)`, org, queue).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return router.NotFoundf("queue %s/%s does not exist", org, queue)
			}
			res.Message = fmt.Sprintf("queue %s/%s is already %s", org, queue, word[paused])
			return nil
		}
		kind := router.EventQueueResumed
		if paused {
			kind = router.EventQueuePaused
		}
		res = router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s %s", org, queue, word[paused])}
		if err := insertEvent(ctx, tx, router.Event{OrgID: org, At: at, Kind: kind, QueueID: queue}, actor); err != nil {
			return err
		}
		if !paused {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, org)
		}
		return err
	})
	return res, err
}

func (s *Store) orgExists(ctx context.Context, org string) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)`, org).Scan(&ok); err != nil {
		return s.wrap(err)
	}
	if !ok {
		return router.NotFoundf("org %s does not exist", org)
	}
	return nil
}

func (s *Store) ListQueues(ctx context.Context, org string) ([]router.Queue, error) {
	if err := s.orgExists(ctx, org); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT org_id, id, priority, paused, paused_by, pause_reason, paused_at, paused_until
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
	if err := s.orgExists(ctx, org); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT a.org_id, a.id, a.team_id, a.skills, a.status, a.capacity, a.load, coalesce(t.status, '')
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
	if err := s.orgExists(ctx, org); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT org_id, id, status, paused_by, pause_reason, paused_at
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
