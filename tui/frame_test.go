package tui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
)

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
