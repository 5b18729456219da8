package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/sim"
)

// TestPostgresRestartWhileDraining is the reliability acceptance "Restart":
// PostgreSQL is restarted (a fast shutdown, then a start on the same data
// directory and port) twice while `serve --until-idle` drains 20,000 items.
// serve logs the failure, backs off, reconnects by itself, and still exits
// 0 with the queue empty; verify is clean and nothing was lost or assigned
// twice.
func TestPostgresRestartWhileDraining(t *testing.T) {
	const orgs, perOrg = 20, 1000
	const total = orgs * perOrg
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	h := newHarness(t, pgtest.NewDBOn(t, srv))
	h.mustRun(nil, seedArgs(orgs, perOrg)...)
	logFile := filepath.Join(h.Dir(), "serve.log")
	p := h.start([]string{"ROUTEOPS_LOG_LEVEL=info", "ROUTEOPS_ROUTING_BACKOFF_MAX=1s"},
		"serve", "--until-idle", "--batch-size", "20", "--log-file", logFile)
	for round, frac := range []float64{0.2, 0.6} {
		target := int(frac * total)
		harness.WaitFor(t, fmt.Sprintf("%d assignments", target), 60*time.Second, func() bool {
			if !p.Running() {
				t.Fatalf("serve exited before the restart:\n%s\nlog:\n%s", p.Output(), readFile(logFile))
			}
			return h.assigned() >= target
		})
		logged := len(readFile(logFile))
		down := time.Now()
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		// Keep the server down until serve has noticed and said so.
		harness.WaitFor(t, "serve to log the failure", 60*time.Second, func() bool {
			return strings.Contains(readFile(logFile)[logged:], "failed")
		})
		if !p.Running() {
			t.Fatalf("serve exited while the database was down:\n%s\nlog:\n%s", p.Output(), readFile(logFile))
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Logf("restart %d: PostgreSQL down for %s at %d+ of %d assigned", round+1, time.Since(down).Round(time.Millisecond), target, total)
		h.Reconnect()
	}
	start := time.Now()
	if code := p.Wait(3 * time.Minute).Code; code != 0 {
		t.Fatalf("serve --until-idle exited %d after PostgreSQL restarts, want 0:\n%s\nlog:\n%s", code, p.Output(), readFile(logFile))
	}
	t.Logf("serve --until-idle exited 0 %s after the last restart: %s", time.Since(start).Round(time.Millisecond),
		strings.TrimSpace(p.Output()))
	log := readFile(logFile)
	if !strings.Contains(log, "recovered") && !strings.Contains(log, "reachable again") {
		t.Fatalf("serve never logged that it recovered:\n%s", log)
	}
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`); n != 0 {
		t.Fatalf("%d items still queued", n)
	}
	h.invariants(t, total)
	if n := h.assigned(); n != total {
		t.Fatalf("%d assigned, want %d", n, total)
	}
	h.verifyClean(t)
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestDroppedConnectionsWhileDraining terminates every routeops session
// (pg_terminate_backend, as a failover or a network blip would) five times
// while `serve --until-idle` drains: it reconnects and exits 0 with all
// the work done, and the invariants hold.
func TestDroppedConnectionsWhileDraining(t *testing.T) {
	const orgs, perOrg = 20, 500
	const total = orgs * perOrg
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(orgs, perOrg)...)
	p := h.start([]string{"ROUTEOPS_ROUTING_BACKOFF_MAX=500ms"}, "serve", "--until-idle", "--batch-size", "10")
	terminated := 0
	for i := 1; i <= 5; i++ {
		target := i * total / 7
		harness.WaitFor(t, fmt.Sprintf("%d assignments", target), 60*time.Second, func() bool {
			return !p.Running() || h.assigned() >= target
		})
		if !p.Running() {
			break
		}
		terminated += h.count(`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'routeops') k`)
	}
	if code := p.Wait(3 * time.Minute).Code; code != 0 {
		t.Fatalf("serve --until-idle exited %d, want 0:\n%s", code, p.Output())
	}
	t.Logf("terminated %d routeops sessions during the drain; serve: %s", terminated, strings.TrimSpace(p.Output()))
	if terminated == 0 {
		t.Fatal("no session was terminated: the drain finished too soon for the test")
	}
	h.invariants(t, total)
	if n := h.assigned(); n != total {
		t.Fatalf("%d assigned, want %d", n, total)
	}
	h.verifyClean(t)
}

// flakyStore fails RouteOrg for one org while failing is set, the way a
// lost connection or a timeout would, and counts the attempts.
type flakyStore struct {
	router.Store
	org      string
	failing  atomic.Bool
	attempts atomic.Int64
}

var errInjected = errors.New("injected: read tcp 127.0.0.1:5432: connection reset by peer")

func (f *flakyStore) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	if req.Org == f.org {
		f.attempts.Add(1)
		if f.failing.Load() {
			return router.RouteResult{}, errInjected
		}
	}
	return f.Store.RouteOrg(ctx, req, decide)
}

func seedStore(t testing.TB, st router.Store, orgs, perOrg int) {
	t.Helper()
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 10, Capacity: max(1, 2*perOrg/10),
		ItemsPerOrg: perOrg, Seed: 1, Now: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := sim.Seed(context.Background(), st, spec); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func openStore(t testing.TB, dsn string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	opts.DSN = dsn
	if opts.MaxConns == 0 {
		opts.MaxConns = 8
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

func queuedIn(t testing.TB, h *rig, org string) int {
	t.Helper()
	return h.count(`SELECT count(*) FROM work_items WHERE org_id = $1 AND state = 'queued'`, org)
}

// TestEnginePerOrgBackoffOnPostgres: one org's transient failures back off that org
// alone, with a backoff that doubles; the other orgs keep routing, new work
// in them is routed while the bad org fails, and once the fault clears the
// org recovers by itself, logs it, and drains.
func TestEnginePerOrgBackoffOnPostgres(t *testing.T) {
	dsn := pgtest.NewDB(t)
	h := newHarness(t, dsn)
	st := openStore(t, dsn, pgstore.Options{})
	seedStore(t, st, 5, 100)
	bad := "org-0003"
	fs := &flakyStore{Store: st, org: bad}
	fs.failing.Store(true)
	ctx := context.Background()

	// The backoff, on a manual clock: a first failure backs the org off
	// for BackoffMin (±20% jitter), a second for twice that.
	clk := router.NewManualClock(time.Now())
	min := time.Minute
	eng := router.NewEngine(fs, router.EngineConfig{ID: "backoff-test", Clock: clk, BackoffMin: min, BackoffMax: time.Hour, Workers: 2})
	p, err := eng.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Errors != 1 || p.Assigned != 400 {
		t.Fatalf("pass: %+v, want one error (the bad org) and the other four orgs' 400 items assigned", p)
	}
	if n := queuedIn(t, h, bad); n != 100 {
		t.Fatalf("the failing org has %d queued, want its 100 untouched", n)
	}
	if s := eng.Stats(); s.OrgsBackingOff != 1 {
		t.Fatalf("%d orgs backing off, want 1", s.OrgsBackingOff)
	}
	clk.Advance(min * 13 / 10)
	if s := eng.Stats(); s.OrgsBackingOff != 0 {
		t.Fatalf("still backing off after 1.3 x backoff_min")
	}
	if _, err := eng.RouteTurn(ctx, bad); err == nil {
		t.Fatal("the injected fault did not fail the turn")
	}
	clk.Advance(min * 13 / 10)
	if s := eng.Stats(); s.OrgsBackingOff != 1 {
		t.Fatalf("after a second failure the backoff should have doubled (>= 1.6 x backoff_min), but it is over after 1.3 x")
	}

	// The running engine, on the wall clock with short backoffs.
	logs := &harness.Buffer{}
	eng = router.NewEngine(fs, router.EngineConfig{ID: "backoff-run", BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// While the bad org fails, new work in a good org is routed.
	good := "org-0001"
	q := h.count(`SELECT count(*) FROM queues WHERE org_id = $1`, good)
	if q == 0 {
		t.Fatal("no queue in the good org")
	}
	var queue string
	if err := h.Pool().QueryRow(ctx, `SELECT id FROM queues WHERE org_id = $1 ORDER BY id LIMIT 1`, good).Scan(&queue); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: good, QueueID: queue,
			Attributes: []byte(`{"priority": 50, "channel": "chat"}`), EnqueuedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	harness.WaitFor(t, "the good org's new items to be routed while the bad org fails", 30*time.Second, func() bool {
		return queuedIn(t, h, good) == 0
	})
	harness.WaitFor(t, "a few retries of the bad org", 30*time.Second, func() bool { return fs.attempts.Load() >= 5 })
	if n := queuedIn(t, h, bad); n != 100 {
		t.Fatalf("the failing org has %d queued, want 100", n)
	}
	fs.failing.Store(false)
	harness.WaitFor(t, "the bad org to recover and drain", 30*time.Second, func() bool { return queuedIn(t, h, bad) == 0 })
	harness.WaitFor(t, "the recovery to be logged", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "routing org recovered")
	})
	l := logs.String()
	if !strings.Contains(l, "backing off this org, others keep routing") || !strings.Contains(l, "org="+bad) {
		t.Fatalf("the failure was not logged with the org:\n%s", l)
	}
	h.invariants(t, 510)
}

// TestEngineReconnectsAfterPostgresRestart runs the engine in process (under the
// race detector) on a private PostgreSQL that is restarted under it: it
// keeps running, and work enqueued after the restart is routed without
// anyone restarting the engine.
func TestEngineReconnectsAfterPostgresRestart(t *testing.T) {
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	dsn := pgtest.NewDBOn(t, srv)
	h := newHarness(t, dsn)
	st := openStore(t, dsn, pgstore.Options{ConnectTimeout: 2 * time.Second})
	seedStore(t, st, 4, 50)
	logs := &harness.Buffer{}
	eng := router.NewEngine(st, router.EngineConfig{ID: "reconnect", BackoffMin: 20 * time.Millisecond,
		BackoffMax: 300 * time.Millisecond, PollInterval: 100 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	harness.WaitFor(t, "the seeded work to be routed", 60*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`) == 0
	})
	before := eng.Stats().Errors
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, "the engine to notice", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "failed")
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.Reconnect()
	var queue string
	if err := h.Pool().QueryRow(ctx, `SELECT id FROM queues WHERE org_id = 'org-0002' ORDER BY id LIMIT 1`).Scan(&queue); err != nil {
		t.Fatal(err)
	}
	// The store's pool reconnects too: Enqueue through it.
	harness.WaitFor(t, "the store to reconnect", 30*time.Second, func() bool { return st.Ping(ctx) == nil })
	for i := 0; i < 20; i++ {
		if _, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "org-0002", QueueID: queue,
			Attributes: []byte(`{"priority": 10, "channel": "email"}`), EnqueuedAt: time.Now()}); err != nil {
			t.Fatalf("enqueue after the restart: %v", err)
		}
	}
	harness.WaitFor(t, "work enqueued after the restart to be routed", 60*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`) == 0
	})
	harness.WaitFor(t, "a heartbeat after the restart", 30*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM engine_heartbeats WHERE beat_at > now() - interval '5 seconds'`) > 0
	})
	t.Logf("engine errors while the database was down: %d; log:\n%s", eng.Stats().Errors-before, logs.String())
	h.invariants(t, 220)
}

