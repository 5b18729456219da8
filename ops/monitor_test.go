package ops_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// blockedHead builds the incident on org o1: three queued items enqueued at
// base, the head's current revision deleted (or corrupted) by a drill, and
// an engine under the block policy that has tried the head once at base.
// It returns the drilled item and the engine.
func blockedHead(e *env, drill string) (router.WorkItem, *router.Engine) {
	e.t.Helper()
	e.org("o1", 1, 10)
	for i := 0; i < 3; i++ {
		e.enqueue("o1", "default", attrs(1), base)
	}
	ids := e.drill(drill, "o1", 1)
	eng := e.engine(router.PolicyBlock, nil)
	if p := e.route(eng); p.Assigned != 0 || p.Faults != 1 {
		e.t.Fatalf("block policy pass: %+v", p)
	}
	return e.item(ids[0]), eng
}

func TestMonitorQueueFigures(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 2, 2)
		e.queue("o1", "vip", 10)
		e.team("o1", "t2", 1, 3)
		e.enqueue("o1", "default", attrs(5), at(-10*time.Minute))
		e.enqueue("o1", "default", attrs(5), at(-5*time.Minute))
		i3 := e.enqueue("o1", "default", attrs(9), at(-30*time.Second))
		i4 := e.enqueue("o1", "vip", teamAttrs("t2", 1), at(-20*time.Second))
		eng := e.engine(router.PolicyQuarantine, nil)
		e.beat(eng)

		s := e.snapshot()
		d := queueOf(t, s, "o1", "default")
		if d.Depth != 3 || d.OldestAgeSeconds != 600 || d.AvailableCapacity != 7 || d.Stalled || d.Health != ops.HealthOK {
			t.Fatalf("default queue: %+v", d)
		}
		if d.Head == nil || d.Head.Item != router.FormatItemID(i3.ID) || d.Head.AgeSeconds != 30 || d.Head.Attempts != 0 || d.Head.LastError != "" {
			t.Fatalf("default head (the priority 9 item, not the oldest): %+v", d.Head)
		}
		v := queueOf(t, s, "o1", "vip")
		if v.Depth != 1 || v.AvailableCapacity != 3 || v.Head.Item != router.FormatItemID(i4.ID) || v.Head.AgeSeconds != 20 {
			t.Fatalf("vip queue: %+v head %+v", v, v.Head)
		}
		o := orgOf(t, s, "o1")
		if o.Queued != 4 || o.Assigned != 0 || o.AgentsTotal != 3 || o.AvailableCapacity != 7 || o.Health != ops.HealthOK {
			t.Fatalf("org: %+v", o)
		}
		if s.Summary.Orgs != 1 || s.Summary.Queued != 4 || s.Summary.Health != ops.HealthOK || s.Engine.State != "running" {
			t.Fatalf("summary %+v engine %+v", s.Summary, s.Engine)
		}

		// Route everything, then look 5 seconds later.
		if p := e.route(eng); p.Assigned != 4 {
			t.Fatalf("assigned %d, want 4", p.Assigned)
		}
		e.clk.Advance(5 * time.Second)
		e.beat(eng)
		s = e.snapshot()
		d = queueOf(t, s, "o1", "default")
		if d.Depth != 0 || d.Head != nil || d.Assigned1m != 3 || d.Assigned5m != 3 || d.LastProgressSeconds != 5 || d.Health != ops.HealthOK {
			t.Fatalf("default after routing: %+v", d)
		}
		if s.Summary.Assigned != 4 || s.Summary.Queued != 0 || orgOf(t, s, "o1").AvailableCapacity != 3 {
			t.Fatalf("summary after routing: %+v", s.Summary)
		}
	})
}

