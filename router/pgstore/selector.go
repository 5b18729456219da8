package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// selWhere renders an item selector as conditions on work_items w, with
// its arguments. Everything is a condition on w (the revision checks are
// correlated subqueries), so the same text serves a SELECT, a count and an
// UPDATE. States and scopes are written as literals, so that the planner
// can match them to the partial indexes (it cannot prove a predicate from
// a parameter).
//
// A filter whose rows come from two indexes (the attributes: the GIN index
// on the journal copy, or the small index of stale journals) is a pair of
// disjoint alternatives; the selection is the UNION ALL of one arm per
// combination, because PostgreSQL plans such an OR as a scan of the whole
// partial index instead of two index scans.
type selWhere struct {
	args  []any
	conds []string
	alts  [][]string
	// stale lists the items whose journal copy is not of their current
	// revision, when there are few (see staleItems); nil: not looked up.
	stale *staleSet
	// ids is the placeholder of the ids the selection names, if any.
	ids string
	// winAfter and winSize, when set, are the placeholders of a window of
	// ids (see walkPage).
	winAfter, winSize string
}

// viaOrgs joins work_item_orgs o to work_items w.
const viaOrgs = "work_item_orgs o JOIN work_items w ON w.org_id = o.org_id AND w.id = o.id"

// from is what every arm selects from: the items; or, for a page without
// an org, the id lookup joined to them (id order); or, when the selection
// names its items, each named item looked up by its key. The lookup is
// fenced (OFFSET 0) so that the filters stay filters on the few named
// items: otherwise the planner, on statistics taken before an incident
// ("nothing is quarantined"), starts from a filter's index and reads the
// whole incident for each batch.
func (q *selWhere) from(page bool, org string) string {
	switch {
	case q.winSize != "":
		return "(SELECT w.* FROM (SELECT o.org_id, o.id FROM work_item_orgs o WHERE o.id > " + q.winAfter +
			" ORDER BY o.id LIMIT " + q.winSize + ") o CROSS JOIN LATERAL (SELECT w.* FROM work_items w" +
			" WHERE w.org_id = o.org_id AND w.id = o.id OFFSET 0) w) w"
	case q.ids != "":
		return "unnest(" + q.ids + "::bigint[]) AS k(id) CROSS JOIN LATERAL (SELECT w.* FROM " + viaOrgs +
			" WHERE o.id = k.id OFFSET 0) w"
	case page && org == "":
		return viaOrgs
	}
	return "work_items w"
}

// staleSet is the keys of the items with a stale journal copy.
type staleSet struct {
	orgs []string
	ids  []int64
	// many is set when there were too many to list.
	many bool
}

// maxStale bounds the stale journals listed by key.
const maxStale = 10000

// staleItems lists the items of the selection's org (every org when
// empty) whose journal copy is stale. Normally there are none. They are
// looked up first because PostgreSQL estimates "a IS DISTINCT FROM b" to
// hold for almost every row and would scan the table for them rather than
// read the (empty) index of stale journals.
func staleItems(ctx context.Context, q pgx.Tx, sel router.ItemSelector) (*staleSet, error) {
	if len(sel.Attrs) == 0 && sel.Revision == 0 {
		return nil, nil
	}
	var rows pgx.Rows
	var err error
	const sql = `SELECT w.org_id, w.id FROM work_items w WHERE ` + journalStale
	if sel.Org != "" {
		rows, err = q.Query(ctx, sql+` AND w.org_id = $1 ORDER BY w.org_id, w.id LIMIT $2`, sel.Org, maxStale+1)
	} else {
		rows, err = q.Query(ctx, sql+` ORDER BY w.org_id, w.id LIMIT $1`, maxStale+1)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	st := &staleSet{}
	for rows.Next() {
		var o string
		var id int64
		if err := rows.Scan(&o, &id); err != nil {
			return nil, err
		}
		st.orgs, st.ids = append(st.orgs, o), append(st.ids, id)
	}
	if len(st.ids) > maxStale {
		st.many = true
	}
	return st, rows.Err()
}

// staleArm is the condition that picks the items with a stale journal,
// or "" when there are none.
func (q *selWhere) staleArm() string {
	switch {
	case q.stale == nil || q.stale.many:
		return journalStale
	case len(q.stale.ids) == 0:
		return ""
	}
	return fmt.Sprintf("%s AND (w.org_id, w.id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))",
		journalStale, q.arg(q.stale.orgs), q.arg(q.stale.ids))
}

// alt adds a pair of disjoint alternatives; an empty one (no stale
// journals) is left out.
func (q *selWhere) alt(choices ...string) {
	var keep []string
	for _, c := range choices {
		if c != "" {
			keep = append(keep, c)
		}
	}
	if len(keep) == 1 {
		q.conds = append(q.conds, keep[0])
		return
	}
	q.alts = append(q.alts, keep)
}

func (q *selWhere) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *selWhere) add(format string, args ...any) {
	q.conds = append(q.conds, fmt.Sprintf(format, args...))
}

