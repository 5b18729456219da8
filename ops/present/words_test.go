package present_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

func TestFormats(t *testing.T) {
	ages := map[float64]string{-3: "-", 0: "-", 0.4: "0s", 59: "59s", 60: "1m00s", 599: "9m59s", 600: "10m", 3599: "59m",
		3600: "1h00m", 35999: "9h59m", 36000: "10h", 86399: "23h", 86400: "1d", 864000: "10d"}
	for in, want := range ages {
		if got := present.Age(in); got != want || len(got) > 5 {
			t.Errorf("Age(%v) = %q, want %q (at most 5 cells)", in, got, want)
		}
	}
	if present.Duration(300*time.Millisecond) != "0s" || present.Duration(65*time.Second) != "1m05s" {
		t.Errorf("Duration: %q %q", present.Duration(300*time.Millisecond), present.Duration(65*time.Second))
	}
	at := time.Date(2026, 11, 28, 16, 4, 5, 0, time.FixedZone("CET", 3600))
	if present.Time(at) != "2026-11-28 15:04:05Z" || present.Clock(at) != "15:04:05Z" {
		t.Errorf("times are UTC with a Z: %q %q", present.Time(at), present.Clock(at))
	}
	if present.Count(999999) != "999999" || present.Count(1234567) != "1234k" || present.Count(2e9) != "2000M" ||
		present.Ratio(3, 1500000) != "3/1500k" {
		t.Error("counts")
	}
	if present.Scope("") != "all orgs" || present.Scope("o\x1b") != `o\x1b` {
		t.Error("scope")
	}
}

func TestHealthWords(t *testing.T) {
	words := map[ops.Health][2]string{
		ops.HealthCritical: {"✖ CRIT", "CRITICAL"}, ops.HealthWarning: {"▲ WARN", "WARNING"}, ops.HealthOK: {"● OK", "OK"},
	}
	for h, w := range words {
		if present.HealthWord(h) != w[0] || present.CheckWord(h) != w[1] {
			t.Errorf("%s: %q %q", h, present.HealthWord(h), present.CheckWord(h))
		}
	}
}

func head(item string, revision string, fault router.Cause) *ops.HeadHealth {
	return &ops.HeadHealth{Item: item, Revision: revision, FaultCause: fault}
}

// TestQueueStateRanking pins the one ranking: STALLED > PAUSED > starved >
// flowing, whatever combination the snapshot holds.
func TestQueueStateRanking(t *testing.T) {
	cases := []struct {
		name   string
		q      ops.QueueHealth
		state  present.State
		status string
	}{
		{"flowing", ops.QueueHealth{}, present.Flowing, "flowing"},
		{"starved", ops.QueueHealth{Starved: true, Cause: router.CauseNoCapacity}, present.Starved, "starved (no capacity)"},
		{"paused, empty", ops.QueueHealth{Paused: true}, present.Paused, "PAUSED"},
		{"paused outranks starved", ops.QueueHealth{Paused: true, Starved: true, Cause: router.CauseQueuePaused},
			present.Paused, "PAUSED"},
		{"paused with a broken head behind it", ops.QueueHealth{Paused: true, Cause: router.CauseQueuePaused,
			Head: head("1042", "missing", "")}, present.Paused, "PAUSED · head 1042 missing_revision"},
		{"paused with a head that faulted before", ops.QueueHealth{Paused: true, Cause: router.CauseQueuePaused,
			Head: head("7", "ok", router.CauseUnknownQueue)}, present.Paused, "PAUSED · head 7 unknown_queue"},
		{"head's team paused", ops.QueueHealth{Cause: router.CauseTeamPaused, Head: &ops.HeadHealth{Item: "9", Revision: "ok", Team: "t2"}},
			present.Paused, "PAUSED · team t2"},
		{"stalled", ops.QueueHealth{Stalled: true, Cause: router.CauseMissingRevision, Head: head("5", "missing", "")},
			present.Stalled, "STALLED missing_revision"},
		{"STALLED is never hidden behind PAUSED", ops.QueueHealth{Stalled: true, Paused: true, Cause: router.CauseCorruptRevision},
			present.Stalled, "STALLED corrupt_revision"},
		{"STALLED is never hidden behind starved", ops.QueueHealth{Stalled: true, Starved: true, Cause: router.CauseEngineDown},
			present.Stalled, "STALLED engine_down"},
	}
	for _, c := range cases {
		if got := present.QueueState(&c.q); got != c.state {
			t.Errorf("%s: state %s, want %s", c.name, got, c.state)
		}
		if got := present.QueueStatus(&c.q); got != c.status {
			t.Errorf("%s: status %q, want %q", c.name, got, c.status)
		}
	}
	if !(present.Stalled > present.Paused && present.Paused > present.Starved && present.Starved > present.Flowing) {
		t.Fatal("the ranking's order")
	}
	for _, s := range []present.State{present.Stalled, present.Paused, present.Starved, present.Flowing} {
		if len(s.String()) > 7 {
			t.Errorf("%q is wider than the console's 7-cell column", s)
		}
	}
	if present.StalledText(2, router.CauseMissingRevision) != "STALLED×2 missing_revision" || present.StalledText(0, "") != "" ||
		present.StalledText(1, "") != "STALLED" {
		t.Error("stalled text")
	}
}

