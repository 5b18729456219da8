package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

// Impact computes what pgstore's queries compute, over the items and the
// journal that the store still holds (Compact forgets old finished items).
func (s *Store) Impact(ctx context.Context, req router.ImpactRequest) (*router.ImpactData, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	since, until := req.Since.UTC().Truncate(time.Microsecond), req.Until.UTC().Truncate(time.Microsecond)
	type key struct{ org, queue string }
	byOrg := map[string][]time.Duration{}
	byQueue := map[key][]time.Duration{}
	for _, it := range s.items {
		if (req.Org != "" && it.OrgID != req.Org) || it.State == router.StateCancelled ||
			it.EnqueuedAt.Before(since) || !it.EnqueuedAt.Before(until) {
			continue
		}
		w := router.WaitOf(it, until)
		byOrg[it.OrgID] = append(byOrg[it.OrgID], w)
		byQueue[key{it.OrgID, it.QueueID}] = append(byQueue[key{it.OrgID, it.QueueID}], w)
	}
	orgs := router.ImpactOrgs{}
	org := orgs.Org
	for id, ws := range byOrg {
		org(id).WaitStats = router.StatsOf(ws, req.SLA)
	}
	for k, ws := range byQueue {
		o := org(k.org)
		o.Queues = append(o.Queues, router.ImpactQueue{Queue: k.queue, WaitStats: router.StatsOf(ws, req.SLA)})
	}
	s.impactMoved(req, since, until, org)
	s.impactStalls(req, since, until, org)
	return orgs.Data(), nil
}

// impactMoved counts and lists the items quarantined or repaired in the
// window.
func (s *Store) impactMoved(req router.ImpactRequest, since, until time.Time, org func(string) *router.ImpactOrg) {
	type key struct {
		org  string
		id   int64
		kind string
	}
	seen := map[key]bool{}
	lists := map[[2]string][]router.ImpactItem{}
	for i := range s.events {
		e := &s.events[i]
		if (e.Kind != router.EventQuarantined && e.Kind != router.EventRevisionRepaired) || e.WorkItemID == 0 ||
			(req.Org != "" && e.OrgID != req.Org) || e.At.Before(since) || !e.At.Before(until) {
			continue
		}
		k := key{e.OrgID, e.WorkItemID, e.Kind}
		it := s.items[e.WorkItemID]
		if seen[k] || it == nil || it.OrgID != e.OrgID {
			continue
		}
		seen[k] = true
		o := org(e.OrgID)
		q := o.QueueRow(it.QueueID)
		if e.Kind == router.EventQuarantined {
			q.Quarantined++
			o.Quarantined++
		} else {
			q.Repaired++
			o.Repaired++
		}
		lk := [2]string{e.OrgID, e.Kind}
		lists[lk] = append(lists[lk], router.ImpactItem{ID: it.ID, Queue: it.QueueID, State: it.State, Wait: router.WaitOf(it, until)})
	}
	for lk, l := range lists {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Wait != l[j].Wait {
				return l[i].Wait > l[j].Wait
			}
			return l[i].ID < l[j].ID
		})
		l = l[:min(len(l), req.ListItems)]
		if len(l) == 0 {
			continue
		}
		o := org(lk[0])
		if lk[1] == router.EventQuarantined {
			o.QuarantinedItems = l
		} else {
			o.RepairedItems = l
		}
	}
}

// impactStalls pairs each stall_detected with its queue's next stall event.
func (s *Store) impactStalls(req router.ImpactRequest, since, until time.Time, org func(string) *router.ImpactOrg) {
	type key struct{ org, queue string }
	byQueue := map[key][]*router.Event{}
	for i := range s.events {
		e := &s.events[i]
		if (e.Kind != router.EventStallDetected && e.Kind != router.EventStallCleared) || e.QueueID == "" ||
			(req.Org != "" && e.OrgID != req.Org) || !e.At.Before(until) {
			continue
		}
		byQueue[key{e.OrgID, e.QueueID}] = append(byQueue[key{e.OrgID, e.QueueID}], e)
	}
	var wins []struct {
		org string
		w   router.StallWindow
	}
	for k, evs := range byQueue {
		sort.Slice(evs, func(i, j int) bool {
			if !evs[i].At.Equal(evs[j].At) {
				return evs[i].At.Before(evs[j].At)
			}
			return evs[i].ID < evs[j].ID
		})
		for i, e := range evs {
			if e.Kind != router.EventStallDetected {
				continue
			}
			w := router.StallWindow{Queue: k.queue, Cause: causeOf(e.Detail), From: e.At}
			if i+1 < len(evs) {
				t := evs[i+1].At
				w.To = &t
			}
			if w.To != nil && w.To.Before(since) {
				continue
			}
			wins = append(wins, struct {
				org string
				w   router.StallWindow
			}{k.org, w})
		}
	}
	sort.Slice(wins, func(i, j int) bool {
		a, b := wins[i], wins[j]
		if a.org != b.org {
			return a.org < b.org
		}
		if !a.w.From.Equal(b.w.From) {
			return a.w.From.Before(b.w.From)
		}
		return a.w.Queue < b.w.Queue
	})
	for _, x := range wins {
		o := org(x.org)
		o.Stalls = append(o.Stalls, x.w)
	}
}

// causeOf reads "cause" from an event's detail.
func causeOf(detail []byte) router.Cause {
	var d struct {
		Cause string `json:"cause"`
	}
	_ = json.NewDecoder(bytes.NewReader(detail)).Decode(&d)
	return router.Cause(d.Cause)
}

func (s *Store) WaitSeries(ctx context.Context, req router.SeriesRequest) ([]router.QueueSeries, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	times := req.SeriesTimes()
	from, to := req.From.UTC().Truncate(time.Microsecond), req.To.UTC().Truncate(time.Microsecond)
	want := map[string]bool{}
	for _, q := range req.Queues {
		want[q] = true
	}
	byQueue := map[string][]*router.WorkItem{}
	for _, it := range s.items {
		if it.OrgID != req.Org || it.State == router.StateCancelled || it.EnqueuedAt.After(to) ||
			(it.AssignedAt != nil && !it.AssignedAt.After(from)) || (len(want) > 0 && !want[it.QueueID]) {
			continue
		}
		byQueue[it.QueueID] = append(byQueue[it.QueueID], it)
	}
	names := req.Queues
	if len(names) == 0 {
		for q := range byQueue {
			names = append(names, q)
		}
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	var out []router.QueueSeries
	for i, q := range names {
		if i > 0 && names[i-1] == q {
			continue
		}
		qs := router.QueueSeries{Org: req.Org, Queue: q}
		for _, t := range times {
			p := router.SeriesPoint{At: t}
			var oldest *time.Time
			for _, it := range byQueue[q] {
				if it.EnqueuedAt.After(t) || (it.AssignedAt != nil && !it.AssignedAt.After(t)) {
					continue
				}
				p.Waiting++
				if oldest == nil || it.EnqueuedAt.Before(*oldest) {
					oldest = &it.EnqueuedAt
				}
			}
			if oldest != nil {
				p.OldestWait = t.Sub(oldest.Truncate(time.Microsecond))
			}
			qs.Points = append(qs.Points, p)
		}
		out = append(out, qs)
	}
	return out, nil
}
