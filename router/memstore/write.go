package memstore

import (
	"bytes"
	"context"

	"fmt"

	"github.com/routeops/routeops/router"
)

func (s *Store) Enqueue(ctx context.Context, req router.EnqueueRequest) (router.WorkItem, error) {
	if err := s.lock(ctx); err != nil {
		return router.WorkItem{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.OrgID)
	if err != nil {
		return router.WorkItem{}, err
	}
	if _, ok := o.queues[req.QueueID]; !ok {
		return router.WorkItem{}, router.NotFoundf("queue %s/%s does not exist", req.OrgID, req.QueueID)
	}
	if err := checkAttributes(req.Attributes); err != nil {
		return router.WorkItem{}, err
	}
	at := req.EnqueuedAt.UTC()
	s.nextItem++
	it := &router.WorkItem{OrgID: req.OrgID, ID: s.nextItem, QueueID: req.QueueID, State: router.StateQueued,
		EnqueuedAt: at}
	rev := s.newRevision(req.OrgID, it.ID, req.Attributes, at, "platform")
	it.CurrentRevisionID = rev.ID
	it.Priority = router.PriorityOf(req.Attributes)
	it.JournalRevisionID = rev.ID
	it.JournalAttributes = bytes.Clone(req.Attributes)
	it.JournalVerified = true
	s.items[it.ID] = it
	o.addQueued(it)
	s.notify(req.OrgID)
	return cloneItem(it), nil
}

func (s *Store) AddRevision(ctx context.Context, req router.AddRevisionRequest) (router.Revision, error) {
	if err := s.lock(ctx); err != nil {
		return router.Revision{}, err
	}
	defer s.mu.Unlock()
	it := s.items[req.ItemID]
	if it == nil || it.OrgID != req.Org {
		return router.Revision{}, router.NotFoundf("item %d does not exist in org %s", req.ItemID, req.Org)
	}
	if err := checkAttributes(req.Attributes); err != nil {
		return router.Revision{}, err
	}
	rev := s.newRevision(req.Org, req.ItemID, req.Attributes, req.At, "platform")
	it.CurrentRevisionID = rev.ID
	it.Priority = router.PriorityOf(req.Attributes)
	it.JournalRevisionID = rev.ID
	it.JournalAttributes = bytes.Clone(req.Attributes)
	it.JournalVerified = true
	if it.State == router.StateQueued {
		s.notify(req.Org)
	}
	return cloneRevision(rev), nil
}

func (s *Store) Complete(ctx context.Context, req router.CompleteRequest) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	it := s.items[req.ItemID]
	if it == nil || it.OrgID != req.Org {
		return router.NotFoundf("item %d does not exist in org %s", req.ItemID, req.Org)
	}
	if it.State != router.StateAssigned {
		return router.Conflictf("item %d is %s; only an assigned item can be completed", req.ItemID, it.State)
	}
	o := s.orgs[req.Org]
	if a := o.agents[it.AgentID]; a != nil && a.Load > 0 {
		a.Load--
	}
	t := req.At.UTC()
	it.State = router.StateCompleted
	it.CompletedAt = &t
	s.notify(req.Org)
	return nil
}

func (s *Store) BulkLoad(ctx context.Context, data *router.BulkData) (router.BulkResult, error) {
	var res router.BulkResult
	for _, o := range data.Orgs {
		if err := s.UpsertOrg(ctx, o); err != nil {
			return res, err
		}
	}
	for _, q := range data.Queues {
		if err := s.UpsertQueue(ctx, q); err != nil {
			return res, err
		}
	}
	for _, t := range data.Teams {
		if err := s.UpsertTeam(ctx, t); err != nil {
			return res, err
		}
	}
	for _, a := range data.Agents {
		if err := s.UpsertAgent(ctx, a); err != nil {
			return res, err
		}
	}
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	for i := range data.Items {
		bi := &data.Items[i]
		o, err := s.org(bi.OrgID)
		if err != nil {
			return res, err
		}
		if len(bi.Revisions) == 0 {
			return res, fmt.Errorf("bulk item %d has no revisions", i)
		}
		for _, br := range bi.Revisions {
			if err := checkAttributes(br.Attributes); err != nil {
				return res, fmt.Errorf("bulk item %d: %w", i, err)
			}
		}
		st := bi.State
		if st == "" {
			st = router.StateQueued
		}
		if st != router.StateQueued && st != router.StateCancelled {
			return res, fmt.Errorf("bulk item %d: state %s cannot be loaded", i, st)
		}
		s.nextItem++
		it := &router.WorkItem{OrgID: bi.OrgID, ID: s.nextItem, QueueID: bi.QueueID, State: st,
			EnqueuedAt: bi.EnqueuedAt.UTC()}
		var last *router.Revision
		for _, br := range bi.Revisions {
			last = s.newRevision(bi.OrgID, it.ID, br.Attributes, br.CreatedAt, "seed")
			res.Revisions++
		}
		it.CurrentRevisionID = last.ID
		it.Priority = router.PriorityOf(last.Attributes)
		it.JournalRevisionID = last.ID
		it.JournalAttributes = bytes.Clone(last.Attributes)
		it.JournalVerified = true
		s.items[it.ID] = it
		if st == router.StateQueued {
			o.addQueued(it)
		}
		if res.FirstItemID == 0 {
			res.FirstItemID = it.ID
		}
		res.LastItemID = it.ID
		res.Items++
	}
	for _, o := range data.Orgs {
		s.notify(o.ID)
	}
	return res, nil
}
