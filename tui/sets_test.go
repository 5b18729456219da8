package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/sim"
)

// openItems opens org-0002's escalations queue (five queued items) with
// the items pane focused.
func openItems(t *testing.T) (*world, []int64, *driver) {
	t.Helper()
	w, ids := incidentWorld(t, worldConfig{policy: router.PolicyQuarantine})
	d := newDriver(t, w.options(), 120, 40)
	d.keys(":")
	d.typeText("org " + incidentOrg)
	d.keys("enter")
	if d.m.org.queue != "escalations" {
		for i := 0; i < 10 && d.m.org.queue != "escalations"; i++ {
			d.keys("down")
		}
	}
	d.keys("tab")
	if d.m.org.focus != paneItems || d.m.itemsLen() != 5 {
		t.Fatalf("items pane: focus %v, %d items", d.m.org.focus, d.m.itemsLen())
	}
	return w, ids, d
}

// TestMarksAndX: m marks items (space still pages), x asks with the plan
// of the marked ones, y quarantines exactly them under one operation.
func TestMarksAndX(t *testing.T) {
	w, ids, d := openItems(t)
	d.keys("m", "down", "m")
	if len(d.m.org.marks) != 2 || !d.m.org.marks[ids[0]] || !d.m.org.marks[ids[2]] {
		t.Fatalf("marks %v, want items %d and %d", d.m.org.marks, ids[0], ids[2])
	}
	d.wantView("*" + fmt.Sprint(ids[0]))
	d.wantView("2 marked")
	d.keys("x")
	if d.m.view != viewSet || d.m.confirm == nil {
		t.Fatalf("x on marks: view %v confirm %+v", d.m.view, d.m.confirm)
	}
	d.wantView("Quarantine 2 items")
	d.wantView("items " + fmt.Sprint(ids[0]) + " " + fmt.Sprint(ids[2]))
	d.keys("y")
	d.wantStatus("quarantined 2 items (operation op-")
	if d.m.view != viewOrg || len(d.m.org.marks) != 0 {
		t.Fatalf("after the action: view %v marks %v", d.m.view, d.m.org.marks)
	}
	for i, id := range ids {
		want := router.StateQueued
		if i == 0 || i == 2 {
			want = router.StateQuarantined
		}
		if got := w.itemState(t, id); got != want {
			t.Errorf("item %d is %s, want %s", id, got, want)
		}
	}
	evs, err := w.store.Events(context.Background(), router.EventFilter{Kinds: []string{router.EventQuarantined}})
	if err != nil || len(evs) != 2 || evs[0].OperationID == "" || evs[0].OperationID != evs[1].OperationID {
		t.Fatalf("quarantined events %+v, %v: want two under one operation", evs, err)
	}
	// Space still pages; with nothing marked, x acts on the item under
	// the cursor, as before.
	d.keys("space")
	d.keys("home", "x")
	d.wantView("Quarantine item " + fmt.Sprint(ids[1]))
	d.keys("n")
}

