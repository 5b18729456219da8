package pgstore

import (
	"context"
	"sort"
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

// cleanupSQL locks a window of old revisions and deletes those that are
// eligible, in one statement (see migration 015). The reference check,
// routeops_revisions_referenced, is VOLATILE, so it reads with a snapshot
// of its own; its arguments are arrays of every locked row, so it runs
// once, after the last lock is taken, whatever plan PostgreSQL picks. It
// returns one row for the window (org NULL: how many revisions were
// locked and the highest id) and one per org with deletions.
const cleanupSQL = `
WITH c AS MATERIALIZED (
    SELECT r.ctid AS tid, r.org_id, r.id FROM work_item_revisions r
    WHERE r.id > $1 AND r.created_at < $2
    ORDER BY r.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED),
ref AS MATERIALIZED (
    SELECT * FROM routeops_revisions_referenced(ARRAY(SELECT org_id FROM c), ARRAY(SELECT id FROM c))),
d AS (
    DELETE FROM work_item_revisions x USING c
    WHERE x.ctid = c.tid AND x.org_id = c.org_id AND x.id = c.id
      AND NOT EXISTS (SELECT 1 FROM ref WHERE ref.org_id = c.org_id AND ref.id = c.id)
      AND EXISTS (SELECT 1 FROM work_item_revisions n
                  WHERE n.org_id = x.org_id AND n.work_item_id = x.work_item_id AND n.id > x.id)
    RETURNING x.org_id)
SELECT NULL::text, (SELECT count(*) FROM c), (SELECT max(id) FROM c)
UNION ALL
SELECT org_id, count(*), NULL FROM d GROUP BY org_id`

// CleanupBatch is the safe version of the script behind the incident. In
// one statement it locks up to Limit old revisions after the cursor (FOR
// UPDATE SKIP LOCKED: anything another transaction holds is left for
// another run) and deletes the locked ones that no item points at and that
// are not their item's newest. A repoint to one of these revisions takes a
// KEY SHARE lock on it (a foreign key check does, and so do routeops's
// writers), so once it is locked no repoint to it can commit until this
// transaction ends; the reference check reads after the lock with a
// snapshot of its own, so a repoint that committed before the lock is
// seen. The check is in the deleting statement, so it holds even when the
// foreign key has been dropped. One revisions_cleaned event per org.
func (s *Store) CleanupBatch(ctx context.Context, req router.CleanupBatchRequest) (router.CleanupBatchResult, error) {
	res := router.CleanupBatchResult{Next: req.After}
	limit := req.Limit
	if limit <= 0 {
		limit = 1000
	}
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('routeops.cleanup', 'on', true)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, cleanupSQL, req.After, req.OlderThan.UTC(), limit)
		if err != nil {
			return err
		}
		var orgs []string
		var counts []int32
		for rows.Next() {
			var org *string
			var n int64
			var maxID *int64
			if err := rows.Scan(&org, &n, &maxID); err != nil {
				rows.Close()
				return err
			}
			if org == nil {
				res.Examined = int(n)
				if maxID != nil {
					res.Next = *maxID
				}
				continue
			}
			orgs, counts = append(orgs, *org), append(counts, int32(n))
			res.Deleted += int(n)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		res.Done = res.Examined < limit
		if len(orgs) == 0 {
			return nil
		}
		return insertCleanedEvents(ctx, tx, req, orgs, counts)
	})
	if err != nil {
		return router.CleanupBatchResult{}, err
	}
	return res, nil
}

// insertCleanedEvents appends one revisions_cleaned event per org, in org
// order.
func insertCleanedEvents(ctx context.Context, tx pgx.Tx, req router.CleanupBatchRequest, orgs []string, counts []int32) error {
	idx := make([]int, len(orgs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return orgs[idx[a]] < orgs[idx[b]] })
	for _, i := range idx {
		if err := insertEvent(ctx, tx, router.Event{OrgID: orgs[i], At: req.At, Kind: router.EventRevisionsCleaned,
			Detail: router.Detail("deleted", counts[i], "older_than", req.OlderThan.UTC())}, req.Actor); err != nil {
			return err
		}
	}
	return nil
}
