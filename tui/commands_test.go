package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/routeops/routeops/router"
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

// ---- the command table ----

// commandExamples gives every command of the table a line that it
// accepts in a stalled world ({id} is an item queued behind the broken
// head); a command added to the table without one fails
// TestCommandTableIsCovered.
var commandExamples = map[string]string{
	"org": "org org-0005", "stalled": "stalled", "all": "all", "timeline": "timeline " + incidentOrg,
	"item": "item {id}", "quarantine": "quarantine {id} bad revision", "release": "release {id}",
	"pause": "pause " + incidentOrg + "/escalations", "resume": "resume " + incidentOrg + "/escalations",
	"repair": "repair " + incidentOrg, "drill": "drill " + incidentOrg + " 2", "q": "q", "q!": "q!", "help": "help",
	"team": "team pause " + incidentOrg + "/tier1 offsite", "agent": "agent " + incidentOrg + "/agent-001 away",
	"impact": "impact 1h " + incidentOrg,
}

// outcome is what a command did to the console.
type outcome struct {
	view       viewKind
	org, tl    string
	item       int64
	prompt     string
	status     string
	kind       statusKind
	help, quit bool
	fleet      int
}

func runLine(t *testing.T, cfg worldConfig, demo bool, line string) (*world, []int64, outcome) {
	t.Helper()
	w, ids, d := stalledDriver(t, cfg, 120, 40)
	if !demo {
		opts := w.options()
		opts.Demo = false
		d = newDriver(t, opts, 120, 40)
	}
	d.keys(":")
	d.typeText(strings.ReplaceAll(line, "{id}", fmt.Sprint(ids[1])))
	d.keys("enter")
	o := outcome{view: d.m.view, org: d.m.org.name, tl: d.m.tl.org, item: d.m.item.id, status: d.m.status,
		kind: d.m.statusKind, help: d.m.showHelp, quit: d.quit, fleet: d.m.fleetLen()}
	if d.m.confirm != nil {
		o.prompt = d.m.confirm.prompt
	}
	return w, ids, o
}

func TestCommandTableIsCovered(t *testing.T) {
	// The commands that change something, and the one that only the demo
	// allows: the table's rules must say so.
	writes := map[string]bool{"quarantine": true, "release": true, "pause": true, "resume": true, "repair": true, "drill": true,
		"team": true, "agent": true}
	demoOnly := map[string]bool{"drill": true}
	for _, c := range commands {
		if _, ok := commandExamples[c.name]; !ok {
			t.Errorf(":%s has no example in commandExamples", c.name)
		}
		if c.writes != writes[c.name] || c.demo != demoOnly[c.name] {
			t.Errorf(":%s: writes %v, demo-only %v; want %v, %v", c.name, c.writes, c.demo, writes[c.name], demoOnly[c.name])
		}
		if lookupCommand(c.name) != c || lookupCommand(strings.ToUpper(c.name)) != c {
			t.Errorf(":%s does not look itself up", c.name)
		}
		for _, a := range c.aliases {
			if lookupCommand(a) != c {
				t.Errorf("alias :%s is not :%s", a, c.name)
			}
		}
	}
	if lookupCommand("nosuch") != nil {
		t.Error("an unknown command was found")
	}
}

