package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/sim"
)

var actor = router.Actor{Name: "bench", OSUser: os.Getenv("USER"), Origin: "local"}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func secondsSince(t time.Time) float64 { return time.Since(t).Seconds() }

// ampleSpec is a data set whose every item can be assigned: 20 agents per
// org with twice the capacity the items need.
func ampleSpec(orgs, perOrg, offset int) sim.SeedSpec {
	const agents = 20
	return sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: agents, Capacity: max(1, (2*perOrg+agents-1)/agents),
		ItemsPerOrg: perOrg, Seed: 1, Now: now(), OrgOffset: offset}
}

func (s *scenario) seedStore(ctx context.Context, st router.Store, spec sim.SeedSpec) (router.BulkResult, float64, error) {
	s.log.Info("seeding", "scenario", s.name, "orgs", spec.Orgs, "items_per_org", spec.ItemsPerOrg)
	start := time.Now()
	res, err := sim.Seed(ctx, st, spec)
	secs := secondsSince(start)
	if err != nil {
		return res, secs, err
	}
	s.log.Info("seeded", "scenario", s.name, "items", res.Items, "revisions", res.Revisions, "seconds", round(secs))
	return res, secs, nil
}

// drain runs an engine until idle and times it.
func (s *scenario) drain(ctx context.Context, st router.Store, what string) (router.PassResult, float64, error) {
	s.log.Info("draining", "scenario", s.name, "run", what, "batch", s.opts.BatchSize, "workers", s.opts.Workers)
	eng := s.engine(st, router.PolicyQuarantine)
	start := time.Now()
	pass, err := eng.RunUntilIdle(ctx)
	secs := secondsSince(start)
	if err != nil {
		return pass, secs, fmt.Errorf("drain (%s): %w", what, err)
	}
	s.log.Info("drained", "scenario", s.name, "run", what, "assigned", pass.Assigned, "quarantined", pass.Quarantined,
		"seconds", round(secs), "items_per_second", round(float64(pass.Assigned+pass.Quarantined)/secs))
	return pass, secs, nil
}

// ---- throughput ----

