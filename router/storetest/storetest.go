// Package storetest is the one conformance suite that every router.Store
// implementation must pass, the way riverqueue/river tests its drivers.
//
// A store's own test calls Run with a Harness that makes a fresh, empty,
// isolated store for each subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) router.Store { return memstore.New() })
//	}
//
// The suite uses only the router.Store and router.Driller interfaces. It
// never relies on id values being specific numbers, it checks store errors
// with errors.Is against router.ErrNotFound and router.ErrConflict, and it
// passes every time explicitly (a fixed base time plus offsets, in UTC and
// truncated to microseconds, compared with Equal) so that it runs the same
// on stores that keep times with microsecond precision. Attribute JSON that
// is compared byte for byte is written in the canonical form that
// PostgreSQL's jsonb renders (see canonJSON), so that "stored as given" can
// be checked on a jsonb column too.
//
// Its files are named after the capability they test, like the stores'
// own files: reference, write, route, snapshot, items, actions, repair,
// cleanup, verify and drill.
//
// The harness owns the store's life: it registers any cleanup (Close,
// dropping a schema) itself. Subtests run one after another.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// Harness makes a fresh, empty, isolated store for one (sub)test. The
// store must also implement router.Driller: the suite breaks revisions
// through it.
type Harness func(t *testing.T) router.Store

// OrphanMaker is optional. A queued item whose queue does not exist (an
// orphan) cannot be made through router.Store on a store that enforces a
// foreign key from items to queues; such a store's harness may return a
// wrapper that implements OrphanMaker (with raw SQL that bypasses the
// constraint, as legacy data does). Without it the suite makes orphans with
// BulkLoad, naming a queue that does not exist.
type OrphanMaker interface {
	MakeOrphan(ctx context.Context, org, queue string, attrs []byte, enqueuedAt time.Time) (int64, error)
}

type suiteTest struct {
	name string
	fn   func(t *testing.T, s router.Store)
}

// Run runs every conformance test as t.Run subtests, each on a fresh store.
func Run(t *testing.T, newStore Harness) {
	groups := [][]suiteTest{
		referenceTests,
		writerTests,
		routeTests,
		groupTests,
		cursorTests,
		engineTests,
		snapshotTests,
		itemTests,
		actionTests,
		repairTests,
		cleanupTests,
		verifyTests,
		drillTests,
		concurrencyTests,
		setTests,
		controlTests,
		impactTests,
		untrustedTests,
	}
	for _, g := range groups {
		for _, tc := range g {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				if s == nil {
					t.Fatal("harness returned a nil store")
				}
				tc.fn(t, s)
			})
		}
	}
}

// ---- time ----

// base is the suite's fixed epoch: a whole minute, so that offsets in whole
// seconds line up with any time bucketing a store does.
var base = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)

// at returns base+d, in UTC, truncated to microseconds.
func at(d time.Duration) time.Time { return base.Add(d).UTC().Truncate(time.Microsecond) }

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func timePtrEqual(a *time.Time, b time.Time) bool { return a != nil && a.Equal(b) }

func fmtTimePtr(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.UTC().Format(time.RFC3339Nano)
}

// ---- actors ----

var (
	operator    = router.Actor{Name: "alice", OSUser: "alice-os", Origin: "203.0.113.7"}
	engineActor = router.Actor{Name: "engine:storetest", OSUser: "svc-router", Origin: "router-host-1"}
)

// ---- canonical JSON ----

// canonJSON renders a JSON object the way PostgreSQL's jsonb prints it:
// keys sorted by length and then bytewise, ": " after a key, ", " between
// members and between array elements, no HTML escaping. Values may be
// strings, ints, bools, nil, []string, []any or nested map[string]any.
func canonJSON(obj map[string]any) []byte {
	var b bytes.Buffer
	writeCanon(&b, obj)
	return b.Bytes()
}

