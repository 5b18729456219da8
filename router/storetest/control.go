package storetest

import (
	"testing"
	"time"

	"github.com/routeops/routeops/router"
)

var controlTests = []suiteTest{
	{"Control/PauseWithReasonAndEnd", testPauseWithReason},
	{"Control/ResumeExpired", testResumeExpired},
	{"Control/TeamStatusBy", testTeamStatusBy},
	{"Control/AgentStatusBy", testAgentStatusBy},
}

func (f *fx) pause(org, queue, reason string, until *time.Time, when time.Time) router.ActionResult {
	f.t.Helper()
	r, err := f.s.PauseQueue(f.ctx, router.PauseRequest{Org: org, Queue: queue, Reason: reason, Until: until, Actor: operator, At: when})
	if err != nil {
		f.t.Fatalf("PauseQueue(%s/%s): %v", org, queue, err)
	}
	return r
}

func (f *fx) listQueue(org, queue string) router.Queue {
	f.t.Helper()
	qs, err := f.s.ListQueues(f.ctx, org)
	if err != nil {
		f.t.Fatalf("ListQueues(%s): %v", org, err)
	}
	for _, q := range qs {
		if q.ID == queue {
			return q
		}
	}
	f.t.Fatalf("ListQueues(%s) has no %s", org, queue)
	return router.Queue{}
}

func testPauseWithReason(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	until := sec(600)
	r := f.pause("o1", "q", "bad deploy upstream", &until, sec(10))
	if !r.Changed {
		t.Fatalf("PauseQueue = %+v, want Changed", r)
	}
	want := router.PauseInfo{By: operator.String(), Reason: "bad deploy upstream", At: ptr(sec(10)), Until: ptr(until)}
	q := f.listQueue("o1", "q")
	if !q.Paused || !samePause(q.Pause, want) {
		t.Fatalf("ListQueues after pause: paused %v %+v, want %+v", q.Paused, describePause(q.Pause), describePause(want))
	}
	qs := f.queueStats("o1", "q", sec(11))
	if !qs.Paused || !samePause(qs.Pause, want) {
		t.Fatalf("snapshot after pause: paused %v %+v, want %+v", qs.Paused, describePause(qs.Pause), describePause(want))
	}
	evs := f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventQueuePaused}})
	if len(evs) != 1 || evs[0].QueueID != "q" || !detailMentions(evs[0].Detail, "bad deploy upstream") {
		t.Fatalf("queue_paused events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	// Routing leaves a paused queue alone.
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(12))
	var claimed []int64
	f.route(router.RouteRequest{Org: "o1", Now: sec(13)}, func(b *router.Batch) []router.Decision { claimed = claimedIDs(b); return nil })
	if len(claimed) != 0 {
		t.Fatalf("a paused queue's item %d was claimed: %v", it.ID, claimed)
	}

	// The same pause again changes nothing; a new end updates it.
	if r := f.pause("o1", "q", "bad deploy upstream", &until, sec(20)); r.Changed {
		t.Fatalf("repeated pause = %+v, want unchanged", r)
	}
	later := sec(900)
	if r := f.pause("o1", "q", "bad deploy upstream", &later, sec(21)); !r.Changed {
		t.Fatalf("pause with a new end = %+v, want Changed", r)
	}
	q = f.listQueue("o1", "q")
	if q.Pause.Until == nil || !q.Pause.Until.Equal(later) || q.Pause.At == nil || !q.Pause.At.Equal(sec(10)) {
		t.Fatalf("pause after update %+v: want until %v, paused since %v", describePause(q.Pause), later, sec(10))
	}
	if n := len(f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventQueuePaused}})); n != 2 {
		t.Fatalf("%d queue_paused events, want 2", n)
	}
	// Resuming clears who, why and until.
	if _, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "o1", Queue: "q", Paused: false, Actor: operator, At: sec(30)}); err != nil {
		t.Fatal(err)
	}
	if q := f.listQueue("o1", "q"); q.Paused || q.Pause != (router.PauseInfo{}) {
		t.Fatalf("after resume: %+v", q)
	}
	// A pause without a reason still says who.
	if _, err := s.SetQueuePaused(f.ctx, router.QueuePauseRequest{Org: "o1", Queue: "q", Paused: true, Actor: operator, At: sec(40)}); err != nil {
		t.Fatal(err)
	}
	if q := f.listQueue("o1", "q"); !q.Paused || q.Pause.By != operator.String() || q.Pause.Until != nil {
		t.Fatalf("after a plain pause: %+v", describePause(q.Pause))
	}
	_, err := s.PauseQueue(f.ctx, router.PauseRequest{Org: "o1", Queue: "nope", Reason: "x", Actor: operator, At: sec(50)})
	wantNotFound(t, "PauseQueue(unknown queue)", err)
}

