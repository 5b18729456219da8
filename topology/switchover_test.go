package topology

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// platform enqueues items with plain SQL through a DSN, the way the
// support platform writes, through a failover: it reconnects after an
// error and remembers which enqueues were acknowledged (committed).
type platform struct {
	dsn string

	mu       sync.Mutex
	acked    []int64
	failures int
}

func (p *platform) run(ctx context.Context, orgs []string) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := pgx.Connect(cctx, p.dsn)
			cancel()
			if err != nil {
				p.fail()
				pause(ctx, 50*time.Millisecond)
				continue
			}
			conn = c
		}
		org := orgs[i%len(orgs)]
		var id int64
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := conn.QueryRow(qctx, strings.ReplaceAll(enqueueSQL, "'org-0001'", "$1"), org).Scan(&id)
		cancel()
		if err != nil {
			// In doubt: the commit may or may not have happened. Only
			// acknowledged items are promised.
			p.fail()
			conn.Close(context.Background())
			conn = nil
			continue
		}
		p.mu.Lock()
		p.acked = append(p.acked, id)
		p.mu.Unlock()
		pause(ctx, 5*time.Millisecond)
	}
}

func (p *platform) fail() {
	p.mu.Lock()
	p.failures++
	p.mu.Unlock()
}

func (p *platform) ackedSoFar() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// TestPlannedSwitchover: serve runs on a multi-host DSN with
// target_session_attrs=read-write while the platform enqueues. The
// primary is stopped with a fast shutdown and the standby promoted. serve
// reconnects to the new primary by itself and keeps routing: every
// acknowledged item is there and assigned exactly once, no agent is over
// capacity, the errors of the outage are counted in
// routeops_route_errors_total, and status shows the host actually
// connected.
func TestPlannedSwitchover(t *testing.T) {
	r := newReplicated(t)
	multi := fmt.Sprintf("postgres://postgres@%s,%s/%s?sslmode=disable&target_session_attrs=read-write",
		hostOf(t, r.primaryDSN), hostOf(t, r.standbyDSN), dbName(r.primaryDSN))
	c := harness.New(t, "").With("ROUTEOPS_DSN="+multi, "ROUTEOPS_DB_CONNECT_TIMEOUT=2s")
	c.Must("seed", "--orgs", "4", "--items-per-org", "0", "--agents-per-org", "10", "--capacity", "500", "--yes")
	r.catchUp(t)

	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	serve := c.Start("serve", "--metrics-addr", addr)
	if _, ok := harness.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		return strings.Contains(serve.Stderr.String(), "wake-ups on")
	}); !ok {
		t.Fatalf("serve did not start:\n%s", serve.Stderr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pl := &platform{dsn: multi}
	var wg sync.WaitGroup
	wg.Go(func() { pl.run(ctx, []string{"org-0001", "org-0002", "org-0003", "org-0004"}) })

	// Traffic before the switchover, routed on the first primary.
	if _, ok := harness.Poll(60*time.Second, 20*time.Millisecond, func() bool { return pl.ackedSoFar() >= 200 }); !ok {
		t.Fatal("the platform could not enqueue")
	}
	before := pl.ackedSoFar()
	// The switchover: a fast shutdown of the primary (pg_ctl stop -m fast),
	// then the standby is promoted.
	stopped := time.Now()
	if err := r.primary.Stop(); err != nil {
		t.Fatal(err)
	}
	// While no primary answers, serve's attempts to route fail, and are
	// counted.
	var errs float64
	if _, ok := harness.Poll(60*time.Second, 50*time.Millisecond, func() bool {
		body, err := scrape(addr)
		v, ok := harness.Sample(body, "routeops_route_errors_total")
		errs = v
		return err == nil && ok && v >= 1
	}); !ok {
		t.Fatalf("routeops_route_errors_total stayed %v with the primary down:\n%s", errs, serve.Stderr.String())
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer pcancel()
	if err := r.standby.Promote(pctx); err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(stopped)
	// Traffic after it, to the new primary.
	if _, ok := harness.Poll(60*time.Second, 20*time.Millisecond, func() bool { return pl.ackedSoFar() >= before+200 }); !ok {
		t.Fatalf("the platform could not enqueue after the promotion (%d failures)", pl.failures)
	}
	cancel()
	wg.Wait()

	d := pgtest.Connect(t, r.standbyDSN)
	took, ok := harness.Poll(90*time.Second, 100*time.Millisecond, func() bool {
		return d.Int(`SELECT count(*) FROM work_items WHERE state = 'queued'`) == 0
	})
	if !ok {
		t.Fatalf("items still queued on the new primary after 90s:\n%s", serve.Stderr.String())
	}
	recovered := time.Since(stopped)

	// Nothing lost: every acknowledged enqueue is on the new primary, and
	// assigned.
	pl.mu.Lock()
	acked := append([]int64(nil), pl.acked...)
	failures := pl.failures
	pl.mu.Unlock()
	if n := d.Int(`SELECT count(*) FROM work_items WHERE id = ANY($1) AND state = 'assigned'`, acked); n != int64(len(acked)) {
		t.Fatalf("%d of %d acknowledged items are assigned on the new primary", n, len(acked))
	}
	// Nothing assigned twice, no agent over capacity, loads that add up.
	if n := d.Int(`SELECT count(*) FROM (SELECT work_item_id FROM events WHERE kind = 'assigned'
		GROUP BY work_item_id HAVING count(*) > 1) x`); n != 0 {
		t.Fatalf("%d items were assigned more than once", n)
	}
	if n := d.Int(`SELECT count(*) FROM work_items w WHERE w.state = 'assigned' AND
		(SELECT count(*) FROM events e WHERE e.work_item_id = w.id AND e.kind = 'assigned') <> 1`); n != 0 {
		t.Fatalf("%d assigned items do not have exactly one assignment event", n)
	}
	if n := d.Int(`SELECT count(*) FROM agents a WHERE a.load > a.capacity OR a.load <> (SELECT count(*) FROM work_items w
		WHERE w.org_id = a.org_id AND w.agent_id = a.id AND w.state = 'assigned')`); n != 0 {
		t.Fatalf("%d agents are over capacity or have a load that is not their assigned items", n)
	}

	// The counted errors stay counted; status shows the host connected.
	body, err := scrape(addr)
	if after, ok := harness.Sample(body, "routeops_route_errors_total"); err != nil || !ok || after < errs {
		t.Fatalf("routeops_route_errors_total after the outage = %v (%v), was %v during it", after, err, errs)
	} else {
		errs = after
	}
	var st status
	c.MustJSON(&st, 0, "status", "-o", "json")
	want := "postgres://postgres@" + hostOf(t, r.standbyDSN) + "/" + dbName(r.standbyDSN)
	if st.Store != want || st.Database == nil || st.Database.Store != want {
		t.Fatalf("status shows %q, want the promoted host %s", st.Store, want)
	}
	if !strings.Contains(c.Must("status").Stdout, want) {
		t.Fatalf("status table does not show the promoted host %s", want)
	}
	res := stop(serve)
	if res.Code != 0 {
		t.Fatalf("serve after the switchover:\n%s", res)
	}
	t.Logf("switchover: %d items acknowledged (%d before the stop), %d enqueues failed in doubt during it; "+
		"promotion %v after the stop; every item assigned %v after the stop (%v after the platform stopped); "+
		"routeops_route_errors_total %v; 0 lost, 0 assigned twice",
		len(acked), before, failures, promoted.Round(time.Millisecond), recovered.Round(time.Millisecond),
		took.Round(time.Millisecond), errs)
}
