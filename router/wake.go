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
//   - an org whose last wakeBurst turns found nothing to do, within one
//     poll interval, is not woken by notifications again until the next
//     poll, which takes one turn for all the notifications it held. An org
//     whose turn did work is woken at once, and so is one after a few
//     empty turns (a completion that freed capacity no one waited for, an
//     item another engine took first), so real traffic keeps its latency.
//
// So a flood costs at most wakeBurst+1 turns per org per poll interval
// (it cost one per notification the engine could take). The gate is used
// by Run's scheduler goroutine only.
type wakeGate struct {
	interval time.Duration
	known    map[string]bool
	loadedAt time.Time
	loaded   bool
	empty    map[string]int       // turns in a row that found nothing to do
	since    map[string]time.Time // when the first of them ended
	held     map[string]bool
	// Dropped and Held count notifications not acted on at once.
	Dropped, Held int
}

// wakeBurst is how many empty turns in a row, within one poll interval,
// notifications may start for one org before they wait for the poll.
const wakeBurst = 3

func newWakeGate(interval time.Duration) *wakeGate {
	return &wakeGate{interval: interval, known: map[string]bool{}, empty: map[string]int{},
		since: map[string]time.Time{}, held: map[string]bool{}}
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
	if g.empty[org] >= wakeBurst {
		if now.Sub(g.since[org]) < g.interval {
			g.held[org] = true
			g.Held++
			return false
		}
		delete(g.empty, org) // a new interval: a new burst
	}
	return true
}

// turnDone records whether an org's turn did something, at now.
func (g *wakeGate) turnDone(org string, progress bool, now time.Time) {
	if progress {
		delete(g.empty, org)
		return
	}
	if g.empty[org] == 0 {
		g.since[org] = now
	}
	g.empty[org]++
}

// release returns the held orgs, sorted, for the poll to route.
func (g *wakeGate) release(now time.Time) []string {
	if len(g.held) == 0 {
		return nil
	}
	out := make([]string, 0, len(g.held))
	for o := range g.held {
		out = append(out, o)
		g.since[o] = now // the held turn starts a new interval's count
	}
	clear(g.held)
	sort.Strings(out)
	return out
}
