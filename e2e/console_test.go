package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// startPane runs routeops args in a cols x rows tmux pane with exactly the
// cli's environment plus TERM from tmux.
func startPane(t *testing.T, c *harness.Bin, cols, rows int, args ...string) *harness.Pane {
	t.Helper()
	return harness.StartPane(t, c, cols, rows, nil, args...)
}

// colourSGR lists the colour parameters (foreground, background, 256 and
// true colour) in the screen's SGR escape sequences.
func colourSGR(screen string) []string {
	var found []string
	for _, m := range regexp.MustCompile("\x1b\\[([0-9;:]*)m").FindAllStringSubmatch(screen, -1) {
		for _, f := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				found = append(found, fmt.Sprintf("%q", m[0]))
				break
			}
		}
	}
	sort.Strings(found)
	return found
}

// Acceptance "Real database": `routeops console --dsn …` on a
// seeded PostgreSQL shows its orgs, shows the DSN redacted in its header
// (never the password), adapts to a resize, and q exits 0.
func TestConsoleOnSeededDatabase(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, "")
	const pw = "e2e-console-pw"
	dsnPW := withPassword(t, dsn, pw)
	c.WithDSN(dsnPW).Must("seed", "--orgs", "12", "--items-per-org", "10")

	p := startPane(t, c, 80, 24, "console", "--dsn", dsnPW)
	s := p.WaitFor("the seeded orgs org-0001 to org-0012", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "org-0001") && strings.Contains(s, "org-0012")
	})
	// At 80 columns the header truncates the store (the redacted DSN) to
	// its first characters; the password must not show in any case.
	if !strings.HasPrefix(s, "routeops") || !strings.Contains(strings.SplitN(s, "\n", 2)[0], "postgre") || strings.Contains(s, pw) {
		t.Errorf("the header should name the store (the redacted DSN, no password). Screen:\n%s", s)
	}
	t.Logf("header at 80 columns: %s", strings.SplitN(s, "\n", 2)[0])
	// Wider, the header has room for the whole redacted DSN.
	p.Resize(160, 40)
	want := redactedDSN(t, dsn)
	s = p.WaitFor("the redacted DSN "+want+" in the header", 30*time.Second, func(s string) bool {
		return strings.Contains(strings.SplitN(s, "\n", 2)[0], want)
	})
	if strings.Contains(s, pw) || strings.Contains(p.Screen(true), pw) {
		t.Errorf("the console shows the DSN's password. Screen:\n%s", s)
	}
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the console exited %d, want 0", code)
	}
}

// Acceptance "Read-only at 80x24": NO_COLOR=1 routeops demo
// --read-only at 80x24 shows no colour, no line wider than 80, and a
// visible READ-ONLY badge; q exits 0.
func TestConsoleDemoReadOnlyNoColor(t *testing.T) {
	c := harness.New(t, "").With("NO_COLOR=1", "COLORTERM=truecolor")
	p := startPane(t, c, 80, 24, "demo", "--read-only")
	s := p.WaitFor("the demo's orgs and a READ-ONLY badge", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "org-0001") && strings.Contains(s, "READ-ONLY")
	})
	for i, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line %d is %d runes wide (> 80): %q", i+1, n, line)
		}
	}
	if rows := strings.Count(s, "\n"); rows > 24 {
		t.Errorf("the screen has %d rows (> 24)", rows)
	}
	if found := colourSGR(p.Screen(true)); len(found) > 0 {
		t.Errorf("NO_COLOR=1, yet the screen has colour SGR sequences: %v", found)
	}
	p.Key("?")
	s = p.WaitFor("the help", 30*time.Second, func(s string) bool { return strings.Contains(s, "Keys") })
	if found := colourSGR(p.Screen(true)); len(found) > 0 {
		t.Errorf("NO_COLOR=1, yet the help has colour SGR sequences: %v", found)
	}
	if !strings.Contains(s, "READ-ONLY") {
		t.Errorf("the READ-ONLY badge is gone in the help. Screen:\n%s", s)
	}
	p.Key("Escape")
	p.WaitFor("the fleet again", 30*time.Second, func(s string) bool { return !strings.Contains(s, "Keys") })
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the demo exited %d, want 0", code)
	}
}

// Acceptance "Actions reachable" and "Clean exit": in the demo,
// ? lists quarantine and repair, and q exits 0.
func TestConsoleDemoHelpListsActions(t *testing.T) {
	c := harness.New(t, "").With("COLORTERM=truecolor")
	p := startPane(t, c, 80, 24, "demo")
	p.WaitFor("the demo's orgs", 60*time.Second, func(s string) bool { return strings.Contains(s, "org-0001") })
	// The control for the NO_COLOR test: without NO_COLOR there is colour.
	t.Logf("without NO_COLOR the screen has %d colour SGR sequences", len(colourSGR(p.Screen(true))))
	p.Key("?")
	s := p.WaitFor("the help listing quarantine and repair", 30*time.Second, func(s string) bool {
		i := strings.Index(s, "Keys")
		return i >= 0 && strings.Contains(s[i:], "quarantine") && strings.Contains(s[i:], "repair")
	})
	for _, want := range []string{"x quarantine item", "R repair"} {
		if !strings.Contains(s, want) {
			t.Errorf("the help does not list %q. Screen:\n%s", want, s)
		}
	}
	p.Key("Escape")
	p.WaitFor("the fleet again", 30*time.Second, func(s string) bool { return !strings.Contains(s, "Keys") })
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the demo exited %d, want 0", code)
	}
}
