package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// directHeads computes every queue's oldest waiting item and head straight
// from work_items, the way queue_heads must say it.
const directHeads = `
SELECT k.org_id, k.queue_id,
       o.oldest, x.id, x.enqueued_at, x.attempts, x.last_error, x.last_attempt_at, x.fault_cause,
       x.current_revision_id, r.id IS NOT NULL AND x.id IS NOT NULL, r.attributes::text
FROM (SELECT DISTINCT org_id, queue_id FROM work_items WHERE state = 'queued') k
LEFT JOIN LATERAL (SELECT min(enqueued_at) AS oldest FROM work_items w
                   WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued') o ON true
LEFT JOIN LATERAL (SELECT * FROM work_items w
                   WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued' AND NOT w.skipped
                   ORDER BY w.priority DESC, w.enqueued_at, w.id LIMIT 1) x ON true
LEFT JOIN work_item_revisions r ON r.org_id = x.org_id AND r.id = x.current_revision_id
ORDER BY 1, 2`

const keptHeads = `
SELECT org_id, queue_id, oldest_enqueued_at, head_id, head_enqueued_at, head_attempts, head_last_error,
       head_last_attempt_at, head_fault_cause, head_revision_id, coalesce(head_revision_found, false) AND head_id IS NOT NULL,
       head_attributes::text
FROM queue_heads
WHERE oldest_enqueued_at IS NOT NULL OR head_id IS NOT NULL
ORDER BY 1, 2`

func headRows(t *testing.T, ctx context.Context, st *pgstore.Store, sql string) []string {
	t.Helper()
	rows, err := st.Pool().Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if tt, ok := v.(time.Time); ok {
				vals[i] = tt.UTC().Format(time.RFC3339Nano)
			}
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// directCounts counts items per queue and state bucket straight from
// work_items.
const directCounts = `
SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
FROM work_items GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`

// keptCounts is what readers see: the folded counts plus unfolded deltas.
const keptCounts = `
SELECT org_id, queue_id, bucket, sum(n)::bigint FROM (
    SELECT org_id, queue_id, bucket, n FROM queue_counts
    UNION ALL SELECT org_id, queue_id, bucket, n FROM queue_count_deltas) x
GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3`

// snapshotHeads renders the heads and oldest items that Snapshot reports
// (queue_heads for clean queues, direct probes for dirty ones) in
// directHeads' shape.
func snapshotHeads(t *testing.T, ctx context.Context, st *pgstore.Store) []string {
	t.Helper()
	snap, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ts := func(p *time.Time) any {
		if p == nil {
			return nil
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	var out []string
	for _, o := range snap.Orgs {
		for _, q := range o.Queues {
			if q.OldestEnqueuedAt == nil && q.Head == nil {
				continue
			}
			vals := []any{o.Org, q.Queue, ts(q.OldestEnqueuedAt)}
			if h := q.Head; h != nil {
				var attrs any
				if h.RevisionFound {
					attrs = string(h.Attributes)
				}
				vals = append(vals, h.ID, h.EnqueuedAt.UTC().Format(time.RFC3339Nano), int32(h.Attempts), h.LastError,
					ts(h.LastAttemptAt), string(h.FaultCause), h.CurrentRevisionID, h.RevisionFound, attrs)
			} else {
				vals = append(vals, nil, nil, nil, nil, nil, nil, nil, false, nil)
			}
			out = append(out, fmt.Sprintf("%v", vals))
		}
	}
	sort.Strings(out)
	return out
}

func checkHeads(t *testing.T, ctx context.Context, st *pgstore.Store, when string) {
	t.Helper()
	direct := headRows(t, ctx, st, directHeads)
	sort.Strings(direct)
	// Before maintenance: what the snapshot reports is exact.
	if got := snapshotHeads(t, ctx, st); fmt.Sprint(direct) != fmt.Sprint(got) {
		t.Fatalf("snapshot heads differ from a direct computation %s:\n snapshot: %v\n direct:   %v", when, got, direct)
	}
	if want, got := headRows(t, ctx, st, directCounts), headRows(t, ctx, st, keptCounts); fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("counts drifted %s:\n kept:   %v\n direct: %v", when, got, want)
	}
	// After maintenance: the stored heads alone are exact, and every delta
	// and marker was folded.
	if err := st.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	kept := headRows(t, ctx, st, keptHeads)
	sort.Strings(kept)
	if fmt.Sprint(direct) != fmt.Sprint(kept) {
		t.Fatalf("queue_heads drifted %s:\n kept:   %v\n direct: %v", when, kept, direct)
	}
	var deltas, dirty int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM queue_count_deltas), (SELECT count(*) FROM queue_dirty)`).Scan(&deltas, &dirty); err != nil {
		t.Fatal(err)
	}
	if deltas != 0 || dirty != 0 {
		t.Fatalf("maintenance left %d deltas and %d dirty markers %s", deltas, dirty, when)
	}
	// The id -> org lookup holds exactly the items.
	var stray int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM work_items w
		FULL JOIN work_item_orgs o ON o.id = w.id AND o.org_id = w.org_id
		WHERE o.id IS NULL OR w.id IS NULL`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Fatalf("work_item_orgs disagrees with work_items on %d items %s", stray, when)
	}
}