func (s *scenario) throughput(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(100), s.opts.perOrg(2000)
	// The ceiling is the simplest claim on the same server. On routeops's
	// own schema the statement pays for its indexes and trigger too, so the
	// target is judged against both yardsticks.
	r.Targets = []Target{{Figure: "ratio_vs_pgbench", Op: ">=", Value: 0.5}, {Figure: "ratio_vs_pgbench_bare", Op: ">=", Value: 0.5}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	seeded, _, err := s.seedStore(ctx, st, ampleSpec(orgs, per, 0))
	if err != nil {
		return err
	}
	bin, pgbenchErr := findPgbench(s.opts.Pgbench)
	var copyDB database
	if pgbenchErr == nil {
		// The yardstick gets the same seeded data: a copy taken before the
		// engine drains it.
		s.closeStore(st)
		if copyDB, err = s.copyDB(ctx, db, "pgbench"); err != nil {
			return err
		}
		if st, err = s.open(ctx, db, 0); err != nil {
			return err
		}
	}

	s.checkpoint(ctx)
	s.startTimed(ctx, db)
	pass, secs, err := s.drain(ctx, st, "engine")
	s.stopTimed(ctx, db)
	if err != nil {
		return err
	}
	handled := pass.Assigned + pass.Quarantined
	rate := float64(pass.Assigned) / secs
	r.Set("items_per_second", rate)
	r.Items, r.Seconds = pass.Assigned, secs
	if pass.Assigned != seeded.Items {
		r.Note("the engine assigned %d of %d items (%d handled)", pass.Assigned, seeded.Items, handled)
	}

	s.settle(ctx, db)
	r.Set("pgbench_items_per_second", nil)
	r.Set("ratio_vs_pgbench", nil)
	r.Set("pgbench_bare_items_per_second", nil)
	r.Set("ratio_vs_pgbench_bare", nil)
	if pgbenchErr != nil {
		r.Set("pgbench_error", pgbenchErr.Error())
		r.Note("no pgbench yardstick: %v", pgbenchErr)
	} else {
		if err := s.yardstick(ctx, bin, copyDB, orgs, seeded.Items, rate, ""); err != nil {
			r.Set("pgbench_error", err.Error())
			r.Note("pgbench yardstick failed: %v", err)
		}
		s.settle(ctx, copyDB)
		if err := s.bareYardstick(ctx, bin, orgs, per, rate); err != nil {
			r.Set("pgbench_bare_error", err.Error())
			r.Note("bare-table pgbench yardstick failed: %v", err)
		}
	}
	r.Set("orgs", orgs)
	r.Set("items_per_org", per)
	r.Set("batch_size", s.opts.BatchSize)
	r.Set("workers", s.opts.Workers)
	r.Set("assigned", pass.Assigned)
	r.Set("quarantined", pass.Quarantined)
	return nil
}

// yardstick runs the single-statement claim with pgbench for half
// of the items (so that no org runs dry), and counts what it claimed. On
// a copy of the seeded routeops database (suffix ""), it pays for the
// same schema as the engine: indexes, counter trigger, constraints. On
// the bare table (suffix "_bare") it measures the machine's own ceiling
// for the simplest claim.
func (s *scenario) yardstick(ctx context.Context, bin string, db database, orgs, items int, engineRate float64, suffix string) error {
	r := s.res
	clients := s.opts.PgbenchClients
	perClient := max(1, items/PgbenchBatch/2/clients)
	s.checkpoint(ctx)
	s.log.Info("pgbench yardstick", "scenario", s.name, "table", map[string]string{"": "routeops", "_bare": "bare"}[suffix],
		"clients", clients, "transactions", perClient*clients, "batch", PgbenchBatch)
	run, err := runPgbench(ctx, bin, db.dsn, PgbenchScript(orgs), clients, perClient)
	if err != nil {
		return err
	}
	claimed, err := s.countClaimed(ctx, db)
	if err != nil {
		return err
	}
	if run.Transactions == 0 || run.TPS == 0 {
		return errors.New("pgbench processed no transactions")
	}
	secs := float64(run.Transactions) / run.TPS
	prate := float64(claimed) / secs
	r.Set("pgbench"+suffix+"_items_per_second", prate)
	r.Set("ratio_vs_pgbench"+suffix, engineRate/prate)
	r.Set("pgbench"+suffix+"_tps", run.TPS)
	r.Set("pgbench"+suffix+"_transactions", run.Transactions)
	r.Set("pgbench"+suffix+"_items", claimed)
	if suffix == "" {
		r.Set("pgbench_clients", clients)
		r.Set("pgbench_batch", PgbenchBatch)
	}
	if run.Failed > 0 {
		r.Note("pgbench%s reported %d failed transactions", suffix, run.Failed)
	}
	if claimed < run.Transactions*PgbenchBatch*9/10 {
		r.Note("pgbench%s claimed %d items in %d transactions: some orgs ran short", suffix, claimed, run.Transactions)
	}
	s.log.Info("pgbench done", "scenario", s.name, "table", map[string]string{"": "routeops", "_bare": "bare"}[suffix],
		"tps", round(run.TPS), "items_per_second", round(prate))
	return nil
}

// countClaimed counts the items pgbench assigned.
func (s *scenario) countClaimed(ctx context.Context, db database) (int, error) {
	var n int
	err := withConn(ctx, db, func(conn *pgx.Conn) error {
		var err error
		n, err = pgstore.CountAssigned(ctx, conn)
		return err
	})
	return n, err
}

// bareDB makes the yardstick's bare table (pgstore.CreateBareYardstick) in
// a database of its own: only the columns the claim touches, with the same
// org ids, counts and shape of priorities and times as the seeded data.
func (s *scenario) bareDB(ctx context.Context, orgs, per int) (database, error) {
	db, err := s.createDB(ctx, "bare")
	if err != nil {
		return db, err
	}
	return db, withConn(ctx, db, func(conn *pgx.Conn) error { return pgstore.CreateBareYardstick(ctx, conn, orgs, per) })
}

// bareYardstick runs the pgbench yardstick on a bare table of orgs × per
// items (bareDB), recording it with the suffix _bare.
func (s *scenario) bareYardstick(ctx context.Context, bin string, orgs, per int, engineRate float64) error {
	bare, err := s.bareDB(ctx, orgs, per)
	if err != nil {
		return err
	}
	return s.yardstick(ctx, bin, bare, orgs, orgs*per, engineRate, "_bare")
}

// ---- poison ----

// poison measures how fast the engine drains a database where 1% of every
// org's items lost their current revision, against the same data intact,
// and checks that no queue is left stalled behind them.
func (s *scenario) poison(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(100), s.opts.perOrg(2000)
	bad := max(1, per/100)
	r.Targets = []Target{{Figure: "ratio_vs_clean", Op: ">=", Value: 0.9}, {Figure: "stalled_queues", Op: "==", Value: 0}}
	p, err := s.poisonDatabases(ctx, orgs, per, bad)
	if err != nil {
		return err
	}
	if err := p.drainAll(ctx); err != nil {
		return err
	}
	t := &p.tally
	rate := t.poisonSum / float64(len(t.poisonRates))
	r.Set("items_per_second", rate)
	r.Set("ratio_vs_clean", t.poisonSum/t.cleanSum)
	stalled, left, err := p.leftBehind(ctx)
	if err != nil {
		return err
	}
	r.Set("stalled_queues", stalled)
	r.Set("clean_items_per_second", t.cleanSum/float64(len(t.cleanRates)))
	r.Set("poisoned_runs_per_second", roundAll(t.poisonRates))
	r.Set("clean_runs_per_second", roundAll(t.cleanRates))
	r.Set("assigned", t.assigned)
	r.Set("quarantined", t.quarantined)
	r.Set("expected_quarantined", p.deleted*len(t.poisonRates))
	r.Set("left_queued", left)
	r.Set("orgs", orgs)
	r.Set("items_per_org", per)
	r.Items, r.Seconds = t.handled, t.poisonSecs
	r.Note("two drains of each database, in the order clean, poisoned, poisoned, clean; items_per_second and clean_items_per_second are their means, ratio_vs_clean the ratio of the sums; counts add up both poisoned drains")
	return nil
}

// poisonSet is the poison scenario's shared state: its four drains, the
// items seeded in each database, the revisions deleted in each poisoned
// one, and the drains' tally.
type poisonSet struct {
	*scenario
	runs    []*poisonRun
	seeded  int
	deleted int
	tally   poisonTally
}

// poisonRun is one drain of the poison scenario: its database, clean or
// poisoned, its open store, and what draining it measured.
type poisonRun struct {
	db       database
	poisoned bool
	st       *pgstore.Store
	pass     router.PassResult
	rate     float64
	secs     float64
}

// poisonTally adds up the poison scenario's drains, clean and poisoned
// apart, for the figures that compare them.
type poisonTally struct {
	cleanSum, poisonSum, poisonSecs float64
	cleanRates, poisonRates         []float64
	handled, assigned, quarantined  int
}

// poisonDatabases seeds the clean data set, makes its poisoned copy, and
// copies each once more, so that each database is drained twice, in the
// order clean, poisoned, poisoned, clean: a machine that speeds up or
// slows down during the scenario then weighs on both sides alike (on a
// shared two-core machine one drain of each was often 10-20% apart on
// noise alone). It returns the set with the four runs' stores open.
func (s *scenario) poisonDatabases(ctx context.Context, orgs, per, bad int) (*poisonSet, error) {
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return nil, err
	}
	seeded, _, err := s.seedStore(ctx, st, ampleSpec(orgs, per, 0))
	if err != nil {
		return nil, err
	}
	s.closeStore(st)
	pdb, err := s.copyDB(ctx, db, "poisoned")
	if err != nil {
		return nil, err
	}
	poisoned, err := s.open(ctx, pdb, 0)
	if err != nil {
		return nil, err
	}
	// The incident: current revisions deleted with the foreign key
	// bypassed, the drill's way, 1% of every org's items (the heads of its
	// queues, where they hurt most).
	deleted, err := deleteRevisions(ctx, poisoned, orgs, bad)
	if err != nil {
		return nil, err
	}
	s.log.Info("poisoned", "scenario", s.name, "items_without_revision", deleted)
	s.closeStore(poisoned)

	pdb2, err := s.copyDB(ctx, pdb, "poisoned2")
	if err != nil {
		return nil, err
	}
	cdb2, err := s.copyDB(ctx, db, "clean2")
	if err != nil {
		return nil, err
	}
	p := &poisonSet{scenario: s, seeded: seeded.Items, deleted: deleted,
		runs: []*poisonRun{{db: db}, {db: pdb, poisoned: true}, {db: pdb2, poisoned: true}, {db: cdb2}}}
	for _, x := range p.runs {
		if x.st, err = s.open(ctx, x.db, 0); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// drainAll drains the runs in order, each after the previous one's
// write-back has settled, times the poisoned ones, adds them up in the
// tally, and notes a poisoned drain that did not quarantine exactly the
// deleted items or did not handle every seeded one.
func (p *poisonSet) drainAll(ctx context.Context) error {
	r, t := p.res, &p.tally
	for i, x := range p.runs {
		what := "clean"
		if x.poisoned {
			what = "poisoned"
		}
		if i == 0 {
			p.checkpoint(ctx)
		} else {
			p.settle(ctx, p.runs[i-1].db)
		}
		if x.poisoned {
			p.startTimed(ctx, x.db)
		}
		var err error
		x.pass, x.secs, err = p.drain(ctx, x.st, what)
		if x.poisoned {
			p.stopTimed(ctx, x.db)
		}
		if err != nil {
			return err
		}
		n := x.pass.Assigned + x.pass.Quarantined
		x.rate = float64(n) / x.secs
		if !x.poisoned {
			t.cleanSum += x.rate
			t.cleanRates = append(t.cleanRates, x.rate)
			continue
		}
		t.poisonSum += x.rate
		t.poisonRates = append(t.poisonRates, x.rate)
		t.poisonSecs += x.secs
		t.handled += n
		t.assigned += x.pass.Assigned
		t.quarantined += x.pass.Quarantined
		if x.pass.Quarantined != p.deleted {
			r.Note("a poisoned drain quarantined %d items, expected %d", x.pass.Quarantined, p.deleted)
		}
		if n != p.seeded {
			r.Note("a poisoned drain handled %d of %d items", n, p.seeded)
		}
	}
	return nil
}

// leftBehind asks whether anything was left behind in the poisoned
// databases: a monitor with a short stall threshold, after the threshold
// has passed, finds any queue with work and capacity that the engine
// could not move. It returns the stalled queues and the items still
// queued, summed over the poisoned runs.
func (p *poisonSet) leftBehind(ctx context.Context) (stalled, left int, err error) {
	mset := ops.Settings{StallAfter: 200 * time.Millisecond, WarnHeadAge: time.Second, HeartbeatTimeout: 15 * time.Second}
	if err := sleepCtx(ctx, 2*mset.StallAfter); err != nil {
		return 0, 0, err
	}
	for _, x := range p.runs {
		if !x.poisoned {
			continue
		}
		snap, err := ops.NewMonitor(x.st, router.RealClock{}, mset, actor, nil).Snapshot(ctx, "")
		if err != nil {
			return 0, 0, err
		}
		stalled += snap.Summary.StalledQueues
		left += snap.Summary.Queued
	}
	return stalled, left, nil
}

// sleepCtx waits for d, or returns ctx's error if ctx ends first: the
// scenarios' pauses for the engine or the monitor to catch up.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// latency measures enqueue-to-assignment times at a steady enqueue rate,
// with the machine's commit floor for the same rate beside them.
func (s *scenario) latency(ctx context.Context) error {
	r := s.res
	rate := s.opts.LatencyRate
	dur := time.Duration(float64(s.opts.LatencyDuration) * s.opts.Scale)
	dur = max(dur, time.Second)
	n := int(rate * dur.Seconds())
	orgs := s.opts.orgs(20)
	// Judged on both readings of "assigned": the row's assigned_at, and the
	// commit of the routing transaction that wrote it.
	r.Targets = []Target{{Figure: "p99_ms", Op: "<=", Value: 20}, {Figure: "p99_committed_ms", Op: "<=", Value: 20}}
	l, err := s.latencySetup(ctx, orgs, n)
	if err != nil {
		return err
	}

	s.checkpoint(ctx)
	// Only full-size runs wait: their figures are judged, and a scaled-down
	// run (such as the package's own test under a busy go test) is not.
	var waited time.Duration
	busy := -1.0
	if r.FullScale {
		waited, busy = s.quiesce(ctx, 30*time.Second)
	}
	r.Set("quiesce_seconds", round(waited.Seconds()))
	r.Set("cpu_busy_at_start", round(busy))
	stop := l.startEngine(ctx)
	defer stop()
	// Let the engine subscribe to notifications and make its first pass.
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	m := latencyMeasure{rate: rate, orgs: orgs}
	if m.warmMax, err = l.warm(ctx); err != nil {
		return err
	}
	// The machine's floor for the same shape of work: one-row durable
	// commits at the same rate, through the same pool, with nothing else
	// in them. An enqueue-to-assignment time can be no better than this.
	floorDur := min(dur, 5*time.Second)
	if m.floor, err = commitFloor(ctx, l.st, rate, floorDur, latencyEnqueuers); err != nil {
		return fmt.Errorf("commit floor: %w", err)
	}
	if err := l.enqueueMeasured(ctx, &m, n, dur, stop); err != nil {
		return err
	}
	if err := l.collect(ctx, &m); err != nil {
		return err
	}
	l.report(&m)
	return nil
}

// latencyEnqueuers is how many goroutines enqueue in the latency scenario,
// each with a pool connection of its own, so that no enqueue waits for the
// pool after taking its enqueued_at.
const latencyEnqueuers = 32

// latencyRun is the latency scenario's shared state: its database and
// store, the queue it enqueues into in each org, the items' attributes,
// and the engine under measurement with the log of its routing
// transactions.
type latencyRun struct {
	*scenario
	db      database
	st      *pgstore.Store
	targets []latencyTarget
	attrs   []byte
	obs     *routeLog
	eng     *router.Engine
}

// latencyTarget is a queue the latency scenario enqueues into.
type latencyTarget struct{ org, queue string }

// latencyMeasure is what the latency scenario measured, for its report.
type latencyMeasure struct {
	rate           float64
	orgs           int
	warmMax        int64     // the last warm-up item's id: measured items come after it
	floor          []float64 // commit floor, ms, sorted
	enq            pacedRun  // the measured enqueues
	lat, committed []float64 // enqueue to assigned_at, and to the routing commit, ms
}

// latencySetup makes the latency scenario's database: orgs empty orgs
// with twice the capacity the n items need, and the first queue of each
// as the place to enqueue.
func (s *scenario) latencySetup(ctx context.Context, orgs, n int) (*latencyRun, error) {
	db, err := s.newDB(ctx, "")
	if err != nil {
		return nil, err
	}
	st, err := s.open(ctx, db, latencyEnqueuers)
	if err != nil {
		return nil, err
	}
	const agents = 10
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: agents,
		Capacity: max(1, (2*n/orgs+agents-1)/agents), ItemsPerOrg: 0, Seed: 1, Now: now()}
	if _, _, err := s.seedStore(ctx, st, spec); err != nil {
		return nil, err
	}
	l := &latencyRun{scenario: s, db: db, st: st, attrs: router.Attributes{Priority: 50, Channel: "chat"}.Marshal()}
	l.targets = make([]latencyTarget, orgs)
	err = forOrgQueues(ctx, st, 0, orgs, func(i int, org string, qs []router.Queue) error {
		if len(qs) == 0 {
			return fmt.Errorf("org %s has no queue", org)
		}
		l.targets[i] = latencyTarget{org, qs[0].ID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// request is the i-th enqueue of the scenario, spread over the orgs in
// turn and stamped now.
func (l *latencyRun) request(i int) router.EnqueueRequest {
	t := l.targets[i%len(l.targets)]
	return router.EnqueueRequest{OrgID: t.org, QueueID: t.queue, Attributes: l.attrs, EnqueuedAt: time.Now()}
}

// startEngine runs the observed engine in the background and returns the
// function that stops it and waits for it to end, safe to call twice.
func (l *latencyRun) startEngine(ctx context.Context) (stop func()) {
	l.obs = &routeLog{}
	l.eng = l.engineObserved(l.st, router.PolicyQuarantine, l.obs)
	engCtx, stopEng := context.WithCancel(ctx)
	engDone := make(chan error, 1)
	go func() { engDone <- l.eng.Run(engCtx) }()
	var stopOnce sync.Once
	return func() { stopOnce.Do(func() { stopEng(); <-engDone }) }
}

// handled is how many items the engine has assigned or quarantined.
func (l *latencyRun) handled() int64 {
	return l.eng.Stats().Assigned + l.eng.Stats().Quarantined
}

// warm readies the system as a platform's writers would be: every enqueuer's
// connection opened and its statements prepared, every org routed once
// (waiting up to 10 s for that). These items are not measured; it returns
// the highest one's id.
func (l *latencyRun) warm(ctx context.Context) (int64, error) {
	warmMax, err := warmUp(ctx, l.st, latencyEnqueuers, l.request)
	if err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	pollUntil(10*time.Second, func() bool { return l.eng.Stats().Assigned >= latencyEnqueuers })
	return warmMax, nil
}

// enqueueMeasured is the measured phase: n items enqueued at m.rate over
// dur, then up to 30 s for the engine to handle them all, then the engine
// stopped. Only this phase is timed (and profiled).
func (l *latencyRun) enqueueMeasured(ctx context.Context, m *latencyMeasure, n int, dur time.Duration, stop func()) error {
	base := l.handled()
	l.startTimed(ctx, l.db)
	l.log.Info("enqueueing", "scenario", l.name, "rate", m.rate, "seconds", dur.Seconds(), "items", n)
	m.enq = paced(ctx, n, m.rate, latencyEnqueuers, func(i int) error {
		_, err := l.st.Enqueue(ctx, l.request(i))
		return err
	})
	if m.enq.err != nil {
		return fmt.Errorf("enqueue: %w", m.enq.err)
	}
	// Wait until the engine has assigned everything (or give up).
	pollUntil(30*time.Second, func() bool { return l.handled()-base >= m.enq.ok || ctx.Err() != nil })
	l.stopTimed(ctx, l.db)
	stop()
	return nil
}

// collect reads the measured items the engine assigned and puts each one's
// time from enqueue to assigned_at, and to the commit of the routing
// transaction that assigned it, into m (sorted, as are the enqueue times).
func (l *latencyRun) collect(ctx context.Context, m *latencyMeasure) error {
	after := m.warmMax
	for {
		items, err := l.st.ListItems(ctx, router.ItemFilter{State: router.StateAssigned, AfterID: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.AssignedAt != nil {
				m.lat = append(m.lat, ms(it.AssignedAt.Sub(it.EnqueuedAt)))
				if end, ok := l.obs.committedAfter(it.OrgID, *it.AssignedAt); ok {
					m.committed = append(m.committed, ms(end.Sub(it.EnqueuedAt)))
				}
			}
			after = it.ID
		}
		if len(items) < 1000 {
			break
		}
	}
	if len(m.lat) == 0 {
		return errors.New("no item was assigned")
	}
	slices.Sort(m.lat)
	slices.Sort(m.enq.took)
	slices.Sort(m.committed)
	return nil
}

// report sets the latency scenario's figures and notes from m.
func (l *latencyRun) report(m *latencyMeasure) {
	r := l.res
	lat, committed, floor, want := m.lat, m.committed, m.floor, m.enq.ok
	r.Set("p50_ms", quantile(lat, 0.50))
	r.Set("p99_ms", quantile(lat, 0.99))
	r.Set("max_ms", lat[len(lat)-1])
	r.Set("mean_ms", mean(lat))
	r.Set("p50_committed_ms", nil)
	r.Set("p99_committed_ms", nil)
	r.Set("max_committed_ms", nil)
	if len(committed) > 0 {
		r.Set("p50_committed_ms", quantile(committed, 0.50))
		r.Set("p99_committed_ms", quantile(committed, 0.99))
		r.Set("max_committed_ms", committed[len(committed)-1])
	}
	took := l.obs.took()
	slices.Sort(took)
	r.Set("route_txn_p50_ms", quantile(took, 0.50))
	r.Set("route_txn_p99_ms", quantile(took, 0.99))
	r.Set("rate_per_second", m.rate)
	r.Set("achieved_rate_per_second", float64(want)/m.enq.seconds)
	r.Set("assigned", len(lat))
	r.Set("enqueue_p50_ms", quantile(m.enq.took, 0.50))
	r.Set("enqueue_p99_ms", quantile(m.enq.took, 0.99))
	r.Set("pacer_late_max_ms", ms(m.enq.lateMax))
	r.Set("floor_commit_p50_ms", quantile(floor, 0.50))
	r.Set("floor_commit_p99_ms", quantile(floor, 0.99))
	r.Set("floor_commit_max_ms", floor[len(floor)-1])
	r.Set("orgs", m.orgs)
	r.Set("poll_interval_ms", ms(l.eng.Config().PollInterval))
	r.Set("warmup_items", latencyEnqueuers)
	r.Items, r.Seconds = int(want), m.enq.seconds
	if int64(len(lat)) != want {
		r.Note("%d of %d enqueued items were assigned", len(lat), want)
	}
	if len(committed) != len(lat) {
		r.Note("%d of %d items matched to the routing transaction that committed them", len(committed), len(lat))
	}
	r.Note("p*_ms is assigned_at - enqueued_at from the rows: enqueued_at is taken before Enqueue's transaction (so it includes the enqueue's commit), assigned_at is the engine's clock when its routing transaction starts; p*_committed_ms runs to the end of the routing transaction that assigned the item (its commit)")
	r.Note("before its engine starts, the scenario waits (up to 30 s; quiesce_seconds) until the machine's CPU is less than 25%% busy over 2 s, so that the previous scenario's write-back does not land in this one's tail")
	r.Note("floor_commit_*_ms: one-row INSERT commits at the same rate through the same pool, just before the measured phase (up to 5 s): what the server and disk give the simplest durable write at that moment")
}

// pollUntil checks done every 10 ms until it holds or timeout has passed:
// the scenarios' waits for the engine to catch up.
func pollUntil(timeout time.Duration, done func() bool) {
	for deadline := time.Now().Add(timeout); !done() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// forOrgQueues calls fn with the queues of each of the n orgs numbered
// from+1 on, and i counting them from 0, stopping at the first error.
func forOrgQueues(ctx context.Context, st router.Store, from, n int, fn func(i int, org string, qs []router.Queue) error) error {
	for i := range n {
		org := sim.OrgID(from + 1 + i)
		qs, err := st.ListQueues(ctx, org)
		if err != nil {
			return err
		}
		if err := fn(i, org, qs); err != nil {
			return err
		}
	}
	return nil
}

// warmUp enqueues one item from each of n goroutines at once, so that n
// pool connections are open and prepared, and returns the highest item id.
func warmUp(ctx context.Context, st router.Store, n int, req func(i int) router.EnqueueRequest) (int64, error) {
	var (
		mu    sync.Mutex
		maxID int64
		first error
		wg    sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			it, err := st.Enqueue(ctx, req(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			maxID = max(maxID, it.ID)
		})
	}
	wg.Wait()
	return maxID, first
}

// routeLog records when each routing transaction that assigned something
// ended, per org, to find when an item's assignment committed.
type routeLog struct {
	mu    sync.Mutex
	calls map[string][]routeCall
}

type routeCall struct {
	start, end time.Time
}

func (l *routeLog) OrgRouted(org string, r router.RouteResult, took time.Duration) {
	if r.Assigned == 0 {
		return
	}
	end := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls = map[string][]routeCall{}
	}
	l.calls[org] = append(l.calls[org], routeCall{start: end.Add(-took), end: end})
}

func (l *routeLog) OrgError(string, error) {}

// committedAfter returns the end of the first routing transaction of org
// that ended after at: an org is routed by one transaction at a time, so
// that is the one that assigned an item stamped at.
func (l *routeLog) committedAfter(org string, at time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls[org] {
		if c.end.After(at) {
			return c.end, true
		}
	}
	return time.Time{}, false
}

func (l *routeLog) took() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []float64
	for _, cs := range l.calls {
		for _, c := range cs {
			out = append(out, ms(c.end.Sub(c.start)))
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile of sorted xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.5) - 1
	i = min(max(i, 0), len(xs)-1)
	return xs[i]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func median(xs []float64) float64 {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	if len(ys) == 0 {
		return 0
	}
	if len(ys)%2 == 1 {
		return ys[len(ys)/2]
	}
	return (ys[len(ys)/2-1] + ys[len(ys)/2]) / 2
}

// ---- snapshot ----

func (s *scenario) snapshot(ctx context.Context) error {
	r := s.res
	orgs := s.opts.Orgs
	if orgs <= 0 {
		orgs = s.opts.scaled(5000, 1)
	}
	per := s.opts.ItemsPerOrg
	if per <= 0 {
		per = 200
	}
	r.Targets = []Target{{Figure: "status_ms", Op: "<=", Value: 200}, {Figure: "seed_seconds", Op: "<=", Value: 60}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 3, Capacity: 5, ItemsPerOrg: per, Seed: 1, Now: now()}
	seeded, seedSecs, err := s.seedStore(ctx, st, spec)
	if err != nil {
		return err
	}
	r.Set("status_ms", nil)
	r.Set("seed_seconds", seedSecs)
	mon := ops.NewMonitor(st, router.RealClock{}, ops.DefaultSettings(), actor, nil)
	runs := s.opts.SnapshotRuns
	timeStatus := func() ([]float64, *ops.Snapshot, error) {
		if _, err := mon.Snapshot(ctx, ""); err != nil { // warm-up
			return nil, nil, err
		}
		var xs []float64
		var last *ops.Snapshot
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			snap, err := mon.Snapshot(ctx, "")
			if err != nil {
				return nil, nil, err
			}
			xs = append(xs, ms(time.Since(t0)))
			last = snap
		}
		return xs, last, nil
	}

	s.checkpoint(ctx)
	s.startTimed(ctx, db)
	t0 := time.Now()
	xs, snap, err := timeStatus()
	s.stopTimed(ctx, db)
	if err != nil {
		return err
	}
	r.Seconds = secondsSince(t0)
	r.Set("status_ms", median(xs))
	r.Set("status_ms_min", slices.Min(xs))
	r.Set("status_ms_max", slices.Max(xs))

	// Where the time goes: the store's queries against evaluating them.
	var storeMS, evalMS []float64
	for i := 0; i < runs; i++ {
		t := time.Now()
		raw, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()})
		if err != nil {
			return err
		}
		storeMS = append(storeMS, ms(time.Since(t)))
		t = time.Now()
		ops.Evaluate(raw, ops.DefaultSettings())
		evalMS = append(evalMS, ms(time.Since(t)))
	}
	r.Set("store_snapshot_ms", median(storeMS))
	r.Set("evaluate_ms", median(evalMS))

	// The same after VACUUM, as a database in steady state would be.
	if err := s.vacuum(ctx, db); err != nil {
		r.Note("VACUUM failed: %v", err)
	} else {
		vx, _, err := timeStatus()
		if err != nil {
			return err
		}
		r.Set("status_ms_vacuumed", median(vx))
	}
	queues := 0
	for _, o := range snap.Orgs {
		queues += len(o.Queues)
	}
	r.Set("orgs", len(snap.Orgs))
	r.Set("queues", queues)
	r.Set("queued", snap.Summary.Queued)
	r.Set("runs", runs)
	r.Set("seed_items_per_second", float64(seeded.Items)/seedSecs)
	r.Items = snap.Summary.Queued
	r.Note("status_ms is the median of %d full ops.Monitor.Snapshot calls (org \"\") after one warm-up, right after seeding; status_ms_vacuumed after VACUUM ANALYZE", runs)
	return nil
}

// ---- repair ----

func (s *scenario) repair(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(100), s.opts.perOrg(1000)
	bad := max(1, per/10)
	r.Targets = []Target{{Figure: "plan_seconds", Op: "<=", Value: 5, Sum: []string{"apply_seconds"}}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 10, Capacity: 10, ItemsPerOrg: per, Seed: 1, Now: now()}
	seeded, _, err := s.seedStore(ctx, st, spec)
	if err != nil {
		return err
	}
	deleted, err := deleteRevisions(ctx, st, orgs, bad)
	if err != nil {
		return err
	}
	s.log.Info("revisions deleted", "scenario", s.name, "items", deleted)
	o := ops.New(st, ops.Options{Actor: actor})

	s.checkpoint(ctx)
	s.startTimed(ctx, db)
	t0 := time.Now()
	plan, err := o.PlanRepair(ctx, "", false)
	planSecs := secondsSince(t0)
	if err != nil {
		s.stopTimed(ctx, db)
		return fmt.Errorf("plan: %w", err)
	}
	t1 := time.Now()
	rep, err := o.ApplyRepair(ctx, plan)
	applySecs := secondsSince(t1)
	s.stopTimed(ctx, db)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	t2 := time.Now()
	if _, err := st.Verify(ctx, 1000); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	verifySecs := secondsSince(t2)

	r.Set("plan_seconds", planSecs)
	r.Set("apply_seconds", applySecs)
	r.Set("repair_seconds", planSecs+applySecs)
	r.Set("verify_seconds", verifySecs)
	r.Set("planned", len(plan.Items))
	r.Set("repairable", plan.Repairable)
	r.Set("repaired", rep.Repaired)
	r.Set("verify_clean", rep.VerifyOK)
	r.Set("items_missing_revision", deleted)
	r.Set("items_total", seeded.Items)
	r.Items, r.Seconds = rep.Repaired, planSecs+applySecs
	if rep.Repaired != deleted {
		r.Note("repaired %d of %d items", rep.Repaired, deleted)
	}
	r.Note("apply_seconds includes the integrity scan (verify) that ApplyRepair runs after writing; verify_seconds times one such scan on its own")
	return nil
}

// ---- cleanup ----

// archiveOrgs hold the items whose old revisions cleanup deletes: every
// item cancelled, with five revisions created 60 days ago, four of them
// superseded and unreferenced.
const (
	archiveOrgs     = 50
	archiveRevs     = 5
	cleanupRetain   = 30 * 24 * time.Hour
	archiveAge      = 60 * 24 * time.Hour
	archiveChunkMax = 10000
)

func archiveOrgID(i int) string { return fmt.Sprintf("arch-%04d", i) }

// seedArchive loads about items cancelled items, spread over the archive
// orgs, so that cleanup has old revisions to delete, and returns how many
// it loaded.
func (s *scenario) seedArchive(ctx context.Context, st router.Store, items int) (int, error) {
	perOrg := max(1, items/archiveOrgs)
	old := now().Add(-archiveAge)
	attrs := router.Attributes{Priority: 10, Channel: "email"}.Marshal()
	total := 0
	for o := 1; o <= archiveOrgs; o++ {
		org := archiveOrgID(o)
		left := perOrg
		first := true
		for left > 0 {
			n := min(left, archiveChunkMax)
			left -= n
			d := &router.BulkData{Items: make([]router.BulkItem, 0, n)}
			if first {
				d.Orgs = []router.Org{{ID: org, Name: org}}
				d.Queues = []router.Queue{{OrgID: org, ID: "default"}}
				d.Teams = []router.Team{{OrgID: org, ID: "archive", Status: router.TeamActive}}
				d.Agents = []router.Agent{{OrgID: org, ID: "archivist", TeamID: "archive", Capacity: 1, Status: router.AgentOffline}}
				first = false
			}
			for i := 0; i < n; i++ {
				t := old.Add(time.Duration(total+i) * time.Millisecond)
				revs := make([]router.BulkRevision, archiveRevs)
				for k := range revs {
					revs[k] = router.BulkRevision{Attributes: attrs, CreatedAt: t.Add(time.Duration(k) * time.Microsecond)}
				}
				d.Items = append(d.Items, router.BulkItem{OrgID: org, QueueID: "default", State: router.StateCancelled,
					EnqueuedAt: t, Revisions: revs})
			}
			if _, err := st.BulkLoad(ctx, d); err != nil {
				return total, err
			}
			total += n
		}
	}
	return total, nil
}

// cleanupScenario measures how much a running cleanup slows routing: the
// engine drains a set while cleanup deletes old revisions, against
// identical sets drained alone before and after it.
func (s *scenario) cleanupScenario(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(50), s.opts.perOrg(2000)
	archItems := s.opts.scaled(1_000_000/(archiveRevs-1), archiveOrgs)
	r.Targets = []Target{{Figure: "ratio_during_cleanup", Op: ">=", Value: 0.8}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	c := &cleanupRun{scenario: s, db: db, st: st, orgs: orgs}
	if err := c.seedSets(ctx, archItems, per); err != nil {
		return err
	}

	s.checkpoint(ctx)
	apass, asecs, err := s.drain(ctx, st, "alone")
	if err != nil {
		return err
	}
	beforeRate := float64(apass.Assigned) / asecs
	if err := c.unpause(ctx, orgs); err != nil {
		return err
	}
	s.settle(ctx, db)
	o, err := c.drainDuringCleanup(ctx)
	if err != nil {
		return err
	}
	if err := c.unpause(ctx, 2*orgs); err != nil {
		return err
	}
	s.settle(ctx, db)
	cpass, csecsAfter, err := s.drain(ctx, st, "alone after cleanup")
	if err != nil {
		return err
	}
	afterRate := float64(cpass.Assigned) / csecsAfter
	aloneRate := (beforeRate + afterRate) / 2

	cres, csecs, eligible := o.cres, o.csecs, c.eligible
	r.Set("deleted_per_second", float64(cres.Deleted)/csecs)
	r.Set("ratio_during_cleanup", o.during/aloneRate)
	r.Set("routing_alone_per_second", aloneRate)
	r.Set("routing_during_cleanup_per_second", o.during)
	r.Set("routing_alone_before_per_second", beforeRate)
	r.Set("routing_alone_after_per_second", afterRate)
	r.Set("deleted", cres.Deleted)
	r.Set("eligible", eligible)
	r.Set("cleanup_batches", cres.Batches)
	r.Set("cleanup_batch", s.opts.CleanupBatch)
	r.Set("cleanup_pause_ms", ms(max(s.opts.CleanupPause, 0)))
	r.Set("routed_alone", apass.Assigned+cpass.Assigned)
	r.Set("routed_during", o.pass.Assigned)
	r.Note("routing_alone_per_second is the mean of two drains of identical sets, one before the cleanup and one after it; ratio_during_cleanup divides the drain during the cleanup by it")
	r.Items, r.Seconds = cres.Deleted, csecs
	if cres.Deleted != eligible {
		r.Note("deleted %d of %d eligible revisions (%s)", cres.Deleted, eligible, cres.Stopped)
	}
	return nil
}

// cleanupRun is the cleanup scenario's shared state: its database and
// store, the number of orgs in each routing set, and how many revisions
// the cleanup may delete.
type cleanupRun struct {
	*scenario
	db       database
	st       *pgstore.Store
	orgs     int
	eligible int
}

// cleanupOverlap is what the drain during the cleanup measured.
type cleanupOverlap struct {
	cres   *ops.CleanupResult
	pass   router.PassResult
	during float64 // routing rate while the cleanup ran
	csecs  float64 // the cleanup's duration
}

// seedSets loads the archive of archItems items whose old revisions cleanup
// deletes, then three identical routing sets of per items per org: A is
// drained alone before cleanup, B while cleanup runs, C alone after it (so
// that a machine speeding up or slowing down during the scenario weighs on
// both sides alike). B's and C's queues stay paused until their turn, so
// every drain passes over the same number of orgs.
func (c *cleanupRun) seedSets(ctx context.Context, archItems, per int) error {
	c.log.Info("seeding archive", "scenario", c.name, "items", archItems, "revisions", archItems*archiveRevs)
	arch, err := c.seedArchive(ctx, c.st, archItems)
	if err != nil {
		return fmt.Errorf("seed archive: %w", err)
	}
	c.eligible = arch * (archiveRevs - 1)
	if _, _, err := c.seedStore(ctx, c.st, ampleSpec(c.orgs, per, 0)); err != nil {
		return err
	}
	for i, set := range []string{"B", "C"} {
		err = sim.Generate(ampleSpec(c.orgs, per, (i+1)*c.orgs), func(d *router.BulkData) error {
			for i := range d.Queues {
				d.Queues[i].Paused = true
			}
			_, err := c.st.BulkLoad(ctx, d)
			return err
		})
		if err != nil {
			return fmt.Errorf("seed set %s: %w", set, err)
		}
	}
	return nil
}

// unpause resumes every queue of the routing set whose orgs are numbered
// from+1 on, so that the next drain routes it.
func (c *cleanupRun) unpause(ctx context.Context, from int) error {
	return forOrgQueues(ctx, c.st, from, c.orgs, func(_ int, org string, qs []router.Queue) error {
		for _, q := range qs {
			if _, err := c.st.SetQueuePaused(ctx, router.QueuePauseRequest{Org: org, Queue: q.ID, Paused: false, Actor: actor, At: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// drainDuringCleanup drains the unpaused set while ApplyCleanup runs
// beside it, timed, and reports the routing rate while both ran: over the
// whole drain if it ended first, otherwise until the cleanup ended.
func (c *cleanupRun) drainDuringCleanup(ctx context.Context) (cleanupOverlap, error) {
	r := c.res
	c.startTimed(ctx, c.db)
	o := ops.New(c.st, ops.Options{Actor: actor})
	eng := c.engine(c.st, router.PolicyQuarantine)
	var (
		out        cleanupOverlap
		cerr       error
		cleanEnd   time.Time
		assignedAt int64
		done       = make(chan struct{})
	)
	start := time.Now()
	go func() {
		defer close(done)
		out.cres, cerr = o.ApplyCleanup(ctx, ops.CleanupOptions{Retention: cleanupRetain, BatchSize: c.opts.CleanupBatch,
			MaxRows: 2*c.eligible + 1000, Pause: c.opts.CleanupPause})
		cleanEnd = time.Now()
		assignedAt = eng.Stats().Assigned
	}()
	var err error
	out.pass, err = eng.RunUntilIdle(ctx)
	drainEnd := time.Now()
	<-done
	c.stopTimed(ctx, c.db)
	if err != nil {
		return out, fmt.Errorf("drain during cleanup: %w", err)
	}
	if cerr != nil {
		return out, fmt.Errorf("cleanup: %w", cerr)
	}
	if !drainEnd.After(cleanEnd) {
		out.during = float64(out.pass.Assigned) / drainEnd.Sub(start).Seconds()
		r.Set("overlap", "the whole drain ran during cleanup")
	} else {
		out.during = float64(assignedAt) / cleanEnd.Sub(start).Seconds()
		r.Set("overlap", "cleanup finished first: routing rate counted until cleanup ended")
	}
	out.csecs = cleanEnd.Sub(start).Seconds()
	return out, nil
}

// ---- seed ----

func (s *scenario) seed(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(1000), s.opts.perOrg(1000)
	r.Targets = []Target{{Figure: "seed_seconds", Op: "<=", Value: 60}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 10, Capacity: 100, ItemsPerOrg: per, Seed: 1, Now: now()}
	s.checkpoint(ctx)
	s.startTimed(ctx, db)
	res, secs, err := s.seedStore(ctx, st, spec)
	s.stopTimed(ctx, db)
	if err != nil {
		return err
	}
	r.Set("seed_seconds", secs)
	r.Set("items_per_second", float64(res.Items)/secs)
	r.Set("revisions", res.Revisions)
	r.Set("orgs", orgs)
	r.Set("items_per_org", per)
	r.Items, r.Seconds = res.Items, secs
	return nil
}

// roundAll rounds rates for the report.
func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round(x)
	}
	return out
}

// commitFloor times one-row INSERT commits into a scratch table, paced at
// rate for d through workers goroutines: the latency floor of the server
// and disk for a durable commit, measured in the same run as the figure
// it puts in context. The durations come back sorted.
func commitFloor(ctx context.Context, st *pgstore.Store, rate float64, d time.Duration, workers int) ([]float64, error) {
	pool := st.Pool()
	if err := pgstore.PrepareCommitFloor(ctx, pool); err != nil {
		return nil, err
	}
	r := paced(ctx, max(1, int(rate*d.Seconds())), rate, workers, func(int) error {
		return pgstore.CommitFloorWrite(ctx, pool)
	})
	if r.err != nil {
		return nil, r.err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	slices.Sort(r.took)
	return r.took, nil
}

// pacedRun is what paced measured.
type pacedRun struct {
	took    []float64     // each call's duration, ms, in completion order
	ok      int64         // calls that succeeded
	err     error         // the first error
	lateMax time.Duration // how late the pacer was at worst
	seconds float64       // from the first call's start to the last's end
}

// paced calls do(0..n-1) at rate calls per second, started on schedule by
// a pacer and run by workers goroutines, so that a slow call delays no
// later one's start (until every worker is busy).
func paced(ctx context.Context, n int, rate float64, workers int, do func(i int) error) pacedRun {
	var (
		r   pacedRun
		wg  sync.WaitGroup
		mu  sync.Mutex
		ok  atomic.Int64
		job = make(chan int, n)
	)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range job {
				t0 := time.Now()
				err := do(i)
				took := ms(time.Since(t0))
				mu.Lock()
				if err != nil && r.err == nil {
					r.err = err
				}
				r.took = append(r.took, took)
				mu.Unlock()
				if err == nil {
					ok.Add(1)
				}
			}
		})
	}
	start := time.Now()
	period := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * period)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		} else if -d > r.lateMax {
			r.lateMax = -d
		}
		if ctx.Err() == nil {
			job <- i
		}
	}
	close(job)
	wg.Wait()
	r.ok, r.seconds = ok.Load(), secondsSince(start)
	return r
}

// deleteRevisions deletes the current revisions of per queued items in each
// of the first orgs orgs as the incident did (foreign key bypassed, queue
// heads first: the items a drill picks), and returns how many it deleted.
func deleteRevisions(ctx context.Context, st *pgstore.Store, orgs, per int) (int, error) {
	deleted := 0
	for i := 1; i <= orgs; i++ {
		ids, err := pgstore.DeleteHeadRevisions(ctx, st.Pool(), sim.OrgID(i), per)
		if err != nil {
			return deleted, fmt.Errorf("delete revisions: %w", err)
		}
		deleted += len(ids)
	}
	return deleted, nil
}

// newStore creates the scenario's fresh, migrated database and opens a
// store on it with extra connections beyond the engine's.
func (s *scenario) newStore(ctx context.Context, extra int) (database, *pgstore.Store, error) {
	db, err := s.newDB(ctx, "")
	if err != nil {
		return db, nil, err
	}
	st, err := s.open(ctx, db, extra)
	return db, st, err
}
