package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/routeops/routeops/router"
)

// ---- monitor ----

func (s *Store) Snapshot(ctx context.Context, req router.SnapshotRequest) (*router.StoreSnapshot, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := req.Now.UTC()
	snap := &router.StoreSnapshot{Now: now}
	var ids []string
	if req.Org != "" {
		if _, ok := s.orgs[req.Org]; !ok {
			return nil, router.NotFoundf("org %s does not exist", req.Org)
		}
		ids = []string{req.Org}
	} else {
		for id := range s.orgs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
	}
	// Count states per org and quarantined per queue in one sweep.
	type counts struct{ queued, assigned, quarantined int }
	byOrg := map[string]*counts{}
	qQuar := map[[2]string]int{}
	for _, id := range ids {
		byOrg[id] = &counts{}
	}
	for _, it := range s.items {
		c := byOrg[it.OrgID]
		if c == nil {
			continue
		}
		switch it.State {
		case router.StateQueued:
			c.queued++
		case router.StateAssigned:
			c.assigned++
		case router.StateQuarantined:
			c.quarantined++
			qQuar[[2]string{it.OrgID, it.QueueID}]++
		}
	}
	for _, id := range ids {
		o := s.orgs[id]
		c := byOrg[id]
		os := router.OrgStats{Org: id, Queued: c.queued, Assigned: c.assigned, Quarantined: c.quarantined}
		for qid, m := range o.queued {
			if _, ok := o.queues[qid]; !ok {
				os.Orphans += len(m)
			}
		}
		for _, q := range o.sortedQueues() {
			qs := router.QueueStats{Org: id, Queue: q.q.ID, Priority: q.q.Priority, Paused: q.q.Paused,
				Quarantined: qQuar[[2]string{id, q.q.ID}], StallCause: q.stallCause, Pause: q.q.Pause}
			all := s.ordered(o, q.q.ID, true)
			qs.Depth = len(all)
			for _, it := range all {
				if it.Skipped {
					qs.Skipped++
				}
				if qs.OldestEnqueuedAt == nil || it.EnqueuedAt.Before(*qs.OldestEnqueuedAt) {
					t := it.EnqueuedAt
					qs.OldestEnqueuedAt = &t
				}
			}
			for _, it := range all {
				if it.Skipped {
					continue
				}
				h := &router.HeadItem{ID: it.ID, EnqueuedAt: it.EnqueuedAt, Attempts: it.Attempts,
					LastError: it.LastError, FaultCause: it.FaultCause, CurrentRevisionID: it.CurrentRevisionID}
				if it.LastAttemptAt != nil {
					t := *it.LastAttemptAt
					h.LastAttemptAt = &t
				}
				if r := s.revisions[it.CurrentRevisionID]; r != nil && r.WorkItemID == it.ID {
					h.RevisionFound = true
					h.Attributes = bytes.Clone(r.Attributes)
				}
				qs.Head = h
				break
			}
			if q.lastAssigned != nil {
				t := *q.lastAssigned
				qs.LastAssignedAt = &t
			}
			// A snapshot is a pure read: pruning here, relative to req.Now,
			// would lose assignments that a snapshot at an earlier Now must
			// still count. RouteOrg prunes as it appends.
			for _, t := range q.assignedAt {
				age := now.Sub(t)
				if age < 0 || age > 5*time.Minute {
					continue
				}
				if age <= time.Minute {
					qs.Assigned1m++
				}
				qs.Assigned5m++
			}
			if q.stalledSince != nil {
				t := *q.stalledSince
				qs.StalledSince = &t
			}
			os.Queues = append(os.Queues, qs)
		}
		teamIDs := make([]string, 0, len(o.teams))
		for tid := range o.teams {
			teamIDs = append(teamIDs, tid)
		}
		sort.Strings(teamIDs)
		for _, tid := range teamIDs {
			t := *o.teams[tid]
			t.Pause = router.PauseInfo{} // as pgstore's snapshot: ListTeams says who paused
			os.Teams = append(os.Teams, t)
		}
		os.AgentGroups = groupAgents(o)
		snap.Orgs = append(snap.Orgs, os)
	}
	for _, hb := range s.heartbeats {
		snap.Heartbeats = append(snap.Heartbeats, hb)
	}
	sort.Slice(snap.Heartbeats, func(i, j int) bool { return snap.Heartbeats[i].BeatAt.After(snap.Heartbeats[j].BeatAt) })
	return snap, nil
}

