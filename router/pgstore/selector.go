package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// selWhere renders an item selector as conditions on work_items w, with
// its arguments. Everything is a condition on w (the revision checks are
// correlated subqueries), so the same text serves a SELECT, a count and
// an UPDATE. States and scopes are written as literals, so that the
// planner can match them to the partial indexes (it cannot prove a
// predicate from a parameter).
type selWhere struct {
	args  []any
	conds []string
}

func (q *selWhere) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *selWhere) add(format string, args ...any) {
	q.conds = append(q.conds, fmt.Sprintf(format, args...))
}

func (q *selWhere) sql() string {
	if len(q.conds) == 0 {
		return "true"
	}
	return strings.Join(q.conds, "\n\t\t  AND ")
}

// stateLiteral renders a state known to the schema as a SQL literal.
func stateLiteral(st router.ItemState) (string, bool) {
	for _, s := range router.ItemStates {
		if s == st {
			return "'" + string(s) + "'", true
		}
	}
	return "", false
}

// revisionValid is "the item's current revision exists and is valid".
const revisionValid = `EXISTS (SELECT 1 FROM work_item_revisions r
			WHERE r.org_id = w.org_id AND r.id = w.current_revision_id AND routeops_attributes_valid(r.attributes))`

func (q *selWhere) selector(sel router.ItemSelector) error {
	if sel.Org != "" {
		q.add("w.org_id = %s", q.arg(sel.Org))
	}
	if sel.Queue != "" {
		q.add("w.queue_id = %s", q.arg(sel.Queue))
	}
	if sel.State != "" {
		lit, ok := stateLiteral(sel.State)
		if !ok {
			return fmt.Errorf("unknown state %q", sel.State)
		}
		q.add("w.state = %s", lit)
	}
	switch sel.Scope {
	case router.ScopeAny:
	case router.ScopeQuarantine:
		q.add("w.state = 'queued'")
	case router.ScopeRelease:
		// The IN list restates the arms for the waiting-items indexes.
		q.add("(w.state = 'quarantined' OR (w.state = 'queued' AND w.skipped)) AND w.state IN ('queued', 'quarantined')")
	case router.ScopeLive:
		q.add("w.state IN ('queued', 'quarantined', 'assigned')")
	default:
		return fmt.Errorf("unknown selector scope %q", sel.Scope)
	}
	if sel.Cause != "" {
		q.add("w.fault_cause = %s", q.arg(string(sel.Cause)))
	}
	if sel.WaitedOver > 0 {
		q.add("w.enqueued_at < %s", q.arg(sel.Now.Add(-sel.WaitedOver).UTC()))
	}
	if sel.Revision != 0 {
		r := q.arg(sel.Revision)
		q.add("(w.current_revision_id = %s OR (w.journal_revision_id IS DISTINCT FROM w.current_revision_id AND w.journal_revision_id = %s))", r, r)
	}
	if len(sel.IDs) > 0 {
		// work_item_orgs turns ids into primary keys of work_items.
		q.add("(w.org_id, w.id) IN (SELECT o.org_id, o.id FROM work_item_orgs o WHERE o.id = ANY(%s))", q.arg(sel.IDs))
	}
	if sel.After > 0 {
		q.add("w.id > %s", q.arg(sel.After))
	}
	switch sel.RevisionHealth {
	case router.RevisionAny:
	case router.RevisionBroken:
		q.add("NOT " + revisionValid)
	case router.RevisionSound:
		q.add(revisionValid)
	default:
		return fmt.Errorf("unknown revision health %q", sel.RevisionHealth)
	}
	if sel.ExcludeOperation != "" {
		q.add(`NOT EXISTS (SELECT 1 FROM events e
			WHERE e.operation_id = %s AND e.work_item_id = w.id AND e.org_id = w.org_id)`, q.arg(sel.ExcludeOperation))
	}
	if len(sel.Attrs) > 0 {
		q.attrs(sel.Attrs)
	}
	return nil
}

