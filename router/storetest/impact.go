package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
)

var impactTests = []suiteTest{
	{"Impact/ScriptedIncident", testImpactScripted},
	{"Impact/WaitsEqualDirectComputation", testImpactProperty},
	{"Impact/WaitSeries", testWaitSeries},
}

// impactWorld is a scripted incident: two orgs, waits under and over a
// one-minute SLA, a quarantine, a repair, stalls inside and outside the
// window.
type impactWorld struct {
	f                                      *fx
	e1, e2, e3, e4, e5, e6, e7, e9, closed int64
}

func newImpactWorld(t *testing.T, s router.Store) *impactWorld {
	f := newFx(t, s)
	w := &impactWorld{f: f}
	f.basicOrg("o1")
	f.queue("o1", "vip", 5, false)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 100)
	f.basicOrg("o2")
	f.agent("o2", "b1", "t1", router.AgentAvailable, 100)

	w.e1 = f.enqueue("o1", "q", attrs(5, "chat"), sec(10)).ID
	f.assign("o1", sec(20), map[int64]string{w.e1: "a1"})
	w.e2 = f.enqueue("o1", "q", attrs(5, "chat"), sec(30)).ID
	w.e3 = f.enqueue("o1", "q", attrs(4, "chat"), sec(100)).ID
	w.e4 = f.enqueue("o1", "vip", attrs(5, "chat"), sec(200)).ID
	f.assign("o1", sec(230), map[int64]string{w.e2: "a1"})
	f.quarantine("o1", w.e4, "odd", sec(300))
	w.e5 = f.enqueue("o1", "vip", attrs(5, "chat"), sec(500)).ID
	f.assign("o1", sec(530), map[int64]string{w.e5: "a1"})
	f.complete("o1", w.e5, sec(600))
	w.e9 = f.enqueue("o1", "q", attrs(1, "chat"), sec(1000)).ID // at the window's end: outside

	w.e6 = f.enqueue("o2", "q", attrs(5, "chat"), sec(-100)).ID // before the window
	f.quarantine("o2", w.e6, "held", sec(50))
	e7 := f.enqueue("o2", "q", attrs(5, "chat"), sec(400))
	w.e7 = e7.ID
	if ids, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o2", Count: 1, Actor: operator, At: sec(450)}); err != nil || !slices.Equal(ids, []int64{w.e7}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v", ids, err)
	}
	outs, err := s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: []router.RepairFix{{OrgID: "o2", ItemID: w.e7,
		ExpectRevisionID: e7.CurrentRevisionID, Attributes: attrs(5, "chat"), Source: "journal"}}, Actor: operator, At: sec(700)})
	if err != nil || len(outs) != 1 || !outs[0].Repaired {
		t.Fatalf("ApplyRepair = %+v, %v", outs, err)
	}
	f.assign("o2", sec(800), map[int64]string{w.e7: "b1"})

	mark := func(org, queue string, c router.Cause, when time.Time) {
		t.Helper()
		if ok, err := s.MarkStall(f.ctx, router.MarkStallRequest{Org: org, Queue: queue, Cause: c, Actor: engineActor, At: when}); err != nil || !ok {
			t.Fatalf("MarkStall(%s/%s, %q) = %v, %v", org, queue, c, ok, err)
		}
	}
	mark("o1", "q", router.CauseMissingRevision, sec(150))
	mark("o1", "q", router.CauseNone, sec(400))
	mark("o2", "q", router.CauseUnknown, sec(-500))
	mark("o2", "q", router.CauseNone, sec(-400))
	mark("o2", "q", router.CauseCorruptRevision, sec(900))
	return w
}

