package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/routeops/routeops/router"
)

// Config configures a Simulator. Zero values take the defaults.
type Config struct {
	// Orgs is how many orgs to simulate; default 20.
	Orgs int
	Seed int64
	// Rate is the mean arrivals per second per org; default 0.5. Orgs get
	// varied rates around it: some quiet, most near it, some busy.
	Rate   float64
	Clock  router.Clock
	Logger *slog.Logger
	// Pressure adds the demo's pressure (see Pressure in pressure.go):
	// peaks, a starved org, a paused queue with a reason, agents away
	// and back often.
	Pressure bool
}

// Defaults.
const (
	DefaultOrgs = 20
	DefaultRate = 0.5
	// DefaultTick is Run's tick when none is given.
	DefaultTick = 250 * time.Millisecond
)

// Tuning of the simulated world.
const (
	// queuedSoftLimit: above this many queued items an org's arrivals slow
	// to a tenth; above queuedHardLimit they stop.
	queuedSoftLimit = 500
	queuedHardLimit = 1000
	// queuedRecount is how often the queued counts are read back from the
	// store; in between they are estimated.
	queuedRecount = 5 * time.Second
	// maxStepWindow bounds the arrivals and status changes of one step, so
	// that a process that was suspended does not flood the queues.
	maxStepWindow = time.Minute
	// availability is the expected share of agents available, used to size
	// the fleet.
	availability = 0.85
	// Agent presence: mean time before going away or offline, and mean
	// time away or offline.
	meanUntilAway    = 12 * time.Minute
	meanAway         = 90 * time.Second
	meanUntilOffline = 90 * time.Minute
	meanOffline      = 4 * time.Minute
	// Bursts: mean time between an org's bursts, and their length.
	meanBetweenBursts = 10 * time.Minute
	// revisionShare is the share of arrivals matched by a new revision of
	// a queued item (the customer chased).
	revisionShare = 0.05
	recentItems   = 64
	listPage      = 2000
)

// Stats counts what a simulator did since Setup.
type Stats struct {
	Arrivals, Completions, Revisions, StatusChanges, Bursts int64
	// Errors counts store calls that failed (not counting races such as
	// completing an item that is no longer assigned).
	Errors int64
}

// Simulator drives synthetic traffic against a store: conversations
// arrive, the engine (run separately) assigns them, agents finish them
// after a handle time, go away and come back, and customers sometimes
// chase, which adds a revision to a queued item.
//
// It is deterministic for a given seed, a given sequence of Step calls and
// the same routing in between. It never writes invalid attributes and
// never touches an item that has a fault, so drills and repairs own those.
type Simulator struct {
	st  router.Store
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	orgs        []*simOrg
	byID        map[string]*simOrg
	ready       bool
	lastRecount time.Time
	stats       Stats
	pressure    *pressureState
}

type simOrg struct {
	m   *orgModel
	rng *rand.Rand
	// rate is the base arrivals per second.
	rate   float64
	hot    bool
	handle time.Duration // mean handle time
	// Burst state.
	burstUntil  time.Time
	burstFactor float64
	// queued estimates the org's queued items.
	queued int
	// recent remembers recently enqueued items for new revisions.
	recent     []recentItem
	recentNext int
}

type recentItem struct {
	id    int64
	attrs router.Attributes
}

// New returns a simulator on a store; call Setup before stepping it.
func New(st router.Store, cfg Config) *Simulator {
	if cfg.Orgs <= 0 {
		cfg.Orgs = DefaultOrgs
	}
	if cfg.Rate <= 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		cfg.Rate = DefaultRate
	}
	if cfg.Clock == nil {
		cfg.Clock = router.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Simulator{st: st, cfg: cfg, log: cfg.Logger.With("component", "sim")}
}

// Orgs returns the simulated org ids, sorted (empty before Setup).
func (s *Simulator) Orgs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.orgs))
	for i, o := range s.orgs {
		out[i] = o.m.org.ID
	}
	return out
}

