package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// Pure tests of Evaluate on hand-built aggregates: the stall rule at its
// boundaries, each cause, starvation, and the rollup.

func ptr[T any](v T) *T { return &v }

func group(team string, ts router.TeamStatus, free int, skills ...string) router.AgentGroup {
	return router.AgentGroup{TeamID: team, TeamStatus: ts, Status: router.AgentAvailable, Skills: skills,
		Agents: 1, Capacity: free + 1, Load: 1, Free: free}
}

func head(id int64, enq time.Time, a []byte) *router.HeadItem {
	return &router.HeadItem{ID: id, EnqueuedAt: enq, CurrentRevisionID: id * 10, RevisionFound: true, Attributes: a}
}

// evalOne evaluates one org with one queue at base.
func evalOne(t *testing.T, q router.QueueStats, groups []router.AgentGroup, teams []router.Team, hb []router.Heartbeat) ops.QueueHealth {
	t.Helper()
	q.Org, q.Queue = "o1", "q1"
	raw := &router.StoreSnapshot{Now: base, Heartbeats: hb, Orgs: []router.OrgStats{{
		Org: "o1", Queued: q.Depth, Queues: []router.QueueStats{q}, AgentGroups: groups, Teams: teams}}}
	s := ops.Evaluate(raw, settings())
	if len(s.Orgs) != 1 || len(s.Orgs[0].Queues) != 1 {
		t.Fatalf("snapshot shape: %+v", s)
	}
	return s.Orgs[0].Queues[0]
}

func freshBeat() []router.Heartbeat {
	return []router.Heartbeat{{EngineID: "e1", Policy: router.PolicyQuarantine, StartedAt: at(-time.Hour), BeatAt: at(-2 * time.Second)}}
}

func TestEvaluateQueueFigures(t *testing.T) {
	teams := []router.Team{{OrgID: "o1", ID: "t1", Status: router.TeamActive}, {OrgID: "o1", ID: "t2", Status: router.TeamActive}}
	groups := []router.AgentGroup{group("t1", router.TeamActive, 3), group("t2", router.TeamActive, 4, "de")}
	h := head(42, at(-30*time.Second), attrs(5))
	h.Attempts, h.LastError = 2, "transient: boom"
	q := router.QueueStats{Depth: 4, OldestEnqueuedAt: ptr(at(-10 * time.Minute)), Head: h,
		LastAssignedAt: ptr(at(-5 * time.Second)), Quarantined: 0, Assigned1m: 3, Assigned5m: 9}
	qh := evalOne(t, q, groups, teams, freshBeat())
	if qh.Depth != 4 || qh.OldestAgeSeconds != 600 || qh.AvailableCapacity != 7 || qh.Stalled || qh.Cause != "" ||
		qh.Health != ops.HealthOK || qh.Starved {
		t.Fatalf("queue figures: %+v", qh)
	}
	if qh.Head == nil || qh.Head.Item != "42" || qh.Head.AgeSeconds != 30 || qh.Head.Attempts != 2 ||
		qh.Head.LastError != "transient: boom" || qh.Head.Revision != "ok" {
		t.Fatalf("head: %+v", qh.Head)
	}
	if qh.LastProgressSeconds != 5 || qh.Assigned1m != 3 || qh.Assigned5m != 9 {
		t.Fatalf("progress figures: %+v", qh)
	}

	// The capacity is what could take the head: team t2 alone, or only the
	// agents holding a required skill.
	q.Head = head(43, at(-30*time.Second), teamAttrs("t2", 5))
	if qh := evalOne(t, q, groups, teams, freshBeat()); qh.AvailableCapacity != 4 {
		t.Fatalf("capacity for a t2 head = %d, want 4", qh.AvailableCapacity)
	}
	q.Head = head(44, at(-30*time.Second), []byte(`{"skills": ["de"], "channel": "chat", "priority": 5}`))
	if qh := evalOne(t, q, groups, teams, freshBeat()); qh.AvailableCapacity != 4 {
		t.Fatalf("capacity for a head needing skill de = %d, want 4", qh.AvailableCapacity)
	}

	// An empty queue has no head and is healthy.
	qh = evalOne(t, router.QueueStats{}, groups, teams, freshBeat())
	if qh.Head != nil || qh.Depth != 0 || qh.Stalled || qh.Health != ops.HealthOK || qh.LastProgressSeconds != -1 {
		t.Fatalf("empty queue: %+v", qh)
	}
}

