package ops_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// base is a whole minute; every time in these tests is base plus whole
// seconds, so pgstore's microsecond rounding never matters.
var base = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

var operator = router.Actor{Name: "alice", OSUser: "alice-os", Origin: "203.0.113.7"}

// settings are the monitor thresholds every store test uses.
func settings() ops.Settings {
	return ops.Settings{StallAfter: 60 * time.Second, WarnHeadAge: 5 * time.Minute,
		HeartbeatTimeout: 15 * time.Second, QuarantineWarn: 1}
}

// env is one store under test with its clock and operator API.
type env struct {
	t    *testing.T
	ctx  context.Context
	kind string // "memstore" or "pgstore"
	st   router.Store
	pg   *pgstore.Store // nil on memstore
	db   *pgtest.DB     // raw SQL on pg's database; nil on memstore
	dsn  string
	clk  *router.ManualClock
	ops  *ops.Ops
	opt  ops.Options
}

// eachStore runs fn as one subtest per store: memstore and pgstore on a
// fresh migrated database.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("memstore", func(t *testing.T) { fn(t, newEnv(t, "memstore")) })
	t.Run("pgstore", func(t *testing.T) { fn(t, newEnv(t, "pgstore")) })
}

// onlyPG runs fn on pgstore alone (raw SQL tests).
func onlyPG(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("pgstore", func(t *testing.T) { fn(t, newEnv(t, "pgstore")) })
}

func newEnv(t *testing.T, kind string) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), kind: kind, clk: router.NewManualClock(base)}
	switch kind {
	case "memstore":
		ms := memstore.New()
		t.Cleanup(ms.Close)
		e.st = ms
	case "pgstore":
		e.dsn = pgtest.NewDB(t)
		e.pg = e.openPG()
		e.db = pgtest.On(t, e.pg.Pool())
		e.st = e.pg
	default:
		t.Fatalf("unknown store %s", kind)
	}
	// No cleanup pause: the manual clock would never fire it.
	e.opt = ops.Options{Clock: e.clk, Actor: operator, Health: settings(),
		Policy: ops.Policy{Embedded: kind == "memstore", DrillAllow: kind == "pgstore"}}
	e.ops = ops.New(e.st, e.opt)
	return e
}

// setPolicy rebuilds the env's operator API under another policy.
func (e *env) setPolicy(p ops.Policy) {
	e.opt.Policy = p
	e.ops = ops.New(e.st, e.opt)
}

// openPG opens another pgstore on the env's database (a second process,
// as far as PostgreSQL is concerned).
func (e *env) openPG() *pgstore.Store {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: e.dsn, MaxConns: 16})
	if err != nil {
		e.t.Fatalf("open pgstore: %v", err)
	}
	e.t.Cleanup(st.Close)
	return st
}

// second returns a second store handle on the same data: the same
// memstore, or a second pool on the same PostgreSQL database.
func (e *env) second() router.Store {
	if e.pg == nil {
		return e.st
	}
	return e.openPG()
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// exec runs raw SQL on pgstore.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if e.db == nil {
		e.t.Fatal("exec needs pgstore")
	}
	e.db.Exec(sql, args...)
}

// attrs renders valid attributes in the form PostgreSQL's jsonb prints,
// so they read back byte for byte from either store.
func attrs(prio int) []byte { return fmt.Appendf(nil, `{"channel": "chat", "priority": %d}`, prio) }

func teamAttrs(team string, prio int) []byte {
	return fmt.Appendf(nil, `{"team": "%s", "channel": "chat", "priority": %d}`, team, prio)
}

// org creates an org with queue "default", team t1 and n available agents
// a1..an of the given capacity in t1.
func (e *env) org(org string, n, capacity int) {
	e.t.Helper()
	e.must(e.st.UpsertOrg(e.ctx, router.Org{ID: org, Name: org}))
	e.must(e.st.UpsertQueue(e.ctx, router.Queue{OrgID: org, ID: "default"}))
	e.team(org, "t1", n, capacity)
}

// team creates a team with n agents "<team>-a<i>" of the given capacity.
func (e *env) team(org, team string, n, capacity int) {
	e.t.Helper()
	e.must(e.st.UpsertTeam(e.ctx, router.Team{OrgID: org, ID: team, Status: router.TeamActive}))
	for i := 1; i <= n; i++ {
		e.must(e.st.UpsertAgent(e.ctx, router.Agent{OrgID: org, ID: fmt.Sprintf("%s-a%d", team, i), TeamID: team,
			Status: router.AgentAvailable, Capacity: capacity}))
	}
}

func (e *env) queue(org, id string, prio int) {
	e.t.Helper()
	e.must(e.st.UpsertQueue(e.ctx, router.Queue{OrgID: org, ID: id, Priority: prio}))
}

