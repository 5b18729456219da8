package sim

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
)

var seedNow = time.Date(2026, 11, 28, 15, 4, 5, 123456789, time.UTC)

func collect(t testing.TB, spec SeedSpec) []*router.BulkData {
	t.Helper()
	var chunks []*router.BulkData
	if err := Generate(spec, func(d *router.BulkData) error {
		chunks = append(chunks, d)
		return nil
	}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return chunks
}

func TestValidate(t *testing.T) {
	good := SeedSpec{Orgs: 1, QueuesPerOrg: 1, AgentsPerOrg: 1, Capacity: 1, ItemsPerOrg: 0, Now: seedNow}
	if err := good.Validate(); err != nil {
		t.Fatalf("minimal spec: %v", err)
	}
	bad := []struct {
		mut  func(*SeedSpec)
		word string
	}{
		{func(s *SeedSpec) { s.Orgs = 0 }, "orgs"},
		{func(s *SeedSpec) { s.QueuesPerOrg = 0 }, "queues-per-org"},
		{func(s *SeedSpec) { s.TeamsPerOrg = -1 }, "teams-per-org"},
		{func(s *SeedSpec) { s.AgentsPerOrg = 0 }, "agents-per-org"},
		{func(s *SeedSpec) { s.Capacity = 0 }, "capacity"},
		{func(s *SeedSpec) { s.ItemsPerOrg = -1 }, "items-per-org"},
		{func(s *SeedSpec) { s.OrgOffset = -3 }, "offset"},
	}
	for _, b := range bad {
		s := good
		b.mut(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), b.word) {
			t.Errorf("want an error naming %s, got %v", b.word, err)
		}
		if Generate(s, func(*router.BulkData) error { return nil }) == nil {
			t.Errorf("Generate accepted a spec with bad %s", b.word)
		}
	}
	noNow := good
	noNow.Now = time.Time{}
	if err := Generate(noNow, func(*router.BulkData) error { return nil }); err == nil {
		t.Error("Generate accepted a spec without Now")
	}
	// Default teams: min(3, agents).
	for agents, want := range map[int]int{1: 1, 2: 2, 3: 3, 10: 3} {
		s := good
		s.AgentsPerOrg = agents
		ch := collect(t, s)
		if got := len(ch[0].Teams); got != want {
			t.Errorf("agents %d: %d teams, want %d", agents, got, want)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	spec := SeedSpec{Orgs: 3, QueuesPerOrg: 4, AgentsPerOrg: 8, Capacity: 5, ItemsPerOrg: 300, Seed: 42, Now: seedNow}
	a, b := collect(t, spec), collect(t, spec)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same spec differ")
	}
	spec.Seed = 43
	if c := collect(t, spec); reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same data")
	}
}

// flatten merges chunks into one data set.
func flatten(chunks []*router.BulkData) router.BulkData {
	var all router.BulkData
	for _, c := range chunks {
		all.Orgs = append(all.Orgs, c.Orgs...)
		all.Queues = append(all.Queues, c.Queues...)
		all.Teams = append(all.Teams, c.Teams...)
		all.Agents = append(all.Agents, c.Agents...)
		all.Items = append(all.Items, c.Items...)
	}
	return all
}

func TestGenerateOrgsIndependentOfOffset(t *testing.T) {
	spec := SeedSpec{Orgs: 4, QueuesPerOrg: 3, AgentsPerOrg: 6, Capacity: 4, ItemsPerOrg: 50, Seed: 9, Now: seedNow}
	whole := flatten(collect(t, spec))
	spec.Orgs = 2
	first := flatten(collect(t, spec))
	spec.OrgOffset = 2
	second := flatten(collect(t, spec))
	if second.Orgs[0].ID != "org-0003" {
		t.Fatalf("offset 2 starts at %s", second.Orgs[0].ID)
	}
	joined := first
	joined.Orgs = append(joined.Orgs, second.Orgs...)
	joined.Queues = append(joined.Queues, second.Queues...)
	joined.Teams = append(joined.Teams, second.Teams...)
	joined.Agents = append(joined.Agents, second.Agents...)
	joined.Items = append(joined.Items, second.Items...)
	if !reflect.DeepEqual(whole, joined) {
		t.Fatal("seeding orgs 1-2 and 3-4 separately differs from seeding 1-4")
	}
}

