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
// The snapshot is plain reads of small tables (and of the trigger-kept
// queue_counts and queue_heads), split across two connections that share
// one exported snapshot; grouping and totals are done in Go. No statement
// probes an index per queue or aggregates per agent.
const (
	snapshotQueuesSQL = `
SELECT q.org_id, q.id, q.priority, q.paused, q.last_assigned_at, q.stalled_since, q.stall_cause,
       h.oldest_enqueued_at,
       h.head_id, h.head_enqueued_at, h.head_attempts, h.head_last_error, h.head_last_attempt_at, h.head_fault_cause,
       h.head_revision_id, coalesce(h.head_revision_found, false), coalesce(h.head_attributes::text, ''),
       coalesce(t.a1, 0), coalesce(t.a5, 0)
FROM queues q
LEFT JOIN queue_heads h ON h.org_id = q.org_id AND h.queue_id = q.id
LEFT JOIN (
    SELECT org_id, queue_id, sum(n) FILTER (WHERE bucket > $2) AS a1, sum(n) AS a5
    FROM queue_throughput
    WHERE ($1 = '' OR org_id = $1) AND bucket > $3 AND bucket <= $4
    GROUP BY org_id, queue_id) t ON t.org_id = q.org_id AND t.queue_id = q.id
WHERE ($1 = '' OR q.org_id = $1)`
	snapshotCountsSQL = `SELECT org_id, queue_id, bucket, n FROM queue_counts WHERE ($1 = '' OR org_id = $1) AND n <> 0`
	snapshotOrgsSQL   = `SELECT id FROM orgs WHERE ($1 = '' OR id = $1)`
	snapshotAgentsSQL = `SELECT org_id, team_id, skills, status, capacity, load FROM agents WHERE ($1 = '' OR org_id = $1)`
	snapshotTeamsSQL  = `SELECT org_id, id, status FROM teams WHERE ($1 = '' OR org_id = $1)`
)

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
	var snapID string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapID); err != nil {
		return nil, s.wrap(err)
	}
	// The other half runs on a second connection in the same snapshot.
	other := make(chan snapshotB, 1)
	go func() { other <- s.snapshotOther(ctx, snapID, req.Org) }()

	b := &pgx.Batch{}
	b.Queue(snapshotQueuesSQL, req.Org, now.Add(-70*time.Second), now.Add(-310*time.Second), now)
	b.Queue(snapshotTeamsSQL, req.Org)
	br := tx.SendBatch(ctx, b)
	var queues []router.QueueStats
	var teams []router.Team
	err = func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if queues, err = scanQueueRows(rows); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		teams, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Team, error) {
			var t router.Team
			var st string
			err := r.Scan(&t.OrgID, &t.ID, &st)
			t.Status = router.TeamStatus(st)
			return t, err
		})
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	ob := <-other
	if err == nil {
		err = ob.err
	}
	if err != nil {
		return nil, s.wrap(err)
	}

	// Assemble.
	index := make(map[string]int, len(ob.orgs))
	sort.Strings(ob.orgs)
	snap.Orgs = make([]router.OrgStats, len(ob.orgs))
	for i, id := range ob.orgs {
		snap.Orgs[i].Org = id
		index[id] = i
	}
	type qkey struct{ org, queue string }
	known := make(map[qkey]int, len(queues))
	for i := range queues {
		known[qkey{queues[i].Org, queues[i].Queue}] = i
	}
	for _, c := range ob.counts {
		oi, ok := index[c.org]
		if !ok {
			continue
		}
		o := &snap.Orgs[oi]
		qi, isQueue := known[qkey{c.org, c.queue}]
		switch c.bucket {
		case "queued", "skipped":
			o.Queued += int(c.n)
			if !isQueue {
				o.Orphans += int(c.n)
			} else {
				queues[qi].Depth += int(c.n)
				if c.bucket == "skipped" {
					queues[qi].Skipped += int(c.n)
				}
			}
		case "assigned":
			o.Assigned += int(c.n)
		case "quarantined":
			o.Quarantined += int(c.n)
			if isQueue {
				queues[qi].Quarantined += int(c.n)
			}
		}
	}
	for _, q := range queues {
		if i, ok := index[q.Org]; ok {
			snap.Orgs[i].Queues = append(snap.Orgs[i].Queues, q)
		}
	}
	teamStatus := make(map[qkey]router.TeamStatus, len(teams))
	sort.Slice(teams, func(i, j int) bool {
		if teams[i].OrgID != teams[j].OrgID {
			return teams[i].OrgID < teams[j].OrgID
		}
		return teams[i].ID < teams[j].ID
	})
	for _, t := range teams {
		teamStatus[qkey{t.OrgID, t.ID}] = t.Status
		if i, ok := index[t.OrgID]; ok {
			snap.Orgs[i].Teams = append(snap.Orgs[i].Teams, t)
		}
	}
	type gkey struct{ org, team, ts, skills, st string }
	groups := map[gkey]*router.AgentGroup{}
	var gkeys []gkey
	for _, a := range ob.agents {
		ts, ok := teamStatus[qkey{a.OrgID, a.TeamID}]
		if !ok {
			ts = router.TeamPaused
		}
		k := gkey{a.OrgID, a.TeamID, string(ts), strings.Join(a.Skills, "\x00"), string(a.Status)}
		g := groups[k]
		if g == nil {
			g = &router.AgentGroup{TeamID: a.TeamID, TeamStatus: ts, Skills: a.Skills, Status: a.Status}
			groups[k] = g
			gkeys = append(gkeys, k)
		}
		g.Agents++
		g.Capacity += a.Capacity
		g.Load += a.Load
		g.Free += a.Free()
	}
	sort.Slice(gkeys, func(i, j int) bool {
		a, b := gkeys[i], gkeys[j]
		switch {
		case a.org != b.org:
			return a.org < b.org
		case a.team != b.team:
			return a.team < b.team
		case a.st != b.st:
			return a.st < b.st
		case a.ts != b.ts:
			return a.ts < b.ts
		}
		return a.skills < b.skills
	})
	for _, k := range gkeys {
		if i, ok := index[k.org]; ok {
			snap.Orgs[i].AgentGroups = append(snap.Orgs[i].AgentGroups, *groups[k])
		}
	}
	snap.Heartbeats = ob.heartbeats
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

