package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

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
	// Its revision is still missing: released, it would fault again, so
	// u is refused and says to repair it first; :release ID --force
	// releases it anyway.
	d.keys("u", "y")
	d.wantStatus("repair it first")
	if got := w.itemState(t, ids[0]); got != router.StateQuarantined {
		t.Fatalf("a release of an item with a missing revision left it %s", got)
	}
	d.keys(":")
	d.typeText(fmt.Sprintf("release %d --force", ids[0]))
	d.keys("enter")
	d.wantView(fmt.Sprintf("FORCE: Release item %d", ids[0]))
	d.keys("y")
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
