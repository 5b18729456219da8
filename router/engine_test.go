package router_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
)

// ---- a fake Store: only what the engine calls ----

var errTransient = errors.New("connection reset by peer")

type routeFunc func(n int, req router.RouteRequest) (router.RouteResult, error)

type fakeCall struct {
	at  time.Time
	req router.RouteRequest
	res router.RouteResult
	err error
}

type fakeStore struct {
	router.Store // nil: anything the engine should not call panics
	clock        router.Clock

	mu         sync.Mutex
	orgs       []string
	routable   []string // nil: orgs
	listOrgs   func(n int) error
	listCalls  int
	routCalls  int
	route      map[string]routeFunc
	calls      map[string][]fakeCall
	heartbeats []router.Heartbeat
	maintains  int
	maintain   func() // called by Maintain, when set
	notify     chan string
	changed    chan struct{}
	// Notifications: the first subscribeErrs subscriptions fail; with
	// closeAfter > 0 each stream ends after that many messages.
	subs, subscribeErrs, closeAfter int
	noWakeups                       bool // Notifications answers ErrNoWakeups
	// RoutableOrgs fails its first routableErrs calls.
	routableErrs int
	// groupCalls records how many orgs each RouteOrgs call carried;
	// depth is what Backlog says is queued (default: a deep queue).
	groupCalls []int
	depth      map[string]int
	// groupErr, when set, fails a call for several orgs before any of
	// them is routed (the way a transaction fails as a whole).
	groupErr func(orgs []string) error
	limits   []int
}

func newFake(clock router.Clock, orgs ...string) *fakeStore {
	return &fakeStore{clock: clock, orgs: orgs, route: map[string]routeFunc{}, calls: map[string][]fakeCall{},
		notify: make(chan string), changed: make(chan struct{}, 1)}
}

func (f *fakeStore) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeStore) ListOrgs(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	f.listCalls++
	n, fn := f.listCalls, f.listOrgs
	orgs := slices.Clone(f.orgs)
	f.mu.Unlock()
	defer f.poke()
	if fn != nil {
		if err := fn(n); err != nil {
			return nil, err
		}
	}
	return orgs, nil
}

func (f *fakeStore) RoutableOrgs(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	f.routCalls++
	if f.routCalls <= f.routableErrs {
		f.mu.Unlock()
		f.poke()
		return nil, errTransient
	}
	out := f.routable
	if out == nil {
		out = f.orgs
	}
	out = slices.Clone(out)
	f.mu.Unlock()
	f.poke()
	return out, nil
}

func (f *fakeStore) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	f.mu.Lock()
	n := len(f.calls[req.Org]) + 1
	fn := f.route[req.Org]
	f.mu.Unlock()
	var res router.RouteResult
	var err error
	if fn != nil {
		res, err = fn(n, req)
	}
	f.mu.Lock()
	f.calls[req.Org] = append(f.calls[req.Org], fakeCall{at: f.clock.Now(), req: req, res: res, err: err})
	f.limits = append(f.limits, req.Limit)
	f.mu.Unlock()
	f.poke()
	return res, err
}

