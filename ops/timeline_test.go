package ops_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

func ev(kind, org, queue string, item int64, actor, origin string, when time.Duration, detail ...any) router.Event {
	return router.Event{OrgID: org, At: at(when), Kind: kind, WorkItemID: item, QueueID: queue, Actor: actor, Origin: origin,
		Detail: router.Detail(detail...)}
}

func TestBuildTimeline(t *testing.T) {
	s := time.Second
	fault := func(item int64, cause string, when time.Duration) router.Event {
		return ev(router.EventItemFault, "o1", "default", item, "engine:e1", "host-1", when,
			"cause", cause, "error", "current revision 70 not found", "action", "block")
	}
	evs := []router.Event{
		ev(router.EventDrillInjected, "o1", "", 0, "carol", "local", 0, "drill", "missing-revisions", "items", []int64{7, 8}),
		fault(7, "missing_revision", 1*s),
		fault(7, "missing_revision", 2*s),
		fault(8, "corrupt_revision", 2*s),
		fault(7, "missing_revision", 3*s),
		ev(router.EventStallDetected, "o1", "default", 0, "monitor:host-1", "host-1", 60*s, "cause", "missing_revision", "reason", "head item 7"),
		ev(router.EventQuarantined, "o1", "default", 7, "alice", "203.0.113.7", 90*s, "cause", "operator", "reason", "bad | data"),
		ev(router.EventStallCleared, "o1", "default", 0, "monitor:host-1", "host-1", 100*s),
		ev(router.EventRevisionRepaired, "o1", "default", 7, "bob", "local", 120*s,
			"source", "journal", "old_revision_id", 70, "new_revision_id", 71, "released", true),
		ev(router.EventRevisionsCleaned, "o1", "", 0, "alice", "203.0.113.7", 130*s, "deleted", 5, "older_than", "2026-10-29T15:00:00Z"),
		ev(router.EventStallDetected, "o2", "q", 0, "monitor:host-1", "host-1", 140*s, "cause", "engine_down"),
		ev(router.EventQueuePaused, "o2", "q", 0, "alice", "203.0.113.7", 150*s),
	}
	tl := &ops.Timeline{Since: base, Until: at(time.Hour), Events: len(evs)}
	ops.BuildTimeline(tl, evs)

	var kinds []string
	for _, e := range tl.Entries {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"drill_injected", "item_fault", "item_fault", "stall_detected", "quarantined", "stall_cleared",
		"revision_repaired", "revisions_cleaned", "stall_detected", "queue_paused"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("entries %v, want %v", kinds, want)
	}
	f7 := tl.Entries[1]
	if f7.Item != "7" || f7.Count != 3 || !f7.At.Equal(at(s)) || f7.Until == nil || !f7.Until.Equal(at(3*s)) ||
		!strings.Contains(f7.Summary, "[x3]") || !strings.Contains(f7.Summary, "missing_revision") || !strings.Contains(f7.Summary, "block policy") {
		t.Fatalf("collapsed faults: %+v", f7)
	}
	if f8 := tl.Entries[2]; f8.Item != "8" || f8.Count != 1 || f8.Until != nil {
		t.Fatalf("single fault: %+v", f8)
	}
	if c := tl.Entries[5]; !strings.Contains(c.Summary, "after 40s") {
		t.Fatalf("stall cleared: %+v", c)
	}
	if r := tl.Entries[6]; !strings.Contains(r.Summary, "bob repaired item 7 from journal: revision 70 -> 71, back in its queue") {
		t.Fatalf("repair entry: %q", r.Summary)
	}
	sm := tl.Summary
	if sm.Faults != 4 || sm.FaultyItems != 2 || sm.FirstFault == nil || !sm.FirstFault.Equal(at(s)) || sm.Quarantined != 1 ||
		sm.QuarantinedByOps != 1 || sm.Repaired != 1 || sm.StallsDetected != 2 || sm.StallsCleared != 1 ||
		sm.RevisionsDeleted != 5 || sm.Drills != 1 {
		t.Fatalf("summary: %+v", sm)
	}
	if !slices.Equal(sm.Operators, []string{"alice@203.0.113.7", "bob", "carol"}) {
		t.Fatalf("operators: %v", sm.Operators)
	}
	if len(sm.Stalls) != 2 {
		t.Fatalf("stalls: %+v", sm.Stalls)
	}
	if sp := sm.Stalls[0]; sp.Org != "o1" || sp.Queue != "default" || sp.Cause != "missing_revision" || !sp.From.Equal(at(60*s)) ||
		sp.To == nil || !sp.To.Equal(at(100*s)) || sp.Seconds != 40 {
		t.Fatalf("closed stall: %+v", sp)
	}
	if sp := sm.Stalls[1]; sp.Org != "o2" || sp.Cause != "engine_down" || sp.To != nil || sp.Seconds != -1 {
		t.Fatalf("open stall: %+v", sp)
	}

	md := tl.Markdown()
	for _, want := range []string{
		"# Incident timeline",
		"Window: 2026-11-28 15:00:00 to 2026-11-28 16:00:00 (UTC), all orgs, 12 events",
		"- Item faults: 4, on 2 items",
		"- Stalls detected: 2, cleared: 1",
		"  - o1/default stalled 15:01:00 to 15:01:40 (40s), cause missing_revision",
		"  - o2/q stalled since 15:02:20, cause engine_down, still open",
		"- Revisions deleted by cleanup: 5",
		"- Drills injected: 1",
		"- Operators: alice@203.0.113.7, bob, carol",
		"| Time (UTC) | Org | Queue | What happened | Who |\n|---|---|---|---|---|\n",
		"| 15:00:01–15:00:03 | o1 | default | item 7 faulted: missing_revision",
		`alice quarantined item 7: bad \| data | alice from 203.0.113.7 |`,
		"| 15:02:00 | o1 | default | bob repaired item 7",
	} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
	// One table row per entry.
	if rows := strings.Count(md, "\n| 15:"); rows != len(tl.Entries) {
		t.Fatalf("%d rows for %d entries:\n%s", rows, len(tl.Entries), md)
	}

	empty := &ops.Timeline{Since: base, Until: at(time.Hour), Org: "o9"}
	ops.BuildTimeline(empty, nil)
	if md := empty.Markdown(); !strings.Contains(md, "Nothing happened in this window.") || !strings.Contains(md, "o9, 0 events") {
		t.Fatalf("empty markdown:\n%s", md)
	}
	if empty.Entries == nil || empty.Summary.Operators == nil || empty.Summary.Stalls == nil {
		t.Fatal("an empty timeline must render empty lists, not null")
	}
}

