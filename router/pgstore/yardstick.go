package pgstore

// The statements that `routeops bench` and the tests run besides the
// Store's own: creating and dropping whole databases, reading server
// settings and pg_stat_statements, the pgbench yardstick and its bare
// table, the commit floor, and the incident's fault (current revisions
// deleted with the foreign key bypassed). They live here because every
// statement routeops runs lives in this package; router/pgstore/pgtest and
// bench call them.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLConn is what the helpers of this file run on: a *pgx.Conn, a
// *pgxpool.Pool or a pgx.Tx.
type SQLConn interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ---- whole databases ----

// CreateDatabase creates database name on admin's server, as a copy of
// template ("" for an empty database), after dropping whatever an earlier
// run left under that name. admin must not be connected to either.
func CreateDatabase(ctx context.Context, admin SQLConn, name, template string) error {
	if err := DropDatabase(ctx, admin, name); err != nil {
		return fmt.Errorf("drop old database %s: %w", name, err)
	}
	sql := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += ` TEMPLATE ` + pgx.Identifier{template}.Sanitize()
	}
	if _, err := admin.Exec(ctx, sql); err != nil {
		if template != "" {
			return fmt.Errorf("copy database %s to %s: %w", template, name, err)
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name if it exists, ending its sessions.
func DropDatabase(ctx context.Context, admin SQLConn, name string) error {
	_, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// UntrackStatements turns pg_stat_statements off in database name, so that
// it costs nothing there.
func UntrackStatements(ctx context.Context, admin SQLConn, name string) error {
	_, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` SET pg_stat_statements.track = 'none'`)
	return err
}

// ---- the server ----

// Setting reads one server setting (SHOW name).
func Setting(ctx context.Context, conn SQLConn, name string) (string, error) {
	var v string
	err := conn.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v)
	return v, err
}

// Checkpoint flushes the server's dirty pages (needs superuser or
// pg_checkpoint).
func Checkpoint(ctx context.Context, admin SQLConn) error {
	_, err := admin.Exec(ctx, `CHECKPOINT`)
	return err
}

// VacuumAnalyze runs VACUUM (ANALYZE) on conn's database.
func VacuumAnalyze(ctx context.Context, conn SQLConn) error {
	_, err := conn.Exec(ctx, `VACUUM (ANALYZE)`)
	return err
}

// StatementStat is one row of pg_stat_statements.
type StatementStat struct {
	Query   string // whitespace collapsed
	Calls   int64
	TotalMS float64
	MeanMS  float64
	Rows    int64
}

// ResetStatements creates pg_stat_statements in conn's database if need
// be and resets its counters (the server must preload it).
func ResetStatements(ctx context.Context, conn SQLConn) error {
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err
}

// TopStatements returns the n statements of conn's database that took the
// most time since ResetStatements.
func TopStatements(ctx context.Context, conn SQLConn, n int) ([]StatementStat, error) {
	rows, err := conn.Query(ctx, `SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, total_exec_time, mean_exec_time, rows
		FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (StatementStat, error) {
		var x StatementStat
		err := row.Scan(&x.Query, &x.Calls, &x.TotalMS, &x.MeanMS, &x.Rows)
		return x, err
	})
}

// ---- the pgbench yardstick ----

// PgbenchBatch is the LIMIT of the yardstick statement.
const PgbenchBatch = 50

// orgIDExpr renders org number v (a pgbench variable or a column) as
// sim.OrgID does: org-0001.
func orgIDExpr(v string) string {
	return `'org-' || lpad(` + v + `::text, greatest(4, length(` + v + `::text)), '0')`
}

// PgbenchScript is the yardstick: the simplest possible batch claim, one
// statement per transaction, on routeops's own schema (so it pays for the
// same indexes and the same counter trigger). The schema's CHECK
// constraints want an agent and a time on an assigned item: it takes the
// org's first agent and now(), and does not touch agent load or the
// journal, which the engine does.
func PgbenchScript(orgs int) string {
	return fmt.Sprintf(`\set org random(1, %d)
UPDATE work_items w SET state = 'assigned', agent_id = a.id, assigned_at = now()
FROM (SELECT id FROM work_items
      WHERE org_id = %[2]s AND state = 'queued'
      ORDER BY priority DESC, enqueued_at, id
      FOR UPDATE SKIP LOCKED LIMIT %[3]d) c,
     (SELECT min(id) AS id FROM agents WHERE org_id = %[2]s) a
WHERE w.org_id = %[2]s AND w.id = c.id;
`, orgs, orgIDExpr(":org"), PgbenchBatch)
}

// CountAssigned counts the assigned items of conn's database (what the
// yardstick claimed).
func CountAssigned(ctx context.Context, conn SQLConn) (int, error) {
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM work_items WHERE state = 'assigned'`).Scan(&n)
	return n, err
}

// CreateBareYardstick fills an empty database with the yardstick's bare
// table: only the columns the claim touches, one index in claim order, no
// trigger, no foreign key, no journal; orgs orgs of perOrg items with the
// same org ids and the same shape of priorities and times as seeded data,
// 20 agents each.
func CreateBareYardstick(ctx context.Context, conn SQLConn, orgs, perOrg int) error {
	org := orgIDExpr("o")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`CREATE TABLE agents (org_id text NOT NULL, id text NOT NULL, PRIMARY KEY (org_id, id))`, nil},
		{`CREATE TABLE work_items (org_id text NOT NULL, id bigint NOT NULL, state text NOT NULL DEFAULT 'queued',
			priority smallint NOT NULL, enqueued_at timestamptz NOT NULL, agent_id text, assigned_at timestamptz,
			PRIMARY KEY (org_id, id))`, nil},
		{`INSERT INTO agents SELECT ` + org + `, 'agent-' || a FROM generate_series(1, $1::int) o, generate_series(1, 20) a`,
			[]any{orgs}},
		{`INSERT INTO work_items (org_id, id, priority, enqueued_at)
			SELECT ` + org + `, (o - 1)::bigint * $2 + i, (random() * 100)::int, now() - random() * interval '10 minutes'
			FROM generate_series(1, $1::int) o, generate_series(1, $2::int) i`, []any{orgs, perOrg}},
		{`CREATE INDEX work_items_claim ON work_items (org_id, priority DESC, enqueued_at, id) WHERE state = 'queued'`, nil},
		{`VACUUM ANALYZE`, nil},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("bare yardstick table: %w", err)
		}
	}
	return nil
}

