package topology

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestEveryCommandThroughPools runs every database command through a real
// PgBouncer, in transaction pooling and in session pooling, configured
// only with routeops's keys (no ignore_startup_parameters, no query mode
// set by hand): migrate, seed, serve, status, check, config, items,
// quarantine, release, pause, resume, drill, repair, verify, cleanup,
// timeline, the console without a terminal.
func TestEveryCommandThroughPools(t *testing.T) {
	for _, mode := range []string{pgtest.PoolTransaction, pgtest.PoolSession} {
		t.Run(mode, func(t *testing.T) {
			b := pgtest.SharedBouncer(t, mode)
			direct := pgtest.NewEmptyDB(t)
			pooled := b.Via(direct)
			c := harness.New(t, "").With("ROUTEOPS_DSN="+pooled, "ROUTEOPS_DB_POOLER="+mode, "ROUTEOPS_DRILL_ALLOW=true")
			if mode == pgtest.PoolTransaction {
				// migrate needs a session lock: without a listen DSN it says so.
				r := c.Expect(1, "migrate")
				if !strings.Contains(r.Stderr, "db.listen_dsn") || !strings.Contains(r.Stderr, "transaction pooling") {
					t.Fatalf("migrate under transaction pooling without a listen DSN should say why:\n%s", r)
				}
				c = c.With("ROUTEOPS_DB_LISTEN_DSN=" + direct)
			}
			c.Must("migrate")
			if r := c.Must("migrate"); !strings.Contains(r.Stdout, "nothing to do") {
				t.Fatalf("second migrate:\n%s", r)
			}
			c.Must("migrate", "--roles")
			c.Must("seed", "--orgs", "4", "--items-per-org", "30", "--agents-per-org", "5", "--capacity", "2", "--yes")

			var cfg map[string]any
			c.MustJSON(&cfg, 0, "config", "-o", "json")
			if cfg["db.pooler"] != mode {
				t.Fatalf("config db.pooler = %v, want %s", cfg["db.pooler"], mode)
			}
			var st status
			c.MustJSON(&st, 0, "status", "-o", "json")
			if st.Database == nil || st.Database.Pooler != mode || st.Summary.Orgs != 4 || st.Summary.Queued != 120 {
				t.Fatalf("status through %s pooling: %+v", mode, st)
			}
			if st.Store != "postgres://postgres@"+hostOf(t, pooled)+"/"+dbName(direct) {
				t.Fatalf("status shows store %q, want the bouncer it connected to", st.Store)
			}
			c.Must("status")
			if r := c.Run("check"); r.Code > 2 || !strings.HasPrefix(r.Stdout, "ROUTEOPS ") {
				t.Fatalf("check:\n%s", r)
			}

			r := c.Must("serve", "--until-idle", "-o", "json")
			var sum struct{ Assigned, Errors int }
			if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || sum.Assigned == 0 || sum.Errors != 0 {
				t.Fatalf("serve --until-idle through %s pooling: %+v %v\n%s", mode, sum, err, r)
			}
			if strings.Contains(r.Stderr, "level=WARN") || strings.Contains(r.Stderr, "level=ERROR") {
				t.Fatalf("serve warned through %s pooling:\n%s", mode, r)
			}

			d := pgtest.Connect(t, direct)
			queued := d.Int(`SELECT id FROM work_items WHERE org_id = 'org-0001' AND state = 'queued' ORDER BY id LIMIT 1`)
			id := fmt.Sprint(queued)
			var items struct {
				Items []struct{ ID int64 } `json:"items"`
			}
			c.MustJSON(&items, 0, "items", "list", "--org", "org-0001", "--state", "queued", "-o", "json")
			if len(items.Items) == 0 || items.Items[0].ID != queued {
				t.Fatalf("items list: %+v, want %d first", items, queued)
			}
			c.Must("items", "show", id)
			c.Must("quarantine", id, "--reason", "through "+mode+" pooling", "--yes")
			if s := d.Str(`SELECT state FROM work_items WHERE id = $1`, queued); s != "quarantined" {
				t.Fatalf("after quarantine the item is %s", s)
			}
			c.Must("release", id, "--yes")
			c.Must("pause", "org-0001/default", "--reason", "pooled", "--yes")
			c.Must("resume", "org-0001/default", "--yes")
			// Sets, teams, agents and the impact report.
			c.Must("items", "list", "--state", "queued", "--attr", "channel=chat", "--count")
			c.Must("quarantine", "--org", "org-0001", "--state", "queued", "--reason", "bulk through "+mode+" pooling", "--yes")
			c.Must("release", "--org", "org-0001", "--state", "quarantined", "--rate", "1000", "--yes")
			if n := d.Int(`SELECT count(DISTINCT operation_id) FROM events WHERE org_id = 'org-0001' AND operation_id IS NOT NULL`); n != 2 {
				t.Fatalf("%d bulk operations journalled, want 2", n)
			}
			c.Must("teams", "list")
			team := d.Str(`SELECT min(id) FROM teams WHERE org_id = 'org-0001'`)
			c.Must("team", "pause", "org-0001/"+team, "--reason", "pooled", "--yes")
			c.Must("team", "resume", "org-0001/"+team, "--yes")
			c.Must("agents", "list", "--org", "org-0001")
			agent := d.Str(`SELECT min(id) FROM agents WHERE org_id = 'org-0001'`)
			c.Must("agent", "set-status", "org-0001/"+agent, "away", "--yes")
			c.Must("agent", "set-status", "org-0001/"+agent, "available", "--yes")
			c.Must("impact", "--since", "1h")

			c.Must("drill", "inject", "missing-revisions", "--org", "org-0002", "--count", "2", "--yes")
			c.Must("serve", "--until-idle")
			var plan struct {
				Items []struct{ Valid bool } `json:"items"`
			}
			c.MustJSON(&plan, 0, "repair", "plan", "-o", "json")
			if len(plan.Items) == 0 {
				t.Fatalf("repair plan after the drill found nothing")
			}
			c.Must("repair", "apply", "--yes")
			c.Must("verify")
			c.Must("timeline", "--since", "1h")
			c.Must("cleanup", "plan", "--older-than", "1ns")
			c.Must("cleanup", "apply", "--older-than", "1ns", "--yes")
			c.Must("console")
			c.Must()
			if n := d.Int(`SELECT count(*) FROM work_items w JOIN work_item_revisions r
				ON r.org_id = w.org_id AND r.id = w.current_revision_id`); n != 120 {
				t.Fatalf("%d of 120 items point at a revision that exists after the drill, repair and cleanup", n)
			}
		})
	}
}