func TestTimelineFromStore(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		e.org("o2", 1, 0)
		e.enqueue("o1", "default", attrs(1), base)
		e.enqueue("o1", "default", attrs(1), base)
		x := e.enqueue("o2", "default", attrs(1), base)
		ids := e.drill(ops.DrillMissingRevisions, "o1", 1)
		e.clk.Set(at(10 * time.Second))
		if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Quarantined != 1 || p.Assigned != 1 {
			t.Fatalf("pass: %+v", p)
		}
		e.clk.Set(at(20 * time.Minute))
		e.one(e.ops.Quarantine(e.ctx, "o2", []int64{x.ID}, "suspicious"))
		e.clk.Set(at(40 * time.Minute))
		e.one(e.ops.Release(e.ctx, "o2", []int64{x.ID}, false))
		e.clk.Set(at(time.Hour))

		entries := func(tl *ops.Timeline) string {
			var out []string
			for _, en := range tl.Entries {
				out = append(out, en.Org+":"+en.Kind)
			}
			return strings.Join(out, " ")
		}
		tl, err := e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: time.Hour})
		e.must(err)
		if got := entries(tl); got != "o1:drill_injected o1:item_fault o1:quarantined o2:quarantined o2:released" {
			t.Fatalf("timeline: %s", got)
		}
		if !tl.Since.Equal(base) || !tl.Until.Equal(at(time.Hour)) || tl.Events != 5 || tl.Truncated {
			t.Fatalf("window: %+v", tl)
		}
		if tl.Entries[1].Item != router.FormatItemID(ids[0]) || tl.Summary.Faults != 1 || tl.Summary.QuarantinedByOps != 1 ||
			tl.Summary.Quarantined != 2 || tl.Summary.Released != 1 || tl.Summary.Drills != 1 {
			t.Fatalf("summary: %+v entries %+v", tl.Summary, tl.Entries)
		}
		if !slices.Equal(tl.Summary.Operators, []string{"alice@203.0.113.7"}) {
			t.Fatalf("operators: %v", tl.Summary.Operators)
		}

		tl, err = e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: time.Hour, Org: "o2"})
		e.must(err)
		if got := entries(tl); got != "o2:quarantined o2:released" || tl.Org != "o2" {
			t.Fatalf("org filter: %s", got)
		}
		tl, err = e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: 30 * time.Minute})
		e.must(err)
		if got := entries(tl); got != "o2:released" {
			t.Fatalf("since 30m: %s", got)
		}
		tl, err = e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: time.Hour, Org: "o1", All: true})
		e.must(err)
		// Events at the same instant may come in either store's order.
		all := strings.Fields(entries(tl))
		slices.Sort(all)
		if got := strings.Join(all, " "); got != "o1:assigned o1:drill_injected o1:item_fault o1:quarantined" {
			t.Fatalf("all kinds: %s", got)
		}
		tl, err = e.ops.Timeline(e.ctx, ops.TimelineOptions{Since: time.Hour, Limit: 2})
		e.must(err)
		if got := entries(tl); got != "o2:quarantined o2:released" || !tl.Truncated || tl.Events != 2 {
			t.Fatalf("limit: %s %+v", got, tl)
		}
		if md := tl.Markdown(); !strings.Contains(md, "(only the newest shown)") {
			t.Fatalf("truncated markdown:\n%s", md)
		}
	})
}
