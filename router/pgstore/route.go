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

// lockedOrgs takes the routing lock of each org in $1 that no other
// engine holds, without waiting. Every statement of the routing
// transaction starts from it, so a busy org locks and claims nothing
// (pg_try_advisory_xact_lock is re-entrant: an org locked by the first
// statement stays locked for the others).
var lockedOrgs = `(SELECT o, lim FROM unnest($1::text[], $2::int[]) AS u(o, lim)
	WHERE pg_try_advisory_xact_lock(` + fmt.Sprint(lockNSOrg) + `, hashtext(o)))`

// backlogSQL reads the trigger-kept counters: a few index probes per
// org, never a scan of queued items.
const backlogSQL = `
WITH waiting AS (
    SELECT org_id, queue_id, sum(n) AS n FROM (
        SELECT org_id, queue_id, n FROM queue_counts WHERE bucket = 'queued'
        UNION ALL
        SELECT org_id, queue_id, n FROM queue_count_deltas WHERE bucket = 'queued') x
    GROUP BY org_id, queue_id HAVING sum(n) > 0),
per_org AS (
    SELECT c.org_id, sum(c.n)::bigint AS n, bool_or(q.id IS NULL OR NOT q.paused) AS unpaused
    FROM waiting c LEFT JOIN queues q ON q.org_id = c.org_id AND q.id = c.queue_id
    GROUP BY c.org_id)
SELECT p.org_id, p.n, p.unpaused AND EXISTS (
    SELECT 1 FROM agents a WHERE a.org_id = p.org_id AND a.status = 'available' AND a.load < a.capacity)
FROM per_org p
ORDER BY p.org_id COLLATE "C"`

func (s *Store) Backlog(ctx context.Context) ([]router.OrgBacklog, error) {
	rows, err := s.w.Query(ctx, backlogSQL)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.OrgBacklog, error) {
		var b router.OrgBacklog
		var n int64
		err := r.Scan(&b.Org, &n, &b.Routable)
		b.Queued = int(n)
		return b, err
	})
	return out, s.wrap(err)
}

var claimSQL = `
SELECT ` + "%s" + `, r.id IS NOT NULL, ` + claimAttrsSQL + `, w.tid
FROM (SELECT q.org_id, q.id, q.priority, l.lim, c.p, c.e, c.i
      FROM ` + lockedOrgs + ` l
      JOIN queues q ON q.org_id = l.o
      LEFT JOIN unnest($3::text[], $4::text[], $5::bool[], $6::int[], $7::timestamptz[], $8::bigint[]) AS c(org, qid, skip, p, e, i)
        ON c.org = q.org_id AND c.qid = q.id
      WHERE NOT q.paused AND c.skip IS NOT TRUE) q
CROSS JOIN LATERAL (
    -- the queue's head, in routing order, from the membership; each item
    -- is fetched by its primary key and locked, and its state checked
    -- again on the locked row
    SELECT w.ctid AS tid, w.* FROM queued_items c
    JOIN work_items w ON w.org_id = c.org_id AND w.id = c.id
    WHERE c.org_id = q.org_id AND c.queue_id = q.id AND NOT c.skipped
      -- a cursor pages past items already seen in this engine turn
      AND (q.p IS NULL OR c.priority < q.p OR (c.priority = q.p AND (c.enqueued_at, c.id) > (q.e, q.i)))
      AND w.state = 'queued' AND NOT w.skipped
    ORDER BY c.priority DESC, c.enqueued_at, c.id
    LIMIT q.lim
    FOR UPDATE OF w SKIP LOCKED) w
LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
ORDER BY w.org_id, q.priority DESC, q.id, w.priority DESC, w.enqueued_at, w.id`

