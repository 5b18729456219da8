package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/storetest"
)

// orphanStore adds the suite's OrphanMaker: the schema's foreign key keeps
// routeops's own writers from naming an unknown queue, so an orphan is made
// the way legacy data gets one, with raw SQL under
// session_replication_role = replica.
type orphanStore struct{ *pgstore.Store }

func (s orphanStore) MakeOrphan(ctx context.Context, org, queue string, attrs []byte, at time.Time) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `WITH ids AS (SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev),
			r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at)
			      SELECT $1, rev, item, $3::jsonb, $4 FROM ids RETURNING id, work_item_id, attributes)
			INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at, journal_revision_id, journal_attributes)
			SELECT $1, r.work_item_id, $2, r.id, coalesce((r.attributes->>'priority')::smallint, 0), $4, r.id, r.attributes FROM r
			RETURNING id`, org, queue, string(attrs), at.UTC()).Scan(&id)
	})
	return id, err
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) router.Store { return orphanStore{pgtest.NewStore(t)} })
}