func secs(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func stats(n, over, max, p50, p95, excess int) router.WaitStats {
	d := secs(max, p50, p95, excess)
	return router.WaitStats{Items: n, OverSLA: over, Max: d[0], P50: d[1], P95: d[2], Excess: d[3]}
}

func testImpactScripted(t *testing.T, s router.Store) {
	w := newImpactWorld(t, s)
	req := router.ImpactRequest{Since: sec(0), Until: sec(1000), SLA: time.Minute, ListItems: 10}
	got, err := s.Impact(w.f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Waits: o1 10, 200, 900 (q), 800, 30 (vip); o2 400; e6 was enqueued
	// before the window, e9 at its end.
	if want := stats(6, 4, 900, 0, 0, 140+840+740+340); got.FleetStats() != want {
		t.Errorf("fleet %+v, want %+v", got.FleetStats(), want)
	}
	if len(got.Orgs) != 2 || got.Orgs[0].Org != "o1" || got.Orgs[1].Org != "o2" {
		t.Fatalf("orgs %+v", got.Orgs)
	}
	o1, o2 := got.Orgs[0], got.Orgs[1]
	if want := stats(5, 3, 900, 200, 900, 1720); o1.WaitStats != want {
		t.Errorf("o1 %+v, want %+v", o1.WaitStats, want)
	}
	wantQ := []router.ImpactQueue{
		{Queue: "q", WaitStats: stats(3, 2, 900, 200, 900, 980)},
		{Queue: "vip", WaitStats: stats(2, 1, 800, 30, 800, 740), Quarantined: 1},
	}
	if !slices.Equal(o1.Queues, wantQ) {
		t.Errorf("o1 queues %+v, want %+v", o1.Queues, wantQ)
	}
	if o1.Quarantined != 1 || o1.Repaired != 0 || len(o1.QuarantinedItems) != 1 ||
		o1.QuarantinedItems[0] != (router.ImpactItem{ID: w.e4, Queue: "vip", State: router.StateQuarantined, Wait: 800 * time.Second}) {
		t.Errorf("o1 quarantined %d %+v, repaired %d", o1.Quarantined, o1.QuarantinedItems, o1.Repaired)
	}
	wantStall := []router.StallWindow{{Queue: "q", Cause: router.CauseMissingRevision, From: sec(150), To: ptr(sec(400))}}
	if !sameStalls(o1.Stalls, wantStall) {
		t.Errorf("o1 stalls %+v, want %+v", o1.Stalls, wantStall)
	}
	if want := stats(1, 1, 400, 400, 400, 340); o2.WaitStats != want {
		t.Errorf("o2 %+v, want %+v", o2.WaitStats, want)
	}
	if o2.Quarantined != 1 || o2.Repaired != 1 ||
		!slices.Equal(o2.QuarantinedItems, []router.ImpactItem{{ID: w.e6, Queue: "q", State: router.StateQuarantined, Wait: 1100 * time.Second}}) ||
		!slices.Equal(o2.RepairedItems, []router.ImpactItem{{ID: w.e7, Queue: "q", State: router.StateAssigned, Wait: 400 * time.Second}}) {
		t.Errorf("o2 moved: quarantined %d %+v repaired %d %+v", o2.Quarantined, o2.QuarantinedItems, o2.Repaired, o2.RepairedItems)
	}
	if len(o2.Queues) != 1 || o2.Queues[0].Quarantined != 1 || o2.Queues[0].Repaired != 1 {
		t.Errorf("o2 queues %+v", o2.Queues)
	}
	wantStall = []router.StallWindow{{Queue: "q", Cause: router.CauseCorruptRevision, From: sec(900)}}
	if !sameStalls(o2.Stalls, wantStall) {
		t.Errorf("o2 stalls %+v, want %+v", o2.Stalls, wantStall)
	}

	// One org; no lists.
	req.Org, req.ListItems = "o2", 0
	one, err := s.Impact(w.f.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Orgs) != 1 || one.Orgs[0].Org != "o2" || one.Orgs[0].WaitStats != o2.WaitStats || one.Orgs[0].Quarantined != 1 ||
		len(one.Orgs[0].QuarantinedItems) != 0 || len(one.Orgs[0].Stalls) != 1 {
		t.Errorf("impact of o2 alone %+v", one)
	}
	// A window with nothing in it.
	empty, err := s.Impact(w.f.ctx, router.ImpactRequest{Since: sec(5000), Until: sec(6000), SLA: time.Minute})
	if err != nil || empty.FleetStats() != (router.WaitStats{}) {
		t.Errorf("empty window: %+v, %v", empty, err)
	}
	for _, o := range empty.Orgs {
		if o.Items != 0 || o.Quarantined != 0 || len(o.Stalls) != 1 || o.Stalls[0].To != nil {
			t.Errorf("empty window org %+v: want only o2's open stall", o)
		}
	}
}

func sameStalls(a, b []router.StallWindow) bool {
	return slices.EqualFunc(a, b, func(x, y router.StallWindow) bool {
		eq := (x.To == nil && y.To == nil) || (x.To != nil && y.To != nil && x.To.Equal(*y.To))
		return x.Queue == y.Queue && x.Cause == y.Cause && x.From.Equal(y.From) && eq
	})
}

// testImpactProperty: for random scripts of arrivals and assignments, the
// store's figures equal a direct computation from the script.
func testImpactProperty(t *testing.T, s router.Store) {
	f := newFx(t, s)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		org := fmt.Sprintf("r%03d", n)
		f.basicOrg(org)
		f.queue(org, "b", 1, false)
		f.agent(org, "a", "t1", router.AgentAvailable, 1000)
		since, until := sec(0), sec(3000)
		sla := time.Duration(rapid.IntRange(0, 600).Draw(rt, "sla_s")) * time.Second
		byQueue := map[string][]time.Duration{}
		var all []time.Duration
		items := rapid.IntRange(0, 12).Draw(rt, "items")
		for i := range items {
			queue := rapid.SampledFrom([]string{"q", "b"}).Draw(rt, "queue")
			enq := at(time.Duration(rapid.Int64Range(-500_000_000, 3_500_000_000).Draw(rt, "enq_us")) * time.Microsecond)
			it := f.enqueue(org, queue, attrs(50, "chat"), enq)
			end := until
			if rapid.Bool().Draw(rt, fmt.Sprintf("assigned%d", i)) {
				end = enq.Add(time.Duration(rapid.Int64Range(0, 2_000_000_000).Draw(rt, "wait_us")) * time.Microsecond)
				f.assign(org, end, map[int64]string{it.ID: "a"})
			}
			if !enq.Before(since) && enq.Before(until) {
				byQueue[queue] = append(byQueue[queue], end.Sub(enq))
				all = append(all, end.Sub(enq))
			}
		}
		got, err := s.Impact(f.ctx, router.ImpactRequest{Since: since, Until: until, Org: org, SLA: sla})
		if err != nil {
			rt.Fatal(err)
		}
		if len(all) == 0 {
			if len(got.Orgs) != 0 {
				rt.Fatalf("orgs %+v for a window without items", got.Orgs)
			}
			return
		}
		if len(got.Orgs) != 1 || got.Orgs[0].WaitStats != router.StatsOf(all, sla) {
			rt.Fatalf("org %+v, want %+v", got.Orgs, router.StatsOf(all, sla))
		}
		for _, q := range got.Orgs[0].Queues {
			if want := router.StatsOf(byQueue[q.Queue], sla); q.WaitStats != want {
				rt.Fatalf("queue %s %+v, want %+v", q.Queue, q.WaitStats, want)
			}
			delete(byQueue, q.Queue)
		}
		if len(byQueue) != 0 {
			rt.Fatalf("queues missing from the report: %v", byQueue)
		}
	})
}

