package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBatchSize is the most items claimed per queue per transaction
// unless configured (routing.batch_size). Per-transaction costs (two round
// trips, statement triggers, a commit) are a large share of a small batch:
// draining 200,000 items on a 2-core machine, 500 routed about 17% faster
// than 200 (BENCHMARKS.md).
const DefaultBatchSize = 500

// EngineConfig configures an Engine. Zero values take the defaults below.
type EngineConfig struct {
	// ID names this engine in heartbeats and events; default host:pid.
	ID     string
	Policy FaultPolicy
	// BatchSize is the most items claimed per queue per transaction.
	BatchSize int
	// Workers is how many orgs are routed at once.
	Workers int
	// PollInterval is how often every org is looked at even without a
	// notification.
	PollInterval      time.Duration
	HeartbeatInterval time.Duration
	// BackoffMin and BackoffMax bound the per-org backoff after a
	// transient error.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// OrphanSweepInterval is how often each org is also checked for
	// queued items whose queue does not exist.
	OrphanSweepInterval time.Duration
	// MaxBatchesPerTurn bounds how long one org keeps a worker before the
	// others get a turn.
	MaxBatchesPerTurn int
	// FairRoundItems: when many orgs have work, each first gets a batch
	// of FairRoundItems ÷ orgs items per queue (at least one), so that
	// every org's first assignment comes within one short round rather
	// than after every org before it has been drained. Default BatchSize ×
	// Workers × 8.
	FairRoundItems int
	Version        string
	Clock          Clock
	Logger         *slog.Logger
	Observer       Observer
}

// Observer receives what the engine does, for metrics. OrgRouted is called
// once per org and batch; took is the duration of the store call that
// routed it, which it shares with the other orgs of its group. OrgError is
// called when a call for that org alone failed, and with an empty org when
// listing the orgs to route failed (the database is unreachable, say):
// that is a routing error too.
type Observer interface {
	OrgRouted(org string, r RouteResult, took time.Duration)
	OrgError(org string, err error)
}

// WakeupObserver is optional for an Observer: it is told whether the
// engine has wake-ups (a connection that LISTENs) or only polls.
type WakeupObserver interface {
	Wakeups(available bool)
}

func (c *EngineConfig) setDefaults() {
	if c.Policy == "" {
		c.Policy = PolicyQuarantine
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Second
	}
	if c.OrphanSweepInterval <= 0 {
		c.OrphanSweepInterval = 30 * time.Second
	}
	if c.MaxBatchesPerTurn <= 0 {
		c.MaxBatchesPerTurn = 20
	}
	if c.FairRoundItems <= 0 {
		c.FairRoundItems = c.BatchSize * c.Workers * 8
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
}

// Engine routes every org's queues. Each org is routed independently:
// one org's transient failure backs off that org alone.
type Engine struct {
	store     RoutingStore
	cfg       EngineConfig
	log       *slog.Logger
	startedAt time.Time
	actor     Actor

	mu   sync.Mutex
	orgs map[string]*orgState

	stats engineCounters
	// polling is set while the engine has no wake-ups; beatNow asks the
	// heartbeat loop to report a change at once.
	polling atomic.Bool
	beatNow chan struct{}
}

type orgState struct {
	failures  int
	retryAt   time.Time
	lastSweep time.Time
}

// engineCounters: batches counts store calls (routing transactions), the
// others items.
type engineCounters struct {
	assigned, quarantined, skipped, blocked, faults, errors, batches atomic.Int64
}

// EngineStats are cumulative counters since the engine started.
type EngineStats struct {
	Assigned, Quarantined, Skipped, Blocked, Faults, Errors, Batches int64
	OrgsBackingOff                                                   int
}

// NewEngine builds an engine on a store; it needs only the routing part.
func NewEngine(store RoutingStore, cfg EngineConfig) *Engine {
	cfg.setDefaults()
	osUser := os.Getenv("USER")
	return &Engine{
		store:     store,
		cfg:       cfg,
		log:       cfg.Logger.With("engine", cfg.ID),
		startedAt: cfg.Clock.Now(),
		actor:     Actor{Name: "engine:" + cfg.ID, OSUser: osUser, Origin: "local"},
		orgs:      map[string]*orgState{},
		beatNow:   make(chan struct{}, 1),
	}
}

// Wakeups reports whether the engine has wake-ups; without them it finds
// new work only by polling, every PollInterval.
func (e *Engine) Wakeups() bool { return !e.polling.Load() }

// setWakeups records whether wake-ups work, and reports a change to the
// observer and, through an early heartbeat, to every monitor.
func (e *Engine) setWakeups(ok bool) {
	if e.polling.Swap(!ok) == !ok {
		return
	}
	if wo, isWO := e.cfg.Observer.(WakeupObserver); isWO {
		wo.Wakeups(ok)
	}
	select {
	case e.beatNow <- struct{}{}:
	default:
	}
}

// listError counts a failure to list the orgs to route: with the
// database unreachable, no routing transaction even starts, and this is
// the error that the outage shows as.
func (e *Engine) listError(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	e.stats.errors.Add(1)
	if e.cfg.Observer != nil {
		e.cfg.Observer.OrgError("", err)
	}
}

// Config returns the effective configuration.
func (e *Engine) Config() EngineConfig { return e.cfg }

// Stats returns cumulative counters.
func (e *Engine) Stats() EngineStats {
	e.mu.Lock()
	backing := 0
	now := e.cfg.Clock.Now()
	for _, st := range e.orgs {
		if st.retryAt.After(now) {
			backing++
		}
	}
	e.mu.Unlock()
	return EngineStats{
		Assigned: e.stats.assigned.Load(), Quarantined: e.stats.quarantined.Load(),
		Skipped: e.stats.skipped.Load(), Blocked: e.stats.blocked.Load(),
		Faults: e.stats.faults.Load(), Errors: e.stats.errors.Load(),
		Batches: e.stats.batches.Load(), OrgsBackingOff: backing,
	}
}

func (e *Engine) state(org string) *orgState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.orgs[org]
	if st == nil {
		st = &orgState{}
		e.orgs[org] = st
	}
	return st
}

