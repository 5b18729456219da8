package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

const incidentOrg = "org-0002"

// incidentWorld is a small block-policy demo that routed for 20 s, with
// five fresh items at the head of org-0002/escalations. It returns their
// ids, head first.
func incidentWorld(t testing.TB, cfg worldConfig) (*world, []int64) {
	t.Helper()
	if cfg.orgs == 0 {
		cfg.orgs, cfg.seed = 6, 11
	}
	if cfg.policy == "" {
		cfg.policy = router.PolicyBlock
	}
	w := newWorld(t, cfg)
	for range 20 {
		w.step(t, time.Second, true)
	}
	attrs := []byte(`{"priority":90,"channel":"chat","skills":["en"]}`)
	var ids []int64
	for range 5 {
		it, err := w.store.Enqueue(context.Background(), router.EnqueueRequest{OrgID: incidentOrg, QueueID: "escalations",
			Attributes: attrs, EnqueuedAt: w.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	return w, ids
}

// breakHead injects the incident into org-0002 directly and lets the
// engine fail on it for five seconds, past StallAfter (3 s).
func (w *world) breakHead(t testing.TB, head int64) {
	t.Helper()
	ids, err := w.ops.Drill(context.Background(), ops.DrillMissingRevisions, incidentOrg, 1)
	if err != nil || len(ids) != 1 || ids[0] != head {
		t.Fatalf("drill hit %v (%v), want the head %d", ids, err, head)
	}
	w.stall(t)
}

func (w *world) stall(t testing.TB) {
	t.Helper()
	for range 5 {
		w.clk.Advance(time.Second)
		w.route(t)
	}
}

func (w *world) itemState(t testing.TB, id int64) router.ItemState {
	t.Helper()
	it, err := w.store.GetItem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it.State
}

func stalledDriver(t *testing.T, cfg worldConfig, wd, ht int) (*world, []int64, *driver) {
	t.Helper()
	ro := cfg.readOnly
	cfg.readOnly = false
	w, ids := incidentWorld(t, cfg)
	w.breakHead(t, ids[0])
	w.setReadOnly(ro)
	return w, ids, newDriver(t, w.options(), wd, ht)
}

func lines(s string) []string { return strings.Split(s, "\n") }

// ---- fleet view ----

func TestFleetStalledOrgOnTop(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	ls := lines(d.view())
	if len(ls) != 24 {
		t.Fatalf("frame has %d lines, want 24", len(ls))
	}
	// Header, summary, column header, then the first row.
	for _, want := range []string{"embedded demo", "engine running (block)", "data 0s old", "op alice"} {
		if !strings.Contains(ls[0], want) {
			t.Errorf("header %q lacks %q", ls[0], want)
		}
	}
	if !strings.Contains(ls[1], "1 STALLED") {
		t.Errorf("summary %q lacks the stalled count", ls[1])
	}
	top := ls[3]
	for _, want := range []string{"> ✖ CRIT", incidentOrg, "STALLED missing_revision"} {
		if !strings.Contains(top, want) {
			t.Errorf("top row %q lacks %q", top, want)
		}
	}
	for _, l := range ls[4:10] {
		if strings.Contains(l, "org-") && !strings.Contains(l, "● OK") {
			t.Errorf("row %q: every other org is OK, with its symbol", l)
		}
	}
}

func TestFleetSelectionStaysOnTopOrFollowsOrg(t *testing.T) {
	snap := syntheticSnapshot(50, 0)
	m := New(Options{Color: "never", Clock: router.NewManualClock(t0)})
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	d.send(snapMsg{snap: snap})
	// A new snapshot whose order differs: the top row stays selected.
	snap2 := syntheticSnapshot(50, 7)
	if snap2.Orgs[0].Org == snap.Orgs[0].Org {
		t.Fatal("the two snapshots should put different orgs on top")
	}
	d.send(snapMsg{snap: snap2})
	if d.m.fleet.cursor != 0 || d.m.fleetRowAt(0).org != snap2.Orgs[0].Org {
		t.Fatalf("cursor moved off the top: %d", d.m.fleet.cursor)
	}
	// A selection further down follows its org.
	d.keys("j", "j", "j")
	picked := d.m.fleetRowAt(d.m.fleet.cursor).org
	d.send(snapMsg{snap: snap})
	if got := d.m.fleetRowAt(d.m.fleet.cursor).org; got != picked {
		t.Fatalf("selection jumped from %s to %s", picked, got)
	}
}

func TestFleetNavigation(t *testing.T) {
	m := New(Options{Color: "never", Clock: router.NewManualClock(t0)})
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.send(snapMsg{snap: syntheticSnapshot(500, 0)})
	rows := d.m.fleetRows()
	steps := []struct {
		key  string
		want int
	}{
		{"down", 1}, {"j", 2}, {"up", 1}, {"k", 0}, {"k", 0},
		{"pgdown", rows}, {"pgup", 0}, {"end", 499}, {"home", 0}, {"G", 499}, {"g", 0},
	}
	for _, s := range steps {
		d.keys(s.key)
		if d.m.fleet.cursor != s.want {
			t.Fatalf("after %s cursor %d, want %d", s.key, d.m.fleet.cursor, s.want)
		}
	}
	d.keys("end")
	v := d.view()
	if !strings.Contains(v, "> ") || !strings.Contains(v, d.m.fleetRowAt(499).org) {
		t.Fatalf("the last row is not on screen after end:\n%s", v)
	}
}

func TestFilterOrgRows(t *testing.T) {
	m := New(Options{Color: "never", Clock: router.NewManualClock(t0)})
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.send(snapMsg{snap: syntheticSnapshot(5000, 0)})
	d.keys("/")
	d.typeText("org-4999")
	if d.m.fleetLen() != 1 || d.m.fleetRowAt(0).org != "org-4999" {
		t.Fatalf("filter kept %d rows", d.m.fleetLen())
	}
	d.wantView("/org-4999█")
	d.keys("enter") // keeps the filter
	if d.m.mode != inputNone || d.m.fleetLen() != 1 {
		t.Fatalf("enter should keep the filter and close the prompt")
	}
	d.wantView("filter /org-4999 · 1 of 5000 orgs")
	d.keys("esc") // clears it
	if d.m.fleetLen() != 5000 {
		t.Fatalf("esc should clear the filter, %d rows", d.m.fleetLen())
	}
	// Backspace edits; esc in the prompt clears.
	d.keys("/")
	d.typeText("org-49")
	d.keys("backspace")
	if d.m.fleet.filter != "org-4" {
		t.Fatalf("filter %q after backspace", d.m.fleet.filter)
	}
	d.keys("esc")
	if d.m.fleet.filter != "" || d.m.mode != inputNone {
		t.Fatalf("esc in the prompt should clear the filter")
	}
	// Filtering by cause finds stalled orgs.
	d.keys("/")
	d.typeText("missing")
	for i := 0; i < d.m.fleetLen(); i++ {
		if d.m.fleetRowAt(i).cause != router.CauseMissingRevision {
			t.Fatalf("row %s does not match /missing", d.m.fleetRowAt(i).org)
		}
	}
}

// ---- org view and item actions ----

func openStalledOrg(t *testing.T, d *driver) {
	t.Helper()
	d.keys("enter")
	if d.m.view != viewOrg || d.m.org.name != incidentOrg {
		t.Fatalf("enter opened %v %q", d.m.view, d.m.org.name)
	}
	if q := d.m.selectedQueue(); q == nil || !q.Stalled {
		t.Fatalf("the org view should open on the stalled queue, got %+v", q)
	}
}

func TestOrgView(t *testing.T) {
	_, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
	openStalledOrg(t, d)
	v := d.view()
	for _, want := range []string{
		incidentOrg + " ✖ CRIT", "QUEUE", "escalations", "STALLED", "flowing", fmt.Sprint(ids[0]), "missing_revision: curr",
		"Items in escalations · queued · 5", "HEAD · missing_revision", "Agents ·", "available",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("org view lacks %q", want)
		}
	}
	// tab moves the focus; enter on an item opens it; esc comes back.
	d.keys("tab")
	if d.m.org.focus != paneItems {
		t.Fatalf("focus %v after tab", d.m.org.focus)
	}
	d.keys("enter")
	if d.m.view != viewItem || d.m.item.id != ids[0] {
		t.Fatalf("enter on the first item opened %v %d", d.m.view, d.m.item.id)
	}
	v = d.view()
	for _, want := range []string{"Current revision", "MISSING", "Revision chain", "Journal copy (kept on the item)",
		"valid", "Events (", "item_fault", "Last error: current revision"} {
		if !strings.Contains(v, want) {
			t.Errorf("item view lacks %q:\n%s", want, v)
		}
	}
	d.keys("esc")
	if d.m.view != viewOrg {
		t.Fatalf("esc from the item went to %v", d.m.view)
	}
	d.keys("tab", "down", "tab")
	if d.m.org.focus != paneQueues {
		t.Fatalf("three tabs should cycle back to the queues")
	}
	d.keys("esc")
	if d.m.view != viewFleet {
		t.Fatalf("esc from the org went to %v", d.m.view)
	}
}

func TestQuarantineHeadConfirmed(t *testing.T) {
	w, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
	openStalledOrg(t, d)
	d.keys("x")
	if d.m.confirm == nil {
		t.Fatal("x should ask first")
	}
	d.wantView(fmt.Sprintf("Quarantine item %d (head of %s/escalations", ids[0], incidentOrg))
	d.wantView("y/N")
	if got := w.itemState(t, ids[0]); got != router.StateQueued {
		t.Fatalf("nothing may change before y: %s", got)
	}
	d.keys("y")
	if got := w.itemState(t, ids[0]); got != router.StateQuarantined {
		t.Fatalf("after y the head is %s", got)
	}
	d.wantStatus(fmt.Sprintf("item %d quarantined", ids[0]))
	if d.m.statusKind != statusOK || d.m.busy != 0 {
		t.Fatalf("status kind %v busy %d", d.m.statusKind, d.m.busy)
	}
	// The refresh after the action shows the new head.
	if q := d.m.selectedQueue(); q.Head == nil || q.Head.Item == fmt.Sprint(ids[0]) {
		t.Fatalf("the head did not change: %+v", q.Head)
	}
}

func TestQuarantineOtherKeyCancels(t *testing.T) {
	for _, k := range []string{"n", "N", "esc", "enter", "x", "q", "j"} {
		t.Run(k, func(t *testing.T) {
			w, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
			openStalledOrg(t, d)
			d.keys("x", k)
			if d.m.confirm != nil || d.quit {
				t.Fatalf("%s should cancel, not quit or keep asking", k)
			}
			d.wantStatus("quarantine cancelled; nothing changed")
			if got := w.itemState(t, ids[0]); got != router.StateQueued {
				t.Fatalf("cancelled, yet the item is %s", got)
			}
		})
	}
}

func TestQuarantineFromFleetAndCommandLine(t *testing.T) {
	w, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
	// From the fleet, x takes the stalled org's stalled head.
	d.keys("x")
	d.wantView(fmt.Sprintf("Quarantine item %d", ids[0]))
	d.keys("n")
	// :quarantine ID REASON asks with that reason.
	d.keys(":")
	d.typeText(fmt.Sprintf("quarantine %d bad revision, see INC-42", ids[1]))
	d.keys("enter")
	if d.m.confirm == nil || !strings.Contains(d.m.confirm.prompt, "bad revision, see INC-42") {
		t.Fatalf("prompt %+v", d.m.confirm)
	}
	d.keys("y")
	if got := w.itemState(t, ids[1]); got != router.StateQuarantined {
		t.Fatalf(":quarantine left the item %s", got)
	}
	it, _ := w.store.GetItem(context.Background(), ids[1])
	if it.QuarantineReason != "bad revision, see INC-42" {
		t.Fatalf("reason %q", it.QuarantineReason)
	}
	// On an OK org without a stalled head, x explains instead of asking.
	d.keys("end", "x")
	if d.m.confirm != nil {
		t.Fatal("x on an org without a stalled head must not ask")
	}
	d.wantStatus("open the org")
}

func TestReleaseConfirmed(t *testing.T) {
	w, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
	openStalledOrg(t, d)
	d.keys("x", "y")
	// u on the queue pane explains how to pick a quarantined item.
	d.keys("u")
	if d.m.confirm != nil {
		t.Fatal("u on the queues must not guess an item")
	}
	d.wantStatus("pick a quarantined item")
	// s lists quarantined items; u then releases the selected one.
	d.keys("tab", "s")
	d.wantView("Items in escalations · quarantined · 1")
	d.keys("u")
	d.wantView(fmt.Sprintf("Release item %d", ids[0]))
	d.keys("esc")
	d.wantStatus("release cancelled")
	if got := w.itemState(t, ids[0]); got != router.StateQuarantined {
		t.Fatalf("cancelled release changed the item to %s", got)
	}
	d.keys("u", "y")
	if got := w.itemState(t, ids[0]); got != router.StateQueued {
		t.Fatalf("released item is %s", got)
	}
	d.wantStatus(fmt.Sprintf("item %d released to escalations", ids[0]))
	// From the item view too, via :release.
	d.keys(":")
	d.typeText(fmt.Sprint(ids[0]))
	d.keys("esc", ":")
	d.typeText(fmt.Sprintf("release %d", ids[0]))
	d.keys("enter", "y")
	d.wantStatus("already queued; nothing changed")
}

func TestPauseResume(t *testing.T) {
	w, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	openStalledOrg(t, d)
	paused := func() bool {
		qs, err := w.store.ListQueues(context.Background(), incidentOrg)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.ID == "escalations" {
				return q.Paused
			}
		}
		t.Fatal("no escalations queue")
		return false
	}
	d.keys("p")
	d.wantView("Pause queue " + incidentOrg + "/escalations?")
	d.keys("n")
	d.wantStatus("pause cancelled")
	if paused() {
		t.Fatal("cancelled pause paused the queue")
	}
	d.keys("p", "y")
	if !paused() {
		t.Fatal("y did not pause")
	}
	d.wantStatus("paused")
	d.wantView("paused")
	d.keys("p")
	d.wantView("Resume queue " + incidentOrg + "/escalations?")
	d.keys("y")
	if paused() {
		t.Fatal("y did not resume")
	}
	d.wantStatus("escalations flowing")
	// Outside the org view p explains.
	d.keys("esc", "p")
	if d.m.confirm != nil {
		t.Fatal("p in the fleet view must not ask")
	}
	d.wantStatus(":pause ORG/QUEUE")
}

func quarantinePolicyWorld(t *testing.T) (*world, []int64, *driver) {
	t.Helper()
	w, ids := incidentWorld(t, worldConfig{orgs: 6, seed: 11, policy: router.PolicyQuarantine})
	got, err := w.ops.Drill(context.Background(), ops.DrillMissingRevisions, incidentOrg, 2)
	if err != nil || len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("drill: %v %v", got, err)
	}
	w.stall(t) // the engine quarantines both
	for _, id := range got {
		if s := w.itemState(t, id); s != router.StateQuarantined {
			t.Fatalf("engine left item %d %s", id, s)
		}
	}
	return w, got, newDriver(t, w.options(), 100, 30)
}

