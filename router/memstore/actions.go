package memstore

import (
	"context"
	"fmt"

	"github.com/routeops/routeops/router"
)

func (s *Store) itemIn(org string, id int64) (*router.WorkItem, error) {
	it := s.items[id]
	if it == nil {
		return nil, router.NotFoundf("item %d does not exist", id)
	}
	if org != "" && it.OrgID != org {
		return nil, router.NotFoundf("item %d does not exist in org %s", id, org)
	}
	return it, nil
}

func (s *Store) Quarantine(ctx context.Context, req router.QuarantineRequest) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	it, err := s.itemIn(req.Org, req.ItemID)
	if err != nil {
		return router.ActionResult{}, err
	}
	switch it.State {
	case router.StateQuarantined:
		return router.ActionResult{State: it.State, Message: fmt.Sprintf("item %d is already quarantined", req.ItemID)}, nil
	case router.StateQueued:
	default:
		return router.ActionResult{State: it.State}, router.Conflictf("item %d is %s; only a queued item can be quarantined", req.ItemID, it.State)
	}
	o := s.orgs[it.OrgID]
	o.removeQueued(it)
	it.State = router.StateQuarantined
	it.QuarantineReason = req.Reason
	it.Skipped = false // only a queued item can be skipped (pgstore's CHECK work_items_skipped_is_queued)
	s.appendEvent(actorEvent(it.OrgID, router.EventQuarantined, it.ID, it.QueueID, req.Actor, req.At.UTC(),
		router.Detail("cause", router.CauseOperator, "reason", req.Reason)))
	return router.ActionResult{Changed: true, State: it.State, Message: fmt.Sprintf("item %d quarantined", req.ItemID)}, nil
}

func (s *Store) Release(ctx context.Context, req router.ReleaseRequest) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	it, err := s.itemIn(req.Org, req.ItemID)
	if err != nil {
		return router.ActionResult{}, err
	}
	switch {
	case it.State == router.StateQueued && !it.Skipped:
		return router.ActionResult{State: it.State, Message: fmt.Sprintf("item %d is already queued", req.ItemID)}, nil
	case it.State == router.StateQueued || it.State == router.StateQuarantined:
	default:
		return router.ActionResult{State: it.State}, router.Conflictf("item %d is %s; only a quarantined or skipped item can be released", req.ItemID, it.State)
	}
	detail := router.Detail("enqueued_at", it.EnqueuedAt)
	if broken, r := s.needsRepair(it); broken {
		verdict := "invalid"
		if r == nil {
			verdict = "missing"
		}
		if !req.Force {
			return router.ActionResult{State: it.State}, router.BrokenRevisionf(it.ID, it.CurrentRevisionID, verdict)
		}
		detail = router.Detail("enqueued_at", it.EnqueuedAt, "forced", true, "revision", verdict)
	}
	o := s.orgs[it.OrgID]
	it.State = router.StateQueued
	it.Skipped = false
	it.FaultCause = ""
	it.QuarantineReason = ""
	o.addQueued(it)
	s.appendEvent(actorEvent(it.OrgID, router.EventReleased, it.ID, it.QueueID, req.Actor, req.At.UTC(), detail))
	s.notify(it.OrgID)
	return router.ActionResult{Changed: true, State: it.State, Message: fmt.Sprintf("item %d released to %s", req.ItemID, it.QueueID)}, nil
}

func (s *Store) SetQueuePaused(ctx context.Context, req router.QueuePauseRequest) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return router.ActionResult{}, err
	}
	q := o.queues[req.Queue]
	if q == nil {
		return router.ActionResult{}, router.NotFoundf("queue %s/%s does not exist", req.Org, req.Queue)
	}
	word := map[bool]string{true: "paused", false: "flowing"}
	if q.q.Paused == req.Paused {
		return router.ActionResult{Message: fmt.Sprintf("queue %s/%s is already %s", req.Org, req.Queue, word[req.Paused])}, nil
	}
	q.q.Paused = req.Paused
	q.q.Pause = router.PauseInfo{}
	kind := router.EventQueueResumed
	if req.Paused {
		kind = router.EventQueuePaused
		q.q.Pause = router.PauseInfo{By: req.Actor.String(), At: timeCopy(&req.At)}
	}
	s.appendEvent(actorEvent(req.Org, kind, 0, req.Queue, req.Actor, req.At.UTC(), nil))
	if !req.Paused {
		s.notify(req.Org)
	}
	return router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s %s", req.Org, req.Queue, word[req.Paused])}, nil
}