type headsWorld struct {
	st   *pgstore.Store
	ctx  context.Context
	now  time.Time
	orgs []string
}

func newHeadsWorld(t *testing.T) *headsWorld {
	ctx := context.Background()
	w := &headsWorld{st: pgtest.NewStore(t), ctx: ctx, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), orgs: []string{"o1", "o2"}}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range w.orgs {
		must(w.st.UpsertOrg(ctx, router.Org{ID: o}))
		for i, q := range []string{"a", "b", "c"} {
			must(w.st.UpsertQueue(ctx, router.Queue{OrgID: o, ID: q, Priority: i}))
		}
		must(w.st.UpsertTeam(ctx, router.Team{OrgID: o, ID: "t"}))
		must(w.st.UpsertAgent(ctx, router.Agent{OrgID: o, ID: "x", TeamID: "t", Status: router.AgentAvailable, Capacity: 3}))
	}
	return w
}

// step does one random operation; errors from refused operations are
// expected and ignored (they change nothing).
func (w *headsWorld) step(r *rand.Rand, op int) {
	ctx, st := w.ctx, w.st
	w.now = w.now.Add(time.Duration(r.IntN(5000)) * time.Millisecond)
	org := w.orgs[r.IntN(len(w.orgs))]
	queue := []string{"a", "b", "c"}[r.IntN(3)]
	attrs := func() []byte {
		if r.IntN(8) == 0 {
			return router.CorruptAttributes(r.IntN(5))
		}
		return router.Attributes{Priority: r.IntN(4) * 30, Channel: "chat"}.Marshal()
	}
	anyItem := func(state string) (int64, bool) {
		var id int64
		err := st.Pool().QueryRow(ctx, `SELECT id FROM work_items WHERE org_id = $1 AND ($2 = '' OR state = $2) ORDER BY random() LIMIT 1`, org, state).Scan(&id)
		return id, err == nil
	}
	raw := func(sql string, args ...any) {
		_ = pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
			if r.IntN(2) == 0 {
				if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		})
	}
	actor := router.Actor{Name: "test"}
	switch op % 17 {
	case 0, 1, 2:
		_, _ = st.Enqueue(ctx, router.EnqueueRequest{OrgID: org, QueueID: queue, Attributes: attrs(), EnqueuedAt: w.now.Add(-time.Duration(r.IntN(60)) * time.Second)})
	case 3:
		if id, ok := anyItem("queued"); ok {
			_, _ = st.AddRevision(ctx, router.AddRevisionRequest{Org: org, ItemID: id, Attributes: attrs(), At: w.now})
		}
	case 4:
		policy := router.FaultPolicies[r.IntN(3)]
		_, _ = st.RouteOrg(ctx, router.RouteRequest{Org: org, Limit: 1 + r.IntN(3), Actor: actor, Now: w.now},
			func(b *router.Batch) []router.Decision { return router.Decide(policy, b) })
	case 5:
		if id, ok := anyItem("queued"); ok {
			_, _ = st.Quarantine(ctx, router.QuarantineRequest{Org: org, ItemID: id, Reason: "test", Actor: actor, At: w.now})
		}
	case 6:
		if id, ok := anyItem("quarantined"); ok {
			_, _ = st.Release(ctx, router.ReleaseRequest{Org: org, ItemID: id, Actor: actor, At: w.now})
		}
	case 7:
		if id, ok := anyItem("assigned"); ok {
			_ = st.Complete(ctx, router.CompleteRequest{Org: org, ItemID: id, At: w.now})
		}
	case 8:
		_, _ = st.DrillDeleteRevisions(ctx, router.DrillRequest{Org: org, Count: 1 + r.IntN(2), Actor: actor, At: w.now})
	case 9:
		_, _ = st.DrillCorruptRevisions(ctx, router.DrillRequest{Org: org, Count: 1, Actor: actor, At: w.now})
	case 10:
		if id, ok := anyItem("queued"); ok {
			raw(`UPDATE work_items SET priority = $2 WHERE id = $1`, id, r.IntN(101))
		}
	case 11:
		if id, ok := anyItem("queued"); ok {
			raw(`UPDATE work_items SET queue_id = $2 WHERE id = $1`, id, []string{"a", "b", "c"}[r.IntN(3)])
		}
	case 12:
		if id, ok := anyItem("queued"); ok {
			raw(`UPDATE work_items SET skipped = NOT skipped WHERE id = $1 AND state = 'queued'`, id)
		}
	case 13:
		if id, ok := anyItem(""); ok {
			raw(`DELETE FROM work_item_revisions WHERE (org_id, id) IN (SELECT org_id, current_revision_id FROM work_items WHERE id = $1)`, id)
		}
	case 14:
		if id, ok := anyItem(""); ok {
			raw(`UPDATE work_item_revisions SET attributes = '{"priority": 7, "channel": "sms"}' WHERE (org_id, id) IN (SELECT org_id, current_revision_id FROM work_items WHERE id = $1)`, id)
		}
	case 15:
		_, _ = st.CleanupBatch(ctx, router.CleanupBatchRequest{OlderThan: w.now.Add(time.Hour), Limit: 5, Actor: actor, At: w.now})
	case 16:
		if id, ok := anyItem(""); ok {
			raw(`DELETE FROM work_items WHERE id = $1`, id)
		}
	}
}