func TestRepairShowsPlanThenApplies(t *testing.T) {
	w, broken, d := quarantinePolicyWorld(t)
	d.keys("R")
	if d.m.view != viewRepair || d.m.confirm == nil {
		t.Fatalf("R should show the plan and ask: view %v", d.m.view)
	}
	v := d.view()
	for _, id := range broken {
		if !strings.Contains(v, fmt.Sprintf("item %d  %s/escalations  quarantined  missing_revision  source journal  verdict valid", id, incidentOrg)) {
			t.Errorf("plan lacks item %d with its source and verdict:\n%s", id, v)
		}
	}
	d.wantView("Apply repair to 2 items? y/N")
	// Scrolling the plan does not answer the question.
	d.keys("down", "up")
	if d.m.confirm == nil {
		t.Fatal("scrolling cancelled the repair")
	}
	d.keys("y")
	d.wantStatus("repair: 2 repaired (2 back in their queue), 0 skipped; verify clean")
	if d.m.view != viewFleet {
		t.Fatalf("after the repair the view is %v", d.m.view)
	}
	for _, id := range broken {
		if s := w.itemState(t, id); s != router.StateQueued {
			t.Fatalf("repaired item %d is %s", id, s)
		}
	}
	// Nothing left: R says so without a question.
	d.keys("R")
	if d.m.confirm != nil || d.m.view != viewFleet {
		t.Fatal("an empty plan must not ask")
	}
	d.wantStatus("nothing to repair")
}

