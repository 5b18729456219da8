package tui

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/sim"
)

// largeFleet is the size of a platform's fleet: 50,000 small orgs.
const largeFleet = 50_000

// largeWorld seeds a memstore with n orgs of one queue, one agent and one
// queued item each, and returns console options over it (no engine: the
// items wait, so orgs are not all ok).
func largeWorld(t testing.TB, n int) Options {
	t.Helper()
	clk := router.NewManualClock(t0)
	st := memstore.New()
	t.Cleanup(st.Close)
	spec := sim.SeedSpec{Orgs: n, QueuesPerOrg: 1, AgentsPerOrg: 1, Capacity: 1, ItemsPerOrg: 1, Seed: 1, Now: t0}
	if _, err := sim.Seed(context.Background(), st, spec); err != nil {
		t.Fatal(err)
	}
	o := ops.New(st, ops.Options{Clock: clk, Actor: router.Actor{Name: "alice", OSUser: "alice", Origin: "local"},
		Health: ops.DefaultSettings(), Policy: ops.Policy{Embedded: true}})
	return Options{Ops: o, Refresh: time.Hour, Store: "embedded demo", Operator: "alice", Color: "never", Demo: true, Clock: clk}
}

// orgRows are the lines of a fleet frame that show an org.
func orgRows(frame string) []string {
	var out []string
	for _, l := range lines(frame) {
		if strings.Contains(l, "org-") && (strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "> ")) {
			out = append(out, l)
		}
	}
	return out
}

// TestFleetOf50000Orgs drives the fleet view over 50,000 orgs seeded in a
// memstore with key presses: each frame shows one screenful of rows, the
// cursor's row among them, wherever scrolling takes it, and filtering
// narrows and widens the rows as the filter is typed and edited.
func TestFleetOf50000Orgs(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 50,000 orgs")
	}
	const w, h = 120, 40
	d := newDriver(t, largeWorld(t, largeFleet), w, h)
	if d.m.fleetLen() != largeFleet {
		t.Fatalf("the fleet view has %d rows, want %d", d.m.fleetLen(), largeFleet)
	}
	page := d.m.fleetRows()
	screen := func(what string) []string {
		t.Helper()
		v := d.view()
		if n := len(lines(v)); n > h {
			t.Fatalf("%s: the frame has %d lines for a %d-line terminal", what, n, h)
		}
		rows := orgRows(v)
		if len(rows) == 0 || len(rows) > page {
			t.Fatalf("%s: %d org rows on screen, want 1 to %d:\n%s", what, len(rows), page, v)
		}
		sel := d.m.fleetRowAt(d.m.fleet.cursor)
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, "> ") && strings.Contains(r, sel.org+" ") {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: the cursor's org %s is not on screen, selected:\n%s", what, sel.org, v)
		}
		return rows
	}
	if rows := screen("first frame"); len(rows) != page {
		t.Fatalf("first frame: %d org rows, want a full page of %d", len(rows), page)
	}
	steps := []struct {
		key  string
		want int
	}{
		{"end", largeFleet - 1}, {"pgup", largeFleet - 1 - page}, {"home", 0},
		{"pgdown", page}, {"pgdown", 2 * page}, {"down", 2*page + 1}, {"G", largeFleet - 1}, {"g", 0},
	}
	for _, s := range steps {
		d.keys(s.key)
		if d.m.fleet.cursor != s.want {
			t.Fatalf("after %s the cursor is on row %d, want %d", s.key, d.m.fleet.cursor, s.want)
		}
		screen("after " + s.key)
	}

	// Filtering: each key narrows or widens the rows that match.
	d.keys("/")
	for _, c := range []struct {
		typed string
		want  int
	}{{"o", largeFleet}, {"rg-4999", 11}, {"9", 1}} {
		d.typeText(c.typed)
		if d.m.fleetLen() != c.want {
			t.Fatalf("filter /%s keeps %d rows, want %d", d.m.fleet.filter, d.m.fleetLen(), c.want)
		}
	}
	if r := d.m.fleetRowAt(0); r.org != sim.OrgID(49999) {
		t.Fatalf("filter /org-49999 keeps %s", r.org)
	}
	d.keys("backspace", "enter")
	d.wantView("filter /org-4999 · 11 of 50000 orgs")
	d.keys("end")
	if d.m.fleet.cursor != 10 {
		t.Fatalf("end in a filtered view of 11 rows: cursor %d", d.m.fleet.cursor)
	}
	if rows := screen("filtered, at the end"); len(rows) != 11 {
		t.Fatalf("a filter of 11 orgs shows %d rows", len(rows))
	}
	d.keys("esc")
	if d.m.fleetLen() != largeFleet || d.m.fleet.cursor != 0 {
		t.Fatalf("esc: %d rows, cursor %d; want every org, cursor on top", d.m.fleetLen(), d.m.fleet.cursor)
	}
	screen("after esc")
}

// BenchmarkFleetKeypress50000 answers key presses (scroll, filter, clear)
// over a fleet of 50,000 orgs, each with its frame rendered, and reports
// the latency of a key press (p50, p99, max in ms) and the process's
// memory with the fleet loaded: the Go heap in use and the resident set
// (of the test binary, so an upper bound of the console's).
func BenchmarkFleetKeypress50000(b *testing.B) {
	clk := router.NewManualClock(t0)
	m := New(Options{Refresh: time.Second, Store: "synthetic", Engine: EngineInfo{Running: true, Policy: router.PolicyQuarantine},
		Operator: "alice", Color: "never", Clock: clk})
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	nm, _ = nm.(Model).Update(snapMsg{snap: syntheticSnapshot(largeFleet, 0)})
	m = nm.(Model)
	keys := []string{"down", "pgdown", "pgdown", "end", "pgup", "home", "/", "o", "r", "g", "-", "4", "2", "backspace", "backspace", "esc"}
	var lat []float64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := time.Now()
		nm, _ := m.Update(press(keys[i%len(keys)]))
		m = nm.(Model)
		_ = m.View()
		lat = append(lat, float64(time.Since(t))/float64(time.Millisecond))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50_ms")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99_ms")
	b.ReportMetric(lat[len(lat)-1], "max_ms")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_mb")
	if kb, ok := selfStatusKB("VmRSS:"); ok {
		b.ReportMetric(float64(kb)/1024, "rss_mb")
	}
	runtime.KeepAlive(m)
}

// selfStatusKB reads one "Key: N kB" line of /proc/self/status.
func selfStatusKB(key string) (int64, bool) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte(key)); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(string(f[0]), 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