func TestEvaluateStallRule(t *testing.T) {
	t1 := router.Team{OrgID: "o1", ID: "t1", Status: router.TeamActive}
	t2 := router.Team{OrgID: "o1", ID: "t2", Status: router.TeamActive}
	t2p := router.Team{OrgID: "o1", ID: "t2", Status: router.TeamPaused}
	free := []router.AgentGroup{group("t1", router.TeamActive, 3)}
	full := []router.AgentGroup{group("t1", router.TeamActive, 0)}
	t2full := []router.AgentGroup{group("t1", router.TeamActive, 3), group("t2", router.TeamActive, 0)}
	t2paused := []router.AgentGroup{group("t1", router.TeamActive, 3), group("t2", router.TeamPaused, 2)}
	stale := []router.Heartbeat{{EngineID: "e1", BeatAt: at(-16 * time.Second)}}
	stopped := []router.Heartbeat{{EngineID: "e1", BeatAt: at(-time.Second), Stopped: true}}
	missing := &router.HeadItem{ID: 7, EnqueuedAt: at(-10 * time.Minute), CurrentRevisionID: 70, Attempts: 57}
	corrupt := head(8, at(-10*time.Minute), []byte(`{"channel": "fax", "priority": 10}`))

	type tc struct {
		name    string
		q       router.QueueStats
		groups  []router.AgentGroup
		teams   []router.Team
		hb      []router.Heartbeat
		stalled bool
		starved bool
		cause   router.Cause
		health  ops.Health
	}
	cases := []tc{
		{name: "head younger than stall_after", q: router.QueueStats{Depth: 1, Head: head(1, at(-59*time.Second), attrs(1))},
			groups: free, hb: freshBeat(), health: ops.HealthOK},
		{name: "head waited stall_after, never any progress", q: router.QueueStats{Depth: 1, Head: head(1, at(-60*time.Second), attrs(1))},
			groups: free, hb: freshBeat(), stalled: true, cause: router.CauseUnknown, health: ops.HealthCritical},
		{name: "age alone: old head, progress 59s ago", q: router.QueueStats{Depth: 5, Head: head(1, at(-time.Hour), attrs(1)),
			LastAssignedAt: ptr(at(-59 * time.Second))}, groups: free, hb: freshBeat(), health: ops.HealthOK},
		{name: "old head, no progress for stall_after", q: router.QueueStats{Depth: 5, Head: head(1, at(-time.Hour), attrs(1)),
			LastAssignedAt: ptr(at(-60 * time.Second))}, groups: free, hb: freshBeat(), stalled: true, cause: router.CauseUnknown, health: ops.HealthCritical},
		{name: "starved, head younger than warn_head_age", q: router.QueueStats{Depth: 1, Head: head(1, at(-4*time.Minute), attrs(1))},
			groups: full, hb: freshBeat(), starved: true, cause: router.CauseNoCapacity, health: ops.HealthOK},
		{name: "starved, head past warn_head_age", q: router.QueueStats{Depth: 1, Head: head(1, at(-5*time.Minute), attrs(1))},
			groups: full, hb: freshBeat(), starved: true, cause: router.CauseNoCapacity, health: ops.HealthWarning},
		{name: "starved for hours is still only a warning", q: router.QueueStats{Depth: 9, Head: head(1, at(-5*time.Hour), attrs(1))},
			groups: full, hb: freshBeat(), starved: true, cause: router.CauseNoCapacity, health: ops.HealthWarning},
		{name: "starved with no engine: starved, not stalled", q: router.QueueStats{Depth: 1, Head: head(1, at(-10*time.Minute), attrs(1))},
			groups: full, starved: true, cause: router.CauseNoCapacity, health: ops.HealthWarning},
		{name: "head's team full, other teams free, engine down: starved", q: router.QueueStats{Depth: 1,
			Head: head(1, at(-10*time.Minute), teamAttrs("t2", 1))}, groups: t2full, teams: []router.Team{t1, t2}, hb: stale,
			starved: true, cause: router.CauseNoCapacity, health: ops.HealthWarning},
		{name: "missing revision", q: router.QueueStats{Depth: 3, Head: missing}, groups: free, hb: freshBeat(),
			stalled: true, cause: router.CauseMissingRevision, health: ops.HealthCritical},
		{name: "missing revision, head younger than stall_after: warning", q: router.QueueStats{Depth: 3,
			Head: &router.HeadItem{ID: 7, EnqueuedAt: at(-10 * time.Second), CurrentRevisionID: 70}}, groups: free, hb: freshBeat(),
			health: ops.HealthWarning},
		{name: "corrupt revision", q: router.QueueStats{Depth: 3, Head: corrupt}, groups: free, hb: freshBeat(),
			stalled: true, cause: router.CauseCorruptRevision, health: ops.HealthCritical},
		{name: "queue paused with waiting work: a deliberate pause is never a stall", q: router.QueueStats{Depth: 2, Paused: true, Head: head(1, at(-10*time.Minute), attrs(1))},
			groups: free, hb: freshBeat(), cause: router.CauseQueuePaused, health: ops.HealthWarning},
		{name: "queue paused just after progress: not stalled yet", q: router.QueueStats{Depth: 2, Paused: true,
			Head: head(1, at(-10*time.Minute), attrs(1)), LastAssignedAt: ptr(at(-10 * time.Second))},
			groups: free, hb: freshBeat(), cause: router.CauseQueuePaused, health: ops.HealthWarning},
		{name: "queue paused and no capacity: not stalled", q: router.QueueStats{Depth: 2, Paused: true,
			Head: head(1, at(-10*time.Minute), attrs(1))}, groups: full, hb: freshBeat(), cause: router.CauseQueuePaused, health: ops.HealthWarning},
		{name: "team paused: a deliberate pause is never a stall", q: router.QueueStats{Depth: 2, Head: head(1, at(-10*time.Minute), teamAttrs("t2", 1))},
			groups: t2paused, teams: []router.Team{t1, t2p}, hb: freshBeat(), cause: router.CauseTeamPaused, health: ops.HealthWarning},
		{name: "no heartbeat at all", q: router.QueueStats{Depth: 1, Head: head(1, at(-10*time.Minute), attrs(1))},
			groups: free, stalled: true, cause: router.CauseEngineDown, health: ops.HealthCritical},
		{name: "stale heartbeat", q: router.QueueStats{Depth: 1, Head: head(1, at(-10*time.Minute), attrs(1))},
			groups: free, hb: stale, stalled: true, cause: router.CauseEngineDown, health: ops.HealthCritical},
		{name: "engine stopped cleanly", q: router.QueueStats{Depth: 1, Head: head(1, at(-10*time.Minute), attrs(1))},
			groups: free, hb: stopped, stalled: true, cause: router.CauseEngineDown, health: ops.HealthCritical},
		{name: "engine down but head young: warning", q: router.QueueStats{Depth: 1, Head: head(1, at(-10*time.Second), attrs(1))},
			groups: free, health: ops.HealthWarning},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			teams := c.teams
			if teams == nil {
				teams = []router.Team{t1}
			}
			qh := evalOne(t, c.q, c.groups, teams, c.hb)
			if qh.Stalled != c.stalled || qh.Starved != c.starved || qh.Cause != c.cause || qh.Health != c.health {
				t.Fatalf("got stalled=%v starved=%v cause=%q health=%s (%s); want stalled=%v starved=%v cause=%q health=%s",
					qh.Stalled, qh.Starved, qh.Cause, qh.Health, qh.Reason, c.stalled, c.starved, c.cause, c.health)
			}
			if qh.Starved && (qh.Stalled || qh.Health == ops.HealthCritical) {
				t.Fatalf("a starved queue must never be stalled or critical: %+v", qh)
			}
			if qh.Health != ops.HealthOK && qh.Reason == "" {
				t.Fatalf("health %s without a reason", qh.Health)
			}
		})
	}

	t.Run("missing revision fills last_error", func(t *testing.T) {
		qh := evalOne(t, router.QueueStats{Depth: 3, Head: missing}, free, []router.Team{t1}, freshBeat())
		if qh.Head.Revision != "missing" || qh.Head.LastError != "current revision 70 not found" || qh.Head.Attempts != 57 {
			t.Fatalf("head: %+v", qh.Head)
		}
		// With no attributes to match, every free agent counts.
		if qh.AvailableCapacity != 3 {
			t.Fatalf("capacity %d, want 3", qh.AvailableCapacity)
		}
	})
}

