package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/demo"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/sim"
)

var t0 = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)

func config(policy router.FaultPolicy) demo.Config {
	h := ops.DefaultSettings()
	h.StallAfter = 3 * time.Second
	return demo.Config{Orgs: 6, Seed: 1, Rate: 1.5,
		Engine: router.EngineConfig{ID: "demo-test", Policy: policy, Workers: 1},
		Ops:    ops.Options{Actor: router.Actor{Name: "alice", OSUser: "alice", Origin: "local"}, Health: h}}
}

func TestWarmUp(t *testing.T) {
	snap, err := demo.WarmUp(context.Background(), config(router.PolicyQuarantine), t0)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Summary.Orgs != 6 || snap.Engine.State != "running" || snap.Summary.Assigned == 0 {
		t.Fatalf("warm-up snapshot: %+v engine %+v", snap.Summary, snap.Engine)
	}
	if want := t0.Add(demo.WarmUpSteps * demo.WarmUpStep); !snap.GeneratedAt.Equal(want) {
		t.Fatalf("the warm-up ran on its own clock to %v, want %v", snap.GeneratedAt, want)
	}
}

// TestIncidentStallsUnderBlock drives a demo on a manual clock: the
// incident breaks the heads of the org IncidentOrg picks, and under the
// block policy that queue stalls with missing_revision once stall_after
// has passed.
func TestIncidentStallsUnderBlock(t *testing.T) {
	ctx := context.Background()
	cfg := config(router.PolicyBlock)
	clk := router.NewManualClock(t0)
	cfg.Ops.Clock = clk
	d, err := demo.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	for range 10 {
		if err := d.RunOnce(ctx, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	before, err := d.Ops().Monitor.Snapshot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	org, ids, err := d.InjectIncident(ctx, ops.DrillMissingRevisions, 2)
	if err != nil || len(ids) != 2 || org != ops.IncidentOrg(before) {
		t.Fatalf("incident on %q (want %q): %v %v", org, ops.IncidentOrg(before), ids, err)
	}
	for range 10 {
		if err := d.RunOnce(ctx, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := d.Ops().Monitor.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stalled := false
	for _, o := range snap.Orgs {
		for _, q := range o.Queues {
			if o.Org == org && q.Stalled && q.Cause == router.CauseMissingRevision {
				stalled = true
			}
		}
	}
	if !stalled {
		t.Fatalf("no queue of %s stalled with missing_revision: %+v", org, snap.Summary)
	}
	if got := d.CompactOnce(); got < 0 {
		t.Fatalf("compaction: %d", got)
	}
}

// TestStartStop: Start runs the loops, Stop ends them and is safe twice;
// NoEngine runs no engine.
func TestStartStop(t *testing.T) {
	ctx := context.Background()
	cfg := config(router.PolicyQuarantine)
	cfg.Ops.Clock = router.NewManualClock(t0)
	d, err := demo.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	snap, err := d.Ops().Monitor.Snapshot(ctx, "")
	if err != nil || snap.Engine.State != "running" {
		t.Fatalf("after Start the engine has beaten: %+v %v", snap.Engine, err)
	}
	d.Stop()
	d.Stop()

	cfg.NoEngine = true
	d, err = demo.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if d.Engine() != nil || d.Ops().Policy().Embedded != true {
		t.Fatal("NoEngine built an engine, or the demo store is not marked embedded")
	}
}

func TestRunHeadless(t *testing.T) {
	snap, err := demo.RunHeadless(context.Background(), config(router.PolicyQuarantine),
		demo.Headless{Duration: 200 * time.Millisecond, MonitorInterval: 100 * time.Millisecond})
	if err != nil || snap.Summary.Orgs != 6 || snap.Engine.State != "running" {
		t.Fatalf("headless: %+v %v", snap, err)
	}
}

// TestPressureShowsEveryStateWithinAMinute: under pressure (the default of
// routeops demo), within a minute of its clock the demo shows a queued
// item, a WARN, a paused queue that says who and why, a starved queue,
// peaks, and agents going away and back; the pause ends by itself.
func TestPressureShowsEveryStateWithinAMinute(t *testing.T) {
	ctx := context.Background()
	cfg := config(router.PolicyQuarantine)
	cfg.Orgs, cfg.Pressure = 20, true
	clk := router.NewManualClock(t0)
	cfg.Ops.Clock = clk
	d, err := demo.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	seen := map[string]bool{}
	for clk.Now().Sub(t0) < time.Minute {
		if err := d.RunOnce(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
		snap, err := d.Ops().Monitor.Snapshot(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if snap.Summary.Queued > 0 {
			seen["queued"] = true
		}
		for _, o := range snap.Orgs {
			if o.Health == ops.HealthWarning {
				seen["warn"] = true
			}
			for _, q := range o.Queues {
				if q.Paused && q.PauseReason != "" && q.PausedBy != "" && q.PausedUntil != nil {
					seen["paused with a reason"] = true
				}
				if q.Starved && q.Depth > 0 {
					seen["starved"] = true
				}
				if !q.Paused && !q.Starved && q.Assigned1m > 0 {
					seen["flowing"] = true
				}
			}
		}
	}
	for _, want := range []string{"queued", "warn", "paused with a reason", "starved", "flowing"} {
		if !seen[want] {
			t.Errorf("within a minute the demo showed no %s (saw %v)", want, seen)
		}
	}
	if st := d.SimStats(); st.Bursts == 0 || st.StatusChanges == 0 {
		t.Errorf("within a minute: %d peaks, %d agent status changes; want some of each", st.Bursts, st.StatusChanges)
	}
	// The pause ends by itself, journalled.
	for clk.Now().Sub(t0) < 3*time.Minute {
		if err := d.RunOnce(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := d.Ops().Timeline(ctx, ops.TimelineOptions{Since: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var paused, ended bool
	for _, e := range tl.Entries {
		paused = paused || (e.Kind == router.EventQueuePaused && strings.Contains(e.Summary, sim.PressureReason))
		ended = ended || (e.Kind == router.EventQueueResumed && strings.Contains(e.Summary, "its pause ended"))
	}
	if !paused || !ended {
		t.Fatalf("the journal shows the pause %v and its end %v", paused, ended)
	}
}
