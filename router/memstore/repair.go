package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/routeops/routeops/router"
)

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

func (s *Store) ApplyRepair(ctx context.Context, req router.ApplyRepairRequest) ([]router.RepairOutcome, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.applyRepair(req, ""), nil
}

// applyRepair is ApplyRepair under the lock, with the events carrying an
// operation id (none when empty).
func (s *Store) applyRepair(req router.ApplyRepairRequest, opID string) []router.RepairOutcome {
	now := req.At.UTC()
	out := make([]router.RepairOutcome, 0, len(req.Fixes))
	for _, f := range req.Fixes {
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
		it.JournalVerified = true
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
		s.appendOpEvent(actorEvent(it.OrgID, router.EventRevisionRepaired, it.ID, it.QueueID, req.Actor, now,
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
