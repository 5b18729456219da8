package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// attrText validates that attribute bytes are JSON before they reach the
// jsonb column, so the caller gets ErrInvalidJSON rather than a SQL error.
func attrText(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: not valid UTF-8", router.ErrInvalidJSON)
	}
	if !json.Valid(b) {
		return "", router.ErrInvalidJSON
	}
	return string(b), nil
}

// enqueueSQL writes an item and its first revision in one statement: they
// reference each other (the revision foreign key is deferred to the
// commit), and an unknown queue fails the queue's foreign key. The item's
// insert trigger copies the revision into the journal and sets the
// denormalized priority (migration 012).
const enqueueSQL = `WITH ids AS (
		SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev),
	r AS (
		INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at, source)
		SELECT $1, rev, item, $3::jsonb, $4, 'platform' FROM ids
		RETURNING id, work_item_id, attributes)
	INSERT INTO work_items (org_id, id, queue_id, state, current_revision_id, enqueued_at)
	SELECT $1, r.work_item_id, $2, 'queued', r.id, $4
	FROM r
	RETURNING `

// wakeSQL notifies in a transaction of its own without waiting for its
// WAL flush (see wake).
const wakeSQL = `SELECT set_config('synchronous_commit', 'off', true),
	pg_notify($1, o) FROM (SELECT DISTINCT o FROM unnest($2::text[]) o) x`

// Enqueue is one round trip: a pipeline of the item's transaction (BEGIN,
// the insert, COMMIT) and, after it, the wake-up in a transaction of its
// own (see wake), so the notify lock is never held across the item's
// commit and the enqueuer waits for one round trip, not two.
func (s *Store) Enqueue(ctx context.Context, req router.EnqueueRequest) (router.WorkItem, error) {
	attrs, err := attrText(req.Attributes)
	if err != nil {
		return router.WorkItem{}, err
	}
	conn, err := s.w.Acquire(ctx)
	if err != nil {
		return router.WorkItem{}, s.wrap(err)
	}
	defer conn.Release()
	batch := &pgx.Batch{}
	s.w.queueBegin(batch)
	batch.Queue(enqueueSQL+itemCols+", "+itemJournalColsAs(""), req.OrgID, req.QueueID, attrs, req.EnqueuedAt.UTC())
	batch.Queue(`COMMIT`)
	batch.Queue(wakeSQL, s.WakeChannel(), []string{req.OrgID})
	var it router.WorkItem
	var committed bool
	var wakeErr error
	br := conn.SendBatch(ctx, batch)
	err = func() error {
		if err := s.w.beginResults(br); err != nil {
			return err
		}
		var err error
		if it, err = scanItemJournal(br.QueryRow()); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		if tag.String() != "COMMIT" {
			return fmt.Errorf("pgstore: the enqueue did not commit (%s)", tag.String())
		}
		committed = true
		_, wakeErr = br.Exec()
		return nil
	}()
	if cerr := br.Close(); err == nil && wakeErr == nil {
		wakeErr = cerr
	}
	if committed {
		if wakeErr != nil {
			// The item is stored; a lost wake-up costs one poll interval.
			slog.Debug("wake-up notification not sent; the engines will poll", "err", s.wrap(wakeErr))
		}
		return it, nil
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed statement leaves the pipeline's transaction block open
		// and aborted.
		rollbackOrDrop(ctx, conn.Conn())
	}
	return router.WorkItem{}, s.wrapFK(err, "queue %s/%s does not exist", req.OrgID, req.QueueID)
}

