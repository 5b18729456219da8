package ops

import (
	"net/http"
	"sort"
	"strings"
	"sync"
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

// PerQueue says which queues get series of their own (metrics.per_queue).
type PerQueue string

const (
	// PerQueueUnhealthy: only queues that need looking at (see
	// queueSeries), at most MaxQueueSeries of them; healthy queues cost no
	// series, so a scrape stays small however many orgs there are.
	PerQueueUnhealthy PerQueue = "unhealthy"
	// PerQueueAll: every queue, about ten series each.
	PerQueueAll PerQueue = "all"
)

// MaxQueueSeries bounds how many queues get series of their own with
// PerQueueUnhealthy: about ten series each, so that a scrape stays under
// 20,000 series even when a large part of the fleet is unhealthy. The
// most severe queues come first; routeops_queue_series_dropped counts the
// rest, which still count in the fleet totals.
const MaxQueueSeries = 1500

// MetricsOptions configure NewMetrics.
type MetricsOptions struct {
	PerQueue PerQueue // default PerQueueUnhealthy
}

// NewMetrics registers routeops's metrics on a fresh registry.
func NewMetrics(mon *Monitor, o MetricsOptions) *Metrics {
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
		Help: "Duration of the routing transaction that routed an org's batch (observed once per org; small orgs share one transaction).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	for _, c := range []router.Cause{router.CauseMissingRevision, router.CauseCorruptRevision, router.CauseOversizedAttributes, router.CauseUnknownQueue} {
		m.faults.WithLabelValues(string(c))
	}
	if o.PerQueue == "" {
		o.PerQueue = PerQueueUnhealthy
	}
	m.snap = &snapshotCollector{perQueue: o.PerQueue}
	if mon != nil {
		m.snap.settings = mon.Settings()
		mon.OnSnapshot(m.snap.keep)
	}
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

// Fleet totals: a few series whatever the size of the fleet.
var (
	descOrgs     = prometheus.NewDesc("routeops_orgs", "Orgs by health (ok, warning, critical).", []string{"health"}, nil)
	descQueues   = prometheus.NewDesc("routeops_queues", "Queues by health (ok, warning, critical).", []string{"health"}, nil)
	descStalledN = prometheus.NewDesc("routeops_queues_stalled", "Stalled queues in the fleet.", nil, nil)
	descBehindN  = prometheus.NewDesc("routeops_queues_behind", "Queues that no engine has reached for health.stall_after (routing is behind; not a stall).", nil, nil)
	descStarvedN = prometheus.NewDesc("routeops_queues_starved", "Queues with no free capacity for their head.", nil, nil)
	descQueued   = prometheus.NewDesc("routeops_queued_items", "Queued items in the fleet.", nil, nil)
	descQuarN    = prometheus.NewDesc("routeops_quarantined_items", "Quarantined items in the fleet.", nil, nil)
	descAssigned = prometheus.NewDesc("routeops_assigned_last_5m", "Assignments in the fleet in the last five minutes.", nil, nil)
	descDropped  = prometheus.NewDesc("routeops_queue_series_dropped", "Queues that would have series of their own but are over the per-scrape bound (metrics.per_queue: unhealthy).", nil, nil)
	descExported = prometheus.NewDesc("routeops_queue_series_queues", "Queues that have series of their own in this scrape.", nil, nil)
)

// snapshotCollector renders what the metrics keep of the monitor's
// latest full snapshot as gauges.
type snapshotCollector struct {
	perQueue PerQueue
	settings Settings

	mu   sync.Mutex
	view *metricsView
}

// metricsView is what a scrape exports of one snapshot: the fleet totals,
// the engine's state and the queues that get series of their own, copied
// out, so that the snapshot itself (tens of megabytes over a large fleet)
// is not kept between observations.
type metricsView struct {
	generatedAt  time.Time
	engine       EngineState
	summary      Summary
	orgs, queues map[Health]int
	picked       []pickedQueue
	dropped      int
}

// keep makes the view of a snapshot the one scrapes export.
func (c *snapshotCollector) keep(s *Snapshot) {
	v := &metricsView{generatedAt: s.GeneratedAt, engine: s.Engine, summary: s.Summary,
		orgs: map[Health]int{}, queues: map[Health]int{}}
	for i := range s.Orgs {
		o := &s.Orgs[i]
		v.orgs[o.Health]++
		for j := range o.Queues {
			v.queues[o.Queues[j].Health]++
		}
	}
	v.picked, v.dropped = pickQueues(s, c.perQueue, c.settings)
	if lag := s.Summary.ReplicaLagSeconds; lag != nil {
		l := *lag
		v.summary.ReplicaLagSeconds = &l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Two snapshots taken at once (a console's refresh and its monitor)
	// may finish out of order: the newer one stays.
	if c.view == nil || !v.generatedAt.Before(c.view.generatedAt) {
		c.view = v
	}
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepth, descOldest, descAttempts, descStalled, descCause, descStarved, descCapacity,
		descAssign5m, descQuar, descHealth, descBeat, descEngines, descSnapAge, descLag, descPolling,
		descOrgs, descQueues, descStalledN, descBehindN, descStarvedN, descQueued, descQuarN, descAssigned, descDropped, descExported} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	v := c.view
	c.mu.Unlock()
	if v == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	collectFleet(v, g)
	for i := range v.picked {
		collectQueue(v.picked[i].org, &v.picked[i].q, g)
	}
	g(descExported, float64(len(v.picked)))
	g(descDropped, float64(v.dropped))
	if v.engine.LastBeatEpoch > 0 {
		g(descBeat, v.engine.LastBeatEpoch)
	}
	g(descEngines, float64(v.engine.Engines))
	g(descPolling, float64(v.engine.Polling))
	g(descSnapAge, time.Since(v.generatedAt).Seconds())
	if lag := v.summary.ReplicaLagSeconds; lag != nil {
		g(descLag, *lag)
	}
}

// collectFleet renders the fleet totals.
func collectFleet(v *metricsView, g func(*prometheus.Desc, float64, ...string)) {
	for _, h := range []Health{HealthOK, HealthWarning, HealthCritical} {
		g(descOrgs, float64(v.orgs[h]), string(h))
		g(descQueues, float64(v.queues[h]), string(h))
	}
	sm := v.summary
	g(descStalledN, float64(sm.StalledQueues))
	g(descBehindN, float64(sm.BehindQueues))
	g(descStarvedN, float64(sm.StarvedQueues))
	g(descQueued, float64(sm.Queued))
	g(descQuarN, float64(sm.Quarantined))
	g(descAssigned, float64(sm.Assigned5m))
}

// pickedQueue is a queue that gets series of its own, copied out of
// its snapshot.
type pickedQueue struct {
	org string
	q   QueueHealth
}

// queueSeries reports whether a queue gets series of its own under
// PerQueueUnhealthy, and how urgent it is (higher first): a stall; any
// other queue that is not ok, unless it is only behind (that is the
// engine's state, counted in routeops_queues_behind, not the queue's);
// quarantined or skipped items (the quarantine alert sums them per org);
// and an oldest item older than health.warn_head_age with nothing
// assigned in five minutes and capacity for the head (what the old-head
// alert watches), unless the queue is only behind.
func queueSeries(q *QueueHealth, s Settings) (bool, int) {
	switch {
	case q.Stalled || q.StallCause != router.CauseNone:
		return true, 3
	case q.Health == HealthCritical:
		return true, 3
	case q.Health == HealthWarning && !q.Behind:
		return true, 2
	case q.Quarantined > 0 || q.Skipped > 0:
		return true, 1
	case !q.Behind && q.Depth > 0 && q.Assigned5m == 0 && q.AvailableCapacity > 0 &&
		q.OldestAgeSeconds >= s.WarnHeadAge.Seconds():
		return true, 1
	}
	return false, 0
}

// pickQueues chooses the queues that get series of their own, and counts
// those left out by MaxQueueSeries.
func pickQueues(s *Snapshot, mode PerQueue, set Settings) ([]pickedQueue, int) {
	var out []pickedQueue
	var rank []int
	for i := range s.Orgs {
		o := &s.Orgs[i]
		for j := range o.Queues {
			q := &o.Queues[j]
			if mode == PerQueueAll {
				out = append(out, pickedQueue{o.Org, *q})
				continue
			}
			if ok, r := queueSeries(q, set); ok {
				out = append(out, pickedQueue{o.Org, *q})
				rank = append(rank, r)
			}
		}
	}
	if mode == PerQueueAll || len(out) <= MaxQueueSeries {
		return out, 0
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rank[idx[a]] > rank[idx[b]] })
	kept := make([]pickedQueue, MaxQueueSeries)
	for i := range kept {
		kept[i] = out[idx[i]]
	}
	return kept, len(out) - MaxQueueSeries
}

// collectQueue renders one queue's series.
func collectQueue(org string, q *QueueHealth, g func(*prometheus.Desc, float64, ...string)) {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	g(descDepth, float64(q.Depth), org, q.Queue)
	g(descOldest, q.OldestAgeSeconds, org, q.Queue)
	att := 0
	if q.Head != nil {
		att = q.Head.Attempts
	}
	g(descAttempts, float64(att), org, q.Queue)
	g(descStalled, b2f(q.Stalled), org, q.Queue, string(q.StallCause))
	if q.Cause != router.CauseNone {
		g(descCause, 1, org, q.Queue, string(q.Cause))
	}
	g(descStarved, b2f(q.Starved), org, q.Queue)
	g(descCapacity, float64(q.AvailableCapacity), org, q.Queue)
	g(descAssign5m, float64(q.Assigned5m), org, q.Queue)
	g(descQuar, float64(q.Quarantined), org, q.Queue)
	g(descHealth, float64(q.Health.rank()), org, q.Queue)
}
