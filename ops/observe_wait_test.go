package ops_test

import (
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
)

// TestObserveWait: the monitor observes every health.interval; a slow
// observation spaces the next so that observing takes at most a fifth of
// the time, but never by more than half of health.stall_after, so a stall
// is seen within about stall_after and two observations.
func TestObserveWait(t *testing.T) {
	s := time.Second
	cases := []struct {
		name                       string
		interval, took, stallAfter time.Duration
		want                       time.Duration
	}{
		{"fast observation: the interval", s, 100 * time.Millisecond, 60 * s, s},
		{"slow observation: four times as long", s, 2 * s, 60 * s, 8 * s},
		{"very slow: capped at half of stall_after", s, 20 * s, 60 * s, 30 * s},
		{"short stall_after over a large fleet", s, 3 * s, 3 * s, 1500 * time.Millisecond},
		{"the interval still wins over the cap", 5 * s, 3 * s, 3 * s, 5 * s},
		{"no stall_after: only the share", s, 3 * s, 0, 12 * s},
	}
	for _, c := range cases {
		if got := ops.ObserveWait(c.interval, c.took, c.stallAfter); got != c.want {
			t.Errorf("%s: observeWait(%v, %v, %v) = %v, want %v", c.name, c.interval, c.took, c.stallAfter, got, c.want)
		}
	}
}
