// Package pgstore is the PostgreSQL Store, on a pgx/v5 pool. It holds all
// of routeops's SQL: embedded migrations, set-based routing, monitoring,
// repair and cleanup statements, and LISTEN/NOTIFY wake-ups.
//
// Its files follow router.Store's capabilities, like memstore's and
// storetest's: reference, write, route, snapshot, items, actions, repair,
// cleanup, verify and drill; migrate, roles and errors are its own.
//
// An error from PostgreSQL, or from the way to it, is an *Error: its
// message redacted, the driver's error kept as the cause. The predicates (IsLockTimeout, IsReadOnlyTransaction, ...)
// are the one place that knows SQLSTATE codes.
//
// Lock order, to stay free of deadlocks: a transaction that touches both
// agents and work_items locks the agents first (the routing transaction
// locks its org's available agents before it claims items; Complete
// updates the agent before the item). Counters kept by triggers are
// locked last, in key order.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routeops/routeops/router"
)

// Advisory lock namespaces (the first key of the two-key form).
const (
	lockNSOrg     = 0x726f7574 // "rout": one routing transaction per org
	lockNSMigrate = 0x6d696772 // "migr"
)

// NotifyChannel is the LISTEN/NOTIFY channel carrying org ids with work.
const NotifyChannel = "routeops_work"

// Errors about the schema, each with the operator's next step.
var (
	ErrNoSchema      = errors.New("the database has no routeops schema: run `routeops migrate` first")
	ErrSchemaOld     = errors.New("the database schema is older than this routeops: run `routeops migrate`")
	ErrSchemaTooNew  = errors.New("the database schema is newer than this routeops binary: upgrade routeops")
	ErrDrillNotAllow = errors.New("drills are refused on this database")
)

// Options configures Open.
type Options struct {
	DSN      string
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// StatementTimeout and LockTimeout are set on every operator action,
	// so that an operator is never left hanging behind a lock.
	StatementTimeout time.Duration
	LockTimeout      time.Duration
	// ApplicationName shows in pg_stat_activity.
	ApplicationName string
	Logger          *slog.Logger
	// SkipSchemaCheck opens without checking the schema version (migrate
	// uses it).
	SkipSchemaCheck bool
}

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	desc string
	log  *slog.Logger
}

var (
	_ router.Store   = (*Store)(nil)
	_ router.Driller = (*Store)(nil)
)

// ParseConfig parses a DSN into a pool config with routeops's settings.
func ParseConfig(opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, &Error{op: "invalid DSN", err: err, dsn: opts.DSN}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	ct := opts.ConnectTimeout
	if ct <= 0 {
		ct = 10 * time.Second
	}
	cfg.ConnConfig.ConnectTimeout = ct
	app := opts.ApplicationName
	if app == "" {
		app = "routeops"
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	// routeops's writers wake the engines after they commit (wake), so
	// the insert trigger need not notify inside their transactions (see
	// migration 008).
	cfg.ConnConfig.RuntimeParams["routeops.notify"] = "after_commit"
	// Every session gets the timeouts, so no statement runs forever and no
	// one waits forever behind a lock. Migrations lift them.
	if opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	if opts.LockTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10)
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	return cfg, nil
}

// Describe renders a connection target without any secret.
func describe(cc *pgx.ConnConfig) string {
	host := cc.Host
	if strings.HasPrefix(host, "/") {
		host = "[" + host + "]"
	} else {
		host = net.JoinHostPort(host, strconv.Itoa(int(cc.Port)))
	}
	return fmt.Sprintf("postgres://%s@%s/%s", cc.User, host, cc.Database)
}

// Open connects and checks that the schema matches this binary.
func Open(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, desc: describe(cfg.ConnConfig), log: log}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return nil, connectError("connect to "+s.desc, err, opts.DSN)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, connectError("connect to "+s.desc, err, opts.DSN)
	}
	s.pool = pool
	if !opts.SkipSchemaCheck {
		if err := s.CheckSchema(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Pool exposes the pool for tests and benchmarks in this module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) Close()           { s.pool.Close() }
func (s *Store) Describe() string { return s.desc }

func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return connectError("ping "+s.desc, err, s.opts.DSN)
	}
	return nil
}

// withTx runs fn in a transaction. Operator actions pass action=true to get
// statement and lock timeouts.
func (s *Store) withTx(ctx context.Context, action bool, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if action {
		st, lt := s.opts.StatementTimeout, s.opts.LockTimeout
		if st <= 0 {
			st = 30 * time.Second
		}
		if lt <= 0 {
			lt = 5 * time.Second
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d",
			st.Milliseconds(), lt.Milliseconds())); err != nil {
			return s.wrap(err)
		}
	}
	if err := fn(tx); err != nil {
		return s.wrap(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap(err)
	}
	return nil
}

// rollbackOrDrop ends a connection's open (possibly aborted) transaction
// block; if even that fails, it closes the connection, since one in an
// unknown state must not go back to the pool. It runs when ctx may be
// cancelled already.
func rollbackOrDrop(ctx context.Context, conn *pgx.Conn) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
		_ = conn.Close(rctx)
	}
}

// wake tells the engines that orgs have new work, after the change that
// made it has committed. The notification is a transaction of its own
// with synchronous_commit off: PostgreSQL holds a database-wide lock from
// a notifying transaction's commit until its WAL flush, and a notify in
// every data transaction serialised their commits on it. A lost wake-up
// costs one poll interval, so a failure here is not the caller's error.
func (s *Store) wake(ctx context.Context, orgs ...string) {
	if len(orgs) == 0 {
		return
	}
	if _, err := s.pool.Exec(ctx, wakeSQL, NotifyChannel, orgs); err != nil {
		slog.Debug("wake-up notification not sent; the engines will poll", "err", s.wrap(err))
	}
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
	var op any
	if e.OperationID != "" {
		op = e.OperationID
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor, origin, os_user, detail, operation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)`,
		e.OrgID, e.At.UTC(), e.Kind, item, queue, actor.Name, actor.Origin, actor.OSUser, string(detail), op)
	return err
}
