package storetest

import (
	"slices"
	"testing"

	"github.com/routeops/routeops/router"
)

var referenceTests = []suiteTest{
	{"Reference/Orgs", testOrgs},
	{"Reference/QueuesTeamsAgents", testQueuesTeamsAgents},
	{"Reference/UpsertAgentKeepsLoad", testUpsertAgentKeepsLoad},
	{"Reference/SetAgentStatus", testSetAgentStatus},
	{"Reference/SetTeamStatus", testSetTeamStatus},
	{"Reference/RoutableOrgs", testRoutableOrgs},
}

func testOrgs(t *testing.T, s router.Store) {
	f := newFx(t, s)
	if err := s.Ping(f.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if d := s.Describe(); d == "" {
		t.Fatal("Describe returned an empty string")
	}
	orgs, err := s.ListOrgs(f.ctx)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	if len(orgs) != 0 {
		t.Fatalf("a fresh store lists orgs %v, want none", orgs)
	}
	f.org("org-b")
	f.org("org-a")
	if err := s.UpsertOrg(f.ctx, router.Org{ID: "org-b", Name: "renamed"}); err != nil {
		t.Fatalf("UpsertOrg of an existing org: %v", err)
	}
	orgs, err = s.ListOrgs(f.ctx)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	if !slices.Equal(orgs, []string{"org-a", "org-b"}) {
		t.Fatalf("ListOrgs = %v, want [org-a org-b] (sorted, each once)", orgs)
	}
}

func testQueuesTeamsAgents(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.org("o1")
	f.org("o2")
	f.queue("o1", "q1", 1, false)
	f.queue("o1", "q2", 5, true)
	f.queue("o1", "q1", 3, false) // replace
	f.queue("o2", "other", 0, false)
	f.team("o1", "t1", router.TeamActive)
	f.team("o1", "t2", router.TeamPaused)
	f.team("o1", "t2", router.TeamActive) // replace
	f.team("o2", "t9", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2, "billing", "fr")
	f.agent("o1", "a2", "t2", router.AgentAway, 1)
	// A new agent's load starts at zero: load only changes through
	// assignment and completion.
	if err := s.UpsertAgent(f.ctx, router.Agent{OrgID: "o1", ID: "a3", TeamID: "t1", Status: router.AgentOffline,
		Capacity: 4, Load: 3}); err != nil {
		t.Fatalf("UpsertAgent(a3): %v", err)
	}
	f.agent("o2", "z1", "t9", router.AgentAvailable, 1)

	qs, err := s.ListQueues(f.ctx, "o1")
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	slices.SortFunc(qs, func(a, b router.Queue) int { return cmpString(a.ID, b.ID) })
	wantQ := []router.Queue{{OrgID: "o1", ID: "q1", Priority: 3}, {OrgID: "o1", ID: "q2", Priority: 5, Paused: true}}
	if !slices.Equal(qs, wantQ) {
		t.Fatalf("ListQueues(o1) = %+v, want %+v", qs, wantQ)
	}

	ts, err := s.ListTeams(f.ctx, "o1")
	if err != nil {
		t.Fatalf("ListTeams: %v", err)
	}
	slices.SortFunc(ts, func(a, b router.Team) int { return cmpString(a.ID, b.ID) })
	wantT := []router.Team{{OrgID: "o1", ID: "t1", Status: router.TeamActive}, {OrgID: "o1", ID: "t2", Status: router.TeamActive}}
	if !slices.Equal(ts, wantT) {
		t.Fatalf("ListTeams(o1) = %+v, want %+v", ts, wantT)
	}

	as := f.agents("o1")
	if len(as) != 3 {
		t.Fatalf("ListAgents(o1) lists %d agents, want 3: %+v", len(as), as)
	}
	checkAgent(t, as["a1"], router.Agent{OrgID: "o1", ID: "a1", TeamID: "t1", Skills: []string{"billing", "fr"},
		Status: router.AgentAvailable, Capacity: 2})
	checkAgent(t, as["a2"], router.Agent{OrgID: "o1", ID: "a2", TeamID: "t2", Status: router.AgentAway, Capacity: 1})
	checkAgent(t, as["a3"], router.Agent{OrgID: "o1", ID: "a3", TeamID: "t1", Status: router.AgentOffline, Capacity: 4, Load: 0})
	if as2 := f.agents("o2"); len(as2) != 1 || as2["z1"].ID != "z1" {
		t.Fatalf("ListAgents(o2) = %+v, want only z1", as2)
	}
}

func checkAgent(t *testing.T, got, want router.Agent) {
	t.Helper()
	if got.OrgID != want.OrgID || got.ID != want.ID || got.TeamID != want.TeamID || got.Status != want.Status ||
		got.Capacity != want.Capacity || got.Load != want.Load || !slices.Equal(normSkills(got.Skills), normSkills(want.Skills)) {
		t.Fatalf("agent = %+v, want %+v", got, want)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testUpsertAgentKeepsLoad(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.team("o1", "t2", router.TeamActive)
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2, "x")
	it := f.enqueue("o1", "q", attrs(5, "chat"), at(0))
	f.assign("o1", sec(1), map[int64]string{it.ID: "a1"})
	if l := f.load("o1", "a1"); l != 1 {
		t.Fatalf("load after one assignment = %d, want 1", l)
	}
	// Replace everything else about the agent, passing a different load.
	if err := s.UpsertAgent(f.ctx, router.Agent{OrgID: "o1", ID: "a1", TeamID: "t2", Skills: []string{"y", "z"},
		Status: router.AgentAway, Capacity: 5, Load: 0}); err != nil {
		t.Fatalf("UpsertAgent: %v", err)
	}
	checkAgent(t, f.agents("o1")["a1"], router.Agent{OrgID: "o1", ID: "a1", TeamID: "t2", Skills: []string{"y", "z"},
		Status: router.AgentAway, Capacity: 5, Load: 1})
	// Load still goes down through completion.
	f.complete("o1", it.ID, sec(2))
	if l := f.load("o1", "a1"); l != 0 {
		t.Fatalf("load after completion = %d, want 0", l)
	}
}

func testSetAgentStatus(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	for _, st := range []router.AgentStatus{router.AgentAway, router.AgentOffline, router.AgentAvailable} {
		if err := s.SetAgentStatus(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "a1", Status: st, At: at(0)}); err != nil {
			t.Fatalf("SetAgentStatus(%s): %v", st, err)
		}
		a := f.agents("o1")["a1"]
		if a.Status != st || a.Capacity != 2 || a.TeamID != "t1" {
			t.Fatalf("after SetAgentStatus(%s): %+v", st, a)
		}
	}
	wantNotFound(t, "SetAgentStatus of an unknown agent", s.SetAgentStatus(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "nobody", Status: router.AgentAway, At: at(0)}))
	wantNotFound(t, "SetAgentStatus in an unknown org", s.SetAgentStatus(f.ctx, router.AgentStatusRequest{Org: "nope", Agent: "a1", Status: router.AgentAway, At: at(0)}))
}