func testWaitSeries(t *testing.T, s router.Store) {
	w := newImpactWorld(t, s)
	got, err := s.WaitSeries(w.f.ctx, router.SeriesRequest{Org: "o1", From: sec(0), To: sec(1000), Points: 4})
	if err != nil {
		t.Fatal(err)
	}
	type pt struct {
		at      time.Time
		waiting int
		oldest  int
	}
	want := map[string][]pt{
		"q":   {{sec(250), 1, 150}, {sec(500), 1, 400}, {sec(750), 1, 650}, {sec(1000), 2, 900}},
		"vip": {{sec(250), 1, 50}, {sec(500), 2, 300}, {sec(750), 1, 550}, {sec(1000), 1, 800}},
	}
	if len(got) != 2 || got[0].Queue != "q" || got[1].Queue != "vip" {
		t.Fatalf("series %+v, want q and vip", got)
	}
	for _, qs := range got {
		if qs.Org != "o1" || len(qs.Points) != 4 {
			t.Fatalf("series %+v", qs)
		}
		for i, p := range qs.Points {
			wp := want[qs.Queue][i]
			if !p.At.Equal(wp.at) || p.Waiting != wp.waiting || p.OldestWait != time.Duration(wp.oldest)*time.Second {
				t.Errorf("%s point %d = %+v, want %+v", qs.Queue, i, p, wp)
			}
		}
	}
	// Named queues, one of them quiet.
	got, err = s.WaitSeries(w.f.ctx, router.SeriesRequest{Org: "o1", Queues: []string{"vip", "nothing"}, From: sec(0), To: sec(1000), Points: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Queue != "nothing" || got[1].Queue != "vip" || got[0].Points[1].Waiting != 0 ||
		got[1].Points[0].Waiting != 2 || got[1].Points[0].OldestWait != 300*time.Second {
		t.Fatalf("named series %+v", got)
	}
}