func TestRepairCancelled(t *testing.T) {
	w, broken, d := quarantinePolicyWorld(t)
	d.keys(":")
	d.typeText("repair " + incidentOrg)
	d.keys("enter")
	d.wantView("Repair plan for " + incidentOrg)
	d.keys("n")
	d.wantStatus("repair cancelled; nothing changed")
	if s := w.itemState(t, broken[0]); s != router.StateQuarantined {
		t.Fatalf("cancelled repair changed the item to %s", s)
	}
	plan, err := w.ops.PlanRepair(context.Background(), incidentOrg, false)
	if err != nil || len(plan.Items) != 2 {
		t.Fatalf("plan after cancel: %v %v", plan, err)
	}
	d.keys("esc")
	if d.m.view != viewFleet {
		t.Fatalf("esc from the plan went to %v", d.m.view)
	}
}

func TestDrill(t *testing.T) {
	w, ids := incidentWorld(t, worldConfig{})
	d := newDriver(t, w.options(), 80, 24)
	d.keys(":")
	d.typeText("org " + incidentOrg)
	d.keys("enter", "D")
	d.wantView("DRILL missing-revisions on " + incidentOrg + ": delete the revisions of up to 3 items? y/N")
	d.keys("n")
	d.wantStatus("drill cancelled")
	d.keys("D", "y")
	d.wantStatus("drill missing-revisions injected on " + incidentOrg + ": 3 items (")
	plan, _ := w.ops.PlanRepair(context.Background(), incidentOrg, false)
	if len(plan.Items) != 3 || plan.Items[0].Item != fmt.Sprint(ids[0]) {
		t.Fatalf("drill broke %+v", plan.Items)
	}
	// Not on a database.
	opts := w.options()
	opts.Demo = false
	d2 := newDriver(t, opts, 80, 24)
	d2.keys("D")
	if d2.m.confirm != nil {
		t.Fatal("drill outside the demo must not ask")
	}
	d2.wantStatus("only on the embedded demo")
	if strings.Contains(d2.m.help.FullHelpView(d2.m.helpKeyMap().FullHelp()), "drill") {
		t.Fatal("help lists the drill outside the demo")
	}
}