// TestOperatorActionLockTimeout: an operator action blocked behind a lock
// that another transaction holds fails within lock_timeout with a message
// that says so, instead of hanging, and changes nothing. Through ops on
// pgstore, and through the binary (routeops quarantine, and a read-only
// status behind a table lock).
func TestOperatorActionLockTimeout(t *testing.T) {
	dsn := pgtest.NewDB(t)
	h := newHarness(t, dsn)
	st := openStore(t, dsn, pgstore.Options{LockTimeout: 500 * time.Millisecond, StatementTimeout: 10 * time.Second})
	seedStore(t, st, 1, 5)
	var item int64
	ctx := context.Background()
	if err := h.Pool().QueryRow(ctx, `SELECT id FROM work_items ORDER BY id LIMIT 1`).Scan(&item); err != nil {
		t.Fatal(err)
	}
	// Another session holds the item's row lock (a long transaction, a
	// stuck script, an engine paused in a debugger).
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT 1 FROM work_items WHERE id = $1 FOR UPDATE`, item); err != nil {
		t.Fatal(err)
	}
	before := h.Digest()

	o := ops.New(st, ops.Options{Actor: router.Actor{Name: "alice", OSUser: "alice", Origin: "local"}})
	start := time.Now()
	outs, err := o.Quarantine(ctx, "", []int64{item}, "behind a lock")
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].OK || !strings.Contains(outs[0].Message, "gave up waiting for a lock after the lock timeout") {
		t.Fatalf("quarantine behind a lock: %+v, want a refusal that names the lock timeout", outs[0])
	}
	if took > 10*time.Second {
		t.Fatalf("quarantine took %s behind a lock with lock_timeout 500ms", took)
	}
	t.Logf("ops.Quarantine gave up after %s (lock_timeout 500ms): %s", took.Round(time.Millisecond), outs[0].Message)

	r := h.run([]string{"ROUTEOPS_DB_LOCK_TIMEOUT=1s"}, "quarantine", fmt.Sprint(item), "--reason", "behind a lock", "--yes")
	if r.Code != 2 || !strings.Contains(r.Output(), "gave up waiting for a lock") {
		t.Fatalf("want exit 2 and a lock-timeout message:\n%s", r)
	}
	if r.Took > 15*time.Second {
		t.Fatalf("routeops quarantine took %s behind a lock with lock_timeout 1s", r.Took)
	}
	t.Logf("routeops quarantine gave up after %s (lock_timeout 1s)", r.Took.Round(time.Millisecond))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if after := h.Digest(); after != before {
		t.Fatal("a refused action changed data")
	}

	// Even a read waits at most lock_timeout: the session setting is on
	// every pool connection, not only on actions. (status reads queues and
	// the trigger-kept counters, not work_items, so lock a table it reads.)
	tx, err = holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE queues IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r = h.run([]string{"ROUTEOPS_DB_LOCK_TIMEOUT=1s"}, "status", "-o", "json")
	if r.Code != 2 || !strings.Contains(r.Output(), "lock") {
		t.Fatalf("status behind an exclusive table lock: want exit 2 and a lock message:\n%s", r)
	}
	if r.Took > 15*time.Second {
		t.Fatalf("status took %s behind a lock with lock_timeout 1s", r.Took)
	}
	_ = tx.Rollback(ctx)
}