// OrgTurn is what one turn on an org did.
type OrgTurn struct {
	RouteResult
	// More is set when the turn stopped at MaxBatchesPerTurn with work
	// likely left.
	More bool
}

func (t *OrgTurn) add(r RouteResult) {
	t.Claimed += r.Claimed
	t.Assigned += r.Assigned
	t.Quarantined += r.Quarantined
	t.Skipped += r.Skipped
	t.Blocked += r.Blocked
	t.Faults = append(t.Faults, r.Faults...)
	t.Busy = t.Busy || r.Busy
}

func (e *Engine) noteFailure(org string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	now := e.cfg.Clock.Now()
	e.mu.Lock()
	st := e.orgs[org]
	if st == nil {
		st = &orgState{}
		e.orgs[org] = st
	}
	st.failures++
	d := e.backoff(st.failures)
	st.retryAt = now.Add(d)
	failures := st.failures
	e.mu.Unlock()
	if failures == 1 || d >= e.cfg.BackoffMax && failures%10 == 0 {
		e.log.Warn("routing org failed; backing off this org, others keep routing",
			"org", org, "error", err.Error(), "backoff", d.String(), "failures", failures)
	} else {
		e.log.Debug("routing org failed again", "org", org, "error", err.Error(), "backoff", d.String())
	}
}

func (e *Engine) noteSuccess(org string) {
	e.mu.Lock()
	st := e.orgs[org]
	var had int
	if st != nil {
		had = st.failures
		st.failures = 0
		st.retryAt = time.Time{}
	}
	e.mu.Unlock()
	if had > 0 {
		e.log.Info("routing org recovered", "org", org, "after_failures", had)
	}
}

func (e *Engine) backoff(failures int) time.Duration {
	d := e.cfg.BackoffMin
	for i := 1; i < failures && d < e.cfg.BackoffMax; i++ {
		d *= 2
	}
	if d > e.cfg.BackoffMax {
		d = e.cfg.BackoffMax
	}
	// ±20% jitter so that orgs that failed together do not retry together.
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return j
}

func (e *Engine) retryAt(org string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.orgs[org]; st != nil {
		return st.retryAt
	}
	return time.Time{}
}

// PassResult sums one pass over every org.
type PassResult struct {
	Orgs        int
	Assigned    int
	Quarantined int
	Skipped     int
	Faults      int
	Busy        int
	Errors      int
	// Deferred counts orgs skipped because they are backing off after a
	// transient error.
	Deferred  int
	LastError error
	// Fatal is set when a store error cannot be cured by retrying (a
	// missing privilege); the engine stops with it.
	Fatal error
}

// errWrongResults: a store answered RouteOrgs with a result count that
// does not match the requests.
var errWrongResults = errors.New("router: the store returned a result per org that does not match the request")