// checkData checks a generated data set against its spec.
func checkData(t *testing.T, spec SeedSpec, chunks []*router.BulkData) {
	t.Helper()
	spec = spec.withDefaults()
	type orgInfo struct {
		queues map[string]bool
		teams  map[string]bool
		agents []router.Agent
		items  int
	}
	orgs := map[string]*orgInfo{}
	var order []string
	now := spec.Now.Truncate(time.Microsecond)
	teamReq, skillReq, revs := 0, 0, 0
	minP, maxP := 101, -1
	for ci, c := range chunks {
		if len(c.Items) > maxChunkItems {
			t.Fatalf("chunk %d has %d items", ci, len(c.Items))
		}
		for _, o := range c.Orgs {
			if orgs[o.ID] != nil {
				t.Fatalf("org %s emitted twice", o.ID)
			}
			if o.Name == "" {
				t.Fatalf("org %s has no name", o.ID)
			}
			orgs[o.ID] = &orgInfo{queues: map[string]bool{}, teams: map[string]bool{}}
			order = append(order, o.ID)
		}
		prios := map[string]map[int]bool{}
		for _, q := range c.Queues {
			oi := orgs[q.OrgID]
			if oi == nil {
				t.Fatalf("queue %s/%s before its org", q.OrgID, q.ID)
			}
			if len(oi.queues) == 0 && q.ID != "default" {
				t.Fatalf("first queue of %s is %s", q.OrgID, q.ID)
			}
			if prios[q.OrgID] == nil {
				prios[q.OrgID] = map[int]bool{}
			}
			if oi.queues[q.ID] || prios[q.OrgID][q.Priority] {
				t.Fatalf("queue %s/%s: duplicate id or priority %d", q.OrgID, q.ID, q.Priority)
			}
			oi.queues[q.ID] = true
			prios[q.OrgID][q.Priority] = true
		}
		for _, tm := range c.Teams {
			if tm.Status != router.TeamActive {
				t.Fatalf("team %s/%s is %s", tm.OrgID, tm.ID, tm.Status)
			}
			orgs[tm.OrgID].teams[tm.ID] = true
		}
		for _, a := range c.Agents {
			oi := orgs[a.OrgID]
			if !oi.teams[a.TeamID] {
				t.Fatalf("agent %s/%s in unknown team %s", a.OrgID, a.ID, a.TeamID)
			}
			if a.Capacity != spec.Capacity || len(a.Skills) == 0 {
				t.Fatalf("agent %+v", a)
			}
			a.TeamStatus = router.TeamActive
			oi.agents = append(oi.agents, a)
		}
		for _, it := range c.Items {
			oi := orgs[it.OrgID]
			if oi == nil {
				t.Fatalf("item of %s before its org", it.OrgID)
			}
			oi.items++
			if !oi.queues[it.QueueID] {
				t.Fatalf("item in unknown queue %s/%s", it.OrgID, it.QueueID)
			}
			if it.State != router.StateQueued {
				t.Fatalf("item state %s", it.State)
			}
			if it.EnqueuedAt.Before(now.Add(-10*time.Minute)) || !it.EnqueuedAt.Before(now) ||
				it.EnqueuedAt.Nanosecond()%1000 != 0 {
				t.Fatalf("enqueued at %v, now %v", it.EnqueuedAt, now)
			}
			if n := len(it.Revisions); n < 1 || n > 3 {
				t.Fatalf("%d revisions", n)
			}
			revs += len(it.Revisions)
			if !it.Revisions[0].CreatedAt.Equal(it.EnqueuedAt) {
				t.Fatalf("first revision at %v, enqueued at %v", it.Revisions[0].CreatedAt, it.EnqueuedAt)
			}
			for k, r := range it.Revisions {
				if k > 0 && r.CreatedAt.Before(it.Revisions[k-1].CreatedAt) {
					t.Fatal("revisions out of order")
				}
				if r.CreatedAt.After(now) || r.CreatedAt.Nanosecond()%1000 != 0 {
					t.Fatalf("revision at %v, now %v", r.CreatedAt, now)
				}
				a, err := router.ParseAttributes(r.Attributes)
				if err != nil {
					t.Fatalf("invalid revision %s: %v", r.Attributes, err)
				}
				if !bytes.Equal(CanonicalJSON(a), r.Attributes) {
					t.Fatalf("not canonical: %s", r.Attributes)
				}
				ok := false
				for i := range oi.agents {
					ok = ok || router.Eligible(&oi.agents[i], &a)
				}
				if !ok {
					t.Fatalf("no available agent of %s can take %s", it.OrgID, r.Attributes)
				}
				if k == len(it.Revisions)-1 {
					if a.Team != "" {
						teamReq++
					}
					if len(a.Skills) > 0 {
						skillReq++
					}
					minP, maxP = min(minP, a.Priority), max(maxP, a.Priority)
				}
			}
		}
	}
	if len(orgs) != spec.Orgs {
		t.Fatalf("%d orgs, want %d", len(orgs), spec.Orgs)
	}
	for i, id := range order {
		if want := fmt.Sprintf("org-%04d", spec.OrgOffset+1+i); id != want {
			t.Fatalf("org %d is %s, want %s", i, id, want)
		}
		oi := orgs[id]
		if len(oi.queues) != spec.QueuesPerOrg || len(oi.teams) != spec.TeamsPerOrg ||
			len(oi.agents) != spec.AgentsPerOrg || oi.items != spec.ItemsPerOrg {
			t.Fatalf("org %s: %d queues, %d teams, %d agents, %d items", id, len(oi.queues), len(oi.teams), len(oi.agents), oi.items)
		}
	}
	total := spec.Orgs * spec.ItemsPerOrg
	t.Logf("%d items, %d revisions, %d with a team, %d with skills, priorities %d..%d",
		total, revs, teamReq, skillReq, minP, maxP)
	if total >= 1000 {
		if revs < total*3/2 || revs > total*2 {
			t.Errorf("%d revisions for %d items: want about 1.7 each", revs, total)
		}
		if minP > 5 || maxP < 95 {
			t.Errorf("priorities span only %d..%d", minP, maxP)
		}
	}
}

