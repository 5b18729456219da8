package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// The incident's queue: the test deletes the revisions of its head items.
const (
	incidentOrg   = "org-0007"
	incidentQueue = "default"
)

// Acceptance "Stall detection": with the current revisions of a
// queue's head items deleted by raw SQL and serve running the legacy block
// policy, status flags the queue stalled with cause missing_revision within
// stall_after plus a few seconds (asserted: stall_after + 10s, for a loaded
// machine), check exits 2 with a CRITICAL line, and exactly one
// stall_detected event is written.
func TestStallDetectedUnderBlockPolicy(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "20", "--agents-per-org", "10", "--capacity", "5", "--items-per-org", "40")
	d := pgtest.Connect(t, dsn)
	heads := d.HeadItems(incidentOrg, incidentQueue, 3)
	d.DeleteCurrentRevisions(heads...)

	const stallAfter = 3 * time.Second
	serve := c.Start("serve", "--on-item-fault", "block", "--stall-after", "3s", "--duration", "3m")
	var snap *statusDoc
	var lastErr error
	var last harness.Result
	took, ok := harness.Poll(stallAfter+10*time.Second, 200*time.Millisecond, func() bool {
		if !serve.Running() {
			return false
		}
		last = c.Run("status", "--stall-after", "3s", "-o", "json")
		if last.Code != 0 {
			lastErr = fmt.Errorf("status exited %d", last.Code)
			return false
		}
		s, err := parseStatus([]byte(last.Stdout))
		if err != nil {
			lastErr = err
			return false
		}
		snap, lastErr = s, nil
		_, q := s.queue(incidentOrg, incidentQueue)
		return q != nil && q.Stalled && q.Cause == "missing_revision"
	})
	if !ok {
		t.Fatalf("status did not flag %s/%s stalled with cause missing_revision within stall_after + 10s (%s); last error %v\n%s\nserve:\n%s",
			incidentOrg, incidentQueue, took.Round(time.Millisecond), lastErr, last, serve.Stderr.String())
	}
	t.Logf("status flagged %s/%s stalled (missing_revision) %.2fs after serve started (stall_after %s)",
		incidentOrg, incidentQueue, time.Since(serve.Started).Seconds(), stallAfter)

	// The document says what is wrong, where.
	org, q := snap.queue(incidentOrg, incidentQueue)
	if snap.Summary.Health != "critical" || org.Health != "critical" || snap.Summary.StalledQueues < 1 {
		t.Errorf("summary health %q, org health %q, stalled_queues %d; want critical, critical, >= 1",
			snap.Summary.Health, org.Health, snap.Summary.StalledQueues)
	}
	if q.Head == nil || q.Head.Item != fmt.Sprint(heads[0]) {
		t.Errorf("head of the stalled queue is %+v, want item %d", q.Head, heads[0])
	} else if !strings.Contains(q.Head.LastError, "not found") || q.Head.AgeSeconds < stallAfter.Seconds() {
		t.Errorf("head %+v: want a last_error saying the revision is not found and an age over stall_after", *q.Head)
	}
	if q.Depth < len(heads) || q.AvailableCapacity <= 0 || q.OldestAgeSeconds < stallAfter.Seconds() {
		t.Errorf("stalled queue %+v: want depth >= %d, free capacity, and an oldest age over stall_after", *q, len(heads))
	}

	// Once the other queues have drained, the damaged queue is the only
	// stalled one: the block policy stops its own queue, no other.
	var others []string
	if _, ok := harness.Poll(60*time.Second, 250*time.Millisecond, func() bool {
		s, err := parseStatus([]byte(c.Run("status", "--stall-after", "3s", "-o", "json").Stdout))
		if err != nil {
			return false
		}
		others = s.stalled()
		return len(others) == 1
	}); !ok {
		t.Errorf("stalled queues %v, want only %s/%s", others, incidentOrg, incidentQueue)
	}

	r := c.Run("check", "--stall-after", "3s")
	if r.Code != 2 || !strings.HasPrefix(r.Stdout, "ROUTEOPS CRITICAL") ||
		!strings.Contains(r.Stdout, incidentOrg+"/"+incidentQueue) || !strings.Contains(r.Stdout, "missing_revision") {
		t.Errorf("check should exit 2 with a CRITICAL line naming %s/%s and missing_revision:\n%s", incidentOrg, incidentQueue, r)
	}
	if lines := strings.Count(strings.TrimRight(r.Stdout, "\n"), "\n"); lines != 0 {
		t.Errorf("check printed %d lines, want one:\n%s", lines+1, r)
	}

	// The serve's monitor records the stall once.
	if took, ok := harness.Poll(30*time.Second, 200*time.Millisecond, func() bool {
		return d.Int(`SELECT count(*) FROM events WHERE kind = 'stall_detected'`) > 0
	}); !ok {
		t.Errorf("no stall_detected event within %s", took)
	}
	serve.Interrupt()
	if r := serve.Wait(time.Minute); r.Code != 0 {
		t.Errorf("serve should exit 0 on SIGINT:\n%s", r)
	}
	rows := d.Map(`SELECT id, org_id || '/' || queue_id || ' ' || (detail->>'cause') FROM events WHERE kind = 'stall_detected'`)
	if len(rows) != 1 {
		t.Errorf("%d stall_detected events, want exactly one: %v", len(rows), rows)
	}
	for _, v := range rows {
		if want := incidentOrg + "/" + incidentQueue + " missing_revision"; v != want {
			t.Errorf("stall_detected event %q, want %q", v, want)
		}
	}
	if at := d.Int(`SELECT coalesce((extract(epoch FROM min(at)) * 1000)::bigint, 0) FROM events WHERE kind = 'stall_detected'`); at > 0 {
		t.Logf("stall_detected recorded %.2fs after serve started", float64(at-serve.Started.UnixMilli())/1000)
	}
	// The block policy left the head where it was, failing on it.
	if s := d.Str(`SELECT state || ' ' || (attempts > 0)::text FROM work_items WHERE id = $1`, heads[0]); s != "queued true" {
		t.Errorf("head item %d: state and attempted %q, want \"queued true\" under the block policy", heads[0], s)
	}
}