// arms returns the WHERE text of each arm: the conditions and one choice
// of every pair of alternatives.
func (q *selWhere) arms() []string {
	arms := [][]string{slices.Clone(q.conds)}
	for _, alt := range q.alts {
		var next [][]string
		for _, a := range arms {
			for _, choice := range alt {
				next = append(next, append(slices.Clone(a), choice))
			}
		}
		arms = next
	}
	out := make([]string, len(arms))
	for i, a := range arms {
		if len(a) == 0 {
			a = []string{"true"}
		}
		out[i] = strings.Join(a, "\n\t\t  AND ")
	}
	return out
}

// union selects cols from every arm (each followed by tail, such as an
// ORDER BY and LIMIT), as one query.
func (q *selWhere) union(from, cols, tail string) string {
	arms := q.arms()
	if len(arms) == 1 {
		return "SELECT " + cols + " FROM " + from + " WHERE " + arms[0] + tail
	}
	parts := make([]string, len(arms))
	for i, a := range arms {
		parts[i] = "(SELECT " + cols + " FROM " + from + " WHERE " + a + tail + ")"
	}
	return strings.Join(parts, "\nUNION ALL\n")
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
// A revision over the attributes limit is not valid (and not examined).
const revisionValid = `EXISTS (SELECT 1 FROM work_item_revisions r
			WHERE r.org_id = w.org_id AND r.id = w.current_revision_id
			  AND routeops_attributes_bytes(r.attributes, r.attributes_bytes) <= (SELECT routeops_attributes_limit())
			  AND routeops_attributes_valid(r.attributes))`

// Journal freshness: the journal copy is the current revision's, or not.
const (
	journalFresh = "w.journal_revision_id = w.current_revision_id"
	journalStale = "w.journal_revision_id IS DISTINCT FROM w.current_revision_id"
)

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
		q.revision(sel)
	}
	if len(sel.IDs) > 0 {
		// from looks them up by their keys.
		q.ids = q.arg(sel.IDs)
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
		// A hashed subplan: the operation's items are read once. (As a
		// correlated NOT EXISTS the planner may rescan them per row, and
		// a resumed operation of thousands of items went quadratic.)
		q.add(`(w.org_id, w.id) NOT IN (SELECT e.org_id, e.work_item_id FROM events e
			WHERE e.operation_id = %s AND e.work_item_id IS NOT NULL)`, q.arg(sel.ExcludeOperation))
	}
	if len(sel.Attrs) > 0 {
		q.attrs(sel.Attrs)
	}
	return nil
}

// revision: the current revision is R (the index on org and current
// revision; without an org, one probe of it per org), or the stale
// journal copy is.
func (q *selWhere) revision(sel router.ItemSelector) {
	r := q.arg(sel.Revision)
	cur := "w.current_revision_id = " + r
	if sel.Org == "" {
		cur += " AND w.org_id = ANY (ARRAY(SELECT id FROM orgs))"
	}
	stale := ""
	if arm := q.staleArm(); arm != "" {
		stale = fmt.Sprintf("w.current_revision_id <> %s AND w.journal_revision_id = %s AND %s", r, r, arm)
	}
	q.alt(cur, stale)
}

// attrs matches on the journal copy when it is the current revision's
// (router.SearchAttributes), through the GIN index on the journal copy, and
// on the current revision otherwise, through the index of stale journals.
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
	fresh := journalFresh + " AND " + match("w.journal_attributes")
	stale := ""
	if arm := q.staleArm(); arm != "" {
		stale = arm + ` AND EXISTS (SELECT 1 FROM work_item_revisions ar
			WHERE ar.org_id = w.org_id AND ar.id = w.current_revision_id AND ` + match("ar.attributes") + ")"
	}
	q.alt(fresh, stale)
}

// readSelection runs fn in a read-only snapshot with the selector's
// conditions built (stale journals looked up in the same snapshot).
func (s *Store) readSelection(ctx context.Context, sel router.ItemSelector, fn func(tx pgx.Tx, q *selWhere) error) error {
	tx, err := s.rd(ctx).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	q := &selWhere{}
	if q.stale, err = staleItems(ctx, tx, sel); err != nil {
		return s.wrap(err)
	}
	if err := q.selector(sel); err != nil {
		return err
	}
	return s.wrap(fn(tx, q))
}

func (s *Store) CountSelected(ctx context.Context, sel router.ItemSelector) ([]router.SelectionCount, error) {
	sel.After = 0
	var out []router.SelectionCount
	err := s.readSelection(ctx, sel, func(tx pgx.Tx, q *selWhere) error {
		rows, err := tx.Query(ctx, `SELECT s.org_id, s.queue_id, count(*) FROM (
		`+q.union(q.from(false, sel.Org), "w.org_id, w.queue_id", "")+`) s
		GROUP BY s.org_id, s.queue_id ORDER BY s.org_id COLLATE "C", s.queue_id COLLATE "C"`, q.args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.SelectionCount, error) {
			var c router.SelectionCount
			err := r.Scan(&c.Org, &c.Queue, &c.N)
			return c, err
		})
		return err
	})
	return out, err
}

