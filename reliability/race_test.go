package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

var alice = router.Actor{Name: "alice", OSUser: "alice-os", Origin: "198.51.100.23"}

// pick returns n distinct random item ids, and the seed used (logged, so a
// failure can be replayed).
func (h *rig) pick(t testing.TB, n int) []int64 {
	t.Helper()
	rows, err := h.Pool().Query(context.Background(), `SELECT id FROM work_items ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var all []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
	}
	rows.Close()
	seed := uint64(time.Now().UnixNano())
	t.Logf("picking %d of %d items with seed %d", n, len(all), seed)
	r := rand.New(rand.NewPCG(seed, 42))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:n]
}

// eventCounts returns how many events of each kind an item has.
func (h *rig) eventCounts(t testing.TB, id int64) map[string]int {
	t.Helper()
	rows, err := h.Pool().Query(context.Background(), `SELECT kind, count(*) FROM events WHERE work_item_id = $1 GROUP BY kind`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

func (h *rig) itemState(t testing.TB, id int64) (state string, agent *string) {
	t.Helper()
	if err := h.Pool().QueryRow(context.Background(), `SELECT state, agent_id FROM work_items WHERE id = $1`, id).Scan(&state, &agent); err != nil {
		t.Fatal(err)
	}
	return state, agent
}

// checkQuarantineRace checks the acceptance "Race": exactly the quarantines
// that reported success are quarantined, and none of those items was ever
// assigned (no assigned event, no agent); each refused one is assigned,
// once, and was never quarantined.
func (h *rig) checkQuarantineRace(t testing.TB, succeeded, refused map[int64]bool) {
	t.Helper()
	for id := range succeeded {
		st, agent := h.itemState(t, id)
		ev := h.eventCounts(t, id)
		if st != "quarantined" || agent != nil || ev["assigned"] != 0 || ev["quarantined"] != 1 {
			t.Fatalf("item %d: quarantine reported success, but it is %s (agent %v) with events %v", id, st, agent, ev)
		}
	}
	for id := range refused {
		st, agent := h.itemState(t, id)
		ev := h.eventCounts(t, id)
		if st != "assigned" || agent == nil || ev["assigned"] != 1 || ev["quarantined"] != 0 {
			t.Fatalf("item %d: quarantine was refused, but it is %s (agent %v) with events %v", id, st, agent, ev)
		}
	}
	// And nothing else is quarantined: no quarantine happened that was
	// not reported.
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'quarantined'`); n != len(succeeded) {
		t.Fatalf("%d items are quarantined, but %d quarantines reported success", n, len(succeeded))
	}
}

