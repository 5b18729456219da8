package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
)

var simStart = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// world is a simulator, an engine and a manual clock on one memstore.
type world struct {
	st    *memstore.Store
	sim   *Simulator
	eng   *router.Engine
	clock *router.ManualClock
}

func newWorld(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{st: memstore.New(), clock: router.NewManualClock(simStart)}
	t.Cleanup(w.st.Close)
	cfg.Clock = w.clock
	w.sim = New(w.st, cfg)
	if err := w.sim.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	w.eng = router.NewEngine(w.st, router.EngineConfig{Clock: w.clock})
	return w
}

// step advances the clock by dt, steps the simulator, and routes when
// route is set.
func (w *world) step(t testing.TB, dt time.Duration, route bool) {
	t.Helper()
	ctx := context.Background()
	w.clock.Advance(dt)
	if err := w.sim.Step(ctx, w.clock.Now(), dt); err != nil {
		t.Fatalf("Step: %v", err)
	}
	if route {
		if _, err := w.eng.Pass(ctx); err != nil {
			t.Fatalf("Pass: %v", err)
		}
	}
}

func allItems(t testing.TB, st router.Store) []router.WorkItem {
	t.Helper()
	var out []router.WorkItem
	var after int64
	for {
		page, err := st.ListItems(context.Background(), router.ItemFilter{AfterID: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 5000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

func TestSimulatorSetup(t *testing.T) {
	w := newWorld(t, Config{Seed: 3})
	ctx := context.Background()
	orgs := w.sim.Orgs()
	if len(orgs) != DefaultOrgs || orgs[0] != "org-0001" || orgs[19] != "org-0020" {
		t.Fatalf("orgs %v", orgs)
	}
	stored, _ := w.st.ListOrgs(ctx)
	if !reflect.DeepEqual(stored, orgs) {
		t.Fatalf("store has %v", stored)
	}
	totalAgents := 0
	for _, o := range orgs {
		qs, _ := w.st.ListQueues(ctx, o)
		teams, _ := w.st.ListTeams(ctx, o)
		agents, _ := w.st.ListAgents(ctx, o)
		if len(qs) < 2 || len(teams) < 2 || len(agents) < 3 {
			t.Fatalf("%s: %d queues, %d teams, %d agents", o, len(qs), len(teams), len(agents))
		}
		hasDefault := false
		for _, q := range qs {
			hasDefault = hasDefault || q.ID == "default"
		}
		if !hasDefault {
			t.Fatalf("%s has no default queue", o)
		}
		perTeam := map[string]int{}
		for _, a := range agents {
			if a.Status == router.AgentAvailable {
				perTeam[a.TeamID]++
			}
		}
		for _, tm := range teams {
			if perTeam[tm.ID] == 0 {
				t.Fatalf("%s: team %s has no available agent", o, tm.ID)
			}
		}
		totalAgents += len(agents)
	}
	t.Logf("%d orgs, %d agents", len(orgs), totalAgents)
	// Setup again is harmless.
	if err := w.sim.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := New(w.st, Config{}).Step(ctx, simStart, time.Second); err == nil {
		t.Fatal("Step before Setup succeeded")
	}
}

// TestSimulatorLifecycle runs ten simulated minutes with routing in
// between, checking the invariants as it goes.
func TestSimulatorLifecycle(t *testing.T) {
	w := newWorld(t, Config{Orgs: 8, Seed: 7, Rate: 0.5})
	ctx := context.Background()
	agents := map[string][]router.Agent{}
	for _, o := range w.sim.Orgs() {
		as, _ := w.st.ListAgents(ctx, o)
		for i := range as {
			// For "could anyone take it at all": present and idle.
			as[i].Status, as[i].Load, as[i].TeamStatus = router.AgentAvailable, 0, router.TeamActive
		}
		agents[o] = as
	}
	for i := range 600 {
		w.step(t, time.Second, true)
		if i%10 == 0 {
			for _, o := range w.sim.Orgs() {
				as, _ := w.st.ListAgents(ctx, o)
				for _, a := range as {
					if a.Load > a.Capacity || a.Load < 0 {
						t.Fatalf("step %d: agent %s/%s load %d of %d", i, o, a.ID, a.Load, a.Capacity)
					}
				}
			}
		}
		if i%100 == 99 {
			verifyClean(t, w.st)
		}
	}
	st := w.sim.Stats()
	items := allItems(t, w.st)
	states := map[router.ItemState]int{}
	for _, it := range items {
		states[it.State]++
		if it.State == router.StateCompleted && (it.CompletedAt == nil || it.AssignedAt == nil || !it.CompletedAt.After(*it.AssignedAt)) {
			t.Fatalf("item %d completed at %v, assigned at %v", it.ID, it.CompletedAt, it.AssignedAt)
		}
	}
	t.Logf("stats %+v; items %v", st, states)
	if int64(len(items)) != st.Arrivals {
		t.Fatalf("%d items in the store, %d arrivals: items lost or invented", len(items), st.Arrivals)
	}
	if int64(states[router.StateCompleted]) != st.Completions {
		t.Fatalf("%d completed items, %d completions", states[router.StateCompleted], st.Completions)
	}
	if st.Arrivals < 500 || st.Completions < st.Arrivals/2 || st.StatusChanges == 0 || st.Revisions == 0 || st.Errors != 0 {
		t.Fatalf("a quiet world: %+v", st)
	}
	if states[router.StateQuarantined] != 0 || states[router.StateCancelled] != 0 {
		t.Fatalf("states %v", states)
	}
	// Every revision valid and canonical, every item's requirements
	// within reach of some agent of its org.
	for _, it := range items {
		revs, err := w.st.ItemRevisions(ctx, it.OrgID, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range revs {
			a, err := router.ParseAttributes(r.Attributes)
			if err != nil || !bytes.Equal(CanonicalJSON(a), r.Attributes) {
				t.Fatalf("item %d revision %s: %v", it.ID, r.Attributes, err)
			}
			ok := false
			for i := range agents[it.OrgID] {
				ok = ok || router.Eligible(&agents[it.OrgID][i], &a)
			}
			if !ok {
				t.Fatalf("no agent of %s could ever take %s", it.OrgID, r.Attributes)
			}
		}
	}
	verifyClean(t, w.st)
}

// run is a short scripted world: returns what happened.
func runScript(t *testing.T, seed int64, steps int) (Stats, []string) {
	w := newWorld(t, Config{Orgs: 5, Seed: seed, Rate: 1})
	for i := range steps {
		w.step(t, 500*time.Millisecond, i%3 != 0)
	}
	var out []string
	for _, it := range allItems(t, w.st) {
		revs, _ := w.st.ItemRevisions(context.Background(), it.OrgID, it.ID)
		var attrs []string
		for _, r := range revs {
			attrs = append(attrs, string(r.Attributes))
		}
		var done string
		if it.CompletedAt != nil {
			done = it.CompletedAt.String()
		}
		out = append(out, fmt.Sprintf("%d %s %s %s %s %s %s %s", it.ID, it.OrgID, it.QueueID, it.State, it.AgentID,
			it.EnqueuedAt, done, strings.Join(attrs, "|")))
	}
	for _, o := range w.sim.Orgs() {
		as, _ := w.st.ListAgents(context.Background(), o)
		for _, a := range as {
			out = append(out, fmt.Sprintf("%s %s %s %d", o, a.ID, a.Status, a.Load))
		}
	}
	return w.sim.Stats(), out
}

func TestSimulatorDeterministic(t *testing.T) {
	s1, w1 := runScript(t, 11, 400)
	s2, w2 := runScript(t, 11, 400)
	if s1 != s2 || !reflect.DeepEqual(w1, w2) {
		t.Fatalf("same seed, different worlds: %+v vs %+v", s1, s2)
	}
	if s1.Arrivals == 0 || s1.Completions == 0 {
		t.Fatalf("nothing happened: %+v", s1)
	}
	s3, w3 := runScript(t, 12, 400)
	if s1 == s3 && reflect.DeepEqual(w1, w3) {
		t.Fatal("another seed, the same world")
	}
}

// TestSimulatorBoundsQueues: with no engine at all, arrivals slow down and
// stop as queues pass the limits.
func TestSimulatorBoundsQueues(t *testing.T) {
	w := newWorld(t, Config{Orgs: 2, Seed: 5, Rate: 20})
	for range 300 {
		w.step(t, time.Second, false)
	}
	counts := map[string]int{}
	for _, it := range allItems(t, w.st) {
		counts[it.OrgID]++
	}
	for o, n := range counts {
		// 20/s for 5 minutes would be ~6000 without the limits; bursts
		// and the estimate between recounts allow some overshoot.
		if n > queuedHardLimit+600 {
			t.Fatalf("%s has %d queued items", o, n)
		}
	}
	t.Logf("queued %v, stats %+v", counts, w.sim.Stats())
}

// TestSimulatorLeavesFaultsAlone: items whose revision a drill corrupted or
// deleted never get a new revision from the simulator, while healthy
// queued items do.
func TestSimulatorLeavesFaultsAlone(t *testing.T) {
	w := newWorld(t, Config{Orgs: 3, Seed: 21, Rate: 2})
	ctx := context.Background()
	for range 10 {
		w.step(t, time.Second, false)
	}
	actor := router.Actor{Name: "test"}
	hurt := map[int64]int64{}
	for i, o := range w.sim.Orgs() {
		var ids []int64
		var err error
		if i%2 == 0 {
			ids, err = w.st.DrillCorruptRevisions(ctx, router.DrillRequest{Org: o, Count: 4, Actor: actor, At: w.clock.Now()})
		} else {
			ids, err = w.st.DrillDeleteRevisions(ctx, router.DrillRequest{Org: o, Count: 4, Actor: actor, At: w.clock.Now()})
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			it, _ := w.st.GetItem(ctx, id)
			hurt[id] = it.CurrentRevisionID
		}
	}
	if len(hurt) == 0 {
		t.Fatal("no items to hurt")
	}
	before := w.sim.Stats().Revisions
	for range 400 {
		w.step(t, time.Second, false)
	}
	if w.sim.Stats().Revisions == before {
		t.Fatal("no revisions written at all; the test proves nothing")
	}
	for id, rev := range hurt {
		it, _ := w.st.GetItem(ctx, id)
		if it.CurrentRevisionID != rev {
			t.Fatalf("item %d was revised from %d to %d by the simulator", id, rev, it.CurrentRevisionID)
		}
	}
	rep, _ := w.st.Verify(ctx, 100)
	if len(rep.Findings) != len(hurt) {
		t.Fatalf("want exactly the %d injected faults, got %+v", len(hurt), rep.Findings)
	}
}

// flaky fails every other Enqueue with an infrastructure error.
type flaky struct {
	*memstore.Store
	mu    sync.Mutex
	calls int
}

func (f *flaky) Enqueue(ctx context.Context, req router.EnqueueRequest) (router.WorkItem, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls%2 == 0
	f.mu.Unlock()
	if fail {
		return router.WorkItem{}, errors.New("connection reset by peer")
	}
	return f.Store.Enqueue(ctx, req)
}

// waitParked waits until Run is parked on the manual clock. It does not
// wait for time: it yields until the goroutine has registered its timer.
func waitParked(t *testing.T, c *router.ManualClock, done <-chan error) {
	t.Helper()
	for c.Waiters() == 0 {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		runtime.Gosched()
	}
}

func TestSimulatorRun(t *testing.T) {
	st := &flaky{Store: memstore.New()}
	defer st.Close()
	clock := router.NewManualClock(simStart)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	s := New(st, Config{Orgs: 4, Seed: 2, Rate: 5, Clock: clock, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Run(ctx, time.Second); err == nil {
		t.Fatal("Run before Setup succeeded")
	}
	if err := s.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Second) }()
	for range 30 {
		waitParked(t, clock, done)
		clock.Advance(time.Second)
	}
	waitParked(t, clock, done)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	stats := s.Stats()
	if stats.Arrivals == 0 || stats.Errors == 0 {
		t.Fatalf("want arrivals despite errors: %+v", stats)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "connection reset by peer") {
		t.Fatalf("the failure was not logged:\n%s", logs.String())
	}
	t.Logf("stats %+v", stats)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// BenchmarkStep measures one simulated second of the default world with
// routing, on the embedded store.
func BenchmarkStep(b *testing.B) {
	w := newWorld(b, Config{Seed: 1})
	for range 120 {
		w.step(b, time.Second, true)
	}
	b.ResetTimer()
	for b.Loop() {
		w.step(b, time.Second, true)
	}
}
