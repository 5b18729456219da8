package tui

import (
	"strings"
	"testing"
)

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