// repairPlanJSON is `repair plan -o json`, as documented.
type repairPlanJSON struct {
	Items []struct {
		Item       string          `json:"item"`
		Org        string          `json:"org"`
		Cause      string          `json:"cause"`
		Source     string          `json:"source"`
		Valid      bool            `json:"valid"`
		Attributes json.RawMessage `json:"attributes"`
	} `json:"items"`
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Acceptance "Recovery": under the default policy the damaged head
// items are quarantined; repair plan lists them valid from the journal;
// repair apply refuses without --yes and without a terminal; with --yes it
// restores byte-identical attributes in new revision rows without touching
// the old ones; verify exits 0; the items route; the timeline tells it all.
func TestRecoveryRepairsFromTheJournal(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "20", "--agents-per-org", "10", "--capacity", "5", "--items-per-org", "40")
	d := pgtest.Connect(t, dsn)
	heads := d.HeadItems(incidentOrg, incidentQueue, 3)
	original := d.Map(`SELECT w.id, r.attributes::text FROM work_items w JOIN work_item_revisions r
		ON r.org_id = w.org_id AND r.id = w.current_revision_id WHERE w.id = ANY($1)`, heads)
	oldRev := d.Map(`SELECT id, current_revision_id::text FROM work_items WHERE id = ANY($1)`, heads)
	enqueued := d.Map(`SELECT id, enqueued_at::text FROM work_items WHERE id = ANY($1)`, heads)
	d.DeleteCurrentRevisions(heads...)

	sum := decodeServe(t, c.Must("serve", "--until-idle", "-o", "json"))
	if sum.Quarantined != int64(len(heads)) {
		t.Errorf("serve quarantined %d items, want %d", sum.Quarantined, len(heads))
	}
	states := d.Map(`SELECT id, state || ' ' || fault_cause FROM work_items WHERE id = ANY($1)`, heads)
	for _, id := range heads {
		if states[id] != "quarantined missing_revision" {
			t.Fatalf("item %d is %q after serve, want quarantined missing_revision", id, states[id])
		}
	}

	// The plan: the documented shape, every item valid from the journal.
	r := c.Must("repair", "plan", "-o", "json")
	var raw struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &raw); err != nil {
		t.Fatalf("repair plan -o json: %v\n%s", err, r)
	}
	for i, it := range raw.Items {
		for _, k := range []string{"item", "org", "cause", "source", "valid", "attributes"} {
			if _, ok := it[k]; !ok {
				t.Errorf("repair plan items[%d] has no %q: %v", i, k, it)
			}
		}
	}
	var plan repairPlanJSON
	_ = json.Unmarshal([]byte(r.Stdout), &plan)
	planned := map[int64]bool{}
	for _, it := range plan.Items {
		var id int64
		fmt.Sscan(it.Item, &id)
		planned[id] = true
		if it.Org != incidentOrg || it.Cause != "missing_revision" || it.Source != "journal" || !it.Valid {
			t.Errorf("plan item %s: org %q cause %q source %q valid %v; want %s, missing_revision, journal, true",
				it.Item, it.Org, it.Cause, it.Source, it.Valid, incidentOrg)
		}
		if !jsonEqual(it.Attributes, []byte(original[id])) {
			t.Errorf("plan item %s would rebuild %s, want the original %s", it.Item, it.Attributes, original[id])
		}
	}
	if !sameIDs(sortedIDs(planned), heads) {
		t.Errorf("repair plan lists %v, want exactly %v", sortedIDs(planned), heads)
	}
	if r := c.Must("repair", "plan"); !strings.Contains(r.Stdout, "Dry run") {
		t.Errorf("the table plan should say it is a dry run:\n%s", r)
	}

	// Without --yes and without a terminal: refused, nothing changed.
	before := d.Digest()
	revsBefore := d.Map(`SELECT id, concat_ws('|', org_id, work_item_id, attributes::text, created_at, source)
		FROM work_item_revisions`)
	r = c.Expect(2, "repair", "apply")
	if !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("repair apply without --yes should say it needs --yes:\n%s", r)
	}
	if d.Digest() != before {
		t.Errorf("repair apply without --yes changed the database")
	}

	const operator = "oncall-olga"
	r = c.Must("repair", "apply", "--yes", "--operator", operator)
	if !strings.Contains(r.Stdout, fmt.Sprintf("repaired %d item(s)", len(heads))) || !strings.Contains(r.Stdout, "verify: clean") {
		t.Errorf("repair apply should report %d repairs and a clean verify:\n%s", len(heads), r)
	}
	now := d.Map(`SELECT w.id, concat_ws('|', w.state, w.current_revision_id, w.enqueued_at, r.attributes::text)
		FROM work_items w JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
		WHERE w.id = ANY($1)`, heads)
	for _, id := range heads {
		parts := strings.SplitN(now[id], "|", 4)
		if len(parts) != 4 {
			t.Errorf("item %d has no current revision after repair (%q)", id, now[id])
			continue
		}
		if parts[0] != "queued" {
			t.Errorf("item %d is %s after repair, want queued", id, parts[0])
		}
		if parts[1] == oldRev[id] {
			t.Errorf("item %d still points at revision %s: repair must write a new revision", id, parts[1])
		}
		if parts[2] != enqueued[id] {
			t.Errorf("item %d enqueued_at %s after repair, want the original %s", id, parts[2], enqueued[id])
		}
		if parts[3] != original[id] {
			t.Errorf("item %d attributes after repair:\n  %s\nwant byte-identical:\n  %s", id, parts[3], original[id])
		}
	}
	revsAfter := d.Map(`SELECT id, concat_ws('|', org_id, work_item_id, attributes::text, created_at, source)
		FROM work_item_revisions`)
	for id, v := range revsBefore {
		if revsAfter[id] != v {
			t.Errorf("revision %d changed: %q -> %q (history must not be edited)", id, v, revsAfter[id])
		}
	}
	if len(revsAfter) != len(revsBefore)+len(heads) {
		t.Errorf("%d revisions after repair, want %d old + %d new", len(revsAfter), len(revsBefore), len(heads))
	}
	c.Must("verify")
	if r := c.Must("repair", "apply", "--yes"); !strings.Contains(r.Stdout, "nothing to repair") {
		t.Errorf("a second repair apply should find nothing to repair:\n%s", r)
	}

	// The items route afterwards.
	sum = decodeServe(t, c.Must("serve", "--until-idle", "-o", "json"))
	if n := d.Int(`SELECT count(*) FROM work_items WHERE id = ANY($1) AND state = 'assigned'`, heads); n != int64(len(heads)) {
		t.Errorf("%d of the %d repaired items assigned after serve (%+v)", n, len(heads), sum)
	}
	checkAgents(t, d)

	// The timeline: faults, quarantines, repairs, and who.
	md := c.Must("timeline", "-o", "markdown").Stdout
	for _, want := range []string{"missing_revision", "quarantined", "repaired", operator} {
		if !strings.Contains(md, want) {
			t.Errorf("timeline -o markdown does not mention %q:\n%s", want, md)
		}
	}
	for _, id := range heads {
		if !strings.Contains(md, fmt.Sprintf("item %d", id)) {
			t.Errorf("timeline -o markdown does not mention item %d", id)
		}
	}
	var tl struct {
		Summary struct {
			Repaired  int      `json:"repaired"`
			Operators []string `json:"operators"`
		} `json:"summary"`
		Entries []struct {
			Kind  string `json:"kind"`
			Item  string `json:"item"`
			Actor string `json:"actor"`
		} `json:"entries"`
	}
	c.MustJSON(&tl, 0, "timeline", "-o", "json")
	kinds := map[string]map[string]string{}
	for _, e := range tl.Entries {
		if kinds[e.Item] == nil {
			kinds[e.Item] = map[string]string{}
		}
		kinds[e.Item][e.Kind] = e.Actor
	}
	for _, id := range heads {
		k := kinds[fmt.Sprint(id)]
		if _, ok := k["item_fault"]; !ok {
			t.Errorf("timeline -o json has no item_fault for item %d: %v", id, k)
		}
		if _, ok := k["quarantined"]; !ok {
			t.Errorf("timeline -o json has no quarantined for item %d: %v", id, k)
		}
		if k["revision_repaired"] != operator {
			t.Errorf("timeline -o json: revision_repaired of item %d by %q, want %q", id, k["revision_repaired"], operator)
		}
	}
	if tl.Summary.Repaired != len(heads) {
		t.Errorf("timeline summary says %d repaired, want %d", tl.Summary.Repaired, len(heads))
	}
}

