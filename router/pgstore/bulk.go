package pgstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// bulkAction is what differs between bulk quarantine and bulk release.
type bulkAction struct {
	scope router.SelectScope
	kind  string
	// set renders the UPDATE's SET list, adding its arguments to q.
	set func(q *selWhere, req *router.BatchRequest) string
	// detail renders one item's event detail; verdict is what is wrong
	// with its current revision ("" when nothing, or not asked).
	detail func(req *router.BatchRequest, enqueuedAt time.Time, verdict string) []byte
	// verdict, when set, is the SQL of that verdict for the row t.
	verdict string
	// notify wakes the engines of the orgs touched (new routable work).
	notify bool
}

var bulkQuarantine = bulkAction{
	scope: router.ScopeQuarantine, kind: router.EventQuarantined,
	set: func(q *selWhere, req *router.BatchRequest) string {
		return "state = 'quarantined', quarantine_reason = " + q.arg(req.Reason) + "::text, skipped = false"
	},
	detail: func(req *router.BatchRequest, _ time.Time, _ string) []byte {
		return router.Detail("cause", router.CauseOperator, "reason", req.Reason)
	},
}

var bulkRelease = bulkAction{
	scope: router.ScopeRelease, kind: router.EventReleased,
	set: func(*selWhere, *router.BatchRequest) string {
		return "state = 'queued', skipped = false, fault_cause = '', quarantine_reason = ''"
	},
	detail: func(_ *router.BatchRequest, enq time.Time, verdict string) []byte {
		if verdict != "" {
			// Forced (the selector let a broken revision through), as
			// Release records it for one item.
			return router.Detail("enqueued_at", enq.UTC(), "forced", true, "revision", verdict)
		}
		return router.Detail("enqueued_at", enq.UTC())
	},
	verdict: revisionVerdictSQL,
	notify:  true,
}

// revisionVerdictSQL says what is wrong with the current revision of the
// item row t, in Release's words (checkReleasable): missing, oversized or
// invalid; ” when it is sound. An oversized document is not examined.
const revisionVerdictSQL = `coalesce((SELECT CASE
		WHEN routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit()) THEN 'oversized'
		WHEN NOT routeops_attributes_valid(r.attributes) THEN 'invalid' ELSE '' END
	FROM work_item_revisions r WHERE r.org_id = t.org_id AND r.id = t.current_revision_id), 'missing')`

func (s *Store) BulkQuarantine(ctx context.Context, req router.BatchRequest) (router.BatchResult, error) {
	return s.bulk(ctx, req, bulkQuarantine)
}

func (s *Store) BulkRelease(ctx context.Context, req router.BatchRequest) (router.BatchResult, error) {
	return s.bulk(ctx, req, bulkRelease)
}