// Orphans: queued items whose queue does not exist, for the orgs in $1
// (those asking for the sweep). The counters tell which queue ids to look
// at, so this never scans a whole org.
var orphanSQL = `
SELECT ` + "%s" + `, r.id IS NOT NULL, ` + claimAttrsSQL + `, w.tid
FROM ` + lockedOrgs + ` l
CROSS JOIN LATERAL (
    SELECT w.ctid AS tid, w.* FROM queued_items m
    JOIN work_items w ON w.org_id = m.org_id AND w.id = m.id
    WHERE m.org_id = l.o AND NOT m.skipped AND w.state = 'queued' AND NOT w.skipped
      AND m.queue_id IN (SELECT c.queue_id FROM (
                             SELECT queue_id, n FROM queue_counts WHERE org_id = l.o AND bucket = 'queued'
                             UNION ALL
                             SELECT queue_id, n FROM queue_count_deltas WHERE org_id = l.o AND bucket = 'queued') c
                         WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.org_id = l.o AND q.id = c.queue_id)
                         GROUP BY c.queue_id HAVING sum(c.n) > 0)
    ORDER BY m.queue_id, m.priority DESC, m.enqueued_at, m.id
    LIMIT l.lim
    FOR UPDATE OF w SKIP LOCKED) w
LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
ORDER BY w.org_id, w.queue_id, w.priority DESC, w.enqueued_at, w.id`

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

// RouteOrg is RouteOrgs for one org.
func (s *Store) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	res, err := s.RouteOrgs(ctx, []router.RouteRequest{req}, decide)
	if err != nil {
		return router.RouteResult{}, err
	}
	return res[0], nil
}

// routeGroup is one RouteOrgs call's orgs and what was read for them.
type routeGroup struct {
	reqs    []router.RouteRequest
	index   map[string]int // org -> position in reqs
	orgs    []string
	limits  []int32
	sweep   []string // orgs that asked for the orphan sweep
	sweepL  []int32
	locked  map[string]bool
	batches []*router.Batch
	results []router.RouteResult
	// tids are the claimed rows' physical addresses. The claim holds their
	// row locks until the transaction ends, so they cannot move, and the
	// writes find each row by a TID scan instead of an index probe (the
	// writes still check org and id, and assert the count).
	tids map[int64]pgtype.TID
}

func newRouteGroup(reqs []router.RouteRequest) (*routeGroup, error) {
	g := &routeGroup{reqs: reqs, index: make(map[string]int, len(reqs)), locked: map[string]bool{},
		batches: make([]*router.Batch, len(reqs)), results: make([]router.RouteResult, len(reqs)),
		tids: map[int64]pgtype.TID{}}
	for i, r := range reqs {
		if _, dup := g.index[r.Org]; dup {
			return nil, fmt.Errorf("pgstore: org %s routed twice in one call", r.Org)
		}
		if !r.Now.Equal(reqs[0].Now) || r.Actor != reqs[0].Actor {
			return nil, fmt.Errorf("pgstore: orgs routed in one call must share Now and Actor")
		}
		g.index[r.Org] = i
		g.orgs = append(g.orgs, r.Org)
		g.limits = append(g.limits, int32(limitOf(r)))
		if r.IncludeOrphans {
			g.sweep = append(g.sweep, r.Org)
			g.sweepL = append(g.sweepL, int32(limitOf(r)))
		}
		g.batches[i] = &router.Batch{Org: r.Org, Queues: map[string]router.Queue{}, Teams: map[string]router.Team{}}
	}
	return g, nil
}

func limitOf(r router.RouteRequest) int {
	if r.Limit <= 0 {
		return 100
	}
	return r.Limit
}

// batchOf returns the batch of an org of the group, nil for another org.
func (g *routeGroup) batchOf(org string) (*router.Batch, int) {
	i, ok := g.index[org]
	if !ok {
		return nil, -1
	}
	return g.batches[i], i
}

