package ops_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	dto "github.com/prometheus/client_model/go"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// queueSeriesOf lists the org/queue pairs that have a routeops_queue_depth
// series (every queue with series of its own has one).
func queueSeriesOf(fams []*dto.MetricFamily) []string {
	var out []string
	for _, f := range fams {
		if f.GetName() != "routeops_queue_depth" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out = append(out, l["org"]+"/"+l["queue"])
		}
	}
	return out
}

// TestMetricsHealthyQueuesCostNoSeries: with metrics.per_queue unhealthy
// (the default) a healthy queue, and a queue that is only behind, have no
// series of their own; a stalled queue and one holding quarantined items
// do; the fleet totals count them all.
func TestMetricsHealthyQueuesCostNoSeries(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		m := ops.NewMetrics(e.ops.Monitor, ops.MetricsOptions{})
		eng := e.engine(router.PolicyQuarantine, nil)
		// o-ok flows; o-quar had an item quarantined; o-stuck is reached
		// and assigns nothing; o-behind is never reached.
		for _, org := range []string{"o-ok", "o-quar", "o-stuck", "o-behind"} {
			e.org(org, 1, 5)
		}
		e.enqueue("o-ok", "default", attrs(1), at(110*time.Second)) // young: ok
		q1 := e.enqueue("o-quar", "default", attrs(1), base)
		outs, err := e.ops.Quarantine(e.ctx, "o-quar", []int64{q1.ID}, "test")
		e.must(err)
		if !outs[0].OK {
			t.Fatalf("quarantine: %+v", outs[0])
		}
		e.enqueue("o-stuck", "default", attrs(1), base)
		e.enqueue("o-behind", "default", attrs(1), base)
		e.clk.Set(at(2 * time.Minute))
		e.beat(eng)
		e.reachOnly("o-stuck")
		e.observe(e.ops.Monitor)
		fams, err := m.Registry().Gather()
		e.must(err)
		got := strings.Join(queueSeriesOf(fams), " ")
		if got != "o-quar/default o-stuck/default" {
			t.Fatalf("queues with series of their own: %q, want the quarantined and the stalled one", got)
		}
		for name, want := range map[string]float64{"routeops_queues_stalled": 1, "routeops_queues_behind": 1,
			"routeops_queued_items": 3, "routeops_quarantined_items": 1, "routeops_queue_series_queues": 2,
			"routeops_queue_series_dropped": 0} {
			if v := metric(t, fams, name, nil); v != want {
				t.Errorf("%s = %v, want %v", name, v, want)
			}
		}
		if v := metric(t, fams, "routeops_queues", map[string]string{"health": "critical"}); v != 1 {
			t.Errorf("critical queues = %v", v)
		}
		if v := metric(t, fams, "routeops_queues", map[string]string{"health": "warning"}); v != 2 {
			t.Errorf("warning queues = %v (the quarantined and the behind one)", v)
		}
		if v := metric(t, fams, "routeops_orgs", map[string]string{"health": "ok"}); v != 1 {
			t.Errorf("ok orgs = %v", v)
		}
	})
}

