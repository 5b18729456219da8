package ops_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

type findingKey struct {
	kind  string
	item  int64
	agent string
}

func findingSet(rep router.VerifyReport) []findingKey {
	var out []findingKey
	for _, f := range rep.Findings {
		out = append(out, findingKey{f.Kind, f.ItemID, f.Agent})
	}
	slices.SortFunc(out, func(a, b findingKey) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	return out
}

func sortedFindings(fs ...findingKey) []findingKey {
	slices.SortFunc(fs, func(a, b findingKey) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return fs
}

func TestVerifyClean(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 2, 2)
		var ids []int64
		for i := 0; i < 6; i++ {
			ids = append(ids, e.enqueue("o1", "default", attrs(i), base).ID)
		}
		eng := e.engine(router.PolicyQuarantine, nil)
		e.route(eng)
		e.must(e.st.Complete(e.ctx, router.CompleteRequest{Org: "o1", ItemID: ids[5], At: at(time.Minute)}))
		e.route(eng)
		o := e.one(e.ops.Quarantine(e.ctx, "o1", []int64{ids[0]}, "x"))
		if !o.OK || !o.Changed {
			t.Fatalf("quarantine: %+v", o)
		}
		rep := e.verify()
		if !rep.Clean() || rep.Findings == nil || rep.Truncated {
			t.Fatalf("verify on consistent data: %+v", rep)
		}
		if rep.Checked["items"] != 6 || rep.Checked["revisions"] != 6 || rep.Checked["agents"] != 2 || rep.Checked["events"] == 0 {
			t.Fatalf("checked: %v", rep.Checked)
		}
	})
}

func TestVerifyFindings(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 2)
		a := e.enqueue("o1", "default", attrs(1), base)
		b := e.enqueue("o1", "default", attrs(1), base)
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 2 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		_, _ = a, b
		// Over capacity: the agent's capacity drops below its load.
		e.must(e.st.UpsertAgent(e.ctx, router.Agent{OrgID: "o1", ID: "t1-a1", TeamID: "t1", Status: router.AgentAvailable, Capacity: 1}))
		// Dangling: a drill deletes a queued item's current revision.
		d := e.enqueue("o1", "default", attrs(1), base)
		e.drill(ops.DrillMissingRevisions, "o1", 1)
		// Invalid: the platform wrote attributes that do not validate.
		inv := e.enqueue("o1", "default", []byte(`{"priority": 101, "channel": "chat"}`), base)
		rep := e.verify()
		want := sortedFindings(
			findingKey{router.FindingAgentOverCapacity, 0, "t1-a1"},
			findingKey{router.FindingDanglingRevision, d.ID, ""},
			findingKey{router.FindingInvalidAttributes, inv.ID, ""},
		)
		if got := findingSet(rep); !slices.Equal(got, want) {
			t.Fatalf("findings\n got %v\nwant %v\n%+v", got, want, rep.Findings)
		}
		for _, f := range rep.Findings {
			if f.OrgID != "o1" || f.Detail == "" {
				t.Fatalf("finding: %+v", f)
			}
		}
		// The limit truncates.
		rep, err := e.ops.Verify(e.ctx, 2)
		e.must(err)
		if len(rep.Findings) != 2 || !rep.Truncated {
			t.Fatalf("limited verify: %+v", rep)
		}
	})
}

// TestVerifyFindingsSQL provokes the findings that only raw SQL can make,
// the way a broken script or a hand edit during an incident would.
func TestVerifyFindingsSQL(t *testing.T) {
	onlyPG(t, func(t *testing.T, e *env) {
		e.org("o1", 2, 5)
		var ids []int64
		for i := 0; i < 6; i++ {
			ids = append(ids, e.enqueue("o1", "default", attrs(1), base).ID)
		}
		eng := e.engine(router.PolicyQuarantine, nil)
		if p := e.route(eng); p.Assigned != 6 {
			t.Fatalf("assigned %d", p.Assigned)
		}
		queued := e.enqueue("o1", "default", attrs(1), base)
		quar := e.enqueue("o1", "default", attrs(1), base)
		_, err := e.ops.Quarantine(e.ctx, "o1", []int64{quar.ID}, "x")
		e.must(err)
		dangling := e.enqueue("o1", "default", attrs(1), base)
		corrupt := e.enqueue("o1", "default", attrs(1), base)
		if rep := e.verify(); !rep.Clean() {
			t.Fatalf("before: %+v", rep.Findings)
		}
		it := func(id int64) router.WorkItem { return e.item(id) }
		noAgent, extraEvent := it(ids[0]), it(ids[1])
		// Find an agent that holds neither of those two, for the load
		// mismatch, and note who holds them.
		loadAgent := "t1-a1"
		if noAgent.AgentID == loadAgent || extraEvent.AgentID == loadAgent {
			loadAgent = "t1-a2"
		}

		// Under replica the foreign key is skipped; CHECK constraints are
		// not, so the one guarding "assigned has an agent" is dropped.
		e.db.DeleteCurrentRevisions(dangling.ID)
		e.db.CorruptAttributes([]int64{corrupt.ID}, `{"priority": 5}`)
		e.exec(`ALTER TABLE work_items DROP CONSTRAINT work_items_assigned_has_agent`)
		e.exec(`UPDATE work_items SET agent_id = NULL WHERE id = $1`, noAgent.ID)
		e.exec(`UPDATE agents SET load = load + 1 WHERE org_id = 'o1' AND id = $1`, loadAgent)
		for _, id := range []int64{queued.ID, quar.ID, extraEvent.ID} {
			e.exec(`INSERT INTO events (org_id, at, kind, work_item_id, queue_id, actor) VALUES ('o1', $1, 'assigned', $2, 'default', 'sql')`, base, id)
		}

		rep := e.verify()
		got := findingSet(rep)
		want := []findingKey{
			{router.FindingDanglingRevision, dangling.ID, ""},
			{router.FindingInvalidAttributes, corrupt.ID, ""},
			{router.FindingAssignedNoAgent, noAgent.ID, ""},
			{router.FindingLoadMismatch, 0, noAgent.AgentID}, // its agent still counts it in its load
			{router.FindingEventMismatch, queued.ID, ""},
			{router.FindingEventMismatch, extraEvent.ID, ""},
			{router.FindingBothStates, quar.ID, ""},
		}
		if noAgent.AgentID != loadAgent {
			want = append(want, findingKey{router.FindingLoadMismatch, 0, loadAgent})
		}
		want = sortedFindings(want...)
		if !slices.Equal(got, want) {
			t.Fatalf("findings\n got %v\nwant %v\n%+v", got, want, rep.Findings)
		}
		// Over capacity by raw SQL too.
		e.exec(`UPDATE agents SET capacity = 0 WHERE org_id = 'o1' AND id = $1`, extraEvent.AgentID)
		if rep := e.verify(); !hasFinding(rep, router.FindingAgentOverCapacity, 0, extraEvent.AgentID) {
			t.Fatalf("over capacity: %+v", rep.Findings)
		}
	})
}
