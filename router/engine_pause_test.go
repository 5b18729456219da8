package router_test

import (
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// TestPassResumesExpiredPause: a timed pause ends on the engine's clock; the
// first pass after its end resumes the queue (journalled as the engine) and
// routes what waited behind it, and a pass before the end leaves it paused.
func TestPassResumesExpiredPause(t *testing.T) {
	m := newMemOrg(t)
	clock := router.NewManualClock(t0)
	until := t0.Add(10 * time.Minute)
	op := router.Actor{Name: "alice", Origin: "local"}
	if _, err := m.s.PauseQueue(m.ctx, router.PauseRequest{Org: "o", Queue: "hi", Reason: "upstream outage",
		Until: &until, Actor: op, At: t0}); err != nil {
		t.Fatal(err)
	}
	id := m.enqueue("hi", okAttrs)
	e := router.NewEngine(m.s, engineConfig(clock))

	clock.Set(until.Add(-time.Second))
	if _, err := e.Pass(m.ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.state(id); st != router.StateQueued {
		t.Fatalf("before the pause ends the item is %s, want queued", st)
	}

	clock.Set(until)
	if _, err := e.Pass(m.ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.state(id); st != router.StateAssigned {
		t.Fatalf("after the pause ended the item is %s, want assigned", st)
	}
	evs, err := m.s.Events(m.ctx, router.EventFilter{Org: "o", Kinds: []string{router.EventQueueResumed}})
	if err != nil || len(evs) != 1 || evs[0].Actor != "engine:test-engine" || !evs[0].At.Equal(until) {
		t.Fatalf("queue_resumed events %+v, %v", evs, err)
	}
	if refs := e.ResumeExpired(m.ctx); len(refs) != 0 {
		t.Fatalf("a second resume found %v", refs)
	}
}
