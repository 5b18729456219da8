package router_test

import (
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// fired reports whether ch has a value ready, and the value.
func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestManualClockNowAndAdvance(t *testing.T) {
	c := router.NewManualClock(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v", c.Now())
	}
	c.Advance(90 * time.Second)
	if want := t0.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
	c.Advance(0)
	if want := t0.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("Advance(0) moved the clock to %v", c.Now())
	}
}

func TestManualClockAfter(t *testing.T) {
	c := router.NewManualClock(t0)
	// Zero and negative durations fire at once, with the current time.
	for _, d := range []time.Duration{0, -time.Second} {
		v, ok := fired(c.After(d))
		if !ok || !v.Equal(t0) {
			t.Fatalf("After(%v): fired %v at %v", d, ok, v)
		}
	}
	if c.Waiters() != 0 {
		t.Fatalf("immediate timers left waiters: %d", c.Waiters())
	}

	a := c.After(10 * time.Second)
	b := c.After(5 * time.Second)
	z := c.After(time.Hour)
	if c.Waiters() != 3 {
		t.Fatalf("Waiters = %d, want 3", c.Waiters())
	}
	if _, ok := fired(a); ok {
		t.Fatal("fired before the clock moved")
	}
	c.Advance(4 * time.Second)
	if _, ok := fired(b); ok {
		t.Fatal("5s timer fired at 4s")
	}
	c.Advance(time.Second) // exactly due
	v, ok := fired(b)
	if !ok || !v.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("5s timer at 5s: fired %v with %v", ok, v)
	}
	if c.Waiters() != 2 {
		t.Fatalf("Waiters = %d, want 2", c.Waiters())
	}
	// Advancing past a deadline fires with the clock's new time.
	c.Advance(20 * time.Second)
	v, ok = fired(a)
	if !ok || !v.Equal(t0.Add(25*time.Second)) {
		t.Fatalf("10s timer after 25s: fired %v with %v", ok, v)
	}
	if _, ok := fired(a); ok {
		t.Fatal("a timer fired twice")
	}
	if _, ok := fired(z); ok || c.Waiters() != 1 {
		t.Fatalf("1h timer fired early, or waiters %d", c.Waiters())
	}
	// A timer that nobody reads does not block Advance.
	c.Advance(2 * time.Hour)
	if _, ok := fired(z); !ok || c.Waiters() != 0 {
		t.Fatalf("1h timer did not fire; waiters %d", c.Waiters())
	}
}

func TestManualClockDeadlineFromRegistration(t *testing.T) {
	c := router.NewManualClock(t0)
	c.Advance(time.Minute)
	ch := c.After(time.Second) // due at t0+61s
	c.Advance(999 * time.Millisecond)
	if _, ok := fired(ch); ok {
		t.Fatal("fired early")
	}
	c.Advance(time.Millisecond)
	if _, ok := fired(ch); !ok {
		t.Fatal("did not fire when due")
	}
}

func TestManualClockSet(t *testing.T) {
	c := router.NewManualClock(t0)
	ch := c.After(time.Minute)
	c.Set(t0.Add(-time.Hour)) // backwards: ignored
	if !c.Now().Equal(t0) {
		t.Fatalf("Set moved the clock backwards to %v", c.Now())
	}
	c.Set(t0) // same: nothing
	if _, ok := fired(ch); ok {
		t.Fatal("fired on Set(now)")
	}
	c.Set(t0.Add(2 * time.Minute))
	if !c.Now().Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("Now = %v", c.Now())
	}
	if _, ok := fired(ch); !ok {
		t.Fatal("Set did not fire a due timer")
	}
}

func TestManualClockConcurrent(t *testing.T) {
	c := router.NewManualClock(t0)
	var wg sync.WaitGroup
	const n = 50
	for i := range n {
		wg.Go(func() {
			ch := c.After(time.Duration(i%5+1) * time.Second)
			c.Now()
			c.Waiters()
			<-ch
		})
	}
	// Keep advancing until every goroutine got its tick.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-done:
			return
		case <-deadline:
			t.Fatalf("timers never fired; %d waiters", c.Waiters())
		default:
			c.Advance(time.Second)
		}
	}
}

func TestRealClock(t *testing.T) {
	var c router.Clock = router.RealClock{}
	before := time.Now()
	now := c.Now()
	if now.Before(before) || now.Sub(before) > time.Minute {
		t.Fatalf("RealClock.Now = %v, time.Now = %v", now, before)
	}
	select {
	case <-c.After(time.Nanosecond):
	case <-time.After(10 * time.Second):
		t.Fatal("RealClock.After never fired")
	}
}
