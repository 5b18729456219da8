package ops_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// one returns the single outcome of an action on one item.
func (e *env) one(outs []ops.Outcome, err error) ops.Outcome {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	if len(outs) != 1 {
		e.t.Fatalf("outcomes: %+v", outs)
	}
	return outs[0]
}

func TestQuarantineAndRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 1)
		e.org("o2", 1, 1)
		i1 := e.enqueue("o1", "default", attrs(1), base)
		i2 := e.enqueue("o1", "default", attrs(1), at(time.Second))
		i3 := e.enqueue("o1", "default", attrs(1), at(2*time.Second))
		i4 := e.enqueue("o2", "default", attrs(1), base)
		id := router.FormatItemID

		// Quarantine a queued item.
		e.clk.Set(at(10 * time.Second))
		o := e.one(e.ops.Quarantine(e.ctx, "o1", []int64{i1.ID}, "bad data"))
		if !o.OK || !o.Changed || o.State != "quarantined" || o.Item != id(i1.ID) || o.Message != fmt.Sprintf("item %d quarantined", i1.ID) {
			t.Fatalf("quarantine: %+v", o)
		}
		evs := e.events("o1", router.EventQuarantined)
		if len(evs) != 1 || evs[0].WorkItemID != i1.ID || evs[0].Actor != "alice" || evs[0].Origin != "203.0.113.7" ||
			evs[0].OSUser != "alice-os" || evs[0].QueueID != "default" || !evs[0].At.Equal(at(10*time.Second)) {
			t.Fatalf("quarantined event: %+v", evs)
		}
		var d struct{ Cause, Reason string }
		e.must(json.Unmarshal(evs[0].Detail, &d))
		if d.Cause != "operator" || d.Reason != "bad data" {
			t.Fatalf("quarantined detail: %s", evs[0].Detail)
		}
		if it := e.item(i1.ID); it.State != router.StateQuarantined || it.QuarantineReason != "bad data" {
			t.Fatalf("item after quarantine: %+v", it)
		}

		// Repeating is harmless.
		o = e.one(e.ops.Quarantine(e.ctx, "o1", []int64{i1.ID}, "bad data"))
		if !o.OK || o.Changed || o.State != "quarantined" || !strings.Contains(o.Message, "already quarantined") {
			t.Fatalf("repeat quarantine: %+v", o)
		}
		if n := len(e.events("o1", router.EventQuarantined)); n != 1 {
			t.Fatalf("repeat wrote an event: %d", n)
		}

		// A reason is required.
		if _, err := e.ops.Quarantine(e.ctx, "o1", []int64{i2.ID}, "  "); err == nil || !strings.Contains(err.Error(), "reason") {
			t.Fatalf("quarantine without a reason: %v", err)
		}

		// Unknown ids and ids of another org are refused, one outcome each.
		outs, err := e.ops.Quarantine(e.ctx, "o1", []int64{999999, i4.ID}, "x")
		e.must(err)
		if len(outs) != 2 || ops.Failed(outs) != 2 {
			t.Fatalf("outcomes: %+v", outs)
		}
		if outs[0].OK || !isNotFound(outs[0].Err) || outs[0].Message != "item 999999 does not exist" {
			t.Fatalf("unknown id: %+v", outs[0])
		}
		if outs[1].OK || !isNotFound(outs[1].Err) || outs[1].Message != fmt.Sprintf("item %d does not exist in org o1", i4.ID) {
			t.Fatalf("id from another org: %+v", outs[1])
		}
		if it := e.item(i4.ID); it.State != router.StateQueued {
			t.Fatalf("the other org's item changed: %+v", it)
		}
		// Without an org, an id is found wherever it lives.
		o = e.one(e.ops.Quarantine(e.ctx, "", []int64{i4.ID}, "x"))
		if !o.OK || !o.Changed {
			t.Fatalf("quarantine without an org: %+v", o)
		}

		// The engine routes past the quarantined item.
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		if it := e.item(i2.ID); it.State != router.StateAssigned {
			t.Fatalf("i2: %+v", it)
		}

		// An assigned item cannot be quarantined.
		o = e.one(e.ops.Quarantine(e.ctx, "o1", []int64{i2.ID}, "x"))
		if o.OK || !isConflict(o.Err) || o.State != "assigned" ||
			o.Message != fmt.Sprintf("item %d is assigned; only a queued item can be quarantined", i2.ID) {
			t.Fatalf("quarantine assigned: %+v", o)
		}
		if it := e.item(i2.ID); it.State != router.StateAssigned {
			t.Fatalf("refused quarantine changed the item: %+v", it)
		}

		// Release returns the item to its original place: the head.
		e.clk.Set(at(20 * time.Second))
		o = e.one(e.ops.Release(e.ctx, "o1", []int64{i1.ID}, false))
		if !o.OK || !o.Changed || o.State != "queued" || o.Message != fmt.Sprintf("item %d released to default", i1.ID) {
			t.Fatalf("release: %+v", o)
		}
		it := e.item(i1.ID)
		if it.State != router.StateQueued || !it.EnqueuedAt.Equal(base) || it.QuarantineReason != "" {
			t.Fatalf("released item: %+v", it)
		}
		rel := e.events("o1", router.EventReleased)
		if len(rel) != 1 || rel[0].WorkItemID != i1.ID || rel[0].Actor != "alice" {
			t.Fatalf("released events: %+v", rel)
		}
		q := queueOf(t, e.snapshot(), "o1", "default")
		if q.Head == nil || q.Head.Item != id(i1.ID) || q.Head.AgeSeconds != 20 || q.Depth != 2 {
			t.Fatalf("head after release: %+v %+v", q, q.Head)
		}

		// Repeating is harmless; an assigned item or another org's id is
		// refused.
		o = e.one(e.ops.Release(e.ctx, "o1", []int64{i1.ID}, false))
		if !o.OK || o.Changed || o.State != "queued" || !strings.Contains(o.Message, "already queued") {
			t.Fatalf("repeat release: %+v", o)
		}
		o = e.one(e.ops.Release(e.ctx, "o1", []int64{i2.ID}, false))
		if o.OK || !isConflict(o.Err) || o.Message != fmt.Sprintf("item %d is assigned; only a quarantined or skipped item can be released", i2.ID) {
			t.Fatalf("release assigned: %+v", o)
		}
		o = e.one(e.ops.Release(e.ctx, "o2", []int64{i1.ID}, false))
		if o.OK || !isNotFound(o.Err) || o.Message != fmt.Sprintf("item %d does not exist in org o2", i1.ID) {
			t.Fatalf("release from another org: %+v", o)
		}
		if n := len(e.events("o1", router.EventReleased)); n != 1 {
			t.Fatalf("released events: %d", n)
		}

		// When capacity frees up, the released item goes before i3, which
		// was enqueued after it.
		e.must(e.st.Complete(e.ctx, router.CompleteRequest{Org: "o1", ItemID: i2.ID, At: e.clk.Now()}))
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		if it := e.item(i1.ID); it.State != router.StateAssigned {
			t.Fatalf("released item was not routed first: %+v; i3: %+v", it, e.item(i3.ID))
		}
		if rep := e.verify(); !rep.Clean() {
			t.Fatalf("verify: %+v", rep.Findings)
		}
	})
}

