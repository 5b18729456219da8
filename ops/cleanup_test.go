package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
)

const retention = 24 * time.Hour

// old is a time well past the retention.
func old(d time.Duration) time.Time { return base.Add(-48 * time.Hour).Add(d) }

type cleanupFixture struct {
	all      map[int64]bool // every revision id
	eligible map[int64]bool // what cleanup must delete
	byOrg    map[string]int
	refOld   int // old revisions kept because an item points at them
	newest   int // old, unreferenced revisions kept as their item's newest
	routable router.WorkItem
}

// buildCleanup writes revisions in every situation cleanup must tell
// apart, all created before the retention except where said.
func buildCleanup(e *env) *cleanupFixture {
	e.t.Helper()
	fx := &cleanupFixture{eligible: map[int64]bool{}, byOrg: map[string]int{}}
	elig := func(org string, ids ...int64) {
		for _, id := range ids {
			fx.eligible[id] = true
			fx.byOrg[org]++
		}
	}
	e.org("o1", 1, 10)
	e.org("o2", 1, 10)
	m := time.Minute
	// A: three revisions; the first two go.
	a := e.enqueue("o1", "default", attrs(1), old(0))
	a2 := e.addRevision("o1", a.ID, attrs(2), old(m))
	e.addRevision("o1", a.ID, attrs(3), old(2*m))
	elig("o1", a.CurrentRevisionID, a2.ID)
	fx.refOld++
	// B: one revision, current: kept.
	b := e.enqueue("o1", "default", attrs(1), old(0))
	fx.refOld++
	// C: completed, two revisions; the first goes, the current stays.
	c := e.enqueue("o1", "default", attrs(1), old(0))
	e.addRevision("o1", c.ID, teamAttrs("t1", 100), old(m))
	if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Assigned != 3 {
		e.t.Fatalf("assigned %d", p.Assigned)
	}
	e.must(e.st.Complete(e.ctx, router.CompleteRequest{Org: "o1", ItemID: c.ID, At: old(3 * m)}))
	e.must(e.st.Complete(e.ctx, router.CompleteRequest{Org: "o1", ItemID: a.ID, At: old(3 * m)}))
	elig("o1", c.CurrentRevisionID)
	fx.refOld++
	// E: two old revisions and a recent current one: both old ones go.
	x := e.enqueue("o1", "default", attrs(1), old(0))
	x2 := e.addRevision("o1", x.ID, attrs(2), old(m))
	e.addRevision("o1", x.ID, attrs(3), base.Add(-time.Hour))
	elig("o1", x.CurrentRevisionID, x2.ID)
	// G in o2: two revisions.
	g := e.enqueue("o2", "default", attrs(1), old(0))
	e.addRevision("o2", g.ID, attrs(2), old(m))
	elig("o2", g.CurrentRevisionID)
	fx.refOld++
	if e.pg != nil {
		// F: three revisions, repointed (as a legacy script would) to the
		// first: the first is referenced, the third is the newest, only the
		// second goes.
		f := e.enqueue("o1", "default", attrs(1), old(0))
		f2 := e.addRevision("o1", f.ID, attrs(2), old(m))
		e.addRevision("o1", f.ID, attrs(3), old(2*m))
		e.exec(`UPDATE work_items SET current_revision_id = $1 WHERE id = $2`, f.CurrentRevisionID, f.ID)
		elig("o1", f2.ID)
		fx.refOld++
		fx.newest++
	}
	fx.all = map[int64]bool{}
	for id := range e.allRevisions() {
		fx.all[id] = true
	}
	// A queued item that must still route after cleanup.
	fx.routable = e.enqueue("o1", "default", attrs(1), base)
	fx.all[fx.routable.CurrentRevisionID] = true
	_ = b
	return fx
}

func (e *env) remaining() map[int64]bool {
	out := map[int64]bool{}
	for id := range e.allRevisions() {
		out[id] = true
	}
	return out
}