func TestCheckLine(t *testing.T) {
	s := &ops.Snapshot{Engine: ops.EngineState{State: "running"}}
	s.Summary = ops.Summary{Orgs: 2, Queued: 7, StalledQueues: 1, Health: ops.HealthCritical}
	s.Orgs = []ops.OrgHealth{
		{Org: "org|\x1b]0;x\x07", Queues: []ops.QueueHealth{{Queue: "q", Stalled: true, Cause: router.CauseMissingRevision,
			Head: &ops.HeadHealth{Item: "5", AgeSeconds: 65}}}},
		{Org: "o2", Queues: []ops.QueueHealth{{Queue: "p", Health: ops.HealthWarning, Reason: "queue is paused with 2 waiting"}}},
	}
	line, stalled := present.CheckLine(s)
	want := `ROUTEOPS CRITICAL - 1 stalled queue(s): org¦\x1b]0;x\x07/q (missing_revision, head 5 waited 1m05s) | orgs=2 queued=7`
	if !strings.HasPrefix(line, want) || len(stalled) != 1 || stalled[0].Head != "5" {
		t.Fatalf("check line:\n got %q\nwant %q…", line, want)
	}
	if strings.Count(line, "|") != 1 {
		t.Fatalf("the data added a perfdata separator: %q", line)
	}
	s.Orgs, s.Summary.Health, s.Summary.StalledQueues = s.Orgs[1:], ops.HealthWarning, 0
	if line, stalled := present.CheckLine(s); !strings.HasPrefix(line, "ROUTEOPS WARNING - o2/p: queue is paused with 2 waiting |") || len(stalled) != 0 {
		t.Fatalf("warning line %q", line)
	}
	if got := present.CheckUnknownLine("dial tcp: refused\n"); got != "ROUTEOPS UNKNOWN - dial tcp: refused " {
		t.Fatalf("unknown line %q", got)
	}
}

