package present_test

import (
	"bytes"
	"errors"
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

// failAfter fails every write after the first n bytes.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("broken pipe")
	}
	return len(p), nil
}

// TestSnapshotJSONStopsOnWriteError: a failed write (a closed pipe) ends
// the document with the error, and no encoder still reads the snapshot
// once SnapshotJSON has returned (the race detector sees the writes below).
func TestSnapshotJSONStopsOnWriteError(t *testing.T) {
	s := &ops.Snapshot{GeneratedAt: time.Date(2026, 11, 28, 15, 4, 5, 0, time.UTC)}
	for i := range 5000 {
		s.Orgs = append(s.Orgs, ops.OrgHealth{Org: fmt.Sprintf("org-%05d", i), Health: ops.HealthOK, Queues: []ops.QueueHealth{{Queue: "q"}}})
	}
	if err := present.SnapshotJSON(&failAfter{n: 100 << 10}, s); err == nil {
		t.Fatal("a failed write was not reported")
	}
	for i := range s.Orgs {
		s.Orgs[i].Org = "" // the caller owns the snapshot again
	}
}