func TestIncidentPlan(t *testing.T) {
	w, ids := incidentWorld(t, worldConfig{})
	opts := w.options()
	opts.Incident = &IncidentPlan{Org: incidentOrg}
	d := newDriver(t, opts, 80, 24)
	d.send(incidentDueMsg{})
	// The incident enqueues its own victim at the head of the top queue
	// (ops.InjectIncident), so the broken item is a new one.
	d.wantStatus(fmt.Sprintf("incident: drill missing-revisions injected on %s: 1 items (", incidentOrg))
	plan, err := w.ops.PlanRepair(context.Background(), incidentOrg, false)
	if err != nil || len(plan.Items) != 1 || plan.Items[0].Item == fmt.Sprint(ids[0]) || plan.Items[0].Cause != router.CauseMissingRevision {
		t.Fatalf("incident broke %+v (%v); want one new item with a missing revision", plan.Items, err)
	}
	// No org named: the busiest org of the first snapshot.
	opts.Incident = &IncidentPlan{Count: 2}
	d2 := &driver{t: t, m: New(opts)}
	d2.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d2.send(incidentDueMsg{})
	d2.wantStatus("waiting for the first snapshot")
	d2.run(d2.m.fetchSnapshot())
	d2.wantStatus("injected on " + incidentOrg + ": 2 items")
	// An org with nothing queued still gets its incident: the victims are
	// enqueued first.
	opts.Incident = &IncidentPlan{Org: "org-0001"}
	d3 := newDriver(t, opts, 80, 24)
	d3.send(incidentDueMsg{})
	d3.wantStatus("incident: drill missing-revisions injected on org-0001: 1 items")
}

