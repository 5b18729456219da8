package pgstore

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// The snapshot reads trigger-kept counters and probes indexes once per
// queue (oldest waiting item, head item); it never scans queued items.
const snapshotQueuesSQL = `
WITH c AS (
    SELECT org_id, queue_id,
           sum(n) FILTER (WHERE bucket = 'queued') AS queued,
           sum(n) FILTER (WHERE bucket = 'skipped') AS skipped,
           sum(n) FILTER (WHERE bucket = 'quarantined') AS quarantined
    FROM queue_counts
    WHERE ($1 = '' OR org_id = $1) AND bucket IN ('queued', 'skipped', 'quarantined')
    GROUP BY org_id, queue_id),
t AS (
    SELECT org_id, queue_id, sum(n) FILTER (WHERE bucket > $2) AS a1, sum(n) AS a5
    FROM queue_throughput
    WHERE ($1 = '' OR org_id = $1) AND bucket > $3 AND bucket <= $4
    GROUP BY org_id, queue_id)
SELECT q.org_id, q.id, q.priority, q.paused, q.last_assigned_at, q.stalled_since, q.stall_cause,
       coalesce(c.queued, 0), coalesce(c.skipped, 0), coalesce(c.quarantined, 0),
       o.oldest,
       h.id, h.enqueued_at, h.attempts, h.last_error, h.last_attempt_at, h.fault_cause, h.current_revision_id,
       r.id IS NOT NULL, coalesce(r.attributes::text, ''),
       coalesce(t.a1, 0), coalesce(t.a5, 0)
FROM queues q
LEFT JOIN c ON c.org_id = q.org_id AND c.queue_id = q.id
LEFT JOIN t ON t.org_id = q.org_id AND t.queue_id = q.id
-- one index probe each for the oldest waiting item and the head, and only
-- for queues that the counters say are not empty
LEFT JOIN LATERAL (
    SELECT w.enqueued_at AS oldest FROM work_items w
    WHERE coalesce(c.queued, 0) + coalesce(c.skipped, 0) > 0
      AND w.org_id = q.org_id AND w.queue_id = q.id AND w.state = 'queued'
    ORDER BY w.enqueued_at LIMIT 1) o ON true
LEFT JOIN LATERAL (
    SELECT w.org_id, w.id, w.enqueued_at, w.attempts, w.last_error, w.last_attempt_at, w.fault_cause, w.current_revision_id
    FROM work_items w
    WHERE coalesce(c.queued, 0) > 0
      AND w.org_id = q.org_id AND w.queue_id = q.id AND w.state = 'queued' AND NOT w.skipped
    ORDER BY w.priority DESC, w.enqueued_at, w.id LIMIT 1) h ON true
LEFT JOIN work_item_revisions r ON r.org_id = h.org_id AND r.id = h.current_revision_id
WHERE ($1 = '' OR q.org_id = $1) AND ($5 < 0 OR (hashtext(q.org_id) & 1) = $5)`

const snapshotOrgsSQL = `
SELECT o.id,
       coalesce(sum(c.n) FILTER (WHERE c.bucket IN ('queued', 'skipped')), 0),
       coalesce(sum(c.n) FILTER (WHERE c.bucket = 'assigned'), 0),
       coalesce(sum(c.n) FILTER (WHERE c.bucket = 'quarantined'), 0),
       coalesce(sum(c.n) FILTER (WHERE c.bucket IN ('queued', 'skipped') AND q.id IS NULL), 0)
FROM orgs o
LEFT JOIN queue_counts c ON c.org_id = o.id
LEFT JOIN queues q ON q.org_id = c.org_id AND q.id = c.queue_id
WHERE ($1 = '' OR o.id = $1)
GROUP BY o.id
ORDER BY o.id COLLATE "C"`

const snapshotAgentsSQL = `
SELECT a.org_id, a.team_id, coalesce(t.status, 'paused'), a.skills, a.status,
       count(*), sum(a.capacity), sum(a.load), sum(greatest(a.capacity - a.load, 0))
FROM agents a
LEFT JOIN teams t ON t.org_id = a.org_id AND t.id = a.team_id
WHERE ($1 = '' OR a.org_id = $1)
GROUP BY 1, 2, 3, 4, 5
ORDER BY a.org_id COLLATE "C", a.team_id COLLATE "C", a.status COLLATE "C", coalesce(t.status, 'paused') COLLATE "C", a.skills`

