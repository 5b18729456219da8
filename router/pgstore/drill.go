package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/routeops/routeops/router"
)

const drillTargetsSQL = `
SELECT w.id, w.current_revision_id FROM queues q
CROSS JOIN LATERAL (
    SELECT w.id, w.current_revision_id, c.priority, c.enqueued_at FROM queued_items c
    JOIN work_items w ON w.org_id = c.org_id AND w.id = c.id
    JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
    WHERE c.org_id = q.org_id AND c.queue_id = q.id AND NOT c.skipped
    ORDER BY c.priority DESC, c.enqueued_at, c.id
    LIMIT $2) w
WHERE q.org_id = $1
ORDER BY q.priority DESC, q.id COLLATE "C", w.priority DESC, w.enqueued_at, w.id
LIMIT $2`

// DrillDeleteRevisions deletes revisions the way the incident's cleanup
// did: with session_replication_role = replica, which skips the foreign
// key. It needs a superuser (or, on PostgreSQL 15, a role granted SET on
// session_replication_role).
func (s *Store) DrillDeleteRevisions(ctx context.Context, req router.DrillRequest) ([]int64, error) {
	if err := s.orgExists(ctx, s.w, req.Org); err != nil {
		return nil, err
	}
	var ids []int64
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("drill needs to bypass the foreign key (session_replication_role = replica), which this role may not do: %w", err)
		}
		rows, err := tx.Query(ctx, drillTargetsSQL, req.Org, req.Count)
		if err != nil {
			return err
		}
		var revs []int64
		for rows.Next() {
			var id, rev int64
			if err := rows.Scan(&id, &rev); err != nil {
				rows.Close()
				return err
			}
			ids, revs = append(ids, id), append(revs, rev)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM work_item_revisions WHERE org_id = $1 AND id = ANY($2)`, req.Org, revs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = origin`); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: router.EventDrillInjected,
			Detail: router.Detail("drill", "missing-revisions", "items", ids)}, req.Actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), req.Org)
		return err
	})
	return ids, err
}

// DrillCorruptRevisions overwrites current revisions' attributes with JSON
// that is not valid attributes. Revisions are otherwise never edited.
func (s *Store) DrillCorruptRevisions(ctx context.Context, req router.DrillRequest) ([]int64, error) {
	if err := s.orgExists(ctx, s.w, req.Org); err != nil {
		return nil, err
	}
	var ids []int64
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, drillTargetsSQL, req.Org, req.Count)
		if err != nil {
			return err
		}
		var revs []int64
		var vals []string
		for rows.Next() {
			var id, rev int64
			if err := rows.Scan(&id, &rev); err != nil {
				rows.Close()
				return err
			}
			vals = append(vals, string(router.CorruptAttributes(len(ids))))
			ids, revs = append(ids, id), append(revs, rev)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE work_item_revisions r SET attributes = u.a::jsonb
			FROM unnest($2::bigint[], $3::text[]) AS u(id, a) WHERE r.org_id = $1 AND r.id = u.id`, req.Org, revs, vals); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: router.EventDrillInjected,
			Detail: router.Detail("drill", "corrupt-revisions", "items", ids)}, req.Actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), req.Org)
		return err
	})
	return ids, err
}
