package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

func (s *Store) ListOrgs(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.orgs))
	for id := range s.orgs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) RoutableOrgs(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []string
	for id, o := range s.orgs {
		if !o.hasFreeAgent() {
			continue
		}
		has := false
		for _, m := range o.queued {
			for iid := range m {
				if !s.items[iid].Skipped {
					has = true
					break
				}
			}
			if has {
				break
			}
		}
		if has {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (o *orgData) hasFreeAgent() bool {
	for _, a := range o.agents {
		if a.Status == router.AgentAvailable && a.Load < a.Capacity {
			return true
		}
	}
	return false
}

// ordered returns the ids of queued items of one queue id in routing
// order, skipped ones excluded unless withSkipped.
func (s *Store) ordered(o *orgData, queue string, withSkipped bool) []*router.WorkItem {
	m := o.queued[queue]
	out := make([]*router.WorkItem, 0, len(m))
	for id := range m {
		it := s.items[id]
		if it.Skipped && !withSkipped {
			continue
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return lessItem(out[i], out[j]) })
	return out
}

func lessItem(a, b *router.WorkItem) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.EnqueuedAt.Equal(b.EnqueuedAt) {
		return a.EnqueuedAt.Before(b.EnqueuedAt)
	}
	return a.ID < b.ID
}

func (o *orgData) sortedQueues() []*queueData {
	qs := make([]*queueData, 0, len(o.queues))
	for _, q := range o.queues {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].q.Priority != qs[j].q.Priority {
			return qs[i].q.Priority > qs[j].q.Priority
		}
		return qs[i].q.ID < qs[j].q.ID
	})
	return qs
}

