package tui

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/sim"
)

// These tests run the console model on a real PostgreSQL (a private
// server per test, so that it can be stopped), driven through Update as
// the other tests here do, with real engines and the wall clock.

func openPG(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, MaxConns: 8, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

func sqlCount(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func pgConsole(st router.Store, desc string, readOnly bool) Options {
	o := ops.New(st, ops.Options{Actor: router.Actor{Name: "carol", OSUser: "carol", Origin: "192.0.2.9"},
		Policy: ops.Policy{ReadOnly: readOnly}})
	return Options{Ops: o, Refresh: time.Hour, Store: desc, Engine: EngineInfo{Running: false},
		Operator: "carol", ReadOnly: readOnly, Color: "never", Record: !readOnly}
}

// TestConsoleWithTwoEnginesOnPostgres: two engines (each on its own pool,
// as two serve processes would be) drain one database while a console
// refreshes its snapshot over and over and quarantines items from its
// command line. Every snapshot the console shows is whole (queued +
// assigned + quarantined is the item count: never a half-applied batch),
// every console quarantine either succeeds or is refused because an engine
// got the item first, and at the end verify is clean and no item was
// assigned twice.
func TestConsoleWithTwoEnginesOnPostgres(t *testing.T) {
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	dsn := pgtest.NewDBOn(t, srv)
	st := openPG(t, dsn)
	const orgs, perOrg = 8, 300
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 10, Capacity: 2 * perOrg / 10, ItemsPerOrg: perOrg,
		Seed: 3, Now: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := sim.Seed(context.Background(), st, spec); err != nil {
		t.Fatal(err)
	}
	pool := st.Pool()
	total := sqlCount(t, pool, `SELECT count(*) FROM work_items`)
	var victims []int64
	rows, err := pool.Query(context.Background(), `SELECT id FROM work_items ORDER BY random() LIMIT 12`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		victims = append(victims, id)
	}
	rows.Close()

	d := newDriver(t, pgConsole(st, st.Describe(), false), 100, 30)
	if d.m.snap == nil || d.m.snap.Summary.Queued != total {
		t.Fatalf("first snapshot: %+v", d.m.snap)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	engines := make([]*router.Engine, 2)
	for i := range engines {
		est := openPG(t, dsn)
		engines[i] = router.NewEngine(est, router.EngineConfig{ID: fmt.Sprintf("engine-%d", i+1), BatchSize: 5, Workers: 1,
			PollInterval: 50 * time.Millisecond})
		wg.Go(func() { _ = engines[i].Run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	quarantined, refused := map[int64]bool{}, map[int64]bool{}
	refreshes := 0
	for i := 0; sqlCount(t, pool, `SELECT count(*) FROM work_items WHERE state = 'queued'`) > 0; i++ {
		if i > 100000 {
			t.Fatal("the engines did not drain the queues")
		}
		d.keys("r")
		refreshes++
		if d.m.failures != 0 {
			t.Fatalf("refresh failed: %s", d.m.lastErr)
		}
		sm := d.m.snap.Summary
		if sm.Queued+sm.Assigned+sm.Quarantined != total {
			t.Fatalf("the console showed a partial state: queued %d + assigned %d + quarantined %d != %d items",
				sm.Queued, sm.Assigned, sm.Quarantined, total)
		}
		if len(victims) > 0 && i%2 == 0 {
			id := victims[0]
			victims = victims[1:]
			d.keys(":")
			d.typeText(fmt.Sprintf("quarantine %d console race", id))
			d.keys("enter", "y")
			switch {
			case d.m.statusKind == statusOK && strings.Contains(d.m.status, fmt.Sprintf("item %d quarantined", id)):
				quarantined[id] = true
			case d.m.statusKind == statusErr && strings.Contains(d.m.status, "is assigned"):
				refused[id] = true
			default:
				t.Fatalf("console quarantine of %d: neither done nor refused: %q", id, d.m.status)
			}
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d console refreshes while two engines drained %d items; console quarantines: %d done, %d refused",
		refreshes, total, len(quarantined), len(refused))
	for id := range quarantined {
		if n := sqlCount(t, pool, `SELECT count(*) FROM events WHERE work_item_id = $1 AND kind = 'assigned'`, id); n != 0 {
			t.Fatalf("item %d was quarantined from the console but has %d assigned events", id, n)
		}
		it, _ := st.GetItem(context.Background(), id)
		if it.State != router.StateQuarantined {
			t.Fatalf("item %d: console said quarantined, store says %s", id, it.State)
		}
	}
	for id := range refused {
		it, _ := st.GetItem(context.Background(), id)
		if it.State != router.StateAssigned {
			t.Fatalf("item %d: console said refused (assigned), store says %s", id, it.State)
		}
	}
	if n := sqlCount(t, pool, `SELECT count(*) FROM (SELECT work_item_id FROM events WHERE kind = 'assigned'
			GROUP BY 1 HAVING count(*) > 1) x`); n != 0 {
		t.Fatalf("%d items assigned twice", n)
	}
	if n := sqlCount(t, pool, `SELECT count(DISTINCT actor) FROM events WHERE kind = 'assigned'`); n != 2 {
		t.Logf("only %d engine(s) assigned anything", n)
	}
	if n := sqlCount(t, pool, `SELECT count(*) FROM work_items`); n != total {
		t.Fatalf("%d items, want %d", n, total)
	}
	rep, err := st.Verify(context.Background(), 100)
	if err != nil || !rep.Clean() {
		t.Fatalf("verify: %v %+v", err, rep.Findings)
	}
	d.keys("r")
	if sm := d.m.snap.Summary; sm.Queued != 0 || sm.Assigned+sm.Quarantined != total {
		t.Fatalf("final snapshot %+v", sm)
	}
}

// TestConsoleUnreachableBannerOnPostgres stops the console's PostgreSQL
// under it: the next refresh shows the "database unreachable, retrying"
// banner over the last good data, keys keep working, and once the server
// is back a refresh clears the banner by itself. The header names the
// database without the DSN's password, and the banner's error never shows
// it either.
func TestConsoleUnreachableBannerOnPostgres(t *testing.T) {
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	dsn := pgtest.NewDBOn(t, srv)
	// The private server trusts local connections, so a password in the
	// DSN is accepted and ignored: enough to check it is never shown.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-Pa55word"
	u.User = url.UserPassword("postgres", secret)
	st := openPG(t, u.String())
	spec := sim.SeedSpec{Orgs: 3, QueuesPerOrg: 1, AgentsPerOrg: 2, Capacity: 5, ItemsPerOrg: 4, Seed: 1,
		Now: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := sim.Seed(context.Background(), st, spec); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, pgConsole(st, st.Describe(), true), 100, 30)
	v := d.view()
	if strings.Contains(v, secret) {
		t.Fatalf("the console shows the password:\n%s", v)
	}
	if !strings.Contains(v, "postgres://postgres@127.0.0.1:") || strings.Contains(v, "unreachable") {
		t.Fatalf("header or banner wrong before the outage:\n%s", v)
	}
	before := d.m.snap

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	d.keys("r")
	v = d.view()
	if !strings.Contains(v, "database unreachable, retrying") || !strings.Contains(v, "(1 failed") {
		t.Fatalf("no banner with the database down:\n%s", v)
	}
	if strings.Contains(v, secret) || strings.Contains(d.m.lastErr, secret) {
		t.Fatalf("the banner shows the password: %s", d.m.lastErr)
	}
	if d.m.snap != before {
		t.Fatal("the last good snapshot should stay on screen")
	}
	d.keys("down")
	if d.m.fleet.cursor != 1 {
		t.Fatal("keys stopped working while the database was down")
	}
	d.keys("r")
	d.wantView("(2 failed")

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The pool reconnects by itself; a refresh or two later the banner is
	// gone (the first may still meet a connection from before the restart).
	for i := 0; ; i++ {
		d.keys("r")
		if d.m.failures == 0 {
			break
		}
		if i > 50 {
			t.Fatalf("the console did not recover: %s", d.m.lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := d.view(); strings.Contains(v, "unreachable") || d.m.snap == before {
		t.Fatalf("banner still up, or no fresh data, after recovery:\n%s", v)
	}
}