func groupAgents(o *orgData) []router.AgentGroup {
	type key struct {
		team   string
		ts     router.TeamStatus
		skills string
		st     router.AgentStatus
	}
	m := map[key]*router.AgentGroup{}
	var keys []key
	for _, a := range o.agents {
		ts := router.TeamPaused
		if t := o.teams[a.TeamID]; t != nil {
			ts = t.Status
		}
		sk := slices.Clone(a.Skills)
		sort.Strings(sk)
		k := key{a.TeamID, ts, strings.Join(sk, "\x00"), a.Status}
		g := m[k]
		if g == nil {
			g = &router.AgentGroup{TeamID: a.TeamID, TeamStatus: ts, Skills: sk, Status: a.Status}
			m[k] = g
			keys = append(keys, k)
		}
		g.Agents++
		g.Capacity += a.Capacity
		g.Load += a.Load
		g.Free += a.Free()
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.team != b.team {
			return a.team < b.team
		}
		if a.st != b.st {
			return a.st < b.st
		}
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		return a.skills < b.skills
	})
	out := make([]router.AgentGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, *m[k])
	}
	return out
}

func (s *Store) MarkStall(ctx context.Context, org, queue string, cause router.Cause, detail []byte, actor router.Actor, at time.Time) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return false, err
	}
	q := o.queues[queue]
	if q == nil {
		return false, router.NotFoundf("queue %s/%s does not exist", org, queue)
	}
	t := at.UTC()
	if detail == nil {
		detail = router.Detail("cause", cause)
	}
	if cause != router.CauseNone {
		if q.stalledSince != nil {
			return false, nil
		}
		q.stalledSince = &t
		q.stallCause = cause
		s.appendEvent(actorEvent(org, router.EventStallDetected, 0, queue, actor, t, detail))
		return true, nil
	}
	if q.stalledSince == nil {
		return false, nil
	}
	q.stalledSince = nil
	q.stallCause = ""
	s.appendEvent(actorEvent(org, router.EventStallCleared, 0, queue, actor, t, detail))
	return true, nil
}

// ---- items ----

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
		out = append(out, cloneItem(it))
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
	q.q.Pause = router.PauseInfo{}
	kind := router.EventQueueResumed
	if paused {
		kind = router.EventQueuePaused
		q.q.Pause = router.PauseInfo{By: actor.String(), At: timeCopy(&at)}
	}
	s.appendEvent(actorEvent(org, kind, 0, queue, actor, at.UTC(), nil))
	if !paused {
		s.notify(org)
	}
	return router.ActionResult{Changed: true, Message: fmt.Sprintf("queue %s/%s %s", org, queue, word[paused])}, nil
}

func (s *Store) ListQueues(ctx context.Context, org string) ([]router.Queue, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	var out []router.Queue
	for _, q := range o.sortedQueues() {
		out = append(out, q.q)
	}
	return out, nil
}