// permanent reports whether a store error will not go away by retrying.
func permanent(err error) bool { return errors.Is(err, ErrPermission) }

// Progress reports whether the pass assigned or moved anything.
func (p PassResult) Progress() bool { return p.Assigned+p.Quarantined+p.Skipped > 0 }

// RunUntilIdle routes until a full pass over every org can neither assign
// nor move anything, with no org busy elsewhere and no error in the pass.
// Transient errors never end it: it backs off and tries again.
func (e *Engine) RunUntilIdle(ctx context.Context) (PassResult, error) {
	stopHB := e.startHeartbeats(ctx)
	defer stopHB()
	var total PassResult
	failures, idlePasses := 0, 0
	for {
		p, err := e.Pass(ctx)
		total.Orgs = p.Orgs
		total.Assigned += p.Assigned
		total.Quarantined += p.Quarantined
		total.Skipped += p.Skipped
		total.Faults += p.Faults
		total.Errors += p.Errors
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		if p.Fatal != nil {
			e.log.Error("routing refused; stopping", "error", p.Fatal.Error())
			return total, p.Fatal
		}
		if err != nil && permanent(err) {
			e.log.Error("listing orgs refused; stopping", "error", err.Error())
			return total, err
		}
		if err != nil {
			failures++
			d := e.backoff(failures)
			if failures == 1 || failures%10 == 0 {
				e.log.Warn("listing orgs failed; retrying", "error", err.Error(), "backoff", d.String())
			}
			if !e.sleep(ctx, d) {
				return total, ctx.Err()
			}
			continue
		}
		e.log.Info("pass", "orgs", p.Orgs, "assigned", p.Assigned, "quarantined", p.Quarantined,
			"skipped", p.Skipped, "faults", p.Faults, "busy", p.Busy, "errors", p.Errors, "backing_off", p.Deferred)
		failures = 0
		if p.Errors == 0 && p.Busy == 0 && p.Deferred == 0 && !p.Progress() {
			return total, nil
		}
		if p.Progress() {
			// Work got done: go again at once; orgs that are backing off are
			// skipped until their backoff ends, so they slow no one.
			idlePasses = 0
			continue
		}
		// Nothing moved, but some org is busy elsewhere or backing off:
		// wait for the earliest retry, or a while for a busy org.
		idlePasses++
		d := busyWait(idlePasses)
		if next, ok := e.nextRetry(); ok {
			if w := next.Sub(e.cfg.Clock.Now()); w > d {
				d = w
			}
		}
		if !e.sleep(ctx, d) {
			return total, ctx.Err()
		}
	}
}

// nextRetry is the earliest time an org backing off may be tried again.
// busyWait is how long RunUntilIdle waits after its n-th pass in a row
// that moved nothing while some org was busy elsewhere: 50 ms, doubling up
// to 1 s, with jitter (0.5-1.5x). Two engines draining one database each
// find orgs the other is routing; passes run back to back at a fixed pace
// kept colliding, so that neither ever saw a pass without a busy org and
// neither went idle. Waits that grow and differ let one engine make a
// whole pass while the other waits.
func busyWait(n int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < n && d < time.Second; i++ {
		d *= 2
	}
	d = min(d, time.Second)
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func (e *Engine) nextRetry() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	for _, st := range e.orgs {
		if !st.retryAt.IsZero() && (next.IsZero() || st.retryAt.Before(next)) {
			next = st.retryAt
		}
	}
	return next, !next.IsZero()
}

func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-e.cfg.Clock.After(d):
		return true
	}
}

// ResumeExpired resumes the queues whose timed pause has ended, as this
// engine (the store journals each once, however many engines run). A
// failure is logged and retried with the next heartbeat.
func (e *Engine) ResumeExpired(ctx context.Context) []QueueRef {
	refs, err := e.store.ResumeExpired(ctx, e.cfg.Clock.Now(), e.actor)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("resuming expired pauses failed", "error", err.Error())
		}
		return nil
	}
	for _, r := range refs {
		e.log.Info("pause ended; queue resumed", "org", r.Org, "queue", r.Queue)
	}
	return refs
}

// Beat writes one heartbeat.
func (e *Engine) Beat(ctx context.Context, stopped bool) error {
	host, _ := os.Hostname()
	return e.store.Heartbeat(ctx, Heartbeat{
		EngineID: e.cfg.ID, Host: host, PID: os.Getpid(), Policy: e.cfg.Policy,
		Version: e.cfg.Version, StartedAt: e.startedAt, BeatAt: e.cfg.Clock.Now(), Stopped: stopped,
		Polling: e.polling.Load(),
	})
}

