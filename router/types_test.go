package router_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

func TestParseItemID(t *testing.T) {
	for in, want := range map[string]int64{"1042": 1042, "#1042": 1042, " 7\n": 7, " #7 ": 7, "9223372036854775807": 9223372036854775807} {
		got, err := router.ParseItemID(in)
		if err != nil || got != want {
			t.Errorf("ParseItemID(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-4", "#", "abc", "12abc", "9223372036854775808", "1.5", "# 5"} {
		_, err := router.ParseItemID(in)
		if err == nil || !strings.Contains(err.Error(), "malformed item id") || !strings.Contains(err.Error(), "positive whole number") {
			t.Errorf("ParseItemID(%q): %v", in, err)
		}
	}
	if router.FormatItemID(1042) != "1042" {
		t.Fatal(router.FormatItemID(1042))
	}
}

func TestParseQueueRef(t *testing.T) {
	q, err := router.ParseQueueRef("org-0007/default")
	if err != nil || q != (router.QueueRef{Org: "org-0007", Queue: "default"}) || q.String() != "org-0007/default" {
		t.Fatalf("%#v %v", q, err)
	}
	for _, in := range []string{"", "org", "/q", "o/", "o/q/x", "/"} {
		if _, err := router.ParseQueueRef(in); err == nil || !strings.Contains(err.Error(), "org/queue") {
			t.Errorf("ParseQueueRef(%q): %v", in, err)
		}
	}
}

func TestParseStateAndPolicy(t *testing.T) {
	for _, s := range router.ItemStates {
		if got, err := router.ParseItemState(string(s)); err != nil || got != s {
			t.Errorf("ParseItemState(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := router.ParseItemState("Queued"); err == nil || !strings.Contains(err.Error(), "allowed: queued, assigned, completed, quarantined, cancelled") {
		t.Errorf("ParseItemState(Queued): %v", err)
	}
	for _, p := range router.FaultPolicies {
		if got, err := router.ParseFaultPolicy(string(p)); err != nil || got != p {
			t.Errorf("ParseFaultPolicy(%q) = %q, %v", p, got, err)
		}
	}
	if _, err := router.ParseFaultPolicy("ignore"); err == nil || !strings.Contains(err.Error(), "allowed: quarantine, skip, block") {
		t.Errorf("ParseFaultPolicy(ignore): %v", err)
	}
}

func TestAgentFree(t *testing.T) {
	for _, tc := range []struct{ cap, load, free int }{{3, 0, 3}, {3, 2, 1}, {3, 3, 0}, {3, 5, 0}, {0, 0, 0}} {
		if got := (router.Agent{Capacity: tc.cap, Load: tc.load}).Free(); got != tc.free {
			t.Errorf("cap %d load %d: Free = %d, want %d", tc.cap, tc.load, got, tc.free)
		}
	}
}

func TestActorString(t *testing.T) {
	if s := (router.Actor{Name: "alice"}).String(); s != "alice" {
		t.Error(s)
	}
	if s := (router.Actor{Name: "alice", Origin: "local"}).String(); s != "alice" {
		t.Error(s)
	}
	if s := (router.Actor{Name: "alice", Origin: "10.0.0.1"}).String(); s != "alice@10.0.0.1" {
		t.Error(s)
	}
}

func TestSentinelErrors(t *testing.T) {
	if err := router.NotFoundf("item %d", 7); !errors.Is(err, router.ErrNotFound) || err.Error() != "not found: item 7" {
		t.Error(err)
	}
	if err := router.Conflictf("item %d is %s", 7, "assigned"); !errors.Is(err, router.ErrConflict) || err.Error() != "conflict: item 7 is assigned" {
		t.Error(err)
	}
}

func TestQueueCursor(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := &router.WorkItem{ID: 10, Priority: 50, EnqueuedAt: t0}
	c := router.CursorOf(at)
	for _, tc := range []struct {
		it    router.WorkItem
		after bool
	}{
		{router.WorkItem{ID: 10, Priority: 50, EnqueuedAt: t0}, false}, // itself
		{router.WorkItem{ID: 11, Priority: 50, EnqueuedAt: t0}, true},
		{router.WorkItem{ID: 9, Priority: 50, EnqueuedAt: t0}, false},
		{router.WorkItem{ID: 1, Priority: 50, EnqueuedAt: t0.Add(time.Second)}, true},
		{router.WorkItem{ID: 99, Priority: 50, EnqueuedAt: t0.Add(-time.Second)}, false},
		{router.WorkItem{ID: 1, Priority: 49, EnqueuedAt: t0.Add(-time.Hour)}, true},
		{router.WorkItem{ID: 99, Priority: 51, EnqueuedAt: t0.Add(time.Hour)}, false},
		// same instant in another zone is the same position
		{router.WorkItem{ID: 10, Priority: 50, EnqueuedAt: t0.In(time.FixedZone("x", 3600))}, false},
	} {
		if got := c.After(&tc.it); got != tc.after {
			t.Errorf("After(%+v) = %v, want %v", tc.it, got, tc.after)
		}
	}
	skip := router.QueueCursor{Skip: true}
	if skip.After(&router.WorkItem{ID: 1 << 40}) {
		t.Error("a Skip cursor admits items")
	}
}

func TestClaimSummary(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &router.Batch{
		Queues: map[string]router.Queue{"a": {ID: "a"}, "b": {ID: "b"}},
		Items: []router.ClaimedItem{
			{Item: router.WorkItem{ID: 1, QueueID: "a", Priority: 5, EnqueuedAt: t0}},
			{Item: router.WorkItem{ID: 2, QueueID: "a", Priority: 4, EnqueuedAt: t0}},
			{Item: router.WorkItem{ID: 3, QueueID: "b", Priority: 4, EnqueuedAt: t0}},
			{Item: router.WorkItem{ID: 4, QueueID: "gone", EnqueuedAt: t0}},
		},
	}
	ds := []router.Decision{
		{Kind: router.DecideAssign, ItemID: 1, QueueID: "a", AgentID: "x"},
		{Kind: router.DecideFault, ItemID: 3, QueueID: "b", Action: router.PolicyBlock},
		{Kind: router.DecideFault, ItemID: 4, QueueID: "gone", Action: router.PolicyQuarantine},
	}
	got := router.ClaimSummary(b, ds, 2)
	if len(got) != 2 {
		t.Fatalf("claims %+v (orphans must be left out)", got)
	}
	if a := got["a"]; a.Claimed != 2 || !a.Full || a.Last.ID != 2 || a.Last.Priority != 4 || a.Blocked {
		t.Errorf("a: %+v", a)
	}
	if q := got["b"]; q.Claimed != 1 || q.Full || q.Last.ID != 3 || !q.Blocked {
		t.Errorf("b: %+v", q)
	}
}

func TestRouteResultProgress(t *testing.T) {
	if (router.RouteResult{Claimed: 5, Blocked: 1, Busy: true}).Progress() {
		t.Error("claims and blocks are not progress")
	}
	for _, r := range []router.RouteResult{{Assigned: 1}, {Quarantined: 1}, {Skipped: 1}} {
		if !r.Progress() {
			t.Errorf("%+v is progress", r)
		}
	}
	if (router.PassResult{Faults: 3, Busy: 1, Errors: 1}).Progress() {
		t.Error("pass without moves is not progress")
	}
	if !(router.PassResult{Skipped: 1}).Progress() {
		t.Error("pass with a skip is progress")
	}
}

func TestSortDecisions(t *testing.T) {
	ds := []router.Decision{{ItemID: 3}, {ItemID: 1}, {ItemID: 2}}
	router.SortDecisions(ds)
	if ds[0].ItemID != 1 || ds[1].ItemID != 2 || ds[2].ItemID != 3 {
		t.Fatal(ds)
	}
}

func TestDetail(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(router.Detail("cause", "missing_revision", "n", 3, "dangling"), &m); err != nil {
		t.Fatal(err)
	}
	if m["cause"] != "missing_revision" || m["n"] != float64(3) || len(m) != 2 {
		t.Fatalf("%v", m)
	}
	if string(router.Detail()) != "{}" {
		t.Fatal(string(router.Detail()))
	}
	if string(router.Detail("bad", func() {})) != "{}" {
		t.Fatal("unencodable detail should fall back to {}")
	}
}

func TestVerifyReportClean(t *testing.T) {
	if !(router.VerifyReport{}).Clean() {
		t.Fatal("empty report is not clean")
	}
	if (router.VerifyReport{Findings: []router.Finding{{Kind: router.FindingDanglingRevision}}}).Clean() {
		t.Fatal("report with a finding is clean")
	}
}
