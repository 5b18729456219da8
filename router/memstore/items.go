package memstore

import (
	"bytes"
	"context"
	"slices"
	"sort"

	"github.com/routeops/routeops/router"
)

func (s *Store) GetItem(ctx context.Context, id int64) (router.WorkItem, error) {
	if err := s.lock(ctx); err != nil {
		return router.WorkItem{}, err
	}
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return router.WorkItem{}, router.NotFoundf("item %d does not exist", id)
	}
	return cloneItem(it), nil
}

func (s *Store) ListItems(ctx context.Context, f router.ItemFilter) ([]router.WorkItem, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []router.WorkItem
	for _, it := range s.items {
		if it.ID <= f.AfterID || (f.Org != "" && it.OrgID != f.Org) || (f.Queue != "" && it.QueueID != f.Queue) ||
			(f.State != "" && it.State != f.State) {
			continue
		}
		c := cloneItem(it)
		c.JournalAttributes = nil // lists leave the journal copy out, as pgstore's do
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) ItemRevisions(ctx context.Context, org string, item int64) ([]router.Revision, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	it := s.items[item]
	if it == nil || it.OrgID != org {
		return nil, router.NotFoundf("item %d does not exist in org %s", item, org)
	}
	var out []router.Revision
	for _, rid := range s.itemRevs[item] {
		if r := s.revisions[rid]; r != nil {
			out = append(out, cloneRevision(r))
		}
	}
	return out, nil
}

func (s *Store) Events(ctx context.Context, f router.EventFilter) ([]router.Event, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	match := func(e *router.Event) bool {
		if e.ID <= f.AfterID || (f.Org != "" && e.OrgID != f.Org) || (f.ItemID != 0 && e.WorkItemID != f.ItemID) ||
			(f.OperationID != "" && e.OperationID != f.OperationID) {
			return false
		}
		if !f.Since.IsZero() && e.At.Before(f.Since) {
			return false
		}
		if !f.Until.IsZero() && !e.At.Before(f.Until) {
			return false
		}
		if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind) {
			return false
		}
		return true
	}
	var out []router.Event
	for i := range s.events {
		if match(&s.events[i]) {
			e := s.events[i]
			e.Detail = bytes.Clone(e.Detail)
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	if f.Limit > 0 && len(out) > f.Limit {
		if f.NewestOf {
			out = out[len(out)-f.Limit:]
		} else {
			out = out[:f.Limit]
		}
	}
	return out, nil
}