// Stats returns the counters since Setup.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Setup creates the orgs, their queues, teams and agents. Each org gets an
// arrival rate around Config.Rate, a mean handle time of 20 to 90 seconds,
// and a fleet sized so that it normally keeps up with its arrivals (at 50
// to 80% utilisation), except a few hot orgs sized at 105 to 130%, whose
// queues grow until their arrivals are slowed. Setup is idempotent: the
// store rows are upserted, and agents keep their load.
func (s *Simulator) Setup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x51a7e))
	n := s.cfg.Orgs
	// At least one hot org once there are a few.
	hotPick := -1
	if n >= 4 {
		hotPick = r.IntN(n)
	}
	var pressure *pressureState
	if s.cfg.Pressure {
		pressure = pickPressure(s.cfg.Seed, n)
	}
	orgs := make([]*simOrg, 0, n)
	byID := make(map[string]*simOrg, n)
	agents := 0
	for i := range n {
		num := i + 1
		o := &simOrg{rng: orgRand(s.cfg.Seed, num, 0x51)}
		var mult float64
		switch x := r.Float64(); {
		case x < 0.15:
			mult = 0.15 + 0.35*r.Float64() // quiet
		case x < 0.85:
			mult = 0.7 + 0.6*r.Float64()
		default:
			mult = 1.6 + r.Float64() // busy
		}
		o.rate = s.cfg.Rate * mult
		o.hot = i == hotPick || r.Float64() < 0.08
		o.handle = time.Duration(20+r.IntN(71)) * time.Second
		util := 0.5 + 0.3*r.Float64()
		if o.hot {
			util = 1.05 + 0.25*r.Float64()
		}
		if pressure != nil && i == pressure.starved {
			util = pressureStarvedUtil
		}
		capacity := 2 + r.IntN(4)
		slots := o.rate * o.handle.Seconds() / (util * availability)
		nAgents := min(200, max(3, int(math.Ceil(slots/float64(capacity)))))
		nTeams := min(2+r.IntN(3), nAgents)
		nQueues := 2 + r.IntN(3)
		o.m = buildOrg(o.rng, num, nQueues, nTeams, nAgents, capacity)
		o.m.setTeamWeights(false)
		// A few agents start away.
		for ai := range o.m.agents {
			if o.rng.IntN(10) == 0 && o.m.teams[o.m.agentTeam[ai]].avail > 1 {
				o.m.setStatus(ai, router.AgentAway)
			}
		}
		o.recent = make([]recentItem, 0, recentItems)
		agents += nAgents
		orgs = append(orgs, o)
		byID[o.m.org.ID] = o
	}
	for _, o := range orgs {
		if err := s.upsertOrg(ctx, o.m); err != nil {
			return fmt.Errorf("sim setup: %w", err)
		}
	}
	s.orgs, s.byID, s.ready = orgs, byID, true
	if pressure != nil {
		pressure.start(s.cfg.Clock.Now(), orgs)
	}
	s.pressure = pressure
	s.lastRecount = time.Time{}
	s.stats = Stats{}
	s.log.Info("simulation ready", "orgs", n, "agents", agents, "rate_per_org", s.cfg.Rate)
	return nil
}