func testSetTeamStatus(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	f.enqueue("o1", "q", attrs(1, "chat"), at(0))
	if err := s.SetTeamStatus(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "t1", Status: router.TeamPaused, At: sec(1)}); err != nil {
		t.Fatalf("SetTeamStatus: %v", err)
	}
	ts, err := s.ListTeams(f.ctx, "o1")
	if err != nil {
		t.Fatalf("ListTeams: %v", err)
	}
	if len(ts) != 1 || ts[0].Status != router.TeamPaused {
		t.Fatalf("ListTeams after pausing t1 = %+v", ts)
	}
	// Routing sees the paused team on the agent and in the batch.
	var batch router.Batch
	f.route(router.RouteRequest{Org: "o1", Now: sec(2)}, func(b *router.Batch) []router.Decision { batch = *b; return nil })
	if len(batch.Agents) != 1 || batch.Agents[0].TeamStatus != router.TeamPaused {
		t.Fatalf("batch agents after pausing the team = %+v, want a1 with team status paused", batch.Agents)
	}
	if batch.Teams["t1"].Status != router.TeamPaused {
		t.Fatalf("batch teams = %+v, want t1 paused", batch.Teams)
	}
	// router.Decide then assigns nothing.
	res := f.routeWith("o1", router.PolicyQuarantine, sec(3))
	if res.Assigned != 0 {
		t.Fatalf("assigned %d items to a paused team", res.Assigned)
	}
	if err := s.SetTeamStatus(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "t1", Status: router.TeamActive, At: sec(4)}); err != nil {
		t.Fatalf("SetTeamStatus(active): %v", err)
	}
	if res := f.routeWith("o1", router.PolicyQuarantine, sec(5)); res.Assigned != 1 {
		t.Fatalf("after reactivating the team assigned %d, want 1", res.Assigned)
	}
	wantNotFound(t, "SetTeamStatus of an unknown team", s.SetTeamStatus(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "nope", Status: router.TeamPaused, At: at(0)}))
}

