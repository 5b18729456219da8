package ops_test

import (
	"fmt"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/ops"
)

// TestSortOrgsOrder: SortOrgs (a permutation sorted, then applied in
// place) puts orgs in the order of the rule it documents, checked against
// a plain stable sort of the same keys, and keeps every org's whole value
// (queues included) with it.
func TestSortOrgsOrder(t *testing.T) {
	healths := []ops.Health{ops.HealthOK, ops.HealthWarning, ops.HealthCritical}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(t, "n")
		orgs := make([]ops.OrgHealth, n)
		for i := range orgs {
			orgs[i] = ops.OrgHealth{
				Org:              fmt.Sprintf("org-%03d", i),
				Health:           healths[rapid.IntRange(0, 2).Draw(t, "health")],
				StalledQueues:    rapid.IntRange(0, 3).Draw(t, "stalled"),
				OldestAgeSeconds: float64(rapid.IntRange(0, 4).Draw(t, "age")),
				Queued:           i,
				Queues:           []ops.QueueHealth{{Queue: fmt.Sprintf("q%d", i)}},
			}
		}
		// Shuffle by a drawn permutation, so that ids do not come sorted.
		perm := rapid.Permutation(orgs).Draw(t, "perm")
		want := append([]ops.OrgHealth(nil), perm...)
		rank := map[ops.Health]int{ops.HealthOK: 0, ops.HealthWarning: 1, ops.HealthCritical: 2}
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if rank[a.Health] != rank[b.Health] {
				return rank[a.Health] > rank[b.Health]
			}
			if a.StalledQueues != b.StalledQueues {
				return a.StalledQueues > b.StalledQueues
			}
			if a.OldestAgeSeconds != b.OldestAgeSeconds {
				return a.OldestAgeSeconds > b.OldestAgeSeconds
			}
			return a.Org < b.Org
		})
		got := append([]ops.OrgHealth(nil), perm...)
		ops.SortOrgs(got)
		for i := range want {
			g, w := got[i], want[i]
			if g.Org != w.Org || g.Queued != w.Queued || len(g.Queues) != 1 || g.Queues[0].Queue != w.Queues[0].Queue {
				t.Fatalf("position %d: got %s (queued %d), want %s", i, g.Org, g.Queued, w.Org)
			}
		}
	})
}