// TestTransactionPoolWakeups routes through a transaction pool. With
// db.listen_dsn on PostgreSQL itself, an item enqueued once serve is up
// and routing is assigned before serve's first regular poll (the poll
// interval is 60s here, so only a wake-up can do it). Without one, serve
// says once that it polls, reports it (routeops_wakeups_available 0, a
// line in status), and still routes, on the poll.
func TestTransactionPoolWakeups(t *testing.T) {
	b := pgtest.SharedBouncer(t, pgtest.PoolTransaction)
	for _, listen := range []bool{true, false} {
		t.Run(fmt.Sprintf("listen=%v", listen), func(t *testing.T) {
			direct, pooled := pgtest.NewDBVia(t, b)
			interval := 60 * time.Second
			if !listen {
				interval = time.Second
			}
			c := harness.New(t, "").With("ROUTEOPS_DSN="+pooled, "ROUTEOPS_DB_POOLER=transaction", "ROUTEOPS_ROUTING_POLL_INTERVAL="+interval.String())
			if listen {
				c = c.With("ROUTEOPS_DB_LISTEN_DSN=" + direct)
			}
			c.Must("seed", "--orgs", "2", "--items-per-org", "0", "--capacity", "50", "--yes")
			addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
			serve := c.Start("serve", "--metrics-addr", addr, "--duration", "3m")
			ready := "wake-ups on: listening for new work"
			wantGauge := 1.0
			if !listen {
				ready, wantGauge = "no wake-ups", 0
			}
			if _, ok := harness.Poll(60*time.Second, 50*time.Millisecond, func() bool {
				body, err := scrape(addr)
				v, ok := harness.Sample(body, "routeops_wakeups_available")
				return err == nil && ok && v == wantGauge && strings.Contains(serve.Stderr.String(), ready)
			}); !ok {
				t.Fatalf("serve never said %q with routeops_wakeups_available %v:\n%s", ready, wantGauge, serve.Stderr.String())
			}
			d := pgtest.Connect(t, direct)
			// The platform enqueues with plain SQL; the insert trigger wakes
			// the engines. The first item may still meet serve's start-up
			// poll; the second comes after that is over.
			var latency time.Duration
			for i := range 2 {
				enqueued := time.Now()
				id := d.Int(enqueueSQL)
				took, ok := harness.Poll(55*time.Second-time.Since(serve.Started), 10*time.Millisecond, func() bool {
					return d.Str(`SELECT state FROM work_items WHERE id = $1`, id) == "assigned"
				})
				if !ok {
					t.Fatalf("item %d (the %d. enqueued) not assigned %v after serve started (poll interval %v):\n%s",
						id, i+1, time.Since(serve.Started).Round(time.Second), interval, serve.Stderr.String())
				}
				latency = took
				t.Logf("listen=%v: item %d assigned %v after its enqueue committed (%v after serve started; poll interval %v)",
					listen, i+1, took.Round(time.Millisecond), time.Since(serve.Started).Round(time.Millisecond), interval)
				_ = enqueued
			}
			if listen && latency >= interval {
				t.Fatalf("with wake-ups the item waited %v, a whole poll interval", latency)
			}
			var st status
			c.MustJSON(&st, 0, "status", "-o", "json")
			out := c.Must("status").Stdout
			if listen {
				if st.Engine.Polling != 0 || strings.Contains(out, "wake-ups off") {
					t.Fatalf("status reports polling with a listen DSN:\n%s", out)
				}
			} else if st.Engine.Polling != 1 || !strings.Contains(out, "wake-ups off on 1 of 1 engines") {
				t.Fatalf("status does not say that the engine polls (%+v):\n%s", st.Engine, out)
			}
			res := stop(serve)
			if n := strings.Count(res.Stderr, "no wake-ups"); listen && n != 0 || !listen && n != 1 {
				t.Fatalf("serve said %d times that it has no wake-ups:\n%s", n, res)
			}
		})
	}
}

// enqueueSQL is how a platform that does not use routeops enqueues: plain
// SQL, an item and its first revision.
const enqueueSQL = `WITH ids AS (SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev),
	r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at)
	      SELECT 'org-0001', rev, item, '{"priority": 10, "channel": "chat"}', now() FROM ids RETURNING id, work_item_id, attributes)
	INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at, journal_revision_id, journal_attributes)
	SELECT 'org-0001', r.work_item_id, 'default', r.id, 10, now(), r.id, r.attributes FROM r RETURNING id`
