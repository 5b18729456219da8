package ops

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/routeops/routeops/router"
)

// Metrics exposes the monitor's latest snapshot and the engine's counters
// to Prometheus. It implements router.Observer.
type Metrics struct {
	reg         *prometheus.Registry
	assignments prometheus.Counter
	faults      *prometheus.CounterVec
	errors      prometheus.Counter
	batchSecs   prometheus.Histogram
	snap        *snapshotCollector
}

var _ router.Observer = (*Metrics)(nil)

// NewMetrics registers routeops's metrics on a fresh registry.
func NewMetrics(mon *Monitor) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.assignments = prometheus.NewCounter(prometheus.CounterOpts{Name: "routeops_assignments_total",
		Help: "Items assigned to agents by this process's engine."})
	m.faults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "routeops_item_faults_total",
		Help: "Permanent item faults met by this process's engine, by cause."}, []string{"cause"})
	m.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "routeops_route_errors_total",
		Help: "Routing transactions that failed with a transient error (the org backs off)."})
	m.batchSecs = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "routeops_route_batch_seconds",
		Help: "Duration of one routing transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	for _, c := range []router.Cause{router.CauseMissingRevision, router.CauseCorruptRevision, router.CauseOversizedAttributes, router.CauseUnknownQueue} {
		m.faults.WithLabelValues(string(c))
	}
	m.snap = &snapshotCollector{mon: mon}
	m.reg.MustRegister(m.assignments, m.faults, m.errors, m.batchSecs, m.snap,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry exposes the registry (for tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) OrgRouted(org string, r router.RouteResult, took time.Duration) {
	if r.Busy {
		return
	}
	m.assignments.Add(float64(r.Assigned))
	for _, f := range r.Faults {
		m.faults.WithLabelValues(string(f.Cause)).Inc()
	}
	m.batchSecs.Observe(took.Seconds())
}

func (m *Metrics) OrgError(org string, err error) { m.errors.Inc() }

var (
	labels       = []string{"org", "queue"}
	descDepth    = prometheus.NewDesc("routeops_queue_depth", "Queued items (skipped ones included).", labels, nil)
	descOldest   = prometheus.NewDesc("routeops_queue_oldest_age_seconds", "Age of the oldest queued item.", labels, nil)
	descAttempts = prometheus.NewDesc("routeops_queue_head_attempts", "Routing attempts on the head item.", labels, nil)
	descStalled  = prometheus.NewDesc("routeops_queue_stalled", "1 when the queue is stalled: work and capacity but no progress for health.stall_after.", []string{"org", "queue", "cause"}, nil)
	descStarved  = prometheus.NewDesc("routeops_queue_starved", "1 when no free capacity can take the head (not an alarm by itself).", labels, nil)
	descCapacity = prometheus.NewDesc("routeops_queue_available_capacity", "Free capacity of agents who could take the head.", labels, nil)
	descAssign5m = prometheus.NewDesc("routeops_queue_assigned_last_5m", "Assignments from the queue in the last five minutes.", labels, nil)
	descQuar     = prometheus.NewDesc("routeops_items_quarantined", "Quarantined items.", labels, nil)
	descHealth   = prometheus.NewDesc("routeops_queue_health", "0 ok, 1 warning, 2 critical.", labels, nil)
	descBeat     = prometheus.NewDesc("routeops_engine_heartbeat_timestamp_seconds", "Unix time of the newest engine heartbeat.", nil, nil)
	descEngines  = prometheus.NewDesc("routeops_engines_running", "Engines with a fresh heartbeat.", nil, nil)
	descSnapAge  = prometheus.NewDesc("routeops_snapshot_age_seconds", "Age of the snapshot these gauges come from.", nil, nil)
)

// snapshotCollector renders the monitor's latest snapshot as gauges.
type snapshotCollector struct{ mon *Monitor }

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepth, descOldest, descAttempts, descStalled, descStarved, descCapacity,
		descAssign5m, descQuar, descHealth, descBeat, descEngines, descSnapAge} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	if c.mon == nil {
		return
	}
	s := c.mon.Last()
	if s == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			g(descDepth, float64(q.Depth), o.Org, q.Queue)
			g(descOldest, q.OldestAgeSeconds, o.Org, q.Queue)
			att := 0
			if q.Head != nil {
				att = q.Head.Attempts
			}
			g(descAttempts, float64(att), o.Org, q.Queue)
			g(descStalled, b2f(q.Stalled), o.Org, q.Queue, string(q.Cause))
			g(descStarved, b2f(q.Starved), o.Org, q.Queue)
			g(descCapacity, float64(q.AvailableCapacity), o.Org, q.Queue)
			g(descAssign5m, float64(q.Assigned5m), o.Org, q.Queue)
			g(descQuar, float64(q.Quarantined), o.Org, q.Queue)
			g(descHealth, float64(q.Health.rank()), o.Org, q.Queue)
		}
	}
	if s.Engine.LastBeatEpoch > 0 {
		g(descBeat, s.Engine.LastBeatEpoch)
	}
	g(descEngines, float64(s.Engine.Engines))
	g(descSnapAge, time.Since(s.GeneratedAt).Seconds())
}
