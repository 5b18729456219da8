package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestConsoleHostileRowsInATerminal: the console, in a real terminal
// (tmux with set-clipboard on, which honours OSC 52), shows hostile rows
// (pgtest.DB.Hostile) in the fleet, the org view, an item and the
// timeline, escaped: the window title is never set, nothing reaches the
// clipboard, and the screen shows the escapes as text.
func TestConsoleHostileRowsInATerminal(t *testing.T) {
	dsn := pgtest.NewDB(t)
	db := pgtest.Connect(t, dsn)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "2", "--items-per-org", "5")
	db.Hostile()
	p := startPane(t, c, 160, 40, "console", "--no-engine")
	p.Tmux("set-option", "-g", "set-clipboard", "on")
	p.Tmux("set-option", "-g", "allow-rename", "on")
	p.Tmux("set-option", "-g", "set-titles", "on")
	p.WaitFor("the hostile org, escaped", 60*time.Second, func(s string) bool { return strings.Contains(s, `evil\x1b]0;pwned`) })
	p.Key("r") // a fresh frame now that the clipboard is on
	for _, k := range []string{"/", "e", "v", "i", "l", "Enter", "Enter"} {
		p.Key(k)
	}
	p.WaitFor("the hostile queue in the org view", 30*time.Second, func(s string) bool {
		return strings.Contains(s, `q\x1b]52;c`) && strings.Contains(s, "ITEM")
	})
	p.Key("i")
	p.WaitFor("the item with its last error escaped and the login", 30*time.Second, func(s string) bool {
		return strings.Contains(s, `boom\x1b[2J\x07\u202e`) && strings.Contains(s, "(login ")
	})
	p.Key("Escape")
	p.Key("t")
	p.WaitFor("the timeline", 30*time.Second, func(s string) bool { return strings.Contains(s, `mallory\x1b]52;c;cHduZWQ=\x07`) })
	if title := p.Title(); strings.Contains(title, "pwned") {
		t.Errorf("the data set the window title: %q", title)
	}
	if bufs := p.Buffers(); strings.TrimSpace(bufs) != "" {
		t.Errorf("the data wrote the clipboard: %q", bufs)
	}
	if raw := p.Screen(true); strings.ContainsAny(raw, "\a\u009b\u009d\u202e") {
		t.Errorf("the screen holds a raw bell, C1 control or bidi mark: %q", raw)
	}
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the console exited %d", code)
	}
}

// TestConsoleMemoryWithTenMegabyteDocuments: the console, in a terminal,
// on a tenant holding 40 items whose attribute documents are 10 MB each,
// opened on that tenant, its quarantined list and one of the items, stays
// under 150 MB resident (measured with /usr/bin/time around it).
func TestConsoleMemoryWithTenMegabyteDocuments(t *testing.T) {
	dsn := pgtest.NewDB(t)
	db := pgtest.Connect(t, dsn)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "3", "--items-per-org", "20")
	ids := db.Oversized("org-0003", "default", 40, 10<<20)
	c.Must("serve", "--until-idle") // quarantines the 40 as oversized_attributes
	timeFile := filepath.Join(t.TempDir(), "rss")
	p := harness.StartPane(t, c, 120, 40, []string{harness.TimeBin, "-f", "%M", "-o", timeFile}, "console", "--no-engine")
	p.WaitFor("the fleet", 60*time.Second, func(s string) bool { return strings.Contains(s, "org-0003") })
	for _, k := range []string{":", "o", "r", "g", " ", "o", "r", "g", "-", "0", "0", "0", "3", "Enter"} {
		p.Key(k)
	}
	p.WaitFor("the org view", 30*time.Second, func(s string) bool { return strings.Contains(s, "ITEM") })
	p.Key("Tab")
	p.Key("s")
	p.Key("s")
	p.WaitFor("the quarantined items", 30*time.Second, func(s string) bool { return strings.Contains(s, "quarantined") })
	for _, k := range append([]string{":"}, strings.Split("item "+strconv.FormatInt(ids[0], 10), "")...) {
		p.Key(k)
	}
	p.Key("Enter")
	p.WaitFor("the item, its document not loaded", 30*time.Second, func(s string) bool { return strings.Contains(s, "OVERSIZED") })
	p.Key("r")
	p.Key("q")
	if code := p.ExitCode(60 * time.Second); code != 0 {
		t.Fatalf("the console exited %d", code)
	}
	raw, err := os.ReadFile(timeFile)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(raw))
	kb, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		t.Fatalf("%s says %q", harness.TimeBin, raw)
	}
	t.Logf("console on a tenant with 40 documents of 10 MB: %.1f MB resident at most", float64(kb)/1024)
	if kb > 150<<10 {
		t.Errorf("the console reached %d MB resident, want under 150 MB", kb>>10)
	}
}