// cleanupPlanJSON is `cleanup plan -o json`.
type cleanupPlanJSON struct {
	Eligible *int `json:"eligible"`
}

type cleanupResultJSON struct {
	Deleted int    `json:"deleted"`
	Stopped string `json:"stopped"`
}

// Acceptance "Cleanup": with every revision aged past the
// retention, cleanup removes exactly the unreferenced, superseded ones and
// keeps every referenced one; a second run deletes nothing; --max-rows
// caps a run.
func TestCleanupRemovesExactlyTheUnreferenced(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "5", "--items-per-org", "60")
	d := pgtest.Connect(t, dsn)
	// Some items point back at their oldest revision, as an edit undone
	// would: that older revision is referenced (kept) and the newest one is
	// not referenced but newest (kept too).
	repointed := d.Exec(`UPDATE work_items w SET current_revision_id = f.first
		FROM (SELECT org_id, work_item_id, min(id) AS first, count(*) AS n FROM work_item_revisions GROUP BY 1, 2) f
		WHERE f.org_id = w.org_id AND f.work_item_id = w.id AND f.n >= 3 AND w.id % 4 = 0`)
	if repointed == 0 {
		t.Fatal("the seed has no item with three revisions to repoint")
	}
	d.Exec(`UPDATE work_item_revisions SET created_at = now() - interval '40 days'`)

	all := d.Ints(`SELECT id FROM work_item_revisions ORDER BY id`)
	eligible := d.Ints(`SELECT r.id FROM work_item_revisions r
		WHERE r.created_at < now() - interval '720 hours'
		  AND NOT EXISTS (SELECT 1 FROM work_items w WHERE w.org_id = r.org_id AND w.current_revision_id = r.id)
		  AND r.id <> (SELECT max(n.id) FROM work_item_revisions n WHERE n.org_id = r.org_id AND n.work_item_id = r.work_item_id)
		ORDER BY r.id`)
	referenced := d.Ints(`SELECT DISTINCT current_revision_id FROM work_items`)
	t.Logf("%d revisions: %d eligible, %d referenced, %d items repointed to an older revision",
		len(all), len(eligible), len(referenced), repointed)
	if len(eligible) < 20 {
		t.Fatalf("only %d eligible revisions; the test needs more", len(eligible))
	}

	var plan cleanupPlanJSON
	c.MustJSON(&plan, 0, "cleanup", "plan", "--older-than", "720h", "-o", "json")
	if plan.Eligible == nil || *plan.Eligible != len(eligible) {
		t.Errorf("cleanup plan says eligible %v, want %d (computed in SQL)", plan.Eligible, len(eligible))
	}

	// --max-rows caps a run.
	const maxRows = 7
	var res cleanupResultJSON
	c.MustJSON(&res, 0, "cleanup", "apply", "--older-than", "720h", "--yes", "--max-rows", fmt.Sprint(maxRows), "-o", "json")
	left := d.Ints(`SELECT id FROM work_item_revisions ORDER BY id`)
	if res.Deleted != maxRows || len(all)-len(left) != maxRows || res.Stopped != "max_rows" {
		t.Errorf("cleanup apply --max-rows %d deleted %d (reported %d, stopped %q), want %d and stopped max_rows",
			maxRows, len(all)-len(left), res.Deleted, res.Stopped, maxRows)
	}

	c.MustJSON(&res, 0, "cleanup", "apply", "--older-than", "720h", "--yes", "-o", "json")
	if res.Deleted != len(eligible)-maxRows {
		t.Errorf("the full cleanup deleted %d, want the remaining %d", res.Deleted, len(eligible)-maxRows)
	}
	left = d.Ints(`SELECT id FROM work_item_revisions ORDER BY id`)
	elig := idSet(eligible)
	var kept []int64
	for _, id := range all {
		if !elig[id] {
			kept = append(kept, id)
		}
	}
	if !sameIDs(left, kept) {
		t.Errorf("after cleanup %d revisions are left, want exactly the %d not eligible", len(left), len(kept))
	}
	leftSet := idSet(left)
	for _, id := range referenced {
		if !leftSet[id] {
			t.Errorf("cleanup deleted revision %d, which an item references", id)
		}
	}
	if n := d.Int(`SELECT count(*) FROM work_items w WHERE NOT EXISTS (SELECT 1 FROM work_item_revisions r
		WHERE r.org_id = w.org_id AND r.id = w.current_revision_id)`); n != 0 {
		t.Errorf("%d items point at a revision that is gone", n)
	}

	c.MustJSON(&res, 0, "cleanup", "apply", "--older-than", "720h", "--yes", "-o", "json")
	if res.Deleted != 0 {
		t.Errorf("a second cleanup deleted %d, want 0", res.Deleted)
	}
	c.MustJSON(&plan, 0, "cleanup", "plan", "--older-than", "720h", "-o", "json")
	if plan.Eligible == nil || *plan.Eligible != 0 {
		t.Errorf("cleanup plan after cleanup says eligible %v, want 0", plan.Eligible)
	}
	if n := d.Int(`SELECT coalesce(sum((detail->>'deleted')::int), 0) FROM events WHERE kind = 'revisions_cleaned'`); n != int64(len(eligible)) {
		t.Errorf("revisions_cleaned events account for %d deletions, want %d", n, len(eligible))
	}
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'revisions_cleaned' AND actor <> $1`, harness.OperatorUser); n != 0 {
		t.Errorf("%d revisions_cleaned events are not attributed to %s", n, harness.OperatorUser)
	}
	c.Must("verify")
}
