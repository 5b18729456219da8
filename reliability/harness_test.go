package reliability

import (
	"encoding/json"
	"testing"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestMain runs the tests, then stops the servers they started and removes
// the built binary.
func TestMain(m *testing.M) { harness.Main(m, closePrivate) }

// rig is one test's routeops binary (internal/harness, at log level warn)
// and, when the test has a database, raw SQL on it (pgtest.DB).
type rig struct {
	*harness.Bin
	*pgtest.DB
	t testing.TB
}

func newHarness(t testing.TB, dsn string) *rig {
	t.Helper()
	h := &rig{Bin: harness.New(t, dsn).With("ROUTEOPS_LOG_LEVEL=warn"), t: t}
	if dsn != "" {
		h.DB = pgtest.Connect(t, dsn)
	}
	return h
}

// For returns a copy that reports to t (a subtest) instead.
func (h *rig) For(t testing.TB) *rig { return &rig{Bin: h.Bin.For(t), DB: h.DB, t: t} }

// run runs routeops with args and environment changes (KEY=VALUE, or
// -KEY to unset).
func (h *rig) run(env []string, args ...string) harness.Result {
	h.t.Helper()
	return h.With(env...).Run(args...)
}

// mustRun is run, failing the test unless routeops exits 0.
func (h *rig) mustRun(env []string, args ...string) harness.Result {
	h.t.Helper()
	return h.With(env...).Must(args...)
}

// start starts routeops in the background, like run.
func (h *rig) start(env []string, args ...string) *harness.Proc {
	h.t.Helper()
	return h.With(env...).Start(args...)
}

// count runs a query that returns one integer.
func (h *rig) count(sql string, args ...any) int {
	h.t.Helper()
	return int(h.Int(sql, args...))
}

// invariants checks, with SQL of its own (not routeops's verify), the
// promises that hold at every moment: no item lost (the count is
// wantItems), every assigned or completed item has exactly one assigned
// event and no other item has any, no item is both assigned (an agent, an
// assigned event) and quarantined, every agent is within capacity and its
// stored load matches its assigned items.
func (h *rig) invariants(t testing.TB, wantItems int) {
	t.Helper()
	if n := h.count(`SELECT count(*) FROM work_items`); n != wantItems {
		t.Fatalf("work_items count %d, want %d: items were lost or made up", n, wantItems)
	}
	if n := h.count(`SELECT count(*) FROM work_items w WHERE w.state IN ('assigned', 'completed')
			AND (SELECT count(*) FROM events e WHERE e.work_item_id = w.id AND e.kind = 'assigned') <> 1`); n != 0 {
		t.Fatalf("%d assigned items do not have exactly one assigned event", n)
	}
	if n := h.count(`SELECT count(*) FROM work_items w WHERE w.state NOT IN ('assigned', 'completed')
			AND EXISTS (SELECT 1 FROM events e WHERE e.work_item_id = w.id AND e.kind = 'assigned')`); n != 0 {
		t.Fatalf("%d items that are not assigned have an assigned event (assigned twice, or assigned and quarantined)", n)
	}
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'quarantined' AND agent_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d quarantined items have an agent", n)
	}
	if n := h.count(`SELECT count(*) FROM agents WHERE load > capacity`); n != 0 {
		t.Fatalf("%d agents are over capacity", n)
	}
	if n := h.count(`SELECT count(*) FROM agents a WHERE a.load <> (SELECT count(*) FROM work_items w
			WHERE w.org_id = a.org_id AND w.agent_id = a.id AND w.state = 'assigned')`); n != 0 {
		t.Fatalf("%d agents' stored load differs from their assigned items", n)
	}
	if n := h.count(`SELECT count(*) FROM (SELECT work_item_id FROM events WHERE kind = 'assigned'
			GROUP BY work_item_id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d items were assigned more than once", n)
	}
}

// verifyReport is `routeops verify -o json`.
type verifyReport struct {
	Clean    bool             `json:"clean"`
	Checked  map[string]int   `json:"checked"`
	Findings []map[string]any `json:"findings"`
}

// verifyClean runs `routeops verify -o json` and fails unless it is clean.
func (h *rig) verifyClean(t testing.TB) verifyReport {
	t.Helper()
	r := h.run(nil, "verify", "-o", "json")
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("verify -o json is not JSON: %v\n%s", err, r)
	}
	if r.Code != 0 || !rep.Clean || len(rep.Findings) != 0 {
		t.Fatalf("verify is not clean:\n%s", r)
	}
	return rep
}
