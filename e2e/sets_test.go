package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// incidentFleet seeds 12 orgs with 420 queued items each: 5,040 items.
func incidentFleet(t *testing.T) (*harness.Bin, *pgtest.DB, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn).With("ROUTEOPS_DB_LOCK_TIMEOUT=2m")
	c.Must("seed", "--orgs", "12", "--agents-per-org", "3", "--capacity", "5", "--items-per-org", "420")
	d := pgtest.Connect(t, dsn)
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'queued'`); n != 5040 {
		t.Fatalf("seeded %d queued items, want 5040", n)
	}
	return c, d, dsn
}

// holdLock locks one item's row from another session until the returned
// function is called: a bulk batch that includes it waits there.
func holdLock(t *testing.T, dsn string, item int64) func() {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM work_items WHERE id = $1 FOR UPDATE`, item); err != nil {
		t.Fatal(err)
	}
	done := false
	release := func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// interrupted runs a bulk action until it has changed at least atLeast
// items under one operation and is waiting on the held lock, then kills
// it (kill -9: a crash, not a clean stop), and returns the operation id.
func interrupted(t *testing.T, c *harness.Bin, d *pgtest.DB, dsn string, lockItem int64, kind string, atLeast int64, args ...string) string {
	t.Helper()
	unlock := holdLock(t, dsn, lockItem)
	p := c.Start(args...)
	harness.WaitFor(t, fmt.Sprintf("%d %s events and a bulk batch waiting on the lock", atLeast, kind), 2*time.Minute, func() bool {
		if !p.Running() {
			t.Fatalf("routeops %s exited before the interruption:\n%s", strings.Join(args, " "), p.Output())
		}
		return d.Int(`SELECT count(*) FROM events WHERE kind = $1 AND operation_id IS NOT NULL`, kind) >= atLeast &&
			d.Int(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
	})
	p.Kill9()
	unlock()
	if n := d.Int(`SELECT count(DISTINCT operation_id) FROM events WHERE kind = $1 AND operation_id IS NOT NULL`, kind); n != 1 {
		t.Fatalf("the interrupted run's %s events carry %d operation ids", kind, n)
	}
	return d.Str(`SELECT min(operation_id) FROM events WHERE kind = $1 AND operation_id IS NOT NULL`, kind)
}

// onceEach checks that every item of the selection has exactly one event
// of kind, all under operation op, and returns how many there are.
func onceEach(t *testing.T, d *pgtest.DB, kind, op string, want int64) {
	t.Helper()
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = $1 AND operation_id = $2`, kind, op); n != want {
		t.Fatalf("%d %s events under %s, want %d", n, kind, op, want)
	}
	if n := d.Int(`SELECT count(*) FROM (SELECT work_item_id FROM events WHERE kind = $1 AND operation_id IS NOT NULL
		GROUP BY work_item_id HAVING count(*) > 1) x`, kind); n != 0 {
		t.Fatalf("%d items were %s twice", n, kind)
	}
	if n := d.Int(`SELECT count(DISTINCT operation_id) FROM events WHERE kind = $1 AND operation_id IS NOT NULL`, kind); n != 1 {
		t.Fatalf("%s events carry %d operation ids, want one for the interrupted and the resumed run", kind, n)
	}
	if n := d.Int(`SELECT count(*) FROM operations WHERE id = $1 AND finished_at IS NOT NULL`, op); n != 1 {
		t.Fatalf("operation %s is not marked finished", op)
	}
}

// planFirst checks that a run printed its plan before what it did.
func planFirst(t *testing.T, r harness.Result, plan, done string) {
	t.Helper()
	p, q := strings.Index(r.Stdout, plan), strings.Index(r.Stdout, done)
	if p < 0 || q < 0 || p > q {
		t.Fatalf("want the plan (%q) before the outcome (%q):\n%s", plan, done, r)
	}
}

// TestBulkActionsResumeAfterACrash: quarantine, release and repair of 5,040
// items across 12 orgs, each with the plan printed first, refused above
// --max, killed in the middle, and run again: the second run continues
// the same operation and no item is changed twice.
func TestBulkActionsResumeAfterACrash(t *testing.T) {
	c, d, dsn := incidentFleet(t)
	ids := d.Ints(`SELECT id FROM work_items ORDER BY id`)
	middle := ids[2600]

	// Above --max (1000 by default): the plan, exit 2, nothing changed.
	r := c.Expect(2, "quarantine", "--state", "queued", "--reason", "cleanup incident", "--yes")
	if !strings.Contains(r.Stdout, "Quarantine 5040 items") || !strings.Contains(r.Stderr, "--max 1000") {
		t.Fatalf("over --max:\n%s", r)
	}
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'quarantined'`); n != 0 {
		t.Fatalf("a refused bulk quarantine changed %d items", n)
	}
	// Without --yes and without a terminal: refused, nothing changed.
	c.Expect(2, "quarantine", "--state", "queued", "--reason", "cleanup incident", "--max", "6000")
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'quarantined'`); n != 0 {
		t.Fatalf("an unconfirmed bulk quarantine wrote %d events", n)
	}

	args := []string{"quarantine", "--state", "queued", "--reason", "cleanup incident", "--max", "6000", "--yes"}
	op := interrupted(t, c, d, dsn, middle, "quarantined", 2500, args...)
	r = c.Must(args...)
	planFirst(t, r, "continues operation "+op, "quarantined")
	if !strings.Contains(r.Stdout, "(operation "+op+", continued)") {
		t.Fatalf("the re-run did not continue %s:\n%s", op, r)
	}
	onceEach(t, d, "quarantined", op, 5040)
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'quarantined' AND quarantine_reason = 'cleanup incident'`); n != 5040 {
		t.Fatalf("%d items quarantined, want 5040", n)
	}

	// Release, killed in the middle; meanwhile 100 released items fault
	// again and are quarantined: the re-run leaves them alone.
	args = []string{"release", "--state", "quarantined", "--max", "6000", "--yes"}
	op = interrupted(t, c, d, dsn, middle, "released", 2500, args...)
	again := d.Ints(`SELECT work_item_id FROM events WHERE kind = 'released' AND operation_id = $1 ORDER BY 1 LIMIT 100`, op)
	qargs := []string{"quarantine", "--reason", "faulted again", "--yes"}
	for _, id := range again {
		qargs = append(qargs, fmt.Sprint(id))
	}
	c.Must(qargs...)
	r = c.Must(args...)
	planFirst(t, r, "continues operation "+op, "released")
	onceEach(t, d, "released", op, 5040)
	if n := d.Int(`SELECT count(*) FROM work_items WHERE state = 'quarantined'`); n != 100 {
		t.Fatalf("%d items quarantined after the release, want the 100 that faulted again", n)
	}

	// Repair: every current revision deleted (the incident); repaired
	// from the journal in chunks, killed in the middle, run again.
	d.DeleteCurrentRevisions(ids...)
	args = []string{"repair", "apply", "--waited-over", "1s", "--max", "6000", "--yes"}
	op = interrupted(t, c, d, dsn, middle, "revision_repaired", 2000, args...)
	r = c.Must(args...)
	planFirst(t, r, "continues operation "+op, "repaired")
	onceEach(t, d, "revision_repaired", op, 5040)
	c.Must("verify")
}

