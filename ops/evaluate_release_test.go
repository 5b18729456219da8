package ops_test

import (
	"reflect"
	"testing"

	"github.com/routeops/routeops/ops"
)

// The monitor evaluates a raw snapshot it owns and lets go of each org's
// aggregates as it goes: the health it computes is the same as Evaluate's
// on an identical raw snapshot, and what it let go of is gone.
func TestEvaluateReleasingMatchesEvaluate(t *testing.T) {
	want := ops.Evaluate(rawFleet(300), settings())
	raw := rawFleet(300)
	got := ops.EvaluateReleasing(raw, settings())
	if !reflect.DeepEqual(got, want) {
		t.Fatal("releasing evaluation differs from Evaluate")
	}
	if want.Summary.StalledQueues+want.Summary.BehindQueues == 0 || want.Summary.StarvedQueues == 0 {
		t.Fatalf("the fleet should hold stuck (stalled or behind) and starved queues: %+v", want.Summary)
	}
	for i, o := range raw.Orgs {
		if o.Queues != nil || o.Teams != nil || o.AgentGroups != nil {
			t.Fatalf("org %d still holds its aggregates after evaluation", i)
		}
	}
}
