// Package sim makes synthetic traffic: Generate and Seed write a realistic,
// deterministic data set for `routeops seed`, and Simulator keeps the
// embedded demo alive with conversations that arrive, get routed, and are
// finished by agents who come and go.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/routeops/routeops/router"
)

// SeedSpec describes a data set for Generate and Seed.
type SeedSpec struct {
	Orgs, QueuesPerOrg, TeamsPerOrg, AgentsPerOrg, Capacity, ItemsPerOrg int
	Seed                                                                 int64
	// Now anchors the times: items are enqueued over the 10 minutes
	// before Now, and their later revisions are created between their
	// enqueue time and Now. Times are whole microseconds, as PostgreSQL
	// keeps them.
	Now time.Time
	// OrgOffset is the number of the first org minus one, so that several
	// seeds can add orgs side by side: org ids are org-%04d from
	// OrgOffset+1. An org's data depends only on Seed, its number and the
	// per-org counts, never on the other orgs.
	OrgOffset int
}

// Validate checks the counts: every count at least 1, except ItemsPerOrg
// (0 or more) and TeamsPerOrg (0 means the default, min(3, AgentsPerOrg)).
func (s SeedSpec) Validate() error {
	var errs []error
	atLeast := func(name string, v, lo int) {
		if v < lo {
			errs = append(errs, fmt.Errorf("%s must be at least %d, got %d", name, lo, v))
		}
	}
	atLeast("orgs", s.Orgs, 1)
	atLeast("queues-per-org", s.QueuesPerOrg, 1)
	atLeast("teams-per-org", s.TeamsPerOrg, 0)
	atLeast("agents-per-org", s.AgentsPerOrg, 1)
	atLeast("capacity", s.Capacity, 1)
	atLeast("items-per-org", s.ItemsPerOrg, 0)
	atLeast("org offset", s.OrgOffset, 0)
	return errors.Join(errs...)
}

func (s SeedSpec) withDefaults() SeedSpec {
	if s.TeamsPerOrg == 0 {
		s.TeamsPerOrg = min(3, s.AgentsPerOrg)
	}
	return s
}

// Chunk bounds for Generate.
const (
	maxChunkItems = 20000
	maxChunkOrgs  = 200
)

// Generate produces the data set of spec and hands it to emit in chunks of
// complete data: a chunk holds a few orgs' reference data (org, queues,
// teams, agents) and items, at most maxChunkItems of them; an org's items
// come in the same chunk as its reference data or in later ones. The data
// is deterministic for a given spec. emit may keep the chunk: Generate
// never reuses its memory.
//
// What it writes, per org:
//   - QueuesPerOrg queues: default, billing, vip, escalations... with
//     distinct priorities;
//   - TeamsPerOrg active teams: tier1, billing, technical...; each team has
//     one or two skills of its own (billing, refunds; api, mobile...);
//   - AgentsPerOrg agents spread over the teams, each with capacity
//     Capacity and the skills "en" and those of its team (some also speak
//     an extra language);
//   - ItemsPerOrg queued items, each with one to three revisions, the last
//     current, attributes in PostgreSQL jsonb canonical form
//     (CanonicalJSON). About 30% must go to a team, about 15% more need
//     skills, priorities spread over 0..100.
//
// Every requirement can be met by an available agent of the org. Beyond
// that, two promises hold for the engine's greedy least-loaded routing on
// a freshly seeded org:
//   - when Capacity×AgentsPerOrg ≥ ItemsPerOrg (ample capacity), routing
//     until idle assigns every item. Some agents are away or offline, but
//     only as long as the available capacity still covers the items, and
//     each team's share of team-bound items stays within what its members
//     have left after taking their share of the items anyone can take.
//   - when there are more items than capacity, every agent is available
//     and at least Capacity×AgentsPerOrg items can go to anyone, so routing
//     until idle fills every agent exactly to capacity.
func Generate(spec SeedSpec, emit func(*router.BulkData) error) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if spec.Now.IsZero() {
		return errors.New("seed: SeedSpec.Now is not set")
	}
	spec = spec.withDefaults()
	g := &generator{spec: spec, emit: emit, now: spec.Now.UTC().Truncate(time.Microsecond)}
	g.left = spec.Orgs * spec.ItemsPerOrg
	for i := range spec.Orgs {
		if err := g.org(spec.OrgOffset + 1 + i); err != nil {
			return err
		}
	}
	return g.flush()
}

type generator struct {
	spec SeedSpec
	emit func(*router.BulkData) error
	now  time.Time
	left int // items still to generate, for sizing chunks

	cur   *router.BulkData
	orgs  int
	revs  []router.BulkRevision
	arena []byte
}

