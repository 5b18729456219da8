package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/routeops/routeops/router"
)

func (s *Store) ListOrgs(ctx context.Context) ([]string, error) {
	rows, err := s.w.Query(ctx, `SELECT id FROM orgs ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, s.wrap(err)
}

// RoutableOrgs uses the trigger-kept counters, so it costs a few index
// probes per org rather than a scan of queued items.
func (s *Store) RoutableOrgs(ctx context.Context) ([]string, error) {
	rows, err := s.w.Query(ctx, `
		WITH waiting AS (
			SELECT org_id, queue_id FROM (
				SELECT org_id, queue_id, n FROM queue_counts WHERE bucket = 'queued'
				UNION ALL
				SELECT org_id, queue_id, n FROM queue_count_deltas WHERE bucket = 'queued') x
			GROUP BY org_id, queue_id HAVING sum(n) > 0)
		SELECT o.id FROM orgs o
		WHERE EXISTS (SELECT 1 FROM agents a
		              WHERE a.org_id = o.id AND a.status = 'available' AND a.load < a.capacity)
		  AND EXISTS (SELECT 1 FROM waiting c
		              LEFT JOIN queues q ON q.org_id = c.org_id AND q.id = c.queue_id
		              WHERE c.org_id = o.id AND (q.id IS NULL OR NOT q.paused))
		ORDER BY o.id COLLATE "C"`)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, s.wrap(err)
}

var claimSQL = `
SELECT ` + "%s" + `, r.id IS NOT NULL, ` + claimAttrsSQL + `, w.tid
FROM (SELECT q.id, q.priority, c.p, c.e, c.i
      FROM queues q
      LEFT JOIN unnest($3::text[], $4::bool[], $5::int[], $6::timestamptz[], $7::bigint[]) AS c(qid, skip, p, e, i)
        ON c.qid = q.id
      WHERE q.org_id = $1 AND NOT q.paused AND c.skip IS NOT TRUE
        AND (SELECT pg_try_advisory_xact_lock(` + orgLockNS + `, hashtext($1)))) q
CROSS JOIN LATERAL (
    SELECT w.ctid AS tid, w.* FROM work_items w
    WHERE w.org_id = $1 AND w.queue_id = q.id AND w.state = 'queued' AND NOT w.skipped
      -- a cursor pages past items already seen in this engine turn
      AND (q.p IS NULL OR w.priority < q.p OR (w.priority = q.p AND (w.enqueued_at, w.id) > (q.e, q.i)))
    ORDER BY w.priority DESC, w.enqueued_at, w.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED) w
LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
ORDER BY q.priority DESC, q.id, w.priority DESC, w.enqueued_at, w.id`

// Orphans: queued items whose queue does not exist. The counters tell
// which queue ids to look at, so this never scans a whole org.
var orphanSQL = `
SELECT ` + "%s" + `, r.id IS NOT NULL, ` + claimAttrsSQL + `, w.tid
FROM (SELECT w.ctid AS tid, w.* FROM work_items w
      WHERE w.org_id = $1 AND w.state = 'queued' AND NOT w.skipped
        AND (SELECT pg_try_advisory_xact_lock(` + orgLockNS + `, hashtext($1)))
        AND w.queue_id IN (SELECT c.queue_id FROM (
                               SELECT queue_id, n FROM queue_counts WHERE org_id = $1 AND bucket = 'queued'
                               UNION ALL
                               SELECT queue_id, n FROM queue_count_deltas WHERE org_id = $1 AND bucket = 'queued') c
                           WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.org_id = $1 AND q.id = c.queue_id)
                           GROUP BY c.queue_id HAVING sum(c.n) > 0)
      ORDER BY w.queue_id, w.priority DESC, w.enqueued_at, w.id
      LIMIT $2
      FOR UPDATE SKIP LOCKED) w
LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
ORDER BY w.queue_id, w.priority DESC, w.enqueued_at, w.id`

// orgLockNS is lockNSOrg as SQL text, for statements that re-check the
// org's routing lock (pg_try_advisory_xact_lock is re-entrant).
var orgLockNS = fmt.Sprint(lockNSOrg)

// claimCols are the item columns for claims (the journal copy's
// attributes are not among them: routing does not need them).
var claimCols = itemColsAs("w")

// claimAttrsSQL is the claimed revision's size and its attributes as
// text, empty when the revision is missing or over the size limit: the
// engine never loads an oversized document, and faults its item.
const claimAttrsSQL = `coalesce(routeops_attributes_bytes(r.attributes, r.attributes_bytes), 0),
	CASE WHEN routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit())
	     THEN '' ELSE coalesce(r.attributes::text, '') END`

var (
	claimQuery  = fmt.Sprintf(claimSQL, claimCols)
	orphanQuery = fmt.Sprintf(orphanSQL, claimCols)
)

// RouteOrg runs one routing transaction in two round trips: the first
// pipelines BEGIN, the org's routing lock, the agents, queues, teams and
// the claim (each statement re-checks the lock, so a busy org locks
// nothing); the second pipelines every write and COMMIT, with the checks
// in SQL (routeops_assert) so that a failed check aborts the transaction
// before COMMIT can run.
func (s *Store) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	var res router.RouteResult
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	conn, err := s.w.Acquire(ctx)
	if err != nil {
		return res, s.wrap(err)
	}
	defer conn.Release()
	open := false
	rollback := func() {
		if !open {
			return
		}
		rollbackOrDrop(ctx, conn.Conn())
		open = false
	}
	finish := func(stmt string) error {
		_, err := conn.Exec(ctx, stmt)
		if err != nil {
			rollback()
			return s.wrap(err)
		}
		open = false
		return nil
	}

	b := &router.Batch{Org: req.Org, Queues: map[string]router.Queue{}, Teams: map[string]router.Team{}}
	batch := &pgx.Batch{}
	s.w.queueBegin(batch)
	batch.Queue(`SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, lockNSOrg, req.Org)
	batch.Queue(`SELECT a.id, a.team_id, a.skills, a.status, a.capacity, a.load, coalesce(t.status, 'paused')
		FROM agents a LEFT JOIN teams t ON t.org_id = a.org_id AND t.id = a.team_id
		WHERE a.org_id = $1 AND a.status = 'available' AND a.load < a.capacity
		  AND (SELECT pg_try_advisory_xact_lock(`+orgLockNS+`, hashtext($1)))
		ORDER BY a.id FOR UPDATE OF a`, req.Org)
	batch.Queue(`SELECT id, priority, paused FROM queues WHERE org_id = $1`, req.Org)
	batch.Queue(`SELECT id, status FROM teams WHERE org_id = $1`, req.Org)
	var cq []string
	var cs []bool
	var cp []int32
	var ce []time.Time
	var ci []int64
	for q, c := range req.Cursors {
		cq, cs, cp, ce, ci = append(cq, q), append(cs, c.Skip), append(cp, int32(c.Priority)), append(ce, c.EnqueuedAt.UTC()), append(ci, c.ID)
	}
	batch.Queue(claimQuery, req.Org, limit, cq, cs, cp, ce, ci)
	if req.IncludeOrphans {
		batch.Queue(orphanQuery, req.Org, limit)
	}
	open = true
	var got bool
	// tids are the claimed rows' physical addresses. The claim holds their
	// row locks until the transaction ends, so they cannot move, and the
	// writes find each row by a TID scan instead of an index probe (the
	// writes still check org and id, and assert the count).
	var tids map[int64]pgtype.TID
	br := conn.SendBatch(ctx, batch)
	err = func() error {
		if err := s.w.beginResults(br); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&got); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			a := router.Agent{OrgID: req.Org}
			var st, ts string
			if err := rows.Scan(&a.ID, &a.TeamID, &a.Skills, &st, &a.Capacity, &a.Load, &ts); err != nil {
				return err
			}
			a.Status, a.TeamStatus = router.AgentStatus(st), router.TeamStatus(ts)
			res.FreeCapacity += a.Free()
			b.Agents = append(b.Agents, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			q := router.Queue{OrgID: req.Org}
			if err := rows.Scan(&q.ID, &q.Priority, &q.Paused); err != nil {
				return err
			}
			b.Queues[q.ID] = q
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			t := router.Team{OrgID: req.Org}
			var st string
			if err := rows.Scan(&t.ID, &st); err != nil {
				return err
			}
			t.Status = router.TeamStatus(st)
			b.Teams[t.ID] = t
		}
		if err := rows.Err(); err != nil {
			return err
		}
		tids = make(map[int64]pgtype.TID)
		perQueue := map[string]int{}
		claims := 1
		if req.IncludeOrphans {
			claims = 2
		}
		for c := 0; c < claims; c++ {
			rows, err = br.Query()
			if err != nil {
				return err
			}
			for rows.Next() {
				ci, tid, err := scanClaimed(rows)
				if err != nil {
					return err
				}
				tids[ci.Item.ID] = tid
				if c == 0 {
					perQueue[ci.Item.QueueID]++
				}
				b.Items = append(b.Items, ci)
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, n := range perQueue {
			if n >= limit {
				res.QueuesFull++
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback()
		return router.RouteResult{}, s.wrap(err)
	}
	if !got {
		if err := finish("ROLLBACK"); err != nil {
			return router.RouteResult{}, err
		}
		return router.RouteResult{Busy: true}, nil
	}
	res.Claimed = len(b.Items)
	if len(b.Items) == 0 {
		return res, finish("COMMIT")
	}

	decisions := decide(b)
	if err := checkDecisions(b, decisions); err != nil {
		rollback()
		return router.RouteResult{}, err
	}
	res.Queues = router.ClaimSummary(b, decisions, limit)
	if len(decisions) == 0 {
		return res, finish("COMMIT")
	}
	applied, err := s.apply(ctx, conn.Conn(), req, decisions, tids)
	if err != nil {
		rollback()
		return router.RouteResult{}, s.wrap(err)
	}
	open = false
	res.Assigned = applied.Assigned
	res.Quarantined = applied.Quarantined
	res.Skipped = applied.Skipped
	res.Blocked = applied.Blocked
	res.Faults = applied.Faults
	return res, nil
}

func scanClaimed(rows pgx.Rows) (router.ClaimedItem, pgtype.TID, error) {
	var ci router.ClaimedItem
	var tid pgtype.TID
	var state, cause string
	var agent *string
	var prio int16
	var attrs string
	dest := append(itemDest(&ci.Item, &state, &cause, &agent, &prio), &ci.RevisionFound, &ci.Bytes, &attrs, &tid)
	if err := rows.Scan(dest...); err != nil {
		return ci, tid, err
	}
	finishItem(&ci.Item, state, cause, agent, prio)
	if ci.RevisionFound {
		if attrs == "" && ci.Bytes > 0 {
			ci.Oversized = true
		} else {
			ci.Attributes = []byte(attrs)
		}
	}
	return ci, tid, nil
}

// checkDecisions refuses decisions that would break an invariant, before
// anything is written: an item not claimed or decided twice, an agent not
// offered, or more assignments than an agent's free capacity.
func checkDecisions(b *router.Batch, ds []router.Decision) error {
	claimed := make(map[int64]bool, len(b.Items))
	for i := range b.Items {
		claimed[b.Items[i].Item.ID] = true
	}
	free := make(map[string]int, len(b.Agents))
	for _, a := range b.Agents {
		free[a.ID] = a.Free()
	}
	seen := make(map[int64]bool, len(ds))
	for _, d := range ds {
		if !claimed[d.ItemID] || seen[d.ItemID] {
			return fmt.Errorf("pgstore: decision for item %d that was not claimed or was decided twice", d.ItemID)
		}
		seen[d.ItemID] = true
		switch d.Kind {
		case router.DecideAssign:
			f, ok := free[d.AgentID]
			if !ok {
				return fmt.Errorf("pgstore: assignment to agent %s, which is not available", d.AgentID)
			}
			if f <= 0 {
				return fmt.Errorf("pgstore: assignment would take agent %s over capacity", d.AgentID)
			}
			free[d.AgentID] = f - 1
		case router.DecideFault:
			switch d.Action {
			case router.PolicyQuarantine, router.PolicySkip, router.PolicyBlock:
			default:
				return fmt.Errorf("pgstore: fault decision for item %d has unknown action %q", d.ItemID, d.Action)
			}
		default:
			return fmt.Errorf("pgstore: unknown decision kind %d", d.Kind)
		}
	}
	return nil
}

type applied struct {
	Assigned, Quarantined, Skipped, Blocked int
	Faults                                  []router.Decision
}

// apply writes the decisions and their events, and commits, in one
// pipelined round trip. Every check is an SQL assertion: if one fails, the
// transaction aborts and the COMMIT at the end of the pipeline never runs.
func (s *Store) apply(ctx context.Context, conn *pgx.Conn, req router.RouteRequest, ds []router.Decision, tids map[int64]pgtype.TID) (applied, error) {
	var out applied
	now := req.Now.UTC()
	var (
		aIDs    []int64
		aTIDs   []pgtype.TID
		aAgents []string
		fIDs    []int64
		fTIDs   []pgtype.TID
		fCauses []string
		fErrs   []string
		fActs   []string
	)
	loads := map[string]int32{}
	perQueue := map[string]int32{}
	for _, d := range ds {
		switch d.Kind {
		case router.DecideAssign:
			aIDs = append(aIDs, d.ItemID)
			aTIDs = append(aTIDs, tids[d.ItemID])
			aAgents = append(aAgents, d.AgentID)
			loads[d.AgentID]++
			perQueue[d.QueueID]++
		case router.DecideFault:
			fIDs = append(fIDs, d.ItemID)
			fTIDs = append(fTIDs, tids[d.ItemID])
			fCauses = append(fCauses, string(d.Cause))
			fErrs = append(fErrs, d.Error)
			fActs = append(fActs, string(d.Action))
			out.Faults = append(out.Faults, d)
			switch d.Action {
			case router.PolicyQuarantine:
				out.Quarantined++
			case router.PolicySkip:
				out.Skipped++
			default:
				out.Blocked++
			}
		}
	}
	actor := req.Actor
	batch := &pgx.Batch{}
	if len(aIDs) > 0 {
		batch.Queue(`WITH a AS (
				UPDATE work_items w SET agent_id = d.agent, assigned_at = $2,
					attempts = w.attempts + 1, last_attempt_at = $2, fault_cause = '',
					-- The rows are locked by this transaction's claim, so they are
					-- still queued, and cannot move: each is found by its ctid
					-- (a TID scan; org and id are checked as well). The state
					-- guard sits in SET, not WHERE, so that no predicate can
					-- draw the planner onto an index scan of the whole org. A
					-- wrong state fails the CHECK.
					state = CASE WHEN w.state = 'queued' THEN 'assigned' ELSE 'invalid:' || w.state END
				FROM unnest($3::bigint[], $4::text[], $9::tid[]) AS d(id, agent, tid)
				WHERE w.ctid = d.tid AND w.org_id = $1 AND w.id = d.id
				RETURNING w.id, w.queue_id, w.agent_id),
			e AS (
				INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail)
				SELECT $1, $2, 'assigned', a.id, a.queue_id, $5, $6, $7,
					jsonb_build_object('agent', a.agent_id, 'queue', a.queue_id)
				FROM a ORDER BY a.id
				RETURNING 1)
			SELECT routeops_assert((SELECT count(*) FROM e) = $8,
				format('assigned %s of %s items; the batch was rolled back', (SELECT count(*) FROM e), $8))`,
			req.Org, now, aIDs, aAgents, actor.Name, actor.Origin, actor.OSUser, len(aIDs), aTIDs)
		agents := make([]string, 0, len(loads))
		for a := range loads {
			agents = append(agents, a)
		}
		sort.Strings(agents)
		ns := make([]int32, len(agents))
		for i, a := range agents {
			ns[i] = loads[a]
		}
		batch.Queue(`WITH u AS (
				UPDATE agents a SET load = a.load + d.n
				FROM unnest($2::text[], $3::int[]) AS d(id, n)
				WHERE a.org_id = $1 AND a.id = d.id AND a.status = 'available' AND a.load + d.n <= a.capacity
				RETURNING 1)
			SELECT routeops_assert((SELECT count(*) FROM u) = $4,
				format('agent capacity check failed for %s of %s agents; the batch was rolled back', $4 - (SELECT count(*) FROM u), $4))`,
			req.Org, agents, ns, len(agents))
		qids := make([]string, 0, len(perQueue))
		for q := range perQueue {
			qids = append(qids, q)
		}
		sort.Strings(qids)
		qns := make([]int32, len(qids))
		for i, q := range qids {
			qns[i] = perQueue[q]
		}
		batch.Queue(`UPDATE queues q SET last_assigned_at = $2, assigned_total = q.assigned_total + d.n
			FROM unnest($3::text[], $4::int[]) AS d(id, n)
			WHERE q.org_id = $1 AND q.id = d.id`, req.Org, now, qids, qns)
		batch.Queue(`INSERT INTO queue_throughput AS t (org_id, queue_id, bucket, n)
			SELECT $1, d.id, $2, d.n FROM unnest($3::text[], $4::int[]) AS d(id, n) ORDER BY d.id
			ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = t.n + EXCLUDED.n`,
			req.Org, now.Truncate(10*time.Second), qids, qns)
	}
	if len(fIDs) > 0 {
		batch.Queue(`WITH f AS (
				UPDATE work_items w SET attempts = w.attempts + 1, last_attempt_at = $2,
					last_error = d.err, fault_cause = d.cause,
					state = CASE WHEN w.state <> 'queued' THEN 'invalid:' || w.state
						WHEN d.action = 'quarantine' THEN 'quarantined' ELSE w.state END,
					skipped = CASE WHEN d.action = 'skip' THEN true WHEN d.action = 'quarantine' THEN false ELSE w.skipped END,
					quarantine_reason = CASE WHEN d.action = 'quarantine' THEN d.cause || ': ' || d.err ELSE w.quarantine_reason END
				FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $11::tid[]) AS d(id, cause, err, action, tid)
				WHERE w.ctid = d.tid AND w.org_id = $1 AND w.id = d.id
				RETURNING w.id, w.queue_id, w.attempts, w.current_revision_id, d.cause, d.err, d.action, w.quarantine_reason),
			e AS (
				INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail)
				SELECT $1, $2, x.kind, x.id, x.queue_id, $7, $8, $9, x.detail FROM (
					SELECT f.id, f.queue_id, 'item_fault' AS kind, 0 AS ord,
						jsonb_build_object('cause', f.cause, 'error', f.err, 'action', f.action,
							'attempts', f.attempts, 'revision_id', f.current_revision_id) AS detail
					FROM f
					UNION ALL
					SELECT f.id, f.queue_id, 'quarantined', 1,
						jsonb_build_object('cause', f.cause, 'reason', f.quarantine_reason)
					FROM f WHERE f.action = 'quarantine') x
				ORDER BY x.id, x.ord
				RETURNING 1)
			SELECT routeops_assert((SELECT count(*) FROM e) = $10,
				format('recorded %s of %s fault events; the batch was rolled back', (SELECT count(*) FROM e), $10))`,
			req.Org, now, fIDs, fCauses, fErrs, fActs, actor.Name, actor.Origin, actor.OSUser, len(fIDs)+out.Quarantined, fTIDs)
	}
	if req.IncludeOrphans {
		batch.Queue(`DELETE FROM queue_throughput WHERE org_id = $1 AND bucket < $2`, req.Org, now.Add(-15*time.Minute))
	}
	batch.Queue(`COMMIT`)
	n := batch.Len()
	br := conn.SendBatch(ctx, batch)
	var err error
	for i := 0; i < n; i++ {
		tag, e := br.Exec()
		if e != nil {
			err = e
			break
		}
		if i == n-1 && tag.String() != "COMMIT" {
			err = fmt.Errorf("pgstore: the routing transaction did not commit (%s)", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return applied{}, err
	}
	out.Assigned = len(aIDs)
	return out, nil
}

func (s *Store) Heartbeat(ctx context.Context, hb router.Heartbeat) error {
	var started any
	if !hb.StartedAt.IsZero() {
		started = hb.StartedAt.UTC()
	}
	_, err := s.w.Exec(ctx, `INSERT INTO engine_heartbeats AS h
			(engine_id, host, pid, policy, version, started_at, beat_at, stopped, polling)
		VALUES ($1, $2, $3, $4, $5, coalesce($6::timestamptz, $7::timestamptz), $7, $8, $9)
		ON CONFLICT (engine_id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
			policy = EXCLUDED.policy, version = EXCLUDED.version,
			started_at = coalesce($6::timestamptz, h.started_at), beat_at = EXCLUDED.beat_at, stopped = EXCLUDED.stopped,
			polling = EXCLUDED.polling`,
		hb.EngineID, hb.Host, hb.PID, string(hb.Policy), hb.Version, started, hb.BeatAt.UTC(), hb.Stopped, hb.Polling)
	return s.wrap(err)
}

const heartbeatSQL = `SELECT engine_id, host, pid, policy, version, started_at, beat_at, stopped, polling
	FROM engine_heartbeats ORDER BY beat_at DESC, engine_id`

func (s *Store) Heartbeats(ctx context.Context) ([]router.Heartbeat, error) {
	rows, err := s.rd(ctx).Query(ctx, heartbeatSQL)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, scanHeartbeat)
	return out, s.wrap(err)
}

func scanHeartbeat(row pgx.CollectableRow) (router.Heartbeat, error) {
	var hb router.Heartbeat
	var policy string
	err := row.Scan(&hb.EngineID, &hb.Host, &hb.PID, &policy, &hb.Version, &hb.StartedAt, &hb.BeatAt, &hb.Stopped, &hb.Polling)
	hb.Policy = router.FaultPolicy(policy)
	hb.StartedAt, hb.BeatAt = hb.StartedAt.UTC(), hb.BeatAt.UTC()
	return hb, err
}

// Notifications listens on a dedicated connection (not from the pool):
// to ListenDSN when set, else DSN; under transaction pooling without a
// ListenDSN there is none, and it returns router.ErrNoWakeups. Before it
// returns, a probe sent through the pool must come back on the listening
// connection, so a connection that cannot deliver (a transaction pool,
// another database) is refused rather than trusted. The channel closes
// when ctx ends or the connection fails; the engine resubscribes and
// polls meanwhile.
func (s *Store) Notifications(ctx context.Context) (<-chan string, error) {
	cc, dsn, err := sessionConfig(s.opts, true)
	if errors.Is(err, ErrNeedsSession) {
		return nil, fmt.Errorf("%w: under transaction pooling (db.pooler: transaction) LISTEN needs a session: "+
			"set db.listen_dsn (--listen-dsn) to PostgreSQL itself or to a session pool", router.ErrNoWakeups)
	}
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, connectError("listen on "+describe(cc), err, dsn)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, newError("listen on "+describe(cc), err, dsn)
	}
	if err := s.probeListen(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen on %s: %w", describe(cc), err)
	}
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		defer conn.Close(context.Background())
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("notification connection lost", "error", s.wrap(err).Error())
				}
				return
			}
			if strings.HasPrefix(n.Payload, probePrefix) {
				continue
			}
			if router.CheckID("org", n.Payload) != nil {
				continue // any role may notify: a payload that is no org id is dropped
			}
			select {
			case ch <- n.Payload:
			default:
			}
		}
	}()
	return ch, nil
}

// probePrefix marks the payload of a listening connection's probe; no org
// id starts with it, and listeners drop it.
const probePrefix = "\x01routeops-probe:"

// probeListen notifies through the pool, as writers do, and waits for
// that notification on conn.
func (s *Store) probeListen(ctx context.Context, conn *pgx.Conn) error {
	payload := fmt.Sprintf("%s%d", probePrefix, time.Now().UnixNano())
	if _, err := s.w.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, payload); err != nil {
		return s.wrap(err)
	}
	wait := min(s.opts.ConnectTimeout, 5*time.Second)
	if wait <= 0 {
		wait = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("a test notification did not arrive within %s: the connection cannot deliver "+
				"wake-ups (a transaction pool, or another database?)", wait)
		}
		if n.Payload == payload {
			return nil
		}
	}
}

// Maintain folds count deltas into queue_counts and refreshes the heads of
// queues marked dirty (routeops_maintain, migration 006).
func (s *Store) Maintain(ctx context.Context) error {
	_, err := s.w.Exec(ctx, `SELECT routeops_maintain()`)
	return s.wrap(err)
}
