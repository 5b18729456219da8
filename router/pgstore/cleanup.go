package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

func (s *Store) CleanupPlan(ctx context.Context, olderThan time.Time) (router.CleanupStats, error) {
	st := router.CleanupStats{ByOrg: map[string]int{}}
	tx, err := s.rd(ctx).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM work_item_revisions`).Scan(&st.Total); err != nil {
		return st, s.wrap(err)
	}
	// Set-based: one pass with hash joins instead of a probe per row.
	rows, err := tx.Query(ctx, `
		WITH old AS (
			SELECT r.org_id, r.id, r.work_item_id FROM work_item_revisions r WHERE r.created_at < $1),
		ref AS (
			SELECT DISTINCT w.org_id, w.current_revision_id AS id FROM work_items w
			JOIN old ON old.org_id = w.org_id AND old.id = w.current_revision_id),
		newest AS (
			SELECT org_id, work_item_id, max(id) AS id FROM work_item_revisions GROUP BY 1, 2)
		SELECT old.org_id,
			count(*) FILTER (WHERE ref.id IS NOT NULL),
			count(*) FILTER (WHERE ref.id IS NULL AND newest.id = old.id),
			count(*) FILTER (WHERE ref.id IS NULL AND newest.id <> old.id)
		FROM old
		LEFT JOIN ref ON ref.org_id = old.org_id AND ref.id = old.id
		JOIN newest ON newest.org_id = old.org_id AND newest.work_item_id = old.work_item_id
		GROUP BY old.org_id`, olderThan.UTC())
	if err != nil {
		return st, s.wrap(err)
	}
	for rows.Next() {
		var org string
		var ref, newest, elig int
		if err := rows.Scan(&org, &ref, &newest, &elig); err != nil {
			rows.Close()
			return st, s.wrap(err)
		}
		st.Referenced += ref
		st.Newest += newest
		st.Eligible += elig
		if elig > 0 {
			st.ByOrg[org] = elig
		}
	}
	return st, s.wrap(rows.Err())
}

// CleanupBatch is the safe version of the script behind the incident.
//
//  1. It fixes a window of up to Limit old revisions after the cursor.
//  2. It locks those revisions FOR UPDATE SKIP LOCKED, and the items that
//     own them FOR SHARE SKIP LOCKED. A repoint to one of these revisions
//     takes a KEY SHARE lock on it (a foreign key check does, and so do
//     routeops's writers) and updates its item, so from here on no repoint
//     can commit until this transaction ends; anything locked by someone
//     else is left for another run.
//  3. A second statement, with a snapshot taken after the locks, deletes
//     the locked revisions that no item points at and that are not their
//     item's newest. The reference check is in the deleting statement, so
//     it holds even when the foreign key has been dropped.
func (s *Store) CleanupBatch(ctx context.Context, req router.CleanupBatchRequest) (router.CleanupBatchResult, error) {
	res := router.CleanupBatchResult{Next: req.After}
	limit := req.Limit
	if limit <= 0 {
		limit = 1000
	}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		var maxID *int64
		var n int
		if err := tx.QueryRow(ctx, `SELECT max(id), count(*) FROM (
				SELECT id FROM work_item_revisions WHERE id > $1 AND created_at < $2 ORDER BY id LIMIT $3) w`,
			req.After, req.OlderThan.UTC(), limit).Scan(&maxID, &n); err != nil {
			return err
		}
		res.Examined = n
		res.Done = n < limit
		if maxID == nil {
			return nil
		}
		res.Next = *maxID
		rows, err := tx.Query(ctx, `
			WITH cand AS (
				SELECT r.org_id, r.id, r.work_item_id FROM work_item_revisions r
				WHERE r.id > $1 AND r.id <= $2 AND r.created_at < $3
				ORDER BY r.id
				FOR UPDATE SKIP LOCKED),
			owners AS (
				SELECT w.org_id, w.id FROM work_items w
				WHERE (w.org_id, w.id) IN (SELECT org_id, work_item_id FROM cand)
				ORDER BY w.org_id, w.id
				FOR SHARE SKIP LOCKED)
			SELECT cand.org_id, cand.id FROM cand
			JOIN owners ON owners.org_id = cand.org_id AND owners.id = cand.work_item_id`,
			req.After, *maxID, req.OlderThan.UTC())
		if err != nil {
			return err
		}
		var orgs []string
		var ids []int64
		for rows.Next() {
			var o string
			var id int64
			if err := rows.Scan(&o, &id); err != nil {
				rows.Close()
				return err
			}
			orgs, ids = append(orgs, o), append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			WITH del AS (
				DELETE FROM work_item_revisions r
				USING unnest($1::text[], $2::bigint[]) AS d(org_id, id)
				WHERE r.org_id = d.org_id AND r.id = d.id
				  AND NOT EXISTS (SELECT 1 FROM work_items w
				                  WHERE w.org_id = r.org_id AND w.current_revision_id = r.id)
				  AND EXISTS (SELECT 1 FROM work_item_revisions n
				              WHERE n.org_id = r.org_id AND n.work_item_id = r.work_item_id AND n.id > r.id)
				RETURNING r.org_id)
			SELECT org_id, count(*) FROM del GROUP BY org_id ORDER BY org_id`, orgs, ids)
		if err != nil {
			return err
		}
		perOrg := map[string]int{}
		var order []string
		for rows.Next() {
			var o string
			var c int
			if err := rows.Scan(&o, &c); err != nil {
				rows.Close()
				return err
			}
			perOrg[o] = c
			order = append(order, o)
			res.Deleted += c
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, o := range order {
			if err := insertEvent(ctx, tx, router.Event{OrgID: o, At: req.At, Kind: router.EventRevisionsCleaned,
				Detail: router.Detail("deleted", perOrg[o], "older_than", req.OlderThan.UTC())}, req.Actor); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return router.CleanupBatchResult{}, err
	}
	return res, nil
}