func writeCanon(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if len(keys[i]) != len(keys[j]) {
				return len(keys[i]) < len(keys[j])
			}
			return keys[i] < keys[j]
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCanon(b, k)
			b.WriteString(": ")
			writeCanon(b, x[k])
		}
		b.WriteByte('}')
	case []string:
		anys := make([]any, len(x))
		for i, s := range x {
			anys[i] = s
		}
		writeCanon(b, anys)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCanon(b, e)
		}
		b.WriteByte(']')
	case string:
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			panic(err)
		}
		b.Write(bytes.TrimRight(sb.Bytes(), "\n"))
	default:
		out, err := json.Marshal(x)
		if err != nil {
			panic(err)
		}
		b.Write(out)
	}
}

// attrs builds valid, canonical attributes. Extra key/value pairs add the
// optional fields: "team", "tier" (strings) and "skills" ([]string).
func attrs(priority int, channel string, kv ...any) []byte {
	m := map[string]any{"priority": priority, "channel": channel}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return canonJSON(m)
}

// Attribute values that are valid JSON (so a jsonb column takes them) but
// not valid attributes, written canonically.
var (
	badPriorityAttrs = canonJSON(map[string]any{"priority": "high", "channel": "chat"})
	badChannelAttrs  = canonJSON(map[string]any{"priority": 10, "channel": "fax"})
	unknownKeyAttrs  = canonJSON(map[string]any{"priority": 10, "channel": "chat", "colour": "red"})
	notObjectAttrs   = []byte(`"garbage"`)
)

// ---- fixtures ----

// fx wraps a store with fatal-on-error helpers for building test data.
type fx struct {
	t   *testing.T
	s   router.Store
	ctx context.Context
}

func newFx(t *testing.T, s router.Store) *fx {
	return &fx{t: t, s: s, ctx: t.Context()}
}

func (f *fx) org(id string) {
	f.t.Helper()
	if err := f.s.UpsertOrg(f.ctx, router.Org{ID: id, Name: "Org " + id}); err != nil {
		f.t.Fatalf("UpsertOrg(%s): %v", id, err)
	}
}

func (f *fx) queue(org, id string, priority int, paused bool) {
	f.t.Helper()
	if err := f.s.UpsertQueue(f.ctx, router.Queue{OrgID: org, ID: id, Priority: priority, Paused: paused}); err != nil {
		f.t.Fatalf("UpsertQueue(%s/%s): %v", org, id, err)
	}
}

func (f *fx) team(org, id string, st router.TeamStatus) {
	f.t.Helper()
	if err := f.s.UpsertTeam(f.ctx, router.Team{OrgID: org, ID: id, Status: st}); err != nil {
		f.t.Fatalf("UpsertTeam(%s/%s): %v", org, id, err)
	}
}

func (f *fx) agent(org, id, team string, st router.AgentStatus, capacity int, skills ...string) {
	f.t.Helper()
	a := router.Agent{OrgID: org, ID: id, TeamID: team, Skills: skills, Status: st, Capacity: capacity}
	if err := f.s.UpsertAgent(f.ctx, a); err != nil {
		f.t.Fatalf("UpsertAgent(%s/%s): %v", org, id, err)
	}
}

// basicOrg makes an org with one queue "q" (priority 0) and one active team
// "t1"; agents are added by the caller.
func (f *fx) basicOrg(org string) {
	f.t.Helper()
	f.org(org)
	f.queue(org, "q", 0, false)
	f.team(org, "t1", router.TeamActive)
}

func (f *fx) enqueue(org, queue string, a []byte, when time.Time) router.WorkItem {
	f.t.Helper()
	it, err := f.s.Enqueue(f.ctx, router.EnqueueRequest{OrgID: org, QueueID: queue, Attributes: a, EnqueuedAt: when})
	if err != nil {
		f.t.Fatalf("Enqueue(%s/%s): %v", org, queue, err)
	}
	return it
}

