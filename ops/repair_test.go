package ops_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// richAttrs are attributes with every optional key, written the way jsonb
// prints them, so "byte-identical" means something on both stores.
func richAttrs(i int) []byte {
	return fmt.Appendf(nil, `{"team": "t1", "tier": "gold-%d", "skills": ["de", "billing"], "channel": "email", "priority": %d}`, i, 10+i)
}

// skilled adds an agent that can take richAttrs items.
func (e *env) skilled(org string, capacity int) {
	e.t.Helper()
	e.must(e.st.UpsertAgent(e.ctx, router.Agent{OrgID: org, ID: "skilled", TeamID: "t1", Skills: []string{"billing", "de"},
		Status: router.AgentAvailable, Capacity: capacity}))
}

func planItem(t *testing.T, p *ops.RepairPlan, id int64) ops.PlanItem {
	t.Helper()
	for _, it := range p.Items {
		if it.Item == router.FormatItemID(id) {
			return it
		}
	}
	t.Fatalf("item %d not in plan %+v", id, p.Items)
	return ops.PlanItem{}
}

func current(e *env, it router.WorkItem) (router.Revision, bool) {
	e.t.Helper()
	for _, r := range e.revisions(it.OrgID, it.ID) {
		if r.ID == it.CurrentRevisionID {
			return r, true
		}
	}
	return router.Revision{}, false
}

func TestRepairFromJournal(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 0, 0)
		e.skilled("o1", 10)
		var items []router.WorkItem
		for i := 0; i < 5; i++ {
			it := e.enqueue("o1", "default", attrs(1), base)
			e.addRevision("o1", it.ID, richAttrs(i), at(time.Minute))
			items = append(items, e.item(it.ID))
		}
		original := map[int64][]byte{}
		for i, it := range items {
			r, ok := current(e, it)
			if !ok || !bytes.Equal(r.Attributes, richAttrs(i)) {
				t.Fatalf("current revision of %d: %+v (%s)", it.ID, r, r.Attributes)
			}
			original[it.ID] = r.Attributes
		}
		e.clk.Set(at(2 * time.Minute))
		drilled := sortedIDs(e.drill(ops.DrillMissingRevisions, "o1", 2))
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Quarantined != 2 || p.Assigned != 3 {
			t.Fatalf("pass: %+v", p)
		}
		before := e.allRevisions()

		// Plan: both items, exact attributes from the journal.
		plan, err := e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if len(plan.Items) != 2 || plan.Repairable != 2 || plan.Fallbacks != 0 || plan.Unfixable != 0 || !plan.DryRun {
			t.Fatalf("plan: %+v", plan)
		}
		for _, id := range drilled {
			p := planItem(t, plan, id)
			it := e.item(id)
			if p.Org != "o1" || p.Cause != router.CauseMissingRevision || p.Source != ops.SourceJournal || !p.Valid ||
				p.Fallback || p.Error != "" || p.State != "quarantined" || p.RevisionID != it.CurrentRevisionID ||
				!bytes.Equal([]byte(p.Attributes), original[id]) {
				t.Fatalf("plan item %d: %+v attrs %s, want %s", id, p, p.Attributes, original[id])
			}
		}
		// The JSON contract of repair plan -o json.
		b, err := json.Marshal(plan)
		e.must(err)
		var doc struct {
			Items []map[string]any `json:"items"`
		}
		e.must(json.Unmarshal(b, &doc))
		for _, m := range doc.Items {
			for k, want := range map[string]string{"item": "string", "org": "string", "cause": "string", "source": "string",
				"valid": "bool", "attributes": "object"} {
				var got string
				switch m[k].(type) {
				case string:
					got = "string"
				case bool:
					got = "bool"
				case map[string]any:
					got = "object"
				}
				if got != want {
					t.Fatalf("repair plan JSON %q is %T, want %s: %s", k, m[k], want, b)
				}
			}
		}
		// Planning changed nothing.
		if after := e.allRevisions(); len(after) != len(before) {
			t.Fatalf("plan wrote revisions: %d -> %d", len(before), len(after))
		}

		// Apply.
		e.clk.Set(at(5 * time.Minute))
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 2 || rep.Released != 2 || rep.Skipped != 0 || !rep.VerifyOK || rep.Verify == nil || len(rep.Outcomes) != 2 {
			t.Fatalf("apply: %+v verify %+v", rep, rep.Verify)
		}
		after := e.allRevisions()
		if len(after) != len(before)+2 {
			t.Fatalf("revisions %d -> %d, want +2", len(before), len(after))
		}
		for id, r := range before {
			a, ok := after[id]
			if !ok || !bytes.Equal(a.Attributes, r.Attributes) || !a.CreatedAt.Equal(r.CreatedAt) || a.WorkItemID != r.WorkItemID || a.Source != r.Source {
				t.Fatalf("old revision %d changed: %+v -> %+v", id, r, a)
			}
		}
		for _, oc := range rep.Outcomes {
			it := e.item(oc.ItemID)
			if !oc.Repaired || oc.State != router.StateQueued || oc.NewRevisionID != it.CurrentRevisionID {
				t.Fatalf("outcome %+v, item %+v", oc, it)
			}
			if it.State != router.StateQueued || !it.EnqueuedAt.Equal(base) || it.FaultCause != "" || it.Skipped {
				t.Fatalf("repaired item: %+v", it)
			}
			r, ok := current(e, it)
			if !ok || !bytes.Equal(r.Attributes, original[it.ID]) || r.Source != "repair:journal" || !r.CreatedAt.Equal(at(5*time.Minute)) {
				t.Fatalf("new revision of %d: %+v (%s), want attributes %s", it.ID, r, r.Attributes, original[it.ID])
			}
			if _, existed := before[r.ID]; existed {
				t.Fatalf("repair reused revision %d", r.ID)
			}
		}
		evs := e.events("o1", router.EventRevisionRepaired)
		if len(evs) != 2 {
			t.Fatalf("revision_repaired events: %+v", evs)
		}
		for _, ev := range evs {
			var d struct {
				Old      int64  `json:"old_revision_id"`
				New      int64  `json:"new_revision_id"`
				Source   string `json:"source"`
				Released bool   `json:"released"`
			}
			e.must(json.Unmarshal(ev.Detail, &d))
			it := e.item(ev.WorkItemID)
			if ev.Actor != "alice" || ev.Origin != "203.0.113.7" || d.New != it.CurrentRevisionID || d.Source != "journal" ||
				!d.Released || d.Old == 0 || d.Old == d.New || !ev.At.Equal(at(5*time.Minute)) {
				t.Fatalf("revision_repaired event: %+v %s", ev, ev.Detail)
			}
		}

		// Idempotent: nothing left to plan; a stale plan changes nothing.
		plan2, err := e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if len(plan2.Items) != 0 {
			t.Fatalf("second plan: %+v", plan2.Items)
		}
		rep2, err := e.ops.ApplyRepair(e.ctx, plan2)
		e.must(err)
		if rep2.Repaired != 0 || !rep2.VerifyOK {
			t.Fatalf("second apply: %+v", rep2)
		}
		rep3, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep3.Repaired != 0 || rep3.Skipped != 2 || rep3.Released != 0 {
			t.Fatalf("stale plan applied: %+v", rep3)
		}
		for _, oc := range rep3.Outcomes {
			if oc.Repaired || !strings.Contains(oc.Reason, "plan again") {
				t.Fatalf("stale outcome: %+v", oc)
			}
		}
		if n := len(e.allRevisions()); n != len(after) {
			t.Fatalf("idempotent apply wrote revisions: %d -> %d", len(after), n)
		}
		if n := len(e.events("o1", router.EventRevisionRepaired)); n != 2 {
			t.Fatalf("revision_repaired events after reapply: %d", n)
		}

		// The items route afterwards, and everything verifies.
		if p := e.route(eng); p.Assigned != 2 || p.Quarantined != 0 {
			t.Fatalf("routing after repair: %+v", p)
		}
		if rep := e.verify(); !rep.Clean() {
			t.Fatalf("verify: %+v", rep.Findings)
		}
	})
}

