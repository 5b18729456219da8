package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// replicated is a private primary with a streaming standby (pg_basebackup
// -R) and one routeops database on both.
type replicated struct {
	primary, standby       *pgtest.Server
	primaryDSN, standbyDSN string
}

func newReplicated(t *testing.T) *replicated {
	t.Helper()
	p := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	dsn := pgtest.NewDBOn(t, p)
	s := p.StartStandby(t)
	return &replicated{primary: p, standby: s, primaryDSN: dsn, standbyDSN: s.DSN(dbName(dsn))}
}

func (r *replicated) catchUp(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.primary.CatchUp(ctx, r.standby); err != nil {
		t.Fatal(err)
	}
}

func (r *replicated) pauseReplay(t *testing.T, pause bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.standby.PauseReplay(ctx, pause); err != nil {
		t.Fatal(err)
	}
}

// TestReadReplica: with db.read_dsn every read comes from the standby and
// writes go to the primary. The lag is 0 once the standby has replayed
// what it received, and shown in status (header and JSON), check,
// /metrics and the console; past health.max_replica_lag health is a
// warning and check exits 1. A repair planned on a stale replica is
// validated again on the primary, and repairs nothing twice.
func TestReadReplica(t *testing.T) {
	r := newReplicated(t)
	c := harness.New(t, "").With("ROUTEOPS_DSN=" + r.primaryDSN)
	c.Must("seed", "--orgs", "3", "--items-per-org", "20", "--agents-per-org", "10", "--capacity", "5", "--yes")
	c.Must("serve", "--until-idle")
	r.catchUp(t)
	rc := c.With("ROUTEOPS_DB_READ_DSN=" + r.standbyDSN)

	var st status
	rc.MustJSON(&st, 0, "status", "-o", "json")
	if st.Database == nil || st.Database.Reads != "postgres://postgres@"+hostOf(t, r.standbyDSN)+"/"+dbName(r.standbyDSN) ||
		!st.Database.Standby || st.Database.Viewer || st.Summary.ReplicaLagSeconds == nil || *st.Summary.ReplicaLagSeconds != 0 {
		t.Fatalf("status with a caught-up read replica: %+v %+v", st.Summary, st.Database)
	}
	if st.Store != "postgres://postgres@"+hostOf(t, r.primaryDSN)+"/"+dbName(r.primaryDSN) {
		t.Fatalf("store %q, want the primary", st.Store)
	}
	if out := rc.Must("status").Stdout; !strings.Contains(out, "reads from the replica "+st.Database.Reads+", replica lag 0.0s") {
		t.Fatalf("status header does not show the replica and its lag:\n%s", out)
	}
	if out := rc.Must("check").Stdout; !strings.HasPrefix(out, "ROUTEOPS OK") || !strings.Contains(out, "replica_lag=0.0s") {
		t.Fatalf("check with a caught-up replica:\n%s", out)
	}

	// Reads come from the replica: with its replay paused, a change on the
	// primary is not seen through it.
	r.pauseReplay(t, true)
	d := pgtest.Connect(t, r.primaryDSN)
	id := fmt.Sprint(d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0001' AND state = 'assigned'`))
	d.Exec(`UPDATE orgs SET name = 'renamed' WHERE id = 'org-0003'`)
	c.Must("pause", "org-0002/default", "--reason", "through the primary", "--yes")
	var paused struct {
		Orgs []struct {
			Org    string
			Queues []struct {
				Queue  string
				Paused bool
			}
		}
	}
	rc.MustJSON(&paused, 0, "status", "-o", "json", "--org", "org-0002", "--all")
	for _, o := range paused.Orgs {
		for _, q := range o.Queues {
			if q.Queue == "default" && q.Paused {
				t.Fatalf("status through the paused replica sees the pause made on the primary: reads do not come from it")
			}
		}
	}
	rc.Must("items", "show", id)
	rc.Must("timeline", "--since", "1h")
	rc.Must("verify")

	// Behind: lag past health.max_replica_lag makes a warning, and check 1.
	lagged := rc.With("ROUTEOPS_HEALTH_MAX_REPLICA_LAG=1ms")
	lagged.MustJSON(&st, 0, "status", "-o", "json")
	if st.Summary.Health != "warning" || st.Summary.ReplicaLagSeconds == nil || *st.Summary.ReplicaLagSeconds <= 0 ||
		!strings.Contains(st.Database.Reason, "health.max_replica_lag") {
		t.Fatalf("a lagging replica: %+v %+v", st.Summary, st.Database)
	}
	if res := lagged.Expect(1, "check"); !strings.HasPrefix(res.Stdout, "ROUTEOPS WARNING - the replica is") {
		t.Fatalf("check on a lagging replica:\n%s", res)
	}
	// /metrics of a serve that reads from the replica shows the lag.
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	serve := rc.Start("serve", "--metrics-addr", addr, "--duration", "2m")
	if _, ok := harness.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		body, err := scrape(addr)
		v, ok := harness.Sample(body, "routeops_replica_lag_seconds")
		return err == nil && ok && v > 0
	}); !ok {
		body, _ := scrape(addr)
		t.Fatalf("no routeops_replica_lag_seconds > 0 from a serve reading a paused replica:\n%s\n%s", body, serve.Stderr.String())
	}
	stop(serve)

	// The console on the replica: its header says so, with the lag.
	p := harness.StartPane(t, rc.With("ROUTEOPS_LOG_FILE="+filepath.Join(c.Dir(), "console.log")), 120, 30, nil, "console", "--no-engine")
	p.WaitFor("the REPLICA badge with its lag", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "REPLICA lag") && strings.Contains(s, "org-0001")
	})
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Fatalf("console exited %d", code)
	}

	// A repair planned on the stale replica: the primary has repaired the
	// items meanwhile, so apply validates again there and changes nothing.
	r.pauseReplay(t, false)
	c.Must("resume", "org-0002/default", "--yes")
	d.Exec(enqueueSQL)
	d.Exec(enqueueSQL)
	c.With("ROUTEOPS_DRILL_ALLOW=true").Must("drill", "inject", "missing-revisions", "--org", "org-0001", "--count", "2", "--yes")
	r.catchUp(t)
	r.pauseReplay(t, true)
	broken := `SELECT count(*) FROM work_items w WHERE NOT EXISTS (SELECT 1 FROM work_item_revisions r
		WHERE r.org_id = w.org_id AND r.id = w.current_revision_id)`
	c.Must("repair", "apply", "--yes")
	if p, s := d.Int(broken), pgtest.Connect(t, r.standbyDSN).Int(broken); p != 0 || s != 2 {
		t.Fatalf("items with a missing revision: %d on the primary, %d on the paused replica; want 0 and 2", p, s)
	}
	revisions := d.Int(`SELECT count(*) FROM work_item_revisions`)
	res := rc.Expect(2, "repair", "apply", "--yes", "-o", "json")
	var rep struct {
		Repaired, Skipped int
		VerifyClean       bool `json:"verify_clean"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil || rep.Repaired != 0 || rep.Skipped != 2 || !rep.VerifyClean {
		t.Fatalf("repair apply planned on a stale replica: %+v %v\n%s", rep, err, res)
	}
	if n := d.Int(`SELECT count(*) FROM work_item_revisions`); n != revisions {
		t.Fatalf("the stale plan wrote %d revisions", n-revisions)
	}
	r.pauseReplay(t, false)
}

// TestStandbyWithoutSplit: status and the console pointed at a standby
// (no read split) notice it and only watch: a badge, no error per refresh,
// no stall recorded, and serve refuses it.
func TestStandbyWithoutSplit(t *testing.T) {
	r := newReplicated(t)
	c := harness.New(t, "").With("ROUTEOPS_DSN=" + r.primaryDSN)
	// Work and capacity, no engine: once health.stall_after has passed the
	// queues are stalled (engine_down), which a monitor would record.
	c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--yes")
	r.catchUp(t)
	sc := harness.New(t, "").With("ROUTEOPS_DSN="+r.standbyDSN, "ROUTEOPS_HEALTH_STALL_AFTER=1s")
	d := pgtest.Connect(t, r.primaryDSN)

	var st status
	sc.MustJSON(&st, 0, "status", "-o", "json")
	if st.Database == nil || !st.Database.Viewer || !st.Database.Standby || st.Summary.ReplicaLagSeconds == nil {
		t.Fatalf("status on a standby: %+v", st.Database)
	}
	if out := sc.Must("status").Stdout; !strings.Contains(out, "connected to a standby (in recovery)") {
		t.Fatalf("status on a standby does not say so:\n%s", out)
	}

	logFile := filepath.Join(sc.Dir(), "console.log")
	p := harness.StartPane(t, sc.With("ROUTEOPS_LOG_FILE="+logFile, "ROUTEOPS_CONSOLE_REFRESH=200ms"), 120, 30, nil, "console")
	p.WaitFor("the STANDBY badge and the stalled queues", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "STANDBY") && strings.Contains(s, "READ-ONLY") && strings.Contains(s, "STALLED")
	})
	// Several refreshes later (the screen changed three times: the ages
	// grow), nothing has gone wrong.
	logged := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	last, changes := p.Screen(false), 0
	if _, ok := harness.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		if s := p.Screen(false); s != last {
			last, changes = s, changes+1
		}
		return changes >= 3 && strings.Contains(logged(), "standby")
	}); !ok {
		t.Fatalf("the console did not refresh three times (%d), or did not log that it watches a standby:\n%s\n%s", changes, last, logged())
	}
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Fatalf("console exited %d", code)
	}
	if l := logged(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "read-only transaction") {
		t.Fatalf("the console on a standby logged errors:\n%s", l)
	}
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'stall_detected'`); n != 0 {
		t.Fatalf("%d stall events recorded", n)
	}

	res := sc.Expect(1, "serve", "--until-idle")
	if !strings.Contains(res.Stderr, "is a standby (in recovery)") || !strings.Contains(res.Stderr, "--wait-for-primary") {
		t.Fatalf("serve on a standby:\n%s", res)
	}
}

