package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// Verify runs the integrity scan in one repeatable-read snapshot, so that
// findings never come from a half-applied change.
func (s *Store) Verify(ctx context.Context, limit int) (router.VerifyReport, error) {
	if limit <= 0 {
		limit = 1000
	}
	rep := router.VerifyReport{Checked: map[string]int{}}
	tx, err := s.rd(ctx).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	var items, revs, events, agents int
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM work_items), (SELECT count(*) FROM work_item_revisions),
			(SELECT count(*) FROM events), (SELECT count(*) FROM agents)`).Scan(&items, &revs, &events, &agents); err != nil {
		return rep, s.wrap(err)
	}
	rep.Checked["items"], rep.Checked["revisions"], rep.Checked["events"], rep.Checked["agents"] = items, revs, events, agents

	add := func(f router.Finding) bool {
		if len(rep.Findings) >= limit {
			rep.Truncated = true
			return false
		}
		rep.Findings = append(rep.Findings, f)
		return true
	}
	for _, c := range verifyChecks {
		rows, err := tx.Query(ctx, c.sql, limit+1)
		if err != nil {
			return rep, s.wrap(err)
		}
		for rows.Next() {
			f, err := c.scan(rows)
			if err != nil {
				rows.Close()
				return rep, s.wrap(err)
			}
			if !add(f) {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rep, s.wrap(err)
		}
	}
	return rep, nil
}

// verifyCheck is one integrity check: a query taking the row limit, and
// how each row becomes a finding.
type verifyCheck struct {
	sql  string
	scan func(pgx.Rows) (router.Finding, error)
}

// verifyChecks are the checks Verify runs, in order.
var verifyChecks = []verifyCheck{
	// A document over the size limit is invalid, and not fetched.
	{`SELECT w.org_id, w.id, w.current_revision_id, r.id IS NOT NULL, coalesce(r.id, 0), ` + revisionAttrsSQL + `
		FROM work_items w
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE w.state IN ('queued', 'quarantined', 'assigned')
		  AND (r.id IS NULL
		       OR routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit())
		       OR NOT routeops_attributes_valid(r.attributes))
		ORDER BY w.id LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			var f router.Finding
			var cur, rid int64
			var found bool
			var size int
			var attrs *string
			if err := r.Scan(&f.OrgID, &f.ItemID, &cur, &found, &rid, &size, &attrs); err != nil {
				return f, err
			}
			if !found {
				f.Kind, f.Detail = router.FindingDanglingRevision, fmt.Sprintf("current revision %d not found", cur)
			} else if attrs == nil {
				f.Kind, f.Detail = router.FindingInvalidAttributes, router.OversizedError(rid, size).Error()
			} else {
				f.Kind = router.FindingInvalidAttributes
				if err := router.ValidateAttributes([]byte(*attrs)); err != nil {
					f.Detail = fmt.Sprintf("revision %d: %v", rid, err)
				} else {
					f.Detail = fmt.Sprintf("revision %d: rejected by routeops_attributes_valid", rid)
				}
			}
			return f, nil
		}},
	{`SELECT org_id, id FROM work_items WHERE state = 'assigned' AND agent_id IS NULL ORDER BY id LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			f := router.Finding{Kind: router.FindingAssignedNoAgent, Detail: "assigned item has no agent"}
			return f, r.Scan(&f.OrgID, &f.ItemID)
		}},
	{`SELECT org_id, id, load, capacity FROM agents WHERE load > capacity ORDER BY org_id, id LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			f := router.Finding{Kind: router.FindingAgentOverCapacity}
			var load, c int
			err := r.Scan(&f.OrgID, &f.Agent, &load, &c)
			f.Detail = fmt.Sprintf("load %d over capacity %d", load, c)
			return f, err
		}},
	{`SELECT a.org_id, a.id, a.load, coalesce(c.n, 0)
		FROM agents a
		LEFT JOIN (SELECT org_id, agent_id, count(*) AS n FROM work_items WHERE state = 'assigned' GROUP BY 1, 2) c
		  ON c.org_id = a.org_id AND c.agent_id = a.id
		WHERE a.load <> coalesce(c.n, 0)
		ORDER BY a.org_id, a.id LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			f := router.Finding{Kind: router.FindingLoadMismatch}
			var load, n int
			err := r.Scan(&f.OrgID, &f.Agent, &load, &n)
			f.Detail = fmt.Sprintf("stored load %d but %d assigned items", load, n)
			return f, err
		}},
	{`WITH ev AS (
			SELECT work_item_id, count(*) AS n FROM events
			WHERE kind = 'assigned' AND work_item_id IS NOT NULL GROUP BY 1)
		SELECT w.org_id, w.id, w.state, coalesce(ev.n, 0)
		FROM work_items w LEFT JOIN ev ON ev.work_item_id = w.id
		WHERE (w.state IN ('assigned', 'completed') AND coalesce(ev.n, 0) <> 1)
		   OR (w.state NOT IN ('assigned', 'completed') AND coalesce(ev.n, 0) > 0)
		ORDER BY w.id LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			var f router.Finding
			var st string
			var n int
			if err := r.Scan(&f.OrgID, &f.ItemID, &st, &n); err != nil {
				return f, err
			}
			switch {
			case st == "assigned" || st == "completed":
				f.Kind, f.Detail = router.FindingEventMismatch, fmt.Sprintf("item is %s with %d assigned events (want exactly 1)", st, n)
			case st == "quarantined":
				f.Kind, f.Detail = router.FindingBothStates, fmt.Sprintf("quarantined item has %d assigned events", n)
			default:
				f.Kind, f.Detail = router.FindingEventMismatch, fmt.Sprintf("item is %s but has %d assigned events", st, n)
			}
			return f, nil
		}},
	// work_item_orgs is written when an item is inserted or deleted;
	// raw SQL changing an item's org or id would leave it stale, and
	// lookups by id alone would then miss the item.
	{`SELECT coalesce(w.org_id, o.org_id), coalesce(w.id, o.id), w.id IS NULL
		FROM work_items w FULL JOIN work_item_orgs o ON o.id = w.id AND o.org_id = w.org_id
		WHERE w.id IS NULL OR o.id IS NULL
		ORDER BY 2 LIMIT $1`,
		func(r pgx.Rows) (router.Finding, error) {
			f := router.Finding{Kind: router.FindingLookupMismatch}
			var stale bool
			if err := r.Scan(&f.OrgID, &f.ItemID, &stale); err != nil {
				return f, err
			}
			if stale {
				f.Detail = "work_item_orgs names this item in this org, but it is not there"
			} else {
				f.Detail = "item is missing from work_item_orgs, so it cannot be found by id alone"
			}
			return f, nil
		}},
}

// ---- drills ----
