package tui

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func hostileStore(t *testing.T) *pgstore.Store {
	t.Helper()
	dsn := pgtest.NewDB(t)
	st := openPG(t, dsn)
	db := pgtest.Connect(t, dsn)
	db.Exec(`INSERT INTO orgs (id) VALUES ('org-calm')`)
	db.Exec(`INSERT INTO queues (org_id, id) VALUES ('org-calm', 'default')`)
	db.Hostile()
	return st
}

// sgr matches the styles the console itself writes.
var sgr = regexp.MustCompile("\x1b\\[[0-9;:]*m")

// checkFrame fails when a frame holds a byte no data may put on the
// terminal: with colour off any escape at all; with colour on anything
// but the console's own SGR styles (and never blink, 5, or reverse video,
// 7, which the console does not use); a bell, a C1 control or a bidi
// mark. It also checks the frame's shape: h lines, none wider than w.
func checkFrame(t *testing.T, what, frame string, w, h int, color bool) {
	t.Helper()
	plain := frame
	if color {
		for _, m := range sgr.FindAllString(frame, -1) {
			for _, p := range strings.FieldsFunc(m[2:len(m)-1], func(r rune) bool { return r == ';' || r == ':' }) {
				if p == "5" || p == "7" {
					t.Errorf("%s: the frame styles text blinking or reversed (%q)", what, m)
				}
			}
		}
		plain = sgr.ReplaceAllString(frame, "")
	}
	for i, r := range plain {
		if r != '\n' && router.UnsafeRune(r) {
			t.Fatalf("%s: U+%04X at byte %d reaches the terminal:\n%q", what, r, i, frame)
		}
	}
	ls := lines(frame)
	if len(ls) != h {
		t.Errorf("%s: %d lines, want %d", what, len(ls), h)
	}
	for i, l := range ls {
		if n := width(stripStyle(l)); n > w {
			t.Errorf("%s: line %d is %d cells wide, more than %d: %q", what, i, n, w, l)
		}
	}
}

// TestConsoleEscapesHostileRows drives the console (a real Bubble Tea
// program, teatest) over hostile rows (pgtest.DB.Hostile), with colour
// off and on: the fleet,
// the org view with its queues, items and agents, an item, the timeline.
// No frame, and no byte the program writes, carries a raw escape from the
// data, a bell, a C1 control or a bidi mark: the data shows escaped
// (\x1b, \u202e), rows keep every column, the next row and the items
// header stay in place, and the item view and the timeline name the
// database login beside the operator the journal claims.
func TestConsoleEscapesHostileRows(t *testing.T) {
	escOrg := `evil\x1b]0;pwned\x07org`
	escQueue := `q\x1b]52;c;cHduZWQ=\x07\u009b2J\u202e`
	for _, color := range []string{"never", "always"} {
		t.Run(color, func(t *testing.T) {
			const w, h = 160, 40
			st := hostileStore(t)
			opts := pgConsole(st, "pg", false)
			opts.Color = color
			tm, p := startProgram(t, opts, w, h)
			on := color == "always"
			wait := func(what string, cond func(string) bool) string {
				t.Helper()
				f := p.waitFrame(t, what, func(f string) bool { return cond(stripStyle(f)) })
				checkFrame(t, what, f, w, h, on)
				return stripStyle(f)
			}
			wait("the hostile org in the fleet", func(f string) bool { return strings.Contains(f, `evil\x1b]0;pwned`) })
			tm.Type("/evil")
			tm.Send(press("enter"))
			tm.Send(press("enter"))
			f := wait("the org view", func(f string) bool {
				return strings.Contains(f, escQueue) && strings.Contains(f, "ITEM") && strings.Contains(f, "AGENT")
			})
			// The hostile queue's row keeps every column (name cut to its
			// width, depth, wait, state, rates, head, age, tries, status),
			// and the items header follows the queues.
			row := regexp.MustCompile(`(?m)^> q\\x1b\]52;c… +2 +2h00m +(flowing|starved) +0 +0 +\d+ +2h00m +3 +▲ WARN starved`)
			if !row.MatchString(f) {
				t.Fatalf("the hostile queue's row lost columns:\n%s", f)
			}
			if !regexp.MustCompile(`(?m)^ +ITEM +PRI +WAITED +TRIES +NOTES`).MatchString(f) {
				t.Fatalf("the items header is gone:\n%s", f)
			}
			tm.Type("i")
			wait("the item view", func(f string) bool {
				return strings.Contains(f, `boom\x1b[2J\x07\u202e second line`) &&
					strings.Contains(f, `mallory\x1b]52;c;cHduZWQ=\x07@10.0.0.1\u202e (login `)
			})
			tm.Send(press("esc"))
			tm.Type("t")
			wait("the timeline", func(f string) bool {
				return strings.Contains(f, `mallory\x1b]52;c;cHduZWQ=\x07@10.0.0.1\u202e (login `) && strings.Contains(f, escOrg)
			})
			tm.Type("q")
			tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
			raw, err := io.ReadAll(tm.FinalOutput(t, teatest.WithFinalTimeout(time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			out := string(raw)
			for _, bad := range []string{"\x07", "\x1b]0;", "\x1b]52;", "\u009b", "\u009d", "\u202e"} {
				if strings.Contains(out, bad) {
					t.Errorf("the program wrote %q to the terminal", bad)
				}
			}
		})
	}
}
