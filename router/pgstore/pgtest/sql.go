package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routeops/routeops/router/pgstore"
)

// DB is raw SQL on one test database, the way an operator's psql session
// or a broken script reaches it: to read what the store wrote, to check it
// with queries of the test's own, and to damage it. Every method fails the
// test on an error.
type DB struct {
	tb   testing.TB
	dsn  string
	pool *pgxpool.Pool
}

// Connect opens a pool on dsn, closed when the test ends.
func Connect(tb testing.TB, dsn string) *DB {
	tb.Helper()
	d := &DB{tb: tb, dsn: dsn}
	d.Reconnect()
	return d
}

// On wraps a pool the test already has, such as a pgstore's Pool().
func On(tb testing.TB, pool *pgxpool.Pool) *DB { return &DB{tb: tb, pool: pool} }

// Pool is the pool, for what the helpers do not cover.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Reconnect replaces the pool (after the server restarted under it).
func (d *DB) Reconnect() {
	d.tb.Helper()
	if d.dsn == "" {
		d.tb.Fatal("pgtest: Reconnect needs a DB from Connect")
	}
	if d.pool != nil {
		d.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, d.dsn)
	if err != nil {
		d.tb.Fatalf("pgtest: connect: %v", err)
	}
	d.tb.Cleanup(pool.Close)
	d.pool = pool
}

func sqlCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

func (d *DB) fail(sql string, err error) {
	d.tb.Helper()
	d.tb.Fatalf("SQL %s: %v", strings.TrimSpace(sql), err)
}

// Exec runs a statement and returns the rows it affected.
func (d *DB) Exec(sql string, args ...any) int64 {
	d.tb.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	tag, err := d.pool.Exec(ctx, sql, args...)
	if err != nil {
		d.fail(sql, err)
	}
	return tag.RowsAffected()
}

// Int runs a query of one integer.
func (d *DB) Int(sql string, args ...any) int64 {
	d.tb.Helper()
	return one[int64](d, sql, args)
}

// Str runs a query of one text value.
func (d *DB) Str(sql string, args ...any) string {
	d.tb.Helper()
	return one[string](d, sql, args)
}

// Ints runs a query of one bigint column.
func (d *DB) Ints(sql string, args ...any) []int64 {
	d.tb.Helper()
	var ids []int64
	var id int64
	d.each(sql, args, []any{&id}, func() { ids = append(ids, id) })
	return ids
}

// Map runs a query of (bigint, text) rows into a map.
func (d *DB) Map(sql string, args ...any) map[int64]string {
	d.tb.Helper()
	m := map[int64]string{}
	var k int64
	var v string
	d.each(sql, args, []any{&k, &v}, func() { m[k] = v })
	return m
}

// one runs a query of one row of one column.
func one[T any](d *DB, sql string, args []any) T {
	d.tb.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	var v T
	if err := d.pool.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		d.fail(sql, err)
	}
	return v
}

// each scans every row of a query into dest and calls fn after each.
func (d *DB) each(sql string, args, dest []any, fn func()) {
	d.tb.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	rows, err := d.pool.Query(ctx, sql, args...)
	if err == nil {
		_, err = pgx.ForEachRow(rows, dest, func() error { fn(); return nil })
	}
	if err != nil {
		d.fail(sql, err)
	}
}

// Raw runs fn in one transaction with SET LOCAL session_replication_role
// = replica: the incident's kind of script, which bypasses foreign keys
// and ordinary triggers.
func (d *DB) Raw(fn func(ctx context.Context, tx pgx.Tx) error) {
	d.tb.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	if err := pgstore.Raw(ctx, d.pool, func(tx pgx.Tx) error { return fn(ctx, tx) }); err != nil {
		d.tb.Fatalf("raw SQL script: %v", err)
	}
}

// Digest is one value for everything routeops writes: every row of orgs,
// queues, teams, agents, work_items, work_item_revisions and events. Two
// equal digests mean nothing changed in between.
func (d *DB) Digest() string {
	d.tb.Helper()
	var parts []string
	for _, table := range []string{"orgs", "queues", "teams", "agents", "work_items", "work_item_revisions", "events"} {
		parts = append(parts, table+" "+d.Str(`SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
			FROM `+table+` t`))
	}
	return strings.Join(parts, "; ")
}

// HeadItems returns the first n queued items of a queue in routing order,
// failing the test when it has fewer.
func (d *DB) HeadItems(org, queue string, n int) []int64 {
	d.tb.Helper()
	ids := d.Ints(`SELECT id FROM work_items WHERE org_id = $1 AND queue_id = $2 AND state = 'queued'
		ORDER BY priority DESC, enqueued_at, id LIMIT $3`, org, queue, n)
	if len(ids) != n {
		d.tb.Fatalf("queue %s/%s has %d queued items, want at least %d", org, queue, len(ids), n)
	}
	return ids
}

// ---- fault injection ----

// DeleteCurrentRevisions deletes the current revisions of items as the
// incident's script did, bypassing the foreign key (pgstore's
// DeleteCurrentRevisions, which routeops bench uses too), and fails the
// test unless it deleted one for each item.
func (d *DB) DeleteCurrentRevisions(items ...int64) {
	d.tb.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	n, err := pgstore.DeleteCurrentRevisions(ctx, d.pool, items)
	if err == nil && n != int64(len(items)) {
		err = fmt.Errorf("deleted %d revisions, want %d", n, len(items))
	}
	if err != nil {
		d.tb.Fatalf("delete current revisions: %v", err)
	}
}

// CorruptAttributes overwrites the attributes of each item's current
// revision in place (history edited, as a hand fix gone wrong would):
// items[i] gets attrs[i], or attrs[0] when only one is given. The
// attributes must be JSON; jsonb stores them as it normalises them.
func (d *DB) CorruptAttributes(items []int64, attrs ...string) {
	d.tb.Helper()
	if len(attrs) != 1 && len(attrs) != len(items) {
		d.tb.Fatalf("CorruptAttributes: %d attribute sets for %d items", len(attrs), len(items))
	}
	d.Raw(func(ctx context.Context, tx pgx.Tx) error {
		for i, id := range items {
			a := attrs[0]
			if len(attrs) > 1 {
				a = attrs[i]
			}
			tag, err := tx.Exec(ctx, `UPDATE work_item_revisions r SET attributes = $2::jsonb
				FROM work_items w WHERE w.id = $1 AND r.org_id = w.org_id AND r.id = w.current_revision_id`, id, a)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("corrupting item %d touched %d rows", id, tag.RowsAffected())
			}
		}
		return nil
	})
}

// Orphan points an item at queue, which must not exist, bypassing the
// foreign key: an item that no queue lists.
func (d *DB) Orphan(item int64, queue string) {
	d.tb.Helper()
	d.Raw(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE work_items SET queue_id = $2 WHERE id = $1`, item, queue)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("item %d: %d rows", item, tag.RowsAffected())
		}
		return err
	})
}