func (s *Store) ListAgents(ctx context.Context, org string) ([]router.Agent, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	out := make([]router.Agent, 0, len(o.agents))
	for _, a := range o.agents {
		ac := *a
		ac.Skills = slices.Clone(a.Skills)
		if t := o.teams[a.TeamID]; t != nil {
			ac.TeamStatus = t.Status
		}
		out = append(out, ac)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Store) ListTeams(ctx context.Context, org string) ([]router.Team, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	o, err := s.org(org)
	if err != nil {
		return nil, err
	}
	out := make([]router.Team, 0, len(o.teams))
	for _, t := range o.teams {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ---- repair ----

// needsRepair reports whether an item's current revision is missing or
// invalid.
func (s *Store) needsRepair(it *router.WorkItem) (bool, *router.Revision) {
	r := s.revisions[it.CurrentRevisionID]
	if r == nil || r.WorkItemID != it.ID {
		return true, nil
	}
	return router.ValidateAttributes(r.Attributes) != nil, r
}

func repairable(st router.ItemState) bool {
	return st == router.StateQueued || st == router.StateQuarantined || st == router.StateAssigned
}

func (s *Store) RepairCandidates(ctx context.Context, org string) ([]router.RepairCandidate, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if org != "" {
		if _, err := s.org(org); err != nil {
			return nil, err
		}
	}
	var out []router.RepairCandidate
	for _, it := range s.items {
		if (org != "" && it.OrgID != org) || !repairable(it.State) {
			continue
		}
		bad, r := s.needsRepair(it)
		if !bad {
			continue
		}
		c := router.RepairCandidate{Item: cloneItem(it)}
		if r != nil {
			c.RevisionFound = true
			c.CurrentAttributes = bytes.Clone(r.Attributes)
		}
		revs := s.itemRevs[it.ID]
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i] == it.CurrentRevisionID {
				continue
			}
			if er := s.revisions[revs[i]]; er != nil {
				c.Earlier = append(c.Earlier, cloneRevision(er))
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Item.ID < out[j].Item.ID })
	return out, nil
}

func (s *Store) ApplyRepair(ctx context.Context, fixes []router.RepairFix, actor router.Actor, at time.Time) ([]router.RepairOutcome, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.applyRepair(fixes, "", actor, at), nil
}

// applyRepair is ApplyRepair under the lock, with the events carrying an
// operation id (none when empty).
func (s *Store) applyRepair(fixes []router.RepairFix, opID string, actor router.Actor, at time.Time) []router.RepairOutcome {
	now := at.UTC()
	out := make([]router.RepairOutcome, 0, len(fixes))
	for _, f := range fixes {
		oc := router.RepairOutcome{ItemID: f.ItemID, OrgID: f.OrgID}
		it, err := s.itemIn(f.OrgID, f.ItemID)
		if err != nil {
			oc.Reason = err.Error()
			out = append(out, oc)
			continue
		}
		oc.State = it.State
		if !repairable(it.State) {
			oc.Reason = fmt.Sprintf("item is %s; only queued, quarantined or assigned items are repaired", it.State)
			out = append(out, oc)
			continue
		}
		if it.CurrentRevisionID != f.ExpectRevisionID {
			oc.Reason = fmt.Sprintf("item now points at revision %d, not %d; plan again", it.CurrentRevisionID, f.ExpectRevisionID)
			out = append(out, oc)
			continue
		}
		if bad, _ := s.needsRepair(it); !bad {
			oc.Reason = "current revision is valid now; nothing to repair"
			out = append(out, oc)
			continue
		}
		if err := router.ValidateAttributes(f.Attributes); err != nil {
			oc.Reason = "rebuilt attributes do not validate: " + err.Error()
			out = append(out, oc)
			continue
		}
		old := it.CurrentRevisionID
		rev := s.newRevision(it.OrgID, it.ID, f.Attributes, now, "repair:"+f.Source)
		it.CurrentRevisionID = rev.ID
		it.Priority = router.PriorityOf(f.Attributes)
		it.JournalRevisionID = rev.ID
		it.JournalAttributes = bytes.Clone(f.Attributes)
		it.FaultCause = ""
		released := false
		o := s.orgs[it.OrgID]
		if it.State == router.StateQuarantined {
			it.State = router.StateQueued
			it.QuarantineReason = ""
			o.addQueued(it)
			released = true
		}
		if it.Skipped {
			it.Skipped = false
		}
		s.appendOpEvent(actorEvent(it.OrgID, router.EventRevisionRepaired, it.ID, it.QueueID, actor, now,
			router.Detail("old_revision_id", old, "new_revision_id", rev.ID, "source", f.Source, "released", released)), opID)
		if it.State == router.StateQueued {
			s.notify(it.OrgID)
		}
		oc.Repaired = true
		oc.NewRevisionID = rev.ID
		oc.State = it.State
		out = append(out, oc)
	}
	return out
}

// ---- cleanup ----

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

func (s *Store) CleanupBatch(ctx context.Context, req router.CleanupBatchRequest, actor router.Actor, at time.Time) (router.CleanupBatchResult, error) {
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
		s.appendEvent(actorEvent(o, router.EventRevisionsCleaned, 0, "", actor, at.UTC(),
			router.Detail("deleted", perOrg[o], "older_than", req.OlderThan.UTC())))
	}
	return res, nil
}

// ---- integrity ----

func (s *Store) Verify(ctx context.Context, limit int) (router.VerifyReport, error) {
	if err := s.lock(ctx); err != nil {
		return router.VerifyReport{}, err
	}
	defer s.mu.Unlock()
	if limit <= 0 {
		limit = 1000
	}
	rep := router.VerifyReport{Checked: map[string]int{
		"items": len(s.items), "revisions": len(s.revisions), "events": len(s.events)}}
	add := func(f router.Finding) {
		if len(rep.Findings) >= limit {
			rep.Truncated = true
			return
		}
		rep.Findings = append(rep.Findings, f)
	}
	ids := make([]int64, 0, len(s.items))
	for id := range s.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	assignedEvents := map[int64]int{}
	for i := range s.events {
		if s.events[i].Kind == router.EventAssigned && s.events[i].WorkItemID != 0 {
			assignedEvents[s.events[i].WorkItemID]++
		}
	}
	loads := map[[2]string]int{}
	for _, id := range ids {
		it := s.items[id]
		if repairable(it.State) {
			r := s.revisions[it.CurrentRevisionID]
			if r == nil || r.WorkItemID != it.ID {
				add(router.Finding{Kind: router.FindingDanglingRevision, OrgID: it.OrgID, ItemID: id,
					Detail: fmt.Sprintf("current revision %d not found", it.CurrentRevisionID)})
			} else if err := router.ValidateAttributes(r.Attributes); err != nil {
				add(router.Finding{Kind: router.FindingInvalidAttributes, OrgID: it.OrgID, ItemID: id,
					Detail: fmt.Sprintf("revision %d: %v", r.ID, err)})
			}
		}
		if it.State == router.StateAssigned {
			if it.AgentID == "" {
				add(router.Finding{Kind: router.FindingAssignedNoAgent, OrgID: it.OrgID, ItemID: id, Detail: "assigned item has no agent"})
			} else {
				loads[[2]string{it.OrgID, it.AgentID}]++
			}
		}
		n := assignedEvents[id]
		switch it.State {
		case router.StateAssigned, router.StateCompleted:
			if n != 1 {
				add(router.Finding{Kind: router.FindingEventMismatch, OrgID: it.OrgID, ItemID: id,
					Detail: fmt.Sprintf("item is %s with %d assigned events (want exactly 1)", it.State, n)})
			}
		case router.StateQuarantined:
			if n > 0 {
				add(router.Finding{Kind: router.FindingBothStates, OrgID: it.OrgID, ItemID: id,
					Detail: fmt.Sprintf("quarantined item has %d assigned events", n)})
			}
		default:
			if n > 0 {
				add(router.Finding{Kind: router.FindingEventMismatch, OrgID: it.OrgID, ItemID: id,
					Detail: fmt.Sprintf("item is %s but has %d assigned events", it.State, n)})
			}
		}
	}
	orgIDs := make([]string, 0, len(s.orgs))
	for id := range s.orgs {
		orgIDs = append(orgIDs, id)
	}
	sort.Strings(orgIDs)
	nAgents := 0
	for _, oid := range orgIDs {
		o := s.orgs[oid]
		aids := make([]string, 0, len(o.agents))
		for id := range o.agents {
			aids = append(aids, id)
		}
		sort.Strings(aids)
		for _, aid := range aids {
			a := o.agents[aid]
			nAgents++
			if a.Load > a.Capacity {
				add(router.Finding{Kind: router.FindingAgentOverCapacity, OrgID: oid, Agent: aid,
					Detail: fmt.Sprintf("load %d over capacity %d", a.Load, a.Capacity)})
			}
			if n := loads[[2]string{oid, aid}]; n != a.Load {
				add(router.Finding{Kind: router.FindingLoadMismatch, OrgID: oid, Agent: aid,
					Detail: fmt.Sprintf("stored load %d but %d assigned items", a.Load, n)})
			}
		}
	}
	rep.Checked["agents"] = nAgents
	return rep, nil
}

// ---- drills ----

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

func (s *Store) DrillDeleteRevisions(ctx context.Context, org string, count int, actor router.Actor, at time.Time) ([]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	targets, err := s.drillTargets(org, count)
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
	s.appendEvent(actorEvent(org, router.EventDrillInjected, 0, "", actor, at.UTC(),
		router.Detail("drill", "missing-revisions", "items", ids)))
	s.notify(org)
	return ids, nil
}

func (s *Store) DrillCorruptRevisions(ctx context.Context, org string, count int, actor router.Actor, at time.Time) ([]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	targets, err := s.drillTargets(org, count)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(targets))
	for i, it := range targets {
		r := s.revisions[it.CurrentRevisionID]
		r.Attributes = router.CorruptAttributes(i)
		ids = append(ids, it.ID)
	}
	s.appendEvent(actorEvent(org, router.EventDrillInjected, 0, "", actor, at.UTC(),
		router.Detail("drill", "corrupt-revisions", "items", ids)))
	s.notify(org)
	return ids, nil
}