// pageSQL selects one page of a selection, in id order. Without an org,
// each arm may walk work_item_orgs in id order (its primary key) and fetch
// items by theirs; in a window (walkPage) it does.
func pageSQL(q *selWhere, sel router.ItemSelector, cols string) string {
	limit := sel.Limit
	if limit <= 0 {
		limit = 100
	}
	n := q.arg(limit)
	from, order := q.from(true, sel.Org), "w.id"
	if from == viaOrgs {
		order = "o.id"
	}
	u := q.union(from, cols, " ORDER BY "+order+" LIMIT "+n)
	if len(q.arms()) == 1 {
		return u
	}
	return "SELECT * FROM (" + u + ") s ORDER BY s.id LIMIT " + n
}

// Windows of ids that walkPage tries before a page's own plan.
const (
	firstWindow  = 1000
	windowGrowth = 8
	windows      = 2
)

// walkPage reads one page of a selection (sel.Limit items after sel.After,
// in id order) with run, which runs the SQL that render builds and says
// how many items it got.
//
// A page without an org or ids is first looked for in windows of the next
// ids (work_item_orgs in id order, each item fetched by its key): the
// planner, estimating a join on two columns as one on independent ones,
// expects a handful of matches among a million items and reads them all
// (seconds) for a first page that the next thousand ids fill. When
// matches are rare the windows come up short and the rest of the page
// comes from the planner's own plan, after the last window.
func walkPage(ctx context.Context, tx pgx.Tx, q *selWhere, sel router.ItemSelector,
	render func(q *selWhere, sel router.ItemSelector) string,
	run func(sql string, args []any) (int, error)) error {
	if sel.Limit <= 0 {
		sel.Limit = 100
	}
	if sel.Org != "" || q.ids != "" {
		_, err := run(render(q, sel), q.args)
		return err
	}
	size := max(firstWindow, 4*sel.Limit)
	for i := 0; i < windows; i++ {
		w := &selWhere{stale: q.stale}
		if err := w.selector(sel); err != nil {
			return err
		}
		w.winAfter, w.winSize = w.arg(sel.After), w.arg(size)
		got, err := run(render(w, sel), w.args)
		if err != nil {
			return err
		}
		if sel.Limit -= got; sel.Limit <= 0 {
			return nil
		}
		var end *int64
		if err := tx.QueryRow(ctx, `SELECT max(id) FROM (SELECT id FROM work_item_orgs WHERE id > $1 ORDER BY id LIMIT $2) x`,
			sel.After, size).Scan(&end); err != nil {
			return err
		}
		if end == nil {
			return nil // no ids after the window
		}
		sel.After = *end
		size *= windowGrowth
	}
	rest := &selWhere{stale: q.stale}
	if err := rest.selector(sel); err != nil {
		return err
	}
	_, err := run(render(rest, sel), rest.args)
	return err
}

func (s *Store) SelectItems(ctx context.Context, sel router.ItemSelector) ([]router.WorkItem, error) {
	var out []router.WorkItem
	err := s.readSelection(ctx, sel, func(tx pgx.Tx, q *selWhere) error {
		out = nil
		return walkPage(ctx, tx, q, sel, func(q *selWhere, sel router.ItemSelector) string {
			return pageSQL(q, sel, itemColsAs("w"))
		}, func(sql string, args []any) (int, error) {
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return 0, err
			}
			got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.WorkItem, error) { return scanItem(r) })
			out = append(out, got...)
			return len(got), err
		})
	})
	return out, err
}

func (s *Store) SelectRepairCandidates(ctx context.Context, sel router.ItemSelector) ([]router.RepairCandidate, error) {
	sel.Scope, sel.RevisionHealth = router.ScopeLive, router.RevisionBroken
	var out []router.RepairCandidate
	err := s.readSelection(ctx, sel, func(tx pgx.Tx, q *selWhere) error {
		var err error
		out, err = repairPage(ctx, tx, q, sel)
		return err
	})
	return out, err
}

func repairPage(ctx context.Context, tx pgx.Tx, q *selWhere, sel router.ItemSelector) ([]router.RepairCandidate, error) {
	var out []router.RepairCandidate
	err := walkPage(ctx, tx, q, sel, func(q *selWhere, sel router.ItemSelector) string {
		return `WITH page AS (` + pageSQL(q, sel, "w.org_id, w.id") + `)
		SELECT ` + itemColsAs("w") + `, ` + itemJournalColsAs("w") + `, r.id IS NOT NULL, ` + revisionAttrsSQL + `
		FROM page p JOIN work_items w ON w.org_id = p.org_id AND w.id = p.id
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		ORDER BY w.id`
	}, func(sql string, args []any) (int, error) {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var c router.RepairCandidate
			var attrs *string
			it, err := scanItemJournal(rows, &c.RevisionFound, &c.CurrentBytes, &attrs)
			if err != nil {
				return n, err
			}
			c.Item = it
			switch {
			case !c.RevisionFound:
				c.CurrentBytes = 0
			case attrs != nil:
				c.CurrentAttributes = []byte(*attrs)
			default:
				c.CurrentOversized = true
			}
			out = append(out, c)
			n++
		}
		return n, rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, earlierRevisions(ctx, tx, out)
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
	rows, err := tx.Query(ctx, `SELECT `+revCols+`
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