// TestReleaseAtARate: release --rate 100 of 1,000 items: no one-second
// window of the journal holds more than 100 releases.
func TestReleaseAtARate(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "4", "--agents-per-org", "2", "--capacity", "5", "--items-per-org", "250")
	c.Must("quarantine", "--org", "org-0001", "--reason", "hold", "--yes")
	for _, org := range []string{"org-0002", "org-0003", "org-0004"} {
		c.Must("quarantine", "--org", org, "--reason", "hold", "--yes")
	}
	d := pgtest.Connect(t, dsn)
	var out struct {
		Result struct {
			Changed   int    `json:"changed"`
			Operation string `json:"operation"`
		} `json:"result"`
	}
	c.MustJSON(&out, 0, "release", "--state", "quarantined", "--rate", "100", "--yes", "-o", "json")
	if out.Result.Changed != 1000 {
		t.Fatalf("released %d, want 1000", out.Result.Changed)
	}
	most := d.Int(`SELECT max(n) FROM (SELECT count(*) OVER (ORDER BY at RANGE BETWEEN CURRENT ROW AND '999999 microseconds' FOLLOWING) AS n
		FROM events WHERE kind = 'released' AND operation_id = $1) x`, out.Result.Operation)
	if most > 100 || most < 1 {
		t.Fatalf("the busiest one-second window of the journal holds %d releases, want at most 100", most)
	}
	if span := d.Int(`SELECT extract(epoch FROM max(at) - min(at))::bigint FROM events WHERE kind = 'released' AND operation_id = $1`,
		out.Result.Operation); span < 9 {
		t.Fatalf("1,000 releases at 100/s spanned %ds of the journal, want at least 9", span)
	}
}

