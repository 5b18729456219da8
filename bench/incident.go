package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/sim"
)

// incident measures what an operator does to a large fleet in an incident:
// the item selector's count and first page for each filter, bulk
// quarantine and release rates (and single quarantines to compare), and
// the impact report, on 1,000 orgs x 1,000 items (scaled), 70% of them
// assigned, the rest waiting, with a cleanup incident in 12 orgs.
func (s *scenario) incident(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(1000), s.opts.perOrg(1000)
	r.Targets = []Target{{Figure: "impact_ms", Op: "<=", Value: 2000}}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	const agents = 20
	seedAt := now()
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: agents, Capacity: max(1, per*7/10/agents),
		ItemsPerOrg: per, Seed: 1, Now: seedAt}
	seeded, _, err := s.seedStore(ctx, st, spec)
	if err != nil {
		return err
	}
	if _, _, err := s.drain(ctx, st, "assign 70%"); err != nil {
		return err
	}
	// The incident: a cleanup deleted the current revisions of 20 waiting
	// items in each of 12 orgs, and their queues stalled.
	hit := min(12, orgs)
	var broken int
	for i := 1; i <= hit; i++ {
		org := fmt.Sprintf("org-%04d", i)
		ids, err := st.DrillDeleteRevisions(ctx, router.DrillRequest{Org: org, Count: 20, Actor: actor, At: now()})
		if err != nil {
			return fmt.Errorf("incident: %w", err)
		}
		broken += len(ids)
		for _, q := range []string{"default", "billing"} {
			if _, err := st.MarkStall(ctx, router.MarkStallRequest{Org: org, Queue: q, Cause: router.CauseMissingRevision, Actor: actor, At: now()}); err != nil {
				return fmt.Errorf("incident: %w", err)
			}
		}
	}
	if err := s.vacuum(ctx, db); err != nil {
		r.Note("VACUUM failed: %v", err)
	}
	r.Set("seeded_items", seeded.Items)
	r.Set("broken_items", broken)

	if err := s.measureSelectors(ctx, st, seedAt, fmt.Sprintf("org-%04d", (orgs+1)/2)); err != nil {
		return err
	}
	t0 := time.Now()
	if err := s.measureBulk(ctx, st); err != nil {
		return err
	}
	r.Seconds = secondsSince(t0)
	return s.measureImpact(ctx, st, seedAt)
}

// timedMedian runs fn once to warm up, then runs times, and returns the
// median in milliseconds.
func timedMedian(runs int, fn func() error) (float64, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	var xs []float64
	for range max(runs, 1) {
		t := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		xs = append(xs, ms(time.Since(t)))
	}
	return median(xs), nil
}

