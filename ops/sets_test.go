package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// bulkFleet makes orgs o0..o<n-1> with a queue "default" and items per
// org; every item is gold, and items[i] is the i-th enqueued.
func (e *env) bulkFleet(orgs, perOrg int) []int64 {
	e.t.Helper()
	var ids []int64
	for o := range orgs {
		org := fmt.Sprintf("o%02d", o)
		e.org(org, 1, 1000)
		for i := range perOrg {
			ids = append(ids, e.enqueue(org, "default", []byte(`{"tier": "gold", "channel": "chat", "priority": 5}`), at(time.Duration(i)*time.Second)).ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// eventsPerItem counts each item's events of a kind, and the operation ids
// they carry.
func (e *env) eventsPerItem(kind string) (map[int64]int, map[string]int) {
	e.t.Helper()
	evs, err := e.st.Events(e.ctx, router.EventFilter{Kinds: []string{kind}})
	e.must(err)
	per, ops := map[int64]int{}, map[string]int{}
	for _, ev := range evs {
		per[ev.WorkItemID]++
		ops[ev.OperationID]++
	}
	return per, ops
}

var gold = router.ItemSelector{Attrs: []router.AttrMatch{{Key: "tier", Value: "gold"}}}

// TestBulkQuarantineInterruptedAndResumed: a plan first (counts by org and
// queue, the first rows), an apply interrupted after two batches, and a
// re-run of the same command that resumes the same operation, skips
// nothing it did, and changes every item exactly once.
func TestBulkQuarantineInterruptedAndResumed(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ids := e.bulkFleet(12, 150) // 1,800 items: four batches
		opt := ops.SetOptions{Max: 5000, Reason: "cleanup deleted revisions"}
		p, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, opt)
		e.must(err)
		if p.Total != len(ids) || len(p.Groups) != 12 || p.Groups[0] != (router.SelectionCount{Org: "o00", Queue: "default", N: 150}) ||
			len(p.First) != 10 || p.First[0].ID != ids[0] || p.Operation != "" {
			t.Fatalf("plan: total %d groups %+v first %d resumes %q", p.Total, p.Groups, len(p.First), p.Operation)
		}
		// Planning changed nothing.
		if per, _ := e.eventsPerItem(router.EventQuarantined); len(per) != 0 {
			t.Fatalf("planning wrote %d events", len(per))
		}
		ctx, cancel := context.WithCancel(e.ctx)
		rep, err := e.ops.ApplySet(ctx, p, ops.ApplyOptions{Progress: func(done, total int) {
			if done >= 1000 {
				cancel()
			}
		}})
		cancel()
		if err == nil || !rep.Interrupted || rep.Changed != 1000 {
			t.Fatalf("interrupted apply: %+v, %v", rep, err)
		}
		first := rep.Operation

		// An engine assigns one not-yet-quarantined item meanwhile.
		victim := ids[1500]
		vi := e.item(victim)
		route(t, e, vi.OrgID, victim)

		p2, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, opt)
		e.must(err)
		if p2.Operation != first || p2.Done != 1000 || p2.Total != len(ids)-1001 {
			t.Fatalf("re-plan: resumes %q (want %q), done %d, total %d", p2.Operation, first, p2.Done, p2.Total)
		}
		rep2, err := e.ops.ApplySet(e.ctx, p2, ops.ApplyOptions{})
		e.must(err)
		if rep2.Operation != first || !rep2.Resumed || rep2.Changed != len(ids)-1001 || rep2.Skipped != 0 || rep2.Done != 1000 {
			t.Fatalf("resumed apply: %+v", rep2)
		}
		per, byOp := e.eventsPerItem(router.EventQuarantined)
		for _, id := range ids {
			want := 1
			if id == victim {
				want = 0
			}
			if per[id] != want {
				t.Fatalf("item %d has %d quarantined events, want %d", id, per[id], want)
			}
		}
		if len(byOp) != 1 || byOp[first] != len(ids)-1 {
			t.Fatalf("events by operation %v, want all under %s", byOp, first)
		}
		// Finished: the same command again starts afresh and finds nothing.
		p3, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, opt)
		e.must(err)
		if !p3.Empty() || p3.Operation != "" {
			t.Fatalf("after the operation finished: %+v", p3)
		}
	})
}

// route assigns one item through the store, as an engine would.
func route(t *testing.T, e *env, org string, id int64) {
	t.Helper()
	_, err := e.st.RouteOrg(e.ctx, router.RouteRequest{Org: org, Limit: 1000, Now: e.clk.Now()}, func(b *router.Batch) []router.Decision {
		for _, ci := range b.Items {
			if ci.Item.ID == id {
				return []router.Decision{{Kind: router.DecideAssign, ItemID: id, QueueID: ci.Item.QueueID, AgentID: b.Agents[0].ID}}
			}
		}
		return nil
	})
	e.must(err)
	if e.item(id).State != router.StateAssigned {
		t.Fatalf("item %d was not assigned", id)
	}
}