func (s *Simulator) upsertOrg(ctx context.Context, m *orgModel) error {
	if err := s.st.UpsertOrg(ctx, m.org); err != nil {
		return err
	}
	for _, q := range m.queues {
		if err := s.st.UpsertQueue(ctx, q); err != nil {
			return err
		}
	}
	for _, t := range m.teamRows() {
		if err := s.st.UpsertTeam(ctx, t); err != nil {
			return err
		}
	}
	for _, a := range m.agents {
		if err := s.st.UpsertAgent(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// stepErrors keeps the first error of a step and counts the rest.
type stepErrors struct {
	first error
	n     int
}

func (e *stepErrors) add(err error) {
	if err == nil {
		return
	}
	if e.first == nil {
		e.first = err
	}
	e.n++
}

func (e *stepErrors) err() error {
	switch {
	case e.first == nil:
		return nil
	case e.n == 1:
		return e.first
	default:
		return fmt.Errorf("%w (and %d more errors in this step)", e.first, e.n-1)
	}
}

// benign reports errors that are races with routing or operators, not
// failures: the item moved on, or is gone.
func benign(err error) bool {
	return errors.Is(err, router.ErrConflict) || errors.Is(err, router.ErrNotFound)
}

// Step advances the world to now, dt after the previous step: assigned
// items whose handle time has passed are completed, agents change
// presence, conversations arrive (Poisson with each org's rate, in
// occasional bursts, slowed when the org has more than 500 queued), and
// some queued items get a new revision. It carries on past a failing store
// call and returns the first error.
func (s *Simulator) Step(ctx context.Context, now time.Time, dt time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		return errors.New("sim: Step before Setup")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dt = min(max(dt, 0), maxStepWindow)
	var errs stepErrors
	errs.add(s.completions(ctx, now))
	if s.lastRecount.IsZero() || now.Sub(s.lastRecount) >= queuedRecount {
		if err := s.recount(ctx); err != nil {
			errs.add(err)
		} else {
			s.lastRecount = now
		}
	}
	if s.pressure != nil {
		errs.add(s.pressure.step(ctx, s, now))
	}
	for _, o := range s.orgs {
		if ctx.Err() != nil {
			break
		}
		errs.add(s.presence(ctx, o, now, dt))
		errs.add(s.arrivals(ctx, o, now, dt))
		errs.add(s.revisions(ctx, o, now, dt))
	}
	if err := errs.err(); err != nil {
		s.stats.Errors += int64(errs.n)
		return err
	}
	return ctx.Err()
}

// handleTime is the handle time of an item: a function of the seed and the
// item id only, so that it does not depend on when the item is seen.
func (s *Simulator) handleTime(o *simOrg, id int64) time.Duration {
	h1 := splitmix64(uint64(s.cfg.Seed) ^ uint64(id)*0x9e3779b97f4a7c15)
	h2 := splitmix64(h1)
	u1 := (float64(h1>>11) + 0.5) / (1 << 53)
	u2 := (float64(h2>>11) + 0.5) / (1 << 53)
	// Gamma(2) with the org's mean: fewer very short chats than an
	// exponential.
	f := -(math.Log(u1) + math.Log(u2)) / 2
	d := time.Duration(f * float64(o.handle))
	return min(max(d, 3*time.Second), 8*o.handle)
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// completions finishes assigned items of the simulated orgs whose handle
// time has passed, at the time they were due.
func (s *Simulator) completions(ctx context.Context, now time.Time) error {
	type due struct {
		org string
		id  int64
		at  time.Time
	}
	var dueItems []due
	var after int64
	for {
		page, err := s.st.ListItems(ctx, router.ItemFilter{State: router.StateAssigned, AfterID: after, Limit: listPage})
		if err != nil {
			return fmt.Errorf("sim: listing assigned items: %w", err)
		}
		for i := range page {
			it := &page[i]
			o := s.byID[it.OrgID]
			if o == nil || it.State != router.StateAssigned {
				continue
			}
			start := it.EnqueuedAt
			if it.AssignedAt != nil {
				start = *it.AssignedAt
			}
			at := start.Add(s.handleTime(o, it.ID)).Truncate(time.Microsecond)
			if !at.After(now) {
				dueItems = append(dueItems, due{it.OrgID, it.ID, at})
			}
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, d := range dueItems {
		err := s.st.Complete(ctx, router.CompleteRequest{Org: d.org, ItemID: d.id, At: d.at})
		switch {
		case err == nil:
			s.stats.Completions++
		case benign(err):
		default:
			return fmt.Errorf("sim: completing item %d of %s: %w", d.id, d.org, err)
		}
	}
	return nil
}

// recount reads the queued counts of the simulated orgs back.
func (s *Simulator) recount(ctx context.Context) error {
	counts := make(map[string]int, len(s.orgs))
	var after int64
	for {
		page, err := s.st.ListItems(ctx, router.ItemFilter{State: router.StateQueued, AfterID: after, Limit: listPage})
		if err != nil {
			return fmt.Errorf("sim: counting queued items: %w", err)
		}
		for i := range page {
			counts[page[i].OrgID]++
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, o := range s.orgs {
		o.queued = counts[o.m.org.ID]
	}
	return nil
}

// chance is the probability that an event with the given mean interval
// happens within dt.
func chance(dt, mean time.Duration) float64 {
	if dt <= 0 {
		return 0
	}
	return 1 - math.Exp(-dt.Seconds()/mean.Seconds())
}

// presence moves agents between available, away and offline. A team
// always keeps one available member.
func (s *Simulator) presence(ctx context.Context, o *simOrg, now time.Time, dt time.Duration) error {
	untilAway, away := meanUntilAway, meanAway
	if s.pressure != nil {
		untilAway, away = pressureUntilAway, pressureAway
	}
	pAway, pOff := chance(dt, untilAway), chance(dt, meanUntilOffline)
	pBack, pOn := chance(dt, away), chance(dt, meanOffline)
	for i := range o.m.agents {
		a := &o.m.agents[i]
		u := o.rng.Float64()
		next := a.Status
		switch a.Status {
		case router.AgentAvailable:
			if o.m.teams[o.m.agentTeam[i]].avail <= 1 {
				break
			}
			if u < pOff {
				next = router.AgentOffline
			} else if u < pOff+pAway {
				next = router.AgentAway
			}
		case router.AgentAway:
			if u < pBack {
				next = router.AgentAvailable
			}
		default:
			if u < pOn {
				next = router.AgentAvailable
			}
		}
		if next == a.Status {
			continue
		}
		if err := s.st.SetAgentStatus(ctx, router.AgentStatusRequest{Org: o.m.org.ID, Agent: a.ID, Status: next, At: now}); err != nil {
			return fmt.Errorf("sim: agent %s/%s %s: %w", o.m.org.ID, a.ID, next, err)
		}
		o.m.setStatus(i, next)
		s.stats.StatusChanges++
	}
	return nil
}

// poisson draws a Poisson count with the given mean.
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		n := int(math.Round(mean + math.Sqrt(mean)*r.NormFloat64()))
		return max(n, 0)
	}
	l := math.Exp(-mean)
	k, p := 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

// arrivals enqueues the org's new conversations for the window (now-dt, now].
func (s *Simulator) arrivals(ctx context.Context, o *simOrg, now time.Time, dt time.Duration) error {
	// Bursts.
	u := o.rng.Float64()
	if !now.Before(o.burstUntil) && u < chance(dt, meanBetweenBursts) {
		o.burstUntil = now.Add(time.Duration(20+o.rng.IntN(71)) * time.Second)
		o.burstFactor = 3 + 3*o.rng.Float64()
		s.stats.Bursts++
	}
	rate := o.rate
	if now.Before(o.burstUntil) {
		rate *= o.burstFactor
	}
	switch {
	case o.queued > queuedHardLimit:
		rate = 0
	case o.queued > queuedSoftLimit:
		rate /= 10
	}
	n := poisson(o.rng, rate*dt.Seconds())
	if n == 0 {
		return nil
	}
	// Arrival times in the window, in order.
	offsets := make([]int64, n)
	span := int64(dt / time.Microsecond)
	for i := range offsets {
		if span > 0 {
			offsets[i] = o.rng.Int64N(span)
		}
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] > offsets[j] })
	for i := range n {
		a, q, _ := o.m.itemAttributes(o.rng, nil)
		at := now.Add(-time.Duration(offsets[i]) * time.Microsecond).Truncate(time.Microsecond)
		it, err := s.st.Enqueue(ctx, router.EnqueueRequest{OrgID: o.m.org.ID, QueueID: o.m.queues[q].ID,
			Attributes: CanonicalJSON(a), EnqueuedAt: at})
		if err != nil {
			return fmt.Errorf("sim: enqueue in %s: %w", o.m.org.ID, err)
		}
		s.stats.Arrivals++
		o.queued++
		ri := recentItem{id: it.ID, attrs: a}
		if len(o.recent) < recentItems {
			o.recent = append(o.recent, ri)
		} else {
			o.recent[o.recentNext] = ri
			o.recentNext = (o.recentNext + 1) % recentItems
		}
	}
	return nil
}

// revisions adds a new revision to a few recently enqueued items that are
// still queued and healthy.
func (s *Simulator) revisions(ctx context.Context, o *simOrg, now time.Time, dt time.Duration) error {
	n := poisson(o.rng, revisionShare*o.rate*dt.Seconds())
	for range n {
		if len(o.recent) == 0 {
			return nil
		}
		k := o.rng.IntN(len(o.recent))
		ri := &o.recent[k]
		ok, err := s.revisable(ctx, o.m.org.ID, ri.id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		next := escalate(o.rng, ri.attrs)
		if _, err := s.st.AddRevision(ctx, router.AddRevisionRequest{Org: o.m.org.ID, ItemID: ri.id, Attributes: CanonicalJSON(next), At: now}); err != nil {
			if benign(err) {
				continue
			}
			return fmt.Errorf("sim: revising item %d of %s: %w", ri.id, o.m.org.ID, err)
		}
		ri.attrs = next
		s.stats.Revisions++
	}
	return nil
}

// revisable reports whether an item is queued, unflagged, and its current
// revision is present and valid. Items with a fault belong to the engine,
// the drills and the operators: a new revision would hide the fault.
func (s *Simulator) revisable(ctx context.Context, org string, id int64) (bool, error) {
	it, err := s.st.GetItem(ctx, id)
	if err != nil {
		if benign(err) {
			return false, nil
		}
		return false, fmt.Errorf("sim: reading item %d: %w", id, err)
	}
	if it.OrgID != org || it.State != router.StateQueued || it.Skipped || it.FaultCause != router.CauseNone {
		return false, nil
	}
	revs, err := s.st.ItemRevisions(ctx, org, id)
	if err != nil {
		if benign(err) {
			return false, nil
		}
		return false, fmt.Errorf("sim: reading revisions of item %d: %w", id, err)
	}
	for _, r := range revs {
		if r.ID == it.CurrentRevisionID {
			return router.ValidateAttributes(r.Attributes) == nil, nil
		}
	}
	return false, nil
}

// Run steps the world every tick of Config.Clock until ctx ends, then
// returns nil. A failing step (the store is down, say) is logged and the
// loop carries on. Setup must have been called.
func (s *Simulator) Run(ctx context.Context, tick time.Duration) error {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		return errors.New("sim: Run before Setup")
	}
	if tick <= 0 {
		tick = DefaultTick
	}
	clock := s.cfg.Clock
	last := clock.Now()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(tick):
		}
		now := clock.Now()
		err := s.Step(ctx, now, now.Sub(last))
		last = now
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			if failures == 1 || failures%100 == 0 {
				s.log.Warn("simulation step failed; carrying on", "error", err.Error(), "failures", failures)
			}
			continue
		}
		if failures > 0 {
			s.log.Info("simulation steps succeed again", "after_failures", failures)
			failures = 0
		}
	}
}