// RouteOrgs runs one routing transaction for a group of orgs in two round
// trips: the first pipelines BEGIN, the orgs' routing locks, their
// agents, queues and teams and the claim (each statement starts from the
// orgs whose lock this transaction holds, so a busy org locks nothing);
// the second pipelines every write and COMMIT, with the checks in SQL
// (routeops_assert) so that a failed check aborts the transaction before
// COMMIT can run. A fleet of small orgs costs one transaction per group
// rather than one per org.
//
// The agents are read, not locked: only the routing transaction raises an
// agent's load, and only one runs per org (the advisory lock), so a load
// can only have fallen (a completion) by the time the writes run. The
// capacity check sits in the UPDATE of agents itself and is asserted, so
// an agent set away or given less capacity meanwhile rolls the batch back
// rather than going over capacity; a completion no longer waits for a
// routing batch, and a small org's visit writes no lock per agent.
func (s *Store) RouteOrgs(ctx context.Context, reqs []router.RouteRequest, decide router.DecideFunc) ([]router.RouteResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	g, err := newRouteGroup(reqs)
	if err != nil {
		return nil, err
	}
	conn, err := s.w.Acquire(ctx)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer conn.Release()
	open := true
	rollback := func() {
		if open {
			rollbackOrDrop(ctx, conn.Conn())
			open = false
		}
	}
	finish := func(stmt string) ([]router.RouteResult, error) {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			rollback()
			return nil, s.wrap(err)
		}
		open = false
		return g.results, nil
	}
	if err := s.claimGroup(ctx, conn.Conn(), g); err != nil {
		rollback()
		return nil, s.wrap(err)
	}
	var all []router.Decision
	for i := range g.reqs {
		req, b, res := &g.reqs[i], g.batches[i], &g.results[i]
		if !g.locked[req.Org] {
			*res = router.RouteResult{Busy: true}
			continue
		}
		res.Claimed = len(b.Items)
		if len(b.Items) == 0 {
			continue
		}
		ds := decide(b)
		if err := checkDecisions(b, ds); err != nil {
			rollback()
			return nil, err
		}
		res.Queues = router.ClaimSummary(b, ds, limitOf(*req))
		all = append(all, ds...)
	}
	if len(g.locked) == 0 {
		return finish("ROLLBACK")
	}
	reached := map[[2]string]int32{}
	for i, r := range g.results {
		for q := range r.Queues {
			reached[[2]string{g.reqs[i].Org, q}] = 0
		}
	}
	if len(all) == 0 && len(reached) == 0 {
		return finish("COMMIT")
	}
	applied, err := s.apply(ctx, conn.Conn(), g, all, reached)
	if err != nil {
		rollback()
		return nil, s.wrap(err)
	}
	open = false
	for org, a := range applied {
		res := &g.results[g.index[org]]
		res.Assigned, res.Quarantined, res.Skipped, res.Blocked, res.Faults = a.Assigned, a.Quarantined, a.Skipped, a.Blocked, a.Faults
	}
	return g.results, nil
}

