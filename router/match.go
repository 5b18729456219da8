package router

import "slices"

// Eligible reports whether an agent may take an item with these
// attributes: available, in an active team, under capacity, in the
// required team if any, and holding every required skill.
func Eligible(a *Agent, attrs *Attributes) bool {
	if a.Status != AgentAvailable || a.TeamStatus != TeamActive || a.Load >= a.Capacity {
		return false
	}
	if attrs.Team != "" && a.TeamID != attrs.Team {
		return false
	}
	return hasSkills(a.Skills, attrs.Skills)
}

func hasSkills(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// PickAgent returns the index of the least-loaded eligible agent (ties go
// to the most free capacity, then the lowest id), or -1 when none can take
// the item. agents must be sorted by id.
func PickAgent(agents []Agent, attrs *Attributes) int {
	best := -1
	for i := range agents {
		a := &agents[i]
		if !Eligible(a, attrs) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &agents[best]
		if a.Load < b.Load || (a.Load == b.Load && a.Free() > b.Free()) {
			best = i
		}
	}
	return best
}

// GroupFree returns the free capacity in groups that could take an item
// with these attributes. The monitor uses it for a queue's head.
func GroupFree(groups []AgentGroup, attrs *Attributes) int {
	free := 0
	for _, g := range groups {
		if g.Status != AgentAvailable || g.TeamStatus != TeamActive {
			continue
		}
		if attrs != nil {
			if attrs.Team != "" && g.TeamID != attrs.Team {
				continue
			}
			if !hasSkills(g.Skills, attrs.Skills) {
				continue
			}
		}
		free += g.Free
	}
	return free
}

// Decide is the engine's routing decision for one claimed batch. It is a
// pure function: stores call it inside their routing transaction.
//
// Items are taken in the batch's routing order. A permanent fault (missing
// or corrupt revision, unknown queue) becomes a fault decision under the
// policy; with PolicyBlock the rest of that queue waits, as the legacy
// router did. Other items go to the least-loaded eligible agent; an item
// that no agent can take is left queued and the items behind it are still
// considered, so one unmatched head does not hold up other teams' work.
func Decide(policy FaultPolicy, b *Batch) []Decision {
	agents := slices.Clone(b.Agents)
	out := make([]Decision, 0, len(b.Items))
	var blocked map[string]bool
	for i := range b.Items {
		ci := &b.Items[i]
		it := &ci.Item
		if blocked[it.QueueID] {
			continue
		}
		q, known := b.Queues[it.QueueID]
		if !known {
			out = append(out, Decision{Kind: DecideFault, ItemID: it.ID, QueueID: it.QueueID,
				Cause: CauseUnknownQueue, Error: "queue " + it.QueueID + " does not exist", Action: policy})
			continue
		}
		if q.Paused {
			continue
		}
		attrs, cause, err := ClassifyClaimed(ci)
		if cause != CauseNone {
			out = append(out, Decision{Kind: DecideFault, ItemID: it.ID, QueueID: it.QueueID,
				Cause: cause, Error: err.Error(), Action: policy})
			if policy == PolicyBlock {
				if blocked == nil {
					blocked = map[string]bool{}
				}
				blocked[it.QueueID] = true
			}
			continue
		}
		idx := PickAgent(agents, &attrs)
		if idx < 0 {
			continue
		}
		agents[idx].Load++
		out = append(out, Decision{Kind: DecideAssign, ItemID: it.ID, QueueID: it.QueueID, AgentID: agents[idx].ID})
	}
	return out
}