// ---- the commit floor ----

// PrepareCommitFloor creates the scratch table of CommitFloorWrite.
func PrepareCommitFloor(ctx context.Context, conn SQLConn) error {
	_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_commit_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`)
	return err
}

// CommitFloorWrite commits one row into the scratch table: the simplest
// durable write, the floor of any enqueue-to-assignment time.
func CommitFloorWrite(ctx context.Context, conn SQLConn) error {
	_, err := conn.Exec(ctx, `INSERT INTO bench_commit_floor DEFAULT VALUES`)
	return err
}

// ---- the incident's fault ----

// DeleteCurrentRevisions deletes the current revisions of items the way
// the incident's cleanup script did, in one transaction with
// session_replication_role = replica, which skips the foreign key (it
// needs a superuser, or on PostgreSQL 15 a role granted SET on that
// setting). It returns how many revisions it deleted.
func DeleteCurrentRevisions(ctx context.Context, conn SQLConn, items []int64) (int64, error) {
	var n int64
	err := Raw(ctx, conn, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM work_item_revisions r USING work_items w
			WHERE w.id = ANY($1) AND r.org_id = w.org_id AND r.id = w.current_revision_id`, items)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// DeleteHeadRevisions deletes the current revisions of up to n queued items
// of org, the heads of its queues first (the items a drill picks), with
// DeleteCurrentRevisions, and returns the items.
func DeleteHeadRevisions(ctx context.Context, conn SQLConn, org string, n int) ([]int64, error) {
	rows, err := conn.Query(ctx, drillTargetsSQL, org, n)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (int64, error) {
		var id, rev int64
		err := row.Scan(&id, &rev)
		return id, err
	})
	if err != nil {
		return nil, err
	}
	if _, err := DeleteCurrentRevisions(ctx, conn, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// Raw runs fn in one transaction on conn with SET LOCAL
// session_replication_role = replica: a script that bypasses foreign keys
// and ordinary triggers, as the incident's did.
func Raw(ctx context.Context, conn SQLConn, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("bypass the foreign keys (session_replication_role = replica), which this role may not do: %w", err)
		}
		return fn(tx)
	})
}
