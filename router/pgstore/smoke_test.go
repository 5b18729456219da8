package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestSmokeRoute(t *testing.T) {
	ctx := context.Background()
	st := pgtest.NewStore(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertOrg(ctx, router.Org{ID: "org-1"}))
	must(st.UpsertQueue(ctx, router.Queue{OrgID: "org-1", ID: "default"}))
	must(st.UpsertTeam(ctx, router.Team{OrgID: "org-1", ID: "t1"}))
	must(st.UpsertAgent(ctx, router.Agent{OrgID: "org-1", ID: "a1", TeamID: "t1", Status: router.AgentAvailable, Capacity: 2}))
	for i := 0; i < 3; i++ {
		_, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "org-1", QueueID: "default", Attributes: []byte(`{"channel": "chat", "priority": 5}`), EnqueuedAt: now})
		must(err)
	}
	eng := router.NewEngine(st, router.EngineConfig{Clock: router.NewManualClock(now)})
	res, err := eng.RunUntilIdle(ctx)
	must(err)
	if res.Assigned != 2 {
		t.Fatalf("assigned %d, want 2", res.Assigned)
	}
	rep, err := st.Verify(ctx, 100)
	must(err)
	if !rep.Clean() {
		t.Fatalf("verify: %+v", rep.Findings)
	}
	snap, err := st.Snapshot(ctx, router.SnapshotRequest{Now: now.Add(10 * time.Second)})
	must(err)
	t.Logf("%+v", snap.Orgs[0])
}
