package ops

import (
	"net/http"
	"sort"
	"strings"
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
	wakeups     prometheus.Gauge
	batchSecs   prometheus.Histogram
	snap        *snapshotCollector
}

var (
	_ router.Observer       = (*Metrics)(nil)
	_ router.WakeupObserver = (*Metrics)(nil)
)

// NewMetrics registers routeops's metrics on a fresh registry.
func NewMetrics(mon *Monitor) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.assignments = prometheus.NewCounter(prometheus.CounterOpts{Name: "routeops_assignments_total",
		Help: "Items assigned to agents by this process's engine."})
	m.faults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "routeops_item_faults_total",
		Help: "Permanent item faults met by this process's engine, by cause."}, []string{"cause"})
	m.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "routeops_route_errors_total",
		Help: "Routing attempts that failed with a transient error: a routing transaction (the org backs off), " +
			"or listing the orgs to route (the database is unreachable)."})
	m.wakeups = prometheus.NewGauge(prometheus.GaugeOpts{Name: "routeops_wakeups_available",
		Help: "1 while this process's engine has wake-ups (a LISTEN connection), 0 while it finds new work only by polling."})
	m.wakeups.Set(1)
	m.batchSecs = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "routeops_route_batch_seconds",
		Help: "Duration of one routing transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	for _, c := range []router.Cause{router.CauseMissingRevision, router.CauseCorruptRevision, router.CauseOversizedAttributes, router.CauseUnknownQueue} {
		m.faults.WithLabelValues(string(c))
	}
	m.snap = &snapshotCollector{mon: mon}
	m.reg.MustRegister(m.assignments, m.faults, m.errors, m.wakeups, m.batchSecs, m.snap,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Names lists the routeops_* metrics that serve exports (the alert rules
// may use only these).
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range []prometheus.Collector{m.assignments, m.faults, m.errors, m.wakeups, m.batchSecs, m.snap} {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		s := d.String()
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			rest := s[i+len(`fqName: "`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				out = append(out, rest[:j])
			}
		}
	}
	sort.Strings(out)
	return out
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

// Wakeups records whether the engine has wake-ups.
func (m *Metrics) Wakeups(available bool) {
	if available {
		m.wakeups.Set(1)
	} else {
		m.wakeups.Set(0)
	}
}

var (
	labels       = []string{"org", "queue"}
	descDepth    = prometheus.NewDesc("routeops_queue_depth", "Queued items (skipped ones included).", labels, nil)
	descOldest   = prometheus.NewDesc("routeops_queue_oldest_age_seconds", "Age of the oldest queued item.", labels, nil)
	descAttempts = prometheus.NewDesc("routeops_queue_head_attempts", "Routing attempts on the head item.", labels, nil)
	descStalled  = prometheus.NewDesc("routeops_queue_stalled", "1 when the queue is stalled: work and capacity but no progress for health.stall_after. "+
		"cause is the cause the stall was detected with, fixed until it clears (one stall, one series); empty when not stalled. "+
		"The current cause is routeops_queue_cause.", []string{"org", "queue", "cause"}, nil)
	descCause = prometheus.NewDesc("routeops_queue_cause", "1 for the queue's current cause, when it has one (stalled, starved, paused, engine down); "+
		"an info series that may change during a stall.", []string{"org", "queue", "cause"}, nil)
	descStarved  = prometheus.NewDesc("routeops_queue_starved", "1 when no free capacity can take the head (not an alarm by itself).", labels, nil)
	descCapacity = prometheus.NewDesc("routeops_queue_available_capacity", "Free capacity of agents who could take the head.", labels, nil)
	descAssign5m = prometheus.NewDesc("routeops_queue_assigned_last_5m", "Assignments from the queue in the last five minutes.", labels, nil)
	descQuar     = prometheus.NewDesc("routeops_items_quarantined", "Quarantined items.", labels, nil)
	descHealth   = prometheus.NewDesc("routeops_queue_health", "0 ok, 1 warning, 2 critical.", labels, nil)
	descBeat     = prometheus.NewDesc("routeops_engine_heartbeat_timestamp_seconds", "Unix time of the newest engine heartbeat.", nil, nil)
	descEngines  = prometheus.NewDesc("routeops_engines_running", "Engines with a fresh heartbeat.", nil, nil)
	descSnapAge  = prometheus.NewDesc("routeops_snapshot_age_seconds", "Age of the snapshot these gauges come from.", nil, nil)
	descLag      = prometheus.NewDesc("routeops_replica_lag_seconds", "How far behind the replica that the snapshot was read from is (only when reads come from one).", nil, nil)
	descPolling  = prometheus.NewDesc("routeops_engines_polling", "Live engines without wake-ups, which find new work only by polling.", nil, nil)
)

// snapshotCollector renders the monitor's latest snapshot as gauges.
type snapshotCollector struct{ mon *Monitor }

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepth, descOldest, descAttempts, descStalled, descCause, descStarved, descCapacity,
		descAssign5m, descQuar, descHealth, descBeat, descEngines, descSnapAge, descLag, descPolling} {
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
			g(descStalled, b2f(q.Stalled), o.Org, q.Queue, string(q.StallCause))
			if q.Cause != router.CauseNone {
				g(descCause, 1, o.Org, q.Queue, string(q.Cause))
			}
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
	g(descPolling, float64(s.Engine.Polling))
	g(descSnapAge, time.Since(s.GeneratedAt).Seconds())
	if lag := s.Summary.ReplicaLagSeconds; lag != nil {
		g(descLag, *lag)
	}
}