func TestReadOnlyRefusesActions(t *testing.T) {
	w, ids, d := stalledDriver(t, worldConfig{readOnly: true}, 80, 24)
	ls := lines(d.view())
	if !strings.HasPrefix(ls[1], "READ-ONLY ") {
		t.Fatalf("no read-only badge: %q", ls[1])
	}
	openStalledOrg(t, d)
	for _, c := range []struct{ key, action string }{
		{"x", "quarantine"}, {"u", "release"}, {"R", "repair"}, {"p", "pause"}, {"D", "drill"},
	} {
		d.keys(c.key)
		if d.m.confirm != nil {
			t.Fatalf("%s asked in read-only mode", c.key)
		}
		d.wantStatus("read-only mode: " + c.action + " refused")
		if d.m.statusKind != statusErr {
			t.Fatalf("%s refusal is not shown as an error", c.key)
		}
	}
	d.keys(":")
	d.typeText(fmt.Sprintf("quarantine %d", ids[0]))
	d.keys("enter")
	d.wantStatus("read-only mode: quarantine refused")
	if got := w.itemState(t, ids[0]); got != router.StateQueued {
		t.Fatalf("read-only changed the item to %s", got)
	}
	// The help hides the actions.
	d.keys("?")
	ls = lines(d.view())
	v := strings.Join(ls[2:len(ls)-2], "\n") // the body: the status line still says what was refused
	for _, hidden := range []string{"quarantine", "repair", "release", "pause", "drill"} {
		if strings.Contains(v, hidden) {
			t.Errorf("read-only help shows %q:\n%s", hidden, v)
		}
	}
}

// ---- help, command line, quitting ----

func TestHelpListsActions(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	short := lines(d.view())[23]
	for _, want := range []string{"x quarantine", "R repair"} {
		if !strings.Contains(short, want) {
			t.Errorf("short help %q lacks %q", short, want)
		}
	}
	d.keys("?")
	v := d.view()
	for _, want := range []string{"x quarantine item", "R repair: plan, confirm", "u release item", "p pause/resume queue",
		"D drill (demo)", "/     filter", ":org NAME", ":stalled", "esc   back", "q      quit"} {
		if !strings.Contains(v, want) {
			t.Errorf("full help lacks %q", want)
		}
	}
	d.keys("?")
	if d.m.showHelp {
		t.Fatal("? should close the help")
	}
	d.keys("?", "esc")
	if d.m.showHelp {
		t.Fatal("esc should close the help")
	}
}

func TestCommandLine(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	cmd := func(s string) {
		t.Helper()
		d.keys(":")
		d.typeText(s)
		d.wantView(":" + s + "█")
		d.keys("enter")
	}
	cmd("org org-0005")
	if d.m.view != viewOrg || d.m.org.name != "org-0005" {
		t.Fatalf(":org opened %v %s", d.m.view, d.m.org.name)
	}
	cmd("org 0004") // a unique substring
	if d.m.org.name != "org-0004" {
		t.Fatalf(":org 0004 opened %s", d.m.org.name)
	}
	cmd("org nosuch")
	d.wantStatus(`no org matches "nosuch"`)
	cmd("org org")
	d.wantStatus("matches several orgs")
	cmd("stalled")
	if d.m.view != viewFleet || d.m.fleetLen() != 1 || d.m.fleetRowAt(0).org != incidentOrg {
		t.Fatalf(":stalled shows %d rows", d.m.fleetLen())
	}
	d.wantView("stalled only · 1 of 6 orgs")
	d.wantStatus("1 orgs with stalled queues")
	cmd("all")
	if d.m.fleetLen() != 6 {
		t.Fatalf(":all shows %d rows", d.m.fleetLen())
	}
	cmd("timeline")
	if d.m.view != viewTimeline || d.m.tl.org != "" {
		t.Fatalf(":timeline opened %v %q", d.m.view, d.m.tl.org)
	}
	d.wantView("DRILL by alice: missing-revisions on 1 items")
	d.wantView("left blocking its queue (block policy)")
	d.keys("esc")
	cmd("bogus")
	d.wantStatus("unknown command :bogus")
	if d.m.statusKind != statusErr {
		t.Fatal("an unknown command is an error")
	}
	// Backspace on an empty command line closes it.
	d.keys(":", "backspace")
	if d.m.mode != inputNone {
		t.Fatal("backspace on an empty : should close it")
	}
	cmd("q")
	if !d.quit {
		t.Fatal(":q did not quit")
	}
}

