package ops_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// metric returns the value of the one series of name whose labels include
// want, failing when there is none or more than one.
func metric(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		var found []*dto.Metric
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			found = append(found, m)
		}
		if len(found) != 1 {
			t.Fatalf("%s%v: %d series", name, want, len(found))
		}
		m := found[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
		t.Fatalf("%s is neither a gauge nor a counter", name)
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		m := ops.NewMetrics(e.ops.Monitor, ops.MetricsOptions{PerQueue: ops.PerQueueAll})
		// Before any snapshot the gauges are simply absent.
		fams, err := m.Registry().Gather()
		e.must(err)
		for _, f := range fams {
			if f.GetName() == "routeops_queue_depth" {
				t.Fatal("queue gauges before any snapshot")
			}
		}

		// o1: two agents' worth of capacity (2), four items, the head's
		// revision deleted: the quarantine policy moves it aside and
		// assigns two. o2: the block policy leaves its bad head in place.
		e.org("o1", 1, 2)
		e.org("o2", 1, 5)
		for i := 0; i < 4; i++ {
			e.enqueue("o1", "default", attrs(1), base)
		}
		e.enqueue("o2", "default", attrs(1), base)
		e.enqueue("o2", "default", attrs(1), base)
		e.drill(ops.DrillMissingRevisions, "o1", 1)
		e.drill(ops.DrillMissingRevisions, "o2", 1)
		e.clk.Set(at(10 * time.Second))
		q := router.NewEngine(e.st, router.EngineConfig{ID: "eng-q", Policy: router.PolicyQuarantine, Clock: e.clk, Observer: m})
		b := router.NewEngine(e.st, router.EngineConfig{ID: "eng-b", Policy: router.PolicyBlock, Clock: e.clk, Observer: m})
		if turn, err := q.RouteTurn(e.ctx, "o1"); err != nil || turn.Assigned != 2 || turn.Quarantined != 1 {
			t.Fatalf("o1 turn: %+v %v", turn, err)
		}
		if turn, err := b.RouteTurn(e.ctx, "o2"); err != nil || turn.Blocked != 1 || turn.Assigned != 0 {
			t.Fatalf("o2 turn: %+v %v", turn, err)
		}
		e.clk.Set(at(61 * time.Second))
		e.beat(q)
		e.observe(e.ops.Monitor)

		fams, err = m.Registry().Gather()
		e.must(err)
		o1 := map[string]string{"org": "o1", "queue": "default"}
		o2 := map[string]string{"org": "o2", "queue": "default"}
		checks := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"routeops_queue_depth", o1, 1},
			{"routeops_queue_depth", o2, 2},
			{"routeops_queue_oldest_age_seconds", o1, 61},
			{"routeops_queue_oldest_age_seconds", o2, 61},
			{"routeops_queue_head_attempts", o1, 0},
			{"routeops_queue_head_attempts", o2, 1},
			{"routeops_queue_stalled", o1, 0},
			{"routeops_queue_stalled", o2, 1},
			{"routeops_queue_available_capacity", o1, 0},
			{"routeops_queue_available_capacity", o2, 5},
			{"routeops_items_quarantined", o1, 1},
			{"routeops_items_quarantined", o2, 0},
			{"routeops_assignments_total", nil, 2},
			{"routeops_item_faults_total", map[string]string{"cause": "missing_revision"}, 2},
			{"routeops_item_faults_total", map[string]string{"cause": "corrupt_revision"}, 0},
			{"routeops_engine_heartbeat_timestamp_seconds", nil, float64(at(61 * time.Second).Unix())},
			{"routeops_engines_running", nil, 1},
		}
		for _, c := range checks {
			if got := metric(t, fams, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if got := metric(t, fams, "routeops_queue_stalled", map[string]string{"org": "o2", "queue": "default", "cause": "missing_revision"}); got != 1 {
			t.Errorf("stalled with its cause = %v", got)
		}

		// The HTTP handler serves the same registry.
		srv := httptest.NewServer(m.Handler())
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL)
		e.must(err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`routeops_queue_depth{org="o2",queue="default"} 2`, "routeops_assignments_total 2",
			`routeops_item_faults_total{cause="missing_revision"} 2`} {
			if !strings.Contains(string(body), want) {
				t.Fatalf("/metrics lacks %q:\n%s", want, body)
			}
		}
	})
}