func TestMonitorHeadAttemptsAndStall(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		bad, eng := blockedHead(e, ops.DrillMissingRevisions)
		e.clk.Advance(30 * time.Second)
		e.route(eng)
		e.beat(eng)
		s := e.snapshot()
		q := queueOf(t, s, "o1", "default")
		wantErr := fmt.Sprintf("current revision %d not found", bad.CurrentRevisionID)
		if q.Head == nil || q.Head.Item != router.FormatItemID(bad.ID) || q.Head.Attempts != 2 || q.Head.LastError != wantErr ||
			q.Head.Revision != "missing" || q.Head.AgeSeconds != 30 {
			t.Fatalf("head: %+v", q.Head)
		}
		// Head younger than stall_after: a warning, not yet a stall.
		if q.Stalled || q.Health != ops.HealthWarning || q.Depth != 3 {
			t.Fatalf("at 30s: %+v", q)
		}
		e.clk.Advance(30 * time.Second)
		e.route(eng)
		e.beat(eng)
		s = e.snapshot()
		q = queueOf(t, s, "o1", "default")
		if !q.Stalled || q.Cause != router.CauseMissingRevision || q.Health != ops.HealthCritical || q.Head.Attempts != 3 ||
			q.AvailableCapacity != 10 {
			t.Fatalf("at 60s: %+v head %+v", q, q.Head)
		}
		if o := orgOf(t, s, "o1"); o.Health != ops.HealthCritical || o.StalledQueues != 1 {
			t.Fatalf("org: %+v", o)
		}
		if s.Summary.StalledQueues != 1 || s.Summary.Health != ops.HealthCritical || s.Summary.CriticalOrgs != 1 {
			t.Fatalf("summary: %+v", s.Summary)
		}
	})
}

func TestMonitorStallCauses(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		expect := func(s *ops.Snapshot, org string, stalled bool, cause router.Cause, h ops.Health) ops.QueueHealth {
			t.Helper()
			q := queueOf(t, s, org, "default")
			if q.Stalled != stalled || q.Cause != cause || q.Health != h {
				t.Fatalf("%s: stalled=%v cause=%q health=%s (%s); want %v %q %s", org, q.Stalled, q.Cause, q.Health, q.Reason, stalled, cause, h)
			}
			return q
		}
		eng := e.engine(router.PolicyBlock, nil)

		// o-corrupt: the head's revision is corrupt, the block policy
		// keeps it at the head.
		e.org("o-corrupt", 1, 5)
		e.enqueue("o-corrupt", "default", attrs(1), base)
		e.enqueue("o-corrupt", "default", attrs(1), base)
		e.drill(ops.DrillCorruptRevisions, "o-corrupt", 1)

		// o-qpaused: paused queue with waiting work.
		e.org("o-qpaused", 1, 5)
		e.enqueue("o-qpaused", "default", attrs(1), base)
		if r, err := e.ops.SetPaused(e.ctx, router.QueueRef{Org: "o-qpaused", Queue: "default"}, true); err != nil || !r.Changed {
			t.Fatalf("pause: %+v %v", r, err)
		}

		// o-tpaused: the head needs team t2, which is paused; t1 is free.
		e.org("o-tpaused", 1, 5)
		e.team("o-tpaused", "t2", 1, 5)
		e.must(e.st.SetTeamStatus(e.ctx, router.TeamStatusRequest{Org: "o-tpaused", Team: "t2", Status: router.TeamPaused, At: base}))
		e.enqueue("o-tpaused", "default", teamAttrs("t2", 1), base)

		// o-unknown: nothing wrong that routeops can name; it simply is
		// not routed (no pass runs for it below).
		e.org("o-unknown", 1, 5)
		e.enqueue("o-unknown", "default", attrs(1), base)

		for _, org := range []string{"o-corrupt", "o-qpaused", "o-tpaused"} {
			if _, err := eng.RouteTurn(e.ctx, org); err != nil {
				t.Fatal(err)
			}
		}

		// At 30s nothing is stalled yet.
		e.clk.Set(at(30 * time.Second))
		e.beat(eng)
		s := e.snapshot()
		expect(s, "o-corrupt", false, "", ops.HealthWarning)
		expect(s, "o-qpaused", false, router.CauseQueuePaused, ops.HealthWarning)
		expect(s, "o-tpaused", false, router.CauseTeamPaused, ops.HealthWarning)
		expect(s, "o-unknown", false, "", ops.HealthOK)

		e.clk.Set(at(61 * time.Second))
		e.beat(eng)
		s = e.snapshot()
		q := expect(s, "o-corrupt", true, router.CauseCorruptRevision, ops.HealthCritical)
		if q.Head.Revision != "corrupt" || !strings.Contains(q.Head.LastError, "corrupt attributes") {
			t.Fatalf("corrupt head: %+v", q.Head)
		}
		// A deliberate pause, of the queue or of the head's team, is never a
		// stall: it warns and pages no one.
		expect(s, "o-qpaused", false, router.CauseQueuePaused, ops.HealthWarning)
		q = expect(s, "o-tpaused", false, router.CauseTeamPaused, ops.HealthWarning)
		if q.AvailableCapacity != 0 {
			t.Fatalf("team-paused capacity %d", q.AvailableCapacity)
		}
		expect(s, "o-unknown", true, router.CauseUnknown, ops.HealthCritical)
		if s.Summary.StalledQueues != 2 || s.Summary.Health != ops.HealthCritical || s.Summary.CriticalOrgs != 2 || s.Summary.WarningOrgs != 2 {
			t.Fatalf("summary: %+v", s.Summary)
		}
		// Critical orgs first, then warnings.
		var order []string
		for _, o := range s.Orgs {
			order = append(order, o.Org)
		}
		if got := strings.Join(order, " "); got != "o-corrupt o-unknown o-qpaused o-tpaused" {
			t.Fatalf("org order: %s", got)
		}

		// The engine stops beating: every stall with free capacity becomes
		// engine_down, after the heartbeat timeout.
		e.clk.Set(at(75 * time.Second))
		s = e.snapshot()
		if s.Engine.State != "running" {
			t.Fatalf("engine at 14s since the beat: %+v", s.Engine)
		}
		e.clk.Set(at(77 * time.Second))
		s = e.snapshot()
		if s.Engine.State != "down" || s.Engine.LastBeatAge != 16 {
			t.Fatalf("engine at 16s since the beat: %+v", s.Engine)
		}
		expect(s, "o-unknown", true, router.CauseEngineDown, ops.HealthCritical)
		expect(s, "o-corrupt", true, router.CauseEngineDown, ops.HealthCritical)
		expect(s, "o-qpaused", false, router.CauseQueuePaused, ops.HealthWarning)
		// A clean stop is still no engine.
		e.must(eng.Beat(e.ctx, true))
		s = e.snapshot()
		if s.Engine.State != "stopped" {
			t.Fatalf("engine after goodbye: %+v", s.Engine)
		}
		expect(s, "o-unknown", true, router.CauseEngineDown, ops.HealthCritical)
	})
}

