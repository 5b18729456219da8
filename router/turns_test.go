package router_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// smallOrgs makes n orgs named o000.., each with items routable items
// that Backlog reports.
func smallOrgs(f *fakeStore, n, items int) map[string]*work {
	ws := map[string]*work{}
	f.depth = map[string]int{}
	for i := 0; i < n; i++ {
		org := fmt.Sprintf("o%03d", i)
		f.orgs = append(f.orgs, org)
		ws[org] = &work{remaining: items}
		f.route[org] = ws[org].route
		f.depth[org] = items
	}
	return ws
}

// TestPassGroupsSmallOrgs: many small orgs are routed several to a store
// call, every one of them drained.
func TestPassGroupsSmallOrgs(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock)
	ws := smallOrgs(f, 40, 3)
	cfg := engineConfig(clock)
	cfg.FairRoundItems = 1 << 20 // no first round here
	e := router.NewEngine(f, cfg)
	p, err := e.Pass(context.Background())
	if err != nil || p.Assigned != 120 || p.Errors != 0 {
		t.Fatalf("pass %+v, %v", p, err)
	}
	for org, w := range ws {
		if w.left() != 0 {
			t.Fatalf("%s has %d left", org, w.left())
		}
	}
	// Budget: groupBatches (2) × BatchSize (10) estimated items, 3 each.
	f.mu.Lock()
	calls := slices.Clone(f.groupCalls)
	f.mu.Unlock()
	if len(calls) != 7 || slices.Max(calls) != 6 {
		t.Fatalf("RouteOrgs calls carried %v orgs; want 7 calls of up to 6", calls)
	}
	if st := e.Stats(); st.Batches != 7 || st.Assigned != 120 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPassFirstRoundIsFair: with many orgs waiting, every org gets one
// small batch before any org's turn goes on at full size, and the turns
// then drain everything.
func TestPassFirstRoundIsFair(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock)
	ws := smallOrgs(f, 30, 25)
	cfg := engineConfig(clock)
	cfg.FairRoundItems = 60 // 60 / 30 orgs: 2 per queue
	cfg.MaxBatchesPerTurn = 10
	e := router.NewEngine(f, cfg)
	p, err := e.Pass(context.Background())
	if err != nil || p.Assigned != 30*25 {
		t.Fatalf("pass %+v, %v", p, err)
	}
	for org, w := range ws {
		calls := f.callsOf(org)
		if w.left() != 0 || len(calls) < 2 {
			t.Fatalf("%s: %d left after %d calls", org, w.left(), len(calls))
		}
		if calls[0].req.Limit != 2 {
			t.Fatalf("%s's first batch had limit %d, want the first round's 2", org, calls[0].req.Limit)
		}
		for _, c := range calls[1:] {
			if c.req.Limit != cfg.BatchSize {
				t.Fatalf("%s: a later batch had limit %d", org, c.req.Limit)
			}
		}
	}
	// Every first-round call comes before every full-size call (Pass
	// finishes the first round before any turn goes on).
	order := f.callOrder()
	seenFull := false
	for _, limit := range order {
		if limit == cfg.BatchSize {
			seenFull = true
		} else if seenFull {
			t.Fatalf("a first-round batch came after a full one: limits in call order %v", order)
		}
	}
}

// TestGroupFailureBacksOffOnlyItsOrg: a call for several orgs fails as a
// whole; the engine routes each of them alone, so the healthy orgs are
// drained and only the failing org backs off.
func TestGroupFailureBacksOffOnlyItsOrg(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock)
	ws := smallOrgs(f, 8, 2)
	f.route["o003"] = failFirst(1000, nil)
	f.groupErr = func(orgs []string) error {
		if slices.Contains(orgs, "o003") {
			return errTransient
		}
		return nil
	}
	cfg := engineConfig(clock)
	cfg.FairRoundItems = 1 << 20
	e := router.NewEngine(f, cfg)
	p, err := e.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Assigned != 14 || p.Errors != 1 || !errors.Is(p.LastError, errTransient) {
		t.Fatalf("pass %+v", p)
	}
	for org, w := range ws {
		if org != "o003" && w.left() != 0 {
			t.Fatalf("%s has %d left", org, w.left())
		}
	}
	if n := e.Stats().OrgsBackingOff; n != 1 {
		t.Fatalf("OrgsBackingOff = %d, want 1 (o003 alone)", n)
	}
}

// TestRunFirstRoundBeforeFullTurns: Run gives every waiting org its first
// small batch before any full turn (one worker, so that the order of the
// calls is the order of the line).
func TestRunFirstRoundBeforeFullTurns(t *testing.T) {
	clock := router.NewManualClock(t0)
	f := newFake(clock)
	ws := smallOrgs(f, 30, 25)
	cfg := engineConfig(clock)
	cfg.FairRoundItems = 60
	cfg.PollInterval = 24 * time.Hour
	cfg.MaxBatchesPerTurn = 10
	cfg.Workers = 1
	e := router.NewEngine(f, cfg)
	stop := startRun(t, e)
	defer stop()
	f.waitFor(t, "every org drained", func() bool {
		for _, w := range ws {
			if w.left() != 0 {
				return false
			}
		}
		return true
	})
	order := f.callOrder()
	seenFull := false
	firsts := 0
	for _, limit := range order {
		if limit == cfg.BatchSize {
			seenFull = true
		} else {
			firsts++
			if seenFull {
				t.Fatalf("a first-round batch came after a full one: limits in call order %v", order)
			}
		}
	}
	if firsts != 30 {
		t.Fatalf("%d first-round batches, want one per org (30): %v", firsts, order)
	}
}