// TestFilterAttrsAndXU: / takes key=value; X plans the quarantine of
// every item the filter matches (loaded or not), and U their release.
func TestFilterAttrsAndXU(t *testing.T) {
	w, ids, d := openItems(t)
	ctx := context.Background()
	for range 3 {
		if _, err := w.store.Enqueue(ctx, router.EnqueueRequest{OrgID: incidentOrg, QueueID: "escalations",
			Attributes: []byte(`{"tier": "platinum", "channel": "chat", "priority": 90}`), EnqueuedAt: w.clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	d.keys("r")
	d.keys("/")
	d.typeText("tier=platinum")
	d.keys("enter")
	if got := d.m.itemsLen(); got != 3 {
		t.Fatalf("filter tier=platinum shows %d items, want 3", got)
	}
	d.wantView("filter /tier=platinum")
	d.keys("X")
	d.wantView("Quarantine 3 items (selected: --org " + incidentOrg + " --queue escalations --attr tier=platinum)")
	d.keys("y")
	d.wantStatus("quarantined 3 items")
	for _, id := range ids {
		if s := w.itemState(t, id); s != router.StateQueued {
			t.Errorf("item %d outside the filter is %s", id, s)
		}
	}
	d.keys("s") // quarantined items
	d.keys("U")
	d.wantView("Release 3 items")
	d.keys("y")
	d.wantStatus("released 3 items")
	// esc clears the filter and shows every item again.
	d.keys("s", "s", "esc")
	if d.m.org.filter != "" || len(d.m.org.attrs) != 0 {
		t.Fatalf("esc left the filter %q %v", d.m.org.filter, d.m.org.attrs)
	}
}

// TestOrgChart: the org view shows the selected queue's waiting
// conversations and oldest wait over the last half hour.
func TestOrgChart(t *testing.T) {
	_, _, d := openItems(t)
	d.wantView("chart 30m · waiting ")
	c := d.m.org.chart
	if c == nil || c.Queue != "escalations" || len(c.Points) != chartPoints || c.Points[len(c.Points)-1].Waiting != 5 {
		t.Fatalf("chart %+v", c)
	}
}

// TestImpactCommand: :impact shows the report of the window.
func TestImpactCommand(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 120, 40)
	d.keys(":")
	d.typeText("impact 1h")
	d.keys("enter")
	if d.m.view != viewReport {
		t.Fatalf("view %v after :impact", d.m.view)
	}
	d.wantView("Impact of the last 1h")
	d.wantView("# Impact")
	d.wantStatus("customer-minutes")
	d.keys("esc")
	if d.m.view != viewFleet {
		t.Fatalf("esc left view %v", d.m.view)
	}
}

// TestTeamsAndAgentsKeys: in the org view's agents, a sets the selected
// agent's presence and T pauses (then resumes) its team, each asking
// first and journalled.
func TestTeamsAndAgentsKeys(t *testing.T) {
	w, _, d := openItems(t)
	d.keys("tab") // agents
	a := d.m.org.agents[d.m.org.aCursor]
	d.keys("a")
	d.wantView(fmt.Sprintf("Set agent %s/%s away?", a.OrgID, a.ID))
	d.keys("y")
	d.wantStatus("agent " + a.OrgID + "/" + a.ID + " away")
	d.keys("T")
	d.wantView(fmt.Sprintf("Pause team %s/%s", a.OrgID, a.TeamID))
	d.keys("y")
	d.wantStatus("team " + a.OrgID + "/" + a.TeamID + " paused")
	ts, err := w.store.ListTeams(context.Background(), a.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range ts {
		if tm.ID == a.TeamID && (tm.Status != router.TeamPaused || tm.Pause.By != "alice") {
			t.Fatalf("team after T: %+v", tm)
		}
	}
	d.keys("T", "y")
	d.wantStatus("team " + a.OrgID + "/" + a.TeamID + " active")
	evs, err := w.store.Events(context.Background(), router.EventFilter{Org: a.OrgID,
		Kinds: []string{router.EventTeamPaused, router.EventTeamResumed, router.EventAgentStatusChanged}})
	if err != nil || len(evs) != 3 {
		t.Fatalf("journal %+v, %v", evs, err)
	}
	// Read-only refuses both, with the read-only message.
	w.setReadOnly(true)
	ro := newDriver(t, w.options(), 120, 40)
	ro.keys(":")
	ro.typeText("org " + incidentOrg)
	ro.keys("enter", "tab", "tab", "a")
	ro.wantStatus("read-only mode: agent refused")
}

// TestDrillAlwaysBreaksSomething: on the demo under pressure, D and y on
// an org with nothing queued where routing reaches still break items,
// and the engine faults on them, every time.
func TestDrillAlwaysBreaksSomething(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, worldConfig{orgs: 6, seed: 3, rate: 1})
	w.sim = sim.New(w.store, sim.Config{Orgs: 6, Seed: 3, Rate: 1, Clock: w.clk, Pressure: true})
	if err := w.sim.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		w.step(t, time.Second, true)
	}
	d := newDriver(t, w.options(), 120, 40)
	snap, err := w.ops.Monitor.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	org := ops.IncidentOrg(snap)
	d.keys(":")
	d.typeText("org " + org)
	d.keys("enter")
	for round := range 3 {
		before := faults(t, w, org)
		d.keys("D")
		d.wantView("DRILL missing-revisions on " + org)
		d.keys("y")
		d.wantStatus("drill missing-revisions injected on " + org)
		for range 3 {
			w.step(t, time.Second, true)
		}
		if after := faults(t, w, org); after <= before {
			t.Fatalf("round %d: D and y produced no fault in %s (%d before, %d after)", round, org, before, after)
		}
	}
}

func faults(t *testing.T, w *world, org string) int {
	t.Helper()
	evs, err := w.store.Events(context.Background(), router.EventFilter{Org: org, Kinds: []string{router.EventItemFault}})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestPauseAsksWithAReason: p pauses with a reason that the queue then
// shows, who and why.
func TestPauseAsksWithAReason(t *testing.T) {
	w, _, d := openItems(t)
	d.keys("tab", "tab") // queues
	d.keys("p")
	if d.m.confirm == nil || !strings.HasSuffix(d.m.confirm.prompt, "reason: paused from console by alice") {
		t.Fatalf("p asks %+v", d.m.confirm)
	}
	d.keys("y")
	d.keys("r")
	if q := d.m.selectedQueue(); q == nil || !q.Paused || q.PausedBy != "alice" || q.PauseReason != "paused from console by alice" {
		t.Fatalf("the selected queue after p: %+v", q)
	}
	d.wantView("PAUSED · by alice")
	qs, err := w.store.ListQueues(context.Background(), incidentOrg)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.ID == "escalations" && (!q.Paused || !strings.Contains(q.Pause.Reason, "console")) {
			t.Fatalf("queue after p: %+v", q)
		}
	}
}