func TestMonitorEngineNeverRan(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		e.enqueue("o1", "default", attrs(1), base)
		e.clk.Set(at(60 * time.Second))
		s := e.snapshot()
		q := queueOf(t, s, "o1", "default")
		if s.Engine.State != "none" || !q.Stalled || q.Cause != router.CauseEngineDown || q.Health != ops.HealthCritical {
			t.Fatalf("engine %+v queue %+v", s.Engine, q)
		}
	})
}

func TestMonitorStarvedIsNotStalled(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 1)
		e.enqueue("o1", "default", attrs(1), base)
		e.enqueue("o1", "default", attrs(1), base)
		// o2: the vip head needs team t2, which is full, while t1 has free
		// capacity that cannot take it.
		e.org("o2", 1, 5)
		e.queue("o2", "vip", 5)
		e.team("o2", "t2", 1, 1)
		e.enqueue("o2", "vip", teamAttrs("t2", 1), base)
		e.enqueue("o2", "vip", teamAttrs("t2", 1), base)
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 2 {
			t.Fatalf("assigned %d, want 2", p.Assigned)
		}
		check := func(h ops.Health) {
			t.Helper()
			s := e.snapshot()
			for _, ref := range [][2]string{{"o1", "default"}, {"o2", "vip"}} {
				q := queueOf(t, s, ref[0], ref[1])
				if !q.Starved || q.Stalled || q.Cause != router.CauseNoCapacity || q.Health != h || q.AvailableCapacity != 0 || q.Depth != 1 {
					t.Fatalf("%s at %v: %+v", ref, e.clk.Now().Sub(base), q)
				}
			}
			if s.Summary.StalledQueues != 0 || s.Summary.StarvedQueues != 2 || s.Summary.Health != h {
				t.Fatalf("summary: %+v", s.Summary)
			}
		}
		e.clk.Set(at(2 * time.Minute))
		e.beat(eng)
		check(ops.HealthOK)
		e.clk.Set(at(10 * time.Minute))
		e.beat(eng)
		check(ops.HealthWarning)
		// Hours later, with the engine gone too: still starved, never
		// stalled or critical.
		e.clk.Set(at(3 * time.Hour))
		check(ops.HealthWarning)
	})
}

