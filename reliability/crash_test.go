package reliability

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// seedArgs seeds orgs x perOrg queued items with ample capacity: 10 agents
// per org whose capacity adds up to twice the org's items, so that
// everything can be assigned.
func seedArgs(orgs, perOrg int) []string {
	capacity := max(1, 2*perOrg/10)
	return []string{"seed", "--orgs", strconv.Itoa(orgs), "--queues-per-org", "2", "--agents-per-org", "10",
		"--capacity", strconv.Itoa(capacity), "--items-per-org", strconv.Itoa(perOrg)}
}

// engineSessionsGone waits until no routeops session is left on the test
// database: after a kill -9, PostgreSQL notices the closed sockets and
// rolls the killed engine's open transactions back.
func (h *rig) engineSessionsGone(t testing.TB) {
	t.Helper()
	harness.WaitFor(t, "the killed engine's sessions to end", 30*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = 'routeops'`) == 0
	})
}

func (h *rig) rollbacks() int {
	return h.count(`SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()`)
}

func (h *rig) assigned() int {
	return h.count(`SELECT count(*) FROM work_items WHERE state = 'assigned'`)
}

// TestKill9MidDrain kills `serve` with SIGKILL at several points while it
// drains 20,000 items (after 1, 5, 15, 30, 50, 70 and 85 per cent of them
// are assigned, alternating `serve` and `serve --until-idle`, and once right
// after start, before any work), and after each kill checks with SQL and
// with `routeops verify -o json` that nothing was lost, nothing assigned
// twice, every assigned item has exactly one assigned event, and every agent
// is within capacity. Then `serve --until-idle` finishes the work and exits
// 0 with nothing left queued.
func TestKill9MidDrain(t *testing.T) {
	const orgs, perOrg = 20, 1000
	const total = orgs * perOrg
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(orgs, perOrg)...)
	h.invariants(t, total)

	// A kill right after start: the engine may be connecting, migrating
	// nothing, taking its first heartbeat, or in its first transaction.
	p := h.start(nil, "serve")
	harness.WaitFor(t, "the engine's first heartbeat", 30*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM engine_heartbeats`) > 0
	})
	p.Kill9()
	h.engineSessionsGone(t)
	h.invariants(t, total)

	interrupted := 0
	for i, frac := range []float64{0.01, 0.05, 0.15, 0.30, 0.50, 0.70, 0.85} {
		target := int(frac * total)
		// Small batches: many short transactions, so that a kill lands in
		// one, and the engine is still draining when the kill lands, on a
		// loaded machine too (with batches of 50 the last 2,000 items once
		// went by before a kill at 90%).
		args := []string{"serve", "--batch-size", "20"}
		if i%2 == 1 {
			args = append(args, "--until-idle")
		}
		before := h.assigned()
		rb := h.rollbacks()
		start := time.Now()
		p := h.start(nil, args...)
		// Kill on the data, not on a timer: as soon as the engine has gone
		// past the target, whatever it is doing at that moment.
		harness.WaitFor(t, fmt.Sprintf("%d assignments", target), 60*time.Second, func() bool {
			if !p.Running() {
				t.Fatalf("serve exited before the kill point:\n%s", p.Output())
			}
			return h.assigned() >= target
		})
		p.Kill9()
		killedAt := time.Since(start)
		h.engineSessionsGone(t)
		after := h.assigned()
		aborted := h.rollbacks() - rb
		if aborted > 0 {
			interrupted++
		}
		t.Logf("kill %d: serve %v killed after %s at %d assigned (target %d, %d this run); %d open transactions rolled back",
			i+1, args[1:], killedAt.Round(time.Millisecond), after, target, after-before, aborted)
		if after >= total {
			t.Fatalf("kill %d came after the drain finished; the test must kill mid-drain", i+1)
		}
		h.invariants(t, total)
		h.verifyClean(t)
	}
	// pg_stat_database counts the transactions PostgreSQL rolled back when
	// the killed engine's connections dropped: proof that the kills landed
	// mid-batch, not between batches.
	t.Logf("%d of 7 kills interrupted an open routing transaction", interrupted)
	if interrupted == 0 {
		t.Fatal("no kill interrupted an open routing transaction: the test did not kill mid-batch")
	}

	start := time.Now()
	r := h.mustRun(nil, "serve", "--until-idle")
	t.Logf("recovery: serve --until-idle finished the remaining work in %s: %s", time.Since(start).Round(time.Millisecond),
		strings.TrimSpace(r.Stdout))
	if !strings.Contains(r.Stdout, "idle after") {
		t.Fatalf("serve --until-idle did not report idle:\n%s", r)
	}
	h.invariants(t, total)
	h.verifyClean(t)
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`); n != 0 {
		t.Fatalf("%d items still queued after the restarted engine went idle", n)
	}
	if n := h.assigned(); n != total {
		t.Fatalf("%d assigned, want all %d", n, total)
	}
}

// acceptanceItems is the size of TestKill9Acceptance: 100,000 items (the
// reliability acceptance), or ROUTEOPS_RELIABILITY_ITEMS.
func acceptanceItems(t testing.TB) int {
	if v := os.Getenv("ROUTEOPS_RELIABILITY_ITEMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n%20 != 0 {
			t.Fatalf("ROUTEOPS_RELIABILITY_ITEMS=%q: want a multiple of 20, at least 20", v)
		}
		return n
	}
	return 100_000
}

// TestKill9Acceptance is the reliability acceptance: seed 100,000 items, start
// `serve`, kill it with -9 two seconds into draining (two seconds after its
// first assignment), check that nothing was lost, the journal agrees with
// the state and no agent is over capacity, then restart it with
// --until-idle, which finishes the work and exits 0.
func TestKill9Acceptance(t *testing.T) {
	total := acceptanceItems(t)
	const orgs = 20
	h := newHarness(t, pgtest.NewDB(t))
	start := time.Now()
	h.mustRun(nil, seedArgs(orgs, total/orgs)...)
	t.Logf("seeded %d items in %s", total, time.Since(start).Round(time.Millisecond))

	p := h.start(nil, "serve")
	harness.WaitFor(t, "the first assignment", 60*time.Second, func() bool { return h.assigned() > 0 })
	time.Sleep(2 * time.Second) // the acceptance's kill point: two seconds into draining
	p.Kill9()
	h.engineSessionsGone(t)
	assigned := h.assigned()
	t.Logf("killed -9 two seconds into draining, at %d of %d assigned", assigned, total)
	if assigned == 0 || assigned >= total {
		t.Fatalf("%d of %d assigned at the kill: the kill was not mid-drain", assigned, total)
	}
	h.invariants(t, total)
	h.verifyClean(t)

	start = time.Now()
	r := h.mustRun(nil, "serve", "--until-idle")
	t.Logf("recovery after kill -9: the restarted serve --until-idle drained the remaining %d items and exited 0 in %s",
		total-assigned, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(r.Stdout, "idle after") {
		t.Fatalf("serve --until-idle did not report idle:\n%s", r)
	}
	h.invariants(t, total)
	h.verifyClean(t)
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`); n != 0 {
		t.Fatalf("%d items still queued", n)
	}
	if n := h.assigned(); n != total {
		t.Fatalf("%d assigned, want all %d", n, total)
	}
}
