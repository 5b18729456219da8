package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/routeops/routeops/router"
)

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