func (f *fx) addRevision(org string, item int64, a []byte, when time.Time) router.Revision {
	f.t.Helper()
	r, err := f.s.AddRevision(f.ctx, router.AddRevisionRequest{Org: org, ItemID: item, Attributes: a, At: when})
	if err != nil {
		f.t.Fatalf("AddRevision(%s, %d): %v", org, item, err)
	}
	return r
}

func (f *fx) item(id int64) router.WorkItem {
	f.t.Helper()
	it, err := f.s.GetItem(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetItem(%d): %v", id, err)
	}
	return it
}

func (f *fx) revisions(org string, item int64) []router.Revision {
	f.t.Helper()
	revs, err := f.s.ItemRevisions(f.ctx, org, item)
	if err != nil {
		f.t.Fatalf("ItemRevisions(%s, %d): %v", org, item, err)
	}
	return revs
}

func (f *fx) events(flt router.EventFilter) []router.Event {
	f.t.Helper()
	evs, err := f.s.Events(f.ctx, flt)
	if err != nil {
		f.t.Fatalf("Events(%+v): %v", flt, err)
	}
	return evs
}

// itemEvents returns an item's events of the given kinds (all kinds when
// none are given).
func (f *fx) itemEvents(org string, item int64, kinds ...string) []router.Event {
	f.t.Helper()
	return f.events(router.EventFilter{Org: org, ItemID: item, Kinds: kinds})
}

func (f *fx) agents(org string) map[string]router.Agent {
	f.t.Helper()
	as, err := f.s.ListAgents(f.ctx, org)
	if err != nil {
		f.t.Fatalf("ListAgents(%s): %v", org, err)
	}
	m := make(map[string]router.Agent, len(as))
	for _, a := range as {
		if _, dup := m[a.ID]; dup {
			f.t.Fatalf("ListAgents(%s) lists agent %s twice", org, a.ID)
		}
		m[a.ID] = a
	}
	return m
}

func (f *fx) load(org, agent string) int {
	f.t.Helper()
	a, ok := f.agents(org)[agent]
	if !ok {
		f.t.Fatalf("agent %s/%s not listed", org, agent)
	}
	return a.Load
}

func (f *fx) route(req router.RouteRequest, decide router.DecideFunc) router.RouteResult {
	f.t.Helper()
	if req.Actor.Name == "" {
		req.Actor = engineActor
	}
	if req.Limit == 0 {
		req.Limit = 100
	}
	res, err := f.s.RouteOrg(f.ctx, req, decide)
	if err != nil {
		f.t.Fatalf("RouteOrg(%s): %v", req.Org, err)
	}
	if res.Busy {
		f.t.Fatalf("RouteOrg(%s) reported Busy with no other engine running", req.Org)
	}
	return res
}

// routeWith routes org with the engine's own decision function.
func (f *fx) routeWith(org string, policy router.FaultPolicy, now time.Time) router.RouteResult {
	f.t.Helper()
	return f.route(router.RouteRequest{Org: org, Now: now}, func(b *router.Batch) []router.Decision {
		return router.Decide(policy, b)
	})
}

