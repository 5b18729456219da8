package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// headerCount reads "N <what>" from the console's summary line.
func headerCount(t *testing.T, screen, what string) int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) ` + what).FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestDemoUnderPressure: routeops demo, as a new user starts it, shows a
// queued item and a WARN within 60 s (peaks, a starved org, a paused
// queue with a reason); D followed by y breaks something every time, and
// the engine faults on it (the fleet's quarantined count grows).
func TestDemoUnderPressure(t *testing.T) {
	c := harness.New(t, "")
	p := startPane(t, c, 120, 40, "demo")
	p.WaitFor("a queued item and a WARN", 60*time.Second, func(s string) bool {
		return headerCount(t, s, "queued") > 0 && headerCount(t, s, "WARN") > 0
	})
	for round := range 3 {
		before := headerCount(t, p.Screen(false), "quarantined")
		p.Key("D")
		p.WaitFor("the drill's question", 20*time.Second, func(s string) bool { return strings.Contains(s, "DRILL missing-revisions on") })
		p.Key("y")
		p.WaitFor("the drill's outcome", 30*time.Second, func(s string) bool { return strings.Contains(s, "drill missing-revisions injected on") })
		p.WaitFor("the engine's fault on the broken items (quarantined grows)", 30*time.Second, func(s string) bool {
			return headerCount(t, s, "quarantined") > before
		})
		t.Logf("round %d: quarantined %d -> %d", round, before, headerCount(t, p.Screen(false), "quarantined"))
	}
	p.Key("q")
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the demo exited %d, want 0", code)
	}
}

// TestProgressOnlyOnATerminal: seed on a terminal shows a bar with
// done/total, rate and time left on standard error; with -o json, or
// without a terminal, nothing of it.
func TestProgressOnlyOnATerminal(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	p := startPane(t, c, 120, 10, "seed", "--orgs", "40", "--items-per-org", "2500")
	s := p.WaitFor("the seed's progress bar", 120*time.Second, func(s string) bool {
		return strings.Contains(s, "seed ") && strings.Contains(s, "/100000 items") && strings.Contains(s, " left")
	})
	t.Logf("progress: %s", strings.TrimSpace(s))
	if code := p.ExitCode(3 * time.Minute); code != 0 {
		t.Fatalf("seed exited %d", code)
	}
	// Without a terminal: not a byte of it.
	r := c.Must("seed", "--orgs", "2", "--items-per-org", "10", "--org-offset", "40")
	if strings.Contains(r.Stderr, "left") || strings.Contains(r.Stderr, "\x1b") {
		t.Errorf("seed without a terminal wrote progress: %q", r.Stderr)
	}
	// -o json on a terminal: nothing either, on any screen while it runs.
	p = startPane(t, c, 120, 10, "seed", "--orgs", "20", "--items-per-org", "2500", "--org-offset", "42", "-o", "json")
	screens := 0
	harness.Poll(3*time.Minute, 100*time.Millisecond, func() bool {
		if s, alive := p.Capture(); alive {
			screens++
			if strings.Contains(s, " left") || strings.Contains(s, "/50000 items") {
				t.Errorf("seed -o json drew progress:\n%s", s)
				return true
			}
			return false
		}
		return true // the session ended with the seed
	})
	if code := p.ExitCode(3 * time.Minute); code != 0 || screens < 3 {
		t.Fatalf("seed -o json exited %d after %d screens", code, screens)
	}
}
