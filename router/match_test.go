package router_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
)

func agent(id, team string, load, capacity int, skills ...string) router.Agent {
	return router.Agent{OrgID: "o", ID: id, TeamID: team, Skills: skills, Status: router.AgentAvailable,
		Capacity: capacity, Load: load, TeamStatus: router.TeamActive}
}

func TestEligible(t *testing.T) {
	base := agent("a", "billing", 1, 3, "de", "fr")
	tests := []struct {
		name  string
		mod   func(a *router.Agent)
		attrs router.Attributes
		want  bool
	}{
		{"plain", nil, router.Attributes{}, true},
		{"away", func(a *router.Agent) { a.Status = router.AgentAway }, router.Attributes{}, false},
		{"offline", func(a *router.Agent) { a.Status = router.AgentOffline }, router.Attributes{}, false},
		{"team paused", func(a *router.Agent) { a.TeamStatus = router.TeamPaused }, router.Attributes{}, false},
		{"team status unknown", func(a *router.Agent) { a.TeamStatus = "" }, router.Attributes{}, false},
		{"at capacity", func(a *router.Agent) { a.Load = 3 }, router.Attributes{}, false},
		{"over capacity", func(a *router.Agent) { a.Load = 5 }, router.Attributes{}, false},
		{"zero capacity", func(a *router.Agent) { a.Load, a.Capacity = 0, 0 }, router.Attributes{}, false},
		{"last slot", func(a *router.Agent) { a.Load = 2 }, router.Attributes{}, true},
		{"required team matches", nil, router.Attributes{Team: "billing"}, true},
		{"required team differs", nil, router.Attributes{Team: "sales"}, false},
		{"team match is exact", nil, router.Attributes{Team: "Billing"}, false},
		{"skill held", nil, router.Attributes{Skills: []string{"fr"}}, true},
		{"all skills held", nil, router.Attributes{Skills: []string{"fr", "de"}}, true},
		{"skill repeated", nil, router.Attributes{Skills: []string{"de", "de"}}, true},
		{"skill missing", nil, router.Attributes{Skills: []string{"de", "es"}}, false},
		{"no skills, skill wanted", func(a *router.Agent) { a.Skills = nil }, router.Attributes{Skills: []string{"de"}}, false},
		{"team and skills", nil, router.Attributes{Team: "billing", Skills: []string{"de"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := base
			a.Skills = slices.Clone(base.Skills)
			if tc.mod != nil {
				tc.mod(&a)
			}
			if got := router.Eligible(&a, &tc.attrs); got != tc.want {
				t.Fatalf("Eligible(%+v, %+v) = %v, want %v", a, tc.attrs, got, tc.want)
			}
		})
	}
}

func TestPickAgent(t *testing.T) {
	none := &router.Attributes{}
	tests := []struct {
		name   string
		agents []router.Agent
		attrs  *router.Attributes
		want   string
	}{
		{"no agents", nil, none, ""},
		{"least loaded", []router.Agent{agent("a", "t", 2, 5), agent("b", "t", 1, 5), agent("c", "t", 3, 5)}, none, "b"},
		{"tie on load: most free", []router.Agent{agent("a", "t", 1, 2), agent("b", "t", 1, 5), agent("c", "t", 1, 3)}, none, "b"},
		{"tie on load and free: lowest id", []router.Agent{agent("a", "t", 1, 3), agent("b", "t", 1, 3)}, none, "a"},
		{"least loaded beats most free", []router.Agent{agent("a", "t", 0, 1), agent("b", "t", 4, 10)}, none, "a"},
		{"ineligible skipped", []router.Agent{agent("a", "t", 0, 0), agent("b", "t", 2, 3)}, none, "b"},
		{"team requirement", []router.Agent{agent("a", "x", 0, 5), agent("b", "t", 3, 5)}, &router.Attributes{Team: "t"}, "b"},
		{"skills requirement", []router.Agent{agent("a", "t", 0, 5), agent("b", "t", 3, 5, "vip")}, &router.Attributes{Skills: []string{"vip"}}, "b"},
		{"nobody eligible", []router.Agent{agent("a", "t", 5, 5), agent("b", "x", 0, 5)}, &router.Attributes{Team: "t"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := router.PickAgent(tc.agents, tc.attrs)
			got := ""
			if i >= 0 {
				got = tc.agents[i].ID
			}
			if got != tc.want {
				t.Fatalf("PickAgent = %q (index %d), want %q", got, i, tc.want)
			}
		})
	}
}

func TestGroupFree(t *testing.T) {
	groups := []router.AgentGroup{
		{TeamID: "t", TeamStatus: router.TeamActive, Status: router.AgentAvailable, Skills: []string{"de"}, Free: 3},
		{TeamID: "t", TeamStatus: router.TeamActive, Status: router.AgentAvailable, Free: 2},
		{TeamID: "t", TeamStatus: router.TeamActive, Status: router.AgentAway, Free: 100},
		{TeamID: "p", TeamStatus: router.TeamPaused, Status: router.AgentAvailable, Free: 100},
		{TeamID: "u", TeamStatus: router.TeamActive, Status: router.AgentAvailable, Skills: []string{"de", "fr"}, Free: 7},
	}
	for _, tc := range []struct {
		name  string
		attrs *router.Attributes
		want  int
	}{
		{"any item (nil)", nil, 12},
		{"no requirement", &router.Attributes{}, 12},
		{"team t", &router.Attributes{Team: "t"}, 5},
		{"team p (paused)", &router.Attributes{Team: "p"}, 0},
		{"skill de", &router.Attributes{Skills: []string{"de"}}, 10},
		{"skills de+fr", &router.Attributes{Skills: []string{"de", "fr"}}, 7},
		{"team t skill de", &router.Attributes{Team: "t", Skills: []string{"de"}}, 3},
		{"unknown skill", &router.Attributes{Skills: []string{"jp"}}, 0},
	} {
		if got := router.GroupFree(groups, tc.attrs); got != tc.want {
			t.Errorf("%s: GroupFree = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := router.GroupFree(nil, nil); got != 0 {
		t.Errorf("GroupFree(nil) = %d", got)
	}
}

// ---- Decide ----

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const (
	okAttrs = `{"priority": 5, "channel": "chat"}`
	badJSON = `{"priority": "high", "channel": "chat"}`
)

type itemSpec struct {
	id      int64
	queue   string
	attrs   string // "" with missing
	missing bool
}

func batch(queues []router.Queue, agents []router.Agent, items ...itemSpec) *router.Batch {
	b := &router.Batch{Org: "o", Queues: map[string]router.Queue{}, Agents: agents}
	for _, q := range queues {
		b.Queues[q.ID] = q
	}
	for _, is := range items {
		b.Items = append(b.Items, router.ClaimedItem{
			Item: router.WorkItem{OrgID: "o", ID: is.id, QueueID: is.queue, State: router.StateQueued,
				CurrentRevisionID: is.id * 10, EnqueuedAt: t0.Add(time.Duration(is.id) * time.Second)},
			RevisionFound: !is.missing,
			Attributes:    []byte(is.attrs),
		})
	}
	return b
}

func ok(id int64, q string) itemSpec           { return itemSpec{id: id, queue: q, attrs: okAttrs} }
func withAttrs(id int64, q, a string) itemSpec { return itemSpec{id: id, queue: q, attrs: a} }
func missing(id int64, q string) itemSpec      { return itemSpec{id: id, queue: q, missing: true} }
func corrupt(id int64, q string) itemSpec      { return itemSpec{id: id, queue: q, attrs: badJSON} }

// render writes decisions compactly: "1>a" for an assignment, "2!missing_revision/quarantine" for a fault.
func render(ds []router.Decision) string {
	var parts []string
	for _, d := range ds {
		switch d.Kind {
		case router.DecideAssign:
			parts = append(parts, fmt.Sprintf("%d>%s", d.ItemID, d.AgentID))
		case router.DecideFault:
			parts = append(parts, fmt.Sprintf("%d!%s/%s", d.ItemID, d.Cause, d.Action))
		default:
			parts = append(parts, fmt.Sprintf("%d?%d", d.ItemID, d.Kind))
		}
	}
	return strings.Join(parts, " ")
}

func TestDecide(t *testing.T) {
	q := []router.Queue{{OrgID: "o", ID: "q"}}
	q2 := []router.Queue{{OrgID: "o", ID: "q"}, {OrgID: "o", ID: "r"}}
	tests := []struct {
		name   string
		policy router.FaultPolicy
		b      *router.Batch
		want   string
	}{
		{"routing order respected", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "t", 0, 1)}, ok(3, "q"), ok(1, "q"), ok(2, "q")),
			"3>a"},
		{"least loaded, load counted within the batch", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "t", 0, 3), agent("b", "t", 1, 3)}, ok(1, "q"), ok(2, "q"), ok(3, "q"), ok(4, "q"), ok(5, "q")),
			"1>a 2>a 3>b 4>a 5>b"},
		{"capacity never exceeded", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "t", 1, 2), agent("b", "t", 0, 1)}, ok(1, "q"), ok(2, "q"), ok(3, "q"), ok(4, "q")),
			"1>b 2>a"},
		{"no agents", router.PolicyQuarantine, batch(q, nil, ok(1, "q")), ""},
		{"empty batch", router.PolicyQuarantine, batch(q, nil), ""},
		{"missing revision quarantined", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "t", 0, 5)}, missing(1, "q"), ok(2, "q")),
			"1!missing_revision/quarantine 2>a"},
		{"corrupt revision skipped", router.PolicySkip,
			batch(q, []router.Agent{agent("a", "t", 0, 5)}, corrupt(1, "q"), ok(2, "q")),
			"1!corrupt_revision/skip 2>a"},
		{"fault needs no agent", router.PolicyQuarantine,
			batch(q, nil, corrupt(1, "q"), missing(2, "q"), ok(3, "q")),
			"1!corrupt_revision/quarantine 2!missing_revision/quarantine"},
		{"block stops only that queue, only after the fault", router.PolicyBlock,
			batch(q2, []router.Agent{agent("a", "t", 0, 10)}, ok(1, "q"), missing(2, "q"), ok(3, "q"), corrupt(4, "q"), ok(5, "r"), corrupt(6, "r"), ok(7, "r")),
			"1>a 2!missing_revision/block 5>a 6!corrupt_revision/block"},
		{"unknown queue faults under every policy, and never blocks", router.PolicyBlock,
			batch(q, []router.Agent{agent("a", "t", 0, 10)}, withAttrs(1, "gone", badJSON), ok(2, "gone"), ok(3, "q")),
			"1!unknown_queue/block 2!unknown_queue/block 3>a"},
		{"paused queue ignored, faults included", router.PolicyQuarantine,
			batch([]router.Queue{{OrgID: "o", ID: "p", Paused: true}, {OrgID: "o", ID: "q"}}, []router.Agent{agent("a", "t", 0, 10)},
				ok(1, "p"), missing(2, "p"), ok(3, "q")),
			"3>a"},
		{"unmatched item does not stop later items", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "t", 0, 10)},
				withAttrs(1, "q", `{"priority": 5, "channel": "chat", "team": "other"}`),
				withAttrs(2, "q", `{"priority": 5, "channel": "chat", "skills": ["jp"]}`),
				ok(3, "q")),
			"3>a"},
		{"team and skill requirements", router.PolicyQuarantine,
			batch(q, []router.Agent{agent("a", "x", 0, 10), agent("b", "y", 5, 10, "de")},
				withAttrs(1, "q", `{"priority": 5, "channel": "chat", "team": "y"}`),
				withAttrs(2, "q", `{"priority": 5, "channel": "chat", "skills": ["de"]}`),
				ok(3, "q")),
			"1>b 2>b 3>a"},
		{"ineligible agents never chosen", router.PolicyQuarantine,
			batch(q, func() []router.Agent {
				away := agent("a", "t", 0, 10)
				away.Status = router.AgentAway
				paused := agent("b", "t", 0, 10)
				paused.TeamStatus = router.TeamPaused
				return []router.Agent{away, paused, agent("c", "t", 9, 10)}
			}(), ok(1, "q"), ok(2, "q")),
			"1>c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.b.Agents)
			got := render(router.Decide(tc.policy, tc.b))
			if got != tc.want {
				t.Fatalf("Decide = %q\n      want %q", got, tc.want)
			}
			if !slices.EqualFunc(before, tc.b.Agents, func(a, b router.Agent) bool { return a.ID == b.ID && a.Load == b.Load }) {
				t.Fatal("Decide changed the batch's agents")
			}
		})
	}
}