func TestEvaluateRollupAndSort(t *testing.T) {
	groups := []router.AgentGroup{group("t1", router.TeamActive, 2)}
	teams := []router.Team{{ID: "t1", Status: router.TeamActive}}
	q := func(org, id string, depth, quar int, h *router.HeadItem, oldest time.Duration) router.QueueStats {
		return router.QueueStats{Org: org, Queue: id, Depth: depth, Quarantined: quar, Head: h,
			OldestEnqueuedAt: ptr(at(-oldest)), LastAssignedAt: ptr(at(-time.Second))}
	}
	young := func(id int64, age time.Duration) *router.HeadItem { return head(id, at(-age), attrs(1)) }
	orgs := []router.OrgStats{
		{Org: "o-ok", Queued: 1, Assigned: 10, Queues: []router.QueueStats{q("o-ok", "q", 1, 0, young(1, 5*time.Second), 5*time.Second)}},
		{Org: "o-warn-a", Queued: 2, Assigned: 1, Quarantined: 1, Queues: []router.QueueStats{q("o-warn-a", "q", 2, 1, young(2, 10*time.Second), 100*time.Second)}},
		{Org: "o-crit", Queued: 3, Quarantined: 0, Queues: []router.QueueStats{
			q("o-crit", "a", 1, 0, young(3, 5*time.Second), 5*time.Second),
			{Org: "o-crit", Queue: "b", Depth: 2, OldestEnqueuedAt: ptr(at(-10 * time.Minute)),
				Head: &router.HeadItem{ID: 4, EnqueuedAt: at(-10 * time.Minute), CurrentRevisionID: 40}}}},
		{Org: "o-warn-b", Queued: 4, Assigned: 2, Quarantined: 2, Queues: []router.QueueStats{q("o-warn-b", "q", 4, 2, young(5, 10*time.Second), 300*time.Second)}},
		{Org: "o-empty"},
	}
	for i := range orgs {
		orgs[i].AgentGroups, orgs[i].Teams = groups, teams
	}
	s := ops.Evaluate(&router.StoreSnapshot{Now: base, Orgs: orgs, Heartbeats: freshBeat()}, settings())
	var order []string
	for _, o := range s.Orgs {
		order = append(order, o.Org+"="+string(o.Health))
	}
	want := "o-crit=critical o-warn-b=warning o-warn-a=warning o-ok=ok o-empty=ok"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("org order:\n got %s\nwant %s", got, want)
	}
	sm := s.Summary
	if sm.Orgs != 5 || sm.Queued != 10 || sm.Assigned != 13 || sm.Quarantined != 3 || sm.StalledQueues != 1 ||
		sm.Health != ops.HealthCritical || sm.WarningOrgs != 2 || sm.CriticalOrgs != 1 {
		t.Fatalf("summary: %+v", sm)
	}
	crit := s.Orgs[0]
	if crit.StalledQueues != 1 || !strings.HasPrefix(crit.Reason, "b: ") || crit.Queues[1].Cause != router.CauseMissingRevision {
		t.Fatalf("critical org: %+v", crit)
	}
	if !s.GeneratedAt.Equal(base) || s.Engine.State != "running" || s.Engine.Engines != 1 {
		t.Fatalf("generated_at %v, engine %+v", s.GeneratedAt, s.Engine)
	}
	if got := ops.HealthCritical.ExitCode(); got != 2 {
		t.Fatalf("critical exit code %d", got)
	}
	if ops.HealthWarning.ExitCode() != 1 || ops.HealthOK.ExitCode() != 0 {
		t.Fatal("exit codes")
	}

	// Without the critical org the fleet is a warning; with only healthy
	// orgs it is ok.
	s = ops.Evaluate(&router.StoreSnapshot{Now: base, Orgs: []router.OrgStats{orgs[0], orgs[1]}, Heartbeats: freshBeat()}, settings())
	if s.Summary.Health != ops.HealthWarning || s.Summary.StalledQueues != 0 {
		t.Fatalf("summary without the critical org: %+v", s.Summary)
	}
	s = ops.Evaluate(&router.StoreSnapshot{Now: base, Orgs: []router.OrgStats{orgs[0]}, Heartbeats: freshBeat()}, settings())
	if s.Summary.Health != ops.HealthOK {
		t.Fatalf("healthy fleet: %+v", s.Summary)
	}
}