func TestGenerateData(t *testing.T) {
	for _, spec := range []SeedSpec{
		// Plenty of capacity: requirements are not budgeted.
		{Orgs: 5, QueuesPerOrg: 4, AgentsPerOrg: 12, Capacity: 200, ItemsPerOrg: 1000, Seed: 1},
		// More items than capacity.
		{Orgs: 3, QueuesPerOrg: 2, AgentsPerOrg: 5, Capacity: 3, ItemsPerOrg: 400, Seed: 2},
		// Exactly enough capacity.
		{Orgs: 2, QueuesPerOrg: 1, AgentsPerOrg: 4, Capacity: 25, ItemsPerOrg: 100, Seed: 3},
		// Odd shapes: more teams than agents, more queues than templates.
		{Orgs: 2, QueuesPerOrg: 14, TeamsPerOrg: 12, AgentsPerOrg: 5, Capacity: 2, ItemsPerOrg: 30, Seed: 4, OrgOffset: 70},
		{Orgs: 3, QueuesPerOrg: 1, AgentsPerOrg: 1, Capacity: 1, ItemsPerOrg: 0, Seed: 5},
	} {
		spec.Now = seedNow
		t.Run(fmt.Sprintf("%dx%d-a%d-c%d", spec.Orgs, spec.ItemsPerOrg, spec.AgentsPerOrg, spec.Capacity), func(t *testing.T) {
			checkData(t, spec, collect(t, spec))
		})
	}
}

func TestGenerateRequirementMix(t *testing.T) {
	spec := SeedSpec{Orgs: 10, QueuesPerOrg: 4, AgentsPerOrg: 20, Capacity: 1000, ItemsPerOrg: 1000, Seed: 11, Now: seedNow}
	teams, skills, n := 0, 0, 0
	for _, c := range collect(t, spec) {
		for _, it := range c.Items {
			a, _ := router.ParseAttributes(it.Revisions[len(it.Revisions)-1].Attributes)
			n++
			if a.Team != "" {
				teams++
			}
			if len(a.Skills) > 0 {
				skills++
			}
		}
	}
	if f := float64(teams) / float64(n); f < 0.2 || f > 0.4 {
		t.Errorf("%.0f%% of items need a team, want about 30%%", 100*f)
	}
	if f := float64(skills) / float64(n); f < 0.1 || f > 0.4 {
		t.Errorf("%.0f%% of items need skills", 100*f)
	}
}

func TestGenerateChunks(t *testing.T) {
	spec := SeedSpec{Orgs: 3, QueuesPerOrg: 2, AgentsPerOrg: 4, Capacity: 2, ItemsPerOrg: 25000, Seed: 5, Now: seedNow}
	chunks := collect(t, spec)
	if len(chunks) < 4 {
		t.Fatalf("%d chunks for 75000 items", len(chunks))
	}
	checkData(t, spec, chunks)

	many := SeedSpec{Orgs: 450, QueuesPerOrg: 1, AgentsPerOrg: 1, Capacity: 1, ItemsPerOrg: 0, Seed: 5, Now: seedNow}
	chunks = collect(t, many)
	if len(chunks) != 3 {
		t.Fatalf("%d chunks for 450 orgs without items", len(chunks))
	}
	checkData(t, many, chunks)

	// An emit error stops generation.
	calls := 0
	err := Generate(spec, func(*router.BulkData) error {
		calls++
		return fmt.Errorf("disk full")
	})
	if err == nil || calls != 1 {
		t.Fatalf("emit error: %v after %d calls", err, calls)
	}
}

