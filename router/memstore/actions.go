package memstore

import (
	"context"
	"fmt"
	"time"

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

func (s *Store) Quarantine(ctx context.Context, org string, item int64, reason string, actor router.Actor, at time.Time) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	it, err := s.itemIn(org, item)
	if err != nil {
		return router.ActionResult{}, err
	}
	switch it.State {
	case router.StateQuarantined:
		return router.ActionResult{State: it.State, Message: fmt.Sprintf("item %d is already quarantined", item)}, nil
	case router.StateQueued:
	default:
		return router.ActionResult{State: it.State}, router.Conflictf("item %d is %s; only a queued item can be quarantined", item, it.State)
	}
	o := s.orgs[it.OrgID]
	o.removeQueued(it)
	it.State = router.StateQuarantined
	it.QuarantineReason = reason
	it.Skipped = false // only a queued item can be skipped (pgstore's CHECK work_items_skipped_is_queued)
	s.appendEvent(actorEvent(it.OrgID, router.EventQuarantined, it.ID, it.QueueID, actor, at.UTC(),
		router.Detail("cause", router.CauseOperator, "reason", reason)))
	return router.ActionResult{Changed: true, State: it.State, Message: fmt.Sprintf("item %d quarantined", item)}, nil
}

func (s *Store) Release(ctx context.Context, org string, item int64, actor router.Actor, at time.Time) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	it, err := s.itemIn(org, item)
	if err != nil {
		return router.ActionResult{}, err
	}
	switch {
	case it.State == router.StateQueued && !it.Skipped:
		return router.ActionResult{State: it.State, Message: fmt.Sprintf("item %d is already queued", item)}, nil
	case it.State == router.StateQueued || it.State == router.StateQuarantined:
	default:
		return router.ActionResult{State: it.State}, router.Conflictf("item %d is %s; only a quarantined or skipped item can be released", item, it.State)
	}
	o := s.orgs[it.OrgID]
	it.State = router.StateQueued
	it.Skipped = false
	it.FaultCause = ""
	it.QuarantineReason = ""
	o.addQueued(it)
	s.appendEvent(actorEvent(it.OrgID, router.EventReleased, it.ID, it.QueueID, actor, at.UTC(),
		router.Detail("enqueued_at", it.EnqueuedAt)))
	s.notify(it.OrgID)
	return router.ActionResult{Changed: true, State: it.State, Message: fmt.Sprintf("item %d released to %s", item, it.QueueID)}, nil
}

func (s *Store) SetQueuePaused(ctx context.Context, org, queue string, paused bool, actor router.Actor, at time.Time) (router.ActionResult, error) {
	if err := s.lock(ctx); err != nil {
		return router.ActionResult{}, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return router.ActionResult{}, err
	}
	q := o.queues[queue]
	if q == nil {
		return router.ActionResult{}, router.NotFoundf("queue %s/%s does not exist", org, queue)
	}
	word := map[bool]string{true: "paused", false: "flowing"}
	if q.q.Paused == paused {
		return router.ActionResult{Message: fmt.Sprintf("queue %s/%s is already %s", org, queue, word[paused])}, nil
	}
	q.q.Paused = paused
	kind := router.EventQueueResumed
	if paused {
		kind = router.EventQueuePaused
	}
	s.appendEvent(actorEvent(org, kind, 0, queue, actor, at.UTC(), nil))
	if !paused {
		s.notify(org)
	}
	return router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s %s", org, queue, word[paused])}, nil
}
