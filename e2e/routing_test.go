package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// serveSummary is what `serve -o json` prints when it ends.
type serveSummary struct {
	Assigned    int64  `json:"assigned"`
	Quarantined int64  `json:"quarantined"`
	Faults      int64  `json:"faults"`
	Errors      int64  `json:"errors"`
	Stopped     string `json:"stopped"`
}

func decodeServe(t *testing.T, r harness.Result) serveSummary {
	t.Helper()
	var s serveSummary
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("serve -o json did not print its summary: %v\n%s", err, r)
	}
	return s
}

// checkAgents asserts that no agent is over capacity and that every
// agent's stored load is its count of assigned items.
func checkAgents(t *testing.T, d *pgtest.DB) {
	t.Helper()
	over := d.Int(`SELECT count(*) FROM agents WHERE load > capacity`)
	if over != 0 {
		t.Errorf("%d agents are over capacity", over)
	}
	wrong := d.Int(`SELECT count(*) FROM agents a WHERE a.load <> (SELECT count(*) FROM work_items w
		WHERE w.org_id = a.org_id AND w.agent_id = a.id AND w.state = 'assigned')`)
	if wrong != 0 {
		t.Errorf("%d agents have a stored load that differs from their count of assigned items", wrong)
	}
}

// checkOneAssignedEvent asserts that every assigned item has exactly one
// `assigned` event and that no other item has any.
func checkOneAssignedEvent(t *testing.T, d *pgtest.DB) {
	t.Helper()
	bad := d.Int(`SELECT count(*) FROM work_items w WHERE w.state = 'assigned' AND
		(SELECT count(*) FROM events e WHERE e.kind = 'assigned' AND e.org_id = w.org_id AND e.work_item_id = w.id) <> 1`)
	if bad != 0 {
		t.Errorf("%d assigned items do not have exactly one `assigned` event", bad)
	}
	twice := d.Int(`SELECT count(*) FROM (SELECT org_id, work_item_id FROM events WHERE kind = 'assigned'
		GROUP BY 1, 2 HAVING count(*) > 1) x`)
	if twice != 0 {
		t.Errorf("%d items were assigned more than once (several `assigned` events)", twice)
	}
	stray := d.Int(`SELECT count(*) FROM events e WHERE e.kind = 'assigned' AND NOT EXISTS (
		SELECT 1 FROM work_items w WHERE w.org_id = e.org_id AND w.id = e.work_item_id AND w.state = 'assigned')`)
	if stray != 0 {
		t.Errorf("%d `assigned` events name an item that is not assigned", stray)
	}
}

// verifyJSON is what `verify -o json` prints.
type verifyJSON struct {
	Clean    bool `json:"clean"`
	Findings []struct {
		Kind   string `json:"kind"`
		Org    string `json:"org"`
		Item   int64  `json:"item"`
		Detail string `json:"detail"`
	} `json:"findings"`
}