func runCleanupScenario(t *testing.T, e *env, fx *cleanupFixture) {
	plan, err := e.ops.PlanCleanup(e.ctx, retention)
	e.must(err)
	if plan.Eligible != len(fx.eligible) || plan.Referenced != fx.refOld || plan.Newest != fx.newest ||
		plan.Total != len(fx.all) || !maps.Equal(plan.ByOrg, fx.byOrg) || !plan.OlderThan.Equal(base.Add(-retention)) {
		t.Fatalf("plan: %+v, want eligible %d referenced %d newest %d total %d by org %v",
			plan, len(fx.eligible), fx.refOld, fx.newest, len(fx.all), fx.byOrg)
	}
	b, err := json.Marshal(plan)
	e.must(err)
	var doc map[string]any
	e.must(json.Unmarshal(b, &doc))
	if n, ok := doc["eligible"].(float64); !ok || int(n) != len(fx.eligible) {
		t.Fatalf("cleanup plan JSON: %s", b)
	}
	if !maps.Equal(e.remaining(), fx.all) {
		t.Fatal("planning deleted something")
	}

	// max_rows stops after one deletion.
	res, err := e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention, MaxRows: 1, BatchSize: 100})
	e.must(err)
	if res.Deleted != 1 || res.Stopped != "max_rows" {
		t.Fatalf("max_rows: %+v", res)
	}
	left := e.remaining()
	var gone []int64
	for id := range fx.all {
		if !left[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) != 1 || !fx.eligible[gone[0]] {
		t.Fatalf("max_rows deleted %v; eligible %v", gone, fx.eligible)
	}

	// The rest, in batches of two.
	var progress []ops.CleanupResult
	res, err = e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention, BatchSize: 2,
		Progress: func(r ops.CleanupResult) { progress = append(progress, r) }})
	e.must(err)
	if res.Deleted != len(fx.eligible)-1 || res.Stopped != "done" || res.Batches < 3 || len(progress) != res.Batches ||
		progress[len(progress)-1].Deleted != res.Deleted {
		t.Fatalf("apply: %+v (%d progress calls)", res, len(progress))
	}
	want := map[int64]bool{}
	for id := range fx.all {
		if !fx.eligible[id] {
			want[id] = true
		}
	}
	if got := e.remaining(); !maps.Equal(got, want) {
		t.Fatalf("remaining revisions\n got %v\nwant %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}

	// One revisions_cleaned event per org and batch with deletions, by the
	// operator, summing to what was deleted.
	perOrg := map[string]int{}
	for _, org := range []string{"o1", "o2"} {
		for _, ev := range e.events(org, router.EventRevisionsCleaned) {
			var d struct {
				Deleted int `json:"deleted"`
			}
			e.must(json.Unmarshal(ev.Detail, &d))
			if ev.Actor != "alice" || d.Deleted <= 0 {
				t.Fatalf("revisions_cleaned: %+v %s", ev, ev.Detail)
			}
			perOrg[org] += d.Deleted
		}
	}
	if !maps.Equal(perOrg, fx.byOrg) {
		t.Fatalf("revisions_cleaned totals %v, want %v", perOrg, fx.byOrg)
	}

	// Nothing left; a second run is a no-op.
	plan, err = e.ops.PlanCleanup(e.ctx, retention)
	e.must(err)
	if plan.Eligible != 0 {
		t.Fatalf("plan after cleanup: %+v", plan)
	}
	res, err = e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention})
	e.must(err)
	if res.Deleted != 0 || res.Stopped != "done" {
		t.Fatalf("second cleanup: %+v", res)
	}
	if rep := e.verify(); !rep.Clean() {
		t.Fatalf("verify after cleanup: %+v", rep.Findings)
	}
	if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Assigned < 1 || e.item(fx.routable.ID).State != router.StateAssigned {
		t.Fatalf("routing after cleanup: %+v", p)
	}
}

func TestCleanup(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		runCleanupScenario(t, e, buildCleanup(e))
	})
}

// TestCleanupWithoutForeignKey: the reference check in the deleting
// statement holds on its own.
func TestCleanupWithoutForeignKey(t *testing.T) {
	onlyPG(t, func(t *testing.T, e *env) {
		fx := buildCleanup(e)
		e.exec(`ALTER TABLE work_items DROP CONSTRAINT work_items_current_revision_fk`)
		runCleanupScenario(t, e, fx)
	})
}

func TestCleanupRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if _, err := e.ops.PlanCleanup(e.ctx, 0); err == nil {
			t.Fatal("plan with no retention")
		}
		if _, err := e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{}); err == nil {
			t.Fatal("apply with no retention")
		}
	})
}

// TestCleanupPausesBetweenBatches drives the pause with the manual clock.
func TestCleanupPausesBetweenBatches(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		fx := buildCleanup(e)
		type out struct {
			res *ops.CleanupResult
			err error
		}
		done := make(chan out, 1)
		go func() {
			r, err := e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention, BatchSize: 1, Pause: time.Second})
			done <- out{r, err}
		}()
		pauses := 0
		var o out
	loop:
		for {
			select {
			case o = <-done:
				break loop
			default:
			}
			if e.clk.Waiters() > 0 {
				pauses++
				e.clk.Advance(time.Second)
				continue
			}
			runtime.Gosched()
		}
		e.must(o.err)
		if o.res.Deleted != len(fx.eligible) || o.res.Batches < len(fx.eligible) || pauses != o.res.Batches-1 {
			t.Fatalf("paused %d times for %+v", pauses, o.res)
		}

		// Cancelling during a pause stops cleanly.
		e.addRevision("o1", fx.routable.ID, attrs(5), old(0))
		e.addRevision("o1", fx.routable.ID, attrs(6), old(0))
		e.addRevision("o1", fx.routable.ID, attrs(7), old(0))
		ctx, cancel := context.WithCancel(e.ctx)
		go func() {
			r, err := e.ops.ApplyCleanup(ctx, ops.CleanupOptions{Retention: retention, BatchSize: 1, Pause: time.Hour})
			done <- out{r, err}
		}()
		for e.clk.Waiters() == 0 {
			runtime.Gosched()
		}
		cancel()
		o = <-done
		if o.err != nil || o.res.Stopped != "canceled" || o.res.Batches != 1 {
			t.Fatalf("cancelled cleanup: %+v %v", o.res, o.err)
		}
	})
}

