package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/routeops/routeops/router"
)

// The snapshot reads trigger-kept counters and probes indexes once per
// queue (oldest waiting item, head item); it never scans queued items.
// The snapshot is plain reads of small tables (and of the trigger-kept
// queue_counts and queue_heads), split across two connections that share
// one exported snapshot; grouping and totals are done in Go. No statement
// probes an index per queue or aggregates per agent.
const (
	// Every queue with its stored head: hash joins only.
	snapshotQueuesSQL = `
SELECT q.org_id, q.id, q.priority, q.paused, q.last_assigned_at, q.last_routed_at, q.stalled_since, q.stall_cause,
       h.oldest_enqueued_at, h.head_id, h.head_enqueued_at, h.head_attempts, left(h.head_last_error, ` + maxTextSQL + `),
       h.head_last_attempt_at, h.head_fault_cause, h.head_revision_id,
       coalesce(h.head_revision_found, false), coalesce(h.head_attributes_bytes, 0),
       CASE WHEN h.head_attributes_bytes > (SELECT routeops_attributes_limit()) THEN NULL ELSE h.head_attributes::text END,
       coalesce(t.a1, 0)::bigint, coalesce(t.a5, 0)::bigint,
       left(q.paused_by, 256), left(q.pause_reason, ` + maxTextSQL + `), q.paused_at, q.paused_until
FROM queues q
LEFT JOIN queue_heads h ON h.org_id = q.org_id AND h.queue_id = q.id
LEFT JOIN (
    SELECT org_id, queue_id, sum(n) FILTER (WHERE bucket > $2) AS a1, sum(n) AS a5
    FROM queue_throughput
    WHERE ($1 = '' OR org_id = $1) AND bucket > $3 AND bucket <= $4
    GROUP BY org_id, queue_id) t ON t.org_id = q.org_id AND t.queue_id = q.id
WHERE ($1 = '' OR q.org_id = $1)`
	// The queues written since the last maintenance, probed directly; these
	// rows replace the stored ones.
	snapshotDirtySQL = `
SELECT d.org_id, d.queue_id, o.oldest, x.id, x.enqueued_at, x.attempts, left(x.last_error, ` + maxTextSQL + `), x.last_attempt_at,
       x.fault_cause, x.current_revision_id, r.id IS NOT NULL, ` + revisionAttrsSQL + `
FROM (SELECT DISTINCT org_id, queue_id FROM queue_dirty WHERE ($1 = '' OR org_id = $1)) d
LEFT JOIN LATERAL (
    SELECT c.enqueued_at AS oldest FROM queued_items c
    WHERE c.org_id = d.org_id AND c.queue_id = d.queue_id
    ORDER BY c.enqueued_at LIMIT 1) o ON true
LEFT JOIN LATERAL (
    SELECT w.org_id, w.id, w.enqueued_at, w.attempts, w.last_error, w.last_attempt_at, w.fault_cause, w.current_revision_id
    FROM queued_items c JOIN work_items w ON w.org_id = c.org_id AND w.id = c.id
    WHERE c.org_id = d.org_id AND c.queue_id = d.queue_id AND NOT c.skipped
    ORDER BY c.priority DESC, c.enqueued_at, c.id LIMIT 1) x ON true
LEFT JOIN work_item_revisions r ON r.org_id = x.org_id AND r.id = x.current_revision_id`
	snapshotCountsSQL = `
SELECT org_id, queue_id,
       coalesce(sum(n) FILTER (WHERE bucket = 'queued'), 0)::bigint,
       coalesce(sum(n) FILTER (WHERE bucket = 'skipped'), 0)::bigint,
       coalesce(sum(n) FILTER (WHERE bucket = 'assigned'), 0)::bigint,
       coalesce(sum(n) FILTER (WHERE bucket = 'quarantined'), 0)::bigint
FROM (SELECT org_id, queue_id, bucket, n FROM queue_counts WHERE ($1 = '' OR org_id = $1) AND n <> 0
      UNION ALL
      SELECT org_id, queue_id, bucket, n FROM queue_count_deltas WHERE ($1 = '' OR org_id = $1)) x
WHERE bucket IN ('queued', 'skipped', 'assigned', 'quarantined')
GROUP BY org_id, queue_id`
	snapshotOrgsSQL = `SELECT id FROM orgs WHERE ($1 = '' OR id = $1)`
	// Skills travel as one string (they are stored sorted), which is also
	// the grouping key: no array decoding per agent. Rows come in the
	// groups' order (bytewise), so that alike agents are consecutive and
	// fold into their group as they are read.
	snapshotAgentsSQL = `SELECT org_id, team_id, array_to_string(skills, E'\x1f') COLLATE "C" AS sk, status, capacity, load FROM agents WHERE ($1 = '' OR org_id = $1)
ORDER BY org_id COLLATE "C", team_id COLLATE "C", status COLLATE "C", sk`
	snapshotTeamsSQL = `SELECT org_id, id, status FROM teams WHERE ($1 = '' OR org_id = $1)`
	// How many queues and teams the snapshot reads, so that their slices
	// are allocated once, at their size (the orgs' windows keep the whole
	// backing array alive, spare capacity included).
	snapshotSizesSQL = `SELECT (SELECT count(*) FROM queues WHERE ($1 = '' OR org_id = $1)),
       (SELECT count(*) FROM teams WHERE ($1 = '' OR org_id = $1))`
)