func (g *generator) chunk() *router.BulkData {
	if g.cur == nil {
		n := min(g.left, maxChunkItems)
		g.cur = &router.BulkData{Items: make([]router.BulkItem, 0, n)}
		g.orgs = 0
		g.revs = make([]router.BulkRevision, 0, n*7/4+16)
		g.arena = make([]byte, 0, n*150+1024)
	}
	return g.cur
}

func (g *generator) flush() error {
	if g.cur == nil {
		return nil
	}
	c := g.cur
	g.cur, g.revs, g.arena = nil, nil, nil
	if len(c.Orgs) == 0 && len(c.Items) == 0 {
		return nil
	}
	return g.emit(c)
}

// orgRand is the random stream of org n: it depends on the seed and the
// org number only.
func orgRand(seed int64, n int, salt uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(n)<<8^salt))
}

// org generates org n (its reference data, agents' statuses and items)
// into the current chunk, flushing chunks as they fill.
func (g *generator) org(n int) error {
	s := g.spec
	r := orgRand(s.Seed, n, 0x5eed)
	m := buildOrg(r, n, s.QueuesPerOrg, s.TeamsPerOrg, s.AgentsPerOrg, s.Capacity)
	ample := s.ItemsPerOrg <= s.AgentsPerOrg*s.Capacity
	avail := g.absences(r, m, ample)
	m.setTeamWeights(true)
	allow := g.teamAllowance(m, avail, ample)
	c, err := g.startOrg(m)
	if err != nil {
		return err
	}
	for range s.ItemsPerOrg {
		if len(c.Items) >= maxChunkItems {
			if err := g.flush(); err != nil {
				return err
			}
			c = g.chunk()
		}
		g.left--
		c.Items = append(c.Items, g.item(r, m, allow))
	}
	return nil
}

// absences makes some of m's agents away or offline, so that the data
// looks lived in, and returns how many stay available. Statuses are
// mostly available: only orgs with ample capacity get absent agents, and
// only while the available capacity still covers the items and every team
// keeps an available member.
func (g *generator) absences(r *rand.Rand, m *orgModel, ample bool) int {
	s := g.spec
	avail := s.AgentsPerOrg
	for i := range m.agents {
		x := r.IntN(100)
		if !ample || x >= 11 {
			continue
		}
		t := &m.teams[m.agentTeam[i]]
		if t.avail <= 1 || (avail-1)*s.Capacity < s.ItemsPerOrg {
			continue
		}
		st := router.AgentAway
		if x >= 8 {
			st = router.AgentOffline
		}
		m.setStatus(i, st)
		avail--
	}
	return avail
}

// teamAllowance returns the budget check for team-bound items, which keeps
// Generate's routing promises (see the proof sketch in its doc): with ample
// capacity, an agent takes at most floor((N-1)/avail)+1 items that anyone
// could take, so a team's members keep at least slack each for their own
// items. Without ample capacity, at least Capacity×Agents items must be
// open to anyone. It is nil for an org without items.
func (g *generator) teamAllowance(m *orgModel, avail int, ample bool) func(int) bool {
	s := g.spec
	N := s.ItemsPerOrg
	if N == 0 {
		return nil
	}
	if ample {
		slack := max(0, s.Capacity-(N-1)/avail-1)
		budget := make([]int, len(m.teams))
		for i := range m.teams {
			budget[i] = m.teams[i].avail * slack
		}
		return func(t int) bool {
			if budget[t] == 0 {
				return false
			}
			budget[t]--
			return true
		}
	}
	bound := N - s.AgentsPerOrg*s.Capacity
	return func(int) bool {
		if bound == 0 {
			return false
		}
		bound--
		return true
	}
}

// startOrg puts m's reference data (org, queues, teams, agents) into the
// chunk its items start in and returns that chunk. It flushes first when
// the org's items would not fit, so that orgs are not split needlessly.
func (g *generator) startOrg(m *orgModel) (*router.BulkData, error) {
	N := g.spec.ItemsPerOrg
	if g.cur != nil && (g.orgs >= maxChunkOrgs || (len(g.cur.Items) > 0 && len(g.cur.Items)+min(N, maxChunkItems) > maxChunkItems)) {
		if err := g.flush(); err != nil {
			return nil, err
		}
	}
	c := g.chunk()
	g.orgs++
	c.Orgs = append(c.Orgs, m.org)
	c.Queues = append(c.Queues, m.queues...)
	c.Teams = append(c.Teams, m.teamRows()...)
	c.Agents = append(c.Agents, m.agents...)
	return c, nil
}

