package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// hostileSnapshot is two stalled orgs alike but for their text: one
// clean, one whose org, queue, reason, head and errors carry control
// characters, bidi marks and separators, as a tenant could write them.
func hostileSnapshot() *ops.Snapshot {
	org := func(name, queue, text string) ops.OrgHealth {
		q := ops.QueueHealth{Queue: queue, Depth: 3, Health: ops.HealthCritical, Stalled: true, Cause: router.CauseMissingRevision,
			Reason: "head " + text, OldestAgeSeconds: 90,
			Head: &ops.HeadHealth{Item: "42", AgeSeconds: 90, Attempts: 2, Revision: "missing", LastError: "gone " + text}}
		return ops.OrgHealth{Org: name, Health: ops.HealthCritical, Reason: queue + ": " + text, Queued: 3, StalledQueues: 1,
			AgentsTotal: 2, AgentsAvailable: 2, Capacity: 4, AvailableCapacity: 4, OldestAgeSeconds: 90, HeadAgeSeconds: 90,
			Queues: []ops.QueueHealth{q}}
	}
	snap := &ops.Snapshot{GeneratedAt: t0, Store: "store\x1b[2J", Engine: ops.EngineState{State: "running\u202e", Engines: 1}}
	snap.Orgs = []ops.OrgHealth{
		org("acme", "escalation", "plain words here"),
		org("ev\x1b[2Jil\u202e", "q\x1b[31m\t", "x\x1b]0;pwned\x07\u2028y\x9b"),
	}
	snap.Summary = ops.Summary{Orgs: 2, Queued: 6, StalledQueues: 2, CriticalOrgs: 2, Health: ops.HealthCritical}
	return snap
}

// TestHostileTextKeepsColumns: untrusted text is shown escaped, never
// raw, and measured as shown, so a row with it keeps every column where
// a clean row has it, and no line outgrows the terminal.
func TestHostileTextKeepsColumns(t *testing.T) {
	clk := router.NewManualClock(t0)
	m := New(Options{Refresh: 1, Store: "embedded demo", Operator: "al\x1bice", Color: "never", Clock: clk})
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	nm, _ = nm.(Model).Update(snapMsg{snap: hostileSnapshot()})
	m = nm.(Model)
	// check renders the frame and returns the cells before col in the
	// rows of the two orgs.
	check := func(view string, col string) []int {
		t.Helper()
		frame := m.render()
		var at []int
		for i, l := range lines(frame) {
			for _, r := range l {
				if present.Forbidden(r) {
					t.Fatalf("%s line %d emits U+%04X raw: %q", view, i, r, l)
				}
			}
			if w := width(l); w > m.width {
				t.Errorf("%s line %d is %d wide: %q", view, i, w, l)
			}
			if j := strings.Index(l, col); j >= 0 && (strings.Contains(l, "acme") || strings.Contains(l, `ev\x1b`) ||
				strings.Contains(l, "escalation") || strings.Contains(l, `q\x1b`)) {
				at = append(at, width(l[:j]))
			}
		}
		if !strings.Contains(frame, `\x1b`) {
			t.Fatalf("%s shows no escaped text:\n%s", view, frame)
		}
		return at
	}
	if at := check("fleet", "STALLED"); len(at) != 2 || at[0] != at[1] {
		t.Fatalf("fleet: STALLED starts at cells %v, want the same cell in both rows", at)
	}
	m.openOrg(m.snap.Orgs[1].Org)
	hostile := check("the hostile org", "STALLED")
	m.toFleet()
	m.openOrg("acme")
	clean := check("the clean org", "STALLED")
	if len(hostile) != 1 || len(clean) != 1 || hostile[0] != clean[0] {
		t.Fatalf("org view: STATE starts at cells %v in the hostile org, %v in the clean one", hostile, clean)
	}
}