const snapshotTeamsSQL = `
SELECT org_id, id, status FROM teams WHERE ($1 = '' OR org_id = $1) ORDER BY org_id COLLATE "C", id COLLATE "C"`

func (s *Store) Snapshot(ctx context.Context, req router.SnapshotRequest) (*router.StoreSnapshot, error) {
	now := req.Now.UTC()
	snap := &router.StoreSnapshot{Now: now}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if req.Org != "" {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)`, req.Org).Scan(&ok); err != nil {
			return nil, s.wrap(err)
		}
		if !ok {
			return nil, router.NotFoundf("org %s does not exist", req.Org)
		}
	}
	// The per-queue probes dominate a full snapshot, so the fleet's queues
	// are read in two halves on two connections at once; the second
	// transaction imports the first one's snapshot, so both halves see
	// the same instant.
	part := -1
	var other chan queueRowsResult
	if req.Org == "" {
		var snapID string
		if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapID); err != nil {
			return nil, s.wrap(err)
		}
		part = 0
		other = make(chan queueRowsResult, 1)
		go func() { other <- s.queuePartition(ctx, snapID, now, 1) }()
	}
	b := &pgx.Batch{}
	b.Queue(snapshotOrgsSQL, req.Org)
	b.Queue(snapshotQueuesSQL, req.Org, now.Add(-70*time.Second), now.Add(-310*time.Second), now, part)
	b.Queue(snapshotAgentsSQL, req.Org)
	b.Queue(snapshotTeamsSQL, req.Org)
	b.Queue(heartbeatSQL)
	br := tx.SendBatch(ctx, b)
	index := map[string]int{}
	err = func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var o router.OrgStats
			var q, a, qu, orph int64
			if err := rows.Scan(&o.Org, &q, &a, &qu, &orph); err != nil {
				return err
			}
			o.Queued, o.Assigned, o.Quarantined, o.Orphans = int(q), int(a), int(qu), int(orph)
			index[o.Org] = len(snap.Orgs)
			snap.Orgs = append(snap.Orgs, o)
		}
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = br.Query()
		if err != nil {
			return err
		}
		qs, err := scanQueueRows(rows)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if i, ok := index[q.Org]; ok {
				snap.Orgs[i].Queues = append(snap.Orgs[i].Queues, q)
			}
		}

		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var org, ts, st string
			var g router.AgentGroup
			var n, capSum, load, free int64
			if err := rows.Scan(&org, &g.TeamID, &ts, &g.Skills, &st, &n, &capSum, &load, &free); err != nil {
				return err
			}
			g.TeamStatus, g.Status = router.TeamStatus(ts), router.AgentStatus(st)
			g.Agents, g.Capacity, g.Load, g.Free = int(n), int(capSum), int(load), int(free)
			if i, ok := index[org]; ok {
				snap.Orgs[i].AgentGroups = append(snap.Orgs[i].AgentGroups, g)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var t router.Team
			var st string
			if err := rows.Scan(&t.OrgID, &t.ID, &st); err != nil {
				return err
			}
			t.Status = router.TeamStatus(st)
			if i, ok := index[t.OrgID]; ok {
				snap.Orgs[i].Teams = append(snap.Orgs[i].Teams, t)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = br.Query()
		if err != nil {
			return err
		}
		snap.Heartbeats, err = pgx.CollectRows(rows, scanHeartbeat)
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if other != nil {
		// Always wait, so the second transaction is done before ours ends.
		res := <-other
		if err == nil && res.err != nil {
			err = res.err
		}
		if err == nil {
			for _, q := range res.queues {
				if i, ok := index[q.Org]; ok {
					snap.Orgs[i].Queues = append(snap.Orgs[i].Queues, q)
				}
			}
		}
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	// Queue order within an org: priority desc, then id (bytewise).
	for i := range snap.Orgs {
		qs := snap.Orgs[i].Queues
		sort.Slice(qs, func(a, b int) bool {
			if qs[a].Priority != qs[b].Priority {
				return qs[a].Priority > qs[b].Priority
			}
			return qs[a].Queue < qs[b].Queue
		})
	}
	return snap, nil
}

func (s *Store) MarkStall(ctx context.Context, org, queue string, cause router.Cause, detail []byte, actor router.Actor, at time.Time) (bool, error) {
	if detail == nil {
		detail = router.Detail("cause", cause)
	}
	changed := false
	err := s.withTx(ctx, false, func(tx pgx.Tx) error {
		var sql, kind string
		if cause != router.CauseNone {
			sql = `UPDATE queues SET stalled_since = $3, stall_cause = $4 WHERE org_id = $1 AND id = $2 AND stalled_since IS NULL`
			kind = router.EventStallDetected
		} else {
			sql = `UPDATE queues SET stalled_since = NULL, stall_cause = '' WHERE org_id = $1 AND id = $2 AND stalled_since IS NOT NULL AND $3::timestamptz IS NOT NULL AND $4::text IS NOT NULL`
			kind = router.EventStallCleared
		}
		tag, err := tx.Exec(ctx, sql, org, queue, at.UTC(), string(cause))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE org_id = $1 AND id = $2)`, org, queue).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return router.NotFoundf("queue %s/%s does not exist", org, queue)
			}
			return nil
		}
		changed = true
		return insertEvent(ctx, tx, router.Event{OrgID: org, At: at, Kind: kind, QueueID: queue, Detail: detail}, actor)
	})
	return changed, err
}