func (s *scenario) measureSelectors(ctx context.Context, st router.Store, seedAt time.Time, mid string) error {
	r := s.res
	gold := []router.AttrMatch{{Key: "tier", Value: "gold"}}
	rare := []router.AttrMatch{{Key: "skills", Value: "refunds"}, {Key: "tier", Value: "platinum"}}
	var revision int64
	if page, err := st.SelectItems(ctx, router.ItemSelector{Org: "org-0001", RevisionHealth: router.RevisionBroken, Limit: 1}); err != nil {
		return err
	} else if len(page) > 0 {
		revision = page[0].CurrentRevisionID
	}
	some, err := st.SelectItems(ctx, router.ItemSelector{State: router.StateQueued, Limit: 100})
	if err != nil {
		return err
	}
	cases := []struct {
		name string
		sel  router.ItemSelector
	}{
		{"all", router.ItemSelector{}},
		{"org", router.ItemSelector{Org: mid}},
		{"org_queue", router.ItemSelector{Org: mid, Queue: "default"}},
		{"queued", router.ItemSelector{State: router.StateQueued}},
		{"queued_org", router.ItemSelector{Org: mid, State: router.StateQueued}},
		{"waited_over_5m", router.ItemSelector{State: router.StateQueued, WaitedOver: 5 * time.Minute, Now: seedAt}},
		{"attr_gold_waiting", router.ItemSelector{Attrs: gold, Scope: router.ScopeQuarantine}},
		{"attr_rare_waiting", router.ItemSelector{Attrs: rare, Scope: router.ScopeQuarantine}},
		{"attr_gold_org", router.ItemSelector{Org: mid, Attrs: gold}},
		{"attr_gold_any_state", router.ItemSelector{Attrs: gold}},
		{"broken", router.ItemSelector{RevisionHealth: router.RevisionBroken, Scope: router.ScopeLive}},
		{"revision", router.ItemSelector{Revision: revision}},
		{"ids_100", router.ItemSelector{IDs: router.ItemIDs(some)}},
	}
	for _, c := range cases {
		var n int
		countMS, err := timedMedian(3, func() error {
			cs, err := st.CountSelected(ctx, c.sel)
			n = 0
			for _, x := range cs {
				n += x.N
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("selector %s: %w", c.name, err)
		}
		page := c.sel
		page.Limit = 100
		pageMS, err := timedMedian(3, func() error { _, err := st.SelectItems(ctx, page); return err })
		if err != nil {
			return fmt.Errorf("selector %s: %w", c.name, err)
		}
		r.Set("selector_"+c.name+"_matched", n)
		r.Set("selector_"+c.name+"_count_ms", countMS)
		r.Set("selector_"+c.name+"_page_ms", pageMS)
	}
	r.Note("selector_*: CountSelected (count_ms) and the first page of 100 (page_ms), median of 3 after a warm-up")
	return nil
}

// measureBulk times bulk quarantine and release of up to 5,000 waiting
// items in batches of 500, and single quarantines for comparison.
func (s *scenario) measureBulk(ctx context.Context, st router.Store) error {
	r := s.res
	n := s.opts.scaled(5000, 10)
	sel := router.ItemSelector{Scope: router.ScopeQuarantine, Limit: n}
	items, err := st.SelectItems(ctx, sel)
	if err != nil {
		return err
	}
	planned := router.ItemIDs(items)
	const batch = 500
	run := func(op string, quarantine bool) (float64, error) {
		t := time.Now()
		changed := 0
		for start := 0; start < len(planned); start += batch {
			req := router.BatchRequest{OperationID: op, Items: planned[start:min(start+batch, len(planned))],
				Selector: router.ItemSelector{}, Reason: "bench", Actor: actor, At: now()}
			var res router.BatchResult
			var err error
			if quarantine {
				res, err = st.BulkQuarantine(ctx, req)
			} else {
				res, err = st.BulkRelease(ctx, req)
			}
			if err != nil {
				return 0, err
			}
			changed += len(res.Changed)
		}
		if changed != len(planned) {
			return 0, fmt.Errorf("%s changed %d of %d", op, changed, len(planned))
		}
		return float64(changed) / secondsSince(t), nil
	}
	qRate, err := run("bench-quarantine", true)
	if err != nil {
		return err
	}
	rRate, err := run("bench-release", false)
	if err != nil {
		return err
	}
	// Single quarantines, one transaction each, for comparison.
	singles := planned[:min(len(planned), s.opts.scaled(1000, 5))]
	t := time.Now()
	for _, id := range singles {
		if _, err := st.Quarantine(ctx, router.QuarantineRequest{ItemID: id, Reason: "bench", Actor: actor, At: now()}); err != nil {
			return err
		}
	}
	sRate := float64(len(singles)) / secondsSince(t)
	r.Items = len(planned)
	r.Set("bulk_items", len(planned))
	r.Set("bulk_quarantine_per_second", qRate)
	r.Set("bulk_release_per_second", rRate)
	r.Set("single_quarantine_per_second", sRate)
	r.Set("bulk_vs_single", qRate/sRate)
	r.Note("bulk_*: BulkQuarantine then BulkRelease of %d waiting items in batches of %d, one operation each; single_*: %d Quarantine calls",
		len(planned), batch, len(singles))
	return nil
}

func (s *scenario) measureImpact(ctx context.Context, st router.Store, seedAt time.Time) error {
	r := s.res
	until := now()
	req := router.ImpactRequest{Since: seedAt.Add(-15 * time.Minute), Until: until, SLA: 5 * time.Minute, ListItems: 20}
	var rep *router.ImpactData
	impactMS, err := timedMedian(3, func() error {
		var err error
		rep, err = st.Impact(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	one := req
	one.Org = "org-0001"
	orgMS, err := timedMedian(3, func() error { _, err := st.Impact(ctx, one); return err })
	if err != nil {
		return err
	}
	seriesMS, err := timedMedian(3, func() error {
		_, err := st.WaitSeries(ctx, router.SeriesRequest{Org: "org-0001", From: until.Add(-30 * time.Minute), To: until, Points: 30})
		return err
	})
	if err != nil {
		return err
	}
	affected := slices.IndexFunc(rep.Orgs, func(o router.ImpactOrg) bool { return o.OverSLA > 0 }) >= 0
	r.Set("impact_ms", impactMS)
	fleet := rep.FleetStats()
	r.Set("impact_items", fleet.Items)
	r.Set("impact_over_sla", fleet.OverSLA)
	r.Set("impact_any_org_affected", affected)
	r.Set("impact_org_ms", orgMS)
	r.Set("wait_series_ms", seriesMS)
	r.Note("impact_ms: Store.Impact over every item enqueued in the last 15 minutes, every org, median of 3; impact_org_ms: one org; wait_series_ms: one org's queues, 30 points over 30 minutes")
	return nil
}
