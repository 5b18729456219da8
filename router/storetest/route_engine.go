package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var engineTests = []suiteTest{
	{"Engine/Heartbeats", testHeartbeats},
	{"Engine/NotificationsAfterEnqueue", testNotificationsEnqueue},
	{"Engine/NotificationsForNewWork", testNotificationsNewWork},
	{"Engine/NotificationsClosedWithContext", testNotificationsClosed},
}

func testHeartbeats(t *testing.T, s router.Store) {
	f := newFx(t, s)
	hbs, err := s.Heartbeats(f.ctx)
	if err != nil {
		t.Fatalf("Heartbeats: %v", err)
	}
	if len(hbs) != 0 {
		t.Fatalf("a fresh store has heartbeats %+v", hbs)
	}
	e1 := router.Heartbeat{EngineID: "host-a:1", Host: "host-a", PID: 1, Policy: router.PolicyQuarantine, Version: "v1",
		StartedAt: sec(0), BeatAt: sec(10)}
	e2 := router.Heartbeat{EngineID: "host-b:2", Host: "host-b", PID: 2, Policy: router.PolicyBlock, Version: "v2",
		StartedAt: sec(5), BeatAt: sec(20)}
	for _, hb := range []router.Heartbeat{e1, e2} {
		if err := s.Heartbeat(f.ctx, hb); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	check := func(want ...router.Heartbeat) {
		t.Helper()
		got, err := s.Heartbeats(f.ctx)
		if err != nil {
			t.Fatalf("Heartbeats: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("Heartbeats = %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.EngineID != w.EngineID || g.Host != w.Host || g.PID != w.PID || g.Policy != w.Policy || g.Version != w.Version ||
				!g.StartedAt.Equal(w.StartedAt) || !g.BeatAt.Equal(w.BeatAt) || g.Stopped != w.Stopped {
				t.Fatalf("Heartbeats[%d] = %+v, want %+v (newest first)", i, g, w)
			}
		}
	}
	check(e2, e1)
	// A later beat of e1 replaces its record and makes it the newest.
	e1.BeatAt = sec(30)
	e1.Stopped = true
	if err := s.Heartbeat(f.ctx, e1); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	check(e1, e2)
	snap := f.snapshot("", sec(40))
	if len(snap.Heartbeats) != 2 || snap.Heartbeats[0].EngineID != e1.EngineID || !snap.Heartbeats[0].Stopped {
		t.Fatalf("snapshot heartbeats %+v, want e1 (stopped) then e2", snap.Heartbeats)
	}
}

// waitFor reads the channel until org arrives or the timeout passes (a
// bound on a wait for an event, not a sleep that waits for timing).
func waitFor(t *testing.T, ch <-chan string, org, after string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("notification channel closed while waiting for %s after %s", org, after)
			}
			if got == org {
				return
			}
		case <-timeout:
			t.Fatalf("no notification for org %s within 10s after %s", org, after)
		}
	}
}

func testNotificationsEnqueue(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 1)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	ch, err := s.Notifications(ctx)
	if err != nil {
		t.Fatalf("Notifications: %v", err)
	}
	f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	waitFor(t, ch, "o1", "Enqueue")
}

// testNotificationsNewWork: release, repair, resume and freed capacity also
// announce their org. Each trigger has its own org, set up before the
// subscription, so that an earlier notification cannot satisfy a later wait.
func testNotificationsNewWork(t *testing.T, s router.Store) {
	f := newFx(t, s)
	for _, o := range []string{"rel", "rep", "res", "cap"} {
		f.basicOrg(o)
		f.agent(o, "a1", "t1", router.AgentAvailable, 1)
	}
	relItem := f.enqueue("rel", "q", attrs(1, "chat"), sec(0))
	f.quarantine("rel", relItem.ID, "hold", sec(1))
	repItem := f.enqueue("rep", "q", badPriorityAttrs, sec(0))
	f.routeWith("rep", router.PolicyQuarantine, sec(1))
	wantState(t, f.item(repItem.ID), router.StateQuarantined)
	if _, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "res", Queue: "q", Paused: true, Actor: operator, At: sec(0)}); err != nil {
		t.Fatal(err)
	}
	f.enqueue("res", "q", attrs(1, "chat"), sec(0))
	capItem := f.enqueue("cap", "q", attrs(1, "chat"), sec(0))
	f.enqueue("cap", "q", attrs(1, "chat"), sec(1))
	f.assign("cap", sec(2), map[int64]string{capItem.ID: "a1"})

	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	ch, err := s.Notifications(ctx)
	if err != nil {
		t.Fatalf("Notifications: %v", err)
	}
	f.release("rel", relItem.ID, sec(10))
	waitFor(t, ch, "rel", "Release")
	out, err := s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: []router.RepairFix{{OrgID: "rep", ItemID: repItem.ID, ExpectRevisionID: repItem.CurrentRevisionID,
		Attributes: attrs(1, "chat"), Source: "test"}}, Actor: operator, At: sec(10)})
	if err != nil || len(out) != 1 || !out[0].Repaired {
		t.Fatalf("ApplyRepair: %+v, %v", out, err)
	}
	waitFor(t, ch, "rep", "ApplyRepair")
	if _, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "res", Queue: "q", Paused: false, Actor: operator, At: sec(10)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "res", "resuming a queue")
	f.complete("cap", capItem.ID, sec(10))
	waitFor(t, ch, "cap", "Complete")
}

func testNotificationsClosed(t *testing.T, s router.Store) {
	f := newFx(t, s)
	ctx, cancel := context.WithCancel(f.ctx)
	ch, err := s.Notifications(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Notifications: %v", err)
	}
	cancel()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("notification channel not closed within 10s after its context ended")
		}
	}
}