func TestDecideFaultDetails(t *testing.T) {
	b := batch([]router.Queue{{OrgID: "o", ID: "q"}}, nil, missing(1, "q"), corrupt(2, "q"), ok(3, "gone"))
	ds := router.Decide(router.PolicyQuarantine, b)
	if len(ds) != 3 {
		t.Fatalf("decisions: %s", render(ds))
	}
	if d := ds[0]; d.Error != "current revision 10 not found" || d.QueueID != "q" {
		t.Errorf("missing: %+v", d)
	}
	if d := ds[1]; !strings.HasPrefix(d.Error, "revision 20: corrupt attributes: priority must be") {
		t.Errorf("corrupt: %+v", d)
	}
	if d := ds[2]; d.Cause != router.CauseUnknownQueue || d.QueueID != "gone" || !strings.Contains(d.Error, "queue gone does not exist") {
		t.Errorf("unknown queue: %+v", d)
	}
}

// ---- property: Decide on random batches ----

type decideWorld struct {
	policy router.FaultPolicy
	b      *router.Batch
}

var (
	propTeams  = []string{"t1", "t2", "t3"}
	propSkills = []string{"de", "fr", "vip"}
)

func genDecideWorld(t *rapid.T) decideWorld {
	policy := rapid.SampledFrom(router.FaultPolicies).Draw(t, "policy")
	b := &router.Batch{Org: "o", Queues: map[string]router.Queue{}}
	nq := rapid.IntRange(1, 4).Draw(t, "queues")
	var qids []string
	for i := range nq {
		id := fmt.Sprintf("q%d", i)
		qids = append(qids, id)
		b.Queues[id] = router.Queue{OrgID: "o", ID: id, Priority: rapid.IntRange(0, 3).Draw(t, "qprio"),
			Paused: rapid.IntRange(0, 4).Draw(t, "paused") == 0}
	}
	na := rapid.IntRange(0, 6).Draw(t, "agents")
	for i := range na {
		a := router.Agent{OrgID: "o", ID: fmt.Sprintf("a%d", i),
			TeamID:     rapid.SampledFrom(propTeams).Draw(t, "team"),
			Status:     rapid.SampledFrom([]router.AgentStatus{router.AgentAvailable, router.AgentAvailable, router.AgentAway, router.AgentOffline}).Draw(t, "status"),
			TeamStatus: rapid.SampledFrom([]router.TeamStatus{router.TeamActive, router.TeamActive, router.TeamPaused}).Draw(t, "teamStatus"),
			Capacity:   rapid.IntRange(0, 4).Draw(t, "cap"),
		}
		a.Load = rapid.IntRange(0, a.Capacity+1).Draw(t, "load")
		for _, s := range propSkills {
			if rapid.Bool().Draw(t, "has-"+s) {
				a.Skills = append(a.Skills, s)
			}
		}
		b.Agents = append(b.Agents, a)
	}
	ni := rapid.IntRange(0, 25).Draw(t, "items")
	for i := range ni {
		q := rapid.SampledFrom(append(slices.Clone(qids), "gone")).Draw(t, "queue")
		ci := router.ClaimedItem{Item: router.WorkItem{OrgID: "o", ID: int64(i + 1), QueueID: q, State: router.StateQueued,
			CurrentRevisionID: int64(100 + i), EnqueuedAt: t0.Add(time.Duration(i) * time.Second)}}
		switch rapid.IntRange(0, 9).Draw(t, "kind") {
		case 0:
			ci.RevisionFound = false
		case 1:
			ci.RevisionFound = true
			ci.Attributes = router.CorruptAttributes(rapid.IntRange(0, 4).Draw(t, "corrupt"))
		default:
			ci.RevisionFound = true
			a := router.Attributes{Priority: rapid.IntRange(0, 100).Draw(t, "prio"), Channel: "chat"}
			if rapid.IntRange(0, 3).Draw(t, "hasTeam") == 0 {
				a.Team = rapid.SampledFrom(propTeams).Draw(t, "wantTeam")
			}
			for _, s := range propSkills {
				if rapid.IntRange(0, 4).Draw(t, "want-"+s) == 0 {
					a.Skills = append(a.Skills, s)
				}
			}
			ci.Attributes = a.Marshal()
		}
		b.Items = append(b.Items, ci)
	}
	return decideWorld{policy: policy, b: b}
}

