// Package pgstore is the PostgreSQL Store, on a pgx/v5 pool. It holds all
// of routeops's SQL: embedded migrations, set-based routing, monitoring,
// repair and cleanup statements, and LISTEN/NOTIFY wake-ups.
//
// Lock order, to stay free of deadlocks: a transaction that touches both
// agents and work_items locks the agents first (the routing transaction
// locks its org's available agents before it claims items; Complete
// updates the agent before the item). Counters kept by triggers are
// locked last, in key order.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/routeops/routeops/router"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// VersionTable is where tern records the schema version.
const VersionTable = "routeops_schema_version"

// Advisory lock namespaces (the first key of the two-key form).
const (
	lockNSOrg     = 0x726f7574 // "rout": one routing transaction per org
	lockNSMigrate = 0x6d696772 // "migr"
)

// sqlStateTooLarge is the SQLSTATE of the schema's refusal of attributes
// over the size limit (migration 010).
const sqlStateTooLarge = "RO413"

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

var _ router.Store = (*Store)(nil)

// ParseConfig parses a DSN into a pool config with routeops's settings.
func ParseConfig(opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN: %s", redactErr(err, opts.DSN))
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
		return nil, fmt.Errorf("connect to %s: %s", s.desc, redactErr(err, opts.DSN))
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %s", s.desc, explainConnErr(err, opts.DSN))
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
		return fmt.Errorf("ping %s: %s", s.desc, explainConnErr(err, s.opts.DSN))
	}
	return nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int {
	names, err := migrate.FindMigrations(migrationsDir())
	if err != nil {
		return 0
	}
	return len(names)
}

func migrationsDir() fs.FS {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// SchemaVersion reads the schema version; 0 when there is no schema.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.pool)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, VersionTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT version FROM `+VersionTable).Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// CheckSchema reports ErrNoSchema, ErrSchemaOld or ErrSchemaTooNew.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := LatestVersion()
	switch {
	case v == 0:
		return ErrNoSchema
	case v < latest:
		return fmt.Errorf("%w (database at version %d, this binary needs %d)", ErrSchemaOld, v, latest)
	case v > latest:
		return fmt.Errorf("%w (database at version %d, this binary knows up to %d)", ErrSchemaTooNew, v, latest)
	}
	return nil
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	From, To int
}

// Migrate applies the embedded migrations under an advisory lock. It is
// idempotent, and refuses a database whose schema is newer than this
// binary.
func Migrate(ctx context.Context, opts Options) (MigrateResult, error) {
	opts.StatementTimeout, opts.LockTimeout = 0, 0
	cfg, err := ParseConfig(opts)
	if err != nil {
		return MigrateResult{}, err
	}
	desc := describe(cfg.ConnConfig)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg.ConnConfig)
	cancel()
	if err != nil {
		return MigrateResult{}, fmt.Errorf("connect to %s: %s", desc, explainConnErr(err, opts.DSN))
	}
	defer conn.Close(context.Background())
	// Our own lock, held across the version check and tern's run, so that
	// two migrations at once serialise and the second finds nothing to do.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockNSMigrate); err != nil {
		return MigrateResult{}, fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, 0)`, lockNSMigrate) //nolint:errcheck
	from, err := schemaVersion(ctx, conn)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("read schema version: %w", err)
	}
	latest := LatestVersion()
	if from > latest {
		return MigrateResult{From: from, To: from}, fmt.Errorf("%w (database at version %d, this binary knows up to %d)", ErrSchemaTooNew, from, latest)
	}
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("prepare migrations: %w", err)
	}
	if err := m.LoadMigrations(migrationsDir()); err != nil {
		return MigrateResult{}, fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		var pe migrate.MigrationPgError
		if errors.As(err, &pe) {
			return MigrateResult{From: from}, fmt.Errorf("migration %s failed: %s", pe.MigrationName, pe.Error())
		}
		return MigrateResult{From: from}, fmt.Errorf("migrate: %w", err)
	}
	to, err := schemaVersion(ctx, conn)
	if err != nil {
		return MigrateResult{From: from}, err
	}
	return MigrateResult{From: from, To: to}, nil
}

// redactErr renders an error with any password from the DSN removed.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if pw := passwordOf(dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

func passwordOf(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil || cfg.Password == "" {
		return ""
	}
	return cfg.Password
}

// explainConnErr turns connection failures into the operator's words.
func explainConnErr(err error, dsn string) string {
	msg := redactErr(err, dsn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000":
			return "authentication failed: wrong user or password (" + pe.Message + ")"
		case "3D000":
			return "the database does not exist (" + pe.Message + ")"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout") {
		return "unreachable within the connect timeout (" + msg + ")"
	}
	return msg
}

// IsPermission reports whether err is PostgreSQL refusing a privilege.
func IsPermission(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
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

// idConstraints are the CHECK constraints on org, queue, team and agent
// ids, and which kind of id each guards.
var idConstraints = map[string]string{
	"orgs_id_clean": "org", "queues_id_clean": "queue", "teams_id_clean": "team", "agents_id_clean": "agent",
	"orgs_id_check": "org", "queues_id_check": "queue", "teams_id_check": "team", "agents_id_check": "agent",
}

// wrap turns well-known PostgreSQL errors into the operator's words.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42501":
			return fmt.Errorf("%w: the database role lacks a privilege this needs (%s); operator actions need a member of routeops_operator, and the engine (serve, or a console with its engine) needs the schema owner's rights", router.ErrPermission, pe.Message)
		case "55P03":
			return fmt.Errorf("gave up waiting for a lock after the lock timeout (%s); try again", pe.Message)
		case "57014":
			return fmt.Errorf("the statement timed out (%s)", pe.Message)
		case "42P01":
			return fmt.Errorf("%s: %w", pe.Message, ErrNoSchema)
		case sqlStateTooLarge:
			return router.TooLargef("%s", strings.TrimPrefix(pe.Message, "attributes too large: "))
		case "23514":
			// The schema's CHECK constraints on ids (see migration 009).
			if kind, ok := idConstraints[pe.ConstraintName]; ok {
				return fmt.Errorf("%w: a %s id must be 1 to %d characters without control or bidi characters (%s)",
					router.ErrBadID, kind, router.MaxIDLen, pe.Message)
			}
		case "22P02", "22P05", "22021", "54001":
			// PostgreSQL refused the attributes as jsonb (bad escapes, \u0000,
			// bad encoding, too deep).
			return fmt.Errorf("%w: %s", router.ErrInvalidJSON, pe.Message)
		}
	}
	if s != nil {
		if pw := passwordOf(s.opts.DSN); pw != "" && strings.Contains(err.Error(), pw) {
			return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}

// Bounds of the attributes size limit (routeops_settings, migration 010).
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
