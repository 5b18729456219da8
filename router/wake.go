package router

import (
	"sort"
	"time"
)

// wakeGate decides which wake-up notifications start a turn. Any database
// role may send a notification on the engines' channel, with any payload,
// as often as it likes, so:
//   - a payload that is not an org the engine knows is dropped. The
//     engine learns orgs from its polls, and reloads the list of orgs at
//     most once per poll interval when a payload names one it does not
//     know, so a new org is heard from within one interval and a flood of
//     made-up names costs one listing per interval;
//   - an org whose last turn made no progress is woken at most once per
//     poll interval by notifications; more notifications meanwhile are
//     held and start one turn at the next poll. An org whose last turn
//     assigned or moved work is woken at once, so real traffic keeps its
//     latency.
//
// So a flood costs at most one extra turn per org per poll interval. The
// gate is used by Run's scheduler goroutine only.
type wakeGate struct {
	interval time.Duration
	known    map[string]bool
	loadedAt time.Time
	loaded   bool
	woken    map[string]time.Time // when a notification last started a turn
	idle     map[string]bool      // the org's last turn made no progress
	held     map[string]bool
	// Dropped and Held count notifications not acted on at once.
	Dropped, Held int
}

func newWakeGate(interval time.Duration) *wakeGate {
	return &wakeGate{interval: interval, known: map[string]bool{}, woken: map[string]time.Time{},
		idle: map[string]bool{}, held: map[string]bool{}}
}

// learn records orgs known to exist (from a poll).
func (g *wakeGate) learn(orgs []string) {
	for _, o := range orgs {
		g.known[o] = true
	}
}

// admit reports whether a notification naming org should start a turn
// now. reload lists every org; it is called at most once per interval.
func (g *wakeGate) admit(org string, now time.Time, reload func() ([]string, error)) bool {
	if CheckID("org", org) != nil {
		g.Dropped++
		return false
	}
	if !g.known[org] && (!g.loaded || now.Sub(g.loadedAt) >= g.interval) {
		g.loaded, g.loadedAt = true, now
		if orgs, err := reload(); err == nil {
			g.known = make(map[string]bool, len(orgs))
			g.learn(orgs)
		}
	}
	if !g.known[org] {
		g.Dropped++
		return false
	}
	if last, ok := g.woken[org]; ok && g.idle[org] && now.Sub(last) < g.interval {
		g.held[org] = true
		g.Held++
		return false
	}
	g.woken[org] = now
	return true
}

// turnDone records whether an org's turn made progress.
func (g *wakeGate) turnDone(org string, progress bool) {
	if progress {
		delete(g.idle, org)
	} else {
		g.idle[org] = true
	}
}

// release returns the held orgs, sorted, for the poll to route; each
// counts as woken now.
func (g *wakeGate) release(now time.Time) []string {
	if len(g.held) == 0 {
		return nil
	}
	out := make([]string, 0, len(g.held))
	for o := range g.held {
		out = append(out, o)
		g.woken[o] = now
	}
	clear(g.held)
	sort.Strings(out)
	return out
}
