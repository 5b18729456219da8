package ops_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// rawFleet builds a deterministic raw snapshot of n orgs, each with three
// queues, three teams and a few agent groups, as a store would return it:
// most queues healthy with a valid head, about 1% with a head whose
// revision is missing and no recent progress (stalled), about 5% starved.
func rawFleet(n int) *router.StoreSnapshot {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	now := base
	raw := &router.StoreSnapshot{Now: now, Heartbeats: []router.Heartbeat{{EngineID: "e1", Policy: router.PolicyQuarantine,
		StartedAt: now.Add(-time.Hour), BeatAt: now.Add(-time.Second)}}}
	raw.Orgs = make([]router.OrgStats, n)
	queues := []string{"escalations", "vip", "default"}
	teams := []string{"tier1", "billing", "technical"}
	for i := range raw.Orgs {
		org := fmt.Sprintf("org-%04d", i+1)
		o := &raw.Orgs[i]
		o.Org = org
		for _, t := range teams {
			o.Teams = append(o.Teams, router.Team{OrgID: org, ID: t, Status: router.TeamActive})
		}
		x := r.Float64()
		starved := x >= 0.01 && x < 0.06
		for ti, t := range teams {
			free := 2 + r.IntN(10)
			if starved {
				free = 0
			}
			o.AgentGroups = append(o.AgentGroups, router.AgentGroup{TeamID: t, TeamStatus: router.TeamActive,
				Skills: []string{"en", teams[ti]}, Status: router.AgentAvailable, Agents: 4, Capacity: 20, Load: 20 - free, Free: free})
		}
		for qi, q := range queues {
			depth := r.IntN(300)
			oldest := now.Add(-time.Duration(r.IntN(600)) * time.Second)
			last := now.Add(-time.Duration(r.IntN(20)) * time.Second)
			// An engine pass reached every queue a second ago: a stuck head
			// is a stall, not an engine that is behind.
			routed := now.Add(-time.Second)
			qs := router.QueueStats{Org: org, Queue: q, Priority: 90 - 10*qi, Depth: depth, OldestEnqueuedAt: &oldest,
				LastAssignedAt: &last, LastRoutedAt: &routed, Assigned1m: r.IntN(50), Assigned5m: r.IntN(250)}
			if depth > 0 {
				h := &router.HeadItem{ID: int64(i*10 + qi), EnqueuedAt: oldest, CurrentRevisionID: int64(i*100 + qi),
					RevisionFound: true, Attributes: attrs(r.IntN(101))}
				if qi == 0 && x < 0.01 {
					stale := now.Add(-10 * time.Minute)
					qs.LastAssignedAt = &stale
					h.RevisionFound, h.Attributes = false, nil
					h.Attempts, h.LastError = 40, fmt.Sprintf("current revision %d not found", h.CurrentRevisionID)
				}
				qs.Head = h
			}
			o.Queued += depth
			o.Queues = append(o.Queues, qs)
		}
	}
	return raw
}

// BenchmarkEvaluate turns a 5,000-org raw snapshot into health: the CPU
// half of every status, check, /metrics scrape and console refresh. Nothing
// asserts a timing.
func BenchmarkEvaluate(b *testing.B) {
	raw := rawFleet(5000)
	s := settings()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap := ops.Evaluate(raw, s)
		if snap.Summary.Orgs != 5000 || snap.Summary.StalledQueues == 0 {
			b.Fatalf("evaluated %d orgs, %d stalled queues", snap.Summary.Orgs, snap.Summary.StalledQueues)
		}
	}
}