func TestRepairCorruptRevisions(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 0, 0)
		e.skilled("o1", 10)
		original := map[int64][]byte{}
		for i := 0; i < 3; i++ {
			it := e.enqueue("o1", "default", richAttrs(i), base)
			r, _ := current(e, it)
			original[it.ID] = r.Attributes
		}
		drilled := e.drill(ops.DrillCorruptRevisions, "o1", 2)
		before := e.allRevisions()
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		if len(plan.Items) != 2 {
			t.Fatalf("plan: %+v", plan.Items)
		}
		for _, id := range drilled {
			p := planItem(t, plan, id)
			if p.Cause != router.CauseCorruptRevision || p.Source != ops.SourceJournal || !p.Valid || p.Fallback ||
				!bytes.Equal([]byte(p.Attributes), original[id]) || p.State != "queued" {
				t.Fatalf("plan item: %+v", p)
			}
		}
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 2 || rep.Released != 0 || !rep.VerifyOK {
			t.Fatalf("apply: %+v", rep)
		}
		after := e.allRevisions()
		for id, r := range before {
			if a, ok := after[id]; !ok || !bytes.Equal(a.Attributes, r.Attributes) {
				t.Fatalf("revision %d was edited or deleted: %s -> %s", id, r.Attributes, a.Attributes)
			}
		}
		for _, id := range drilled {
			it := e.item(id)
			r, _ := current(e, it)
			if it.State != router.StateQueued || !bytes.Equal(r.Attributes, original[id]) {
				t.Fatalf("item %d: %+v attrs %s", id, it, r.Attributes)
			}
			// The corrupt row is still there, as it was.
			if old, ok := before[it.CurrentRevisionID]; ok {
				t.Fatalf("item %d points at an old revision %+v", id, old)
			}
		}
		if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Assigned != 3 || p.Faults != 0 {
			t.Fatalf("routing after repair: %+v", p)
		}
	})
}