// TestServeWaitsForPrimary: serve --wait-for-primary on a standby waits,
// and routes once the standby is promoted.
func TestServeWaitsForPrimary(t *testing.T) {
	r := newReplicated(t)
	c := harness.New(t, "").With("ROUTEOPS_DSN=" + r.primaryDSN)
	c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--yes")
	r.catchUp(t)
	r.primary.Stop()
	serve := harness.New(t, "").With("ROUTEOPS_DSN="+r.standbyDSN).Start("serve", "--wait-for-primary", "--until-idle")
	if _, ok := harness.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		return strings.Contains(serve.Stderr.String(), "waiting for a primary")
	}); !ok {
		t.Fatalf("serve --wait-for-primary on a standby:\n%s", serve.Stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	res := serve.Wait(2 * time.Minute)
	if res.Code != 0 || !strings.Contains(res.Stderr, "connected to the primary") {
		t.Fatalf("serve after the promotion:\n%s", res)
	}
	if n := pgtest.Connect(t, r.standbyDSN).Int(`SELECT count(*) FROM work_items WHERE state = 'assigned'`); n == 0 {
		t.Fatalf("nothing routed after the promotion:\n%s", res)
	}
}

// TestServeWaitsForDatabase: serve started while the database is down
// retries until db.connect_timeout and then exits 2 saying so; with --wait
// it waits until the database is up and routes.
func TestServeWaitsForDatabase(t *testing.T) {
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	dsn := pgtest.NewDBOn(t, srv)
	c := harness.New(t, "").With("ROUTEOPS_DSN=" + dsn)
	c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--yes")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	res := c.With("ROUTEOPS_DB_CONNECT_TIMEOUT=2s").Expect(2, "serve", "--until-idle")
	if !strings.Contains(res.Stderr, "gave up after db.connect_timeout") || strings.Count(res.Stderr, "database unreachable; retrying") != 1 {
		t.Fatalf("serve on a database that is down:\n%s", res)
	}
	serve := c.Start("serve", "--wait", "--until-idle")
	if _, ok := harness.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		return strings.Contains(serve.Stderr.String(), "retrying until it answers")
	}); !ok {
		t.Fatalf("serve --wait:\n%s", serve.Stderr.String())
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if res := serve.Wait(2 * time.Minute); res.Code != 0 || !strings.Contains(res.Stdout, "idle") {
		t.Fatalf("serve --wait after the database came up:\n%s", res)
	}
}