// item generates one queued item of m: its attributes, its enqueue time
// within the 10 minutes before now, and one to three revisions (earlier
// versions of its attributes, then the current one) in the chunk's arena.
func (g *generator) item(r *rand.Rand, m *orgModel, allow func(int) bool) router.BulkItem {
	window := int64(10 * time.Minute / time.Microsecond)
	a, q, _ := m.itemAttributes(r, allow)
	enq := g.now.Add(-time.Duration(r.Int64N(window)+1) * time.Microsecond)
	times, nrev := g.revisionTimes(r, enq)
	start := len(g.revs)
	for k := 0; k < nrev-1; k++ {
		e := earlierRevision(r, a)
		g.revs = append(g.revs, router.BulkRevision{Attributes: g.attrs(&e), CreatedAt: times[k]})
	}
	g.revs = append(g.revs, router.BulkRevision{Attributes: g.attrs(&a), CreatedAt: times[nrev-1]})
	return router.BulkItem{OrgID: m.org.ID, QueueID: m.queues[q].ID,
		State: router.StateQueued, EnqueuedAt: enq, Revisions: g.revs[start:len(g.revs):len(g.revs)]}
}

// revisionTimes draws how many revisions an item enqueued at enq has (one
// in two has one, three in ten two, the rest three) and when they were
// created: the first at enqueue, the others in between enqueue and now, in
// order. Only the first nrev times are meant.
func (g *generator) revisionTimes(r *rand.Rand, enq time.Time) (times [3]time.Time, nrev int) {
	nrev = 1
	switch x := r.IntN(10); {
	case x < 5:
	case x < 8:
		nrev = 2
	default:
		nrev = 3
	}
	span := int64(g.now.Sub(enq) / time.Microsecond)
	t1, t2 := r.Int64N(span+1), r.Int64N(span+1)
	if t2 < t1 {
		t1, t2 = t2, t1
	}
	times = [3]time.Time{enq, enq.Add(time.Duration(t1) * time.Microsecond), enq.Add(time.Duration(t2) * time.Microsecond)}
	if nrev == 2 {
		times[1] = times[2]
	}
	return times, nrev
}

// attrs writes attributes into the chunk's arena and returns them as a
// slice that later appends cannot overwrite.
func (g *generator) attrs(a *router.Attributes) []byte {
	start := len(g.arena)
	g.arena = appendAttributes(g.arena, a)
	return g.arena[start:len(g.arena):len(g.arena)]
}

// Seed writes spec's data set through st.BulkLoad, chunk by chunk, and
// returns the totals. Generation of the next chunk overlaps the loading of
// the current one.
func Seed(ctx context.Context, st router.Store, spec SeedSpec) (router.BulkResult, error) {
	return SeedProgress(ctx, st, spec, nil)
}

// SeedProgress is Seed, telling progress how many items are written of
// how many after each chunk.
func SeedProgress(ctx context.Context, st router.Store, spec SeedSpec, progress func(done, total int)) (router.BulkResult, error) {
	var total router.BulkResult
	if err := spec.Validate(); err != nil {
		return total, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *router.BulkData, 1)
	genErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		genErr <- Generate(spec, func(d *router.BulkData) error {
			select {
			case chunks <- d:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	// A store may load chunks on several connections at once (pgstore: its
	// COPY work is server-side and parallel); memstore serialises anyway.
	loaders := 1
	if p, ok := st.(interface{ BulkLoadParallelism() int }); ok && p.BulkLoadParallelism() > 1 {
		loaders = p.BulkLoadParallelism()
	}
	var (
		mu      sync.Mutex
		loadErr error
		wg      sync.WaitGroup
	)
	for range loaders {
		wg.Go(func() {
			for d := range chunks {
				mu.Lock()
				failed := loadErr != nil
				mu.Unlock()
				if failed {
					continue // drain so the generator can finish
				}
				r, err := st.BulkLoad(ctx, d)
				mu.Lock()
				if err != nil {
					if loadErr == nil {
						loadErr = fmt.Errorf("seed: loading %d orgs and %d items after %d items written: %w",
							len(d.Orgs), len(d.Items), total.Items, err)
						cancel()
					}
				} else {
					total.Items += r.Items
					total.Revisions += r.Revisions
					if progress != nil {
						progress(total.Items, spec.Orgs*spec.ItemsPerOrg)
					}
					if r.Items > 0 {
						if total.FirstItemID == 0 || r.FirstItemID < total.FirstItemID {
							total.FirstItemID = r.FirstItemID
						}
						total.LastItemID = max(total.LastItemID, r.LastItemID)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// One statistics refresh for the whole load, not one per chunk.
	if a, ok := st.(interface{ Analyze(context.Context) error }); ok && loadErr == nil {
		if err := a.Analyze(ctx); err != nil {
			loadErr = fmt.Errorf("seed: analyze after loading: %w", err)
		}
	}
	if err := <-genErr; loadErr == nil && err != nil {
		return total, err
	}
	return total, loadErr
}
