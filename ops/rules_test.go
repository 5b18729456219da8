package ops_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// Pure tests of the rules the faces used to repeat.

func TestPolicyAllow(t *testing.T) {
	cases := []struct {
		name   string
		p      ops.Policy
		action string
		want   string // "" for allowed, else the error type
	}{
		{"a change on a writable store", ops.Policy{}, ops.ActionQuarantine, ""},
		{"read-only refuses every change", ops.Policy{ReadOnly: true}, ops.ActionRelease, "read-only"},
		{"read-only comes before the drill gate", ops.Policy{ReadOnly: true}, ops.ActionDrill, "read-only"},
		{"a drill on an unmarked database", ops.Policy{}, ops.ActionDrill, "drill"},
		{"a drill on the embedded demo", ops.Policy{Embedded: true}, ops.ActionDrill, ""},
		{"a drill on a database marked for drills", ops.Policy{DrillAllow: true}, ops.ActionDrill, ""},
		{"drill.allow opens no other door", ops.Policy{ReadOnly: true, DrillAllow: true}, ops.ActionRepair, "read-only"},
	}
	for _, c := range cases {
		err := c.p.Allow(c.action)
		var ro *ops.ReadOnlyError
		var dr *ops.DrillRefusedError
		switch c.want {
		case "":
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
		case "read-only":
			if !errors.As(err, &ro) || ro.Action != c.action || !errors.Is(err, ops.ErrReadOnly) ||
				!strings.Contains(err.Error(), "read-only mode: "+c.action+" refused") || !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("%s: %v", c.name, err)
			}
		case "drill":
			if !errors.As(err, &dr) || dr.Store != "this database" || !strings.Contains(err.Error(), "drill.allow: true") {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}
	if err := (ops.Policy{Store: "postgres://db/x"}).Allow(ops.ActionDrill); err == nil || !strings.Contains(err.Error(), "postgres://db/x is not marked") {
		t.Errorf("the refusal names the store: %v", err)
	}
}

// TestConfirmationPolicy: --yes runs; a terminal asks; neither refuses;
// read-only and the drill gate refuse before anything is asked.
func TestConfirmationPolicy(t *testing.T) {
	type want struct {
		ask bool
		err string
	}
	cases := []struct {
		p             ops.Policy
		action        string
		yes, terminal bool
		want          want
	}{
		{ops.Policy{}, ops.ActionRelease, true, false, want{}},
		{ops.Policy{}, ops.ActionRelease, true, true, want{}},
		{ops.Policy{}, ops.ActionRelease, false, true, want{ask: true}},
		{ops.Policy{}, ops.ActionRelease, false, false, want{err: "release needs --yes when there is no terminal to confirm on; nothing was changed"}},
		{ops.Policy{ReadOnly: true}, ops.ActionPause, true, true, want{err: "read-only mode: pause refused"}},
		{ops.Policy{}, ops.ActionDrill, false, false, want{err: "drill.allow"}},
		{ops.Policy{DrillAllow: true}, ops.ActionDrill, false, false, want{err: "--yes"}},
	}
	for _, c := range cases {
		ask, err := c.p.Confirm(c.action, c.yes, c.terminal)
		switch {
		case c.want.err == "" && (err != nil || ask != c.want.ask):
			t.Errorf("%+v %s yes=%v terminal=%v: ask=%v err=%v, want ask=%v", c.p, c.action, c.yes, c.terminal, ask, err, c.want.ask)
		case c.want.err != "" && (err == nil || ask || !strings.Contains(err.Error(), c.want.err)):
			t.Errorf("%+v %s yes=%v terminal=%v: ask=%v err=%v, want a refusal saying %q", c.p, c.action, c.yes, c.terminal, ask, err, c.want.err)
		}
	}
	var ce *ops.ConfirmationError
	if _, err := (ops.Policy{}).Confirm(ops.ActionCleanup, false, false); !errors.As(err, &ce) || ce.Action != ops.ActionCleanup {
		t.Errorf("confirmation error type: %v", err)
	}
}

func TestRequestRules(t *testing.T) {
	var re *ops.RequestError
	for _, err := range []error{
		ops.RequireReason(ops.ActionQuarantine, "  "),
		ops.CheckDrill("flood", "o1", 1),
		ops.CheckDrill(ops.DrillMissingRevisions, "", 1),
		ops.CheckDrill(ops.DrillMissingRevisions, "o1", 0),
		ops.CheckRetention(0),
	} {
		if !errors.As(err, &re) {
			t.Errorf("want a request error, got %v", err)
		}
	}
	if err := ops.RequireReason(ops.ActionQuarantine, ""); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("reason: %v", err)
	}
	if err := ops.CheckDrill("flood", "o1", 1); !strings.Contains(err.Error(), "missing-revisions") {
		t.Errorf("an unknown drill names the known ones: %v", err)
	}
	if ops.RequireReason(ops.ActionQuarantine, "bad head") != nil || ops.CheckDrill(ops.DrillCorruptRevisions, "o1", 2) != nil ||
		ops.CheckRetention(time.Hour) != nil {
		t.Error("a good request refused")
	}
}