func testRoutableOrgs(t *testing.T, s router.Store) {
	f := newFx(t, s)
	// ready: queued work and a free agent.
	f.basicOrg("ready")
	f.agent("ready", "a1", "t1", router.AgentAvailable, 1)
	f.enqueue("ready", "q", attrs(1, "chat"), at(0))
	// idle: a free agent but nothing queued.
	f.basicOrg("idle")
	f.agent("idle", "a1", "t1", router.AgentAvailable, 3)
	// away: queued work, the only agent is away.
	f.basicOrg("away")
	f.agent("away", "a1", "t1", router.AgentAway, 3)
	f.enqueue("away", "q", attrs(1, "chat"), at(0))
	// zero: queued work, the only agent has no capacity.
	f.basicOrg("zero")
	f.agent("zero", "a1", "t1", router.AgentAvailable, 0)
	f.enqueue("zero", "q", attrs(1, "chat"), at(0))
	// full: the only agent is at capacity, one item still waits.
	f.basicOrg("full")
	f.agent("full", "a1", "t1", router.AgentAvailable, 1)
	first := f.enqueue("full", "q", attrs(9, "chat"), at(0))
	f.enqueue("full", "q", attrs(1, "chat"), sec(1))
	f.assign("full", sec(2), map[int64]string{first.ID: "a1"})
	// skipped: the only queued item is flagged by the skip policy.
	f.basicOrg("skipped")
	f.agent("skipped", "a1", "t1", router.AgentAvailable, 3)
	sk := f.enqueue("skipped", "q", badPriorityAttrs, at(0))
	f.fault("skipped", sk.ID, router.CauseCorruptRevision, "bad", router.PolicySkip, sec(1))
	// quarantined: the only item is quarantined.
	f.basicOrg("quar")
	f.agent("quar", "a1", "t1", router.AgentAvailable, 3)
	qi := f.enqueue("quar", "q", attrs(1, "chat"), at(0))
	f.quarantine("quar", qi.ID, "test", sec(1))

	all, err := s.ListOrgs(f.ctx)
	if err != nil {
		t.Fatalf("ListOrgs: %v", err)
	}
	if want := []string{"away", "full", "idle", "quar", "ready", "skipped", "zero"}; !slices.Equal(all, want) {
		t.Fatalf("ListOrgs = %v, want %v", all, want)
	}
	routable := func() []string {
		t.Helper()
		r, err := s.RoutableOrgs(f.ctx)
		if err != nil {
			t.Fatalf("RoutableOrgs: %v", err)
		}
		return r
	}
	if got := routable(); !slices.Equal(got, []string{"ready"}) {
		t.Fatalf("RoutableOrgs = %v, want [ready]", got)
	}
	// Completing frees capacity: "full" becomes routable; an agent coming
	// back makes "away" routable; releasing makes "quar" routable.
	f.complete("full", first.ID, sec(3))
	if err := s.SetAgentStatus(f.ctx, router.AgentStatusRequest{Org: "away", Agent: "a1", Status: router.AgentAvailable, At: sec(3)}); err != nil {
		t.Fatal(err)
	}
	f.release("quar", qi.ID, sec(3))
	if got := routable(); !slices.Equal(got, []string{"away", "full", "quar", "ready"}) {
		t.Fatalf("RoutableOrgs = %v, want [away full quar ready]", got)
	}
}