func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genDecideWorld(t)
		b := w.b
		before := slices.Clone(b.Agents)
		ds := router.Decide(w.policy, b)
		for i := range before {
			if before[i].Load != b.Agents[i].Load {
				t.Fatalf("Decide changed the batch's agents")
			}
		}

		// The reference model, written from DESIGN.md rather than from Decide.
		byItem := map[int64]router.Decision{}
		for _, d := range ds {
			if _, dup := byItem[d.ItemID]; dup {
				t.Fatalf("item %d decided twice: %s", d.ItemID, render(ds))
			}
			byItem[d.ItemID] = d
		}
		loads := map[string]int{}
		agents := map[string]router.Agent{}
		for _, a := range b.Agents {
			loads[a.ID] = a.Load
			agents[a.ID] = a
		}
		blocked := map[string]bool{}
		pos := 0 // decisions come in batch order
		for i := range b.Items {
			ci := &b.Items[i]
			it := &ci.Item
			d, decided := byItem[it.ID]
			if decided {
				if pos >= len(ds) || ds[pos].ItemID != it.ID {
					t.Fatalf("decisions out of batch order: %s", render(ds))
				}
				pos++
			}
			q, known := b.Queues[it.QueueID]
			var wantFault router.Cause
			switch {
			case blocked[it.QueueID]:
				if decided {
					t.Fatalf("item %d behind a block-policy fault in %s was decided: %+v", it.ID, it.QueueID, d)
				}
				continue
			case !known:
				wantFault = router.CauseUnknownQueue
			case q.Paused:
				if decided {
					t.Fatalf("item %d of paused queue %s was decided: %+v", it.ID, it.QueueID, d)
				}
				continue
			case !ci.RevisionFound:
				wantFault = router.CauseMissingRevision
			case router.ValidateAttributes(ci.Attributes) != nil:
				wantFault = router.CauseCorruptRevision
			}
			if wantFault != "" {
				if !decided || d.Kind != router.DecideFault || d.Cause != wantFault || d.Action != w.policy || d.QueueID != it.QueueID || d.Error == "" {
					t.Fatalf("item %d: want fault %s/%s, got %+v (decided %v)", it.ID, wantFault, w.policy, d, decided)
				}
				if w.policy == router.PolicyBlock && known {
					blocked[it.QueueID] = true
				}
				continue
			}
			attrs, _ := router.ParseAttributes(ci.Attributes)
			var eligible []router.Agent
			for _, a := range b.Agents {
				a.Load = loads[a.ID]
				if a.Status == router.AgentAvailable && a.TeamStatus == router.TeamActive && a.Load < a.Capacity &&
					(attrs.Team == "" || a.TeamID == attrs.Team) && subset(attrs.Skills, a.Skills) {
					eligible = append(eligible, a)
				}
			}
			if !decided {
				if len(eligible) > 0 {
					t.Fatalf("item %d left unassigned while %v could take it", it.ID, eligible)
				}
				continue
			}
			if d.Kind != router.DecideAssign {
				t.Fatalf("valid item %d got %+v", it.ID, d)
			}
			chosen, okA := agents[d.AgentID]
			if !okA {
				t.Fatalf("item %d assigned to unknown agent %q", it.ID, d.AgentID)
			}
			chosen.Load = loads[chosen.ID]
			if !slices.ContainsFunc(eligible, func(a router.Agent) bool { return a.ID == chosen.ID }) {
				t.Fatalf("item %d assigned to ineligible agent %+v (attrs %+v)", it.ID, chosen, attrs)
			}
			for _, e := range eligible {
				if e.Load < chosen.Load || (e.Load == chosen.Load && e.Free() > chosen.Free()) ||
					(e.Load == chosen.Load && e.Free() == chosen.Free() && e.ID < chosen.ID) {
					t.Fatalf("item %d went to %+v but %+v comes first", it.ID, chosen, e)
				}
			}
			loads[chosen.ID]++
			if loads[chosen.ID] > chosen.Capacity {
				t.Fatalf("agent %s over capacity", chosen.ID)
			}
		}
		if pos != len(ds) {
			t.Fatalf("decisions for items not in the batch: %s", render(ds))
		}
	})
}

func subset(want, have []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}