func TestRepairFallbackDefaultsAndUnfixable(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 10)
		e.org("o2", 1, 10)
		// F: a good revision, then the platform wrote a bad one; the
		// journal holds the bad one, so only the earlier revision is left.
		f := e.enqueue("o1", "default", attrs(7), base)
		fFirst, _ := current(e, f)
		e.addRevision("o1", f.ID, []byte(`{"priority": "high", "channel": "chat"}`), at(time.Minute))
		// D: its only revision is bad.
		d := e.enqueue("o1", "default", []byte(`{"priority": 500, "channel": "email"}`), base)
		// N: every revision is bad.
		n := e.enqueue("o1", "default", []byte(`[1, 2, 3]`), base)
		e.addRevision("o1", n.ID, []byte(`{"channel": "fax", "priority": 1}`), at(time.Minute))
		n = e.item(n.ID)
		// o2 has a bad item too; an org filter leaves it out.
		o2 := e.enqueue("o2", "default", []byte(`"garbage"`), base)

		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		if len(plan.Items) != 3 || plan.Repairable != 1 || plan.Fallbacks != 1 || plan.Unfixable != 2 {
			t.Fatalf("plan: %+v", plan)
		}
		pf := planItem(t, plan, f.ID)
		if pf.Source != ops.SourceEarlier || !pf.Fallback || !pf.Valid || pf.SourceRevisionID != fFirst.ID ||
			!bytes.Equal([]byte(pf.Attributes), fFirst.Attributes) || pf.Cause != router.CauseCorruptRevision {
			t.Fatalf("fallback item: %+v (%s)", pf, pf.Attributes)
		}
		for _, id := range []int64{d.ID, n.ID} {
			p := planItem(t, plan, id)
			if p.Valid || p.Source != ops.SourceNone || len(p.Attributes) != 0 || !strings.Contains(p.Error, "--allow-defaults") {
				t.Fatalf("unfixable item: %+v", p)
			}
		}
		if _, err := e.ops.PlanRepair(e.ctx, "nope", false); !isNotFound(err) {
			t.Fatalf("plan for an unknown org: %v", err)
		}

		beforeD, beforeN := e.revisions("o1", d.ID), e.revisions("o1", n.ID)
		plan.AllowFallback = true // the operator's --allow-fallback
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 1 || rep.Skipped != 2 || rep.VerifyOK {
			t.Fatalf("apply: %+v", rep)
		}
		for _, oc := range rep.Outcomes {
			if oc.ItemID != f.ID && (oc.Repaired || oc.Reason == "") {
				t.Fatalf("unfixable outcome: %+v", oc)
			}
		}
		// F carries the earlier revision's attributes now.
		fr, _ := current(e, e.item(f.ID))
		if !bytes.Equal(fr.Attributes, fFirst.Attributes) || fr.Source != "repair:"+ops.SourceEarlier {
			t.Fatalf("fallback repair: %+v (%s)", fr, fr.Attributes)
		}
		// D and N are untouched, and verify still names them.
		for _, c := range []struct {
			it     router.WorkItem
			before []router.Revision
		}{{d, beforeD}, {n, beforeN}} {
			now := e.item(c.it.ID)
			if now.CurrentRevisionID != c.it.CurrentRevisionID || now.State != c.it.State || len(e.revisions("o1", c.it.ID)) != len(c.before) {
				t.Fatalf("unfixable item changed: %+v -> %+v", c.it, now)
			}
			if !hasFinding(*rep.Verify, router.FindingInvalidAttributes, c.it.ID, "") {
				t.Fatalf("verify after apply: %+v", rep.Verify.Findings)
			}
		}

		// With defaults allowed, both are rebuilt from the configured
		// defaults and flagged.
		plan, err = e.ops.PlanRepair(e.ctx, "o1", true)
		e.must(err)
		if len(plan.Items) != 2 || plan.Repairable != 2 || plan.Fallbacks != 2 || plan.Unfixable != 0 {
			t.Fatalf("plan with defaults: %+v", plan)
		}
		for _, p := range plan.Items {
			if p.Source != ops.SourceDefault || !p.Fallback || !p.Valid || string(p.Attributes) != `{"channel": "chat", "priority": 50}` {
				t.Fatalf("defaults item: %+v (%s)", p, p.Attributes)
			}
		}
		rep, err = e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 2 {
			t.Fatalf("apply defaults: %+v", rep)
		}
		// o2's item was never in an o1 plan.
		if it := e.item(o2.ID); it.CurrentRevisionID != o2.CurrentRevisionID {
			t.Fatalf("o2 item was touched: %+v", it)
		}
		plan, err = e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if len(plan.Items) != 1 || plan.Items[0].Item != router.FormatItemID(o2.ID) || plan.Items[0].Org != "o2" {
			t.Fatalf("remaining plan: %+v", plan.Items)
		}
		if p := e.route(e.engine(router.PolicyQuarantine, nil)); p.Assigned != 3 || p.Quarantined != 1 {
			t.Fatalf("routing after repair: %+v", p)
		}
	})
}