// RouteOrgs routes each org as RouteOrg does; the first error ends the
// call (as a failed transaction would, nothing is kept for the others).
func (f *fakeStore) RouteOrgs(ctx context.Context, reqs []router.RouteRequest, decide router.DecideFunc) ([]router.RouteResult, error) {
	f.mu.Lock()
	f.groupCalls = append(f.groupCalls, len(reqs))
	groupErr := f.groupErr
	f.mu.Unlock()
	if groupErr != nil && len(reqs) > 1 {
		orgs := make([]string, len(reqs))
		for i, r := range reqs {
			orgs[i] = r.Org
		}
		if err := groupErr(orgs); err != nil {
			return nil, err
		}
	}
	out := make([]router.RouteResult, len(reqs))
	for i, req := range reqs {
		r, err := f.RouteOrg(ctx, req, decide)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// Backlog says every routable org has a deep queue (so that, unless a
// test sets depth, each org is routed alone: the fake is not
// transactional), failing like RoutableOrgs.
func (f *fakeStore) Backlog(ctx context.Context) ([]router.OrgBacklog, error) {
	orgs, err := f.RoutableOrgs(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	depth := f.depth
	f.mu.Unlock()
	out := make([]router.OrgBacklog, len(orgs))
	for i, o := range orgs {
		n, ok := depth[o]
		if !ok {
			n = 1 << 20
		}
		out[i] = router.OrgBacklog{Org: o, Queued: n, Routable: true}
	}
	return out, nil
}

// Maintain counts its calls; the fake has nothing to fold.
func (f *fakeStore) Maintain(ctx context.Context) error {
	f.mu.Lock()
	f.maintains++
	hook := f.maintain
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (f *fakeStore) ResumeExpired(ctx context.Context, now time.Time, actor router.Actor) ([]router.QueueRef, error) {
	return nil, ctx.Err()
}

func (f *fakeStore) Heartbeat(ctx context.Context, hb router.Heartbeat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.heartbeats = append(f.heartbeats, hb)
	f.mu.Unlock()
	f.poke()
	return nil
}

func (f *fakeStore) Notifications(ctx context.Context) (<-chan string, error) {
	f.mu.Lock()
	f.subs++
	fail, limit, none := f.subs <= f.subscribeErrs, f.closeAfter, f.noWakeups
	f.mu.Unlock()
	f.poke()
	if none {
		return nil, router.ErrNoWakeups
	}
	if fail {
		return nil, fmt.Errorf("listen: %w", errTransient)
	}
	out := make(chan string)
	go func() {
		defer close(out)
		for sent := 0; limit == 0 || sent < limit; sent++ {
			select {
			case <-ctx.Done():
				return
			case org := <-f.notify:
				select {
				case out <- org:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// callOrder lists the limit of every RouteOrg call, in the order made.
func (f *fakeStore) callOrder() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.limits)
}

func (f *fakeStore) callsOf(org string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[org])
}

func (f *fakeStore) beats() []router.Heartbeat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.heartbeats)
}

// waitFor waits until cond holds, woken by every store call; it fails the
// test after a generous deadline. It never sleeps.
func (f *fakeStore) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-f.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// work simulates a queue "q" holding total routable items: each call
// assigns up to Limit of them and says whether the batch was full.
type work struct {
	mu        sync.Mutex
	remaining int
}

func (w *work) left() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.remaining
}

func (w *work) route(n int, req router.RouteRequest) (router.RouteResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := min(req.Limit, w.remaining)
	w.remaining -= k
	res := router.RouteResult{Claimed: k, Assigned: k}
	if k > 0 {
		c := router.QueueClaim{Claimed: k, Full: k >= req.Limit, Last: router.QueueCursor{ID: int64(n)}}
		res.Queues = map[string]router.QueueClaim{"q": c}
		if c.Full {
			res.QueuesFull = 1
		}
	}
	return res, nil
}

// trickle assigns one item per call, never a full batch.
func (w *work) trickle(n int, req router.RouteRequest) (router.RouteResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.remaining == 0 {
		return router.RouteResult{}, nil
	}
	w.remaining--
	return router.RouteResult{Claimed: 1, Assigned: 1, Queues: map[string]router.QueueClaim{"q": {Claimed: 1}}}, nil
}

func failFirst(k int, then routeFunc) routeFunc {
	return func(n int, req router.RouteRequest) (router.RouteResult, error) {
		if n <= k {
			return router.RouteResult{}, fmt.Errorf("route: %w", errTransient)
		}
		if then == nil {
			return router.RouteResult{}, nil
		}
		return then(n-k, req)
	}
}

func busyFirst(k int, then routeFunc) routeFunc {
	return func(n int, req router.RouteRequest) (router.RouteResult, error) {
		if n <= k {
			return router.RouteResult{Busy: true}, nil
		}
		return then(n-k, req)
	}
}

// jumpClock is virtual time that jumps forward whenever someone waits on
// it, so RunUntilIdle's backoffs cost nothing. Waits of an hour or more
// never fire (heartbeat intervals).
type jumpClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *jumpClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	if d >= time.Hour {
		return ch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	ch <- c.now
	return ch
}

func (c *jumpClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

func engineConfig(clock router.Clock) router.EngineConfig {
	return router.EngineConfig{
		ID: "test-engine", Policy: router.PolicyQuarantine, BatchSize: 10, Workers: 2,
		PollInterval: 10 * time.Millisecond, HeartbeatInterval: 24 * time.Hour,
		BackoffMin: 100 * time.Millisecond, BackoffMax: 1600 * time.Millisecond,
		MaxBatchesPerTurn: 3, Version: "test", Clock: clock,
	}
}

// ---- RouteOnce and RouteTurn ----

func TestEngineDefaults(t *testing.T) {
	e := router.NewEngine(newFake(router.NewManualClock(t0)), router.EngineConfig{})
	c := e.Config()
	if c.Policy != router.PolicyQuarantine || c.BatchSize <= 0 || c.Workers <= 0 || c.PollInterval <= 0 ||
		c.HeartbeatInterval <= 0 || c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin || c.MaxBatchesPerTurn <= 0 ||
		c.OrphanSweepInterval <= 0 || c.Clock == nil || c.Logger == nil || c.ID == "" {
		t.Fatalf("defaults not filled in: %+v", c)
	}
}

func TestRouteTurnDrainsWhileBatchesFill(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a", "b")
	wa, wb := &work{remaining: 25}, &work{remaining: 100}
	f.route["a"], f.route["b"] = wa.route, wb.route
	e := router.NewEngine(f, engineConfig(clock)) // batch 10, 3 batches per turn
	ctx := context.Background()

	turn, err := e.RouteTurn(ctx, "a")
	if err != nil || turn.Assigned != 25 || turn.More || len(f.callsOf("a")) != 3 {
		t.Fatalf("a: %+v, %v, %d calls", turn, err, len(f.callsOf("a")))
	}
	turn, err = e.RouteTurn(ctx, "b")
	if err != nil || turn.Assigned != 30 || !turn.More || len(f.callsOf("b")) != 3 {
		t.Fatalf("b stops at MaxBatchesPerTurn with More: %+v, %v, %d calls", turn, err, len(f.callsOf("b")))
	}
	for i := 0; wb.left() > 0; i++ {
		if i > 10 {
			t.Fatal("b never drains")
		}
		if _, err := e.RouteTurn(ctx, "b"); err != nil {
			t.Fatal(err)
		}
	}
	turn, _ = e.RouteTurn(ctx, "b")
	if turn.More || turn.Assigned != 0 {
		t.Fatalf("drained org: %+v", turn)
	}
	if s := e.Stats(); s.Assigned != 125 || s.Errors != 0 || s.OrgsBackingOff != 0 {
		t.Fatalf("stats %+v", s)
	}
	for _, c := range f.callsOf("a") {
		if c.req.Org != "a" || c.req.Limit != 10 || c.req.Actor.Name != "engine:test-engine" || !c.req.Now.Equal(t0) {
			t.Fatalf("request %+v", c.req)
		}
	}
}

func TestRouteTurnStopsWhenBatchNotFull(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	w := &work{remaining: 7}
	f.route["a"] = w.route
	e := router.NewEngine(f, engineConfig(clock))
	turn, err := e.RouteTurn(context.Background(), "a")
	if err != nil || turn.Assigned != 7 || turn.More || len(f.callsOf("a")) != 1 {
		t.Fatalf("%+v %v calls %d", turn, err, len(f.callsOf("a")))
	}
}

func TestRouteTurnBusy(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	f.route["a"] = busyFirst(1, (&work{remaining: 5}).route)
	e := router.NewEngine(f, engineConfig(clock))
	turn, err := e.RouteTurn(context.Background(), "a")
	if err != nil || !turn.Busy || turn.More || turn.Assigned != 0 || len(f.callsOf("a")) != 1 {
		t.Fatalf("%+v %v", turn, err)
	}
	if e.Stats().OrgsBackingOff != 0 {
		t.Fatal("Busy is not a failure")
	}
	turn, err = e.RouteTurn(context.Background(), "a")
	if err != nil || turn.Busy || turn.Assigned != 5 {
		t.Fatalf("after busy: %+v %v", turn, err)
	}
}

// TestEngineBackoffPerOrg: a failing org backs off with growing delays
// (BackoffMin doubling up to BackoffMax, ±20% jitter), other orgs are not
// affected, and a success resets it.
func TestEngineBackoffPerOrg(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "bad", "good")
	healthy := false
	f.route["bad"] = func(n int, req router.RouteRequest) (router.RouteResult, error) {
		if healthy {
			return router.RouteResult{}, nil
		}
		return router.RouteResult{}, errTransient
	}
	good := &work{remaining: 1000}
	f.route["good"] = good.trickle
	var obs recordingObserver
	cfg := engineConfig(clock)
	cfg.Observer = &obs
	e := router.NewEngine(f, cfg)
	ctx := context.Background()

	// checkBackoff fails bad once more and checks that it then backs off
	// for between 80% and 120% of base, while good still routes.
	checkBackoff := func(base time.Duration) {
		t.Helper()
		if _, err := e.RouteTurn(ctx, "bad"); !errors.Is(err, errTransient) {
			t.Fatalf("RouteTurn(bad) = %v", err)
		}
		if got := e.Stats().OrgsBackingOff; got != 1 {
			t.Fatalf("after a failure OrgsBackingOff = %d", got)
		}
		// Others keep routing meanwhile.
		if turn, err := e.RouteTurn(ctx, "good"); err != nil || turn.Assigned != 1 {
			t.Fatalf("good while bad backs off: %+v %v", turn, err)
		}
		lo := base * 8 / 10
		clock.Advance(lo - time.Millisecond)
		if got := e.Stats().OrgsBackingOff; got != 1 {
			t.Fatalf("base %v: backoff ended before %v", base, lo)
		}
		clock.Advance(base*12/10 - lo + 2*time.Millisecond)
		if got := e.Stats().OrgsBackingOff; got != 0 {
			t.Fatalf("base %v: still backing off after %v", base, base*12/10)
		}
	}
	for _, base := range []time.Duration{100, 200, 400, 800, 1600, 1600, 1600} {
		checkBackoff(base * time.Millisecond)
	}
	healthy = true
	if _, err := e.RouteTurn(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().OrgsBackingOff; got != 0 {
		t.Fatalf("after recovery OrgsBackingOff = %d", got)
	}
	healthy = false
	checkBackoff(100 * time.Millisecond) // reset: back to BackoffMin
	s := e.Stats()
	if s.Errors != 8 || s.Assigned != 8 {
		t.Fatalf("stats %+v", s)
	}
	if obs.errors["bad"] != 8 || obs.errors["good"] != 0 || obs.routed["good"] != 8 {
		t.Fatalf("observer routed %v errors %v", obs.routed, obs.errors)
	}
}

func TestRouteTurnCancelledIsNotAFailure(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	f.route["a"] = func(int, router.RouteRequest) (router.RouteResult, error) {
		return router.RouteResult{}, fmt.Errorf("routing: %w", context.Canceled)
	}
	e := router.NewEngine(f, engineConfig(clock))
	if _, err := e.RouteTurn(context.Background(), "a"); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if got := e.Stats().OrgsBackingOff; got != 0 {
		t.Fatalf("a cancelled turn put the org in backoff (%d)", got)
	}
}

type recordingObserver struct {
	mu     sync.Mutex
	routed map[string]int
	errors map[string]int
}

func (o *recordingObserver) OrgRouted(org string, r router.RouteResult, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.routed == nil {
		o.routed = map[string]int{}
	}
	o.routed[org]++
}

func (o *recordingObserver) OrgError(org string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.errors == nil {
		o.errors = map[string]int{}
	}
	o.errors[org]++
}

func TestRouteOnceOrphanSweep(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	busy := true
	f.route["a"] = func(n int, req router.RouteRequest) (router.RouteResult, error) {
		return router.RouteResult{Busy: busy}, nil
	}
	cfg := engineConfig(clock)
	cfg.OrphanSweepInterval = time.Minute
	e := router.NewEngine(f, cfg)
	ctx := context.Background()
	sweeps := func() []bool {
		var out []bool
		for _, c := range f.callsOf("a") {
			out = append(out, c.req.IncludeOrphans)
		}
		return out
	}
	e.RouteOnce(ctx, "a") // busy: the sweep did not happen, so the next call sweeps again
	busy = false
	e.RouteOnce(ctx, "a")
	e.RouteOnce(ctx, "a")
	clock.Advance(59 * time.Second)
	e.RouteOnce(ctx, "a")
	clock.Advance(time.Second)
	e.RouteOnce(ctx, "a")
	e.RouteOnce(ctx, "a")
	if got, want := sweeps(), []bool{true, true, false, false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("IncludeOrphans per call = %v, want %v", got, want)
	}
}

// ---- Pass and RunUntilIdle ----

func TestPassOtherOrgsKeepRouting(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a", "b", "c", "d")
	f.route["a"] = (&work{remaining: 3}).route
	f.route["b"] = failFirst(1000, nil)
	f.route["c"] = (&work{remaining: 4}).route
	f.route["d"] = busyFirst(1000, nil)
	e := router.NewEngine(f, engineConfig(clock))
	p, err := e.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Orgs != 4 || p.Assigned != 7 || p.Errors != 1 || !errors.Is(p.LastError, errTransient) || p.Busy != 1 || !p.Progress() {
		t.Fatalf("pass %+v", p)
	}
	for _, org := range []string{"a", "b", "c", "d"} {
		if len(f.callsOf(org)) == 0 {
			t.Errorf("org %s not routed", org)
		}
	}
	if e.Stats().OrgsBackingOff != 1 {
		t.Fatalf("OrgsBackingOff = %d", e.Stats().OrgsBackingOff)
	}
}

func TestPassListError(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	f.listOrgs = func(int) error { return errTransient }
	e := router.NewEngine(f, engineConfig(clock))
	if _, err := e.Pass(context.Background()); !errors.Is(err, errTransient) {
		t.Fatal(err)
	}
}

func checkStoppedHeartbeat(t *testing.T, f *fakeStore) {
	t.Helper()
	hb := f.beats()
	if len(hb) < 1 {
		t.Fatalf("heartbeats: %+v", hb)
	}
	for _, b := range hb[:len(hb)-1] {
		if b.Stopped || b.EngineID != "test-engine" || b.Policy != router.PolicyQuarantine || b.Version != "test" || b.PID == 0 {
			t.Fatalf("running heartbeat %+v", b)
		}
	}
	last := hb[len(hb)-1]
	if !last.Stopped || last.EngineID != "test-engine" || !last.StartedAt.Equal(hb[0].StartedAt) {
		t.Fatalf("last heartbeat should say stopped: %+v", last)
	}
}

// TestRunUntilIdleThroughTransientErrors: listing orgs fails twice, one org
// fails four times; RunUntilIdle backs off, keeps going, routes everything,
// and returns nil.
func TestRunUntilIdleThroughTransientErrors(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a", "b")
	f.listOrgs = func(n int) error {
		if n <= 2 {
			return errTransient
		}
		return nil
	}
	wa := &work{remaining: 5}
	f.route["a"] = wa.trickle // one item per pass
	wb := &work{remaining: 3}
	f.route["b"] = failFirst(4, wb.trickle)
	e := router.NewEngine(f, engineConfig(clock))
	res, err := e.RunUntilIdle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if wa.left() != 0 || wb.left() != 0 || res.Assigned != 8 || res.Errors != 4 || res.Orgs != 2 {
		t.Fatalf("result %+v; left a=%d b=%d", res, wa.left(), wb.left())
	}
	// It backed off rather than spinning: b was retried no sooner than
	// the jittered BackoffMin after each failure.
	calls := f.callsOf("b")
	for i := 1; i < len(calls); i++ {
		if calls[i-1].err != nil && calls[i].at.Sub(calls[i-1].at) < 80*time.Millisecond {
			t.Fatalf("b retried %v after a failure", calls[i].at.Sub(calls[i-1].at))
		}
	}
	if f.listCalls < 3 {
		t.Fatalf("ListOrgs called %d times", f.listCalls)
	}
	checkStoppedHeartbeat(t, f)
	if e.Stats().OrgsBackingOff != 0 {
		// b recovered; nothing may still be backing off
		t.Fatalf("OrgsBackingOff = %d", e.Stats().OrgsBackingOff)
	}
}

// TestRunUntilIdleFailingOrgDoesNotSlowOthers: transient faults back off
// per org and other orgs keep routing (DESIGN.md, Faults). RunUntilIdle
// instead sleeps the whole pass loop after any pass with an error, with a
// backoff that grows to BackoffMax (engine.go, RunUntilIdle: `if p.Errors >
// 0 { failures++; e.sleep(ctx, e.backoff(failures)) }`), and Pass routes
// every org whether or not it is backing off. So one broken org makes
// every healthy org wait BackoffMax (10 s by default) between turns.
func TestRunUntilIdleFailingOrgDoesNotSlowOthers(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a", "bad")
	w := &work{remaining: 300} // 30 per turn: 10 turns
	f.route["a"] = w.route
	f.route["bad"] = failFirst(8, nil)
	e := router.NewEngine(f, engineConfig(clock))
	if _, err := e.RunUntilIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := f.callsOf("a")
	if w.left() != 0 || len(calls) == 0 {
		t.Fatalf("a not drained: %d left", w.left())
	}
	var drained time.Time
	for _, c := range calls {
		if c.res.Assigned > 0 {
			drained = c.at
		}
	}
	if waited := drained.Sub(t0); waited >= 80*time.Millisecond {
		t.Fatalf("healthy org a took %v of engine time to drain, all of it waiting out org bad's backoff", waited)
	}
}

// TestRunUntilIdleNeedsACleanPass: a pass with an error is never the last
// one, even when nothing else is left to do.
func TestRunUntilIdleNeedsACleanPass(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a", "b")
	f.route["b"] = failFirst(3, nil)
	e := router.NewEngine(f, engineConfig(clock))
	res, err := e.RunUntilIdle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls := f.callsOf("b")
	if len(calls) < 4 || calls[len(calls)-1].err != nil {
		t.Fatalf("RunUntilIdle ended after %d calls to b: %+v", len(calls), calls)
	}
	if res.Errors != 3 {
		t.Fatalf("%+v", res)
	}
}

func TestRunUntilIdleRetriesBusyOrgs(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a", "c")
	wc := &work{remaining: 1}
	f.route["c"] = busyFirst(3, wc.trickle)
	e := router.NewEngine(f, engineConfig(clock))
	res, err := e.RunUntilIdle(context.Background())
	if err != nil || res.Assigned != 1 || wc.left() != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := len(f.callsOf("c")); n < 5 {
		t.Fatalf("c routed %d times; the pass after its progress must confirm it idle", n)
	}
}

func TestRunUntilIdleDrainsTurnsWithMore(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a")
	w := &work{remaining: 95} // 10 per batch, 3 batches per turn
	f.route["a"] = w.route
	e := router.NewEngine(f, engineConfig(clock))
	res, err := e.RunUntilIdle(context.Background())
	if err != nil || res.Assigned != 95 || w.left() != 0 {
		t.Fatalf("%+v %v left %d", res, err, w.left())
	}
}

func TestRunUntilIdleCancelled(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.listOrgs = func(n int) error {
		if n == 5 {
			cancel()
		}
		return errTransient
	}
	e := router.NewEngine(f, engineConfig(clock))
	if _, err := e.RunUntilIdle(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunUntilIdle = %v, want context.Canceled", err)
	}
	checkStoppedHeartbeat(t, f)
}

// ---- Run ----

func startRun(t *testing.T, e *router.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

// TestRunWakesOnNotification: with a poll interval that never comes, a
// notification alone gets the org routed; heartbeats are written, and a
// stopped one on exit.
func TestRunWakesOnNotification(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "org-n") // an org that exists; the polls find nothing routable
	f.routable = []string{}
	w := &work{remaining: 3}
	f.route["org-n"] = w.route
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	f.waitFor(t, "the first poll and heartbeat", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.routCalls >= 1 && len(f.heartbeats) >= 1
	})
	select {
	case f.notify <- "org-n":
	case <-time.After(20 * time.Second):
		t.Fatal("engine never subscribed to notifications")
	}
	f.waitFor(t, "org-n routed", func() bool { return w.left() == 0 })
	stop()
	checkStoppedHeartbeat(t, f)
	if hb := f.beats(); len(hb) < 2 {
		t.Fatalf("want a running heartbeat, then a stopped one: %+v", hb)
	}
}

// TestRunKeepsRoutingTurnsWithMore: a turn that stopped at
// MaxBatchesPerTurn is taken up again without waiting for a poll.
func TestRunKeepsRoutingTurnsWithMore(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "m")
	f.routable = []string{}
	w := &work{remaining: 200} // 10 per batch, 3 per turn: 7 turns
	f.route["m"] = w.route
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	select {
	case f.notify <- "m":
	case <-time.After(20 * time.Second):
		t.Fatal("engine never subscribed to notifications")
	}
	f.waitFor(t, "m drained", func() bool { return w.left() == 0 })
	f.waitFor(t, "the final empty batch", func() bool { return len(f.callsOf("m")) == 21 })
}

// TestRunResubscribesToNotifications: a failed subscription is retried with
// backoff, and a stream that ends is subscribed again.
func TestRunResubscribesToNotifications(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "x", "y")
	f.routable = []string{}
	f.subscribeErrs, f.closeAfter = 2, 1
	wx, wy := &work{remaining: 1}, &work{remaining: 1}
	f.route["x"], f.route["y"] = wx.route, wy.route
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour // polls never come: only notifications wake the engine
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	for _, org := range []string{"x", "y"} {
		select {
		case f.notify <- org:
		case <-time.After(20 * time.Second):
			t.Fatalf("nobody listens for %s's notification", org)
		}
	}
	f.waitFor(t, "x and y routed", func() bool { return wx.left() == 0 && wy.left() == 0 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs < 4 {
		t.Fatalf("%d subscriptions; want 2 failed, 1 ended, 1 live", f.subs)
	}
}

// TestRunSurvivesListFailures: when listing routable orgs fails, Run backs
// off and polls again.
func TestRunSurvivesListFailures(t *testing.T) {
	clock := &jumpClock{now: t0}
	f := newFake(clock, "a")
	f.routableErrs = 3
	w := &work{remaining: 5}
	f.route["a"] = w.route
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	f.waitFor(t, "a routed after the store came back", func() bool { return w.left() == 0 })
	var backoffs int
	for _, d := range clock.sleeps() {
		if d >= cfg.BackoffMin*8/10 && d < time.Hour {
			backoffs++
		}
	}
	if backoffs < 3 {
		t.Fatalf("waits %v: want a backoff after each of 3 failures", clock.sleeps())
	}
}

// probeClock is a ManualClock that counts how often something waits on it
// for less than an hour: the engine's scheduler (heartbeats wait longer,
// and the fake's notification stream never fails, so listen never waits).
type probeClock struct {
	*router.ManualClock
	f      *fakeStore
	mu     sync.Mutex
	afters int
}

func (c *probeClock) After(d time.Duration) <-chan time.Time {
	ch := c.ManualClock.After(d)
	if d < time.Hour {
		c.mu.Lock()
		c.afters++
		c.mu.Unlock()
		c.f.poke()
	}
	return ch
}

func (c *probeClock) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.afters
}

// TestRunBacksOffFailingOrg: under Run, an org whose routing fails is
// retried only after its backoff, which grows with each failure, while
// another org keeps being routed at every poll; after it recovers it is
// routed at every poll again.
func TestRunBacksOffFailingOrg(t *testing.T) {
	clock := &probeClock{ManualClock: router.NewManualClock(t0)}
	f := newFake(clock, "bad", "good")
	clock.f = f
	const failures = 5
	f.route["bad"] = failFirst(failures, nil)
	// Polls only: a subscription's resync asks for one more poll, which
	// lands at the first instant or not depending on goroutine timing, and
	// this test counts routings per poll.
	f.noWakeups = true
	cfg := engineConfig(clock)
	cfg.Workers = 1
	cfg.PollInterval = 10 * time.Millisecond
	cfg.BackoffMin, cfg.BackoffMax = 100*time.Millisecond, 800*time.Millisecond
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)

	// The test moves time only when the engine has done everything it will
	// do at the current instant, so that every poll happens on time. With
	// one worker, an instant goes: the scheduler wakes and polls (bad and
	// good are routable), hands out bad unless it is backing off, waits;
	// takes bad's result and hands out good, waits; takes good's result,
	// waits. So the instant is over once good has been routed and the
	// scheduler has waited 2 times, plus once more if bad was routed.
	// (This leans on how Run schedules with one worker. Should that change,
	// the wait below times out or the poll-by-poll checks fail, loudly.)
	settled := func(afters, bads, goods int) func() bool {
		return func() bool {
			if len(f.callsOf("good")) < goods+1 {
				return false
			}
			return clock.count() >= afters+2+len(f.callsOf("bad"))-bads
		}
	}
	f.waitFor(t, "the first instant", settled(0, 0, 0))
	const step = 10 * time.Millisecond // == PollInterval
	for range 500 {                    // 5 s of engine time
		a, b, g := clock.count(), len(f.callsOf("bad")), len(f.callsOf("good"))
		clock.Advance(step)
		f.waitFor(t, "the engine to finish the instant", settled(a, b, g))
	}
	stop()

	bad, good := f.callsOf("bad"), f.callsOf("good")
	if len(bad) < failures+10 {
		t.Fatalf("bad routed %d times; want its %d failures, then routing at every poll", len(bad), failures)
	}
	for i := 1; i <= failures; i++ {
		gap := bad[i].at.Sub(bad[i-1].at)
		base := min(cfg.BackoffMin<<(i-1), cfg.BackoffMax)
		if gap < base*8/10 {
			t.Errorf("retry %d came %v after failure %d; the backoff is at least %v", i, gap, i, base*8/10)
		}
		if gap > base*12/10+step {
			t.Errorf("retry %d came %v after failure %d; the backoff is at most %v", i, gap, i, base*12/10)
		}
		// other orgs keep routing meanwhile, at every poll
		between := 0
		for _, g := range good {
			if g.at.After(bad[i-1].at) && g.at.Before(bad[i].at) {
				between++
			}
		}
		if want := int(gap/step) - 1; between < want {
			t.Errorf("good routed %d times while bad backed off for %v; want %d", between, gap, want)
		}
	}
	// After recovery, bad is routed at every poll like good.
	last := bad[len(bad)-1].at
	for i := failures + 1; i < len(bad); i++ {
		if gap := bad[i].at.Sub(bad[i-1].at); gap != step {
			t.Errorf("after recovery, bad routed %v apart at %v (poll every %v)", gap, bad[i].at, step)
			break
		}
	}
	if len(good) != 501 || !last.Equal(t0.Add(500*step)) {
		t.Errorf("good routed %d times in 501 polls; bad last at %v", len(good), last.Sub(t0))
	}
	if e.Stats().OrgsBackingOff != 0 {
		t.Errorf("OrgsBackingOff = %d after recovery", e.Stats().OrgsBackingOff)
	}
}

// ---- on memstore: paging past unmatched heads ----

type memOrg struct {
	s   *memstore.Store
	ctx context.Context
	t   *testing.T
	n   int
}

func newMemOrg(t *testing.T) *memOrg {
	m := &memOrg{s: memstore.New(), ctx: context.Background(), t: t}
	t.Cleanup(m.s.Close)
	m.must(m.s.UpsertOrg(m.ctx, router.Org{ID: "o"}))
	m.must(m.s.UpsertQueue(m.ctx, router.Queue{OrgID: "o", ID: "hi", Priority: 10}))
	m.must(m.s.UpsertQueue(m.ctx, router.Queue{OrgID: "o", ID: "lo", Priority: 0}))
	m.must(m.s.UpsertTeam(m.ctx, router.Team{OrgID: "o", ID: "x", Status: router.TeamActive}))
	m.must(m.s.UpsertTeam(m.ctx, router.Team{OrgID: "o", ID: "y", Status: router.TeamPaused}))
	m.must(m.s.UpsertAgent(m.ctx, router.Agent{OrgID: "o", ID: "ax", TeamID: "x", Status: router.AgentAvailable, Capacity: 10000}))
	m.must(m.s.UpsertAgent(m.ctx, router.Agent{OrgID: "o", ID: "ay", TeamID: "y", Status: router.AgentAvailable, Capacity: 10000}))
	return m
}

func (m *memOrg) must(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *memOrg) enqueue(queue, attrs string) int64 {
	m.t.Helper()
	m.n++
	it, err := m.s.Enqueue(m.ctx, router.EnqueueRequest{OrgID: "o", QueueID: queue, Attributes: []byte(attrs),
		EnqueuedAt: t0.Add(time.Duration(m.n) * time.Second)})
	m.must(err)
	return it.ID
}

func (m *memOrg) state(id int64) router.ItemState {
	m.t.Helper()
	it, err := m.s.GetItem(m.ctx, id)
	m.must(err)
	return it.State
}

const forPausedTeam = `{"priority": 5, "channel": "chat", "team": "y"}`

// TestRouteTurnPagesPastUnmatchedHead: items no agent can take (their team
// is paused) at the head of a queue do not hide the routable item behind
// them, within one turn.
func TestRouteTurnPagesPastUnmatchedHead(t *testing.T) {
	m := newMemOrg(t)
	for range 4 {
		m.enqueue("lo", forPausedTeam)
	}
	target := m.enqueue("lo", okAttrs)
	cfg := engineConfig(router.NewManualClock(t0))
	cfg.BatchSize, cfg.MaxBatchesPerTurn = 2, 10
	e := router.NewEngine(m.s, cfg)
	turn, err := e.RouteTurn(m.ctx, "o")
	if err != nil || turn.Assigned != 1 || m.state(target) != router.StateAssigned {
		t.Fatalf("turn %+v %v; item behind the unmatched head is %s", turn, err, m.state(target))
	}
}

// TestRouteTurnPagesPastUnmatchedHeadWhileAnotherQueueAssigns: the cursor
// of one queue must not be reset because another queue made progress.
// RouteTurn resets every full queue to its head whenever the batch as a
// whole made progress (engine.go: `if r.Progress() { continue }` uses the
// org-wide result), so while a busy queue keeps assigning a full batch per
// transaction, a queue whose head is unmatched never pages past it, and
// with steady traffic on the busy queue its routable items starve.
func TestRouteTurnPagesPastUnmatchedHeadWhileAnotherQueueAssigns(t *testing.T) {
	m := newMemOrg(t)
	for range 4 {
		m.enqueue("lo", forPausedTeam)
	}
	target := m.enqueue("lo", okAttrs)
	cfg := engineConfig(router.NewManualClock(t0))
	cfg.BatchSize, cfg.MaxBatchesPerTurn = 2, 10
	e := router.NewEngine(m.s, cfg)
	for round := range 5 {
		for range 20 { // steady traffic on the busy queue
			m.enqueue("hi", okAttrs)
		}
		if _, err := e.RouteTurn(m.ctx, "o"); err != nil {
			t.Fatal(err)
		}
		if m.state(target) == router.StateAssigned {
			return
		}
		t.Logf("after turn %d the routable item behind lo's unmatched head is still %s", round+1, m.state(target))
	}
	t.Fatalf("item %d in queue lo starved: 5 turns of %d batches never paged past lo's 4 unmatched head items, "+
		"because queue hi assigned something in every batch", target, cfg.MaxBatchesPerTurn)
}

// TestSlowMaintenanceIsSpaced: a store maintenance that takes long is not
// run before every heartbeat (it kept a database core busy over a large
// fleet); heartbeats go on at their interval meanwhile.
func TestSlowMaintenanceIsSpaced(t *testing.T) {
	f := newFake(router.RealClock{}, "o1")
	f.noWakeups = true
	f.maintain = func() { time.Sleep(30 * time.Millisecond) }
	cfg := engineConfig(router.RealClock{})
	cfg.HeartbeatInterval = 10 * time.Millisecond
	cfg.PollInterval = time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	f.waitFor(t, "three maintenances", func() bool { return f.maintainCount() >= 3 })
	stop()
	f.mu.Lock()
	beats, maintains := len(f.heartbeats), f.maintains
	f.mu.Unlock()
	// Each maintenance (30 ms or more) is followed by at least four times
	// as long without one: several heartbeats, 10 ms apart.
	if beats < 2*maintains {
		t.Fatalf("%d maintenances for %d heartbeats: maintenance ran before (nearly) every heartbeat", maintains, beats)
	}
}

func (f *fakeStore) maintainCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maintains
}
