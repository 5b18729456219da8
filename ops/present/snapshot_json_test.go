package present_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// TestSnapshotJSONIsJSON: the streamed document is byte for byte what
// JSON writes for the same snapshot, hostile text escaped alike, with
// several orgs, one, and none.
func TestSnapshotJSONIsJSON(t *testing.T) {
	lag := 1.5
	s := &ops.Snapshot{GeneratedAt: time.Date(2026, 11, 28, 15, 4, 5, 0, time.UTC), Store: "pg \x1b[31m\"orgs\": [] ‮",
		Engine: ops.EngineState{State: "running", Engines: 1}}
	s.Summary.Orgs, s.Summary.Health, s.Summary.ReplicaLagSeconds = 3, ops.HealthCritical, &lag
	s.Orgs = []ops.OrgHealth{
		{Org: "org-0007", Health: ops.HealthCritical, Queues: []ops.QueueHealth{{Queue: "default", Depth: 42, Stalled: true,
			Cause: router.CauseMissingRevision, Head: &ops.HeadHealth{Item: "9", LastError: "bad \u202e\x7f\u0085 text"}}}},
		{Org: "org-0001", Health: ops.HealthOK, Queues: []ops.QueueHealth{}},
		{Org: "org-\x00", Health: ops.HealthWarning, Queues: []ops.QueueHealth{{Queue: "q", Behind: true}}},
	}
	// Enough orgs for several encoding chunks (and a partial last one).
	many := make([]ops.OrgHealth, 0, 1000)
	for i := range 1000 {
		o := s.Orgs[i%3]
		o.Org = fmt.Sprintf("%s-%d", o.Org, i)
		many = append(many, o)
	}
	for _, orgs := range [][]ops.OrgHealth{s.Orgs, s.Orgs[:1], s.Orgs[:0], many} {
		c := *s
		c.Orgs = orgs
		n := len(orgs)
		var want, got bytes.Buffer
		if err := present.JSON(&want, &c); err != nil {
			t.Fatal(err)
		}
		if err := present.SnapshotJSON(&got, &c); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("%d orgs: streamed JSON differs:\n got %s\nwant %s", n, got.String(), want.String())
		}
	}
}