// attrs matches on the journal copy when it is the current revision's
// (router.SearchAttributes), through the GIN index on waiting items, and
// on the current revision otherwise, through the small index of items
// whose journal is stale.
func (q *selWhere) attrs(attrs []router.AttrMatch) {
	match := func(doc string) string {
		var all []string
		for _, a := range attrs {
			var alts []string
			for _, c := range a.Containments() {
				alts = append(alts, fmt.Sprintf("%s @> %s::jsonb", doc, q.arg(string(c))))
			}
			all = append(all, "("+strings.Join(alts, " OR ")+")")
		}
		return strings.Join(all, " AND ")
	}
	q.add(`((w.journal_revision_id = w.current_revision_id AND %s)
		   OR (w.journal_revision_id IS DISTINCT FROM w.current_revision_id AND EXISTS (
			SELECT 1 FROM work_item_revisions ar WHERE ar.org_id = w.org_id AND ar.id = w.current_revision_id AND %s)))`,
		match("w.journal_attributes"), match("ar.attributes"))
}

func (s *Store) CountSelected(ctx context.Context, sel router.ItemSelector) ([]router.SelectionCount, error) {
	sel.After = 0
	var q selWhere
	if err := q.selector(sel); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT w.org_id, w.queue_id, count(*) FROM work_items w
		WHERE `+q.sql()+`
		GROUP BY w.org_id, w.queue_id ORDER BY w.org_id COLLATE "C", w.queue_id COLLATE "C"`, q.args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.SelectionCount, error) {
		var c router.SelectionCount
		err := r.Scan(&c.Org, &c.Queue, &c.N)
		return c, err
	})
	return out, s.wrap(err)
}

func (s *Store) SelectItems(ctx context.Context, sel router.ItemSelector) ([]router.WorkItem, error) {
	var q selWhere
	if err := q.selector(sel); err != nil {
		return nil, err
	}
	limit := sel.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+itemColsAs("w")+` FROM work_items w
		WHERE `+q.sql()+`
		ORDER BY w.id LIMIT `+q.arg(limit), q.args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.WorkItem, error) { return scanItem(r) })
	return out, s.wrap(err)
}

func (s *Store) SelectRepairCandidates(ctx context.Context, sel router.ItemSelector) ([]router.RepairCandidate, error) {
	sel.Scope, sel.RevisionHealth = router.ScopeLive, router.RevisionBroken
	var q selWhere
	if err := q.selector(sel); err != nil {
		return nil, err
	}
	limit := sel.Limit
	if limit <= 0 {
		limit = 100
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	rows, err := tx.Query(ctx, `SELECT `+itemColsAs("w")+`, r.id IS NOT NULL, coalesce(r.attributes::text, ''), w.ctid
		FROM work_items w
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE `+q.sql()+`
		ORDER BY w.id LIMIT `+q.arg(limit), q.args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []router.RepairCandidate
	for rows.Next() {
		ci, _, err := scanClaimed(rows)
		if err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		c := router.RepairCandidate{Item: ci.Item, RevisionFound: ci.RevisionFound}
		if ci.RevisionFound {
			c.CurrentAttributes = ci.Attributes
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	if err := earlierRevisions(ctx, tx, out); err != nil {
		return nil, s.wrap(err)
	}
	return out, nil
}

// earlierRevisions fills in each candidate's other revisions, newest
// first, in one query.
func earlierRevisions(ctx context.Context, tx pgx.Tx, out []router.RepairCandidate) error {
	if len(out) == 0 {
		return nil
	}
	orgs := make([]string, len(out))
	ids := make([]int64, len(out))
	at := make(map[[2]any]int, len(out))
	for i, c := range out {
		orgs[i], ids[i] = c.Item.OrgID, c.Item.ID
		at[[2]any{c.Item.OrgID, c.Item.ID}] = i
	}
	rows, err := tx.Query(ctx, `SELECT r.org_id, r.id, r.work_item_id, r.attributes::text, r.created_at, r.source
		FROM unnest($1::text[], $2::bigint[]) AS c(org_id, id)
		JOIN work_item_revisions r ON r.org_id = c.org_id AND r.work_item_id = c.id
		JOIN work_items w ON w.org_id = c.org_id AND w.id = c.id
		WHERE r.id <> w.current_revision_id
		ORDER BY r.work_item_id, r.id DESC`, orgs, ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if i, ok := at[[2]any{r.OrgID, r.WorkItemID}]; ok {
			out[i].Earlier = append(out[i].Earlier, r)
		}
	}
	return rows.Err()
}
