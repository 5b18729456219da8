package router_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// sendAll hands the engine's subscription every payload, in order.
func sendAll(t *testing.T, f *fakeStore, payloads []string) {
	t.Helper()
	for _, p := range payloads {
		select {
		case f.notify <- p:
		case <-time.After(20 * time.Second):
			t.Fatal("the engine stopped listening")
		}
	}
}

// TestRunCoalescesNotificationFlood: any database role can send wake-ups,
// as fast as it likes. Payloads that name no org are dropped (the list of
// orgs is loaded once for them), and an org whose turns find nothing to do
// is woken by notifications at most a few times (wakeBurst, 3) per poll
// interval: a flood of thousands costs three turns at once and one at the
// next poll.
func TestRunCoalescesNotificationFlood(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a", "b")
	f.routable = []string{}
	cfg := engineConfig(clock)
	cfg.PollInterval = time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	f.waitFor(t, "the first poll", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.routCalls >= 1
	})
	var flood []string
	for i := 0; i < 2000; i++ {
		flood = append(flood, "a", fmt.Sprintf("nope-%d", i), "", "evil\x1b]0;x\x07")
	}
	// One by one, three notifications start three (empty) turns...
	for i := 1; i <= 3; i++ {
		sendAll(t, f, []string{"a"})
		f.waitFor(t, "a's turn", func() bool { return len(f.callsOf("a")) == i })
	}
	// ...and then none, however many follow. The marker: b is routed only
	// once everything before it was read.
	sendAll(t, f, flood)
	// The engine may drop notifications while its queue of them is full
	// (the poll catches up): send the marker until it arrives.
	for len(f.callsOf("b")) == 0 {
		sendAll(t, f, []string{"b"})
	}
	// Three, or four when the flood's first notification came while the
	// third turn was still in flight (it asks for one more turn after it).
	during := len(f.callsOf("a"))
	if during < 3 || during > 4 {
		t.Fatalf("%d turns for a during the flood, want 3 (4 at most)", during)
	}
	f.mu.Lock()
	lists := f.listCalls
	f.mu.Unlock()
	if lists > 1 {
		t.Fatalf("%d listings of orgs for made-up names within one interval, want at most 1", lists)
	}
	for _, org := range []string{"", "evil\x1b]0;x\x07", "nope-7"} {
		if len(f.callsOf(org)) > 0 {
			t.Fatalf("a turn for %q, which is no org", org)
		}
	}
	// The next poll takes the held wake-ups: one more turn, not 2000.
	polls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.routCalls
	}
	p := polls()
	clock.Advance(time.Hour)
	f.waitFor(t, "a's held turn", func() bool { return len(f.callsOf("a")) == during+1 })
	clock.Advance(time.Hour)
	f.waitFor(t, "another poll", func() bool { return polls() >= p+2 })
	if n := len(f.callsOf("a")); n != during+1 {
		t.Fatalf("%d turns for a, want %d (one for the held notifications)", n, during+1)
	}
}

// TestRunWakesBusyOrgAtOnce: an org whose last turn did work is woken by
// every notification at once, without waiting for a poll: coalescing
// never delays real traffic.
func TestRunWakesBusyOrgAtOnce(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	f.routable = []string{}
	w := &work{remaining: 1000}
	f.route["a"] = w.trickle
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	for i := 1; i <= 5; i++ {
		sendAll(t, f, []string{"a"})
		f.waitFor(t, fmt.Sprintf("turn %d", i), func() bool { return len(f.callsOf("a")) >= i })
	}
}

// TestRunWakesAfterAFewEmptyTurns: empty turns between real work (a
// completion that freed capacity nobody waited for, work another engine
// took) do not make the next notification wait for the poll.
func TestRunWakesAfterAFewEmptyTurns(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock, "a")
	f.routable = []string{}
	f.route["a"] = func(n int, req router.RouteRequest) (router.RouteResult, error) {
		if n%3 == 0 { // every third turn finds work
			return router.RouteResult{Claimed: 1, Assigned: 1, Queues: map[string]router.QueueClaim{"q": {Claimed: 1}}}, nil
		}
		return router.RouteResult{}, nil
	}
	cfg := engineConfig(clock)
	cfg.PollInterval = 24 * time.Hour
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	for i := 1; i <= 12; i++ {
		sendAll(t, f, []string{"a"})
		f.waitFor(t, fmt.Sprintf("turn %d", i), func() bool { return len(f.callsOf("a")) >= i })
	}
}