func TestIncidentOrg(t *testing.T) {
	org := func(name string, queued, free int) ops.OrgHealth {
		return ops.OrgHealth{Org: name, Queued: queued, AvailableCapacity: free}
	}
	cases := []struct {
		orgs []ops.OrgHealth
		want string
	}{
		{nil, ""},
		// Free capacity first: there a stuck head is a stall, not starvation.
		{[]ops.OrgHealth{org("busy-full", 900, 0), org("quiet-free", 0, 3)}, "quiet-free"},
		// Among those, the busiest (queued counted up to 1000).
		{[]ops.OrgHealth{org("a", 5, 1), org("b", 50, 1), org("c", 2000, 0)}, "b"},
		{[]ops.OrgHealth{org("a", 1500, 1), org("b", 1200, 9)}, "b"},
		// Then the most free capacity, then the name.
		{[]ops.OrgHealth{org("a", 5, 1), org("b", 5, 4)}, "b"},
		{[]ops.OrgHealth{org("b", 5, 4), org("a", 5, 4)}, "a"},
		// No free capacity anywhere: the busiest.
		{[]ops.OrgHealth{org("a", 5, 0), org("b", 50, 0)}, "b"},
	}
	for _, c := range cases {
		if got := ops.IncidentOrg(&ops.Snapshot{Orgs: c.orgs}); got != c.want {
			t.Errorf("%+v: %q, want %q", c.orgs, got, c.want)
		}
	}
	if ops.IncidentOrg(nil) != "" {
		t.Error("nil snapshot")
	}
}

// TestPausedIsNeverStalled: a deliberate pause, of the queue or of the
// team its head needs, never stalls, whatever else is true; the reason
// says so and names a broken head behind the pause.
func TestPausedIsNeverStalled(t *testing.T) {
	free := []router.AgentGroup{group("t1", router.TeamActive, 3)}
	teams := []router.Team{{OrgID: "o1", ID: "t1", Status: router.TeamActive}, {OrgID: "o1", ID: "t2", Status: router.TeamPaused}}
	missing := &router.HeadItem{ID: 1042, EnqueuedAt: at(-10 * time.Minute), CurrentRevisionID: 8812, Attempts: 9}
	stale := []router.Heartbeat{{EngineID: "e1", BeatAt: at(-time.Hour)}}
	for _, hb := range [][]router.Heartbeat{freshBeat(), stale, nil} {
		qh := evalOne(t, router.QueueStats{Depth: 3, Paused: true, Head: missing}, free, teams, hb)
		if qh.Stalled || qh.Cause != router.CauseQueuePaused || qh.Health != ops.HealthWarning ||
			qh.Reason != "queue is paused with 3 waiting; behind the pause, head item 1042 is broken (missing_revision): current revision 8812 not found" {
			t.Fatalf("paused queue with a broken head (heartbeats %v): %+v", hb, qh)
		}
		qh = evalOne(t, router.QueueStats{Depth: 1, Head: head(7, at(-10*time.Minute), teamAttrs("t2", 1))}, free, teams, hb)
		if qh.Stalled || qh.Cause != router.CauseTeamPaused || qh.Health != ops.HealthWarning || qh.Head.Team != "t2" ||
			qh.Reason != "head needs team t2, which is paused" {
			t.Fatalf("team-paused head (heartbeats %v): %+v", hb, qh)
		}
	}
	// A sound head behind a pause: the reason says only the pause.
	qh := evalOne(t, router.QueueStats{Depth: 2, Paused: true, Head: head(8, at(-10*time.Minute), attrs(1))}, free, teams, freshBeat())
	if qh.Reason != "queue is paused with 2 waiting" {
		t.Fatalf("paused queue: %+v", qh)
	}
}

func TestConsoleRules(t *testing.T) {
	if got := (&ops.DemoOnlyError{Action: ops.ActionDrill}).Error(); got !=
		"drill: only on the embedded demo (routeops demo); on a database use routeops drill with drill.allow" {
		t.Errorf("demo-only refusal %q", got)
	}
	if ops.ConsoleReason("alice") != "quarantined from console by alice" || ops.ConsoleReason(" ") != "quarantined from console by operator" {
		t.Errorf("console reason %q", ops.ConsoleReason(""))
	}
	if ops.RequireReason(ops.ActionQuarantine, ops.ConsoleReason("")) != nil {
		t.Error("the console's default reason must satisfy the reason rule")
	}
	order := []ops.Health{ops.HealthOK, ops.HealthWarning, ops.HealthCritical}
	for i, a := range order {
		for j, b := range order {
			if a.Worse(b) != (i > j) {
				t.Errorf("%s.Worse(%s) = %v", a, b, a.Worse(b))
			}
		}
	}
}
