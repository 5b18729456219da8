package storetest

import (
	"testing"

	"github.com/routeops/routeops/router"
)

var repairTests = []suiteTest{
	{"Repair/Candidates", testRepairCandidates},
	{"Repair/CandidatesAreLiveItems", testRepairCandidatesStates},
	{"Repair/Apply", testApplyRepair},
	{"Repair/ApplyRefusals", testApplyRepairRefusals},
}

func candidatesByID(t *testing.T, s router.Store, f *fx, org string) map[int64]router.RepairCandidate {
	t.Helper()
	cs, err := s.RepairCandidates(f.ctx, org)
	if err != nil {
		t.Fatalf("RepairCandidates(%q): %v", org, err)
	}
	m := map[int64]router.RepairCandidate{}
	for _, c := range cs {
		if _, dup := m[c.Item.ID]; dup {
			t.Fatalf("RepairCandidates lists item %d twice", c.Item.ID)
		}
		m[c.Item.ID] = c
	}
	return m
}

func keysOf(m map[int64]router.RepairCandidate) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	return sortedInt64(out)
}

func testRepairCandidates(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	f.basicOrg("o2")
	a1, a2, a3 := attrs(1, "chat"), attrs(2, "email"), attrs(3, "sms", "tier", "gold")
	// a: three revisions, the current one deleted (a is the only queued
	// item when the drill runs, so the drill takes it).
	a := f.enqueue("o1", "q", a1, sec(0))
	ra2 := f.addRevision("o1", a.ID, a2, sec(10))
	ra3 := f.addRevision("o1", a.ID, a3, sec(20))
	del, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 1, Actor: operator, At: sec(25)})
	if err != nil || !equalInt64(del, []int64{a.ID}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v; want [%d]", del, err, a.ID)
	}
	// b: a valid first revision, then an invalid current one.
	b := f.enqueue("o1", "q", a1, sec(30))
	f.addRevision("o1", b.ID, badPriorityAttrs, sec(40))
	// c: valid and queued: not a candidate.
	f.enqueue("o1", "q", a2, sec(50))
	// d: invalid and quarantined by an operator.
	d := f.enqueue("o1", "q", badChannelAttrs, sec(60))
	f.quarantine("o1", d.ID, "bad", sec(61))
	// g: completed with an invalid revision: not a candidate either.
	g := f.enqueue("o1", "q", attrs(100, "chat"), sec(80))
	f.assign("o1", sec(81), map[int64]string{g.ID: "a1"})
	f.complete("o1", g.ID, sec(82))
	f.addRevision("o1", g.ID, unknownKeyAttrs, sec(83))
	// h: another org.
	h := f.enqueue("o2", "q", notObjectAttrs, sec(90))

	cs := candidatesByID(t, s, f, "o1")
	if got, want := keysOf(cs), sortedInt64([]int64{a.ID, b.ID, d.ID}); !equalInt64(got, want) {
		t.Fatalf("RepairCandidates(o1) items %v, want %v (queued or quarantined with a missing or invalid current revision)", got, want)
	}
	ca := cs[a.ID]
	if ca.RevisionFound || len(ca.CurrentAttributes) != 0 || ca.Item.CurrentRevisionID != ra3.ID || ca.Item.State != router.StateQueued {
		t.Fatalf("candidate a: found %v, attrs %q, item %+v", ca.RevisionFound, ca.CurrentAttributes, ca.Item)
	}
	wantBytes(t, "candidate a journal", ca.Item.JournalAttributes, a3)
	if ca.Item.JournalRevisionID != ra3.ID {
		t.Fatalf("candidate a journal revision %d, want %d", ca.Item.JournalRevisionID, ra3.ID)
	}
	if len(ca.Earlier) != 2 || ca.Earlier[0].ID != ra2.ID || ca.Earlier[1].ID != a.CurrentRevisionID {
		t.Fatalf("candidate a earlier revisions %+v, want [%d %d] newest first", ca.Earlier, ra2.ID, a.CurrentRevisionID)
	}
	wantBytes(t, "earlier[0]", ca.Earlier[0].Attributes, a2)
	wantBytes(t, "earlier[1]", ca.Earlier[1].Attributes, a1)
	cb := cs[b.ID]
	if !cb.RevisionFound || len(cb.Earlier) != 1 || cb.Earlier[0].ID != b.CurrentRevisionID {
		t.Fatalf("candidate b %+v", cb)
	}
	wantBytes(t, "candidate b current attributes", cb.CurrentAttributes, badPriorityAttrs)
	cd := cs[d.ID]
	if !cd.RevisionFound || cd.Item.State != router.StateQuarantined || len(cd.Earlier) != 0 {
		t.Fatalf("candidate d %+v", cd)
	}
	wantBytes(t, "candidate d current attributes", cd.CurrentAttributes, badChannelAttrs)

	if got := keysOf(candidatesByID(t, s, f, "o2")); !equalInt64(got, []int64{h.ID}) {
		t.Fatalf("RepairCandidates(o2) = %v, want [%d]", got, h.ID)
	}
	if got, want := keysOf(candidatesByID(t, s, f, "")), sortedInt64([]int64{a.ID, b.ID, d.ID, h.ID}); !equalInt64(got, want) {
		t.Fatalf("RepairCandidates(every org) = %v, want %v", got, want)
	}
}