func TestOutcomeSentences(t *testing.T) {
	ok := ops.Outcome{Item: "5", OK: true, Changed: true, Message: "item 5 quarantined"}
	same := ops.Outcome{Item: "5", OK: true, Message: "item 5 is already quarantined"}
	refused := ops.Outcome{Item: "6", Message: "only a queued item can be quarantined (item 6 is assigned)"}
	for got, want := range map[string]string{
		present.Outcome("quarantine", ok):                                           "item 5 quarantined",
		present.Outcome("quarantine", same):                                         "item 5 is already quarantined; nothing changed",
		present.Outcome("quarantine", refused):                                      "quarantine of item 6 refused: only a queued item can be quarantined (item 6 is assigned)",
		present.Outcome("release", ops.Outcome{Item: "7", OK: true, Changed: true}): "item 7 release",
		present.Refusals(1, 3):                                                      "1 of 3 items refused; see above",
		present.Cancelled("drill"):                                                  "drill cancelled; nothing changed",
		present.PauseOutcome(router.QueueRef{Org: "o", Queue: "q"}, true, router.ActionResult{Changed: true}):                       "queue o/q: pause done",
		present.PauseOutcome(router.QueueRef{Org: "o", Queue: "q"}, false, router.ActionResult{Message: "queue o/q is not paused"}): "queue o/q is not paused; nothing changed",
		present.DrillOutcome(ops.DrillMissingRevisions, "o1", []int64{1, 2, 3, 4, 5, 6}):                                            "drill missing-revisions injected on o1: 6 items (1, 2, 3, 4, 5, …)",
		present.DrillOutcome(ops.DrillMissingRevisions, "o1", nil):                                                                  "drill missing-revisions on o1: no queued items to break",
	} {
		if got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	rep := &ops.RepairReport{Repaired: 2, Released: 1, Skipped: 1, VerifyOK: true,
		Outcomes: []router.RepairOutcome{{ItemID: 9, Reason: "no surviving copy\x1b[2J"}}}
	lines := present.RepairLines(rep)
	if strings.Join(lines, "\n") != "repaired 2 item(s), 1 back in their queues; 1 left untouched\n  item 9: not repaired: no surviving copy\\x1b[2J\nverify: clean" {
		t.Fatalf("repair lines: %q", lines)
	}
	rep.VerifyOK, rep.Verify = false, &router.VerifyReport{Findings: []router.Finding{{}}}
	if got := present.RepairSummary(rep); got != "repair: 2 repaired (1 back in their queue), 1 skipped; verify: 1 finding(s); run `routeops verify` for details" {
		t.Fatalf("repair summary %q", got)
	}
	// Error: the store's class prefix dropped, the rest on one clean line.
	err := fmt.Errorf("%w: item 5 does not exist in org o\x1b[31m1", router.ErrNotFound)
	if got := present.Error(err); got != `item 5 does not exist in org o\x1b[31m1` {
		t.Fatalf("error %q", got)
	}
	if got := present.Error(fmt.Errorf("%w: item 5 is assigned", router.ErrConflict)); got != "item 5 is assigned" {
		t.Fatalf("conflict %q", got)
	}
	if got := present.Error(errors.New("dial tcp\nrefused")); got != "dial tcp refused" {
		t.Fatalf("plain error %q", got)
	}
}

func TestQuestions(t *testing.T) {
	ref := router.QueueRef{Org: "o1", Queue: "escalations"}
	for got, want := range map[string]string{
		present.AskQuarantine([]int64{5}, "head of o1/escalations", "bad rev"):        "Quarantine item 5 (head of o1/escalations)? reason: bad rev",
		present.AskQuarantine([]int64{5, 6}, "", "r\x1b"):                             `Quarantine 2 items (5, 6)? reason: r\x1b`,
		present.AskRelease([]int64{5}, ""):                                            "Release item 5 back to its queue, in its original place?",
		present.AskRelease([]int64{5, 6}, ""):                                         "Release 2 items (5, 6) back to their queues, in their original places?",
		present.AskPause(ref, true, 4):                                                "Pause queue o1/escalations? Routing stops for its 4 waiting items until resumed.",
		present.AskPause(ref, true, -1):                                               "Pause queue o1/escalations? Routing stops from it until resumed.",
		present.AskPause(ref, false, 4):                                               "Resume queue o1/escalations? Routing starts again.",
		present.AskRepair(&ops.RepairPlan{Repairable: 2, Fallbacks: 1, Unfixable: 1}): "Apply repair to 2 items (1 from a fallback source); 1 cannot be repaired and stay untouched?",
		present.AskDrill(ops.DrillCorruptRevisions, "o1", 3):                          "DRILL corrupt-revisions on o1: corrupt up to 3 items?",
		present.AskDrill(ops.DrillMissingRevisions, "o1", 3):                          "DRILL missing-revisions on o1: delete the revisions of up to 3 items?",
	} {
		if got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
}

func itemDetail() *ops.ItemDetail {
	t0 := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	d := &ops.ItemDetail{
		Item: router.WorkItem{ID: 42, OrgID: "org\x1b]0;t\x07", QueueID: "q", State: router.StateQuarantined, Priority: 90,
			Attempts: 3, EnqueuedAt: t0, CurrentRevisionID: 8812, LastError: "current revision 8812 not found",
			FaultCause: router.CauseMissingRevision, QuarantineReason: "rev 8812\u202e deleted"},
		Revisions: []ops.RevisionView{{ID: 8811, CreatedAt: t0, Source: "platform", Valid: true}},
		Revision:  "missing", Error: "current revision 8812 not found",
		Journal: &ops.JournalView{RevisionID: 8812, Valid: true},
		Events: []router.Event{{At: t0.Add(time.Second), Kind: router.EventItemFault, Actor: "engine:h:1"},
			{At: t0.Add(2 * time.Second), Kind: router.EventQuarantined, Actor: "alice", Origin: "203.0.113.7",
				Detail: []byte(`{"reason": "` + strings.Repeat("x", 10000) + `"}`)}},
	}
	d.Revisions[0].Attributes = []byte(`{"channel": "chat", "priority": 90}`)
	d.Journal.Attributes = []byte(`{"channel": "chat", "priority": 91}`)
	return d
}

func TestItemLines(t *testing.T) {
	d := itemDetail()
	now := d.Item.EnqueuedAt.Add(65 * time.Second)
	cli := strings.Join(present.ItemLines(d, now, present.ItemOptions{}), "\n")
	con := strings.Join(present.ItemLines(d, now, present.ItemOptions{Style: present.Console}), "\n")
	for _, want := range []string{"item 42 · org org\\x1b]0;t\\x07 · queue q · state quarantined",
		"enqueued 2026-11-28 15:00:00Z (waited 1m05s)", "current revision 8812: MISSING: current revision 8812 not found",
		"fault: missing_revision", "last error: current revision 8812 not found", `quarantine reason: rev 8812\u202e deleted`,
		"revision chain (1, oldest first):", " * rev 8812  MISSING: the current revision row is gone",
		"journal copy (kept on the item): revision 8812 · valid · {\"channel\": \"chat\", \"priority\": 91}",
		"events (2, oldest first):", "item_fault", "alice@203.0.113.7", "… 5918 bytes more"} {
		if !strings.Contains(cli, want) {
			t.Errorf("CLI item lines lack %q:\n%s", want, cli)
		}
	}
	for _, want := range []string{"Item 42", "Current revision", "MISSING", "Revision chain", "Journal copy (kept on the item)",
		"valid", "Events (", "item_fault", "Last error: current revision"} {
		if !strings.Contains(con, want) {
			t.Errorf("console item lines lack %q:\n%s", want, con)
		}
	}
	if r, bad := forbiddenIn(strings.ReplaceAll(cli, "\n", "")); bad {
		t.Fatalf("item lines emit U+%04X raw", r)
	}
	full := strings.Join(present.ItemLines(d, now, present.ItemOptions{MaxValue: -1}), "\n")
	if !strings.Contains(full, strings.Repeat("x", 10000)) {
		t.Fatal("MaxValue < 0 should show the whole detail")
	}
}

func TestPlanLines(t *testing.T) {
	p := &ops.RepairPlan{Repairable: 1, Unfixable: 1, Items: []ops.PlanItem{
		{Item: "5", Org: "o1", Queue: "q", State: "quarantined", Cause: router.CauseMissingRevision, Source: ops.SourceJournal,
			Valid: true, Attributes: []byte(`{"channel": "chat"}`)},
		{Item: "6", Org: "o1", Queue: "q", State: "queued", Cause: router.CauseCorruptRevision, Source: ops.SourceNone,
			Error: "no surviving copy\x1b[2J"},
	}}
	lines := present.PlanLines(p, "o1")
	want := []string{
		"2 items in o1: 1 repairable (0 from a fallback source), 1 cannot be repaired",
		"item 5  o1/q  quarantined  missing_revision  source journal  verdict valid  attributes {\"channel\": \"chat\"}",
		`item 6  o1/q  queued  corrupt_revision  source none  verdict INVALID: no surviving copy\x1b[2J  attributes -`,
	}
	if lines[0] != want[0] || lines[3] != want[1] || lines[4] != want[2] {
		t.Fatalf("plan lines:\n%s", strings.Join(lines, "\n"))
	}
}

func TestQueueDetailAndHead(t *testing.T) {
	stalled := &ops.QueueHealth{Queue: "q\x1b", Stalled: true, Cause: router.CauseMissingRevision, Reason: "no progress",
		Head: &ops.HeadHealth{Item: "5", AgeSeconds: 125, Attempts: 3, LastError: "revision 8 not found\n"}}
	paused := &ops.QueueHealth{Paused: true, Cause: router.CauseQueuePaused, Health: ops.HealthWarning,
		Reason: "queue is paused with 2 waiting; behind the pause, head 7 missing_revision"}
	for got, want := range map[string]string{
		present.QueueDetail(stalled): "missing_revision: revision 8 not found ",
		present.QueueDetail(&ops.QueueHealth{Stalled: true, Cause: router.CauseEngineDown, Reason: "no engine"}): "engine_down: no engine",
		present.QueueDetail(paused): "▲ WARN queue is paused with 2 waiting; behind the pause, head 7 missing_revision",
		present.QueueDetail(&ops.QueueHealth{Health: ops.HealthOK, Head: &ops.HeadHealth{LastError: "e\x1b"}}): `last error: e\x1b`,
		present.QueueDetail(&ops.QueueHealth{}):              "",
		present.HeadDesc("o1", stalled):                      `head of o1/q\x1b, waited 2m05s, attempts 3, STALLED missing_revision`,
		present.HeadDesc("o1", &ops.QueueHealth{Queue: "q"}): "",
	} {
		if got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	it := &router.WorkItem{Skipped: true, FaultCause: router.CauseCorruptRevision, AgentID: "a1",
		QuarantineReason: "bad\u202e", LastError: "invalid\njson"}
	if got := present.ItemNotes(it, true); got != `HEAD · skipped · corrupt_revision · agent a1 · reason: bad\u202e · invalid json` {
		t.Errorf("item notes %q", got)
	}
	if got := present.NoneRepairable(&ops.RepairPlan{Items: make([]ops.PlanItem, 2)}, "--allow-defaults"); got !=
		"repair: none of the 2 items can be repaired from a surviving copy; --allow-defaults rebuilds them from defaults" {
		t.Errorf("none repairable %q", got)
	}
	rep := &ops.RepairReport{Repaired: 2, Released: 2, VerifyOK: true}
	if got := present.RepairSummary(rep); got != "repair: 2 repaired (2 back in their queue), 0 skipped; verify clean" {
		t.Errorf("clean repair summary %q", got)
	}
}

func TestTimelineLines(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	to := t0.Add(95 * time.Second)
	tl := &ops.Timeline{Since: t0, Until: t0.Add(time.Hour), Events: 3, Truncated: true,
		Summary: ops.TimelineSummary{Faults: 2, FaultyItems: 1, Quarantined: 1, QuarantinedByOps: 1, StallsDetected: 1,
			StallsCleared: 1, Drills: 1, Operators: []string{"alice@203.0.113.7"},
			Stalls: []ops.StallSpan{{Org: "o1", Queue: "q", Cause: "missing_revision", From: t0, To: &to, Seconds: 95},
				{Org: "o1", Queue: "r", Cause: "engine_down", From: to, Seconds: -1}}},
		Entries: []ops.TimelineEntry{
			{At: t0, Until: &to, Org: "o1", Queue: "q", Actor: "engine:h:1", Summary: "item 5 faulted [x2]"},
			{At: to, Org: "o1", Actor: "alice", Origin: "203.0.113.7", Summary: "alice quarantined item 5: bad\x1b[2J"},
		}}
	want := []string{
		"Window 2026-11-28 15:00:00Z to 16:00:00Z · all orgs · 3 events (only the newest)",
		"Faults 2 on 1 items · quarantined 1 (by operators 1) · released 0 · repaired 0 · stalls 1 detected, 1 cleared · drills 1 · operators alice@203.0.113.7",
		"Stall o1/q (missing_revision): 15:00:00Z to 15:01:35Z, 1m35s",
		"Stall o1/r (engine_down): since 15:01:35Z, still open",
		"",
		"15:00:00Z–15:01:35Z  o1/q  item 5 faulted [x2]  (engine:h:1)",
		`15:01:35Z  o1  alice quarantined item 5: bad\x1b[2J  (alice@203.0.113.7)`,
	}
	if got := present.TimelineLines(tl); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	tl.Entries = nil
	if got := present.TimelineLines(tl); got[len(got)-1] != "Nothing happened in this window." {
		t.Fatalf("empty timeline ends %q", got[len(got)-1])
	}
}

func TestSparklineAndPauseNote(t *testing.T) {
	if got := present.Sparkline([]float64{0, 1, 2, 4, 8}); got != "▁▂▃▅█" {
		t.Errorf("Sparkline = %q", got)
	}
	if got := present.Sparkline([]float64{0, 0}); got != "▁▁" {
		t.Errorf("Sparkline of zeros = %q", got)
	}
	until := time.Date(2026, 11, 28, 15, 4, 5, 0, time.UTC)
	if got := present.PauseNote("alice", "backend\x1b[31m down", &until); got != `by alice: backend\x1b[31m down, until 2026-11-28 15:04:05Z` {
		t.Errorf("PauseNote = %q", got)
	}
	if got := present.PauseNote("", "", nil); got != "" {
		t.Errorf("PauseNote of nothing = %q", got)
	}
}
