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
// Lock order, to stay free of deadlocks: Complete locks the agent before
// the item; the routing transaction locks the queued items it claims, then
// (writing) the agents it assigned to, in key order; it never holds an
// assigned item, and Complete never a queued one. Counters kept by
// triggers are locked last, in key order.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
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

// NotifyChannel is the well-known LISTEN/NOTIFY channel of schemas before
// version 14. Since then each database has a channel of its own whose name
// only routeops's roles can read (routeops_settings.wake_channel, see
// migration 014); a store that cannot read it falls back to this one.
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
	DSN string
	// Pooler says what sits between routeops and PostgreSQL (db.pooler):
	// PoolerNone ("" too), PoolerSession or PoolerTransaction. It applies
	// to DSN and ReadDSN.
	Pooler string
	// ListenDSN is where the engine LISTENs for wake-ups (db.listen_dsn):
	// PostgreSQL itself or a session pool. Empty: DSN, except under
	// PoolerTransaction, where a LISTEN would lapse with its transaction,
	// so the engine polls. Migrate and CreateRoles need a session too and
	// connect through it under PoolerTransaction.
	ListenDSN string
	// ReadDSN is a hot standby that serves every read (db.read_dsn):
	// snapshots, items, events, plans and scans. Writes and the engine use
	// DSN. Empty: DSN serves everything.
	ReadDSN string
	// ExecMode is how statements are sent under PoolerTransaction, where
	// nothing may be prepared by name: the simple protocol (the default,
	// and what any other value gives: parameters interpolated by pgx, a
	// pipeline sent as one query) or pgx.QueryExecModeExec (unnamed
	// statements in the extended protocol). Both pass the store's whole
	// conformance suite through PgBouncer; BENCHMARKS.md compares them.
	ExecMode pgx.QueryExecMode
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (default 10s).
	ConnectTimeout time.Duration
	// StatementTimeout and LockTimeout are set on every session (every
	// transaction under PoolerTransaction), so that no statement runs
	// forever and an operator is never left hanging behind a lock.
	StatementTimeout time.Duration
	LockTimeout      time.Duration
	// ApplicationName shows in pg_stat_activity.
	ApplicationName string
	Logger          *slog.Logger
	// SkipSchemaCheck opens without checking the schema version (migrate
	// uses it).
	SkipSchemaCheck bool
}

func (o Options) txMode() bool { return o.Pooler == PoolerTransaction }

func (o Options) session() session {
	return session{statementTimeout: o.StatementTimeout, lockTimeout: o.LockTimeout}
}

// Store is the PostgreSQL store.
type Store struct {
	// pool is the primary's; w uses it for writes and the engine, r for
	// reads (the read replica's pool rpool, or the primary's).
	pool  *pgxpool.Pool
	rpool *pgxpool.Pool
	w, r  *db
	opts  Options
	log   *slog.Logger
	// hosts are the servers actually connected, for Describe (a multi-host
	// DSN names several).
	host, readHost connHost
	// wrote is the primary's WAL position after this process's last
	// operator change, until the replica has replayed it (see rd).
	wrote atomic.Uint64
	// channel is the database's wake-up channel (WakeChannel).
	channel atomic.Pointer[string]
}

var (
	_ router.Store   = (*Store)(nil)
	_ router.Driller = (*Store)(nil)
)

// ParseConfig parses opts.DSN into a pool config with routeops's settings
// for opts.Pooler.
func ParseConfig(opts Options) (*pgxpool.Config, error) {
	return parseConfig(opts.DSN, opts, nil)
}

// parseConfig parses dsn with the settings of opts; host, when given,
// records the server each new connection reached.
func parseConfig(dsn string, opts Options, host *connHost) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &Error{op: "invalid DSN", err: err, dsn: dsn}
	}
	cfg = dropInsecurePassfile(cfg, opts.DSN, opts.Logger)
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
	sess := opts.session()
	switch opts.Pooler {
	case PoolerSession:
		// PgBouncer refuses startup parameters it does not know (or drops
		// them with ignore_startup_parameters), so the session's settings
		// are SET once it is connected.
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, sess.setSQL(""))
			return err
		}
	case PoolerTransaction:
		// Nothing outlives a transaction: no named prepared statements and
		// no session settings (each transaction sets its own; see db).
		mode := opts.ExecMode
		if mode != pgx.QueryExecModeExec {
			mode = pgx.QueryExecModeSimpleProtocol
		}
		cfg.ConnConfig.DefaultQueryExecMode = mode
		cfg.ConnConfig.StatementCacheCapacity = 0
		cfg.ConnConfig.DescriptionCacheCapacity = 0
	default:
		// Every session gets the settings at connect. Migrations lift the
		// timeouts.
		for k, v := range sess.params() {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if host != nil {
		after := cfg.AfterConnect
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			host.set(c)
			if after != nil {
				return after(ctx, c)
			}
			return nil
		}
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	return cfg, nil
}

// Describe renders a connection target without any secret.
func describe(cc *pgx.ConnConfig) string {
	return describeHost(cc, hostPort(cc.Host, cc.Port))
}