type countRow struct {
	org, queue, bucket string
	n                  int64
}

type snapshotB struct {
	orgs       []string
	counts     []countRow
	agents     []router.Agent
	heartbeats []router.Heartbeat
	err        error
}

// snapshotOther reads orgs, counters, agents and heartbeats in a
// transaction that imports snapshot snapID.
func (s *Store) snapshotOther(ctx context.Context, snapID, org string) (out snapshotB) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return snapshotB{err: err}
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+strings.ReplaceAll(snapID, "'", "")+`'`); err != nil {
		return snapshotB{err: err}
	}
	b := &pgx.Batch{}
	b.Queue(snapshotOrgsSQL, org)
	b.Queue(snapshotCountsSQL, org)
	b.Queue(snapshotAgentsSQL, org)
	b.Queue(heartbeatSQL)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return snapshotB{err: err}
	}
	if out.orgs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return snapshotB{err: err}
	}
	rows, err = br.Query()
	if err != nil {
		return snapshotB{err: err}
	}
	for rows.Next() {
		var c countRow
		if err := rows.Scan(&c.org, &c.queue, &c.bucket, &c.n); err != nil {
			rows.Close()
			return snapshotB{err: err}
		}
		out.counts = append(out.counts, c)
	}
	if err := rows.Err(); err != nil {
		return snapshotB{err: err}
	}
	rows, err = br.Query()
	if err != nil {
		return snapshotB{err: err}
	}
	for rows.Next() {
		var a router.Agent
		var st string
		if err := rows.Scan(&a.OrgID, &a.TeamID, &a.Skills, &st, &a.Capacity, &a.Load); err != nil {
			rows.Close()
			return snapshotB{err: err}
		}
		a.Status = router.AgentStatus(st)
		if a.Skills == nil {
			a.Skills = []string{}
		}
		out.agents = append(out.agents, a)
	}
	if err := rows.Err(); err != nil {
		return snapshotB{err: err}
	}
	rows, err = br.Query()
	if err != nil {
		return snapshotB{err: err}
	}
	if out.heartbeats, err = pgx.CollectRows(rows, scanHeartbeat); err != nil {
		return snapshotB{err: err}
	}
	return out
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

func scanQueueRows(rows pgx.Rows) ([]router.QueueStats, error) {
	defer rows.Close()
	var out []router.QueueStats
	for rows.Next() {
		var qs router.QueueStats
		var cause string
		var hID, hRev *int64
		var hEnq *time.Time
		var hAttempts *int
		var hErr, hCause *string
		var hLast *time.Time
		var found bool
		var attrs string
		if err := rows.Scan(&qs.Org, &qs.Queue, &qs.Priority, &qs.Paused, &qs.LastAssignedAt, &qs.StalledSince, &cause,
			&qs.OldestEnqueuedAt,
			&hID, &hEnq, &hAttempts, &hErr, &hLast, &hCause, &hRev, &found, &attrs,
			&qs.Assigned1m, &qs.Assigned5m); err != nil {
			return nil, err
		}
		qs.StallCause = router.Cause(cause)
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