func (s *Store) Snapshot(ctx context.Context, req router.SnapshotRequest) (*router.StoreSnapshot, error) {
	now := req.Now.UTC()
	snap := &router.StoreSnapshot{Now: now}
	// Both halves read the same server: a snapshot is exported and
	// imported there.
	d := s.rd(ctx)
	tx, err := d.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
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
	go func() { other <- s.snapshotOther(ctx, d, snapID, req.Org) }()

	queues, teams, err := s.snapshotHalf(ctx, tx, req, snap)
	ob := <-other
	if err == nil {
		err = ob.err
	}
	if err != nil {
		return nil, s.wrap(err)
	}

	assembleSnapshot(snap, queues, teams, ob)
	return snap, nil
}

// snapshotHalf reads, in the snapshot's transaction, the queues (with
// the dirty ones' heads overlaid), the teams and the source.
func (s *Store) snapshotHalf(ctx context.Context, tx pgx.Tx, req router.SnapshotRequest, snap *router.StoreSnapshot) (queues []router.QueueStats, teams []router.Team, err error) {
	now := snap.Now
	b := &pgx.Batch{}
	b.Queue(snapshotSizesSQL, req.Org)
	b.Queue(snapshotQueuesSQL, req.Org, now.Add(-70*time.Second), now.Add(-310*time.Second), now)
	b.Queue(snapshotDirtySQL, req.Org)
	b.Queue(snapshotTeamsSQL, req.Org)
	b.Queue(sourceSQL)
	br := tx.SendBatch(ctx, b)
	err = func() error {
		var nQueues, nTeams int64
		if err := br.QueryRow().Scan(&nQueues, &nTeams); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if queues, err = scanQueueRows(rows, int(nQueues)); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		if err := overlayDirty(rows, queues); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		teams, err = pgx.AppendRows(make([]router.Team, 0, nTeams), rows, func(r pgx.CollectableRow) (router.Team, error) {
			var t router.Team
			var st string
			err := r.Scan(&t.OrgID, &t.ID, &st)
			t.Status = router.TeamStatus(st)
			return t, err
		})
		if err != nil {
			return err
		}
		snap.Source, err = s.scanSource(br.QueryRow())
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return queues, teams, err
}

// qkey names a queue (or a team) within an org.
type qkey struct{ org, queue string }

// assembleSnapshot puts the two halves of a snapshot together per org:
// counts on queues, teams, agent groups, and the orders readers rely on.
func assembleSnapshot(snap *router.StoreSnapshot, queues []router.QueueStats, teams []router.Team, ob snapshotB) {
	index := snapshotOrgs(snap, ob.orgs)
	addSnapshotCounts(snap, index, queues, ob.counts)
	teamStatus := addSnapshotTeams(snap, index, teams)
	addAgentGroups(snap, index, teamStatus, ob.agents)
	snap.Heartbeats = ob.heartbeats
}

// snapshotOrgs lays out the orgs in id order and returns each one's index.
func snapshotOrgs(snap *router.StoreSnapshot, orgs []string) map[string]int {
	index := make(map[string]int, len(orgs))
	sort.Strings(orgs)
	snap.Orgs = make([]router.OrgStats, len(orgs))
	for i, id := range orgs {
		snap.Orgs[i].Org = id
		index[id] = i
	}
	return index
}

// addSnapshotCounts adds the counters to their orgs and queues (items of
// a queue that does not exist count as the org's orphans) and the queues
// to their orgs.
func addSnapshotCounts(snap *router.StoreSnapshot, index map[string]int, queues []router.QueueStats, counts []countRow) {
	known := make(map[qkey]int, len(queues))
	for i := range queues {
		known[qkey{queues[i].Org, queues[i].Queue}] = i
	}
	for _, c := range counts {
		oi, ok := index[c.org]
		if !ok {
			continue
		}
		o := &snap.Orgs[oi]
		waiting := int(c.queued + c.skipped)
		o.Queued += waiting
		o.Assigned += int(c.assigned)
		o.Quarantined += int(c.quarantined)
		if qi, isQueue := known[qkey{c.org, c.queue}]; isQueue {
			queues[qi].Depth += waiting
			queues[qi].Skipped += int(c.skipped)
			queues[qi].Quarantined += int(c.quarantined)
		} else {
			o.Orphans += waiting
		}
	}
	// Each org's queues are a window of the one slice, sorted by org, then
	// in routing order (priority desc, then id bytewise): no copy per org.
	slices.SortFunc(queues, func(a, b router.QueueStats) int {
		return cmp.Or(strings.Compare(a.Org, b.Org), cmp.Compare(b.Priority, a.Priority), strings.Compare(a.Queue, b.Queue))
	})
	eachOrgRun(len(queues), func(n int) string { return queues[n].Org }, func(org string, lo, hi int) {
		if i, ok := index[org]; ok {
			snap.Orgs[i].Queues = queues[lo:hi:hi]
		}
	})
}

// eachOrgRun calls place with each run [lo, hi) of rows 0..n-1 that share
// an org (rows sorted by org). Callers give each org the window
// rows[lo:hi:hi] of their one slice: no copy per org, and the capacity cut
// keeps an append from spilling into the next org's rows.
func eachOrgRun(n int, orgAt func(int) string, place func(org string, lo, hi int)) {
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && orgAt(hi) == orgAt(lo) {
			hi++
		}
		place(orgAt(lo), lo, hi)
		lo = hi
	}
}

