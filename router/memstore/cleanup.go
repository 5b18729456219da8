package memstore

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

// eligible lists the revisions cleanup may delete, in id order.
func (s *Store) eligible(olderThan time.Time) (ids []int64, stats router.CleanupStats) {
	referenced := map[int64]bool{}
	for _, it := range s.items {
		referenced[it.CurrentRevisionID] = true
	}
	stats.ByOrg = map[string]int{}
	stats.Total = len(s.revisions)
	for id, r := range s.revisions {
		if !r.CreatedAt.Before(olderThan) {
			continue
		}
		if referenced[id] {
			stats.Referenced++
			continue
		}
		revs := s.itemRevs[r.WorkItemID]
		newest := int64(0)
		for _, x := range revs {
			if _, ok := s.revisions[x]; ok && x > newest {
				newest = x
			}
		}
		if newest == id {
			stats.Newest++
			continue
		}
		stats.Eligible++
		stats.ByOrg[r.OrgID]++
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, stats
}

func (s *Store) CleanupPlan(ctx context.Context, olderThan time.Time) (router.CleanupStats, error) {
	if err := s.lock(ctx); err != nil {
		return router.CleanupStats{}, err
	}
	defer s.mu.Unlock()
	_, st := s.eligible(olderThan)
	return st, nil
}

func (s *Store) CleanupBatch(ctx context.Context, req router.CleanupBatchRequest) (router.CleanupBatchResult, error) {
	var res router.CleanupBatchResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	limit := req.Limit
	if limit <= 0 {
		limit = 1000
	}
	var examined []int64
	for id, r := range s.revisions {
		if id > req.After && r.CreatedAt.Before(req.OlderThan) {
			examined = append(examined, id)
		}
	}
	slices.Sort(examined)
	if len(examined) > limit {
		examined = examined[:limit]
	} else {
		res.Done = true
	}
	res.Examined = len(examined)
	res.Next = req.After
	if len(examined) > 0 {
		res.Next = examined[len(examined)-1]
	}
	ids, _ := s.eligible(req.OlderThan)
	eligible := make(map[int64]bool, len(ids))
	for _, id := range ids {
		eligible[id] = true
	}
	perOrg := map[string]int{}
	for _, id := range examined {
		if !eligible[id] {
			continue
		}
		r := s.revisions[id]
		delete(s.revisions, id)
		s.itemRevs[r.WorkItemID] = slices.DeleteFunc(slices.Clone(s.itemRevs[r.WorkItemID]), func(x int64) bool { return x == id })
		perOrg[r.OrgID]++
		res.Deleted++
	}
	orgs := make([]string, 0, len(perOrg))
	for o := range perOrg {
		orgs = append(orgs, o)
	}
	sort.Strings(orgs)
	for _, o := range orgs {
		s.appendEvent(actorEvent(o, router.EventRevisionsCleaned, 0, "", req.Actor, req.At.UTC(),
			router.Detail("deleted", perOrg[o], "older_than", req.OlderThan.UTC())))
	}
	return res, nil
}