// routeAll runs the engine until idle on a manual clock.
func routeAll(t testing.TB, st router.Store) router.PassResult {
	t.Helper()
	eng := router.NewEngine(st, router.EngineConfig{Clock: router.NewManualClock(seedNow)})
	res, err := eng.RunUntilIdle(context.Background())
	if err != nil {
		t.Fatalf("RunUntilIdle: %v", err)
	}
	return res
}

func countStates(t testing.TB, st router.Store) map[router.ItemState]int {
	t.Helper()
	out := map[router.ItemState]int{}
	var after int64
	for {
		page, err := st.ListItems(context.Background(), router.ItemFilter{AfterID: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page {
			out[it.State]++
		}
		if len(page) < 5000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

func verifyClean(t testing.TB, st router.Store) {
	t.Helper()
	rep, err := st.Verify(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("verify: %+v", rep.Findings)
	}
}

func TestSeedAmpleCapacityDrains(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []SeedSpec{
		{Orgs: 4, QueuesPerOrg: 3, AgentsPerOrg: 10, Capacity: 60, ItemsPerOrg: 500, Seed: 1},
		{Orgs: 3, QueuesPerOrg: 2, AgentsPerOrg: 7, Capacity: 10, ItemsPerOrg: 70, Seed: 2}, // exact fit
		{Orgs: 2, QueuesPerOrg: 5, TeamsPerOrg: 5, AgentsPerOrg: 9, Capacity: 20, ItemsPerOrg: 170, Seed: 3},
	} {
		spec.Now = seedNow
		t.Run(fmt.Sprintf("a%d-c%d-i%d", spec.AgentsPerOrg, spec.Capacity, spec.ItemsPerOrg), func(t *testing.T) {
			st := memstore.New()
			defer st.Close()
			res, err := Seed(ctx, st, spec)
			if err != nil {
				t.Fatal(err)
			}
			want := spec.Orgs * spec.ItemsPerOrg
			if res.Items != want || res.Revisions < want || res.LastItemID-res.FirstItemID+1 != int64(want) {
				t.Fatalf("seed result %+v, want %d items", res, want)
			}
			verifyClean(t, st)
			pass := routeAll(t, st)
			states := countStates(t, st)
			if states[router.StateAssigned] != want || len(states) != 1 || pass.Quarantined != 0 {
				t.Fatalf("after routing: %v (pass %+v), want all %d assigned", states, pass, want)
			}
			verifyClean(t, st)
		})
	}
}

func TestSeedScarceCapacityFillsEveryAgent(t *testing.T) {
	ctx := context.Background()
	spec := SeedSpec{Orgs: 3, QueuesPerOrg: 3, AgentsPerOrg: 8, Capacity: 5, ItemsPerOrg: 45, Seed: 8, Now: seedNow}
	st := memstore.New()
	defer st.Close()
	if _, err := Seed(ctx, st, spec); err != nil {
		t.Fatal(err)
	}
	routeAll(t, st)
	checkFull(t, st, spec)
	verifyClean(t, st)
}

func checkFull(t fataler, st router.Store, spec SeedSpec) {
	orgs, err := st.ListOrgs(context.Background())
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, o := range orgs {
		agents, err := st.ListAgents(context.Background(), o)
		if err != nil {
			t.Fatalf("%v", err)
		}
		for _, a := range agents {
			if a.Status != router.AgentAvailable || a.Load != a.Capacity {
				t.Fatalf("agent %s/%s is %s with load %d of %d", o, a.ID, a.Status, a.Load, a.Capacity)
			}
		}
	}
}

// TestSeedRoutingProperty: for any shape, routing a fresh seed until idle
// assigns every item when the capacity covers the items, and fills every
// agent exactly when it does not. Nothing is ever quarantined.
func TestSeedRoutingProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		spec := SeedSpec{
			Orgs:         rapid.IntRange(1, 3).Draw(rt, "orgs"),
			QueuesPerOrg: rapid.IntRange(1, 6).Draw(rt, "queues"),
			TeamsPerOrg:  rapid.IntRange(0, 6).Draw(rt, "teams"),
			AgentsPerOrg: rapid.IntRange(1, 12).Draw(rt, "agents"),
			Capacity:     rapid.IntRange(1, 15).Draw(rt, "capacity"),
			Seed:         rapid.Int64().Draw(rt, "seed"),
			Now:          seedNow,
		}
		capacity := spec.AgentsPerOrg * spec.Capacity
		spec.ItemsPerOrg = rapid.IntRange(0, 2*capacity+5).Draw(rt, "items")
		ctx := context.Background()
		st := memstore.New()
		defer st.Close()
		if _, err := Seed(ctx, st, spec); err != nil {
			rt.Fatalf("seed: %v", err)
		}
		eng := router.NewEngine(st, router.EngineConfig{Clock: router.NewManualClock(seedNow), BatchSize: 7})
		pass, err := eng.RunUntilIdle(ctx)
		if err != nil {
			rt.Fatalf("route: %v", err)
		}
		if pass.Quarantined != 0 || pass.Faults != 0 {
			rt.Fatalf("faults on seeded data: %+v", pass)
		}
		states := map[router.ItemState]int{}
		page, err := st.ListItems(ctx, router.ItemFilter{Limit: 1 << 20})
		if err != nil {
			rt.Fatalf("%v", err)
		}
		for _, it := range page {
			states[it.State]++
		}
		items := spec.Orgs * spec.ItemsPerOrg
		if spec.ItemsPerOrg <= capacity {
			if states[router.StateAssigned] != items {
				rt.Fatalf("ample capacity %d for %d items per org, but %v", capacity, spec.ItemsPerOrg, states)
			}
		} else {
			if states[router.StateAssigned] != spec.Orgs*capacity {
				rt.Fatalf("capacity %d per org for %d items, but %v", capacity, spec.ItemsPerOrg, states)
			}
			checkFull(rt, st, spec)
		}
		rep, err := st.Verify(ctx, 10)
		if err != nil || !rep.Clean() {
			rt.Fatalf("verify: %v %+v", err, rep.Findings)
		}
	})
}

func TestSeedStopsOnLoadError(t *testing.T) {
	spec := SeedSpec{Orgs: 3, QueuesPerOrg: 2, AgentsPerOrg: 4, Capacity: 2, ItemsPerOrg: 25000, Seed: 5, Now: seedNow}
	st := &failingBulk{Store: memstore.New(), failAt: 2}
	res, err := Seed(context.Background(), st, spec)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("want the load error, got %v", err)
	}
	if res.Items != 20000 || st.calls != 2 {
		t.Fatalf("after a failed second chunk: %+v, %d calls", res, st.calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Seed(ctx, memstore.New(), spec); err == nil {
		t.Fatal("Seed with a cancelled context succeeded")
	}
}

type failingBulk struct {
	router.Store
	failAt, calls int
}

func (f *failingBulk) BulkLoad(ctx context.Context, d *router.BulkData) (router.BulkResult, error) {
	f.calls++
	if f.calls == f.failAt {
		return router.BulkResult{}, fmt.Errorf("boom")
	}
	return f.Store.BulkLoad(ctx, d)
}

// BenchmarkGenerate generates one million items (with their revisions)
// per op in two shapes.
func BenchmarkGenerate(b *testing.B) {
	for _, spec := range []SeedSpec{
		{Orgs: 20, QueuesPerOrg: 4, AgentsPerOrg: 50, Capacity: 1000, ItemsPerOrg: 50000},
		{Orgs: 5000, QueuesPerOrg: 3, AgentsPerOrg: 10, Capacity: 20, ItemsPerOrg: 200},
	} {
		spec.Seed, spec.Now = 1, seedNow
		b.Run(fmt.Sprintf("%dx%d", spec.Orgs, spec.ItemsPerOrg), func(b *testing.B) {
			b.ReportAllocs()
			items, revs := 0, 0
			for b.Loop() {
				items, revs = 0, 0
				if err := Generate(spec, func(d *router.BulkData) error {
					items += len(d.Items)
					for i := range d.Items {
						revs += len(d.Items[i].Revisions)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(revs)/float64(items), "revs/item")
		})
	}
}

// BenchmarkSeedMemstore seeds 100,000 items into the embedded store.
func BenchmarkSeedMemstore(b *testing.B) {
	spec := SeedSpec{Orgs: 20, QueuesPerOrg: 4, AgentsPerOrg: 20, Capacity: 100, ItemsPerOrg: 5000, Seed: 1, Now: seedNow}
	for b.Loop() {
		st := memstore.New()
		if _, err := Seed(context.Background(), st, spec); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	b.ReportMetric(float64(spec.Orgs*spec.ItemsPerOrg)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