func TestReleaseSkippedItem(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		bad := e.enqueue("o1", "default", []byte(`{"channel": "fax", "priority": 1}`), base)
		good := e.enqueue("o1", "default", attrs(1), base)
		if p := e.route(e.engine(router.PolicySkip, nil)); p.Skipped != 1 || p.Assigned != 1 {
			t.Fatalf("skip pass: %+v", p)
		}
		if it := e.item(bad.ID); !it.Skipped || it.State != router.StateQueued {
			t.Fatalf("skipped item: %+v", it)
		}
		if it := e.item(good.ID); it.State != router.StateAssigned {
			t.Fatalf("item behind the bad one: %+v", it)
		}
		// The monitor counts it in the depth, not as the head, and warns.
		e.beat(e.engine(router.PolicySkip, nil))
		q := queueOf(t, e.snapshot(), "o1", "default")
		if q.Depth != 1 || q.Skipped != 1 || q.Head != nil || q.Health != ops.HealthWarning || q.Reason != "1 skipped by the skip policy" {
			t.Fatalf("queue with a skipped item: %+v", q)
		}
		o := e.one(e.ops.Release(e.ctx, "o1", []int64{bad.ID}, true)) // the revision is still bad: forced
		if !o.OK || !o.Changed || o.State != "queued" {
			t.Fatalf("release skipped: %+v", o)
		}
		q = queueOf(t, e.snapshot(), "o1", "default")
		if q.Skipped != 0 || q.Head == nil || q.Head.Item != router.FormatItemID(bad.ID) {
			t.Fatalf("queue after release: %+v", q)
		}
		if it := e.item(bad.ID); it.Skipped || it.State != router.StateQueued || !it.EnqueuedAt.Equal(base) {
			t.Fatalf("released skipped item: %+v", it)
		}
	})
}