// insertEvent appends one journal entry in the caller's transaction.
func insertEvent(ctx context.Context, tx pgx.Tx, e router.Event, actor router.Actor) error {
	var item any
	if e.WorkItemID != 0 {
		item = e.WorkItemID
	}
	var queue any
	if e.QueueID != "" {
		queue = e.QueueID
	}
	detail := e.Detail
	if len(detail) == 0 {
		detail = []byte(`{}`)
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
		e.OrgID, e.At.UTC(), e.Kind, item, queue, actor.Name, actor.Origin, actor.OSUser, string(detail))
	return err
}

type queueRowsResult struct {
	queues []router.QueueStats
	err    error
}

// queuePartition reads one half of the fleet's queues in a transaction
// that imports snapshot snapID.
func (s *Store) queuePartition(ctx context.Context, snapID string, now time.Time, part int) queueRowsResult {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return queueRowsResult{err: err}
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+strings.ReplaceAll(snapID, "'", "")+`'`); err != nil {
		return queueRowsResult{err: err}
	}
	rows, err := tx.Query(ctx, snapshotQueuesSQL, "", now.Add(-70*time.Second), now.Add(-310*time.Second), now, part)
	if err != nil {
		return queueRowsResult{err: err}
	}
	qs, err := scanQueueRows(rows)
	return queueRowsResult{queues: qs, err: err}
}

func scanQueueRows(rows pgx.Rows) ([]router.QueueStats, error) {
	defer rows.Close()
	var out []router.QueueStats
	for rows.Next() {
		var qs router.QueueStats
		var cause string
		var queued, skipped, quar int64
		var hID, hRev *int64
		var hEnq *time.Time
		var hAttempts *int
		var hErr, hCause *string
		var hLast *time.Time
		var found bool
		var attrs string
		if err := rows.Scan(&qs.Org, &qs.Queue, &qs.Priority, &qs.Paused, &qs.LastAssignedAt, &qs.StalledSince, &cause,
			&queued, &skipped, &quar, &qs.OldestEnqueuedAt,
			&hID, &hEnq, &hAttempts, &hErr, &hLast, &hCause, &hRev, &found, &attrs,
			&qs.Assigned1m, &qs.Assigned5m); err != nil {
			return nil, err
		}
		qs.StallCause = router.Cause(cause)
		qs.Depth = int(queued + skipped)
		qs.Skipped = int(skipped)
		qs.Quarantined = int(quar)
		utcp(qs.LastAssignedAt)
		utcp(qs.StalledSince)
		utcp(qs.OldestEnqueuedAt)
		if hID != nil {
			h := &router.HeadItem{ID: *hID, EnqueuedAt: hEnq.UTC(), Attempts: *hAttempts, LastError: *hErr,
				LastAttemptAt: hLast, FaultCause: router.Cause(*hCause), CurrentRevisionID: *hRev, RevisionFound: found}
			utcp(h.LastAttemptAt)
			if found {
				h.Attributes = []byte(attrs)
			}
			qs.Head = h
		}
		out = append(out, qs)
	}
	return out, rows.Err()
}
