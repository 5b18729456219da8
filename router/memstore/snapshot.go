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
			os.Queues = append(os.Queues, s.queueStats(o, id, q, qQuar[[2]string{id, q.q.ID}], now))
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

// queueStats is one queue's figures: depth, skipped, quarantined, the
// oldest waiting item, the head, and assignments in the last 1 and 5
// minutes before now.
func (s *Store) queueStats(o *orgData, org string, q *queueData, quarantined int, now time.Time) router.QueueStats {
	qs := router.QueueStats{Org: org, Queue: q.q.ID, Priority: q.q.Priority, Paused: q.q.Paused,
		Quarantined: quarantined, StallCause: q.stallCause, Pause: q.q.Pause}
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
	qs.Head = s.headItem(all)
	if q.lastAssigned != nil {
		t := *q.lastAssigned
		qs.LastAssignedAt = &t
	}
	if q.lastRouted != nil {
		t := *q.lastRouted
		qs.LastRoutedAt = &t
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
	return qs
}

// headItem is the first item of a queue's routing order that is not
// skipped (nil when there is none), with its current revision's
// attributes when that revision exists.
func (s *Store) headItem(all []*router.WorkItem) *router.HeadItem {
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
		return h
	}
	return nil
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

func (s *Store) MarkStall(ctx context.Context, req router.MarkStallRequest) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	o, err := s.org(req.Org)
	if err != nil {
		return false, err
	}
	q := o.queues[req.Queue]
	if q == nil {
		return false, router.NotFoundf("queue %s/%s does not exist", req.Org, req.Queue)
	}
	return s.markStall(req.Org, req.Queue, q, req.Cause, req.Detail, req.Actor, req.At), nil
}

func (s *Store) MarkStalls(ctx context.Context, req router.MarkStallsRequest) ([]bool, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	seen := make(map[[2]string]bool, len(req.Marks))
	for _, m := range req.Marks {
		k := [2]string{m.Org, m.Queue}
		if seen[k] {
			return nil, fmt.Errorf("memstore: queue %s/%s marked twice in one call", m.Org, m.Queue)
		}
		seen[k] = true
	}
	out := make([]bool, len(req.Marks))
	for i, m := range req.Marks {
		o := s.orgs[m.Org]
		if o == nil || o.queues[m.Queue] == nil {
			continue
		}
		out[i] = s.markStall(m.Org, m.Queue, o.queues[m.Queue], m.Cause, m.Detail, req.Actor, req.At)
	}
	return out, nil
}

// markStall makes one queue's stall transition; the caller holds the lock.
func (s *Store) markStall(org, queue string, q *queueData, cause router.Cause, detail []byte, actor router.Actor, at time.Time) bool {
	t := at.UTC()
	if detail == nil {
		detail = router.Detail("cause", cause)
	}
	if cause != router.CauseNone {
		if q.stalledSince != nil {
			return false
		}
		q.stalledSince = &t
		q.stallCause = cause
		s.appendEvent(actorEvent(org, router.EventStallDetected, 0, queue, actor, t, detail))
		return true
	}
	if q.stalledSince == nil {
		return false
	}
	q.stalledSince = nil
	q.stallCause = ""
	s.appendEvent(actorEvent(org, router.EventStallCleared, 0, queue, actor, t, detail))
	return true
}