// testRepairCandidatesStates pins the contract's "every item in state queued
// or quarantined": an assigned item whose current revision is invalid is
// not a repair candidate.
func testRepairCandidatesStates(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5)
	e := f.enqueue("o1", "q", attrs(1, "chat"), sec(0))
	f.assign("o1", sec(1), map[int64]string{e.ID: "a1"})
	f.addRevision("o1", e.ID, unknownKeyAttrs, sec(2))
	q := f.enqueue("o1", "q", unknownKeyAttrs, sec(3))
	// Completed and cancelled items are history: not candidates.
	c := f.enqueue("o1", "q", attrs(1, "chat"), sec(4))
	f.assign("o1", sec(5), map[int64]string{c.ID: "a1"})
	f.addRevision("o1", c.ID, unknownKeyAttrs, sec(6))
	if err := s.Complete(f.ctx, router.CompleteRequest{Org: "o1", ItemID: c.ID, At: sec(7)}); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(candidatesByID(t, s, f, "o1")); !equalInt64(got, sortedInt64([]int64{e.ID, q.ID})) {
		t.Fatalf("RepairCandidates(o1) = %v, want the assigned item %d and the queued item %d (not the completed %d)", got, e.ID, q.ID, c.ID)
	}
}

func testApplyRepair(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	aFirst := attrs(4, "chat")
	aAttrs := attrs(7, "voice", "team", "t1", "skills", []string{"de", "fr"})
	a := f.enqueue("o1", "q", aFirst, sec(0))
	ra := f.addRevision("o1", a.ID, aAttrs, sec(1))
	if del, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 1, Actor: operator, At: sec(2)}); err != nil || !equalInt64(del, []int64{a.ID}) {
		t.Fatalf("DrillDeleteRevisions = %v, %v", del, err)
	}
	behind := f.enqueue("o1", "q", attrs(7, "chat"), sec(5))
	f.routeWith("o1", router.PolicyQuarantine, sec(10)) // no agents: only the fault acts
	it := f.item(a.ID)
	if it.State != router.StateQuarantined || it.FaultCause != router.CauseMissingRevision {
		t.Fatalf("item after routing %+v, want quarantined for missing_revision", it)
	}
	before := f.revisions("o1", a.ID)
	if len(before) != 1 || before[0].ID != a.CurrentRevisionID {
		t.Fatalf("revisions before repair %+v, want only the first", before)
	}
	cs := candidatesByID(t, s, f, "o1")
	c, ok := cs[a.ID]
	if !ok {
		t.Fatalf("item %d is not a repair candidate", a.ID)
	}

	fix := router.RepairFix{OrgID: "o1", ItemID: a.ID, ExpectRevisionID: c.Item.CurrentRevisionID,
		Attributes: c.Item.JournalAttributes, Source: "journal"}
	if fix.ExpectRevisionID != ra.ID {
		t.Fatalf("candidate points at %d, want %d", fix.ExpectRevisionID, ra.ID)
	}
	out, err := s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: []router.RepairFix{fix}, Actor: operator, At: sec(100)})
	if err != nil {
		t.Fatalf("ApplyRepair: %v", err)
	}
	if len(out) != 1 {
		t.Fatalf("ApplyRepair outcomes %+v, want one", out)
	}
	o := out[0]
	if !o.Repaired || o.ItemID != a.ID || o.OrgID != "o1" || o.NewRevisionID == 0 || o.NewRevisionID == ra.ID ||
		o.NewRevisionID == a.CurrentRevisionID || o.State != router.StateQueued {
		t.Fatalf("outcome %+v, want repaired into a new revision and queued", o)
	}
	it = f.item(a.ID)
	if it.State != router.StateQueued || it.CurrentRevisionID != o.NewRevisionID || it.JournalRevisionID != o.NewRevisionID ||
		!it.EnqueuedAt.Equal(sec(0)) || it.FaultCause != "" || it.Skipped || it.Priority != 7 || it.QuarantineReason != "" {
		t.Fatalf("repaired item %+v, want queued at its original place pointing at %d", it, o.NewRevisionID)
	}
	wantBytes(t, "journal after repair", it.JournalAttributes, aAttrs)
	after := f.revisions("o1", a.ID)
	if len(after) != 2 || after[0].ID != before[0].ID || after[1].ID != o.NewRevisionID {
		t.Fatalf("revisions after repair %+v, want the old one and the new one", after)
	}
	wantBytes(t, "old revision untouched", after[0].Attributes, aFirst)
	if !after[0].CreatedAt.Equal(before[0].CreatedAt) {
		t.Fatal("old revision's created_at changed")
	}
	wantBytes(t, "rebuilt attributes byte-identical", after[1].Attributes, aAttrs)
	if !after[1].CreatedAt.Equal(sec(100)) || after[1].WorkItemID != a.ID || after[1].OrgID != "o1" || after[1].Source != "repair:journal" {
		t.Fatalf("new revision %+v, want created at %v with source repair:journal", after[1], sec(100))
	}
	evs := f.itemEvents("o1", a.ID, router.EventRevisionRepaired)
	if len(evs) != 1 || !evs[0].At.Equal(sec(100)) || evs[0].QueueID != "q" {
		t.Fatalf("revision_repaired events %+v", evs)
	}
	wantActor(t, evs[0], operator)
	if h := f.queueStats("o1", "q", sec(101)).Head; h == nil || h.ID != a.ID || !h.RevisionFound {
		t.Fatalf("head after repair %+v, want the repaired item %d ahead of %d", h, a.ID, behind.ID)
	}
	if _, still := candidatesByID(t, s, f, "o1")[a.ID]; still {
		t.Fatal("the repaired item is still a repair candidate")
	}
	f.verifyClean()

	// A second apply of the same plan repairs nothing and changes nothing.
	nEvents := len(f.events(router.EventFilter{}))
	out, err = s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: []router.RepairFix{fix}, Actor: operator, At: sec(110)})
	if err != nil {
		t.Fatalf("second ApplyRepair: %v", err)
	}
	if len(out) != 1 || out[0].Repaired || out[0].Reason == "" {
		t.Fatalf("second ApplyRepair outcomes %+v, want not repaired with a reason", out)
	}
	if again := f.item(a.ID); again.CurrentRevisionID != o.NewRevisionID || again.State != router.StateQueued {
		t.Fatalf("second ApplyRepair changed the item: %+v", again)
	}
	if n := len(f.revisions("o1", a.ID)); n != 2 {
		t.Fatalf("second ApplyRepair wrote revisions: %d now", n)
	}
	if n := len(f.events(router.EventFilter{})); n != nEvents {
		t.Fatalf("second ApplyRepair wrote %d events", n-nEvents)
	}

	// The repaired item routes.
	f.agent("o1", "a1", "t1", router.AgentAvailable, 5, "de", "fr")
	f.routeWith("o1", router.PolicyQuarantine, sec(120))
	if it := f.item(a.ID); it.State != router.StateAssigned || it.AgentID != "a1" {
		t.Fatalf("repaired item did not route: %+v", it)
	}
}