// TestMetricsQueueSeriesBound: however many queues need looking at, at
// most MaxQueueSeries get series of their own, the stalled ones first.
func TestMetricsQueueSeriesBound(t *testing.T) {
	s := &ops.Snapshot{}
	add := func(prefix string, n int, q ops.QueueHealth) {
		for i := 0; i < n; i++ {
			q.Queue = "q"
			s.Orgs = append(s.Orgs, ops.OrgHealth{Org: fmt.Sprintf("%s-%05d", prefix, i), Queues: []ops.QueueHealth{q}})
		}
	}
	add("warn", 1000, ops.QueueHealth{Health: ops.HealthWarning, Depth: 1})
	add("ok", 5000, ops.QueueHealth{Health: ops.HealthOK, Depth: 1, Assigned5m: 3})
	add("behind", 3000, ops.QueueHealth{Health: ops.HealthWarning, Behind: true, Depth: 9, OldestAgeSeconds: 3600, AvailableCapacity: 2})
	add("stall", 1200, ops.QueueHealth{Health: ops.HealthCritical, Stalled: true, StallCause: router.CauseUnknown, Depth: 1})
	picked, dropped := ops.PickQueues(s, ops.PerQueueUnhealthy, settings())
	if len(picked) != ops.MaxQueueSeries || dropped != 2200-ops.MaxQueueSeries {
		t.Fatalf("picked %d, dropped %d; want %d and %d", len(picked), dropped, ops.MaxQueueSeries, 2200-ops.MaxQueueSeries)
	}
	stalls := 0
	for _, p := range picked {
		switch {
		case strings.HasPrefix(p, "stall-"):
			stalls++
		case strings.HasPrefix(p, "warn-"):
		default:
			t.Fatalf("%s has series of its own", p)
		}
	}
	if stalls != 1200 {
		t.Fatalf("%d of 1200 stalled queues kept", stalls)
	}
	if all, dropped := ops.PickQueues(s, ops.PerQueueAll, settings()); len(all) != 10200 || dropped != 0 {
		t.Fatalf("per_queue all: %d queues, %d dropped", len(all), dropped)
	}
}

// TestMetricsKeepNoSnapshot: the monitor and the metrics keep nothing of
// a snapshot but what a scrape exports. Once an observation is over, its
// snapshot can be collected (a process over a large fleet would otherwise
// hold the last whole snapshot while building the next), and a scrape
// still exports the stalled queue it found.
func TestMetricsKeepNoSnapshot(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		m := ops.NewMetrics(e.ops.Monitor, ops.MetricsOptions{})
		eng := e.engine(router.PolicyQuarantine, nil)
		e.org("o-stuck", 1, 5)
		e.enqueue("o-stuck", "default", attrs(1), base)
		e.clk.Set(at(2 * time.Minute))
		e.beat(eng)
		e.reachOnly("o-stuck")
		w := weak.Make(e.observe(e.ops.Monitor))
		for i := 0; i < 5 && w.Value() != nil; i++ {
			runtime.GC()
		}
		if w.Value() != nil {
			t.Fatal("the last snapshot is still reachable after its observation")
		}
		fams, err := m.Registry().Gather()
		e.must(err)
		if got := queueSeriesOf(fams); len(got) != 1 || got[0] != "o-stuck/default" {
			t.Fatalf("queues with series: %v, want the stalled o-stuck/default", got)
		}
	})
}

// TestMetricsKeepTheNewerView: two snapshots that finish out of order (a
// console's refresh and its monitor) leave the newer one's view in place.
func TestMetricsKeepTheNewerView(t *testing.T) {
	m := ops.NewMetrics(nil, ops.MetricsOptions{})
	snap := func(at time.Time, stalled bool) *ops.Snapshot {
		q := ops.QueueHealth{Queue: "q", Health: ops.HealthOK}
		if stalled {
			q = ops.QueueHealth{Queue: "q", Health: ops.HealthCritical, Stalled: true, StallCause: router.CauseUnknown, Depth: 1}
		}
		return &ops.Snapshot{GeneratedAt: at, Orgs: []ops.OrgHealth{{Org: "o", Health: q.Health, Queues: []ops.QueueHealth{q}}}}
	}
	ops.MetricsKeep(m, snap(base.Add(time.Minute), true))
	ops.MetricsKeep(m, snap(base, false)) // older, finishing last
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := queueSeriesOf(fams); len(got) != 1 || got[0] != "o/q" {
		t.Fatalf("queues with series: %v, want the newer snapshot's stalled o/q", got)
	}
	ops.MetricsKeep(m, snap(base.Add(2*time.Minute), false)) // newer: replaces
	fams, err = m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := queueSeriesOf(fams); len(got) != 0 {
		t.Fatalf("queues with series: %v, want none after the newest snapshot", got)
	}
}