// Acceptance "Bad items": on 20 seeded orgs with ample capacity, a
// raw SQL script deletes the current revisions of a few queued items in one
// org and corrupts the attributes of a few items in another. serve
// --until-idle then assigns every other item, quarantines the bad ones with
// their cause, loses nothing, keeps every agent within capacity and gives
// every assigned item exactly one `assigned` event; verify reports exactly
// the damaged items until they are repaired.
func TestBadItemsAreQuarantinedAndEverythingElseRoutes(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	c := harness.New(t, dsn)
	if r := c.Must("migrate"); !strings.Contains(r.Stdout, "migrated from version 0") {
		t.Errorf("migrate on an empty database should say it migrated from version 0:\n%s", r)
	}
	if r := c.Must("migrate"); !strings.Contains(r.Stdout, "nothing to do") {
		t.Errorf("a second migrate should change nothing:\n%s", r)
	}
	// 10 agents x 5 = 50 >= 40 items per org: ample capacity.
	c.Must("seed", "--orgs", "20", "--agents-per-org", "10", "--capacity", "5", "--items-per-org", "40")
	d := pgtest.Connect(t, dsn)
	total := d.Int(`SELECT count(*) FROM work_items`)
	if total != 800 {
		t.Fatalf("seeded %d items, want 800", total)
	}

	missing := d.Ints(`SELECT id FROM work_items WHERE org_id = 'org-0003' AND state = 'queued' ORDER BY id LIMIT 3`)
	corrupt := d.Ints(`SELECT id FROM work_items WHERE org_id = 'org-0005' AND state = 'queued' ORDER BY id LIMIT 5`)
	// Each corrupt item gets another way of being wrong.
	bad := []string{
		`{"priority": "high", "channel": "chat"}`,     // priority not a number
		`"not an object"`,                             // not an object
		`{"priority": 50, "channel": "pigeon"}`,       // unknown channel
		`{"priority": 10, "channel": "chat", "x": 1}`, // unknown key
		`{"priority": 101, "channel": "email"}`,       // priority out of range
	}
	d.DeleteCurrentRevisions(missing...)
	d.CorruptAttributes(corrupt, bad...)
	cause := map[int64]string{}
	for _, id := range missing {
		cause[id] = "missing_revision"
	}
	for _, id := range corrupt {
		cause[id] = "corrupt_revision"
	}
	damaged := append(append([]int64{}, missing...), corrupt...)

	r := c.Must("serve", "--until-idle", "-o", "json")
	sum := decodeServe(t, r)
	t.Logf("serve --until-idle: %+v in %.2fs", sum, r.Took.Seconds())
	if sum.Stopped != "idle" {
		t.Errorf("serve stopped %q, want idle", sum.Stopped)
	}
	if sum.Assigned != total-int64(len(damaged)) || sum.Quarantined != int64(len(damaged)) {
		t.Errorf("serve assigned %d and quarantined %d, want %d and %d", sum.Assigned, sum.Quarantined,
			total-int64(len(damaged)), len(damaged))
	}

	// Nothing lost.
	if n := d.Int(`SELECT count(*) FROM work_items`); n != total {
		t.Errorf("work_items has %d rows after serve, want %d", n, total)
	}
	// Every other item assigned; the bad ones quarantined with their cause.
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'assigned' AND NOT id = ANY($1)`, damaged); n != total-int64(len(damaged)) {
		t.Errorf("%d undamaged items assigned, want %d", n, total-int64(len(damaged)))
	}
	got := d.Map(`SELECT id, state || ' ' || fault_cause FROM work_items WHERE id = ANY($1)`, damaged)
	for _, id := range damaged {
		if want := "quarantined " + cause[id]; got[id] != want {
			t.Errorf("item %d: state and fault_cause %q, want %q", id, got[id], want)
		}
	}
	quar := d.Map(`SELECT work_item_id, detail->>'cause' FROM events WHERE kind = 'quarantined'`)
	if len(quar) != len(damaged) {
		t.Errorf("%d items have `quarantined` events, want %d: %v", len(quar), len(damaged), quar)
	}
	for _, id := range damaged {
		if quar[id] != cause[id] {
			t.Errorf("item %d: `quarantined` event cause %q, want %q", id, quar[id], cause[id])
		}
		if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'item_fault' AND work_item_id = $1 AND detail->>'cause' = $2`,
			id, cause[id]); n < 1 {
			t.Errorf("item %d has no `item_fault` event with cause %s", id, cause[id])
		}
	}
	checkAgents(t, d)
	checkOneAssignedEvent(t, d)

	// verify reports exactly the damaged items, until repair.
	var v verifyJSON
	r = c.MustJSON(&v, 2, "verify", "-o", "json")
	wantKind := map[string]string{"missing_revision": "dangling_current_revision", "corrupt_revision": "invalid_attributes"}
	seen := map[int64]bool{}
	for _, f := range v.Findings {
		seen[f.Item] = true
		if cause[f.Item] == "" {
			t.Errorf("verify reports something that was not damaged: %+v", f)
		} else if f.Kind != wantKind[cause[f.Item]] {
			t.Errorf("verify reports item %d as %s, want %s", f.Item, f.Kind, wantKind[cause[f.Item]])
		}
	}
	if v.Clean || !sameIDs(sortedIDs(seen), damaged) {
		t.Errorf("verify reports items %v, want exactly %v\n%s", sortedIDs(seen), damaged, r)
	}
	c.Expect(2, "verify") // the table form exits 2 too

	c.Must("repair", "apply", "--yes")
	c.Must("verify")
	sum = decodeServe(t, c.Must("serve", "--until-idle", "-o", "json"))
	if sum.Assigned != int64(len(damaged)) {
		t.Errorf("after repair, serve assigned %d, want the %d repaired items", sum.Assigned, len(damaged))
	}
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'assigned'`); n != total {
		t.Errorf("%d of %d items assigned after repair", n, total)
	}
	checkAgents(t, d)
	checkOneAssignedEvent(t, d)
}

// Acceptance "Two engines": two `serve --until-idle` processes
// started together on one database with less capacity than items fill
// every agent exactly to capacity, and no item is assigned twice.
func TestTwoEnginesFillEveryAgentExactlyOnce(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	// 5 agents x 8 = 40 capacity per org, 100 items per org.
	c.Must("seed", "--orgs", "40", "--agents-per-org", "5", "--capacity", "8", "--items-per-org", "100")
	d := pgtest.Connect(t, dsn)
	capacity := d.Int(`SELECT sum(capacity) FROM agents`)
	items := d.Int(`SELECT count(*) FROM work_items`)
	if capacity >= items {
		t.Fatalf("the seed has capacity %d for %d items; the test needs less capacity than items", capacity, items)
	}

	// Small batches and few workers make each engine take many short
	// routing transactions, so the two interleave on the same orgs.
	a := c.Start("serve", "--until-idle", "--batch-size", "5", "--workers", "2", "-o", "json")
	b := c.Start("serve", "--until-idle", "--batch-size", "5", "--workers", "2", "-o", "json")
	ra, rb := a.Wait(3*time.Minute), b.Wait(3*time.Minute)
	for _, r := range []harness.Result{ra, rb} {
		if r.Code != 0 {
			t.Errorf("an engine did not exit 0:\n%s", r)
		}
	}
	sa, sb := decodeServe(t, ra), decodeServe(t, rb)
	t.Logf("engine A assigned %d in %.2fs, engine B assigned %d in %.2fs (capacity %d, items %d)",
		sa.Assigned, ra.Took.Seconds(), sb.Assigned, rb.Took.Seconds(), capacity, items)
	if sa.Stopped != "idle" || sb.Stopped != "idle" {
		t.Errorf("engines stopped %q and %q, want idle", sa.Stopped, sb.Stopped)
	}

	assigned := d.Int(`SELECT count(*) FROM work_items WHERE state = 'assigned'`)
	if assigned != capacity {
		t.Errorf("%d items assigned, want the total capacity %d", assigned, capacity)
	}
	if sa.Assigned+sb.Assigned != assigned {
		t.Errorf("the engines report %d + %d assignments, but %d items are assigned", sa.Assigned, sb.Assigned, assigned)
	}
	notFull := d.Int(`SELECT count(*) FROM agents a WHERE a.load <> a.capacity OR a.capacity <> (SELECT count(*)
		FROM work_items w WHERE w.org_id = a.org_id AND w.agent_id = a.id AND w.state = 'assigned')`)
	if notFull != 0 {
		t.Errorf("%d agents are not exactly at capacity (load = capacity = count of assigned items)", notFull)
	}
	checkOneAssignedEvent(t, d)
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'assigned'`); n != assigned {
		t.Errorf("%d `assigned` events for %d assigned items", n, assigned)
	}
	if n := d.Int(`SELECT count(*) FROM work_items`); n != items {
		t.Errorf("work_items has %d rows, want %d", n, items)
	}
	c.Must("verify")
}