func TestSetPaused(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		e.enqueue("o1", "default", attrs(1), base)
		ref := router.QueueRef{Org: "o1", Queue: "default"}
		r, err := e.ops.SetPaused(e.ctx, ref, true)
		if err != nil || !r.Changed || r.Message != "queue o1/default paused" {
			t.Fatalf("pause: %+v %v", r, err)
		}
		r, err = e.ops.SetPaused(e.ctx, ref, true)
		if err != nil || r.Changed || r.Message != "queue o1/default is already paused" {
			t.Fatalf("pause again: %+v %v", r, err)
		}
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 0 {
			t.Fatalf("a paused queue was routed: %+v", p)
		}
		if q := queueOf(t, e.snapshot(), "o1", "default"); !q.Paused || q.Depth != 1 {
			t.Fatalf("paused queue: %+v", q)
		}
		r, err = e.ops.SetPaused(e.ctx, ref, false)
		if err != nil || !r.Changed || r.Message != "queue o1/default flowing" {
			t.Fatalf("resume: %+v %v", r, err)
		}
		r, err = e.ops.SetPaused(e.ctx, ref, false)
		if err != nil || r.Changed {
			t.Fatalf("resume again: %+v %v", r, err)
		}
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("resumed queue: %+v", p)
		}
		if _, err := e.ops.SetPaused(e.ctx, router.QueueRef{Org: "o1", Queue: "nope"}, true); !isNotFound(err) {
			t.Fatalf("pause unknown queue: %v", err)
		}
		p, r2 := e.events("o1", router.EventQueuePaused), e.events("o1", router.EventQueueResumed)
		if len(p) != 1 || len(r2) != 1 || p[0].Actor != "alice" || p[0].QueueID != "default" || r2[0].Origin != "203.0.113.7" {
			t.Fatalf("pause events: %+v %+v", p, r2)
		}
	})
}