// TestQuarantineRacesEngine is the acceptance "Race", in process under the
// race detector: 60 random items of 10,000 are quarantined by six
// concurrent operators (ops.Quarantine on pgstore) while the engine drains.
// Each quarantine either succeeds or is refused because the engine got the
// item first; exactly the successful ones end quarantined, none of them was
// ever assigned, and the journal and verify agree.
func TestQuarantineRacesEngine(t *testing.T) {
	const orgs, perOrg = 20, 500
	dsn := pgtest.NewDB(t)
	h := newHarness(t, dsn)
	st := openStore(t, dsn, pgstore.Options{MaxConns: 16})
	seedStore(t, st, orgs, perOrg)
	victims := h.pick(t, 60)
	ctx := context.Background()
	eng := router.NewEngine(st, router.EngineConfig{ID: "race-engine", BatchSize: 25, Workers: 4})
	done := make(chan error, 1)
	go func() {
		_, err := eng.RunUntilIdle(ctx)
		done <- err
	}()
	harness.WaitFor(t, "the engine to be under way", 60*time.Second, func() bool { return h.assigned() >= orgs*perOrg*3/10 })

	o := ops.New(st, ops.Options{Actor: alice})
	var mu sync.Mutex
	succeeded, refused := map[int64]bool{}, map[int64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Go(func() {
			for _, id := range victims[w*10 : w*10+10] {
				outs, err := o.Quarantine(ctx, "", []int64{id}, "race test")
				if err != nil {
					t.Errorf("quarantine %d: %v", id, err)
					return
				}
				out := outs[0]
				mu.Lock()
				switch {
				case out.OK && out.Changed:
					succeeded[id] = true
				case !out.OK && errors.Is(out.Err, router.ErrConflict) && strings.Contains(out.Message, "is assigned"):
					refused[id] = true
				default:
					t.Errorf("quarantine %d: neither done nor refused: %+v", id, out)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("60 quarantines racing the engine: %d succeeded, %d refused (the engine got there first)", len(succeeded), len(refused))
	if len(succeeded)+len(refused) != 60 {
		t.Fatalf("%d outcomes, want 60", len(succeeded)+len(refused))
	}
	h.checkQuarantineRace(t, succeeded, refused)
	h.invariants(t, orgs*perOrg)
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'queued'`); n != 0 {
		t.Fatalf("%d items still queued", n)
	}
	h.verifyClean(t)
}

// TestQuarantineRacesServeCLI is the same acceptance as a user would try
// it: `routeops serve --until-idle` drains 10,000 items while six
// `routeops quarantine ID... --yes -o json` run at once on 60 random items.
// Every id is reported ok or refused (exit 2 when any is refused), and the
// database agrees with every report.
func TestQuarantineRacesServeCLI(t *testing.T) {
	const orgs, perOrg = 20, 500
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(orgs, perOrg)...)
	victims := h.pick(t, 60)
	p := h.start(nil, "serve", "--until-idle", "--batch-size", "25")
	harness.WaitFor(t, "serve to be under way", 60*time.Second, func() bool { return h.assigned() >= orgs*perOrg*3/10 })
	var mu sync.Mutex
	succeeded, refused := map[int64]bool{}, map[int64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Go(func() {
			args := []string{"quarantine", "--reason", "race test", "--yes", "-o", "json"}
			for _, id := range victims[w*10 : w*10+10] {
				args = append(args, strconv.FormatInt(id, 10))
			}
			r := h.run([]string{"ROUTEOPS_OPERATOR=alice"}, args...)
			var out struct {
				Results []struct {
					Item    string `json:"item"`
					OK      bool   `json:"ok"`
					Changed bool   `json:"changed"`
					Message string `json:"message"`
				} `json:"results"`
				Failed int `json:"failed"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || len(out.Results) != 10 {
				t.Errorf("quarantine -o json: %v\n%s", err, r)
				return
			}
			if want := map[bool]int{true: 2, false: 0}[out.Failed > 0]; r.Code != want {
				t.Errorf("exit %d with %d refused, want %d\n%s", r.Code, out.Failed, want, r)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, res := range out.Results {
				id, _ := strconv.ParseInt(res.Item, 10, 64)
				switch {
				case res.OK && res.Changed:
					succeeded[id] = true
				case !res.OK && strings.Contains(res.Message, "is assigned"):
					refused[id] = true
				default:
					t.Errorf("item %d: neither done nor refused: %+v", id, res)
				}
			}
		})
	}
	wg.Wait()
	if code := p.Wait(3 * time.Minute).Code; code != 0 {
		t.Fatalf("serve --until-idle exited %d:\n%s", code, p.Output())
	}
	t.Logf("60 CLI quarantines racing serve: %d succeeded, %d refused", len(succeeded), len(refused))
	if len(succeeded)+len(refused) != 60 {
		t.Fatalf("%d outcomes, want 60", len(succeeded)+len(refused))
	}
	h.checkQuarantineRace(t, succeeded, refused)
	h.invariants(t, orgs*perOrg)
	h.verifyClean(t)
}

// TestRepairRacesCleanup races `repair apply` against `cleanup apply` (in
// small batches, without pauses) for five rounds, each on freshly broken
// items (current revisions deleted as in the incident, or corrupted) while
// other items get new revisions that make old ones eligible. Every repair
// either completes (the item points at a new, valid revision with the
// journal's exact attributes, with one revision_repaired event) or is
// refused and leaves the item untouched; cleanup never deletes a revision
// that an item points at; verify is clean at the end.
func TestRepairRacesCleanup(t *testing.T) {
	dsn := pgtest.NewDB(t)
	h := newHarness(t, dsn)
	st := openStore(t, dsn, pgstore.Options{MaxConns: 16})
	seedStore(t, st, 4, 200)
	total := h.count(`SELECT count(*) FROM work_items`)
	ctx := context.Background()
	o := ops.New(st, ops.Options{Actor: alice, Policy: ops.Policy{DrillAllow: true}})
	repaired, refusedRepairs, deleted := 0, 0, 0
	for round := 0; round < 5; round++ {
		orgA, orgB := fmt.Sprintf("org-%04d", round%4+1), fmt.Sprintf("org-%04d", (round+1)%4+1)
		// New revisions on random items (before the drill) make their old ones eligible.
		for _, id := range h.pick(t, 40) {
			var org string
			if err := h.Pool().QueryRow(ctx, `SELECT org_id FROM work_items WHERE id = $1`, id).Scan(&org); err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddRevision(ctx, router.AddRevisionRequest{Org: org, ItemID: id, Attributes: []byte(fmt.Sprintf(`{"priority": %d, "channel": "sms"}`, round)), At: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := o.Drill(ctx, ops.DrillMissingRevisions, orgA, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Drill(ctx, ops.DrillCorruptRevisions, orgB, 8); err != nil {
			t.Fatal(err)
		}
		plan, err := o.PlanRepair(ctx, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Items) != 16 || plan.Repairable != 16 {
			t.Fatalf("round %d: plan has %d items, %d repairable, want 16 and 16", round, len(plan.Items), plan.Repairable)
		}
		var rep *ops.RepairReport
		var cres *ops.CleanupResult
		var rerr, cerr error
		var wg sync.WaitGroup
		wg.Go(func() { rep, rerr = o.ApplyRepair(ctx, plan) })
		wg.Go(func() {
			cres, cerr = o.ApplyCleanup(ctx, ops.CleanupOptions{Retention: time.Nanosecond, BatchSize: 7, Pause: -1})
		})
		wg.Wait()
		if cerr != nil {
			t.Fatalf("round %d: cleanup failed (it may refuse, but not fail): %v", round, cerr)
		}
		deleted += cres.Deleted
		if rerr != nil {
			t.Fatalf("round %d: repair failed: %v", round, rerr)
		}
		for _, p := range plan.Items {
			var oc *router.RepairOutcome
			for i := range rep.Outcomes {
				if strconv.FormatInt(rep.Outcomes[i].ItemID, 10) == p.Item {
					oc = &rep.Outcomes[i]
				}
			}
			if oc == nil {
				t.Fatalf("round %d: no outcome for item %s", round, p.Item)
			}
			var cur int64
			var same, valid bool
			err := h.Pool().QueryRow(ctx, `SELECT w.current_revision_id, coalesce(r.attributes = $2::jsonb, false),
					coalesce(routeops_attributes_valid(r.attributes), false)
				FROM work_items w LEFT JOIN work_item_revisions r ON r.org_id = w.org_id AND r.id = w.current_revision_id
				WHERE w.id = $1`, oc.ItemID, string(p.Attributes)).Scan(&cur, &same, &valid)
			if err != nil {
				t.Fatal(err)
			}
			if oc.Repaired {
				repaired++
				n := h.count(`SELECT count(*) FROM events WHERE kind = 'revision_repaired' AND work_item_id = $1
					AND (detail ->> 'new_revision_id')::bigint = $2`, oc.ItemID, oc.NewRevisionID)
				if cur != oc.NewRevisionID || !same || !valid || n != 1 {
					t.Fatalf("round %d: item %d reported repaired to %d, but points at %d (exact attributes %v, valid %v, %d events)",
						round, oc.ItemID, oc.NewRevisionID, cur, same, valid, n)
				}
			} else {
				refusedRepairs++
				if cur != p.RevisionID || oc.Reason == "" {
					t.Fatalf("round %d: item %d refused (%q) but changed: points at %d, was %d", round, oc.ItemID, oc.Reason, cur, p.RevisionID)
				}
			}
		}
		// Cleanup never removed a revision that an item points at.
		if n := h.count(`SELECT count(*) FROM work_items w WHERE w.state IN ('queued', 'assigned', 'quarantined')
				AND NOT EXISTS (SELECT 1 FROM work_item_revisions r WHERE r.org_id = w.org_id AND r.id = w.current_revision_id)`); n != 0 {
			t.Fatalf("round %d: %d live items point at a missing revision after repair and cleanup", round, n)
		}
	}
	t.Logf("repair raced cleanup 5 times: %d items repaired, %d repairs refused, %d revisions cleaned", repaired, refusedRepairs, deleted)
	if deleted == 0 {
		t.Fatal("cleanup deleted nothing: it did not race")
	}
	if n := h.count(`SELECT count(*) FROM events WHERE kind = 'revision_repaired'`); n != repaired {
		t.Fatalf("%d revision_repaired events, %d repairs", n, repaired)
	}
	h.invariants(t, total)
	h.verifyClean(t)
}
