package memstore

import (
	"context"
	"slices"

	"github.com/routeops/routeops/router"
)

func (s *Store) drillTargets(org string, count int) ([]*router.WorkItem, error) {
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	var all []*router.WorkItem
	for _, q := range o.sortedQueues() {
		all = append(all, s.ordered(o, q.q.ID, false)...)
	}
	// Prefer heads: take the first item of each queue round-robin, which
	// is what a cleanup deleting "old" revisions hit in the incident.
	var out []*router.WorkItem
	for _, it := range all {
		if len(out) >= count {
			break
		}
		if r := s.revisions[it.CurrentRevisionID]; r != nil {
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *Store) DrillDeleteRevisions(ctx context.Context, req router.DrillRequest) ([]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	targets, err := s.drillTargets(req.Org, req.Count)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(targets))
	for _, it := range targets {
		rid := it.CurrentRevisionID
		delete(s.revisions, rid)
		s.itemRevs[it.ID] = slices.DeleteFunc(slices.Clone(s.itemRevs[it.ID]), func(x int64) bool { return x == rid })
		ids = append(ids, it.ID)
	}
	s.appendEvent(actorEvent(req.Org, router.EventDrillInjected, 0, "", req.Actor, req.At.UTC(),
		router.Detail("drill", "missing-revisions", "items", ids)))
	s.notify(req.Org)
	return ids, nil
}

func (s *Store) DrillCorruptRevisions(ctx context.Context, req router.DrillRequest) ([]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	targets, err := s.drillTargets(req.Org, req.Count)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(targets))
	for i, it := range targets {
		r := s.revisions[it.CurrentRevisionID]
		r.Attributes = router.CorruptAttributes(i)
		ids = append(ids, it.ID)
	}
	s.appendEvent(actorEvent(req.Org, router.EventDrillInjected, 0, "", req.Actor, req.At.UTC(),
		router.Detail("drill", "corrupt-revisions", "items", ids)))
	s.notify(req.Org)
	return ids, nil
}
