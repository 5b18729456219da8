package router

import (
	"testing"
	"time"
)

// TestBusyWaitGrowsAndVaries: after passes that found only busy orgs,
// RunUntilIdle waits longer each time (50 ms doubling to 1 s) and by
// different amounts (0.5-1.5x), so that two engines stop colliding.
func TestBusyWaitGrowsAndVaries(t *testing.T) {
	for n, base := range map[int]time.Duration{1: 50 * time.Millisecond, 2: 100 * time.Millisecond,
		4: 400 * time.Millisecond, 5: 800 * time.Millisecond, 6: time.Second, 40: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := busyWait(n)
			if d < base/2 || d >= base*3/2 {
				t.Fatalf("busyWait(%d) = %v, want within [%v, %v)", n, d, base/2, base*3/2)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("busyWait(%d) took only %d values in 50 calls: no jitter", n, len(seen))
		}
	}
}
