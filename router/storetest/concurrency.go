package storetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

// These tests run store calls from several goroutines at once. They do not
// wait for timing: each goroutine runs until the data says it is done, and
// the assertions are about the final state, which must be the same in any
// interleaving.
var concurrencyTests = []suiteTest{
	{"Concurrency/TwoRoutersNeverDoubleAssign", testConcurrentRouters},
	{"Concurrency/QuarantineRacesRouting", testQuarantineRacesRouting},
	{"Concurrency/CleanupRacesRepointing", testCleanupRacesRepointing},
}

// routeUntilIdle routes org until a call that was not Busy makes no
// progress and claims nothing new to act on.
func routeUntilIdle(s router.Store, f *fx, org string, limit int, now time.Time) error {
	for range 10_000 {
		res, err := s.RouteOrg(f.ctx, router.RouteRequest{Org: org, Limit: limit, Actor: engineActor, Now: now},
			func(b *router.Batch) []router.Decision { return router.Decide(router.PolicyQuarantine, b) })
		if err != nil {
			return err
		}
		if res.Busy {
			runtime.Gosched()
			continue
		}
		if !res.Progress() {
			return nil
		}
	}
	return errors.New("routing did not become idle")
}

func testConcurrentRouters(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 3)
	f.agent("o1", "a2", "t1", router.AgentAvailable, 4)
	for i := range 20 {
		f.enqueue("o1", "q", attrs(i%5, "chat"), sec(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			if err := routeUntilIdle(s, f, "o1", 2, sec(100+w)); err != nil {
				errs <- fmt.Errorf("router %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	as := f.agents("o1")
	if as["a1"].Load != 3 || as["a2"].Load != 4 {
		t.Fatalf("loads a1 %d a2 %d, want every agent exactly at capacity (3 and 4)", as["a1"].Load, as["a2"].Load)
	}
	assigned := f.listItems(router.ItemFilter{Org: "o1", State: router.StateAssigned})
	if len(assigned) != 7 {
		t.Fatalf("%d items assigned, want 7", len(assigned))
	}
	for _, it := range f.allItems("o1") {
		n := len(f.itemEvents("o1", it.ID, router.EventAssigned))
		if (it.State == router.StateAssigned && n != 1) || (it.State != router.StateAssigned && n != 0) {
			t.Fatalf("item %d is %s with %d assigned events", it.ID, it.State, n)
		}
	}
	f.verifyClean()
}

func testQuarantineRacesRouting(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 100)
	var items []int64
	for i := range 30 {
		items = append(items, f.enqueue("o1", "q", attrs(0, "chat"), sec(i)).ID)
	}
	type outcome struct {
		changed  bool
		conflict bool
	}
	outcomes := make(map[int64]outcome, len(items))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		if err := routeUntilIdle(s, f, "o1", 2, sec(100)); err != nil {
			errs <- fmt.Errorf("router: %w", err)
		}
	})
	wg.Go(func() {
		// From the back of the line, so that the two meet in the middle.
		for i := len(items) - 1; i >= 0; i-- {
			r, err := s.Quarantine(f.ctx, router.QuarantineRequest{Org: "o1", ItemID: items[i], Reason: "race", Actor: operator, At: sec(100)})
			switch {
			case err == nil:
				outcomes[items[i]] = outcome{changed: r.Changed}
			case errors.Is(err, router.ErrConflict):
				outcomes[items[i]] = outcome{conflict: true}
			default:
				errs <- fmt.Errorf("quarantine %d: %w", items[i], err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	nAssigned := 0
	for _, id := range items {
		it := f.item(id)
		assignedEvents := len(f.itemEvents("o1", id, router.EventAssigned))
		quarEvents := len(f.itemEvents("o1", id, router.EventQuarantined))
		o := outcomes[id]
		switch it.State {
		case router.StateAssigned:
			nAssigned++
			if !o.conflict || assignedEvents != 1 || quarEvents != 0 {
				t.Fatalf("assigned item %d: quarantine outcome %+v, %d assigned and %d quarantined events", id, o, assignedEvents, quarEvents)
			}
		case router.StateQuarantined:
			if !o.changed || assignedEvents != 0 || quarEvents != 1 {
				t.Fatalf("quarantined item %d: quarantine outcome %+v, %d assigned and %d quarantined events", id, o, assignedEvents, quarEvents)
			}
		default:
			t.Fatalf("item %d ended %s, want assigned or quarantined", id, it.State)
		}
	}
	if l := f.load("o1", "a1"); l != nAssigned {
		t.Fatalf("load %d, want %d (the assigned items)", l, nAssigned)
	}
	f.verifyClean()
}

// testCleanupRacesRepointing: cleanup runs while items are repointed to new
// revisions; it may delete a revision as soon as nothing points at it, but
// never the one an item points at.
func testCleanupRacesRepointing(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	const nItems, rounds = 20, 5
	var items []int64
	for i := range nItems {
		items = append(items, f.enqueue("o1", "q", attrs(0, "chat"), sec(i)).ID)
	}
	olderThan := at(1000 * time.Hour) // every revision is old enough
	done := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for r := 1; r <= rounds; r++ {
			for i, id := range items {
				if _, err := s.AddRevision(f.ctx, router.AddRevisionRequest{Org: "o1", ItemID: id, Attributes: attrs(r, "chat"), At: sec(1000*r + i)}); err != nil {
					errs <- fmt.Errorf("AddRevision: %w", err)
					return
				}
			}
		}
	})
	wg.Go(func() {
		after := int64(0)
		for {
			select {
			case <-done:
				return
			default:
			}
			res, err := s.CleanupBatch(f.ctx, router.CleanupBatchRequest{OlderThan: olderThan, After: after, Limit: 7, Actor: operator, At: sec(9000)})
			if err != nil {
				errs <- fmt.Errorf("CleanupBatch: %w", err)
				return
			}
			after = res.Next
			if res.Done {
				after = 0
			}
			runtime.Gosched()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One more full pass once the writer is done.
	for after := int64(0); ; {
		res, err := s.CleanupBatch(f.ctx, router.CleanupBatchRequest{OlderThan: olderThan, After: after, Limit: 7, Actor: operator, At: sec(9999)})
		if err != nil {
			t.Fatalf("CleanupBatch: %v", err)
		}
		if res.Done {
			break
		}
		after = res.Next
	}
	for _, id := range items {
		it := f.item(id)
		revs := f.revisions("o1", id)
		if len(revs) != 1 || revs[0].ID != it.CurrentRevisionID {
			t.Fatalf("item %d (current %d) keeps revisions %+v, want exactly its current one", id, it.CurrentRevisionID, revs)
		}
		wantBytes(t, "surviving revision", revs[0].Attributes, attrs(rounds, "chat"))
	}
	f.verifyClean()
}
