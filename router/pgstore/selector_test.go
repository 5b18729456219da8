package pgstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/sim"
)

// TestSelectorStaleJournal: the selector reads the current revision for
// items whose journal copy is not of it (a writer pointed the item at a
// revision the journal trigger could not see), whether they are listed by
// key or looked for by the index of stale journals; and a bulk action
// re-checks them the same way.
func TestSelectorStaleJournal(t *testing.T) {
	st := pgtest.NewStore(t)
	ctx := context.Background()
	pool := st.Pool()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertOrg(ctx, router.Org{ID: "o"}))
	must(st.UpsertQueue(ctx, router.Queue{OrgID: "o", ID: "q"}))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i := range 6 {
		it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o", QueueID: "q", EnqueuedAt: at.Add(time.Duration(i) * time.Second),
			Attributes: []byte(`{"tier": "gold", "channel": "chat", "priority": 5}`)})
		must(err)
		ids = append(ids, it.ID)
	}
	// Items 0 and 1: the journal still says gold, the current revision (a
	// new one written behind routeops's back) says silver; item 2: the
	// journal was lost, the revision says gold.
	var newRev int64
	must(pool.QueryRow(ctx, `INSERT INTO work_item_revisions (org_id, work_item_id, attributes)
		VALUES ('o', $1, '{"tier": "silver", "channel": "chat", "priority": 5}') RETURNING id`, ids[0]).Scan(&newRev))
	_, err := pool.Exec(ctx, `UPDATE work_items SET current_revision_id = $2 WHERE org_id = 'o' AND id = $1`, ids[0], newRev)
	must(err)
	var newRev1 int64
	must(pool.QueryRow(ctx, `INSERT INTO work_item_revisions (org_id, work_item_id, attributes)
		VALUES ('o', $1, '{"tier": "silver", "channel": "chat", "priority": 5}') RETURNING id`, ids[1]).Scan(&newRev1))
	for _, sql := range []string{`ALTER TABLE work_items DISABLE TRIGGER work_items_journal_update`,
		`UPDATE work_items SET current_revision_id = ` + fmtID(newRev1) + ` WHERE org_id = 'o' AND id = ` + fmtID(ids[1]),
		`UPDATE work_items SET journal_revision_id = NULL, journal_attributes = NULL WHERE org_id = 'o' AND id = ` + fmtID(ids[2]),
		`ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_journal_update`} {
		_, err = pool.Exec(ctx, sql)
		must(err)
	}
	var stale int
	must(pool.QueryRow(ctx, `SELECT count(*) FROM work_items WHERE journal_revision_id IS DISTINCT FROM current_revision_id`).Scan(&stale))
	if stale != 2 {
		t.Fatalf("%d stale journals, want 2 (item 0's journal followed its new revision)", stale)
	}
	old1, err := st.GetItem(ctx, ids[1])
	must(err)

	check := func(name string, sel router.ItemSelector, want []int64) {
		t.Helper()
		sel.Limit = 100
		got, err := st.SelectItems(ctx, sel)
		must(err)
		var gotIDs []int64
		for _, it := range got {
			gotIDs = append(gotIDs, it.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("%s: SelectItems = %v, want %v", name, gotIDs, want)
		}
		cs, err := st.CountSelected(ctx, sel)
		must(err)
		n := 0
		for _, c := range cs {
			n += c.N
		}
		if n != len(want) {
			t.Errorf("%s: CountSelected = %d, want %d", name, n, len(want))
		}
	}
	gold := []router.AttrMatch{{Key: "tier", Value: "gold"}}
	silver := []router.AttrMatch{{Key: "tier", Value: "silver"}}
	check("gold", router.ItemSelector{Attrs: gold}, []int64{ids[2], ids[3], ids[4], ids[5]})
	check("silver", router.ItemSelector{Attrs: silver, State: router.StateQueued}, []int64{ids[0], ids[1]})
	check("silver in org", router.ItemSelector{Org: "o", Attrs: silver}, []int64{ids[0], ids[1]})
	check("stale journal's revision", router.ItemSelector{Revision: old1.JournalRevisionID}, []int64{ids[1]})
	check("current revision", router.ItemSelector{Org: "o", Revision: newRev1}, []int64{ids[1]})

	res, err := st.BulkQuarantine(ctx, router.BatchRequest{OperationID: "op-s", Items: ids, Selector: router.ItemSelector{Attrs: silver},
		Reason: "silver", Actor: router.Actor{Name: "t"}, At: at.Add(time.Minute)})
	must(err)
	if len(res.Changed) != 2 || res.Changed[0].ID != ids[0] || res.Changed[1].ID != ids[1] || len(res.Skipped) != 4 {
		t.Fatalf("bulk quarantine of silver: changed %+v skipped %v", res.Changed, res.Skipped)
	}
}

func fmtID(id int64) string { return router.FormatItemID(id) }

// TestSelectorPagesAcrossWindows: a page without an org is looked for in
// windows of the next ids, then in the rest; walking a selection page by
// page gives every match once, in id order, whether matches are dense
// (one window fills a page), sparse (the windows come up short) or none.
func TestSelectorPagesAcrossWindows(t *testing.T) {
	st := pgtest.NewStore(t)
	ctx := context.Background()
	pool := st.Pool()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := sim.Seed(ctx, st, sim.SeedSpec{Orgs: 3, QueuesPerOrg: 2, AgentsPerOrg: 2, Capacity: 1, ItemsPerOrg: 4000, Seed: 3, Now: at}); err != nil {
		t.Fatal(err)
	}
	// Sparse: every 997th item quarantined.
	if _, err := pool.Exec(ctx, `UPDATE work_items SET state = 'quarantined', quarantine_reason = 'x' WHERE id % 997 = 0 AND state = 'queued'`); err != nil {
		t.Fatal(err)
	}
	want := func(where string) []int64 {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id FROM work_items WHERE `+where+` ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	walk := func(sel router.ItemSelector, limit int) []int64 {
		t.Helper()
		var got []int64
		sel.Limit = limit
		for range 1000 {
			page, err := st.SelectItems(ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page {
				got = append(got, it.ID)
			}
			if len(page) < limit {
				return got
			}
			sel.After = page[len(page)-1].ID
		}
		t.Fatal("no end")
		return nil
	}
	for _, c := range []struct {
		name  string
		sel   router.ItemSelector
		where string
		limit int
	}{
		{"sparse", router.ItemSelector{State: router.StateQuarantined}, "state = 'quarantined'", 5},
		{"sparse, pages larger than the matches", router.ItemSelector{State: router.StateQuarantined}, "state = 'quarantined'", 100},
		{"dense", router.ItemSelector{State: router.StateQueued}, "state = 'queued'", 500},
		{"none", router.ItemSelector{State: router.StateCancelled}, "state = 'cancelled'", 50},
		{"every item", router.ItemSelector{}, "true", 3000},
	} {
		w := want(c.where)
		if c.name != "none" && len(w) == 0 {
			t.Fatalf("%s: nothing to find", c.name)
		}
		if got := walk(c.sel, c.limit); !slices.Equal(got, w) {
			t.Errorf("%s: walked %d items, want %d (first %v / %v)", c.name, len(got), len(w), got[:min(3, len(got))], w[:min(3, len(w))])
		}
	}
}