// maintainShare bounds the share of time the heartbeat loop spends on
// Store.Maintain: after a maintenance that took d, the next waits at
// least (maintainShare-1)×d. Maintenance refreshes the head of every queue
// routed since the last one; over 50,000 orgs in a backlog that took about
// 1.8 s, and run before every heartbeat it kept a database core busy half
// the time (pg_stat_statements: 5.5 s of the first 12 s of a drain), slowing
// the routing it follows. Nothing depends on its pace for correctness,
// only how much the readers of the summaries read directly: the monitor's
// snapshot and the engine's own Backlog add the count deltas not yet
// folded, and the snapshot probes the queues not yet refreshed. Both grow
// at most with the number of queues touched, so a larger fleet is
// maintained less often.
const maintainShare = 5

func (e *Engine) startHeartbeats(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		failing := false
		var nextMaintain time.Time
		for {
			// Keep the store's read-side summaries compact while routing
			// appends to them, but spend at most 1/maintainShare of the
			// time on it (see maintainShare).
			if now := e.cfg.Clock.Now(); !now.Before(nextMaintain) {
				if err := e.store.Maintain(ctx); err != nil && ctx.Err() == nil {
					e.log.Debug("store maintenance failed", "error", err.Error())
				}
				end := e.cfg.Clock.Now()
				nextMaintain = end.Add((maintainShare - 1) * end.Sub(now))
			}
			e.ResumeExpired(ctx)
			if err := e.Beat(ctx, false); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !failing {
					e.log.Warn("heartbeat failed", "error", err.Error())
				}
				failing = true
			} else if failing {
				e.log.Info("heartbeat recovered")
				failing = false
			}
			select {
			case <-ctx.Done():
				return
			case <-e.beatNow:
			case <-e.cfg.Clock.After(e.cfg.HeartbeatInterval):
			}
		}
	}()
	return func() {
		cancel()
		<-done
		// Say goodbye so the monitor tells a clean stop from a dead engine.
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = e.Beat(sctx, true)
	}
}

// listen forwards store notifications, resubscribing with backoff. A
// store that cannot offer wake-ups at all (ErrNoWakeups) is told once, and
// the engine polls from then on.
func (e *Engine) listen(ctx context.Context, out chan<- string, resync chan<- struct{}, listening chan<- struct{}) {
	failures, subscribed := 0, false
	first, started := true, time.Now()
	for ctx.Err() == nil {
		ch, err := e.store.Notifications(ctx)
		if first {
			first = false
			close(listening) // Run's first poll may go ahead
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.setWakeups(false)
			if errors.Is(err, ErrNoWakeups) {
				e.log.Warn("no wake-ups: new work is found by polling only, every poll interval",
					"error", err.Error(), "poll", e.cfg.PollInterval.String())
				return
			}
			failures++
			d := e.backoff(failures)
			if failures == 1 || failures%10 == 0 {
				e.log.Warn("subscribing to notifications failed; polling meanwhile", "error", err.Error(), "retry", d.String())
			}
			if !e.sleep(ctx, d) {
				return
			}
			continue
		}
		e.setWakeups(true)
		// A subscription after a poll may have missed what was notified in
		// between: look at every org once more. The first one, made before
		// Run's first poll, has missed nothing.
		if subscribed || failures > 0 || time.Since(started) >= firstListenWait {
			select {
			case resync <- struct{}{}:
			default:
			}
		}
		switch {
		case !subscribed:
			e.log.Info("wake-ups on: listening for new work")
		case failures > 0:
			e.log.Info("notifications resumed")
		}
		subscribed, failures = true, 0
		for org := range ch {
			select {
			case out <- org:
			default: // the scheduler is saturated; the poll will catch up
			}
		}
		if ctx.Err() == nil {
			e.setWakeups(false)
			failures++
			e.log.Warn("notification stream ended; resubscribing")
			if !e.sleep(ctx, e.backoff(failures)) {
				return
			}
		}
	}
}

// firstListenWait bounds how long Run waits for its first subscription
// before its first poll.
const firstListenWait = 2 * time.Second

// SortDecisions orders decisions by item id, which stores use to lock rows
// in a stable order.
func SortDecisions(ds []Decision) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].ItemID < ds[j].ItemID })
}
