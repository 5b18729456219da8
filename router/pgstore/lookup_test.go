package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestVerifyFindsStaleItemLookup: work_item_orgs (the id-to-org lookup,
// written when an item is inserted) goes stale if raw SQL moves an item to
// another org; verify must say so rather than let lookups by id miss it.
func TestVerifyFindsStaleItemLookup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := pgtest.NewStore(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []string{"o1", "o2"} {
		must(st.UpsertOrg(ctx, router.Org{ID: o}))
		must(st.UpsertQueue(ctx, router.Queue{OrgID: o, ID: "q"}))
	}
	it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"channel": "chat", "priority": 1}`), EnqueuedAt: time.Now()})
	must(err)
	rep, err := st.Verify(ctx, 100)
	must(err)
	if !rep.Clean() {
		t.Fatalf("fresh database not clean: %+v", rep.Findings)
	}
	if got, err := st.GetItem(ctx, it.ID); err != nil || got.OrgID != "o1" {
		t.Fatalf("GetItem(%d) = %+v, %v", it.ID, got, err)
	}

	// Raw SQL moves the item (and its revision) to o2, bypassing the
	// foreign keys the way the incident's script did.
	must(pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE work_item_revisions SET org_id = 'o2' WHERE work_item_id = $1`, it.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE work_items SET org_id = 'o2' WHERE org_id = 'o1' AND id = $1`, it.ID)
		return err
	}))
	rep, err = st.Verify(ctx, 100)
	must(err)
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		if f.ItemID == it.ID {
			kinds[f.Kind+"/"+f.OrgID]++
		}
	}
	if kinds[router.FindingLookupMismatch+"/o1"] != 1 || kinds[router.FindingLookupMismatch+"/o2"] != 1 {
		t.Fatalf("verify after moving item %d: %+v, want a lookup mismatch in o1 (stale) and o2 (missing)", it.ID, rep.Findings)
	}
}
