package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/routeops/routeops/router"
)

// waitUS is a conversation's wait in whole microseconds, as of $2 (the
// report's end) while it has not been assigned.
const waitUS = `(extract(epoch FROM coalesce(w.assigned_at, $2) - w.enqueued_at) * 1000000)::bigint`

// Impact runs three set-based queries: the waits per org and queue (and
// for the fleet) with percentile_disc, the items quarantined or repaired
// in the window with their waits, and the stall windows paired from the
// journal with lead().
func (s *Store) Impact(ctx context.Context, req router.ImpactRequest) (*router.ImpactData, error) {
	tx, err := s.rd(ctx).BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// The waits of a million items sort in memory; compiling the query
	// (JIT) would cost more than it saves.
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off`); err != nil {
		return nil, s.wrap(err)
	}
	since, until := req.Since.UTC(), req.Until.UTC()
	orgCond := ""
	args := []any{since, until, req.SLA.Microseconds()}
	if req.Org != "" {
		args = append(args, req.Org)
		orgCond = " AND w.org_id = $4"
	}
	orgs := router.ImpactOrgs{}
	org := orgs.Org
	if err := s.impactWaits(ctx, tx, orgCond, args, org); err != nil {
		return nil, s.wrap(err)
	}
	if err := s.impactMoved(ctx, tx, orgCond, args, req.ListItems, org); err != nil {
		return nil, s.wrap(err)
	}
	if err := s.impactStalls(ctx, tx, args, req.Org != "", org); err != nil {
		return nil, s.wrap(err)
	}
	return orgs.Data(), nil
}

func (s *Store) impactWaits(ctx context.Context, tx pgx.Tx, orgCond string, args []any, org func(string) *router.ImpactOrg) error {
	// One scan and one sort (by org and queue, in the C collation: a
	// locale's collation made that sort ten times slower); each group's
	// percentiles sort only that group's waits. No fleet-wide percentile:
	// it would sort every wait once more.
	rows, err := tx.Query(ctx, `WITH x AS (
			SELECT w.org_id COLLATE "C" AS org_id, w.queue_id COLLATE "C" AS queue_id, `+waitUS+` AS us FROM work_items w
			WHERE w.enqueued_at >= $1 AND w.enqueued_at < $2 AND w.state <> 'cancelled'`+orgCond+`)
		SELECT grouping(org_id, queue_id), org_id, coalesce(queue_id, ''), count(*),
			count(*) FILTER (WHERE us > $3), max(us),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY us), percentile_disc(0.95) WITHIN GROUP (ORDER BY us),
			coalesce(sum(greatest(us - $3, 0)), 0)::bigint
		FROM x GROUP BY GROUPING SETS ((org_id), (org_id, queue_id))`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	for rows.Next() {
		var g int
		var o, q string
		var n, over int
		var mx, p50, p95 pgtype.Int8
		var excess int64
		if err := rows.Scan(&g, &o, &q, &n, &over, &mx, &p50, &p95, &excess); err != nil {
			return err
		}
		st := router.WaitStats{Items: n, OverSLA: over, Max: us(mx.Int64), P50: us(p50.Int64), P95: us(p95.Int64), Excess: us(excess)}
		switch g {
		case 1: // (org_id)
			org(o).WaitStats = st
		case 0: // (org_id, queue_id)
			oo := org(o)
			oo.Queues = append(oo.Queues, router.ImpactQueue{Queue: q, WaitStats: st})
		}
	}
	return rows.Err()
}

// impactMoved counts the items quarantined or repaired in the window per
// queue, and lists the longest-waiting ones per org.
func (s *Store) impactMoved(ctx context.Context, tx pgx.Tx, orgCond string, args []any, list int,
	org func(string) *router.ImpactOrg) error {
	// kind NOT IN (...) is stated for the partial index on incident events.
	a := []any{args[0], args[1], list}
	if orgCond != "" {
		a, orgCond = append(a, args[3]), " AND w.org_id = $4"
	}
	moved := `WITH e AS (
			SELECT DISTINCT w.org_id, w.work_item_id, w.kind FROM events w
			WHERE w.kind IN ('quarantined', 'revision_repaired') AND w.kind NOT IN ('assigned', 'completed')
			  AND w.at >= $1 AND w.at < $2 AND w.work_item_id IS NOT NULL` + orgCond + `),
		m AS (
			SELECT e.org_id, e.kind, w.queue_id, w.id, w.state, ` + waitUS + ` AS us,
				row_number() OVER (PARTITION BY e.org_id, e.kind ORDER BY ` + waitUS + ` DESC, w.id) AS rn,
				count(*) OVER (PARTITION BY e.org_id, e.kind, w.queue_id) AS n,
				row_number() OVER (PARTITION BY e.org_id, e.kind, w.queue_id ORDER BY w.id) AS qn
			FROM e JOIN work_items w ON w.org_id = e.org_id AND w.id = e.work_item_id)
		SELECT org_id, kind, queue_id, id, state, us, rn, n, qn FROM m
		WHERE qn = 1 OR rn <= $3
		ORDER BY org_id, kind, rn`
	rows, err := tx.Query(ctx, moved, a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o, kind, q, st string
		var id, us, rn, n, qn int64
		if err := rows.Scan(&o, &kind, &q, &id, &st, &us, &rn, &n, &qn); err != nil {
			return err
		}
		oo := org(o)
		if qn == 1 {
			qq := oo.QueueRow(q)
			if kind == router.EventQuarantined {
				qq.Quarantined, oo.Quarantined = int(n), oo.Quarantined+int(n)
			} else {
				qq.Repaired, oo.Repaired = int(n), oo.Repaired+int(n)
			}
		}
		if rn <= int64(list) {
			it := router.ImpactItem{ID: id, Queue: q, State: router.ItemState(st), Wait: time.Duration(us) * time.Microsecond}
			if kind == router.EventQuarantined {
				oo.QuarantinedItems = append(oo.QuarantinedItems, it)
			} else {
				oo.RepairedItems = append(oo.RepairedItems, it)
			}
		}
	}
	return rows.Err()
}

// impactStalls pairs each stall_detected with the queue's next stall
// event (MarkStall makes them alternate) and keeps the windows that
// overlap the report's.
func (s *Store) impactStalls(ctx context.Context, tx pgx.Tx, args []any, byOrg bool, org func(string) *router.ImpactOrg) error {
	orgCond := ""
	a := []any{args[0], args[1]}
	if byOrg {
		orgCond = " AND org_id = $3"
		a = append(a, args[3])
	}
	rows, err := tx.Query(ctx, `WITH s AS (
			SELECT org_id, queue_id, kind, at, coalesce(detail ->> 'cause', '') AS cause,
				lead(at) OVER (PARTITION BY org_id, queue_id ORDER BY at, id) AS next_at
			FROM events
			WHERE kind IN ('stall_detected', 'stall_cleared') AND kind NOT IN ('assigned', 'completed')
			  AND at < $2 AND queue_id IS NOT NULL`+orgCond+`)
		SELECT org_id, queue_id, cause, at, next_at FROM s
		WHERE kind = 'stall_detected' AND (next_at IS NULL OR next_at >= $1)
		ORDER BY org_id COLLATE "C", at, queue_id COLLATE "C"`, a...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o, q, cause string
		var from time.Time
		var to pgtype.Timestamptz
		if err := rows.Scan(&o, &q, &cause, &from, &to); err != nil {
			return err
		}
		oo := org(o)
		oo.Stalls = append(oo.Stalls, router.StallWindow{Queue: q, Cause: router.Cause(cause), From: from.UTC(), To: tsPtr(to)})
	}
	return rows.Err()
}

func (s *Store) WaitSeries(ctx context.Context, req router.SeriesRequest) ([]router.QueueSeries, error) {
	times := req.SeriesTimes()
	queues := `SELECT DISTINCT queue_id FROM it`
	args := []any{req.Org, req.From.UTC(), req.To.UTC(), times}
	qCond := ""
	if len(req.Queues) > 0 {
		args = append(args, req.Queues)
		queues, qCond = `SELECT DISTINCT unnest($5::text[]) AS queue_id`, ` AND w.queue_id = ANY($5)`
	}
	rows, err := s.rd(ctx).Query(ctx, `WITH it AS (
			SELECT w.queue_id, w.enqueued_at, w.assigned_at FROM work_items w
			WHERE w.org_id = $1 AND w.state <> 'cancelled' AND w.enqueued_at <= $3
			  AND (w.assigned_at IS NULL OR w.assigned_at > $2)`+qCond+`),
		qs AS (`+queues+`),
		g AS (SELECT unnest($4::timestamptz[]) AS t)
		SELECT qs.queue_id, g.t, count(it.queue_id), min(it.enqueued_at)
		FROM qs CROSS JOIN g
		LEFT JOIN it ON it.queue_id = qs.queue_id AND it.enqueued_at <= g.t AND (it.assigned_at IS NULL OR it.assigned_at > g.t)
		GROUP BY qs.queue_id, g.t ORDER BY qs.queue_id COLLATE "C", g.t`, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []router.QueueSeries
	for rows.Next() {
		var q string
		var t time.Time
		var n int
		var oldest pgtype.Timestamptz
		if err := rows.Scan(&q, &t, &n, &oldest); err != nil {
			return nil, s.wrap(err)
		}
		if len(out) == 0 || out[len(out)-1].Queue != q {
			out = append(out, router.QueueSeries{Org: req.Org, Queue: q})
		}
		p := router.SeriesPoint{At: t.UTC(), Waiting: n}
		if oldest.Valid {
			p.OldestWait = t.Sub(oldest.Time)
		}
		qs := &out[len(out)-1]
		qs.Points = append(qs.Points, p)
	}
	return out, s.wrap(rows.Err())
}