func TestTimelineKey(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 120, 40)
	openStalledOrg(t, d)
	d.keys("t")
	if d.m.view != viewTimeline || d.m.tl.org != incidentOrg {
		t.Fatalf("t in the org view opened %v %q", d.m.view, d.m.tl.org)
	}
	d.wantView("Timeline of " + incidentOrg)
	d.wantView("Faults 5 on 1 items")
	d.keys("end", "home", "esc")
	if d.m.view != viewOrg {
		t.Fatalf("esc from the timeline went to %v", d.m.view)
	}
}

func TestQuit(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	d.keys("q")
	if !d.quit {
		t.Fatal("q should quit when nothing runs")
	}
	// While an action runs, q asks first.
	_, _, d = stalledDriver(t, worldConfig{}, 80, 24)
	d.m.busy, d.m.busyWhat = 1, "repair"
	d.keys("q")
	if d.quit || d.m.confirm == nil || !d.m.confirm.quit {
		t.Fatal("q while an action runs should ask")
	}
	d.wantView("repair is still running. Quit anyway? y/N")
	d.keys("n")
	if d.quit {
		t.Fatal("n should not quit")
	}
	d.wantStatus("quit cancelled")
	d.keys("q", "y")
	if !d.quit {
		t.Fatal("q then y should quit")
	}
	// ctrl+c always quits: in a question, in a prompt, in the help.
	for _, pre := range [][]string{{"x"}, {":"}, {"/"}, {"?"}} {
		_, _, d = stalledDriver(t, worldConfig{}, 80, 24)
		d.m.busy = 1
		d.keys(pre...)
		d.keys("ctrl+c")
		if !d.quit {
			t.Fatalf("ctrl+c after %v did not quit", pre)
		}
	}
}

// ---- terminals ----

func TestTooSmallAndResize(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	d.send(tea.WindowSizeMsg{Width: 59, Height: 24})
	d.wantView("terminal too small")
	d.wantView("59x24, routeops needs 60x15")
	d.send(tea.WindowSizeMsg{Width: 80, Height: 14})
	d.wantView("terminal too small")
	// Keys other than quit do nothing meanwhile.
	d.keys("enter", "x")
	if d.m.view != viewFleet || d.m.confirm != nil {
		t.Fatal("keys acted on a too-small terminal")
	}
	d.send(tea.WindowSizeMsg{Width: 60, Height: 15})
	if strings.Contains(d.view(), "too small") {
		t.Fatal("60x15 is enough")
	}
	d.keys("q")
	if !d.quit {
		t.Fatal("q quits")
	}
}

// Every view fits the terminal at every size: no line wider than the
// terminal, never more lines than it has.
func TestFramesFit(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	views := []struct {
		name string
		keys []string
	}{
		{"fleet", nil}, {"org", []string{"enter"}}, {"items", []string{"enter", "tab"}},
		{"item", []string{"enter", "tab", "enter"}}, {"timeline", []string{"t"}}, {"help", []string{"?"}},
		{"prompt", []string{"enter", "x"}}, {"filter", []string{"/"}},
	}
	for _, size := range [][2]int{{60, 15}, {80, 24}, {100, 30}, {120, 40}, {200, 60}} {
		for _, v := range views {
			d.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			d.m.toFleet()
			d.m.showHelp, d.m.confirm, d.m.mode = false, nil, inputNone
			d.keys(v.keys...)
			frame := d.view()
			ls := lines(frame)
			if len(ls) > size[1] {
				t.Errorf("%s at %dx%d: %d lines", v.name, size[0], size[1], len(ls))
			}
			for i, l := range ls {
				if w := width(stripStyle(l)); w > size[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide: %q", v.name, size[0], size[1], i, w, l)
				}
			}
			if strings.Contains(frame, "\x1b[") {
				t.Errorf("%s: escape sequences with colour off", v.name)
			}
		}
	}
}

func TestColour(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		mode string
		env  func(string) string
		want bool
	}{
		{"auto", env(), true}, {"always", env(), true}, {"never", env(), false},
		{"auto", env("NO_COLOR", "1"), false}, {"always", env("NO_COLOR", "1"), false},
		{"auto", env("NO_COLOR", ""), true},
	}
	for _, c := range cases {
		if got := colorWanted(c.mode, c.env); got != c.want {
			t.Errorf("colorWanted(%s, %v) = %v", c.mode, c.env("NO_COLOR"), got)
		}
	}
	detect := func(p colorprofile.Profile) func() colorprofile.Profile {
		return func() colorprofile.Profile { return p }
	}
	if p, ok := colorProfile("never", false, detect(colorprofile.TrueColor)); !ok || p != colorprofile.ASCII {
		t.Errorf("never: %v %v", p, ok)
	}
	if p, ok := colorProfile("always", true, detect(colorprofile.NoTTY)); !ok || p != colorprofile.ANSI {
		t.Errorf("always on a pipe: %v %v", p, ok)
	}
	if _, ok := colorProfile("auto", true, detect(colorprofile.NoTTY)); ok {
		t.Error("auto should let Bubble Tea detect")
	}
	// With colour the frame has escapes; a colourless profile turns them off.
	w, ids := incidentWorld(t, worldConfig{})
	w.breakHead(t, ids[0])
	opts := w.options()
	opts.Color = "always"
	t.Setenv("NO_COLOR", "")
	d := newDriver(t, opts, 80, 24)
	if !strings.Contains(d.view(), "\x1b[") {
		t.Fatal("colour on, but no escape sequence")
	}
	d.send(tea.ColorProfileMsg{Profile: colorprofile.ASCII})
	if strings.Contains(d.view(), "\x1b[") {
		t.Fatal("an Ascii profile should turn colour off")
	}
}