// assign routes org once and assigns exactly the given items to the given
// agents (item id -> agent id); it fails the test unless every one of them
// was claimed.
func (f *fx) assign(org string, now time.Time, want map[int64]string) router.RouteResult {
	f.t.Helper()
	var missing []int64
	res := f.route(router.RouteRequest{Org: org, Now: now}, func(b *router.Batch) []router.Decision {
		claimed := map[int64]router.ClaimedItem{}
		for _, ci := range b.Items {
			claimed[ci.Item.ID] = ci
		}
		var ds []router.Decision
		for id, agent := range want {
			ci, ok := claimed[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			ds = append(ds, router.Decision{Kind: router.DecideAssign, ItemID: id, QueueID: ci.Item.QueueID, AgentID: agent})
		}
		return ds
	})
	if len(missing) > 0 {
		f.t.Fatalf("assign: items %v were not claimed by RouteOrg(%s)", missing, org)
	}
	if res.Assigned != len(want) {
		f.t.Fatalf("assign: RouteOrg(%s) assigned %d, want %d", org, res.Assigned, len(want))
	}
	return res
}

// fault routes org once and applies a fault decision to one item.
func (f *fx) fault(org string, item int64, cause router.Cause, msg string, action router.FaultPolicy, now time.Time) router.RouteResult {
	f.t.Helper()
	found := false
	res := f.route(router.RouteRequest{Org: org, Now: now}, func(b *router.Batch) []router.Decision {
		for _, ci := range b.Items {
			if ci.Item.ID == item {
				found = true
				return []router.Decision{{Kind: router.DecideFault, ItemID: item, QueueID: ci.Item.QueueID,
					Cause: cause, Error: msg, Action: action}}
			}
		}
		return nil
	})
	if !found {
		f.t.Fatalf("fault: item %d was not claimed by RouteOrg(%s)", item, org)
	}
	return res
}

func (f *fx) quarantine(org string, item int64, reason string, when time.Time) router.ActionResult {
	f.t.Helper()
	r, err := f.s.Quarantine(f.ctx, router.QuarantineRequest{Org: org, ItemID: item, Reason: reason, Actor: operator, At: when})
	if err != nil {
		f.t.Fatalf("Quarantine(%s, %d): %v", org, item, err)
	}
	return r
}

func (f *fx) release(org string, item int64, when time.Time) router.ActionResult {
	f.t.Helper()
	r, err := f.s.Release(f.ctx, router.ReleaseRequest{Org: org, ItemID: item, Actor: operator, At: when})
	if err != nil {
		f.t.Fatalf("Release(%s, %d): %v", org, item, err)
	}
	return r
}

func (f *fx) complete(org string, item int64, when time.Time) {
	f.t.Helper()
	if err := f.s.Complete(f.ctx, router.CompleteRequest{Org: org, ItemID: item, At: when}); err != nil {
		f.t.Fatalf("Complete(%s, %d): %v", org, item, err)
	}
}

func (f *fx) snapshot(org string, now time.Time) *router.StoreSnapshot {
	f.t.Helper()
	snap, err := f.s.Snapshot(f.ctx, router.SnapshotRequest{Org: org, Now: now})
	if err != nil {
		f.t.Fatalf("Snapshot(%q): %v", org, err)
	}
	return snap
}

func (f *fx) orgStats(org string, now time.Time) router.OrgStats {
	f.t.Helper()
	snap := f.snapshot(org, now)
	for _, o := range snap.Orgs {
		if o.Org == org {
			return o
		}
	}
	f.t.Fatalf("Snapshot(%q) has no stats for org %s", org, org)
	return router.OrgStats{}
}

func (f *fx) queueStats(org, queue string, now time.Time) router.QueueStats {
	f.t.Helper()
	return findQueue(f.t, f.orgStats(org, now), queue)
}

func findQueue(t *testing.T, os router.OrgStats, queue string) router.QueueStats {
	t.Helper()
	for _, q := range os.Queues {
		if q.Queue == queue {
			return q
		}
	}
	t.Fatalf("snapshot of org %s has no queue %s", os.Org, queue)
	return router.QueueStats{}
}

func (f *fx) verify(limit int) router.VerifyReport {
	f.t.Helper()
	rep, err := f.s.Verify(f.ctx, limit)
	if err != nil {
		f.t.Fatalf("Verify: %v", err)
	}
	return rep
}

func (f *fx) verifyClean() {
	f.t.Helper()
	rep := f.verify(100)
	if !rep.Clean() {
		f.t.Fatalf("Verify found problems on consistent data: %+v", rep.Findings)
	}
}

func (f *fx) listItems(flt router.ItemFilter) []router.WorkItem {
	f.t.Helper()
	items, err := f.s.ListItems(f.ctx, flt)
	if err != nil {
		f.t.Fatalf("ListItems(%+v): %v", flt, err)
	}
	return items
}

// allItems pages through ListItems for one org (every org when empty).
func (f *fx) allItems(org string) []router.WorkItem {
	f.t.Helper()
	var out []router.WorkItem
	after := int64(0)
	for {
		page := f.listItems(router.ItemFilter{Org: org, AfterID: after, Limit: 50})
		out = append(out, page...)
		if len(page) < 50 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// makeOrphan makes a queued item in org whose queue does not exist.
func (f *fx) makeOrphan(org, queue string, a []byte, when time.Time) int64 {
	f.t.Helper()
	if om, ok := f.s.(OrphanMaker); ok {
		id, err := om.MakeOrphan(f.ctx, org, queue, a, when)
		if err != nil {
			f.t.Fatalf("MakeOrphan(%s/%s): %v", org, queue, err)
		}
		return id
	}
	res, err := f.s.BulkLoad(f.ctx, &router.BulkData{Items: []router.BulkItem{{
		OrgID: org, QueueID: queue, EnqueuedAt: when,
		Revisions: []router.BulkRevision{{Attributes: a, CreatedAt: when}},
	}}})
	if err != nil {
		f.t.Fatalf("making an orphan (a queued item of org %s naming queue %q, which does not exist) with BulkLoad failed: %v\n"+
			"a store that refuses such items must be given to storetest.Run wrapped in a type that implements storetest.OrphanMaker", org, queue, err)
	}
	if res.Items != 1 || res.FirstItemID == 0 {
		f.t.Fatalf("BulkLoad of one orphan reported %+v", res)
	}
	return res.FirstItemID
}

// ---- assertions ----

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, router.ErrNotFound) {
		t.Fatalf("%s: got error %v, want one wrapping router.ErrNotFound", what, err)
	}
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, router.ErrConflict) {
		t.Fatalf("%s: got error %v, want one wrapping router.ErrConflict", what, err)
	}
}

