package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/routeops/routeops/router"
)

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