func describeHost(cc *pgx.ConnConfig, host string) string {
	return fmt.Sprintf("postgres://%s@%s/%s", cc.User, host, cc.Database)
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return "[" + host + "]"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// Open connects (to the read replica too, with ReadDSN) and checks that
// the schema matches this binary.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: log}
	pool, err := s.connect(ctx, opts.DSN, &s.host)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	s.w = &db{pool: pool, txMode: opts.txMode(), session: opts.session()}
	s.r = s.w
	if opts.ReadDSN != "" {
		rpool, err := s.connect(ctx, opts.ReadDSN, &s.readHost)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("read replica (db.read_dsn): %w", err)
		}
		s.rpool = rpool
		s.r = &db{pool: rpool, txMode: opts.txMode(), session: opts.session()}
	}
	if !opts.SkipSchemaCheck {
		if err := s.CheckSchema(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.loadWakeChannel(ctx)
	return s, nil
}

// WakeChannel is the channel the engines listen on and routeops's writers
// notify on: the database's private channel, or NotifyChannel when this
// login cannot read it (or the schema predates it).
func (s *Store) WakeChannel() string {
	if c := s.channel.Load(); c != nil {
		return *c
	}
	return NotifyChannel
}

// loadWakeChannel reads the database's wake-up channel. A login that may
// not read routeops_settings gets a warning: the insert trigger notifies on
// the private channel, so its engine would only poll.
func (s *Store) loadWakeChannel(ctx context.Context) {
	var ch string
	err := s.w.QueryRow(ctx, `SELECT wake_channel FROM routeops_settings`).Scan(&ch)
	switch {
	case err == nil:
		s.channel.Store(&ch)
	case IsUndefinedTable(err) || IsUndefinedColumn(err):
		// No schema yet (migrate), or one before version 13.
	default:
		s.log.Warn("cannot read the wake-up channel (routeops_settings.wake_channel); "+
			"the engine will poll for work instead of being woken", "error", s.wrap(err).Error())
	}
}

// connect opens a pool on dsn and checks that it answers.
func (s *Store) connect(ctx context.Context, dsn string, host *connHost) (*pgxpool.Pool, error) {
	cfg, err := parseConfig(dsn, s.opts, host)
	if err != nil {
		return nil, err
	}
	host.init(cfg.ConnConfig)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return nil, connectError("connect to "+host.describe(), err, dsn)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, connectError("connect to "+host.describe(), err, dsn)
	}
	return pool, nil
}

// Pool exposes the primary's pool for tests and benchmarks in this module.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) Close() {
	s.pool.Close()
	if s.rpool != nil {
		s.rpool.Close()
	}
}

// Describe names the server that writes go to, as actually connected
// (with a multi-host DSN, the host that answered), without any secret.
func (s *Store) Describe() string { return s.host.describe() }

func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return connectError("ping "+s.Describe(), err, s.opts.DSN)
	}
	if s.rpool != nil {
		if err := s.rpool.Ping(ctx); err != nil {
			return connectError("ping the read replica "+s.readHost.describe(), err, s.opts.ReadDSN)
		}
	}
	return nil
}

// withTx runs fn in a transaction. Operator actions pass action=true to get
// statement and lock timeouts.
func (s *Store) withTx(ctx context.Context, action bool, fn func(tx pgx.Tx) error) error {
	tx, err := s.w.Begin(ctx)
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// Under transaction pooling every transaction already begins with the
	// timeouts (db.BeginTx).
	if action && !s.w.txMode {
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
	if action {
		s.noteWrite(ctx)
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
	if _, err := s.w.Exec(ctx, wakeSQL, s.WakeChannel(), orgs); err != nil {
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

// Bounds of the attributes size limit (routeops_settings, migration 011).
const (
	MinAttributesLimit     = 16 << 10
	MaxAttributesLimit     = 64 << 20
	DefaultAttributesLimit = 64 << 10
)

// AttributesLimit returns the database's attributes size limit in bytes,
// after setting it to set when set > 0 (`routeops migrate
// --attributes-limit`). Documents over it are refused at write time by SQL,
// for every writer; existing ones become oversized_attributes faults. It
// needs the schema at this binary's version, and to set it, the rights of
// the schema's owner.
func AttributesLimit(ctx context.Context, opts Options, set int) (int, error) {
	if set != 0 && (set < MinAttributesLimit || set > MaxAttributesLimit) {
		return 0, fmt.Errorf("the attributes limit must be %d to %d bytes (16 KiB to 64 MiB), not %d",
			MinAttributesLimit, MaxAttributesLimit, set)
	}
	s, err := Open(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var n int
	if set != 0 {
		err = s.pool.QueryRow(ctx, `UPDATE routeops_settings SET attributes_max_bytes = $1 RETURNING attributes_max_bytes`, set).Scan(&n)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT routeops_attributes_limit()`).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("attributes limit: %w", s.wrap(err))
	}
	return n, nil
}
