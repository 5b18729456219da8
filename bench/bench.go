// Package bench measures routeops against a real PostgreSQL server, for
// `routeops bench`. Each scenario creates its own data in a fresh database
// on the server it is pointed at (routeops_bench_<scenario>_<pid>), migrated
// with pgstore.Migrate and dropped afterwards unless Keep is set, and
// reports one Result.
//
// The scenarios are throughput (with the pgbench yardstick measured in
// the same run), poison, latency, snapshot, repair, cleanup and seed, each
// with the sizes and targets routeops is held to. Speed is reported, never
// asserted: the tests of this package check that every figure is there and
// sane at a tiny scale.
//
// bench holds no SQL. Everything about routeops's own data goes through
// the Store and ops; what it does besides (creating and dropping
// databases, server settings, CHECKPOINT, VACUUM, pg_stat_statements, the
// pgbench yardstick, the commit floor, deleting revisions) are helpers of
// router/pgstore, the package router/pgstore/pgtest creates its test
// databases with too.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
)

// Scenarios lists every scenario, in the order "all" runs them.
var Scenarios = []string{"seed", "throughput", "poison", "latency", "snapshot", "repair", "cleanup", "incident"}

// Named are the scenarios that run only when named: fleet seeds 10M
// items and takes the better part of an hour at full size.
var Named = []string{"fleet"}