func testResumeExpired(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.queue("o1", "forever", 0, false)
	f.basicOrg("o2")
	u1, u2 := sec(60), sec(120)
	f.pause("o1", "q", "maintenance", &u1, sec(0))
	f.pause("o2", "q", "maintenance", &u2, sec(0))
	f.pause("o1", "forever", "until someone says so", nil, sec(0))
	if got, err := s.ResumeExpired(f.ctx, sec(59), engineActor); err != nil || len(got) != 0 {
		t.Fatalf("ResumeExpired before the end = %v, %v", got, err)
	}
	got, err := s.ResumeExpired(f.ctx, sec(60), engineActor)
	if err != nil || len(got) != 1 || got[0] != (router.QueueRef{Org: "o1", Queue: "q"}) {
		t.Fatalf("ResumeExpired at the end = %v, %v; want o1/q", got, err)
	}
	if again, err := s.ResumeExpired(f.ctx, sec(61), engineActor); err != nil || len(again) != 0 {
		t.Fatalf("ResumeExpired again = %v, %v; want nothing", again, err)
	}
	if q := f.listQueue("o1", "q"); q.Paused || q.Pause != (router.PauseInfo{}) {
		t.Fatalf("o1/q after its pause expired: %+v", q)
	}
	evs := f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventQueueResumed}})
	if len(evs) != 1 || evs[0].QueueID != "q" || !evs[0].At.Equal(sec(60)) || !detailMentions(evs[0].Detail, "maintenance") {
		t.Fatalf("queue_resumed events %+v", evs)
	}
	wantActor(t, evs[0], engineActor)
	got, err = s.ResumeExpired(f.ctx, sec(500), engineActor)
	if err != nil || len(got) != 1 || got[0] != (router.QueueRef{Org: "o2", Queue: "q"}) {
		t.Fatalf("ResumeExpired later = %v, %v; want o2/q", got, err)
	}
	if q := f.listQueue("o1", "forever"); !q.Paused {
		t.Fatal("a pause without an end was resumed")
	}
}

func testTeamStatusBy(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	r, err := s.SetTeamStatusBy(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "t1", Status: router.TeamPaused,
		Reason: "team offsite", Actor: operator, At: sec(5)})
	if err != nil || !r.Changed {
		t.Fatalf("SetTeamStatusBy(paused) = %+v, %v", r, err)
	}
	ts, err := s.ListTeams(f.ctx, "o1")
	if err != nil || len(ts) != 1 || ts[0].Status != router.TeamPaused || ts[0].Pause.Reason != "team offsite" ||
		ts[0].Pause.By != operator.String() || ts[0].Pause.At == nil || !ts[0].Pause.At.Equal(sec(5)) {
		t.Fatalf("ListTeams after pause = %+v, %v", ts, err)
	}
	os := f.orgStats("o1", sec(6))
	if len(os.Teams) != 1 || os.Teams[0].Status != router.TeamPaused {
		t.Fatalf("snapshot teams %+v", os.Teams)
	}
	if r, err := s.SetTeamStatusBy(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "t1", Status: router.TeamPaused,
		Reason: "again", Actor: operator, At: sec(6)}); err != nil || r.Changed {
		t.Fatalf("repeated team pause = %+v, %v; want unchanged", r, err)
	}
	if r, err := s.SetTeamStatusBy(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "t1", Status: router.TeamActive,
		Actor: operator, At: sec(7)}); err != nil || !r.Changed {
		t.Fatalf("team resume = %+v, %v", r, err)
	}
	ts, _ = s.ListTeams(f.ctx, "o1")
	if ts[0].Status != router.TeamActive || ts[0].Pause != (router.PauseInfo{}) {
		t.Fatalf("team after resume %+v", ts[0])
	}
	evs := f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventTeamPaused, router.EventTeamResumed}})
	if len(evs) != 2 || evs[0].Kind != router.EventTeamPaused || evs[1].Kind != router.EventTeamResumed ||
		!detailMentions(evs[0].Detail, "team offsite") || !detailMentions(evs[0].Detail, "t1") {
		t.Fatalf("team events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	_, err = s.SetTeamStatusBy(f.ctx, router.TeamStatusRequest{Org: "o1", Team: "nope", Status: router.TeamPaused, Actor: operator, At: sec(8)})
	wantNotFound(t, "SetTeamStatusBy(unknown team)", err)
}

func testAgentStatusBy(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 2)
	r, err := s.SetAgentStatusBy(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "a1", Status: router.AgentAway, Actor: operator, At: sec(1)})
	if err != nil || !r.Changed {
		t.Fatalf("SetAgentStatusBy(away) = %+v, %v", r, err)
	}
	if a := f.agents("o1")["a1"]; a.Status != router.AgentAway {
		t.Fatalf("agent after set-status: %+v", a)
	}
	if r, err := s.SetAgentStatusBy(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "a1", Status: router.AgentAway, Actor: operator, At: sec(2)}); err != nil || r.Changed {
		t.Fatalf("repeated set-status = %+v, %v", r, err)
	}
	evs := f.events(router.EventFilter{Org: "o1", Kinds: []string{router.EventAgentStatusChanged}})
	if len(evs) != 1 || !detailMentions(evs[0].Detail, "available") || !detailMentions(evs[0].Detail, "away") {
		t.Fatalf("agent events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	_, err = s.SetAgentStatusBy(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "zz", Status: router.AgentAway, Actor: operator, At: sec(3)})
	wantNotFound(t, "SetAgentStatusBy(unknown agent)", err)
	if _, err := s.SetAgentStatusBy(f.ctx, router.AgentStatusRequest{Org: "o1", Agent: "a1", Status: "asleep", Actor: operator, At: sec(3)}); err == nil {
		t.Fatal("SetAgentStatusBy accepted an unknown status")
	}
}

func ptr(t time.Time) *time.Time { return &t }

func samePause(a, b router.PauseInfo) bool {
	eq := func(x, y *time.Time) bool { return (x == nil && y == nil) || (x != nil && y != nil && x.Equal(*y)) }
	return a.By == b.By && a.Reason == b.Reason && eq(a.At, b.At) && eq(a.Until, b.Until)
}

func describePause(p router.PauseInfo) string {
	return "by " + p.By + " reason " + p.Reason + " at " + fmtTimePtr(p.At) + " until " + fmtTimePtr(p.Until)
}