// The help screen, the unknown-command hint and the hidden action keys
// all come from the table.
func TestCommandTableGeneratesHelp(t *testing.T) {
	const before = "commands: :org NAME, :stalled, :all, :timeline [ORG], :item ID, :quarantine ID [REASON], " +
		":release ID [--force], :pause ORG/QUEUE [REASON], :resume ORG/QUEUE, :repair [ORG] [--allow-defaults] [--allow-fallback], " +
		":drill [ORG] [COUNT], :team pause|resume ORG/TEAM [REASON], :agent ORG/AGENT available|away|offline, :impact [SINCE] [ORG], :q"
	if commandHelp != before {
		t.Errorf("commandHelp is\n%s\nwant\n%s", commandHelp, before)
	}
	for _, mode := range []struct {
		name           string
		readOnly, demo bool
	}{{"demo", false, true}, {"database", false, false}, {"read-only demo", true, true}, {"read-only database", true, false}} {
		t.Run(mode.name, func(t *testing.T) {
			w, _ := incidentWorld(t, worldConfig{readOnly: mode.readOnly})
			opts := w.options()
			opts.Demo = mode.demo
			d := newDriver(t, opts, 200, 60)
			d.keys("?")
			shownUsages := map[string]bool{}
			v := d.view()
			i := strings.Index(v, "Commands: ")
			if i < 0 {
				t.Fatalf("no commands in the help:\n%s", v)
			}
			list, _, _ := strings.Cut(v[i+len("Commands: "):], "\n\n")
			for _, u := range strings.Split(strings.ReplaceAll(list, "\n", " "), " · ") {
				shownUsages[u] = true
			}
			for _, c := range commands {
				shown := shownUsages[c.usage()]
				want := !c.hidden && c.allowed(mode.readOnly, mode.demo)
				if shown != want {
					t.Errorf("%s: help shows %s: %v, want %v", mode.name, c.usage(), shown, want)
				}
				if !c.hidden && !strings.Contains(commandHelp, c.usage()) {
					t.Errorf("the unknown-command hint lacks %s", c.usage())
				}
			}
			hk := d.m.helpKeyMap()
			for _, a := range hk.k.actions() {
				if want := lookupCommand(a.command).allowed(mode.readOnly, mode.demo); a.b.Enabled() != want {
					t.Errorf("%s: help shows the %s key: %v, want %v", mode.name, a.command, a.b.Enabled(), want)
				}
			}
		})
	}
}

// Every alias does what its command does.
func TestCommandAliases(t *testing.T) {
	for _, c := range commands {
		if len(c.aliases) == 0 {
			continue
		}
		_, args, _ := strings.Cut(commandExamples[c.name], " ")
		if args != "" {
			args = " " + args
		}
		_, _, want := runLine(t, worldConfig{}, true, c.name+args)
		if strings.Contains(want.status, "usage:") || strings.Contains(want.status, "unknown command") {
			t.Fatalf(":%s%s: %s", c.name, args, want.status)
		}
		for _, a := range c.aliases {
			if _, _, got := runLine(t, worldConfig{}, true, strings.ToUpper(a[:1])+a[1:]+args); got != want {
				t.Errorf(":%s%s did %+v, :%s did %+v", a, args, got, c.name, want)
			}
		}
	}
}

// A command that writes is refused in read-only mode, before anything
// is asked or changed; the others run.
func TestCommandRefusedReadOnly(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			line := commandExamples[c.name]
			w, ids, o := runLine(t, worldConfig{readOnly: true}, true, line)
			refused := strings.HasPrefix(o.status, "read-only mode: "+c.name+" refused")
			if refused != c.writes {
				t.Fatalf(":%s read-only: status %q (writes: %v)", line, o.status, c.writes)
			}
			if c.writes {
				if o.prompt != "" || o.kind != statusErr {
					t.Errorf(":%s read-only asked %q (status kind %v)", line, o.prompt, o.kind)
				}
				if s := w.itemState(t, ids[1]); s != router.StateQueued {
					t.Errorf(":%s read-only left item %d %s", line, ids[1], s)
				}
			}
		})
	}
}

// A demo-only command is refused outside the demo; the others are not.
func TestCommandRefusedOffTheDemo(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			line := commandExamples[c.name]
			_, _, o := runLine(t, worldConfig{}, false, line)
			refused := strings.Contains(o.status, c.name+": only on the embedded demo")
			if refused != c.demo {
				t.Fatalf(":%s off the demo: status %q (demo-only: %v)", line, o.status, c.demo)
			}
			if c.demo && (o.prompt != "" || o.kind != statusErr) {
				t.Errorf(":%s off the demo asked %q", line, o.prompt)
			}
		})
	}
}

// Too few or too many arguments answer with the command's usage.
func TestCommandUsage(t *testing.T) {
	for _, c := range commands {
		var lines []string
		if c.minArgs > 0 {
			lines = append(lines, c.name)
		}
		if c.maxArgs > 0 {
			lines = append(lines, c.name+strings.Repeat(" x", c.maxArgs+1))
		}
		for _, line := range lines {
			_, _, o := runLine(t, worldConfig{}, true, line)
			if o.status != "usage: "+c.usage() || o.kind != statusErr || o.prompt != "" {
				t.Errorf(":%s: status %q, want the usage", line, o.status)
			}
		}
	}
}
