package tui

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// syntheticSnapshot builds a fleet of n orgs, each with three queues: about
// 1% critical with a stalled queue, 5% warning, the rest fine. It is
// deterministic.
func syntheticSnapshot(n int, gen int) *ops.Snapshot {
	r := rand.New(rand.NewPCG(uint64(n), uint64(gen)))
	snap := &ops.Snapshot{GeneratedAt: t0.Add(time.Duration(gen) * time.Second), Store: "synthetic",
		Engine: ops.EngineState{State: "running", Engines: 1, Policy: "quarantine"}}
	snap.Orgs = make([]ops.OrgHealth, n)
	queueNames := []string{"escalations", "vip", "default"}
	causes := []router.Cause{router.CauseMissingRevision, router.CauseCorruptRevision, router.CauseUnknown}
	for i := range snap.Orgs {
		o := &snap.Orgs[i]
		o.Org = fmt.Sprintf("org-%04d", i+1)
		o.Health = ops.HealthOK
		o.AgentsTotal = 5 + r.IntN(40)
		o.AgentsAvailable = o.AgentsTotal - r.IntN(4)
		o.Capacity = o.AgentsTotal * 4
		o.AvailableCapacity = r.IntN(o.Capacity)
		o.Queues = make([]ops.QueueHealth, len(queueNames))
		x := r.Float64()
		for qi := range o.Queues {
			q := &o.Queues[qi]
			q.Queue, q.Health, q.Priority = queueNames[qi], ops.HealthOK, 90-qi*10
			q.Depth = r.IntN(50)
			q.Assigned1m = r.IntN(30)
			q.Assigned5m = q.Assigned1m * 5
			q.AvailableCapacity = o.AvailableCapacity
			if q.Depth > 0 {
				q.OldestAgeSeconds = float64(r.IntN(600))
				q.Head = &ops.HeadHealth{Item: fmt.Sprint(int64(i)*1000 + int64(qi)), AgeSeconds: q.OldestAgeSeconds, Revision: "ok"}
			}
			if qi == 0 && x < 0.01 && q.Head != nil {
				q.Stalled, q.Cause, q.Health = true, causes[r.IntN(len(causes))], ops.HealthCritical
				q.Head.Attempts, q.Head.LastError = 50+r.IntN(50), "current revision 8812 not found"
				q.Reason = "head item " + q.Head.Item + ": " + q.Head.LastError
			} else if qi == 1 && x < 0.06 {
				q.Health, q.Quarantined, q.Reason = ops.HealthWarning, 1+r.IntN(3), "1 quarantined"
			}
			o.Queued += q.Depth
			o.Quarantined += q.Quarantined
			o.Assigned1m += q.Assigned1m
			o.Assigned5m += q.Assigned5m
			o.OldestAgeSeconds = max(o.OldestAgeSeconds, q.OldestAgeSeconds)
			if q.Head != nil {
				o.HeadAgeSeconds = max(o.HeadAgeSeconds, q.Head.AgeSeconds)
			}
			if q.Stalled {
				o.StalledQueues++
			}
			if q.Health.Worse(o.Health) {
				o.Health, o.Reason = q.Health, q.Queue+": "+q.Reason
			}
		}
		s := &snap.Summary
		s.Orgs++
		s.Queued += o.Queued
		s.Quarantined += o.Quarantined
		s.StalledQueues += o.StalledQueues
		s.Assigned1m += o.Assigned1m
		switch o.Health {
		case ops.HealthCritical:
			s.CriticalOrgs++
		case ops.HealthWarning:
			s.WarningOrgs++
		}
		s.Health = ops.Worst(s.Health, o.Health)
	}
	ops.SortOrgs(snap.Orgs)
	return snap
}

const benchOrgs = 5000

func benchModel(b *testing.B, w, h int) Model {
	b.Helper()
	clk := router.NewManualClock(t0)
	m := New(Options{Refresh: time.Second, Store: "embedded demo", Engine: EngineInfo{Running: true, Policy: router.PolicyQuarantine},
		Operator: "alice", Color: "never", Clock: clk})
	nm, _ := m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	nm, _ = nm.(Model).Update(snapMsg{snap: syntheticSnapshot(benchOrgs, 0)})
	return nm.(Model)
}

// BenchmarkView renders the fleet view of 5,000 orgs at 120x40.
func BenchmarkView(b *testing.B) {
	m := benchModel(b, 120, 40)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkViewColor is BenchmarkView with colour on.
func BenchmarkViewColor(b *testing.B) {
	m := benchModel(b, 120, 40)
	m.st = newStyles(true)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkSnapshotToRows turns a 5,000-org snapshot into fleet rows.
func BenchmarkSnapshotToRows(b *testing.B) {
	snaps := []*ops.Snapshot{syntheticSnapshot(benchOrgs, 1), syntheticSnapshot(benchOrgs, 2)}
	trends := map[string]*trend{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = buildRows(snaps[i%2], trends)
		i++
	}
}

// BenchmarkRefresh is a whole refresh in Update: a new 5,000-org snapshot
// arrives (rows, trends, filter, selection) and the frame is rendered.
func BenchmarkRefresh(b *testing.B) {
	m := benchModel(b, 120, 40)
	m.fleet.filter = "org-1"
	m.fleet.idx = filterRows(m.rows, m.fleet.filter, false)
	m.fleet.cursor = 5
	snaps := []*ops.Snapshot{syntheticSnapshot(benchOrgs, 1), syntheticSnapshot(benchOrgs, 2)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		nm, _ := m.Update(snapMsg{snap: snaps[i%2]})
		m = nm.(Model)
		_ = m.View()
		i++
	}
}

// BenchmarkFilterKey is one keystroke of / filtering over 5,000 orgs,
// with the frame rendered.
func BenchmarkFilterKey(b *testing.B) {
	m := benchModel(b, 120, 40)
	nm, _ := m.Update(press("/"))
	m = nm.(Model)
	keys := []tea.KeyPressMsg{press("7"), press("backspace")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		nm, _ := m.Update(keys[i%2])
		m = nm.(Model)
		_ = m.View()
		i++
	}
}

// BenchmarkScroll is one page down (or back to the top) over 5,000 orgs,
// with the frame rendered.
func BenchmarkScroll(b *testing.B) {
	m := benchModel(b, 120, 40)
	pg, home := press("pgdown"), press("home")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := pg
		if i%100 == 99 {
			k = home
		}
		nm, _ := m.Update(k)
		m = nm.(Model)
		_ = m.View()
		i++
	}
}