// TestQueueHeadsNeverDrift checks the trigger-kept queue_heads against a
// direct computation after random operations: the store's own writes, the
// drills, cleanup, and raw SQL (priority and queue changes, skip flags,
// revisions deleted or rewritten), half of it under
// session_replication_role = replica.
func TestQueueHeadsNeverDrift(t *testing.T) {
	w := newHeadsWorld(t)
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		n := rapid.IntRange(1, 40).Draw(rt, "ops")
		r := rand.New(rand.NewPCG(seed, 7))
		for i := 0; i < n; i++ {
			w.step(r, r.IntN(64))
		}
		checkHeads(t, w.ctx, w.st, fmt.Sprintf("after %d random operations (seed %d)", n, seed))
	})
}

// TestQueueHeadsConcurrentWriters runs writers at once on one database:
// the triggers lock before they recompute, so the kept heads still agree
// with a direct computation once they are done.
func TestQueueHeadsConcurrentWriters(t *testing.T) {
	w := newHeadsWorld(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Maintenance runs alongside the writers, as the engine runs it.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = w.st.Maintain(w.ctx)
		}
	})
	var writers sync.WaitGroup
	for g := 0; g < 4; g++ {
		writers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 11))
			ww := &headsWorld{st: w.st, ctx: w.ctx, now: w.now, orgs: w.orgs}
			for i := 0; i < 150; i++ {
				ww.step(r, r.IntN(64))
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	checkHeads(t, w.ctx, w.st, "after four concurrent writers")
}