// bulk applies one batch in one transaction: it locks the planned items in
// id order (the order every writer that locks several items uses; routing
// skips locked rows, so it never waits on this), then changes those that
// still match the selector with one UPDATE, and journals them with one
// INSERT, every event carrying the operation id.
func (s *Store) bulk(ctx context.Context, req router.BatchRequest, a bulkAction) (router.BatchResult, error) {
	var res router.BatchResult
	if req.OperationID == "" {
		return res, errors.New("pgstore: a bulk action needs an operation id")
	}
	ids := slices.Clone(req.Items)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return res, nil
	}
	sel := req.Selector
	sel.Scope, sel.ExcludeOperation, sel.IDs, sel.After, sel.Limit = a.scope, req.OperationID, ids, 0, 0
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		res = router.BatchResult{}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM work_items w
			WHERE (w.org_id, w.id) IN (SELECT o.org_id, o.id FROM work_item_orgs o WHERE o.id = ANY($1))
			ORDER BY w.id FOR UPDATE`, ids); err != nil {
			return err
		}
		var q selWhere
		set := a.set(&q, &req)
		verdict := "''::text"
		if a.verdict != "" {
			verdict = a.verdict
		}
		var err error
		if q.stale, err = staleItems(ctx, tx, sel); err != nil {
			return err
		}
		if err := q.selector(sel); err != nil {
			return err
		}
		// The planned items are locked: this statement's snapshot, taken
		// after the locks, sees their latest versions.
		rows, err := tx.Query(ctx, `UPDATE work_items t SET `+set+`
			FROM (`+q.union(q.from(false, sel.Org), "w.org_id, w.id", "")+`) s
			WHERE t.org_id = s.org_id AND t.id = s.id
			RETURNING t.org_id, t.id, t.queue_id, t.enqueued_at, `+verdict, q.args...)
		if err != nil {
			return err
		}
		var orgs, queues, details []string
		var items []int64
		for rows.Next() {
			var ref router.BulkItemRef
			var enq time.Time
			var v string
			if err := rows.Scan(&ref.Org, &ref.ID, &ref.Queue, &enq, &v); err != nil {
				rows.Close()
				return err
			}
			res.Changed = append(res.Changed, ref)
			orgs, items, queues = append(orgs, ref.Org), append(items, ref.ID), append(queues, ref.Queue)
			details = append(details, string(a.detail(&req, enq, v)))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail, operation_id)
			SELECT o, $5, $6, i, q, $7, $8, $9, d::jsonb, $10
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS u(o, i, q, d)`,
			orgs, items, queues, details, req.At.UTC(), a.kind, req.Actor.Name, req.Actor.Origin, req.Actor.OSUser,
			req.OperationID); err != nil {
			return err
		}
		if a.notify {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, o) FROM (SELECT DISTINCT o FROM unnest($2::text[]) o ORDER BY 1) x`,
				s.WakeChannel(), orgs)
		}
		return err
	})
	if err != nil {
		return router.BatchResult{}, err
	}
	slices.SortFunc(res.Changed, func(x, y router.BulkItemRef) int { return int(x.ID - y.ID) })
	changed := make(map[int64]bool, len(res.Changed))
	for _, c := range res.Changed {
		changed[c.ID] = true
	}
	for _, id := range ids {
		if !changed[id] {
			res.Skipped = append(res.Skipped, id)
		}
	}
	return res, nil
}

func (s *Store) BulkRepair(ctx context.Context, req router.RepairBatchRequest) ([]router.RepairOutcome, error) {
	if req.OperationID == "" {
		return nil, errors.New("pgstore: a bulk repair needs an operation id")
	}
	return s.applyRepair(ctx, router.ApplyRepairRequest{Fixes: req.Fixes, Actor: req.Actor, At: req.At}, req.OperationID)
}

// ---- operations ----

const opCols = `id, kind, fingerprint, left(selector, ` + maxTextSQL + `), left(actor, 256), started_at`

func scanOp(row pgx.Row) (router.Operation, error) {
	var op router.Operation
	err := row.Scan(&op.ID, &op.Kind, &op.Fingerprint, &op.Selector, &op.Actor, &op.StartedAt)
	op.StartedAt = op.StartedAt.UTC()
	return op, err
}

func (s *Store) FindOperation(ctx context.Context, fingerprint string) (*router.Operation, error) {
	op, err := scanOp(s.w.QueryRow(ctx, `SELECT `+opCols+` FROM operations
		WHERE fingerprint = $1 AND finished_at IS NULL`, fingerprint))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	return &op, nil
}

// StartOperation inserts the operation unless an unfinished one has the
// same fingerprint; the unique partial index decides a race between two
// runs, and the loser reads the winner's row.
func (s *Store) StartOperation(ctx context.Context, op router.Operation) (router.Operation, error) {
	var out router.Operation
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		got, err := scanOp(tx.QueryRow(ctx, `INSERT INTO operations (id, kind, fingerprint, selector, actor, started_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (fingerprint) WHERE finished_at IS NULL DO NOTHING
			RETURNING `+opCols, op.ID, op.Kind, op.Fingerprint, op.Selector, op.Actor, op.StartedAt.UTC()))
		if err == nil {
			out = got
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		out, err = scanOp(tx.QueryRow(ctx, `SELECT `+opCols+` FROM operations
			WHERE fingerprint = $1 AND finished_at IS NULL`, op.Fingerprint))
		out.Resumed = true
		return err
	})
	return out, err
}

func (s *Store) FinishOperation(ctx context.Context, id string, at time.Time) error {
	tag, err := s.w.Exec(ctx, `UPDATE operations SET finished_at = $2 WHERE id = $1 AND finished_at IS NULL`, id, at.UTC())
	if err != nil {
		return s.wrap(err)
	}
	if tag.RowsAffected() == 0 {
		var ok bool
		if err := s.w.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM operations WHERE id = $1)`, id).Scan(&ok); err != nil {
			return s.wrap(err)
		}
		if !ok {
			return router.NotFoundf("operation %s does not exist", id)
		}
		return nil
	}
	s.noteWrite(ctx)
	return nil
}

func (s *Store) OperationDone(ctx context.Context, id, kind string) (int, error) {
	var n int
	err := s.w.QueryRow(ctx, `SELECT count(DISTINCT (org_id, work_item_id)) FROM events
		WHERE operation_id = $1 AND kind = $2 AND work_item_id IS NOT NULL`, id, kind).Scan(&n)
	return n, s.wrap(err)
}
