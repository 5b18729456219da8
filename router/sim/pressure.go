package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/routeops/routeops/router"
)

// Pressure is what a demo under pressure adds to the simulated world, so
// that every queue state shows within a minute of starting, and keeps
// coming back:
//   - peaks: every minute or two an org's arrivals jump four- to
//     sixfold for half a minute to a minute, and its queues build up;
//     the first peaks start a few seconds in;
//   - a starved org, whose agents could take a third of its arrivals:
//     its queues hold work with no free capacity (starved, not stalled);
//   - a paused queue with a reason, which an engine resumes when its
//     pause ends, and which is paused again a few minutes later;
//   - agents who go away and come back every few minutes rather than
//     every quarter of an hour.
const (
	pressureFirstPeak   = 5 * time.Second
	pressurePeakEvery   = 90 * time.Second
	pressurePeakMin     = 30 * time.Second
	pressurePeakMax     = 60 * time.Second
	pressureStarvedUtil = 3.0
	pressurePauseFor    = 2 * time.Minute
	pressurePauseEvery  = 5 * time.Minute
	pressureUntilAway   = 3 * time.Minute
	pressureAway        = 40 * time.Second
	// PressureReason is the paused queue's reason.
	PressureReason = "demo: the payment provider is down; waiting for its fix"
)

// pressureActor is who pauses the demo's queue.
var pressureActor = router.Actor{Name: "demo-ops", OSUser: "demo", Origin: "local"}

// pressureState is the simulator's side of Pressure.
type pressureState struct {
	rng       *rand.Rand
	starved   int // index in orgs
	paused    int // index in orgs
	queue     string
	nextPeak  time.Time
	nextPause time.Time
}

// pickPressure chooses the starved org and the org whose queue is paused,
// before the fleets are sized.
func pickPressure(seed int64, n int) *pressureState {
	p := &pressureState{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e55)), starved: -1, paused: -1}
	if n >= 2 {
		p.starved = p.rng.IntN(n)
		p.paused = (p.starved + 1 + p.rng.IntN(n-1)) % n
	} else if n == 1 {
		p.paused = 0
	}
	return p
}

// start schedules the first peak and pause from now.
func (p *pressureState) start(now time.Time, orgs []*simOrg) {
	p.nextPeak = now.Add(pressureFirstPeak)
	p.nextPause = now
	if p.paused >= 0 {
		// Its least urgent queue: the incident drill breaks the heads of
		// the most urgent ones, and a paused queue never stalls.
		qs := orgs[p.paused].m.queues
		least := qs[0]
		for _, q := range qs[1:] {
			if q.Priority < least.Priority {
				least = q
			}
		}
		p.queue = least.ID
	}
}

// step runs the schedule: peaks and the pause.
func (p *pressureState) step(ctx context.Context, s *Simulator, now time.Time) error {
	for !now.Before(p.nextPeak) {
		// One or two orgs peak at once, never the starved one.
		for range 1 + p.rng.IntN(2) {
			i := p.rng.IntN(len(s.orgs))
			if i == p.starved {
				continue
			}
			o := s.orgs[i]
			o.burstUntil = p.nextPeak.Add(pressurePeakMin + time.Duration(p.rng.Int64N(int64(pressurePeakMax-pressurePeakMin))))
			o.burstFactor = 4 + 2*p.rng.Float64()
			s.stats.Bursts++
		}
		p.nextPeak = p.nextPeak.Add(pressurePeakEvery/2 + time.Duration(p.rng.Int64N(int64(pressurePeakEvery))))
	}
	if p.paused >= 0 && !now.Before(p.nextPause) {
		until := now.Add(pressurePauseFor).Truncate(time.Microsecond)
		org := s.orgs[p.paused].m.org.ID
		if _, err := s.st.PauseQueue(ctx, router.PauseRequest{Org: org, Queue: p.queue, Reason: PressureReason,
			Until: &until, Actor: pressureActor, At: now}); err != nil && !benign(err) {
			return fmt.Errorf("sim: pausing %s/%s: %w", org, p.queue, err)
		}
		p.nextPause = now.Add(pressurePauseEvery)
	}
	return nil
}