func (s *Store) RouteOrg(ctx context.Context, req router.RouteRequest, decide router.DecideFunc) (router.RouteResult, error) {
	var res router.RouteResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return res, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	b := &router.Batch{Org: req.Org, Queues: map[string]router.Queue{}, Teams: map[string]router.Team{}}
	for id, q := range o.queues {
		b.Queues[id] = q.q
	}
	for id, t := range o.teams {
		b.Teams[id] = *t
	}
	for _, a := range o.agents {
		if a.Status != router.AgentAvailable || a.Load >= a.Capacity {
			continue
		}
		ac := *a
		ac.Skills = slices.Clone(a.Skills)
		if t := o.teams[a.TeamID]; t != nil {
			ac.TeamStatus = t.Status
		} else {
			ac.TeamStatus = router.TeamPaused
		}
		res.FreeCapacity += ac.Free()
		b.Agents = append(b.Agents, ac)
	}
	sort.Slice(b.Agents, func(i, j int) bool { return b.Agents[i].ID < b.Agents[j].ID })
	for _, q := range o.sortedQueues() {
		if q.q.Paused {
			continue
		}
		items := s.ordered(o, q.q.ID, false)
		if cur, ok := req.Cursors[q.q.ID]; ok {
			after := items[:0:0]
			for _, it := range items {
				if cur.After(it) {
					after = append(after, it)
				}
			}
			items = after
		}
		if len(items) >= limit {
			items = items[:limit]
			res.QueuesFull++
		}
		for _, it := range items {
			b.Items = append(b.Items, s.claimed(it))
		}
	}
	if req.IncludeOrphans {
		var orphanQueues []string
		for qid := range o.queued {
			if _, ok := o.queues[qid]; !ok {
				orphanQueues = append(orphanQueues, qid)
			}
		}
		sort.Strings(orphanQueues)
		for _, qid := range orphanQueues {
			items := s.ordered(o, qid, false)
			if len(items) > limit {
				items = items[:limit]
			}
			for _, it := range items {
				b.Items = append(b.Items, s.claimed(it))
			}
		}
	}
	res.Claimed = len(b.Items)
	if len(b.Items) == 0 {
		return res, nil
	}
	decisions := decide(b)
	res.Queues = router.ClaimSummary(b, decisions, limit)

	// Validate every decision before changing anything, so that the
	// transaction is all or nothing.
	claimed := make(map[int64]bool, len(b.Items))
	for _, ci := range b.Items {
		claimed[ci.Item.ID] = true
	}
	loads := map[string]int{}
	seen := map[int64]bool{}
	for _, d := range decisions {
		if !claimed[d.ItemID] || seen[d.ItemID] {
			return router.RouteResult{}, fmt.Errorf("memstore: decision for item %d that was not claimed or was decided twice", d.ItemID)
		}
		seen[d.ItemID] = true
		if d.Kind == router.DecideAssign {
			a := o.agents[d.AgentID]
			if a == nil || a.Status != router.AgentAvailable {
				return router.RouteResult{}, fmt.Errorf("memstore: assignment to unavailable agent %s", d.AgentID)
			}
			loads[d.AgentID]++
			if a.Load+loads[d.AgentID] > a.Capacity {
				return router.RouteResult{}, fmt.Errorf("memstore: assignment would take agent %s over capacity", d.AgentID)
			}
		}
	}
	now := req.Now.UTC()
	for _, d := range decisions {
		it := s.items[d.ItemID]
		switch d.Kind {
		case router.DecideAssign:
			a := o.agents[d.AgentID]
			a.Load++
			o.removeQueued(it)
			it.State = router.StateAssigned
			it.AgentID = d.AgentID
			t := now
			it.AssignedAt = &t
			it.Attempts++
			it.LastAttemptAt = &t
			it.FaultCause = ""
			s.appendEvent(actorEvent(req.Org, router.EventAssigned, it.ID, it.QueueID, req.Actor, now,
				router.Detail("agent", d.AgentID, "queue", it.QueueID)))
			if q := o.queues[it.QueueID]; q != nil {
				q.lastAssigned = &t
				keep := q.assignedAt[:0]
				for _, at := range q.assignedAt {
					if now.Sub(at) <= 5*time.Minute {
						keep = append(keep, at)
					}
				}
				q.assignedAt = append(keep, now)
			}
			res.Assigned++
		case router.DecideFault:
			t := now
			it.Attempts++
			it.LastAttemptAt = &t
			it.LastError = d.Error
			it.FaultCause = d.Cause
			s.appendEvent(actorEvent(req.Org, router.EventItemFault, it.ID, it.QueueID, req.Actor, now,
				router.Detail("cause", d.Cause, "error", d.Error, "action", d.Action,
					"attempts", it.Attempts, "revision_id", it.CurrentRevisionID)))
			switch d.Action {
			case router.PolicyQuarantine:
				o.removeQueued(it)
				it.State = router.StateQuarantined
				it.QuarantineReason = string(d.Cause) + ": " + d.Error
				s.appendEvent(actorEvent(req.Org, router.EventQuarantined, it.ID, it.QueueID, req.Actor, now,
					router.Detail("cause", d.Cause, "reason", it.QuarantineReason)))
				res.Quarantined++
			case router.PolicySkip:
				it.Skipped = true
				res.Skipped++
			default:
				res.Blocked++
			}
			res.Faults = append(res.Faults, d)
		}
	}
	return res, nil
}

func (s *Store) claimed(it *router.WorkItem) router.ClaimedItem {
	ci := router.ClaimedItem{Item: cloneItem(it)}
	if r := s.revisions[it.CurrentRevisionID]; r != nil && r.WorkItemID == it.ID {
		ci.RevisionFound = true
		ci.Attributes = bytes.Clone(r.Attributes)
		ci.Bytes = len(r.Attributes)
	}
	return ci
}

func (s *Store) Heartbeat(ctx context.Context, hb router.Heartbeat) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if old, ok := s.heartbeats[hb.EngineID]; ok && hb.StartedAt.IsZero() {
		hb.StartedAt = old.StartedAt
	}
	hb.BeatAt = hb.BeatAt.UTC()
	hb.StartedAt = hb.StartedAt.UTC()
	s.heartbeats[hb.EngineID] = hb
	return nil
}

// Maintain has nothing to fold: memstore computes every answer directly.
func (s *Store) Maintain(ctx context.Context) error { return ctx.Err() }

func (s *Store) Heartbeats(ctx context.Context) ([]router.Heartbeat, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]router.Heartbeat, 0, len(s.heartbeats))
	for _, hb := range s.heartbeats {
		out = append(out, hb)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].BeatAt.Equal(out[j].BeatAt) {
			return out[i].BeatAt.After(out[j].BeatAt)
		}
		return out[i].EngineID < out[j].EngineID
	})
	return out, nil
}

func (s *Store) Notifications(ctx context.Context) (<-chan string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	ch := make(chan string, 256)
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch, nil
}
