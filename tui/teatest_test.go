package tui

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

func startProgram(t *testing.T, opts Options, w, h int) (*teatest.TestModel, *probe) {
	t.Helper()
	p := &probe{}
	tm := teatest.NewTestModel(t, probeModel{m: New(opts), p: p}, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = tm.Quit() })
	return tm, p
}

func finalFrame(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	tm.Send(press("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second))
	return fm.(probeModel).m.View().Content
}

// TestGolden renders the fleet, org and help views of the stalled demo at
// 80x24 and 120x40 with colour off, through a real program (teatest), and
// compares the frames with tui/testdata/TestGolden/*.golden (go test
// ./tui -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		for _, view := range []string{"fleet", "org", "help"} {
			t.Run(fmt.Sprintf("%s_%dx%d", view, size[0], size[1]), func(t *testing.T) {
				w, ids := incidentWorld(t, worldConfig{})
				w.breakHead(t, ids[0])
				tm, p := startProgram(t, w.options(), size[0], size[1])
				p.waitFrame(t, "the stalled fleet", func(f string) bool { return strings.Contains(f, "STALLED missing_revision") })
				switch view {
				case "org":
					tm.Send(press("enter"))
					p.waitFrame(t, "the org view with its items and agents", func(f string) bool {
						return strings.Contains(f, "Items in escalations · queued · 5") && strings.Contains(f, "agent-001")
					})
				case "help":
					tm.Type("?")
					p.waitFrame(t, "the help", func(f string) bool { return strings.Contains(f, "Keys (") })
				}
				frame := finalFrame(t, tm)
				for i, l := range lines(frame) {
					if width(l) > size[0] {
						t.Errorf("line %d is wider than %d: %q", i, size[0], l)
					}
				}
				if strings.Contains(frame, "\x1b") {
					t.Error("escape sequences in a colourless frame")
				}
				teatest.RequireEqualOutput(t, []byte(frame))
			})
		}
	}
}

// TestEndToEndQuarantineUnblocksQueue drives the embedded demo from the
// keyboard alone: the block policy replays the incident (injected as demo
// --incident does, through ops.Drill), the STALLED org comes to the top,
// the operator opens it, quarantines the stalled head with x and y, and
// the queue flows again; the timeline then shows what they did. Time and
// routing move only when the test says so (manual clock, engine.Pass).
func TestEndToEndQuarantineUnblocksQueue(t *testing.T) {
	w, ids := incidentWorld(t, worldConfig{policy: router.PolicyBlock, stallAfter: 3 * time.Second})
	opts := w.options()
	opts.Incident = &IncidentPlan{Org: incidentOrg, Count: 1, Kind: ops.DrillMissingRevisions}
	tm, p := startProgram(t, opts, 80, 24)

	// The incident enqueues its victim at the head of the org's top queue
	// (ops.InjectIncident) and deletes its revision; read its id off the
	// status line.
	var head string
	re := regexp.MustCompile(`incident: drill missing-revisions injected on ` + incidentOrg + `: 1 items \((\d+)\)`)
	p.waitFrame(t, "the incident", func(f string) bool {
		if m := re.FindStringSubmatch(f); m != nil {
			head = m[1]
			return true
		}
		return false
	})
	victim, _ := router.ParseItemID(head)
	vi, err := w.store.GetItem(context.Background(), victim)
	if err != nil {
		t.Fatal(err)
	}
	queue := vi.QueueID
	ids = append([]int64{victim}, ids...)
	// The engine fails on the head, again and again, past stall_after.
	w.stall(t)
	tm.Type("r")
	p.waitFrame(t, "the STALLED row at the top", func(f string) bool {
		ls := lines(f)
		return len(ls) > 3 && strings.HasPrefix(ls[3], "> ✖ CRIT "+incidentOrg) && strings.Contains(ls[3], "STALLED missing_revision")
	})

	tm.Send(press("enter"))
	p.waitFrame(t, "the org view on the stalled queue's head", func(f string) bool {
		return strings.Contains(f, "> "+queue) && strings.Contains(f, "STALLED "+head) &&
			strings.Contains(f, "HEAD · missing_revision")
	})
	tm.Type("x")
	p.waitFrame(t, "the question", func(f string) bool {
		return strings.Contains(f, "Quarantine item "+head+" (head of "+incidentOrg+"/"+queue) && strings.Contains(f, "y/N")
	})
	tm.Type("y")
	p.waitFrame(t, "the result", func(f string) bool { return strings.Contains(f, "item "+head+" quarantined") })
	if s := w.itemState(t, ids[0]); s != router.StateQuarantined {
		t.Fatalf("the head is %s", s)
	}

	// The engine can now route past it.
	w.clk.Advance(time.Second)
	w.route(t)
	tm.Type("r")
	frame := p.waitFrame(t, "the queue flowing", func(f string) bool {
		for _, l := range lines(f) {
			if strings.HasPrefix(l, "> "+queue) {
				return strings.Contains(l, "flowing") && !strings.Contains(l, "STALLED") && !strings.Contains(l, head)
			}
		}
		return false
	})
	if !strings.Contains(frame, incidentOrg+" ▲ WARN") || !strings.Contains(frame, "1 quarantined") {
		t.Errorf("the org should be down to a warning for its quarantined item:\n%s", frame)
	}
	for _, id := range ids[1:] {
		if s := w.itemState(t, id); s != router.StateAssigned {
			t.Errorf("item %d behind the head is %s, want assigned", id, s)
		}
	}

	tm.Type("t")
	p.waitFrame(t, "the timeline with the operator's action", func(f string) bool {
		return strings.Contains(f, "alice quarantined item "+head) && strings.Contains(f, "queue "+queue+" STALLED") &&
			strings.Contains(f, "queue "+queue+" flowing again")
	})
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}
