package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/routeops/routeops/router"
)

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
func (s *Store) Quarantine(ctx context.Context, req router.QuarantineRequest) (router.ActionResult, error) {
	var res router.ActionResult
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		o, err := locate(ctx, tx, req.Org, req.ItemID)
		if err != nil {
			return err
		}
		var queue string
		err = tx.QueryRow(ctx, `UPDATE work_items SET state = 'quarantined', quarantine_reason = $3, skipped = false
			WHERE org_id = $1 AND id = $2 AND state = 'queued' RETURNING queue_id`, o, req.ItemID, req.Reason).Scan(&queue)
		if errors.Is(err, pgx.ErrNoRows) {
			var st string
			if err := tx.QueryRow(ctx, `SELECT state FROM work_items WHERE org_id = $1 AND id = $2`, o, req.ItemID).Scan(&st); err != nil {
				return err
			}
			res.State = router.ItemState(st)
			if res.State == router.StateQuarantined {
				res.Message = fmt.Sprintf("item %d is already quarantined", req.ItemID)
				return nil
			}
			return router.Conflictf("item %d is %s; only a queued item can be quarantined", req.ItemID, st)
		}
		if err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, State: router.StateQuarantined, Message: fmt.Sprintf("item %d quarantined", req.ItemID)}
		return insertEvent(ctx, tx, router.Event{OrgID: o, At: req.At, Kind: router.EventQuarantined, WorkItemID: req.ItemID, QueueID: queue,
			Detail: router.Detail("cause", router.CauseOperator, "reason", req.Reason)}, req.Actor)
	})
	return res, err
}

func (s *Store) Release(ctx context.Context, req router.ReleaseRequest) (router.ActionResult, error) {
	var res router.ActionResult
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		o, err := locate(ctx, tx, req.Org, req.ItemID)
		if err != nil {
			return err
		}
		forced, err := checkReleasable(ctx, tx, o, req)
		if err != nil {
			return err
		}
		var queue string
		var enq time.Time
		err = tx.QueryRow(ctx, `UPDATE work_items SET state = 'queued', skipped = false, fault_cause = '', quarantine_reason = ''
			WHERE org_id = $1 AND id = $2 AND (state = 'quarantined' OR (state = 'queued' AND skipped))
			RETURNING queue_id, enqueued_at`, o, req.ItemID).Scan(&queue, &enq)
		if errors.Is(err, pgx.ErrNoRows) {
			var st string
			if err := tx.QueryRow(ctx, `SELECT state FROM work_items WHERE org_id = $1 AND id = $2`, o, req.ItemID).Scan(&st); err != nil {
				return err
			}
			res.State = router.ItemState(st)
			if res.State == router.StateQueued {
				res.Message = fmt.Sprintf("item %d is already queued", req.ItemID)
				return nil
			}
			return router.Conflictf("item %d is %s; only a quarantined or skipped item can be released", req.ItemID, st)
		}
		if err != nil {
			return err
		}
		res = router.ActionResult{Changed: true, State: router.StateQueued, Message: fmt.Sprintf("item %d released to %s", req.ItemID, queue)}
		detail := router.Detail("enqueued_at", enq.UTC())
		if forced != "" {
			detail = router.Detail("enqueued_at", enq.UTC(), "forced", true, "revision", forced)
		}
		if err := insertEvent(ctx, tx, router.Event{OrgID: o, At: req.At, Kind: router.EventReleased, WorkItemID: req.ItemID, QueueID: queue,
			Detail: detail}, req.Actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), o)
		return err
	})
	return res, err
}

// checkReleasable locks the item and, when it would be released, checks
// its current revision: a missing, oversized or invalid one is refused
// unless req.Force. It returns the verdict a forced release overrode.
func checkReleasable(ctx context.Context, tx pgx.Tx, org string, req router.ReleaseRequest) (string, error) {
	var state string
	var skipped, found, oversized, valid bool
	var rev int64
	err := tx.QueryRow(ctx, `SELECT w.state, w.skipped, w.current_revision_id, r.id IS NOT NULL,
			coalesce(routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit()), false),
			CASE WHEN routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit()) THEN false
			     ELSE coalesce(routeops_attributes_valid(r.attributes), false) END
		FROM work_items w
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE w.org_id = $1 AND w.id = $2
		FOR UPDATE OF w`, org, req.ItemID).Scan(&state, &skipped, &rev, &found, &oversized, &valid)
	if err != nil || !(state == string(router.StateQuarantined) || state == string(router.StateQueued) && skipped) {
		return "", err // the UPDATE that follows says what is wrong with the state
	}
	verdict := ""
	switch {
	case !found:
		verdict = "missing"
	case oversized:
		verdict = "oversized"
	case !valid:
		verdict = "invalid"
	default:
		return "", nil
	}
	if !req.Force {
		return "", router.BrokenRevisionf(req.ItemID, rev, verdict)
	}
	return verdict, nil
}

func (s *Store) SetQueuePaused(ctx context.Context, req router.QueuePauseRequest) (router.ActionResult, error) {
	var res router.ActionResult
	word := map[bool]string{true: "paused", false: "flowing"}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		// A pause without a reason (a drill's) still says who; a resume
		// clears the pause's who, why and until.
		tag, err := tx.Exec(ctx, `UPDATE queues SET paused = $3,
				paused_by = CASE WHEN $3 THEN $4 ELSE '' END, pause_reason = '',
				paused_at = CASE WHEN $3 THEN $5::timestamptz END, paused_until = NULL
			WHERE org_id = $1 AND id = $2 AND paused <> $3`, req.Org, req.Queue, req.Paused, req.Actor.String(), req.At.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE org_id = $1 AND id = $2)`, req.Org, req.Queue).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return router.NotFoundf("queue %s/%s does not exist", req.Org, req.Queue)
			}
			res.Message = fmt.Sprintf("queue %s/%s is already %s", req.Org, req.Queue, word[req.Paused])
			return nil
		}
		kind := router.EventQueueResumed
		if req.Paused {
			kind = router.EventQueuePaused
		}
		res = router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s %s", req.Org, req.Queue, word[req.Paused])}
		if err := insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: kind, QueueID: req.Queue}, req.Actor); err != nil {
			return err
		}
		if !req.Paused {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), req.Org)
		}
		return err
	})
	return res, err
}