// Options configure a run. Zero values take the defaults: the full sizes.
type Options struct {
	// DSN names the server (any database on it); its role needs CREATEDB,
	// and superuser for poison and repair (which delete revisions with
	// session_replication_role = replica, as the drill does) and for
	// CHECKPOINT.
	DSN string
	// Scale multiplies every scenario's size (items; orgs for snapshot;
	// the duration of latency). 1 is the full size, at which targets are
	// judged.
	Scale float64
	// Orgs and ItemsPerOrg override the org count and items per org of
	// throughput, poison, repair and seed (and of cleanup's routing sets).
	Orgs, ItemsPerOrg int
	// BatchSize and Workers configure the engine (default routing.batch_size's default, router.DefaultBatchSize, and 4).
	BatchSize, Workers int
	// Keep leaves the databases in place.
	Keep bool

	// PoolDSN names a PgBouncer in transaction pooling in front of the same
	// server (any database: the bouncer must map every database name to
	// the server, e.g. "* = host=... port=..."). The scenarios' stores then
	// open through it with db.pooler transaction, LISTEN going to DSN
	// directly; the scenarios' own administration still uses DSN.
	PoolDSN string
	// PoolExecMode is how statements go through the pool: "simple" (the
	// simple protocol, the product's default) or "exec" (unnamed
	// statements in the extended protocol).
	PoolExecMode string

	// Pgbench is the pgbench binary (default: PATH, then pg_config
	// --bindir); PgbenchClients defaults to 4.
	Pgbench        string
	PgbenchClients int

	// LatencyRate (items/s, default 200) and LatencyDuration (default
	// 10s, scaled) shape the latency scenario.
	LatencyRate     float64
	LatencyDuration time.Duration

	// SnapshotRuns is how many timed snapshots are taken after a warm-up
	// (default 5); the median is reported.
	SnapshotRuns int

	// CleanupBatch and CleanupPause shape the cleanup; their defaults are
	// the product's (cleanup.batch_size 1000, cleanup.pause 100ms). A
	// negative CleanupPause means no pause at all.
	CleanupBatch int
	CleanupPause time.Duration

	// Statements > 0 adds the server's top statements during each
	// measured phase, from pg_stat_statements (the server must preload
	// it, as scripts/benchpg.sh does).
	Statements int

	// CPUProfile writes a CPU profile of each scenario's measured phase:
	// to this file for one scenario, to FILE-<scenario>.EXT for several.
	CPUProfile string

	// Binary is the routeops executable the fleet scenario runs (status,
	// serve) as processes of their own; empty: those figures are skipped.
	Binary string

	// Log receives progress.
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = router.DefaultBatchSize
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PgbenchClients <= 0 {
		o.PgbenchClients = 4
	}
	if o.LatencyRate <= 0 {
		o.LatencyRate = 200
	}
	if o.LatencyDuration <= 0 {
		o.LatencyDuration = 10 * time.Second
	}
	if o.SnapshotRuns <= 0 {
		o.SnapshotRuns = 5
	}
	if o.CleanupBatch <= 0 {
		o.CleanupBatch = 1000
	}
	if o.CleanupPause == 0 {
		o.CleanupPause = 100 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// scaled returns n×Scale, at least lo.
func (o *Options) scaled(n, lo int) int {
	v := int(float64(n)*o.Scale + 0.5)
	return max(v, lo)
}

// orgs and perOrg apply the overrides.
func (o *Options) orgs(def int) int {
	if o.Orgs > 0 {
		return o.Orgs
	}
	return def
}

func (o *Options) perOrg(def int) int {
	if o.ItemsPerOrg > 0 {
		return o.ItemsPerOrg
	}
	return o.scaled(def, 1)
}

// Expand turns a --scenario value (a name, a comma-separated list, or
// "all") into scenario names.
func Expand(s string) ([]string, error) {
	if s == "" || s == "all" {
		return append([]string(nil), Scenarios...), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !known(name) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s, all)", name, strings.Join(append(slices.Clone(Scenarios), Named...), ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

func known(name string) bool {
	for _, s := range append(slices.Clone(Scenarios), Named...) {
		if s == name {
			return true
		}
	}
	return false
}

// Run runs the scenarios in order and hands each result to emit as soon
// as it is done. A failing scenario yields a Result with Err set and the
// others still run; Run returns an error naming the failed ones.
func Run(ctx context.Context, opts Options, scenarios []string, emit func(*Result) error) error {
	opts.defaults()
	for _, s := range scenarios {
		if !known(s) {
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	r, err := newRunner(ctx, opts)
	if err != nil {
		return err
	}
	defer r.close()
	var failed []string
	for _, name := range scenarios {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := r.run(ctx, name, len(scenarios) > 1)
		if res.Err != "" {
			failed = append(failed, name)
		}
		if err := emit(res); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

type runner struct {
	opts    Options
	log     *slog.Logger
	admin   *pgx.Conn
	machine Machine
	pgss    bool // pg_stat_statements is loaded
}

func newRunner(ctx context.Context, opts Options) (*runner, error) {
	opts.defaults()
	if opts.DSN == "" {
		return nil, errors.New("bench needs --dsn: a PostgreSQL server where it may create databases")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(cctx, opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("connect to the bench server: %s", redact.Text(err.Error(), opts.DSN))
	}
	r := &runner{opts: opts, log: opts.Log, admin: admin}
	r.machine = machine(ctx, admin)
	if preload, err := pgstore.Setting(ctx, admin, "shared_preload_libraries"); err == nil {
		r.pgss = strings.Contains(preload, "pg_stat_statements")
	}
	if opts.Statements > 0 && !r.pgss {
		r.log.Warn("pg_stat_statements is not preloaded on this server; --statements is ignored (scripts/benchpg.sh preloads it)")
	}
	r.log.Info("bench server", "postgres", r.machine.PGVersion, "fsync", r.machine.Fsync,
		"synchronous_commit", r.machine.SynchronousCommit, "shared_buffers", r.machine.SharedBuffers, "nproc", r.machine.NProc)
	if r.machine.Fsync != "on" || r.machine.SynchronousCommit != "on" {
		r.log.Warn("the bench server is not durable (fsync or synchronous_commit off): figures are not comparable to the targets'; use scripts/benchpg.sh")
	}
	return r, nil
}

func (r *runner) close() { r.admin.Close(context.Background()) }

// machine reads the context figures are taken in.
func machine(ctx context.Context, admin *pgx.Conn) Machine {
	m := Machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		MemTotalMB: memTotalMB()}
	show := func(name string) string {
		v, err := pgstore.Setting(ctx, admin, name)
		if err != nil {
			return "unknown"
		}
		return v
	}
	m.PGVersion = show("server_version")
	m.Fsync = show("fsync")
	m.SynchronousCommit = show("synchronous_commit")
	m.FullPageWrites = show("full_page_writes")
	m.SharedBuffers = show("shared_buffers")
	m.MaxWALSize = show("max_wal_size")
	m.CheckpointTimeout = show("checkpoint_timeout")
	return m
}

func memTotalMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// run runs one scenario, turning a failure or a panic into Result.Err.
func (r *runner) run(ctx context.Context, name string, several bool) (res *Result) {
	res = &Result{Scenario: name, Scale: r.opts.Scale, Machine: r.machine,
		FullScale: r.opts.Scale == 1 && r.opts.Orgs == 0 && r.opts.ItemsPerOrg == 0}
	res.Machine.LoadAvg1m = loadAvg()
	sc := &scenario{runner: r, name: name, res: res}
	if r.opts.CPUProfile != "" {
		sc.profile = r.opts.CPUProfile
		if several {
			ext := filepath.Ext(sc.profile)
			sc.profile = strings.TrimSuffix(sc.profile, ext) + "-" + name + ext
		}
	}
	start := time.Now()
	r.log.Info("scenario start", "scenario", name, "scale", r.opts.Scale)
	defer func() {
		if p := recover(); p != nil {
			res.Err = fmt.Sprintf("panic: %v", p)
		}
		sc.stopProfile()
		sc.cleanup()
		res.TotalSeconds = time.Since(start).Seconds()
		if res.Err != "" {
			r.log.Error("scenario failed", "scenario", name, "error", res.Err)
		} else {
			r.log.Info("scenario done", "scenario", name, "seconds", round(res.TotalSeconds))
		}
	}()
	var err error
	switch name {
	case "throughput":
		err = sc.throughput(ctx)
	case "poison":
		err = sc.poison(ctx)
	case "latency":
		err = sc.latency(ctx)
	case "snapshot":
		err = sc.snapshot(ctx)
	case "repair":
		err = sc.repair(ctx)
	case "cleanup":
		err = sc.cleanupScenario(ctx)
	case "seed":
		err = sc.seed(ctx)
	case "fleet":
		err = sc.fleet(ctx)
	case "incident":
		err = sc.incident(ctx)
	}
	if err != nil {
		res.Err = redact.Text(err.Error(), r.opts.DSN)
	}
	return res
}

// scenario is one scenario's run: its databases, stores and result.
type scenario struct {
	*runner
	name    string
	res     *Result
	dbs     []string
	stores  []*pgstore.Store
	profile string
	profF   *os.File
	timed   time.Duration
}

// database is a fresh migrated database of this scenario.
type database struct {
	name string
	dsn  string
}

func (s *scenario) dbName(suffix string) string {
	n := fmt.Sprintf("routeops_bench_%s_%d", s.name, os.Getpid())
	if suffix != "" {
		n += "_" + suffix
	}
	return n
}

// newDB creates and migrates a fresh database.
func (s *scenario) newDB(ctx context.Context, suffix string) (database, error) {
	db, err := s.createDB(ctx, suffix)
	if err != nil {
		return db, err
	}
	if _, err := pgstore.Migrate(ctx, pgstore.Options{DSN: db.dsn}); err != nil {
		return database{}, fmt.Errorf("migrate %s: %w", db.name, err)
	}
	s.log.Info("database ready", "scenario", s.name, "database", db.name)
	return db, nil
}

// createDB creates an empty database of this scenario.
func (s *scenario) createDB(ctx context.Context, suffix string) (database, error) {
	return s.makeDB(ctx, suffix, "")
}

// copyDB clones db (which must have no open connections) into a new
// database of this scenario.
func (s *scenario) copyDB(ctx context.Context, db database, suffix string) (database, error) {
	if s.opts.PoolDSN != "" {
		// A pool keeps idle server connections to the database after its
		// clients have gone; a template must have none.
		if err := pgstore.EndSessions(ctx, s.admin, db.name); err != nil {
			return database{}, fmt.Errorf("close the pool's connections to %s: %w", db.name, err)
		}
	}
	return s.makeDB(ctx, suffix, db.name)
}

// makeDB creates a database of this scenario, empty or a copy of template,
// replacing one an interrupted run left behind, with pgstore's database
// helper (the one pgtest creates test databases with).
func (s *scenario) makeDB(ctx context.Context, suffix, template string) (database, error) {
	name := s.dbName(suffix)
	if err := pgstore.CreateDatabase(ctx, s.admin, name, template); err != nil {
		return database{}, err
	}
	s.dbs = append(s.dbs, name)
	s.untrack(ctx, name)
	dsn, err := withDatabase(s.opts.DSN, name)
	if err != nil {
		return database{}, err
	}
	return database{name: name, dsn: dsn}, nil
}

// withConn runs fn on a connection of its own to db.
func withConn(ctx context.Context, db database, fn func(conn *pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return fn(conn)
}

// open opens a store on db; it is closed when the scenario ends. Its pool
// has room for the engine's workers, its heartbeat and listener, and
// extra connections for the scenario's own writers.
func (s *scenario) open(ctx context.Context, db database, extra int) (*pgstore.Store, error) {
	opts := pgstore.Options{DSN: db.dsn, MaxConns: int32(s.opts.Workers + 4 + extra),
		ApplicationName: "routeops-bench", Logger: s.log}
	if s.opts.PoolDSN != "" {
		pooled, err := withDatabase(s.opts.PoolDSN, db.name)
		if err != nil {
			return nil, err
		}
		opts.DSN, opts.Pooler, opts.ListenDSN = pooled, pgstore.PoolerTransaction, db.dsn
		if s.opts.PoolExecMode == "exec" {
			opts.ExecMode = pgx.QueryExecModeExec
		}
	}
	st, err := pgstore.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.stores = append(s.stores, st)
	return st, nil
}

// closeStore closes a store early (before a database is copied).
func (s *scenario) closeStore(st *pgstore.Store) {
	for i, x := range s.stores {
		if x == st {
			s.stores = append(s.stores[:i], s.stores[i+1:]...)
			break
		}
	}
	st.Close()
}

// untrack turns pg_stat_statements off in a bench database unless its
// figures were asked for, so that it costs nothing.
func (s *scenario) untrack(ctx context.Context, name string) {
	if !s.pgss || s.opts.Statements > 0 {
		return
	}
	if err := pgstore.UntrackStatements(ctx, s.admin, name); err != nil {
		s.log.Debug("could not turn pg_stat_statements off", "database", name, "error", err.Error())
	}
}

func (s *scenario) cleanup() {
	for _, st := range s.stores {
		st.Close()
	}
	s.stores = nil
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, name := range s.dbs {
		if s.opts.Keep {
			s.log.Info("keeping database", "database", name)
			continue
		}
		if err := pgstore.DropDatabase(ctx, s.admin, name); err != nil {
			s.log.Warn("drop database failed", "database", name, "error", err.Error())
		}
	}
	s.dbs = nil
}

// checkpoint flushes the server's dirty pages before a measured phase, so
// that one phase does not pay for the writes of the one before.
func (s *scenario) checkpoint(ctx context.Context) {
	if err := pgstore.Checkpoint(ctx, s.admin); err != nil {
		s.log.Warn("CHECKPOINT failed (needs superuser or pg_checkpoint); phases may pay for each other's writes", "error", err.Error())
	}
}

// vacuum runs VACUUM ANALYZE on a database.
func (s *scenario) vacuum(ctx context.Context, db database) error {
	return withConn(ctx, db, func(conn *pgx.Conn) error { return pgstore.VacuumAnalyze(ctx, conn) })
}

// startTimed marks the start of a measured phase: it resets
// pg_stat_statements and starts the CPU profile.
func (s *scenario) startTimed(ctx context.Context, db database) {
	if s.opts.Statements > 0 && s.pgss {
		err := withConn(ctx, db, func(conn *pgx.Conn) error { return pgstore.ResetStatements(ctx, conn) })
		if err != nil {
			s.log.Warn("pg_stat_statements unavailable", "error", err.Error())
		}
	}
	if s.profile != "" && s.profF == nil {
		f, err := os.Create(s.profile)
		if err != nil {
			s.res.Note("cpu profile not written: %v", err)
			return
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			s.res.Note("cpu profile not written: %v", err)
			return
		}
		s.profF = f
	}
}

// stopTimed ends a measured phase and collects the server's statements.
func (s *scenario) stopTimed(ctx context.Context, db database) {
	s.stopProfile()
	if s.opts.Statements <= 0 || !s.pgss {
		return
	}
	var top []pgstore.StatementStat
	err := withConn(ctx, db, func(conn *pgx.Conn) error {
		var err error
		top, err = pgstore.TopStatements(ctx, conn, s.opts.Statements)
		return err
	})
	if err != nil {
		s.log.Warn("reading pg_stat_statements failed", "error", err.Error())
		return
	}
	st := make([]Statement, 0, len(top))
	for _, x := range top {
		if len(x.Query) > 240 {
			x.Query = x.Query[:240] + "…"
		}
		st = append(st, Statement{Query: x.Query, Calls: x.Calls, TotalMS: round(x.TotalMS), MeanMS: round(x.MeanMS), Rows: x.Rows})
	}
	s.res.Statements = append(s.res.Statements, st...)
}

func (s *scenario) stopProfile() {
	if s.profF != nil {
		pprof.StopCPUProfile()
		s.profF.Close()
		s.log.Info("cpu profile written", "file", s.profile)
		s.res.Set("cpu_profile", s.profile)
		s.profF = nil
		s.profile = "" // one profile per scenario: its first measured phase
	}
}

// settle ends a measured phase's after-effects before the next one: it
// vacuums the database the phase wrote to, so that autovacuum does not
// clean up after one phase while the next is being measured, and
// checkpoints.
func (s *scenario) settle(ctx context.Context, db database) {
	if err := s.vacuum(ctx, db); err != nil {
		s.log.Warn("VACUUM between phases failed", "database", db.name, "error", err.Error())
	}
	s.checkpoint(ctx)
}

// engine builds an engine for the scenario; its pass-by-pass logging is
// kept to warnings.
func (s *scenario) engine(st router.Store, policy router.FaultPolicy) *router.Engine {
	return s.engineObserved(st, policy, nil)
}

func (s *scenario) engineObserved(st router.Store, policy router.FaultPolicy, obs router.Observer) *router.Engine {
	return router.NewEngine(st, router.EngineConfig{
		Observer:  obs,
		ID:        fmt.Sprintf("bench:%s:%d", s.name, os.Getpid()),
		Policy:    policy,
		BatchSize: s.opts.BatchSize,
		Workers:   s.opts.Workers,
		Logger:    slog.New(minLevel{s.log.Handler(), slog.LevelWarn}),
	})
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// withDatabase returns dsn pointing at another database, for URL and
// keyword/value DSNs alike.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Error repeats the whole URL, password and all.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return "", fmt.Errorf("invalid DSN URL: %s", redact.Text(err.Error(), dsn))
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return "", fmt.Errorf("invalid DSN: %s", redact.Text(err.Error(), dsn))
	}
	// In a keyword/value string the last setting wins.
	return strings.TrimSpace(dsn) + " dbname=" + db, nil
}

// quiesce waits, up to max, until the machine is quiet: less than a
// quarter of its CPU time busy over two seconds (Linux /proc/stat; other
// systems just wait two seconds). The latency scenario uses it so that
// its tail measures routeops, not the page cache writing back or the
// previous scenario's dropped databases. It returns the time waited and
// the last busy fraction seen (-1 when unknown).
func (s *scenario) quiesce(ctx context.Context, max time.Duration) (time.Duration, float64) {
	start := time.Now()
	busy := -1.0
	for {
		a, okA := cpuTimes()
		select {
		case <-ctx.Done():
			return time.Since(start), busy
		case <-time.After(2 * time.Second):
		}
		b, okB := cpuTimes()
		if !okA || !okB {
			return time.Since(start), -1
		}
		total, idle := b[0]-a[0], b[1]-a[1]
		if total > 0 {
			busy = 1 - float64(idle)/float64(total)
		}
		if busy < 0.25 || time.Since(start) >= max {
			return time.Since(start), busy
		}
		s.log.Info("waiting for the machine to quieten", "scenario", s.name, "cpu_busy", round(busy))
	}
}

// cpuTimes reads the total and idle (idle + iowait) jiffies of all CPUs.
func cpuTimes() ([2]uint64, bool) {
	var out [2]uint64
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return out, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return out, false
	}
	for i, x := range f[1:] {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return out, false
		}
		out[0] += n
		if i == 3 || i == 4 { // idle, iowait
			out[1] += n
		}
	}
	return out, true
}
