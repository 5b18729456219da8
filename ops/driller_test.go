package ops_test

import (
	"errors"
	"testing"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// noDrills is a store that does not implement router.Driller: only its
// OpsStore part is visible.
type noDrills struct{ router.OpsStore }

// TestDrillNeedsDriller: drills are an optional capability. Even where the
// gate allows them (the embedded demo, drill.allow), a store that does not
// implement router.Driller refuses them and nothing changes.
func TestDrillNeedsDriller(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 5)
		e.enqueue("o1", "default", attrs(1), base)
		before := e.allRevisions()
		opt := e.opt
		opt.Policy = ops.Policy{Embedded: true, DrillAllow: true}
		o := ops.New(noDrills{e.st}, opt)
		for _, kind := range []string{ops.DrillMissingRevisions, ops.DrillCorruptRevisions} {
			_, err := o.Drill(e.ctx, kind, "o1", 1)
			var dr *ops.DrillRefusedError
			if !errors.As(err, &dr) || dr.Store != e.st.Describe() {
				t.Fatalf("%s on a store without drills: %v, want a DrillRefusedError naming %q", kind, err, e.st.Describe())
			}
		}
		if after := e.allRevisions(); !sameRevisions(before, after) {
			t.Fatal("a refused drill changed revisions")
		}
		if n := len(e.events("o1", router.EventDrillInjected)); n != 0 {
			t.Fatalf("refused drills wrote %d events", n)
		}
		// The same store with its drills visible runs them.
		if _, err := e.ops.Drill(e.ctx, ops.DrillMissingRevisions, "o1", 1); err != nil {
			t.Fatalf("drill on %s: %v", e.kind, err)
		}
	})
}