func (e *env) enqueue(org, queue string, a []byte, when time.Time) router.WorkItem {
	e.t.Helper()
	it, err := e.st.Enqueue(e.ctx, router.EnqueueRequest{OrgID: org, QueueID: queue, Attributes: a, EnqueuedAt: when})
	e.must(err)
	return it
}

func (e *env) addRevision(org string, item int64, a []byte, when time.Time) router.Revision {
	e.t.Helper()
	r, err := e.st.AddRevision(e.ctx, router.AddRevisionRequest{Org: org, ItemID: item, Attributes: a, At: when})
	e.must(err)
	return r
}

func (e *env) item(id int64) router.WorkItem {
	e.t.Helper()
	it, err := e.st.GetItem(e.ctx, id)
	e.must(err)
	return it
}

func (e *env) revisions(org string, item int64) []router.Revision {
	e.t.Helper()
	rs, err := e.st.ItemRevisions(e.ctx, org, item)
	e.must(err)
	return rs
}

// allItems lists every item of every org.
func (e *env) allItems() []router.WorkItem {
	e.t.Helper()
	items, err := e.st.ListItems(e.ctx, router.ItemFilter{Limit: 100000})
	e.must(err)
	return items
}

// allRevisions maps every revision id of every item to its revision.
func (e *env) allRevisions() map[int64]router.Revision {
	e.t.Helper()
	out := map[int64]router.Revision{}
	for _, it := range e.allItems() {
		for _, r := range e.revisions(it.OrgID, it.ID) {
			out[r.ID] = r
		}
	}
	return out
}

func (e *env) events(org string, kinds ...string) []router.Event {
	e.t.Helper()
	evs, err := e.st.Events(e.ctx, router.EventFilter{Org: org, Kinds: kinds})
	e.must(err)
	return evs
}

// engine builds an engine on the env's clock.
func (e *env) engine(policy router.FaultPolicy, obs router.Observer) *router.Engine {
	return router.NewEngine(e.st, router.EngineConfig{ID: "eng-test", Policy: policy, Clock: e.clk, Observer: obs})
}

// route passes over every org until nothing more moves.
func (e *env) route(eng *router.Engine) router.PassResult {
	e.t.Helper()
	var total router.PassResult
	for i := 0; i < 50; i++ {
		p, err := eng.Pass(e.ctx)
		e.must(err)
		if p.Errors > 0 {
			e.t.Fatalf("pass: %d errors, last %v", p.Errors, p.LastError)
		}
		total.Assigned += p.Assigned
		total.Quarantined += p.Quarantined
		total.Skipped += p.Skipped
		total.Faults += p.Faults
		if !p.Progress() {
			return total
		}
	}
	e.t.Fatal("routing never went idle")
	return total
}

func (e *env) beat(eng *router.Engine) {
	e.t.Helper()
	e.must(eng.Beat(e.ctx, false))
}

func (e *env) snapshot() *ops.Snapshot {
	e.t.Helper()
	s, err := e.ops.Monitor.Snapshot(e.ctx, "")
	e.must(err)
	return s
}

func (e *env) observe(m *ops.Monitor) *ops.Snapshot {
	e.t.Helper()
	s, err := m.Observe(e.ctx)
	e.must(err)
	return s
}

// drill injects the incident through ops.
func (e *env) drill(kind, org string, n int) []int64 {
	e.t.Helper()
	ids, err := e.ops.Drill(e.ctx, kind, org, n)
	e.must(err)
	if len(ids) != n {
		e.t.Fatalf("drill %s hit %d items, want %d", kind, len(ids), n)
	}
	return ids
}

// verify runs ops.Verify.
func (e *env) verify() router.VerifyReport {
	e.t.Helper()
	rep, err := e.ops.Verify(e.ctx, 1000)
	e.must(err)
	return rep
}

func findingKinds(rep router.VerifyReport) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	sort.Strings(out)
	return out
}

func hasFinding(rep router.VerifyReport, kind string, item int64, agent string) bool {
	for _, f := range rep.Findings {
		if f.Kind == kind && (item == 0 || f.ItemID == item) && (agent == "" || f.Agent == agent) {
			return true
		}
	}
	return false
}

// queueOf finds a queue in a snapshot.
func queueOf(t *testing.T, s *ops.Snapshot, org, queue string) ops.QueueHealth {
	t.Helper()
	for _, o := range s.Orgs {
		if o.Org != org {
			continue
		}
		for _, q := range o.Queues {
			if q.Queue == queue {
				return q
			}
		}
	}
	t.Fatalf("queue %s/%s not in snapshot", org, queue)
	return ops.QueueHealth{}
}

func orgOf(t *testing.T, s *ops.Snapshot, org string) ops.OrgHealth {
	t.Helper()
	for _, o := range s.Orgs {
		if o.Org == org {
			return o
		}
	}
	t.Fatalf("org %s not in snapshot", org)
	return ops.OrgHealth{}
}

func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func isNotFound(err error) bool { return errors.Is(err, router.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, router.ErrConflict) }