// claimGroup runs the first round trip: BEGIN, the locks, the agents,
// queues and teams, and the claim, filling the group's batches.
func (s *Store) claimGroup(ctx context.Context, conn *pgx.Conn, g *routeGroup) error {
	var cOrg, cq []string
	var cs []bool
	var cp []int32
	var ce []time.Time
	var ci []int64
	for _, r := range g.reqs {
		for q, c := range r.Cursors {
			cOrg, cq, cs = append(cOrg, r.Org), append(cq, q), append(cs, c.Skip)
			cp, ce, ci = append(cp, int32(c.Priority)), append(ce, c.EnqueuedAt.UTC()), append(ci, c.ID)
		}
	}
	batch := &pgx.Batch{}
	s.w.queueBegin(batch)
	batch.Queue(`SELECT l.o FROM `+lockedOrgs+` l`, g.orgs, g.limits)
	batch.Queue(`SELECT a.org_id, a.id, a.team_id, a.skills, a.status, a.capacity, a.load, coalesce(t.status, 'paused')
		FROM `+lockedOrgs+` l
		JOIN agents a ON a.org_id = l.o
		LEFT JOIN teams t ON t.org_id = a.org_id AND t.id = a.team_id
		WHERE a.status = 'available' AND a.load < a.capacity
		ORDER BY a.org_id, a.id`, g.orgs, g.limits)
	batch.Queue(`SELECT org_id, id, priority, paused FROM queues WHERE org_id = ANY($1)`, g.orgs)
	batch.Queue(`SELECT org_id, id, status FROM teams WHERE org_id = ANY($1)`, g.orgs)
	batch.Queue(claimQuery, g.orgs, g.limits, cOrg, cq, cs, cp, ce, ci)
	if len(g.sweep) > 0 {
		batch.Queue(orphanQuery, g.sweep, g.sweepL)
	}
	br := conn.SendBatch(ctx, batch)
	err := s.w.beginResults(br)
	if err == nil {
		err = g.read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// read reads the first round trip's results after BEGIN into the group.
func (g *routeGroup) read(br pgx.BatchResults) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		var org string
		if err := rows.Scan(&org); err != nil {
			return err
		}
		g.locked[org] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	for rows.Next() {
		var a router.Agent
		var st, ts string
		if err := rows.Scan(&a.OrgID, &a.ID, &a.TeamID, &a.Skills, &st, &a.Capacity, &a.Load, &ts); err != nil {
			return err
		}
		a.Status, a.TeamStatus = router.AgentStatus(st), router.TeamStatus(ts)
		if b, i := g.batchOf(a.OrgID); b != nil && g.locked[a.OrgID] {
			g.results[i].FreeCapacity += a.Free()
			b.Agents = append(b.Agents, a)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	for rows.Next() {
		var q router.Queue
		if err := rows.Scan(&q.OrgID, &q.ID, &q.Priority, &q.Paused); err != nil {
			return err
		}
		if b, _ := g.batchOf(q.OrgID); b != nil {
			b.Queues[q.ID] = q
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if rows, err = br.Query(); err != nil {
		return err
	}
	for rows.Next() {
		var t router.Team
		var st string
		if err := rows.Scan(&t.OrgID, &t.ID, &st); err != nil {
			return err
		}
		t.Status = router.TeamStatus(st)
		if b, _ := g.batchOf(t.OrgID); b != nil {
			b.Teams[t.ID] = t
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	claims := 1
	if len(g.sweep) > 0 {
		claims = 2
	}
	perQueue := map[[2]string]int{}
	for c := 0; c < claims; c++ {
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			ci, tid, err := scanClaimed(rows)
			if err != nil {
				return err
			}
			b, i := g.batchOf(ci.Item.OrgID)
			if b == nil || !g.locked[ci.Item.OrgID] {
				continue
			}
			g.tids[ci.Item.ID] = tid
			if c == 0 {
				k := [2]string{ci.Item.OrgID, ci.Item.QueueID}
				perQueue[k]++
				if perQueue[k] == limitOf(g.reqs[i]) {
					g.results[i].QueuesFull++
				}
			}
			b.Items = append(b.Items, ci)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
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

// writeArgs are the decisions of a group as the arrays the writes take:
// one row per decided item, the agent set for an assignment and the
// fault's cause, error and action set otherwise.
type writeArgs struct {
	orgs, agents, causes, errs, acts []string
	ids                              []int64
	tids                             []pgtype.TID
	assigned, events                 int
	loads                            map[[2]string]int32 // (org, agent) -> assignments
	perQueue                         map[[2]string]int32 // (org, queue) -> assignments
	out                              map[string]*applied
}

func collectWrites(g *routeGroup, ds []router.Decision) *writeArgs {
	w := &writeArgs{loads: map[[2]string]int32{}, perQueue: map[[2]string]int32{}, out: map[string]*applied{}}
	orgOf := make(map[int64]string, len(g.tids))
	for i, b := range g.batches {
		for _, ci := range b.Items {
			orgOf[ci.Item.ID] = g.reqs[i].Org
		}
	}
	for _, d := range ds {
		org := orgOf[d.ItemID]
		a := w.out[org]
		if a == nil {
			a = &applied{}
			w.out[org] = a
		}
		w.orgs, w.ids, w.tids = append(w.orgs, org), append(w.ids, d.ItemID), append(w.tids, g.tids[d.ItemID])
		switch d.Kind {
		case router.DecideAssign:
			w.agents, w.causes, w.errs, w.acts = append(w.agents, d.AgentID), append(w.causes, ""), append(w.errs, ""), append(w.acts, "")
			w.loads[[2]string{org, d.AgentID}]++
			w.perQueue[[2]string{org, d.QueueID}]++
			a.Assigned++
			w.assigned++
			w.events++
		case router.DecideFault:
			w.agents, w.causes, w.errs, w.acts = append(w.agents, ""), append(w.causes, string(d.Cause)), append(w.errs, d.Error), append(w.acts, string(d.Action))
			a.Faults = append(a.Faults, d)
			w.events++ // item_fault
			switch d.Action {
			case router.PolicyQuarantine:
				a.Quarantined++
				w.events++ // quarantined
			case router.PolicySkip:
				a.Skipped++
			default:
				a.Blocked++
			}
		}
	}
	return w
}

// pairs splits sorted (org, key) -> n into three arrays.
func pairs(m map[[2]string]int32) ([]string, []string, []int32) {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	orgs, ids, ns := make([]string, len(keys)), make([]string, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		orgs[i], ids[i], ns[i] = k[0], k[1], m[k]
	}
	return orgs, ids, ns
}

// decideSQL writes every decision of a routing transaction, assignments
// and faults alike, and their events, in one statement, so that a batch
// with a bad item in it costs its bad items and no extra statement (nor
// an extra run of the statement triggers).
const decideSQL = `WITH u AS (
		UPDATE work_items w SET
			agent_id = coalesce(nullif(d.agent, ''), w.agent_id),
			assigned_at = CASE WHEN d.agent <> '' THEN $1 ELSE w.assigned_at END,
			attempts = w.attempts + 1, last_attempt_at = $1,
			last_error = CASE WHEN d.agent <> '' THEN w.last_error ELSE d.err END,
			fault_cause = d.cause,
			-- The rows are locked by this transaction's claim, so they are
			-- still queued, and cannot move: each is found by its ctid
			-- (a TID scan; org and id are checked as well). The state
			-- guard sits in SET, not WHERE, so that no predicate can
			-- draw the planner onto an index scan of the whole org. A
			-- wrong state fails the CHECK.
			state = CASE WHEN w.state <> 'queued' THEN 'invalid:' || w.state
				WHEN d.agent <> '' THEN 'assigned'
				WHEN d.action = 'quarantine' THEN 'quarantined' ELSE w.state END,
			skipped = CASE WHEN d.action = 'skip' THEN true WHEN d.action = 'quarantine' THEN false ELSE w.skipped END,
			quarantine_reason = CASE WHEN d.action = 'quarantine' THEN d.cause || ': ' || d.err ELSE w.quarantine_reason END
		FROM unnest($2::text[], $3::bigint[], $4::tid[], $5::text[], $6::text[], $7::text[], $8::text[])
			AS d(org, id, tid, agent, cause, err, action)
		WHERE w.ctid = d.tid AND w.org_id = d.org AND w.id = d.id
		RETURNING w.org_id, w.id, w.queue_id, w.agent_id, w.attempts, w.current_revision_id, w.quarantine_reason,
			d.agent <> '' AS assigned, d.cause, d.err, d.action),
	e AS (
		INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail)
		SELECT x.org_id, $1, x.kind, x.id, x.queue_id, $9, $10, $11, x.detail FROM (
			SELECT u.org_id, u.id, u.queue_id, 'assigned' AS kind, 0 AS ord,
				jsonb_build_object('agent', u.agent_id, 'queue', u.queue_id) AS detail
			FROM u WHERE u.assigned
			UNION ALL
			SELECT u.org_id, u.id, u.queue_id, 'item_fault', 0,
				jsonb_build_object('cause', u.cause, 'error', u.err, 'action', u.action,
					'attempts', u.attempts, 'revision_id', u.current_revision_id)
			FROM u WHERE NOT u.assigned
			UNION ALL
			SELECT u.org_id, u.id, u.queue_id, 'quarantined', 1,
				jsonb_build_object('cause', u.cause, 'reason', u.quarantine_reason)
			FROM u WHERE NOT u.assigned AND u.action = 'quarantine') x
		ORDER BY x.org_id, x.id, x.ord
		RETURNING 1)
	SELECT routeops_assert((SELECT count(*) FROM e) = $12,
		format('recorded %s of %s routing events; the batch was rolled back', (SELECT count(*) FROM e), $12))`

// apply writes a group's decisions and their events, and commits, in one
// pipelined round trip. Every check is an SQL assertion: if one fails, the
// transaction aborts and the COMMIT at the end of the pipeline never runs.
func (s *Store) apply(ctx context.Context, conn *pgx.Conn, g *routeGroup, ds []router.Decision, reached map[[2]string]int32) (map[string]*applied, error) {
	w := collectWrites(g, ds)
	for k, n := range w.perQueue {
		reached[k] = n
	}
	req := g.reqs[0]
	now := req.Now.UTC()
	actor := req.Actor
	batch := &pgx.Batch{}
	if len(w.ids) > 0 {
		batch.Queue(decideSQL, now, w.orgs, w.ids, w.tids, w.agents, w.causes, w.errs, w.acts,
			actor.Name, actor.Origin, actor.OSUser, w.events)
	}
	if w.assigned > 0 {
		orgs, agents, ns := pairs(w.loads)
		batch.Queue(`WITH u AS (
				UPDATE agents a SET load = a.load + d.n
				FROM unnest($1::text[], $2::text[], $3::int[]) AS d(org, id, n)
				WHERE a.org_id = d.org AND a.id = d.id AND a.status = 'available' AND a.load + d.n <= a.capacity
				RETURNING 1)
			SELECT routeops_assert((SELECT count(*) FROM u) = $4,
				format('agent capacity check failed for %s of %s agents; the batch was rolled back', $4 - (SELECT count(*) FROM u), $4))`,
			orgs, agents, ns, len(agents))
		qorgs, qids, qns := pairs(w.perQueue)
		batch.Queue(`INSERT INTO queue_throughput AS t (org_id, queue_id, bucket, n)
			SELECT d.org, d.id, $1, d.n FROM unnest($2::text[], $3::text[], $4::int[]) AS d(org, id, n) ORDER BY d.org, d.id
			ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = t.n + EXCLUDED.n`,
			now.Truncate(10*time.Second), qorgs, qids, qns)
	}
	// Every queue claimed from was reached, whatever was decided: the
	// monitor tells a stalled queue from one that is behind by it.
	rorgs, rids, rns := pairs(reached)
	batch.Queue(`UPDATE queues q SET last_routed_at = $1,
			last_assigned_at = CASE WHEN d.n > 0 THEN $1 ELSE q.last_assigned_at END,
			assigned_total = q.assigned_total + d.n
		FROM unnest($2::text[], $3::text[], $4::int[]) AS d(org, id, n)
		WHERE q.org_id = d.org AND q.id = d.id`, now, rorgs, rids, rns)
	if len(g.sweep) > 0 {
		batch.Queue(`DELETE FROM queue_throughput WHERE org_id = ANY($1) AND bucket < $2`, g.sweep, now.Add(-15*time.Minute))
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
		return nil, err
	}
	return w.out, nil
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
	if s.channel.Load() == nil {
		s.loadWakeChannel(ctx) // migrated since Open
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, connectError("listen on "+describe(cc), err, dsn)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.WakeChannel()}.Sanitize()); err != nil {
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
	if _, err := s.w.Exec(ctx, `SELECT pg_notify($1, $2)`, s.WakeChannel(), payload); err != nil {
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
