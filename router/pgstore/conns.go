package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pooler modes (db.pooler): what sits between routeops and PostgreSQL.
const (
	// PoolerNone: routeops talks to PostgreSQL itself (or through a pooler
	// that passes startup parameters and keeps sessions).
	PoolerNone = "none"
	// PoolerSession: PgBouncer in session pooling. A client keeps one
	// server connection for its whole session, but PgBouncer refuses
	// custom startup parameters, so the session settings are SET after
	// connecting.
	PoolerSession = "session"
	// PoolerTransaction: PgBouncer in transaction pooling. A server
	// connection is lent for one transaction only, so nothing may outlive
	// a transaction: no named prepared statements, no session settings
	// (every transaction sets its own with SET LOCAL), no session advisory
	// locks and no LISTEN (which goes to Options.ListenDSN instead).
	PoolerTransaction = "transaction"
)

// session holds the settings that every transaction runs under: the
// statement and lock timeouts, and routeops.notify (routeops's writers
// wake the engines after they commit, so the insert trigger need not
// notify inside their transactions; see migration 008).
type session struct {
	statementTimeout time.Duration
	lockTimeout      time.Duration
}

func (s session) params() map[string]string {
	p := map[string]string{"routeops.notify": "after_commit"}
	if s.statementTimeout > 0 {
		p["statement_timeout"] = strconv.FormatInt(s.statementTimeout.Milliseconds(), 10)
	}
	if s.lockTimeout > 0 {
		p["lock_timeout"] = strconv.FormatInt(s.lockTimeout.Milliseconds(), 10)
	}
	return p
}

// setSQL is the settings as SET statements (scope "" for the session,
// "LOCAL" for the transaction). The values are integers or fixed words.
func (s session) setSQL(scope string) string {
	var b strings.Builder
	for _, k := range []string{"statement_timeout", "lock_timeout", "routeops.notify"} {
		v, ok := s.params()[k]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "SET %s %s = '%s'", scope, k, v)
	}
	return b.String()
}

// preludeSQL sets the settings for the rest of the transaction (or of
// the implicit transaction of a pipeline, which ends at its Sync): one
// statement, for pipelines in the extended protocol.
const preludeSQL = `SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),
	set_config('routeops.notify', 'after_commit', true)`

func (s session) preludeArgs() []any {
	p := s.params()
	st, lt := p["statement_timeout"], p["lock_timeout"]
	if st == "" {
		st = "0"
	}
	if lt == "" {
		lt = "0"
	}
	return []any{st, lt}
}

// db is a connection pool used the way its pooler allows. With
// PoolerTransaction every statement runs inside a transaction that sets
// the session settings first: explicit transactions begin with SET LOCAL
// in the same round trip as BEGIN, and a lone statement is pipelined
// after a set_config in the same implicit transaction. Otherwise the
// settings are the session's and db is the pool itself.
type db struct {
	pool    *pgxpool.Pool
	txMode  bool
	session session
}

// beginQuery is BEGIN with the transaction's options, followed in
// transaction pooling by the settings; one round trip in the simple
// protocol.
func (d *db) beginQuery(o pgx.TxOptions) string {
	var b strings.Builder
	b.WriteString("BEGIN")
	if o.IsoLevel != "" {
		b.WriteString(" ISOLATION LEVEL " + string(o.IsoLevel))
	}
	if o.AccessMode != "" {
		b.WriteString(" " + string(o.AccessMode))
	}
	if o.DeferrableMode != "" {
		b.WriteString(" " + string(o.DeferrableMode))
	}
	b.WriteString("; ")
	b.WriteString(d.session.setSQL("LOCAL"))
	return b.String()
}

func (d *db) BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error) {
	if d.txMode {
		o.BeginQuery = d.beginQuery(o)
	}
	return d.pool.BeginTx(ctx, o)
}

func (d *db) Begin(ctx context.Context) (pgx.Tx, error) { return d.BeginTx(ctx, pgx.TxOptions{}) }

func (d *db) Acquire(ctx context.Context) (*pgxpool.Conn, error) { return d.pool.Acquire(ctx) }

// queueBegin queues BEGIN on a pipeline, and in transaction pooling the
// settings after it; beginResults reads what it queued.
func (d *db) queueBegin(b *pgx.Batch) {
	b.Queue(`BEGIN`)
	if d.txMode {
		b.Queue(preludeSQL, d.session.preludeArgs()...)
	}
}

func (d *db) beginResults(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	if d.txMode {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// lone starts a pipeline of the settings and one statement on a
// connection of its own, in one implicit transaction.
func (d *db) lone(ctx context.Context, sql string, args []any) (*pgxpool.Conn, pgx.BatchResults, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	b := &pgx.Batch{}
	b.Queue(preludeSQL, d.session.preludeArgs()...)
	b.Queue(sql, args...)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		conn.Release()
		return nil, nil, err
	}
	return conn, br, nil
}

func (d *db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !d.txMode {
		return d.pool.Exec(ctx, sql, args...)
	}
	conn, br, err := d.lone(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (d *db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !d.txMode {
		return d.pool.Query(ctx, sql, args...)
	}
	conn, br, err := d.lone(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		conn.Release()
		return nil, err
	}
	return &loneRows{Rows: rows, br: br, conn: conn}, nil
}

func (d *db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !d.txMode {
		return d.pool.QueryRow(ctx, sql, args...)
	}
	rows, err := d.Query(ctx, sql, args...)
	return &loneRow{rows: rows, err: err}
}

// loneRows are the rows of a lone statement: when they end, the pipeline
// is finished (its implicit transaction ends at the Sync) and the
// connection goes back to the pool.
type loneRows struct {
	pgx.Rows
	br   pgx.BatchResults
	conn *pgxpool.Conn
	done bool
	err  error
}

func (r *loneRows) finish() {
	if r.done {
		return
	}
	r.done = true
	if err := r.br.Close(); err != nil && r.err == nil {
		r.err = err
	}
	r.conn.Release()
}

func (r *loneRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *loneRows) Close() {
	r.Rows.Close()
	r.finish()
}

func (r *loneRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// loneRow is QueryRow's row for a lone statement (pgx's semantics: no
// row is pgx.ErrNoRows).
type loneRow struct {
	rows pgx.Rows
	err  error
}

func (r *loneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