// TestSelectorCountsEqualSQL: items list --count equals a direct SQL count
// for each filter, alone and combined.
func TestSelectorCountsEqualSQL(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "4", "--agents-per-org", "2", "--capacity", "3", "--items-per-org", "300")
	d := pgtest.Connect(t, dsn)
	// Ages in whole hours, so that --waited-over has no item near its edge.
	d.Exec(`UPDATE work_items SET enqueued_at = now() - (id % 5) * interval '1 hour' - interval '10 minutes'`)
	// The incident in org-0002: revisions deleted and corrupted, then an
	// engine pass quarantines them with their cause.
	d.DeleteCurrentRevisions(d.HeadItems("org-0002", "default", 5)...)
	d.CorruptAttributes(d.HeadItems("org-0002", "billing", 3), `{"priority": "high", "channel": "chat"}`)
	c.Must("serve", "--until-idle")
	rev := d.Int(`SELECT current_revision_id FROM work_items WHERE state = 'quarantined' AND fault_cause = 'missing_revision' ORDER BY id LIMIT 1`)
	someIDs := d.Ints(`SELECT id FROM work_items WHERE org_id = 'org-0003' ORDER BY id LIMIT 7`)
	// The attribute filter reads the journal copy when it is of the
	// current revision, else the current revision.
	attr := func(cond string) string {
		return `(CASE WHEN w.journal_revision_id = w.current_revision_id THEN w.journal_attributes ELSE
			(SELECT r.attributes FROM work_item_revisions r WHERE r.org_id = w.org_id AND r.id = w.current_revision_id) END) @> ` + cond
	}
	cases := []struct {
		args []string
		sql  string
	}{
		{nil, `true`},
		{[]string{"--org", "org-0002"}, `org_id = 'org-0002'`},
		{[]string{"--org", "org-0002", "--queue", "billing"}, `org_id = 'org-0002' AND queue_id = 'billing'`},
		{[]string{"--state", "assigned"}, `state = 'assigned'`},
		{[]string{"--state", "quarantined"}, `state = 'quarantined'`},
		{[]string{"--cause", "missing_revision"}, `fault_cause = 'missing_revision'`},
		{[]string{"--cause", "corrupt_revision"}, `fault_cause = 'corrupt_revision'`},
		{[]string{"--waited-over", "150m"}, `now() - enqueued_at > interval '150 minutes'`},
		{[]string{"--attr", "tier=gold"}, "(" + attr(`'{"tier": "gold"}'`) + " OR " + attr(`'{"tier": ["gold"]}'`) + ")"},
		{[]string{"--attr", "skills=billing"}, "(" + attr(`'{"skills": "billing"}'`) + " OR " + attr(`'{"skills": ["billing"]}'`) + ")"},
		{[]string{"--attr", "tier=gold", "--state", "queued"}, "state = 'queued' AND (" + attr(`'{"tier": "gold"}'`) + " OR " + attr(`'{"tier": ["gold"]}'`) + ")"},
		{[]string{"--attr", "priority=50"}, "(" + attr(`'{"priority": 50}'`) + " OR " + attr(`'{"priority": [50]}'`) + " OR " +
			attr(`'{"priority": "50"}'`) + " OR " + attr(`'{"priority": ["50"]}'`) + ")"},
		{[]string{"--revision", fmt.Sprint(rev)}, fmt.Sprintf(`current_revision_id = %d OR journal_revision_id = %d`, rev, rev)},
		{append([]string{"--org", "org-0003"}, idArgs(someIDs)...), fmt.Sprintf(`org_id = 'org-0003' AND id IN (%s)`, idCSV(someIDs))},
		{[]string{"--org", "org-0001", "--state", "queued", "--waited-over", "90m"},
			`org_id = 'org-0001' AND state = 'queued' AND now() - enqueued_at > interval '90 minutes'`},
	}
	for _, tc := range cases {
		want := d.Int(`SELECT count(*) FROM work_items w WHERE ` + tc.sql)
		var got struct{ Count int64 }
		c.MustJSON(&got, 0, append(append([]string{"items", "list"}, tc.args...), "--count", "-o", "json")...)
		if got.Count != want {
			t.Errorf("items list %s --count = %d, SQL counts %d", strings.Join(tc.args, " "), got.Count, want)
		}
		// And the listed pages add up to the same.
		var page struct {
			Items []json.RawMessage
			Next  int64
		}
		c.MustJSON(&page, 0, append(append([]string{"items", "list"}, tc.args...), "--limit", "10000", "-o", "json")...)
		if int64(len(page.Items)) != want {
			t.Errorf("items list %s lists %d items, SQL counts %d", strings.Join(tc.args, " "), len(page.Items), want)
		}
	}
	// An id outside the filters is refused; neither ids nor a filter is a
	// usage error.
	other := d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0004' AND state = 'queued'`)
	c.Expect(2, "quarantine", "--org", "org-0003", "--state", "queued", fmt.Sprint(other), "--reason", "x", "--yes")
	c.Expect(1, "quarantine", "--reason", "x", "--yes")
	c.Expect(1, "release", "--yes")
	c.Expect(1, "items", "list", "--queue", "default")
	c.Expect(1, "items", "list", "--attr", "tier")
	// A selection that matches nothing changes nothing and says so.
	r := c.Must("quarantine", "--org", "org-0001", "--attr", "tier=nobody", "--reason", "x", "--yes")
	if !strings.Contains(r.Stdout, "nothing changed") {
		t.Fatalf("empty selection:\n%s", r)
	}
}

func idArgs(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprint(id)
	}
	return out
}

func idCSV(ids []int64) string { return strings.Join(idArgs(ids), ",") }