// TestBulkSkipsWhatChangedSincePlan: items that stop matching between the
// plan and the apply are skipped, not failures.
func TestBulkSkipsWhatChangedSincePlan(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ids := e.bulkFleet(2, 10)
		p, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, ops.SetOptions{Reason: "x"})
		e.must(err)
		_, err = e.ops.Quarantine(e.ctx, "", ids[:3], "by hand")
		e.must(err)
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{})
		e.must(err)
		if rep.Changed != 17 || rep.Skipped != 3 || rep.Planned != 20 {
			t.Fatalf("report %+v, want 17 changed and 3 skipped", rep)
		}
	})
}

// TestBulkRules: the rules every face shares, in one place.
func TestBulkRules(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ids := e.bulkFleet(2, 30)
		var usage *ops.RequestError
		if _, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, router.ItemSelector{}, ops.SetOptions{Reason: "x"}); !errors.As(err, &usage) {
			t.Fatalf("quarantine without a selector: %v, want a usage error", err)
		}
		if _, err := e.ops.PlanSet(e.ctx, ops.SetRelease, router.ItemSelector{}, ops.SetOptions{}); !errors.As(err, &usage) {
			t.Fatalf("release without a selector: %v, want a usage error", err)
		}
		if _, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, ops.SetOptions{}); !errors.As(err, &usage) {
			t.Fatalf("quarantine without a reason: %v, want a usage error", err)
		}
		if _, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, router.ItemSelector{Queue: "default"}, ops.SetOptions{Reason: "x"}); !errors.As(err, &usage) {
			t.Fatalf("--queue without --org: %v, want a usage error", err)
		}
		// Above --max: refused, nothing changed.
		var over *ops.OverMaxError
		p, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, ops.SetOptions{Reason: "x", Max: 59})
		if !errors.As(err, &over) || over.Total != 60 || p.Total != 60 {
			t.Fatalf("over max: %v", err)
		}
		if _, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{}); !errors.As(err, &over) {
			t.Fatalf("applying an over-max plan: %v", err)
		}
		if per, _ := e.eventsPerItem(router.EventQuarantined); len(per) != 0 {
			t.Fatal("an over-max action changed items")
		}
		// Ids outside the filters are refused as a whole.
		var outside *ops.OutsideSelectionError
		sel := router.ItemSelector{Org: "o00", IDs: []int64{ids[0], ids[59], 999999}}
		if _, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, sel, ops.SetOptions{Reason: "x"}); !errors.As(err, &outside) ||
			!slices.Equal(outside.IDs, []int64{ids[59], 999999}) {
			t.Fatalf("ids outside the org: %v", err)
		}
		// A selection that matches nothing changes nothing.
		p, err = e.ops.PlanSet(e.ctx, ops.SetQuarantine, router.ItemSelector{Org: "nobody"}, ops.SetOptions{Reason: "x"})
		e.must(err)
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{})
		if err != nil || !p.Empty() || rep.Changed != 0 || rep.Operation != "" {
			t.Fatalf("empty selection: %+v %+v %v", p, rep, err)
		}
		// Read-only refuses the apply.
		ro := e.opt
		ro.Policy.ReadOnly = true
		p, err = ops.New(e.st, ro).PlanSet(e.ctx, ops.SetQuarantine, gold, ops.SetOptions{Reason: "x"})
		e.must(err)
		if _, err := ops.New(e.st, ro).ApplySet(e.ctx, p, ops.ApplyOptions{}); !errors.Is(err, router.ErrReadOnly) {
			t.Fatalf("read-only apply: %v", err)
		}
	})
}

// TestBulkReleaseHoldsBrokenItems: release without --force leaves alone the
// items whose revision is still missing, and says how many; with --force
// it releases them too.
func TestBulkReleaseHoldsBrokenItems(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ids := e.bulkFleet(1, 10)
		_, err := e.ops.Quarantine(e.ctx, "", ids, "hold")
		e.must(err)
		// Break three of them: release them, break them, quarantine again.
		_, err = e.ops.Release(e.ctx, "", ids[:3], false)
		e.must(err)
		broken, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, "o00", 3)
		e.must(err)
		if !slices.Equal(sortedIDs(broken), ids[:3]) {
			t.Fatalf("drill broke %v, want %v", broken, ids[:3])
		}
		_, err = e.ops.Quarantine(e.ctx, "", ids[:3], "broken")
		e.must(err)
		sel := router.ItemSelector{Org: "o00"}
		p, err := e.ops.PlanSet(e.ctx, ops.SetRelease, sel, ops.SetOptions{})
		e.must(err)
		if p.Total != 7 || p.Held != 3 {
			t.Fatalf("release plan: total %d held %d, want 7 and 3", p.Total, p.Held)
		}
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{})
		e.must(err)
		if rep.Changed != 7 || rep.Held != 3 {
			t.Fatalf("release report %+v", rep)
		}
		p, err = e.ops.PlanSet(e.ctx, ops.SetRelease, sel, ops.SetOptions{Force: true})
		e.must(err)
		if p.Total != 3 || p.Held != 0 {
			t.Fatalf("forced release plan: total %d held %d", p.Total, p.Held)
		}
		if rep, err = e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{}); err != nil || rep.Changed != 3 {
			t.Fatalf("forced release %+v, %v", rep, err)
		}
		// Each forced release says so in its event, as a forced release of
		// one item does: one rule for both.
		for _, id := range ids[:3] {
			d, err := e.ops.Item(e.ctx, "o00", id)
			e.must(err)
			last := d.Events[len(d.Events)-1]
			var det struct {
				Forced   bool   `json:"forced"`
				Revision string `json:"revision"`
			}
			e.must(json.Unmarshal(last.Detail, &det))
			if last.Kind != router.EventReleased || last.OperationID != rep.Operation || !det.Forced || det.Revision != "missing" {
				t.Fatalf("item %d's forced release event: %s %s %s", id, last.Kind, last.OperationID, last.Detail)
			}
		}
	})
}