func TestMonitorAgeAloneIsNotAStall(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 1)
		i1 := e.enqueue("o1", "default", attrs(1), at(-10*time.Minute))
		i2 := e.enqueue("o1", "default", attrs(1), at(-10*time.Minute))
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		e.clk.Set(at(5 * time.Second))
		e.must(e.st.Complete(e.ctx, router.CompleteRequest{Org: "o1", ItemID: i1.ID, At: e.clk.Now()}))
		e.clk.Set(at(20 * time.Second))
		e.beat(eng)
		q := queueOf(t, e.snapshot(), "o1", "default")
		if q.Head == nil || q.Head.Item != router.FormatItemID(i2.ID) || q.Head.AgeSeconds != 620 || q.AvailableCapacity != 1 {
			t.Fatalf("head: %+v %+v", q, q.Head)
		}
		if q.Stalled || q.Health != ops.HealthOK || q.LastProgressSeconds != 20 {
			t.Fatalf("an old head with recent progress must not be a stall: %+v", q)
		}
		// No assignment for stall_after while capacity exists: a stall.
		e.clk.Set(at(60 * time.Second))
		e.beat(eng)
		q = queueOf(t, e.snapshot(), "o1", "default")
		if !q.Stalled || q.Cause != router.CauseUnknown || q.Health != ops.HealthCritical {
			t.Fatalf("no progress for 60s: %+v", q)
		}
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		q = queueOf(t, e.snapshot(), "o1", "default")
		if q.Stalled || q.Depth != 0 || q.Health != ops.HealthOK {
			t.Fatalf("after routing: %+v", q)
		}
	})
}

// makeOrphan creates a queued item whose queue does not exist.
func makeOrphan(e *env, org string) {
	e.t.Helper()
	if e.pg == nil {
		_, err := e.st.BulkLoad(e.ctx, &router.BulkData{Items: []router.BulkItem{{OrgID: org, QueueID: "ghost",
			EnqueuedAt: base, Revisions: []router.BulkRevision{{Attributes: attrs(1), CreatedAt: base}}}}})
		e.must(err)
		return
	}
	it := e.enqueue(org, "default", attrs(1), base)
	e.db.Orphan(it.ID, "ghost")
}

func TestMonitorQuarantineWarningAndOrphans(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 0, 0)
		i1 := e.enqueue("o1", "default", attrs(1), base)
		e.enqueue("o1", "default", attrs(1), base)
		e.org("o2", 0, 0)
		makeOrphan(e, "o2")
		eng := e.engine(router.PolicyQuarantine, nil)
		e.beat(eng)
		s := e.snapshot()
		if q := queueOf(t, s, "o1", "default"); q.Health != ops.HealthOK || q.Quarantined != 0 {
			t.Fatalf("before quarantine: %+v", q)
		}
		if o := orgOf(t, s, "o2"); o.Orphans != 1 || o.Health != ops.HealthWarning || !strings.Contains(o.Reason, "does not exist") {
			t.Fatalf("orphan org: %+v", o)
		}
		outs, err := e.ops.Quarantine(e.ctx, "o1", []int64{i1.ID}, "customer asked")
		e.must(err)
		if !outs[0].OK {
			t.Fatalf("quarantine: %+v", outs[0])
		}
		s = e.snapshot()
		q := queueOf(t, s, "o1", "default")
		if q.Quarantined != 1 || q.Health != ops.HealthWarning || q.Reason != "1 quarantined" || q.Stalled || q.Depth != 1 {
			t.Fatalf("after quarantine: %+v", q)
		}
		if o := orgOf(t, s, "o1"); o.Quarantined != 1 || o.Health != ops.HealthWarning {
			t.Fatalf("org: %+v", o)
		}
		if s.Summary.Quarantined != 1 || s.Summary.WarningOrgs != 2 || s.Summary.Health != ops.HealthWarning {
			t.Fatalf("summary: %+v", s.Summary)
		}
		// QuarantineWarn 0 disables the warning.
		st := settings()
		st.QuarantineWarn = 0
		s2, err := ops.NewMonitor(e.st, e.clk, st, operator, nil).Snapshot(e.ctx, "o1")
		e.must(err)
		if q := queueOf(t, s2, "o1", "default"); q.Health != ops.HealthOK || q.Quarantined != 1 {
			t.Fatalf("quarantine warning disabled: %+v", q)
		}
		if len(s2.Orgs) != 1 {
			t.Fatalf("org filter: %d orgs", len(s2.Orgs))
		}
	})
}