func testApplyRepairRefusals(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	c1 := attrs(1, "chat")
	c := f.enqueue("o1", "q", c1, sec(20))
	cCur := f.addRevision("o1", c.ID, badPriorityAttrs, sec(21))
	d := f.enqueue("o1", "q", badChannelAttrs, sec(30))
	e := f.enqueue("o1", "q", attrs(2, "chat"), sec(40))
	g := f.enqueue("o1", "q", unknownKeyAttrs, sec(50))
	f.fault("o1", g.ID, router.CauseCorruptRevision, "test", router.PolicySkip, sec(55))

	type snap struct {
		item router.WorkItem
		revs int
	}
	state := func(id int64) snap { return snap{f.item(id), len(f.revisions("o1", id))} }
	unchanged := func(name string, id int64, was snap) {
		t.Helper()
		now := state(id)
		if now.revs != was.revs || now.item.CurrentRevisionID != was.item.CurrentRevisionID || now.item.State != was.item.State ||
			now.item.JournalRevisionID != was.item.JournalRevisionID || now.item.Skipped != was.item.Skipped {
			t.Fatalf("%s: item %d changed: %+v (%d revisions), was %+v (%d)", name, id, now.item, now.revs, was.item, was.revs)
		}
		if n := len(f.itemEvents("o1", id, router.EventRevisionRepaired)); n != 0 {
			t.Fatalf("%s: %d revision_repaired events", name, n)
		}
	}
	apply := func(fixes ...router.RepairFix) map[int64]router.RepairOutcome {
		t.Helper()
		out, err := s.ApplyRepair(f.ctx, router.ApplyRepairRequest{Fixes: fixes, Actor: operator, At: sec(100)})
		if err != nil {
			t.Fatalf("ApplyRepair: %v", err)
		}
		if len(out) != len(fixes) {
			t.Fatalf("ApplyRepair returned %d outcomes for %d fixes", len(out), len(fixes))
		}
		m := map[int64]router.RepairOutcome{}
		for _, o := range out {
			m[o.ItemID] = o
		}
		return m
	}

	// A stale plan: the item no longer points at the expected revision.
	was := state(c.ID)
	if o := apply(router.RepairFix{OrgID: "o1", ItemID: c.ID, ExpectRevisionID: c.CurrentRevisionID, Attributes: c1, Source: "earlier"})[c.ID]; o.Repaired || o.Reason == "" {
		t.Fatalf("stale fix outcome %+v, want refused with a reason", o)
	}
	unchanged("stale ExpectRevisionID", c.ID, was)
	// Rebuilt attributes that do not validate.
	if o := apply(router.RepairFix{OrgID: "o1", ItemID: c.ID, ExpectRevisionID: cCur.ID, Attributes: badChannelAttrs, Source: "defaults"})[c.ID]; o.Repaired || o.Reason == "" {
		t.Fatalf("invalid attributes outcome %+v, want refused with a reason", o)
	}
	unchanged("invalid new attributes", c.ID, was)
	// A current revision that is valid: nothing to repair.
	wasE := state(e.ID)
	if o := apply(router.RepairFix{OrgID: "o1", ItemID: e.ID, ExpectRevisionID: e.CurrentRevisionID, Attributes: attrs(9, "chat"), Source: "x"})[e.ID]; o.Repaired || o.Reason == "" {
		t.Fatalf("repair of a valid item %+v, want refused", o)
	}
	unchanged("valid current revision", e.ID, wasE)

	// One failing fix does not stop the others in the same call.
	wasD := state(d.ID)
	outs := apply(
		router.RepairFix{OrgID: "o1", ItemID: d.ID, ExpectRevisionID: 0, Attributes: attrs(1, "chat"), Source: "x"},
		router.RepairFix{OrgID: "o1", ItemID: c.ID, ExpectRevisionID: cCur.ID, Attributes: c1, Source: "earlier"},
		router.RepairFix{OrgID: "o1", ItemID: g.ID, ExpectRevisionID: g.CurrentRevisionID, Attributes: attrs(3, "chat"), Source: "defaults"},
	)
	if outs[d.ID].Repaired || !outs[c.ID].Repaired || !outs[g.ID].Repaired {
		t.Fatalf("mixed outcomes %+v, want d refused and c, g repaired", outs)
	}
	unchanged("stale fix in a mixed batch", d.ID, wasD)
	if it := f.item(c.ID); it.CurrentRevisionID != outs[c.ID].NewRevisionID || it.State != router.StateQueued || it.Priority != 1 {
		t.Fatalf("repaired c %+v", it)
	}
	if it := f.item(g.ID); it.Skipped || it.State != router.StateQueued || it.FaultCause != "" || it.CurrentRevisionID != outs[g.ID].NewRevisionID {
		t.Fatalf("repaired skipped item %+v, want queued and no longer skipped", it)
	}
	if revs := f.revisions("o1", g.ID); len(revs) != 2 || revs[1].Source != "repair:defaults" {
		t.Fatalf("revisions of g %+v", revs)
	}

	rep := f.verify(100)
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != router.FindingInvalidAttributes || rep.Findings[0].ItemID != d.ID {
		t.Fatalf("Verify findings %+v, want only d's invalid attributes", rep.Findings)
	}
	if o := apply(router.RepairFix{OrgID: "o1", ItemID: d.ID, ExpectRevisionID: d.CurrentRevisionID, Attributes: attrs(1, "chat"), Source: "defaults"})[d.ID]; !o.Repaired {
		t.Fatalf("repair of d %+v", o)
	}
	f.verifyClean()
}