// ---- the store going away ----

func TestUnreachableBanner(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	before := lines(d.view())[3]
	d.send(snapMsg{err: errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")})
	ls := lines(d.view())
	if !strings.Contains(ls[2], "database unreachable, retrying… (1 failed, 0s): dial tcp") {
		t.Fatalf("no banner: %q", ls[2])
	}
	if !strings.Contains(ls[0], "(stale)") {
		t.Fatalf("the data age should say stale: %q", ls[0])
	}
	// The last good snapshot stays on screen, and keys still work.
	if ls[4] != before {
		t.Fatalf("the rows changed: %q vs %q", ls[4], before)
	}
	d.keys("down")
	if d.m.fleet.cursor != 1 {
		t.Fatal("the UI froze")
	}
	d.send(snapMsg{err: errors.New("timeout")})
	d.wantView("(2 failed")
	// A good snapshot clears it.
	d.keys("r")
	if d.m.failures != 0 || strings.Contains(d.view(), "unreachable") {
		t.Fatal("banner still up after a good snapshot")
	}
}

func TestRefreshIsACommand(t *testing.T) {
	// Update never queries: a tick or r returns a command, and the model
	// changes only when its message comes back.
	w, ids := incidentWorld(t, worldConfig{})
	d := newDriver(t, w.options(), 80, 24)
	before := d.m.snap
	w.breakHead(t, ids[0])
	nm, cmd := d.m.Update(press("r"))
	if nm.(Model).snap != before || cmd == nil {
		t.Fatal("r changed the data inside Update")
	}
	d.m = nm.(Model)
	d.run(cmd)
	if d.m.snap == before || d.m.fleetRowAt(0).stalled != 1 {
		t.Fatal("the refresh did not land")
	}
	nm, cmd = d.m.Update(tickMsg{})
	if cmd == nil || !nm.(Model).fetching {
		t.Fatal("a tick should start a refresh")
	}
	// While one runs, another tick does not pile up a second query.
	nm2, _ := nm.(Model).Update(tickMsg{})
	if !nm2.(Model).fetching || nm2.(Model).again {
		t.Fatal("ticks pile up")
	}
}

func TestItemsFilterAndStates(t *testing.T) {
	_, ids, d := stalledDriver(t, worldConfig{}, 100, 30)
	openStalledOrg(t, d)
	d.keys("/")
	if d.m.org.focus != paneItems {
		t.Fatal("/ in the org view filters the items")
	}
	d.typeText(fmt.Sprint(ids[3]))
	d.keys("enter")
	if d.m.itemsLen() != 1 || d.m.itemAt(0).ID != ids[3] {
		t.Fatalf("item filter kept %d", d.m.itemsLen())
	}
	d.wantView(fmt.Sprintf("filter /%d (1)", ids[3]))
	d.keys("esc")
	if d.m.view != viewOrg || d.m.itemsLen() != 5 {
		t.Fatalf("esc should clear the item filter first")
	}
	d.keys("s")
	d.wantView("Items in escalations · quarantined · 0")
	d.keys("s")
	d.wantView("Items in escalations · assigned")
	d.keys("s")
	d.wantView("Items in escalations · queued · 5")
	// i opens the head from the queue pane.
	d.keys("tab", "tab", "i")
	if d.m.view != viewItem || d.m.item.id != ids[0] {
		t.Fatalf("i opened %v %d", d.m.view, d.m.item.id)
	}
}

// ---- small pieces ----

func TestTrend(t *testing.T) {
	var tr trend
	if tr.spark(4) != "    " || tr.arrow() != " " {
		t.Fatal("empty trend")
	}
	for _, v := range []int{0, 2, 4, 8, 8, 1} {
		tr.push(v)
	}
	if got := tr.spark(8); got != "  ▁▃▅██▂" {
		t.Fatalf("spark %q", got)
	}
	if got := tr.spark(3); got != "██▂" {
		t.Fatalf("spark of the last 3: %q", got)
	}
	if tr.arrow() != "↓" {
		t.Fatal("arrow")
	}
	for range 20 {
		tr.push(5)
	}
	if tr.n != trendLen || tr.arrow() != "→" || tr.spark(8) != "████████" {
		t.Fatalf("full trend %q", tr.spark(8))
	}
}

func TestFormatting(t *testing.T) {
	ages := map[float64]string{0: "-", 0.4: "0s", 59: "59s", 60: "1m00s", 599: "9m59s", 600: "10m", 3599: "59m",
		3600: "1h00m", 35999: "9h59m", 36000: "10h", 86399: "23h", 86400: "1d", 864000: "10d"}
	for in, want := range ages {
		if got := fmtAge(in); got != want {
			t.Errorf("fmtAge(%v) = %q, want %q", in, got, want)
		}
		if len(fmtAge(in)) > 5 {
			t.Errorf("fmtAge(%v) wider than 5", in)
		}
	}
	if trunc("abcdef", 4) != "abc…" || trunc("ab", 4) != "ab" || trunc("✖ CRIT", 3) != "✖ …" {
		t.Errorf("trunc: %q %q", trunc("abcdef", 4), trunc("✖ CRIT", 3))
	}
	if padLeft("7", 3) != "  7" || padRight("✖ CRIT", 7) != "✖ CRIT " {
		t.Error("padding")
	}
	if fmtCount(999999) != "999999" || fmtCount(1234567) != "1234k" {
		t.Error("fmtCount")
	}
	if healthWord(ops.HealthCritical) != "✖ CRIT" || healthWord(ops.HealthWarning) != "▲ WARN" || healthWord(ops.HealthOK) != "● OK" {
		t.Error("health words")
	}
	if stallText(2, router.CauseMissingRevision) != "STALLED×2 missing_revision" || stallText(0, "") != "" {
		t.Error("stall text")
	}
}

func TestSlowStoreBanner(t *testing.T) {
	w, _, d := stalledDriver(t, worldConfig{}, 80, 24)
	// A refresh starts and does not come back (its command is not run).
	nm, cmd := d.m.Update(tickMsg{})
	if cmd == nil {
		t.Fatal("no refresh command")
	}
	d.m = nm.(Model)
	if strings.Contains(d.view(), "not answering") {
		t.Fatal("a banner before the refresh is late")
	}
	w.clk.Advance(d.m.slowAfter())
	ls := lines(d.view())
	if !strings.Contains(ls[2], "!! database not answering for 5s, retrying…") {
		t.Fatalf("no banner for a hanging store: %q", ls[2])
	}
	if !strings.Contains(ls[4], "STALLED") {
		t.Fatalf("the last snapshot should stay on screen: %q", ls[4])
	}
}

func TestPasteIntoPrompt(t *testing.T) {
	m := New(Options{Color: "never", Clock: router.NewManualClock(t0)})
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.send(snapMsg{snap: syntheticSnapshot(100, 0)})
	d.send(tea.PasteMsg{Content: "org-0042"}) // outside a prompt: ignored
	if d.m.mode != inputNone || d.m.fleet.filter != "" {
		t.Fatal("a paste outside a prompt did something")
	}
	d.keys("/")
	d.send(tea.PasteMsg{Content: "org-0042\n"})
	if d.m.fleetLen() != 1 || d.m.fleetRowAt(0).org != "org-0042" {
		t.Fatalf("pasted filter kept %d rows", d.m.fleetLen())
	}
}

func TestItemsWindowPages(t *testing.T) {
	w, ids := incidentWorld(t, worldConfig{})
	attrs := []byte(`{"priority":10,"channel":"email"}`)
	last := ids[len(ids)-1]
	for range 445 {
		it, err := w.store.Enqueue(context.Background(), router.EnqueueRequest{OrgID: incidentOrg, QueueID: "escalations",
			Attributes: attrs, EnqueuedAt: w.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		last = it.ID
	}
	d := newDriver(t, w.options(), 80, 24)
	d.keys(":")
	d.typeText("org " + incidentOrg)
	d.keys("enter", "tab")
	if len(d.m.org.items) != itemsPage || d.m.org.next == 0 {
		t.Fatalf("first page: %d items, next %d", len(d.m.org.items), d.m.org.next)
	}
	d.wantView("Items in escalations · queued · 200+")
	// Paging to the end loads the rest, a page at a time.
	for range 10 {
		d.keys("end")
	}
	if len(d.m.org.items) != 450 || d.m.org.next != 0 {
		t.Fatalf("after paging: %d items, next %d", len(d.m.org.items), d.m.org.next)
	}
	d.wantView(fmt.Sprintf("> %d", last))
	// Only the visible rows are drawn.
	n := 0
	for _, l := range lines(d.view()) {
		if strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "> ") {
			if f := strings.Fields(l); len(f) > 1 && f[0] != "ITEM" {
				if _, err := fmt.Sscan(strings.TrimPrefix(strings.TrimSpace(l), "> "), new(int64)); err == nil {
					n++
				}
			}
		}
	}
	if n > d.m.orgLayout().iRows {
		t.Fatalf("%d item rows drawn, window is %d", n, d.m.orgLayout().iRows)
	}
	// A refresh keeps the whole window and the selection.
	d.keys("r")
	if len(d.m.org.items) != 450 || d.m.selectedItem().ID != last {
		t.Fatalf("refresh: %d items, selected %d", len(d.m.org.items), d.m.selectedItem().ID)
	}
}
