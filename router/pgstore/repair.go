package pgstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// RepairCandidates finds live items whose current revision is missing or
// fails routeops_attributes_valid (the SQL mirror of ParseAttributes).
func (s *Store) RepairCandidates(ctx context.Context, org string) ([]router.RepairCandidate, error) {
	if org != "" {
		if err := s.orgExists(ctx, s.rd(ctx), org); err != nil {
			return nil, err
		}
	}
	tx, err := s.rd(ctx).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// The current revision is a candidate when it is missing, over the
	// size limit, or invalid; no document over the limit is fetched.
	rows, err := tx.Query(ctx, `SELECT `+itemColsAs("w")+`, `+itemJournalColsAs("w")+`, r.id IS NOT NULL, `+revisionAttrsSQL+`
		FROM work_items w
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE w.state IN ('queued', 'quarantined', 'assigned') AND ($1 = '' OR w.org_id = $1)
		  AND (r.id IS NULL
		       OR routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit())
		       OR NOT routeops_attributes_valid(r.attributes))
		ORDER BY w.id`, org)
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []router.RepairCandidate
	for rows.Next() {
		var c router.RepairCandidate
		var attrs *string
		it, err := scanItemJournal(rows, &c.RevisionFound, &c.CurrentBytes, &attrs)
		if err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		c.Item = it
		if c.RevisionFound {
			if attrs != nil {
				c.CurrentAttributes = []byte(*attrs)
			} else {
				c.CurrentOversized = true
			}
		} else {
			c.CurrentBytes = 0
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := earlierRevisions(ctx, tx, out); err != nil {
		return nil, s.wrap(err)
	}
	return out, nil
}

// ApplyRepair re-checks every fix under the item's row lock, then writes
// the new revisions, repoints the items and journals the repairs with set
// statements in one transaction.
func (s *Store) ApplyRepair(ctx context.Context, req router.ApplyRepairRequest) ([]router.RepairOutcome, error) {
	return s.applyRepair(ctx, req, "")
}

// applyRepair is ApplyRepair with the events carrying an operation id
// (none when empty).
func (s *Store) applyRepair(ctx context.Context, req router.ApplyRepairRequest, opID string) ([]router.RepairOutcome, error) {
	outcomes := make([]router.RepairOutcome, len(req.Fixes))
	err := s.withTx(ctx, true, func(tx pgx.Tx) error {
		for i, f := range req.Fixes {
			outcomes[i] = router.RepairOutcome{ItemID: f.ItemID, OrgID: f.OrgID}
		}
		if len(req.Fixes) == 0 {
			return nil
		}
		state, err := lockRepairTargets(ctx, tx, req.Fixes)
		if err != nil {
			return err
		}
		okIdx := checkRepairFixes(req.Fixes, state, outcomes)
		if len(okIdx) == 0 {
			return nil
		}
		return s.writeRepairs(ctx, tx, req, opID, okIdx, state, outcomes)
	})
	if err != nil {
		return nil, err
	}
	return outcomes, nil
}

// repairTarget is an item to repair as it is under its row lock.
type repairTarget struct {
	state   string
	queue   string
	rev     int64
	found   bool
	attrs   string
	valid   bool
	skipped bool
}

// lockRepairTargets locks the fixes' items in id order (the order every
// other writer uses) and reads their current revisions: no document over
// the attributes limit is fetched, and none is valid.
func lockRepairTargets(ctx context.Context, tx pgx.Tx, fixes []router.RepairFix) (map[[2]any]*repairTarget, error) {
	orgs := make([]string, len(fixes))
	ids := make([]int64, len(fixes))
	for i, f := range fixes {
		orgs[i], ids[i] = f.OrgID, f.ItemID
	}
	rows, err := tx.Query(ctx, `SELECT w.org_id, w.id, w.state, w.queue_id, w.current_revision_id, w.skipped,
			r.id IS NOT NULL,
			CASE WHEN routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit())
			     THEN '' ELSE coalesce(r.attributes::text, '') END,
			coalesce(routeops_attributes_bytes(r.attributes, r.attributes_bytes) <= (SELECT routeops_attributes_limit())
			         AND routeops_attributes_valid(r.attributes), false)
		FROM work_items w
		LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE (w.org_id, w.id) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))
		ORDER BY w.org_id, w.id
		FOR UPDATE OF w`, orgs, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	state := map[[2]any]*repairTarget{}
	for rows.Next() {
		var org string
		var id int64
		c := &repairTarget{}
		if err := rows.Scan(&org, &id, &c.state, &c.queue, &c.rev, &c.skipped, &c.found, &c.attrs, &c.valid); err != nil {
			return nil, err
		}
		state[[2]any{org, id}] = c
	}
	return state, rows.Err()
}

// checkRepairFixes re-checks each fix against its locked item, says in
// outcomes why one is refused, and returns the indexes of those to apply.
func checkRepairFixes(fixes []router.RepairFix, state map[[2]any]*repairTarget, outcomes []router.RepairOutcome) []int {
	var okIdx []int
	seen := map[[2]any]bool{}
	for i, f := range fixes {
		oc := &outcomes[i]
		k := [2]any{f.OrgID, f.ItemID}
		c := state[k]
		switch {
		case c == nil:
			oc.Reason = fmt.Sprintf("item %d does not exist in org %s", f.ItemID, f.OrgID)
		case seen[k]:
			oc.Reason = "item listed twice in one repair"
			oc.State = router.ItemState(c.state)
		case c.state != "queued" && c.state != "quarantined" && c.state != "assigned":
			oc.State = router.ItemState(c.state)
			oc.Reason = fmt.Sprintf("item is %s; only queued, quarantined or assigned items are repaired", c.state)
		case c.rev != f.ExpectRevisionID:
			oc.State = router.ItemState(c.state)
			oc.Reason = fmt.Sprintf("item now points at revision %d, not %d; plan again", c.rev, f.ExpectRevisionID)
		case c.found && c.valid && router.ValidateAttributes([]byte(c.attrs)) == nil:
			oc.State = router.ItemState(c.state)
			oc.Reason = "current revision is valid now; nothing to repair"
		default:
			if err := router.ValidateAttributes(f.Attributes); err != nil {
				oc.State = router.ItemState(c.state)
				oc.Reason = "rebuilt attributes do not validate: " + err.Error()
			} else {
				okIdx = append(okIdx, i)
			}
		}
		seen[k] = true
	}
	return okIdx
}

// writeRepairs writes the new revisions, repoints the items (releasing
// the quarantined ones) and journals the repairs, set statements in one
// batch, and wakes the engines of orgs with new routable work.
func (s *Store) writeRepairs(ctx context.Context, tx pgx.Tx, req router.ApplyRepairRequest, opID string, okIdx []int,
	state map[[2]any]*repairTarget, outcomes []router.RepairOutcome) error {
	now := req.At.UTC()
	var op any
	if opID != "" {
		op = opID
	}
	newIDs, err := reserve(ctx, tx, "work_item_revisions_id_seq", len(okIdx))
	if err != nil {
		return err
	}
	var (
		rOrgs, rSources, rAttrs, rStates, rQueues, rDetails []string
		rItems, rNew                                        []int64
		rPrio                                               []int16
	)
	notify := map[string]bool{}
	for j, i := range okIdx {
		f := req.Fixes[i]
		c := state[[2]any{f.OrgID, f.ItemID}]
		newState := c.state
		released := false
		if c.state == "quarantined" {
			newState, released = "queued", true
		}
		if newState == "queued" {
			notify[f.OrgID] = true
		}
		rOrgs = append(rOrgs, f.OrgID)
		rItems = append(rItems, f.ItemID)
		rNew = append(rNew, newIDs[j])
		rSources = append(rSources, f.Source)
		rAttrs = append(rAttrs, string(f.Attributes))
		rStates = append(rStates, newState)
		rQueues = append(rQueues, c.queue)
		rPrio = append(rPrio, int16(router.PriorityOf(f.Attributes)))
		rDetails = append(rDetails, string(router.Detail("old_revision_id", c.rev, "new_revision_id", newIDs[j],
			"source", f.Source, "released", released)))
		outcomes[i].Repaired = true
		outcomes[i].NewRevisionID = newIDs[j]
		outcomes[i].State = router.ItemState(newState)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at, source)
		SELECT o, n, i, a::jsonb, $5, 'repair:' || src
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $6::text[]) AS u(o, n, i, a, src)`,
		rOrgs, rNew, rItems, rAttrs, now, rSources)
	// The repoint's trigger takes the KEY SHARE lock a foreign key check
	// would take on the new revision (so cleanup's locking protocol holds
	// even without the FK), and copies it into the journal.
	b.Queue(`UPDATE work_items w SET current_revision_id = u.n, priority = u.p, fault_cause = '', skipped = false,
			quarantine_reason = CASE WHEN u.st = 'queued' THEN '' ELSE w.quarantine_reason END,
			state = u.st
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[]) AS u(o, i, n, p, st)
		WHERE w.org_id = u.o AND w.id = u.i`, rOrgs, rItems, rNew, rPrio, rStates)
	b.Queue(`INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail, operation_id)
		SELECT o, $4, 'revision_repaired', i, q, $5, $6, $7, d::jsonb, $9
		FROM unnest($1::text[], $2::bigint[], $3::text[], $8::text[]) AS u(o, i, q, d)`,
		rOrgs, rItems, rQueues, now, req.Actor.Name, req.Actor.Origin, req.Actor.OSUser, rDetails, op)
	orgsToNotify := make([]string, 0, len(notify))
	for o := range notify {
		orgsToNotify = append(orgsToNotify, o)
	}
	sort.Strings(orgsToNotify)
	if len(orgsToNotify) > 0 {
		b.Queue(`SELECT pg_notify($1, o) FROM unnest($2::text[]) o`, s.WakeChannel(), orgsToNotify)
	}
	return sendRepairBatch(ctx, tx, b, len(okIdx))
}

// sendRepairBatch runs a repair's batch; each of its first three
// statements must touch exactly n rows, else the transaction rolls back.
func sendRepairBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch, n int) error {
	br := tx.SendBatch(ctx, b)
	var berr error
	for k := 0; k < b.Len(); k++ {
		tag, err := br.Exec()
		if err != nil {
			berr = err
			break
		}
		if k < 3 && int(tag.RowsAffected()) != n {
			berr = fmt.Errorf("pgstore: repair wrote %d of %d rows in step %d; rolled back", tag.RowsAffected(), n, k+1)
			break
		}
	}
	if cerr := br.Close(); berr == nil {
		berr = cerr
	}
	return berr
}
