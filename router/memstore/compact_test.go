package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
)

func TestCompactForgetsOldFinishedItems(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpsertOrg(ctx, router.Org{ID: "o"}))
	must(s.UpsertQueue(ctx, router.Queue{OrgID: "o", ID: "q"}))
	must(s.UpsertTeam(ctx, router.Team{OrgID: "o", ID: "t"}))
	must(s.UpsertAgent(ctx, router.Agent{OrgID: "o", ID: "a", TeamID: "t", Status: router.AgentAvailable, Capacity: 10}))
	var ids []int64
	for i := 0; i < 3; i++ {
		it, err := s.Enqueue(ctx, router.EnqueueRequest{OrgID: "o", QueueID: "q", Attributes: []byte(`{"channel": "chat", "priority": 1}`), EnqueuedAt: t0})
		must(err)
		ids = append(ids, it.ID)
	}
	eng := router.NewEngine(s, router.EngineConfig{Clock: router.NewManualClock(t0)})
	if _, err := eng.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	must(s.Complete(ctx, router.CompleteRequest{Org: "o", ItemID: ids[0], At: t0.Add(time.Minute)}))
	must(s.Complete(ctx, router.CompleteRequest{Org: "o", ItemID: ids[1], At: t0.Add(30 * time.Minute)}))
	if n := s.Compact(t0.Add(20 * time.Minute)); n != 1 {
		t.Fatalf("compacted %d items, want 1", n)
	}
	if _, err := s.GetItem(ctx, ids[0]); err == nil {
		t.Fatal("the old completed item is still there")
	}
	for _, id := range ids[1:] {
		if _, err := s.GetItem(ctx, id); err != nil {
			t.Fatalf("item %d: %v", id, err)
		}
	}
	if evs, _ := s.Events(ctx, router.EventFilter{ItemID: ids[0]}); len(evs) != 0 {
		t.Fatalf("events of the compacted item remain: %+v", evs)
	}
	rep, err := s.Verify(ctx, 100)
	must(err)
	if !rep.Clean() {
		t.Fatalf("verify after compaction: %+v", rep.Findings)
	}
}