// TestCleanupRacesRepoint runs cleanup while other transactions repoint
// items to their old revisions, over and over, with and without the
// foreign key. Afterwards no item may point at a missing revision.
//
// With the foreign key, the repoint is a bare UPDATE: the deferred FK
// check makes a repoint to a revision that cleanup deleted fail. Without
// it, the repointing writer locks the target revision FOR KEY SHARE first,
// the lock an FK check takes and routeops's own writers take; a writer
// that takes no lock at all can point at a revision deleted a moment
// before whatever cleanup does, so that is not what is tested.
func TestCleanupRacesRepoint(t *testing.T) {
	for _, fk := range []bool{true, false} {
		name := "with_fk"
		if !fk {
			name = "without_fk"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "pgstore")
			e.org("o1", 0, 0)
			if !fk {
				e.exec(`ALTER TABLE work_items DROP CONSTRAINT work_items_current_revision_fk`)
			}
			var items []router.WorkItem
			for i := 0; i < 8; i++ {
				items = append(items, e.enqueue("o1", "default", attrs(1), old(0)))
			}
			var deleted, repointed, refused atomic.Int64
			const rounds = 25
			for round := 0; round < rounds; round++ {
				targets := map[int64][]int64{}
				for _, it := range items {
					for k := 0; k < 3; k++ {
						e.addRevision("o1", it.ID, attrs(k), old(time.Duration(round)*time.Minute))
					}
					for _, r := range e.revisions("o1", it.ID) {
						targets[it.ID] = append(targets[it.ID], r.ID)
					}
				}
				var wg sync.WaitGroup
				errs := make(chan error, 64)
				wg.Go(func() {
					res, err := e.ops.ApplyCleanup(e.ctx, ops.CleanupOptions{Retention: retention, BatchSize: 3})
					if err != nil {
						errs <- fmt.Errorf("cleanup: %w", err)
						return
					}
					deleted.Add(int64(res.Deleted))
				})
				for w := 0; w < 3; w++ {
					rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
					wg.Go(func() {
						for k := 0; k < 15; k++ {
							it := items[rng.IntN(len(items))]
							revs := targets[it.ID]
							rev := revs[rng.IntN(len(revs))]
							ok, err := repoint(e, it.ID, rev, fk)
							switch {
							case err != nil:
								errs <- err
								return
							case ok:
								repointed.Add(1)
							default:
								refused.Add(1)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				rep := e.verify()
				if hasFinding(rep, router.FindingDanglingRevision, 0, "") {
					t.Fatalf("round %d: an item points at a missing revision: %+v", round, rep.Findings)
				}
				for _, it := range items {
					if _, ok := current(e, e.item(it.ID)); !ok {
						t.Fatalf("round %d: item %d points at a missing revision", round, it.ID)
					}
				}
			}
			t.Logf("%d rounds: %d revisions deleted, %d repoints, %d repoints refused", rounds, deleted.Load(), repointed.Load(), refused.Load())
			if deleted.Load() == 0 || repointed.Load() == 0 {
				t.Fatalf("no race happened: %d deleted, %d repointed", deleted.Load(), repointed.Load())
			}
		})
	}
}

// repoint points an item at one of its revisions with raw SQL. It reports
// false when the revision was gone (the FK refused it, or the lock found
// no row).
func repoint(e *env, item, rev int64, fk bool) (bool, error) {
	ctx := e.ctx
	if fk {
		_, err := e.pg.Pool().Exec(ctx, `UPDATE work_items SET current_revision_id = $1 WHERE org_id = 'o1' AND id = $2`, rev, item)
		if pgstore.IsForeignKeyViolation(err) {
			return false, nil
		}
		return err == nil, err
	}
	tx, err := e.pg.Pool().Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM work_item_revisions WHERE org_id = 'o1' AND id = $1 FOR KEY SHARE`, rev).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE work_items SET current_revision_id = $1 WHERE org_id = 'o1' AND id = $2`, rev, item); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}