func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %q, want byte-identical %q", what, got, want)
	}
}

func wantState(t *testing.T, it router.WorkItem, st router.ItemState) {
	t.Helper()
	if it.State != st {
		t.Fatalf("item %d is %s, want %s", it.ID, it.State, st)
	}
}

// normSkills treats nil and empty skill lists alike.
func normSkills(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func claimedIDs(b *router.Batch) []int64 {
	out := make([]int64, len(b.Items))
	for i, ci := range b.Items {
		out[i] = ci.Item.ID
	}
	return out
}

func eventKinds(evs []router.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func eventIDs(evs []router.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func sortedInt64(xs []int64) []int64 {
	c := slices.Clone(xs)
	slices.Sort(c)
	return c
}

// wantActor checks that an event records who did it and from where.
func wantActor(t *testing.T, e router.Event, a router.Actor) {
	t.Helper()
	if e.Actor != a.Name || e.Origin != a.Origin || e.OSUser != a.OSUser {
		t.Fatalf("event %d (%s) records actor %q origin %q os_user %q, want %q %q %q",
			e.ID, e.Kind, e.Actor, e.Origin, e.OSUser, a.Name, a.Origin, a.OSUser)
	}
}

// detailMentions reports whether an event's detail holds the string s as
// some value (the detail's keys are per kind and not part of the contract).
func detailMentions(detail []byte, s string) bool {
	var v any
	if json.Unmarshal(detail, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return strings.Contains(x, s)
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

func describe(v any) string { return fmt.Sprintf("%+v", v) }

// sec returns base plus n seconds.
func sec(n int) time.Time { return at(time.Duration(n) * time.Second) }

// drillerOf returns the store's Driller. The suite breaks revisions
// through it, the way the incident did, so every store under test must
// implement router.Driller (a harness may wrap its store to do so).
func drillerOf(t *testing.T, s router.Store) router.Driller {
	t.Helper()
	d, ok := s.(router.Driller)
	if !ok {
		t.Fatalf("%T does not implement router.Driller, which the suite uses to break revisions", s)
	}
	return d
}