func (s *Store) AddRevision(ctx context.Context, req router.AddRevisionRequest) (router.Revision, error) {
	text, err := attrText(req.Attributes)
	if err != nil {
		return router.Revision{}, err
	}
	var rev router.Revision
	var queued bool
	err = s.withTx(ctx, false, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM work_items WHERE org_id = $1 AND id = $2 FOR UPDATE`, req.Org, req.ItemID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return router.NotFoundf("item %d does not exist in org %s", req.ItemID, req.Org)
		}
		if err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `INSERT INTO work_item_revisions AS r (org_id, work_item_id, attributes, created_at, source)
			VALUES ($1, $2, $3::jsonb, $4, 'platform') RETURNING `+revCols, req.Org, req.ItemID, text, req.At.UTC())
		rev, err = scanRevision(row)
		if err != nil {
			return err
		}
		// The trigger copies the revision into the journal and sets the
		// denormalized priority (migration 012).
		if _, err := tx.Exec(ctx, `UPDATE work_items SET current_revision_id = $3 WHERE org_id = $1 AND id = $2`,
			req.Org, req.ItemID, rev.ID); err != nil {
			return err
		}
		queued = state == string(router.StateQueued)
		return nil
	})
	if err == nil && queued {
		s.wake(ctx, req.Org)
	}
	return rev, err
}

func (s *Store) Complete(ctx context.Context, req router.CompleteRequest) error {
	err := s.withTx(ctx, false, func(tx pgx.Tx) error {
		var state string
		var agent *string
		// Read without locking first to learn the agent, then lock the agent
		// before the item (the lock order of the routing transaction).
		err := tx.QueryRow(ctx, `SELECT state, agent_id FROM work_items WHERE org_id = $1 AND id = $2`, req.Org, req.ItemID).Scan(&state, &agent)
		if errors.Is(err, pgx.ErrNoRows) {
			return router.NotFoundf("item %d does not exist in org %s", req.ItemID, req.Org)
		}
		if err != nil {
			return err
		}
		if state != string(router.StateAssigned) || agent == nil {
			return router.Conflictf("item %d is %s; only an assigned item can be completed", req.ItemID, state)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM agents WHERE org_id = $1 AND id = $2 FOR UPDATE`, req.Org, *agent); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE work_items SET state = 'completed', completed_at = $3
			WHERE org_id = $1 AND id = $2 AND state = 'assigned' AND agent_id = $4`, req.Org, req.ItemID, req.At.UTC(), *agent)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return router.Conflictf("item %d changed state while completing; only an assigned item can be completed", req.ItemID)
		}
		_, err = tx.Exec(ctx, `UPDATE agents SET load = greatest(load - 1, 0) WHERE org_id = $1 AND id = $2`, req.Org, *agent)
		return err
	})
	if err == nil {
		s.wake(ctx, req.Org) // capacity was freed
	}
	return err
}

// BulkLoad writes reference data with upserts and items with COPY. Item
// and revision ids are reserved from their sequences up front, so that
// revisions and items can be copied without a round trip per row.
func (s *Store) BulkLoad(ctx context.Context, data *router.BulkData) (router.BulkResult, error) {
	var res router.BulkResult
	if err := checkBulkIDs(data); err != nil {
		return res, err
	}
	nrev, err := checkBulkItems(data.Items)
	if err != nil {
		return res, err
	}
	// Reference data first, in its own transaction (the upserts are
	// idempotent). Then refresh the small tables' statistics outside any
	// transaction: the foreign-key checks of the COPY below cache their
	// plans, and a plan made while queues had no statistics scans it for
	// every row (76us a row instead of 4 at 1M items); ANALYZE invalidates
	// those plans. Inside the items transaction it would hold its lock
	// until commit and serialise parallel loaders.
	if err := s.withTx(ctx, false, func(tx pgx.Tx) error { return bulkReference(ctx, tx, data) }); err != nil {
		return res, err
	}
	if len(data.Queues)+len(data.Orgs) > 0 {
		if _, err := s.w.Exec(ctx, `ANALYZE orgs, queues`); err != nil {
			return res, s.wrap(err)
		}
	}
	err = s.withTx(ctx, false, func(tx pgx.Tx) error {
		if len(data.Items) == 0 {
			return nil
		}
		itemIDs, err := reserve(ctx, tx, "work_items_id_seq", len(data.Items))
		if err != nil {
			return err
		}
		revIDs, err := reserve(ctx, tx, "work_item_revisions_id_seq", nrev)
		if err != nil {
			return err
		}
		revRows := make([][]any, 0, nrev)
		itemRows := make([][]any, 0, len(data.Items))
		ri := 0
		for i := range data.Items {
			bi := &data.Items[i]
			iid := itemIDs[i]
			var last []byte
			var lastID int64
			for _, r := range bi.Revisions {
				rid := revIDs[ri]
				ri++
				revRows = append(revRows, []any{bi.OrgID, rid, iid, string(r.Attributes), r.CreatedAt.UTC(), "seed"})
				last, lastID = r.Attributes, rid
			}
			st := bi.State
			if st == "" {
				st = router.StateQueued
			}
			itemRows = append(itemRows, []any{bi.OrgID, iid, bi.QueueID, string(st), lastID,
				int16(router.PriorityOf(last)), bi.EnqueuedAt.UTC()})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"work_item_revisions"},
			[]string{"org_id", "id", "work_item_id", "attributes", "created_at", "source"},
			pgx.CopyFromRows(revRows)); err != nil {
			return fmt.Errorf("copy revisions: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"work_items"},
			// The journal copy is the insert trigger's to write (migration 012).
			[]string{"org_id", "id", "queue_id", "state", "current_revision_id", "priority", "enqueued_at"},
			pgx.CopyFromRows(itemRows)); err != nil {
			return fmt.Errorf("copy items: %w", err)
		}
		res = router.BulkResult{Items: len(data.Items), Revisions: nrev, FirstItemID: slices.Min(itemIDs),
			LastItemID: slices.Max(itemIDs)}
		return nil
	})
	if err != nil {
		return router.BulkResult{}, err
	}
	var orgs []string
	seen := map[string]bool{}
	for i := range data.Items {
		it := &data.Items[i]
		if (it.State == "" || it.State == router.StateQueued) && !seen[it.OrgID] {
			seen[it.OrgID] = true
			orgs = append(orgs, it.OrgID)
		}
	}
	s.wake(ctx, orgs...)
	return res, nil
}

// checkBulkItems checks that every item to load has revisions of valid
// JSON and a state a load may give it, and returns the revision count.
func checkBulkItems(items []router.BulkItem) (int, error) {
	nrev := 0
	for i := range items {
		bi := &items[i]
		if len(bi.Revisions) == 0 {
			return 0, fmt.Errorf("bulk item %d has no revisions", i)
		}
		for _, r := range bi.Revisions {
			if !json.Valid(r.Attributes) {
				return 0, fmt.Errorf("bulk item %d: %w", i, router.ErrInvalidJSON)
			}
		}
		switch bi.State {
		case "", router.StateQueued, router.StateCancelled:
		default:
			return 0, fmt.Errorf("bulk item %d: state %s cannot be loaded", i, bi.State)
		}
		nrev += len(bi.Revisions)
	}
	return nrev, nil
}

// BulkLoadParallelism tells loaders (sim.Seed) how many BulkLoad calls may
// run at once: COPY and index maintenance are server-side work.
func (s *Store) BulkLoadParallelism() int { return 2 }

// Analyze refreshes the planner's statistics after a bulk load, rather
// than waiting for autovacuum, so that the first routing transactions get
// index plans. Loaders call it once at the end.
func (s *Store) Analyze(ctx context.Context) error {
	if err := s.Maintain(ctx); err != nil {
		return err
	}
	_, err := s.w.Exec(ctx, `ANALYZE work_items, work_item_revisions, agents, queues, teams, queue_counts, queue_heads`)
	return s.wrap(err)
}

// checkBulkIDs refuses bad reference ids before anything is sent.
func checkBulkIDs(data *router.BulkData) error {
	for _, o := range data.Orgs {
		if err := router.CheckID("org", o.ID); err != nil {
			return err
		}
	}
	for _, q := range data.Queues {
		if err := router.CheckID("queue", q.ID); err != nil {
			return err
		}
	}
	for _, t := range data.Teams {
		if err := router.CheckID("team", t.ID); err != nil {
			return err
		}
	}
	for _, a := range data.Agents {
		if err := router.CheckID("agent", a.ID); err != nil {
			return err
		}
	}
	return nil
}

func bulkReference(ctx context.Context, tx pgx.Tx, data *router.BulkData) error {
	if len(data.Orgs) > 0 {
		ids, names := make([]string, len(data.Orgs)), make([]string, len(data.Orgs))
		for i, o := range data.Orgs {
			ids[i], names[i] = o.ID, o.Name
		}
		if _, err := tx.Exec(ctx, `INSERT INTO orgs (id, name) SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`, ids, names); err != nil {
			return err
		}
	}
	if len(data.Queues) > 0 {
		var orgs, ids []string
		var prios []int32
		var paused []bool
		for _, q := range data.Queues {
			orgs, ids, prios, paused = append(orgs, q.OrgID), append(ids, q.ID), append(prios, int32(q.Priority)), append(paused, q.Paused)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO queues (org_id, id, priority, paused)
			SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bool[])
			ON CONFLICT (org_id, id) DO UPDATE SET priority = EXCLUDED.priority, paused = EXCLUDED.paused`,
			orgs, ids, prios, paused); err != nil {
			return err
		}
	}
	if len(data.Teams) > 0 {
		var orgs, ids, sts []string
		for _, t := range data.Teams {
			st := t.Status
			if st == "" {
				st = router.TeamActive
			}
			orgs, ids, sts = append(orgs, t.OrgID), append(ids, t.ID), append(sts, string(st))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO teams (org_id, id, status)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
			ON CONFLICT (org_id, id) DO UPDATE SET status = EXCLUDED.status`, orgs, ids, sts); err != nil {
			return err
		}
	}
	if len(data.Agents) > 0 {
		var orgs, ids, teams, sts, skills []string
		var caps []int32
		for _, a := range data.Agents {
			st := a.Status
			if st == "" {
				st = router.AgentAvailable
			}
			sk, _ := json.Marshal(sortedSkills(a.Skills))
			orgs, ids, teams, sts = append(orgs, a.OrgID), append(ids, a.ID), append(teams, a.TeamID), append(sts, string(st))
			skills, caps = append(skills, string(sk)), append(caps, int32(a.Capacity))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agents (org_id, id, team_id, skills, status, capacity)
			SELECT o, i, t, ARRAY(SELECT jsonb_array_elements_text(sk::jsonb)), st, c
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) AS u(o, i, t, sk, st, c)
			ON CONFLICT (org_id, id) DO UPDATE SET team_id = EXCLUDED.team_id, skills = EXCLUDED.skills,
				status = EXCLUDED.status, capacity = EXCLUDED.capacity`,
			orgs, ids, teams, skills, sts, caps); err != nil {
			return err
		}
	}
	return nil
}

// reserve takes n values from a sequence (not necessarily consecutive,
// since other writers may call nextval at the same time).
func reserve(ctx context.Context, tx pgx.Tx, seq string, n int) ([]int64, error) {
	var ids []int64
	err := tx.QueryRow(ctx, `SELECT array_agg(nextval($1::regclass) ORDER BY g) FROM generate_series(1, $2) g`, seq, n).Scan(&ids)
	return ids, err
}
