package ops_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

func TestDrillGate(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		for i := 0; i < 3; i++ {
			e.enqueue("o1", "default", attrs(1), base)
		}
		before := e.allRevisions()

		// A store that is neither the embedded demo nor marked for drills.
		e.setPolicy(ops.Policy{})
		for _, kind := range []string{ops.DrillMissingRevisions, ops.DrillCorruptRevisions} {
			_, err := e.ops.Drill(e.ctx, kind, "o1", 1)
			var dr *ops.DrillRefusedError
			if !errors.As(err, &dr) || dr.Store != e.st.Describe() || !strings.Contains(err.Error(), "drill.allow: true") {
				t.Fatalf("drill on an unmarked store: %v", err)
			}
		}
		if after := e.allRevisions(); !sameRevisions(before, after) {
			t.Fatal("a refused drill changed revisions")
		}
		if n := len(e.events("o1", router.EventDrillInjected)); n != 0 {
			t.Fatalf("refused drill wrote %d events", n)
		}

		// Allowed: the embedded store, or a database marked for drills.
		if e.pg == nil {
			e.setPolicy(ops.Policy{Embedded: true})
		} else {
			e.setPolicy(ops.Policy{DrillAllow: true})
		}
		if _, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, "o1", 0); err == nil {
			t.Fatal("drill with count 0")
		}
		if _, err := e.ops.Drill(e.ctx, "flood", "o1", 1); err == nil || !strings.Contains(err.Error(), "missing-revisions") {
			t.Fatalf("unknown drill: %v", err)
		}
		e.clk.Set(at(time.Minute))
		ids := e.drill(ops.DrillMissingRevisions, "o1", 2)
		for _, id := range ids {
			if _, ok := current(e, e.item(id)); ok {
				t.Fatalf("item %d still has its current revision", id)
			}
		}
		evs := e.events("o1", router.EventDrillInjected)
		if len(evs) != 1 || evs[0].Actor != "alice" || !evs[0].At.Equal(at(time.Minute)) {
			t.Fatalf("drill events: %+v", evs)
		}
		var d struct {
			Drill string  `json:"drill"`
			Items []int64 `json:"items"`
		}
		e.must(json.Unmarshal(evs[0].Detail, &d))
		if d.Drill != ops.DrillMissingRevisions || !slices.Equal(sortedIDs(d.Items), sortedIDs(ids)) {
			t.Fatalf("drill detail: %s", evs[0].Detail)
		}
		if _, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, "nope", 1); !isNotFound(err) {
			t.Fatalf("drill on an unknown org: %v", err)
		}
	})
}

func sameRevisions(a, b map[int64]router.Revision) bool {
	return maps.EqualFunc(a, b, func(x, y router.Revision) bool {
		return string(x.Attributes) == string(y.Attributes) && x.CreatedAt.Equal(y.CreatedAt) && x.WorkItemID == y.WorkItemID
	})
}

// state is everything a mutation could change, for before/after checks.
type state struct {
	items  []router.WorkItem
	revs   map[int64]router.Revision
	events int
	queues []router.Queue
}

func (e *env) state() state {
	e.t.Helper()
	evs, err := e.st.Events(e.ctx, router.EventFilter{})
	e.must(err)
	qs, err := e.st.ListQueues(e.ctx, "o1")
	e.must(err)
	return state{items: e.allItems(), revs: e.allRevisions(), events: len(evs), queues: qs}
}

func sameState(a, b state) bool {
	if len(a.items) != len(b.items) || a.events != b.events || !slices.Equal(a.queues, b.queues) || !sameRevisions(a.revs, b.revs) {
		return false
	}
	for i := range a.items {
		x, y := a.items[i], b.items[i]
		if x.ID != y.ID || x.State != y.State || x.CurrentRevisionID != y.CurrentRevisionID || !x.EnqueuedAt.Equal(y.EnqueuedAt) {
			return false
		}
	}
	return true
}

func TestReadOnlyRefusesEveryMutation(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		q := e.enqueue("o1", "default", attrs(1), old(0))
		e.addRevision("o1", q.ID, attrs(2), old(time.Minute))
		e.addRevision("o1", q.ID, attrs(3), old(2*time.Minute))
		quar := e.enqueue("o1", "default", attrs(1), base)
		_, err := e.ops.Quarantine(e.ctx, "o1", []int64{quar.ID}, "x")
		e.must(err)
		head := e.enqueue("o1", "default", attrs(9), base)
		if ids := e.drill(ops.DrillMissingRevisions, "o1", 1); ids[0] != head.ID {
			t.Fatalf("drill hit %v, want the head %d", ids, head.ID)
		}
		plan, err := e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if plan.Repairable != 1 {
			t.Fatalf("plan: %+v", plan)
		}

		e.setPolicy(ops.Policy{ReadOnly: true, Embedded: e.pg == nil, DrillAllow: e.pg != nil})
		before := e.state()
		ref := router.QueueRef{Org: "o1", Queue: "default"}
		mutations := map[string]func() error{
			"quarantine": func() error { _, err := e.ops.Quarantine(e.ctx, "o1", []int64{q.ID}, "x"); return err },
			"release":    func() error { _, err := e.ops.Release(e.ctx, "o1", []int64{quar.ID}, false); return err },
			"pause":      func() error { _, err := e.ops.SetPaused(e.ctx, ref, true); return err },
			"resume":     func() error { _, err := e.ops.SetPaused(e.ctx, ref, false); return err },
			"repair":     func() error { _, err := e.ops.ApplyRepair(e.ctx, plan); return err },
			"cleanup": func() error {
				_, err := e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention})
				return err
			},
			"drill": func() error { _, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, "o1", 1); return err },
		}
		for action, fn := range mutations {
			err := fn()
			var ro *ops.ReadOnlyError
			if !errors.As(err, &ro) || ro.Action != action || !errors.Is(err, router.ErrReadOnly) || !errors.Is(err, ops.ErrReadOnly) ||
				!strings.Contains(err.Error(), "read-only") {
				t.Fatalf("%s in read-only mode: %v", action, err)
			}
		}
		// Reads still work.
		if _, err := e.ops.PlanRepair(e.ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if p, err := e.ops.PlanCleanup(e.ctx, retention); err != nil || p.Eligible != 2 {
			t.Fatalf("plan cleanup: %+v %v", p, err)
		}
		if _, err := e.ops.Verify(e.ctx, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ops.Item(e.ctx, "", q.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ops.ListItems(e.ctx, router.ItemFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ops.Timeline(e.ctx, ops.TimelineOptions{}); err != nil {
			t.Fatal(err)
		}
		e.snapshot()
		if after := e.state(); !sameState(before, after) {
			t.Fatalf("read-only mode changed something:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}