// TestStatusJSONShape checks every field DESIGN.md names for status -o
// json, with its JSON type.
func TestStatusJSONShape(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		bad, eng := blockedHead(e, ops.DrillMissingRevisions)
		e.clk.Set(at(61 * time.Second))
		e.beat(eng)
		b, err := json.Marshal(e.snapshot())
		e.must(err)
		var doc map[string]any
		e.must(json.Unmarshal(b, &doc))

		str := func(m map[string]any, k string) string {
			t.Helper()
			v, ok := m[k].(string)
			if !ok {
				t.Fatalf("%q is %T (%v), want a string in %s", k, m[k], m[k], b)
			}
			return v
		}
		num := func(m map[string]any, k string) float64 {
			t.Helper()
			v, ok := m[k].(float64)
			if !ok {
				t.Fatalf("%q is %T (%v), want a number in %s", k, m[k], m[k], b)
			}
			return v
		}
		boolean := func(m map[string]any, k string) bool {
			t.Helper()
			v, ok := m[k].(bool)
			if !ok {
				t.Fatalf("%q is %T (%v), want a bool in %s", k, m[k], m[k], b)
			}
			return v
		}
		obj := func(m map[string]any, k string) map[string]any {
			t.Helper()
			v, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("%q is %T, want an object in %s", k, m[k], b)
			}
			return v
		}
		arr := func(m map[string]any, k string) []any {
			t.Helper()
			v, ok := m[k].([]any)
			if !ok || len(v) == 0 {
				t.Fatalf("%q is %T (%v), want a non-empty array in %s", k, m[k], m[k], b)
			}
			return v
		}

		gen, err := time.Parse(time.RFC3339, str(doc, "generated_at"))
		if err != nil || !gen.Equal(at(61*time.Second)) {
			t.Fatalf("generated_at %v %v", gen, err)
		}
		sum := obj(doc, "summary")
		if num(sum, "orgs") != 1 || num(sum, "queued") != 3 || num(sum, "assigned") != 0 || num(sum, "quarantined") != 0 ||
			num(sum, "stalled_queues") != 1 || str(sum, "health") != "critical" {
			t.Fatalf("summary: %v", sum)
		}
		org := arr(doc, "orgs")[0].(map[string]any)
		if str(org, "org") != "o1" || str(org, "health") != "critical" {
			t.Fatalf("org: %v", org)
		}
		q := arr(org, "queues")[0].(map[string]any)
		if str(q, "queue") != "default" || num(q, "depth") != 3 || num(q, "oldest_age_seconds") != 61 ||
			num(q, "available_capacity") != 10 || num(q, "quarantined") != 0 || !boolean(q, "stalled") ||
			str(q, "cause") != "missing_revision" {
			t.Fatalf("queue: %v", q)
		}
		h := obj(q, "head")
		if str(h, "item") != router.FormatItemID(bad.ID) || num(h, "age_seconds") != 61 || num(h, "attempts") != 1 ||
			str(h, "last_error") != fmt.Sprintf("current revision %d not found", bad.CurrentRevisionID) {
			t.Fatalf("head: %v", h)
		}

		// A healthy queue has an empty cause, still a string.
		if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Quarantined != 1 || p.Assigned != 2 {
			t.Fatalf("quarantine pass: %+v", p)
		}
		b, err = json.Marshal(e.snapshot())
		e.must(err)
		doc = nil
		e.must(json.Unmarshal(b, &doc))
		q = arr(arr(doc, "orgs")[0].(map[string]any), "queues")[0].(map[string]any)
		if str(q, "cause") != "" || boolean(q, "stalled") || num(q, "quarantined") != 1 {
			t.Fatalf("queue after quarantine: %v", q)
		}
	})
}