// addSnapshotTeams adds the teams to their orgs, in id order, and returns
// each team's status.
func addSnapshotTeams(snap *router.StoreSnapshot, index map[string]int, teams []router.Team) map[qkey]router.TeamStatus {
	teamStatus := make(map[qkey]router.TeamStatus, len(teams))
	sort.Slice(teams, func(i, j int) bool {
		if teams[i].OrgID != teams[j].OrgID {
			return teams[i].OrgID < teams[j].OrgID
		}
		return teams[i].ID < teams[j].ID
	})
	for _, t := range teams {
		teamStatus[qkey{t.OrgID, t.ID}] = t.Status
	}
	// Each org's teams are a window of the one sorted slice.
	eachOrgRun(len(teams), func(n int) string { return teams[n].OrgID }, func(org string, lo, hi int) {
		if i, ok := index[org]; ok {
			snap.Orgs[i].Teams = teams[lo:hi:hi]
		}
	})
	return teamStatus
}

// addAgentGroups gives each group its team's status (an agent of a team
// that does not exist counts as paused) and each org its groups, a window
// of the one slice read in order (org, team, status, skills).
func addAgentGroups(snap *router.StoreSnapshot, index map[string]int, teamStatus map[qkey]router.TeamStatus, ag agentGroups) {
	for n := range ag.groups {
		ts, ok := teamStatus[qkey{ag.orgs[n], ag.groups[n].TeamID}]
		if !ok {
			ts = router.TeamPaused
		}
		ag.groups[n].TeamStatus = ts
	}
	eachOrgRun(len(ag.groups), func(n int) string { return ag.orgs[n] }, func(org string, lo, hi int) {
		if i, ok := index[org]; ok {
			snap.Orgs[i].AgentGroups = ag.groups[lo:hi:hi]
		}
	})
}