// TestReleaseRate: release at 100 per second on a manual clock; no
// one-second window of the journal holds more than 100 releases, and the
// pacer waits on the clock rather than sleeping.
func TestReleaseRate(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ids := e.bulkFleet(4, 250)
		_, err := e.ops.Quarantine(e.ctx, "", ids, "hold")
		e.must(err)
		p, err := e.ops.PlanSet(e.ctx, ops.SetRelease, gold, ops.SetOptions{Max: 1000})
		e.must(err)
		// The clock jumps ahead whenever the pacer waits on it.
		jo := e.opt
		jo.Clock = jumpClock{e.clk}
		e.ops = ops.New(e.st, jo)
		start := e.clk.Now()
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{Rate: 100})
		e.must(err)
		if rep.Changed != 1000 {
			t.Fatalf("released %d of 1000", rep.Changed)
		}
		evs, err := e.st.Events(e.ctx, router.EventFilter{Kinds: []string{router.EventReleased}})
		e.must(err)
		var times []time.Time
		for _, ev := range evs {
			times = append(times, ev.At)
		}
		if most := busiestSecond(times); most > 100 {
			t.Fatalf("a one-second window holds %d releases", most)
		}
		if took := e.clk.Now().Sub(start); took < 9*time.Second {
			t.Fatalf("1,000 releases at 100/s took %s on the clock, want at least 9s", took)
		}
	})
}

// jumpClock is a manual clock that moves forward by exactly what anyone
// waits for, at once: waiting costs no real time.
type jumpClock struct{ *router.ManualClock }

func (c jumpClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// busiestSecond is the most events in any half-open one-second window.
func busiestSecond(ts []time.Time) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	most, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestBulkRepairSelection: repair plan/apply on a selection carries one
// operation id and leaves the rest alone.
func TestBulkRepairSelection(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.bulkFleet(3, 5)
		for _, org := range []string{"o00", "o01", "o02"} {
			_, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, org, 2)
			e.must(err)
		}
		sel := router.ItemSelector{Org: "o01"}
		p, err := e.ops.PlanSet(e.ctx, ops.SetRepair, sel, ops.SetOptions{})
		e.must(err)
		if p.Total != 2 || p.Repair == nil || p.Repair.Repairable != 2 {
			t.Fatalf("repair plan %+v", p)
		}
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{})
		e.must(err)
		if rep.Changed != 2 || rep.Repair == nil || rep.Repair.Repaired != 2 {
			t.Fatalf("repair report %+v", rep)
		}
		evs, err := e.st.Events(e.ctx, router.EventFilter{OperationID: rep.Operation})
		e.must(err)
		if len(evs) != 2 || evs[0].Kind != router.EventRevisionRepaired {
			t.Fatalf("operation events %+v", evs)
		}
		all, err := e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if len(all.Items) != 4 {
			t.Fatalf("%d items left to repair, want 4 (o00 and o02)", len(all.Items))
		}
	})
}

// TestTimelineGroupsAnOperation: a bulk action's events read as one
// timeline entry per org, with the count and the operation id.
func TestTimelineGroupsAnOperation(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.bulkFleet(3, 4)
		p, err := e.ops.PlanSet(e.ctx, ops.SetQuarantine, gold, ops.SetOptions{Reason: "cleanup incident"})
		e.must(err)
		rep, err := e.ops.ApplySet(e.ctx, p, ops.ApplyOptions{})
		e.must(err)
		tl, err := e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: 24 * time.Hour})
		e.must(err)
		var grouped []ops.TimelineEntry
		for _, en := range tl.Entries {
			if en.Operation != "" {
				grouped = append(grouped, en)
			}
		}
		if len(grouped) != 3 || tl.Summary.Quarantined != 12 {
			t.Fatalf("timeline: %d operation entries (want 3, one per org), %d quarantined (want 12)", len(grouped), tl.Summary.Quarantined)
		}
		for _, en := range grouped {
			if en.Count != 4 || en.Operation != rep.Operation ||
				!strings.Contains(en.Summary, "quarantined 4 items") || !strings.Contains(en.Summary, "cleanup incident") {
				t.Fatalf("entry %+v", en)
			}
		}
	})
}