func TestStallEventsOncePerTransition(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		bad, eng := blockedHead(e, ops.DrillMissingRevisions)
		e.clk.Set(at(61 * time.Second))
		e.beat(eng)
		m1 := e.ops.Monitor
		m2 := ops.NewMonitor(e.second(), e.clk, settings(), router.Actor{Name: "monitor:two", Origin: "host-2"}, nil)

		// Both monitors observe, concurrently and repeatedly.
		observeAll := func() {
			t.Helper()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for _, m := range []*ops.Monitor{m1, m2, m1, m2} {
				wg.Go(func() {
					for i := 0; i < 3; i++ {
						if _, err := m.Observe(e.ctx); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		observeAll()
		det := e.events("o1", router.EventStallDetected)
		if len(det) != 1 {
			t.Fatalf("stall_detected events: %d, want 1: %+v", len(det), det)
		}
		var d struct {
			Cause string `json:"cause"`
			Depth int    `json:"depth"`
		}
		e.must(json.Unmarshal(det[0].Detail, &d))
		if det[0].QueueID != "default" || d.Cause != "missing_revision" || d.Depth != 3 || !det[0].At.Equal(at(61*time.Second)) {
			t.Fatalf("stall_detected: %+v %s", det[0], det[0].Detail)
		}
		q := queueOf(t, e.observe(m1), "o1", "default")
		if q.StalledSince == nil || !q.StalledSince.Equal(at(61*time.Second)) {
			t.Fatalf("stalled_since: %v", q.StalledSince)
		}
		if n := len(e.events("o1", router.EventStallCleared)); n != 0 {
			t.Fatalf("stall_cleared before recovery: %d", n)
		}

		// The operator quarantines the head; the queue flows again.
		e.clk.Set(at(90 * time.Second))
		outs, err := e.ops.Quarantine(e.ctx, "o1", []int64{bad.ID}, "missing revision")
		e.must(err)
		if !outs[0].OK || !outs[0].Changed {
			t.Fatalf("quarantine: %+v", outs[0])
		}
		if p := e.route(eng); p.Assigned != 2 {
			t.Fatalf("assigned %d after the quarantine", p.Assigned)
		}
		e.clk.Set(at(91 * time.Second))
		e.beat(eng)
		observeAll()
		observeAll()
		if n := len(e.events("o1", router.EventStallCleared)); n != 1 {
			t.Fatalf("stall_cleared events: %d, want 1", n)
		}
		if n := len(e.events("o1", router.EventStallDetected)); n != 1 {
			t.Fatalf("stall_detected events: %d, want 1", n)
		}
		if q := queueOf(t, e.observe(m2), "o1", "default"); q.Stalled || q.StalledSince != nil {
			t.Fatalf("after clearing: %+v", q)
		}

		// A second incident is a second transition.
		e.enqueue("o1", "default", attrs(1), at(91*time.Second))
		e.drill(ops.DrillMissingRevisions, "o1", 1)
		e.route(eng)
		e.clk.Set(at(160 * time.Second))
		e.beat(eng)
		observeAll()
		if n := len(e.events("o1", router.EventStallDetected)); n != 2 {
			t.Fatalf("stall_detected events after a second stall: %d, want 2", n)
		}
		if n := len(e.events("o1", router.EventStallCleared)); n != 1 {
			t.Fatalf("stall_cleared events: %d, want 1", n)
		}
	})
}