// agentGroups are the agents folded into groups as they are read: the
// groups in order, each with its org (orgs[i] is groups[i]'s).
type agentGroups struct {
	groups []router.AgentGroup
	orgs   []string
}

// scanAgentGroups folds rows of snapshotAgentsSQL, which come ordered by
// org, team, status and skills, into groups. Groups with the same skills
// share one (read-only) slice of them.
func scanAgentGroups(rows pgx.Rows) (agentGroups, error) {
	defer rows.Close()
	var out agentGroups
	skillSets := map[string][]string{}
	var lastSkills string
	var org, team, skills, status string
	var capacity, load int
	for rows.Next() {
		if err := rows.Scan(&org, &team, &skills, &status, &capacity, &load); err != nil {
			return agentGroups{}, err
		}
		n := len(out.groups) - 1
		if n < 0 || out.orgs[n] != org || out.groups[n].TeamID != team || string(out.groups[n].Status) != status || lastSkills != skills {
			sk, seen := skillSets[skills]
			if !seen {
				sk = []string{}
				if skills != "" {
					sk = strings.Split(skills, "\x1f")
				}
				skillSets[skills] = sk
			}
			out.groups = append(out.groups, router.AgentGroup{TeamID: team, Skills: sk, Status: router.AgentStatus(status)})
			out.orgs = append(out.orgs, org)
			lastSkills = skills
			n++
		}
		g := &out.groups[n]
		g.Agents++
		g.Capacity += capacity
		g.Load += load
		if load < capacity {
			g.Free += capacity - load
		}
	}
	return out, rows.Err()
}

type countRow struct {
	org, queue                             string
	queued, skipped, assigned, quarantined int64
}

type snapshotB struct {
	orgs       []string
	counts     []countRow
	agents     agentGroups
	heartbeats []router.Heartbeat
	err        error
}