func TestItemDetail(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 1)
		e.org("o2", 0, 0)
		first := attrs(1)
		second := teamAttrs("t1", 2)
		a := e.enqueue("o1", "default", first, base)
		r2 := e.addRevision("o1", a.ID, second, at(time.Minute))
		e.clk.Set(at(2 * time.Minute))
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 1 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		d, err := e.ops.Item(e.ctx, "", a.ID)
		e.must(err)
		if d.Item.ID != a.ID || d.Item.State != router.StateAssigned || d.Revision != "ok" || d.Error != "" ||
			d.Attrs == nil || d.Attrs.Priority != 2 || d.Attrs.Team != "t1" {
			t.Fatalf("detail: %+v", d)
		}
		if len(d.Revisions) != 2 || d.Revisions[0].Current || !d.Revisions[1].Current || d.Revisions[1].ID != r2.ID ||
			!d.Revisions[0].Valid || !d.Revisions[1].Valid || !d.Revisions[1].CreatedAt.Equal(at(time.Minute)) {
			t.Fatalf("revision chain: %+v", d.Revisions)
		}
		if rb := []byte(d.Revisions[0].Attributes); string(rb) != string(first) {
			t.Fatalf("first revision attributes %s, want %s", rb, first)
		}
		if d.Journal == nil || d.Journal.RevisionID != r2.ID || !d.Journal.Valid {
			t.Fatalf("journal: %+v", d.Journal)
		}
		if len(d.Events) != 1 || d.Events[0].Kind != router.EventAssigned {
			t.Fatalf("events: %+v", d.Events)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}

		// Org filter and unknown ids.
		if _, err := e.ops.Item(e.ctx, "o2", a.ID); !isNotFound(err) {
			t.Fatalf("item of another org: %v", err)
		}
		if d2, err := e.ops.Item(e.ctx, "o1", a.ID); err != nil || d2.Item.ID != a.ID {
			t.Fatalf("item of its own org: %v", err)
		}
		if _, err := e.ops.Item(e.ctx, "", 999999); !isNotFound(err) {
			t.Fatalf("unknown item: %v", err)
		}

		// A missing and a corrupt current revision.
		m := e.enqueue("o1", "default", attrs(3), at(2*time.Minute))
		c := e.enqueue("o1", "default", attrs(4), at(2*time.Minute))
		e.drill(ops.DrillMissingRevisions, "o1", 1) // the head: c (priority 4)
		e.drill(ops.DrillCorruptRevisions, "o1", 1) // then m, the only item left with a revision
		e.route(eng)
		dm, err := e.ops.Item(e.ctx, "", c.ID)
		e.must(err)
		if dm.Revision != "missing" || dm.Error != fmt.Sprintf("current revision %d not found", c.CurrentRevisionID) ||
			len(dm.Revisions) != 0 || dm.Attrs != nil || dm.Journal == nil || !dm.Journal.Valid || dm.Journal.RevisionID != c.CurrentRevisionID {
			t.Fatalf("missing detail: %+v", dm)
		}
		var kinds []string
		for _, ev := range dm.Events {
			kinds = append(kinds, ev.Kind)
		}
		if strings.Join(kinds, ",") != "item_fault,quarantined" || dm.Item.State != router.StateQuarantined ||
			dm.Item.Attempts != 1 || dm.Item.LastError == "" {
			t.Fatalf("missing item events %v, item %+v", kinds, dm.Item)
		}
		dc, err := e.ops.Item(e.ctx, "o1", m.ID)
		e.must(err)
		if dc.Revision != "corrupt" || !strings.Contains(dc.Error, "corrupt attributes") || len(dc.Revisions) != 1 ||
			dc.Revisions[0].Valid || dc.Revisions[0].Error == "" || !dc.Revisions[0].Current || !dc.Journal.Valid {
			t.Fatalf("corrupt detail: %+v", dc)
		}
	})
}