// TestRepairJournalNulled: on PostgreSQL an operator (or a legacy script)
// can wipe the journal; repair then falls back to an earlier revision and
// flags it.
func TestRepairJournalNulled(t *testing.T) {
	onlyPG(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 10)
		it := e.enqueue("o1", "default", attrs(3), base)
		first, _ := current(e, it)
		second := e.addRevision("o1", it.ID, attrs(4), at(time.Minute))
		if e.item(it.ID).CurrentRevisionID != second.ID {
			t.Fatalf("the second revision is not current")
		}
		e.db.DeleteCurrentRevisions(it.ID)
		e.exec(`UPDATE work_items SET journal_attributes = NULL, journal_revision_id = NULL WHERE id = $1`, it.ID)

		plan, err := e.ops.PlanRepair(e.ctx, "", false)
		e.must(err)
		if len(plan.Items) != 1 {
			t.Fatalf("plan: %+v", plan.Items)
		}
		p := plan.Items[0]
		if p.Cause != router.CauseMissingRevision || p.Source != ops.SourceEarlier || !p.Fallback || !p.Valid ||
			p.SourceRevisionID != first.ID || !bytes.Equal([]byte(p.Attributes), first.Attributes) {
			t.Fatalf("plan item: %+v (%s)", p, p.Attributes)
		}
		plan.AllowFallback = true // the operator's --allow-fallback
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 1 || !rep.VerifyOK {
			t.Fatalf("apply: %+v", rep)
		}
		r, ok := current(e, e.item(it.ID))
		if !ok || !bytes.Equal(r.Attributes, first.Attributes) {
			t.Fatalf("repaired revision: %+v", r)
		}
		// The journal is written again with the new revision.
		if got := e.item(it.ID); got.JournalRevisionID != r.ID || !bytes.Equal(got.JournalAttributes, first.Attributes) {
			t.Fatalf("journal after repair: %d %s", got.JournalRevisionID, got.JournalAttributes)
		}
	})
}

// TestRepairRevalidates: apply checks every fix again in its transaction.
// An item that changed since the plan, or a fix whose attributes do not
// validate, is reported and left alone; the rest is repaired.
func TestRepairRevalidates(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 10)
		for i := 0; i < 3; i++ {
			e.enqueue("o1", "default", attrs(i), base)
		}
		ids := sortedIDs(e.drill(ops.DrillMissingRevisions, "o1", 3))
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		if plan.Repairable != 3 {
			t.Fatalf("plan: %+v", plan)
		}
		// The platform writes a new revision for the first item meanwhile.
		fresh := e.addRevision("o1", ids[0], attrs(42), at(time.Minute))
		// And the plan's attributes for the second are damaged.
		for i := range plan.Items {
			if plan.Items[i].Item == router.FormatItemID(ids[1]) {
				plan.Items[i].Attributes = plan.Items[i].Attributes[:5]
			}
		}
		before := e.allRevisions()
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 1 || rep.Skipped != 2 {
			t.Fatalf("apply: %+v", rep)
		}
		reasons := map[int64]string{}
		for _, oc := range rep.Outcomes {
			if !oc.Repaired {
				reasons[oc.ItemID] = oc.Reason
			}
		}
		if !strings.Contains(reasons[ids[0]], "plan again") || !strings.Contains(reasons[ids[1]], "do not validate") {
			t.Fatalf("reasons: %v", reasons)
		}
		if it := e.item(ids[0]); it.CurrentRevisionID != fresh.ID {
			t.Fatalf("item changed after the plan was overwritten: %+v", it)
		}
		if it := e.item(ids[2]); it.CurrentRevisionID == plan.Items[2].RevisionID {
			t.Fatalf("the valid fix was not applied: %+v", it)
		}
		if n := len(e.allRevisions()); n != len(before)+1 {
			t.Fatalf("revisions %d -> %d, want +1", len(before), n)
		}
		if rep.VerifyOK || !hasFinding(*rep.Verify, router.FindingDanglingRevision, ids[1], "") {
			t.Fatalf("verify after a partial repair: %+v", rep.Verify)
		}
	})
}
