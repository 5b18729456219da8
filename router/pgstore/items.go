package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

func (s *Store) GetItem(ctx context.Context, id int64) (router.WorkItem, error) {
	// work_item_orgs maps an id to its org, so that the lookup is the
	// primary key of work_items (see migration 007).
	it, err := scanItemJournal(s.rd(ctx).QueryRow(ctx, `SELECT `+itemCols+`, `+itemJournalColsAs("")+` FROM work_items
		WHERE org_id = (SELECT org_id FROM work_item_orgs WHERE id = $1) AND id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return it, router.NotFoundf("item %d does not exist", id)
	}
	return it, s.wrap(err)
}

func (s *Store) ListItems(ctx context.Context, f router.ItemFilter) ([]router.WorkItem, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	// With an org, the primary key (org_id, id) pages in id order. Without
	// one, work_item_orgs does (its primary key is id), and each row is
	// fetched by the primary key of work_items.
	from := `work_items w`
	where := []string{"w.id > $1"}
	order := "w.id"
	args := []any{f.AfterID}
	if f.Org != "" {
		args = append(args, f.Org)
		where = append(where, fmt.Sprintf("w.org_id = $%d", len(args)))
	} else {
		from = `work_item_orgs o JOIN work_items w ON w.org_id = o.org_id AND w.id = o.id`
		where[0], order = "o.id > $1", "o.id"
	}
	if f.Queue != "" {
		args = append(args, f.Queue)
		where = append(where, fmt.Sprintf("w.queue_id = $%d", len(args)))
	}
	if f.State != "" {
		args = append(args, string(f.State))
		where = append(where, fmt.Sprintf("w.state = $%d", len(args)))
	}
	args = append(args, limit)
	rows, err := s.rd(ctx).Query(ctx, `SELECT `+itemColsAs("w")+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(args)), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.WorkItem, error) { return scanItem(r) })
	return out, s.wrap(err)
}

func (s *Store) ItemRevisions(ctx context.Context, org string, item int64) ([]router.Revision, error) {
	var ok bool
	if err := s.rd(ctx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM work_items WHERE org_id = $1 AND id = $2)`, org, item).Scan(&ok); err != nil {
		return nil, s.wrap(err)
	}
	if !ok {
		return nil, router.NotFoundf("item %d does not exist in org %s", item, org)
	}
	rows, err := s.rd(ctx).Query(ctx, `SELECT `+revCols+` FROM work_item_revisions r WHERE r.org_id = $1 AND r.work_item_id = $2 ORDER BY r.id`, org, item)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Revision, error) { return scanRevision(r) })
	return out, s.wrap(err)
}

func (s *Store) Events(ctx context.Context, f router.EventFilter) ([]router.Event, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.AfterID > 0 {
		add("id > $%d", f.AfterID)
	}
	if f.Org != "" {
		add("org_id = $%d", f.Org)
	}
	if f.ItemID != 0 {
		add("work_item_id = $%d", f.ItemID)
	}
	if f.OperationID != "" {
		add("operation_id = $%d", f.OperationID)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until.UTC())
	}
	if len(f.Kinds) > 0 {
		add("kind = ANY($%d)", f.Kinds)
		if !slices.Contains(f.Kinds, router.EventAssigned) && !slices.Contains(f.Kinds, router.EventCompleted) {
			// Stated literally so the planner can use the events_incident
			// partial index (it cannot prove it from the array parameter).
			where = append(where, "kind NOT IN ('assigned', 'completed')")
		}
	}
	q := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Limit > 0 && f.NewestOf {
		args = append(args, f.Limit)
		q = `SELECT * FROM (` + q + fmt.Sprintf(` ORDER BY at DESC, id DESC LIMIT $%d) e ORDER BY 3, 2`, len(args))
	} else {
		q += ` ORDER BY at, id`
		if f.Limit > 0 {
			args = append(args, f.Limit)
			q += fmt.Sprintf(` LIMIT $%d`, len(args))
		}
	}
	rows, err := s.rd(ctx).Query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (router.Event, error) { return scanEvent(r) })
	return out, s.wrap(err)
}