func TestListItemsPagination(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 0, 0)
		e.org("o2", 0, 0)
		e.queue("o1", "other", 0)
		var want []int64
		for i := 0; i < 5; i++ {
			want = append(want, e.enqueue("o1", "default", attrs(1), base).ID)
			e.enqueue("o2", "default", attrs(1), base)
		}
		oth := e.enqueue("o1", "other", attrs(1), base)
		var got []int64
		var nexts []int64
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination never ends")
			}
			p, err := e.ops.ListItems(e.ctx, router.ItemFilter{Org: "o1", Queue: "default", AfterID: after, Limit: 2})
			e.must(err)
			for _, it := range p.Items {
				if it.OrgID != "o1" || it.QueueID != "default" {
					t.Fatalf("filter leak: %+v", it)
				}
				got = append(got, it.ID)
			}
			nexts = append(nexts, p.Next)
			if p.Next == 0 {
				break
			}
			if p.Next != p.Items[len(p.Items)-1].ID {
				t.Fatalf("next %d is not the last id of the page %+v", p.Next, p.Items)
			}
			after = p.Next
		}
		if !slices.Equal(got, want) || len(nexts) != 3 || nexts[0] != want[1] || nexts[1] != want[3] {
			t.Fatalf("pages: got %v (nexts %v), want %v", got, nexts, want)
		}
		// An exact final page ends with Next 0.
		p, err := e.ops.ListItems(e.ctx, router.ItemFilter{Org: "o1", Queue: "default", AfterID: want[2], Limit: 2})
		e.must(err)
		if len(p.Items) != 2 || p.Next != 0 {
			t.Fatalf("exact last page: %+v", p)
		}
		// State filter and the default limit.
		_, err = e.ops.Quarantine(e.ctx, "o1", []int64{want[3]}, "x")
		e.must(err)
		p, err = e.ops.ListItems(e.ctx, router.ItemFilter{State: router.StateQuarantined})
		e.must(err)
		if len(p.Items) != 1 || p.Items[0].ID != want[3] || p.Next != 0 {
			t.Fatalf("state filter: %+v", p)
		}
		p, err = e.ops.ListItems(e.ctx, router.ItemFilter{Org: "o1"})
		e.must(err)
		if len(p.Items) != 6 || p.Items[5].ID != oth.ID || p.Next != 0 {
			t.Fatalf("whole org: %+v", p)
		}
		p, err = e.ops.ListItems(e.ctx, router.ItemFilter{Org: "nobody"})
		e.must(err)
		if p.Items == nil || len(p.Items) != 0 {
			t.Fatalf("empty page must be an empty list: %+v", p)
		}
		b, _ := json.Marshal(p)
		if string(b) != `{"items":[],"next":0}` {
			t.Fatalf("empty page JSON: %s", b)
		}
	})
}

// TestQuarantineRacesEngine: operators quarantine items while the engine
// assigns them. Each item ends assigned or quarantined, never both, and the
// journal agrees.
func TestQuarantineRacesEngine(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 4, 100)
		eng := e.engine(router.PolicyQuarantine, nil)
		for round := 0; round < 5; round++ {
			var ids []int64
			for i := 0; i < 20; i++ {
				ids = append(ids, e.enqueue("o1", "default", attrs(i%7), base).ID)
			}
			done := make(chan error, 1)
			go func() {
				_, err := eng.Pass(e.ctx)
				done <- err
			}()
			for i := len(ids) - 1; i >= 0; i-- {
				outs, err := e.ops.Quarantine(e.ctx, "o1", []int64{ids[i]}, "race")
				e.must(err)
				if o := outs[0]; !o.OK && !isConflict(o.Err) {
					t.Fatalf("quarantine: %+v", o)
				}
			}
			e.must(<-done)
			e.route(eng)
			for _, id := range ids {
				it := e.item(id)
				evs, err := e.st.Events(e.ctx, router.EventFilter{ItemID: id})
				e.must(err)
				n := map[string]int{}
				for _, ev := range evs {
					n[ev.Kind]++
				}
				switch it.State {
				case router.StateAssigned:
					if n[router.EventAssigned] != 1 || n[router.EventQuarantined] != 0 || it.AgentID == "" {
						t.Fatalf("assigned item %d: %+v events %v", id, it, n)
					}
				case router.StateQuarantined:
					if n[router.EventAssigned] != 0 || n[router.EventQuarantined] != 1 || it.AgentID != "" {
						t.Fatalf("quarantined item %d: %+v events %v", id, it, n)
					}
				default:
					t.Fatalf("item %d ended %s", id, it.State)
				}
			}
		}
		if rep := e.verify(); !rep.Clean() {
			t.Fatalf("verify: %+v", rep.Findings)
		}
	})
}