// snapshotOther reads orgs, counters, agents and heartbeats in a
// transaction that imports snapshot snapID.
func (s *Store) snapshotOther(ctx context.Context, d *db, snapID, org string) (out snapshotB) {
	tx, err := d.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
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
		if err := rows.Scan(&c.org, &c.queue, &c.queued, &c.skipped, &c.assigned, &c.quarantined); err != nil {
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
	if out.agents, err = scanAgentGroups(rows); err != nil {
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

func (s *Store) MarkStall(ctx context.Context, req router.MarkStallRequest) (bool, error) {
	if req.Detail == nil {
		req.Detail = router.Detail("cause", req.Cause)
	}
	changed := false
	err := s.withTx(ctx, false, func(tx pgx.Tx) error {
		var sql, kind string
		if req.Cause != router.CauseNone {
			sql = `UPDATE queues SET stalled_since = $3, stall_cause = $4 WHERE org_id = $1 AND id = $2 AND stalled_since IS NULL`
			kind = router.EventStallDetected
		} else {
			sql = `UPDATE queues SET stalled_since = NULL, stall_cause = '' WHERE org_id = $1 AND id = $2 AND stalled_since IS NOT NULL AND $3::timestamptz IS NOT NULL AND $4::text IS NOT NULL`
			kind = router.EventStallCleared
		}
		tag, err := tx.Exec(ctx, sql, req.Org, req.Queue, req.At.UTC(), string(req.Cause))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queues WHERE org_id = $1 AND id = $2)`, req.Org, req.Queue).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return router.NotFoundf("queue %s/%s does not exist", req.Org, req.Queue)
			}
			return nil
		}
		changed = true
		return insertEvent(ctx, tx, router.Event{OrgID: req.Org, At: req.At, Kind: kind, QueueID: req.Queue, Detail: req.Detail}, req.Actor)
	})
	return changed, err
}

// stallChunk is how many transitions one MarkStalls statement carries.
const stallChunk = 1000

// markStallsSQL makes every transition in one statement: a queue's row is
// updated only if it is not already in the target state (the
// compare-and-set that makes each transition happen once across
// monitors), and each real transition appends its event.
const markStallsSQL = `
WITH m AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS m(org, queue, cause, detail)),
u AS (
    UPDATE queues q SET stalled_since = CASE WHEN m.cause <> '' THEN $5::timestamptz END, stall_cause = m.cause
    FROM m
    WHERE q.org_id = m.org AND q.id = m.queue
      AND ((m.cause <> '' AND q.stalled_since IS NULL) OR (m.cause = '' AND q.stalled_since IS NOT NULL))
    RETURNING q.org_id, q.id, m.cause, m.detail),
e AS (
    INSERT INTO events (org_id, at, kind, queue_id, actor, origin, os_user, detail)
    SELECT u.org_id, $5, CASE WHEN u.cause <> '' THEN 'stall_detected' ELSE 'stall_cleared' END, u.id, $6, $7, $8, u.detail::jsonb
    FROM u ORDER BY u.org_id, u.id
    RETURNING org_id, queue_id)
SELECT org_id, queue_id FROM e`

func (s *Store) MarkStalls(ctx context.Context, req router.MarkStallsRequest) ([]bool, error) {
	marks, actor, at := req.Marks, req.Actor, req.At
	index := make(map[[2]string]int, len(marks))
	for i, m := range marks {
		k := [2]string{m.Org, m.Queue}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("pgstore: queue %s/%s marked twice in one call", m.Org, m.Queue)
		}
		index[k] = i
	}
	// Rows are locked in key order, as the routing transaction locks them,
	// so that a monitor and an engine never wait on each other in a cycle.
	sorted := slices.Clone(marks)
	slices.SortFunc(sorted, func(a, b router.StallMark) int {
		return cmp.Or(strings.Compare(a.Org, b.Org), strings.Compare(a.Queue, b.Queue))
	})
	out := make([]bool, len(marks))
	for start := 0; start < len(sorted); start += stallChunk {
		chunk := sorted[start:min(start+stallChunk, len(sorted))]
		orgs, queues, causes, details := make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
		for i, m := range chunk {
			d := m.Detail
			if d == nil {
				d = router.Detail("cause", m.Cause)
			}
			orgs[i], queues[i], causes[i], details[i] = m.Org, m.Queue, string(m.Cause), string(d)
		}
		rows, err := s.w.Query(ctx, markStallsSQL, orgs, queues, causes, details, at.UTC(), actor.Name, actor.Origin, actor.OSUser)
		if err != nil {
			return out, s.wrap(err)
		}
		for rows.Next() {
			var org, queue string
			if err := rows.Scan(&org, &queue); err != nil {
				rows.Close()
				return out, s.wrap(err)
			}
			out[index[[2]string{org, queue}]] = true
		}
		if err := rows.Err(); err != nil {
			return out, s.wrap(err)
		}
	}
	return out, nil
}

func scanQueueRows(rows pgx.Rows, n int) ([]router.QueueStats, error) {
	defer rows.Close()
	out := make([]router.QueueStats, 0, n)
	var (
		lastAssigned, lastRouted, stalledSince pgtype.Timestamptz
		oldest, hEnq, hLast                    pgtype.Timestamptz
		pausedAt, pausedUntil                  pgtype.Timestamptz
		hID, hRev                              pgtype.Int8
		hAttempts                              pgtype.Int4
		hErr, hCause                           pgtype.Text
		cause                                  string
		attrs                                  *string
		size                                   int
		found                                  bool
		a1, a5                                 int64
	)
	tp := func(t pgtype.Timestamptz) *time.Time {
		if !t.Valid {
			return nil
		}
		u := t.Time.UTC()
		return &u
	}
	for rows.Next() {
		var qs router.QueueStats
		if err := rows.Scan(&qs.Org, &qs.Queue, &qs.Priority, &qs.Paused, &lastAssigned, &lastRouted, &stalledSince, &cause,
			&oldest, &hID, &hEnq, &hAttempts, &hErr, &hLast, &hCause, &hRev, &found, &size, &attrs, &a1, &a5,
			&qs.Pause.By, &qs.Pause.Reason, &pausedAt, &pausedUntil); err != nil {
			return nil, err
		}
		qs.Pause.At, qs.Pause.Until = tp(pausedAt), tp(pausedUntil)
		qs.StallCause = router.Cause(cause)
		qs.LastAssignedAt, qs.StalledSince, qs.OldestEnqueuedAt = tp(lastAssigned), tp(stalledSince), tp(oldest)
		qs.LastRoutedAt = tp(lastRouted)
		qs.Assigned1m, qs.Assigned5m = int(a1), int(a5)
		if hID.Valid {
			h := &router.HeadItem{ID: hID.Int64, EnqueuedAt: hEnq.Time.UTC(), Attempts: int(hAttempts.Int32),
				LastError: hErr.String, LastAttemptAt: tp(hLast), FaultCause: router.Cause(hCause.String),
				CurrentRevisionID: hRev.Int64, RevisionFound: found}
			setHeadAttrs(h, size, attrs)
			qs.Head = h
		}
		out = append(out, qs)
	}
	return out, rows.Err()
}

// overlayDirty replaces the stored head and oldest item of the queues
// written since the last maintenance with what their indexes say now.
func overlayDirty(rows pgx.Rows, queues []router.QueueStats) error {
	defer rows.Close()
	type key struct{ org, queue string }
	at := make(map[key]int, len(queues))
	for i := range queues {
		at[key{queues[i].Org, queues[i].Queue}] = i
	}
	var (
		org, queue          string
		oldest, hEnq, hLast pgtype.Timestamptz
		hID, hRev           pgtype.Int8
		hAttempts           pgtype.Int4
		hErr, hCause        pgtype.Text
		found               bool
		size                int
		attrs               *string
	)
	for rows.Next() {
		if err := rows.Scan(&org, &queue, &oldest, &hID, &hEnq, &hAttempts, &hErr, &hLast, &hCause, &hRev, &found, &size, &attrs); err != nil {
			return err
		}
		i, ok := at[key{org, queue}]
		if !ok {
			continue // an orphan queue id: not in the snapshot's queues
		}
		q := &queues[i]
		q.OldestEnqueuedAt = tsPtr(oldest)
		q.Head = nil
		if hID.Valid {
			h := &router.HeadItem{ID: hID.Int64, EnqueuedAt: hEnq.Time.UTC(), Attempts: int(hAttempts.Int32),
				LastError: hErr.String, LastAttemptAt: tsPtr(hLast), FaultCause: router.Cause(hCause.String),
				CurrentRevisionID: hRev.Int64, RevisionFound: found}
			setHeadAttrs(h, size, attrs)
			q.Head = h
		}
	}
	return rows.Err()
}

// setHeadAttrs fills a head's attributes, or marks them oversized when
// the query left them out for being over the size limit.
func setHeadAttrs(h *router.HeadItem, size int, attrs *string) {
	if !h.RevisionFound {
		return
	}
	h.Bytes = size
	if attrs == nil {
		h.Oversized = true
		return
	}
	h.Attributes = []byte(*attrs)
}

func tsPtr(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
