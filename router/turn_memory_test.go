package router

import "testing"

// TestTurnKeepsLittle: a pass holds every org's turn until it ends, so a
// turn keeps its batches' per-queue summaries only for RouteOnce, and lets
// go of its cursors once it is over (over 50,000 orgs these were 45 MB
// of serve --until-idle's heap).
func TestTurnKeepsLittle(t *testing.T) {
	full := RouteResult{Assigned: 2, QueuesFull: 1, Queues: map[string]QueueClaim{
		"q": {Claimed: 2, Full: true, Moved: 2}, "r": {Claimed: 1, Moved: 1}}}
	drained := RouteResult{Assigned: 1, Queues: map[string]QueueClaim{"q": {Claimed: 1, Moved: 1}}}

	tr := &turn{org: "o"}
	tr.finish(full, 3)
	if tr.done || tr.cursors == nil {
		t.Fatalf("after a full batch: done %v, cursors %v; want the turn to go on with cursors", tr.done, tr.cursors)
	}
	if tr.last.Queues != nil {
		t.Fatal("a pass's turn kept its batch's per-queue summary")
	}
	tr.finish(drained, 3)
	if !tr.done || tr.cursors != nil || tr.last.Queues != nil {
		t.Fatalf("after the last batch: done %v, cursors %v, summary %v; want done with nothing kept",
			tr.done, tr.cursors, tr.last.Queues)
	}
	if tr.Assigned != 3 || tr.batches != 2 {
		t.Fatalf("the turn counted %d assigned in %d batches, want 3 in 2", tr.Assigned, tr.batches)
	}

	once := &turn{org: "o", keepLast: true}
	once.finish(drained, 3)
	if once.last.Queues["q"].Claimed != 1 {
		t.Fatalf("RouteOnce's turn lost its result: %+v", once.last)
	}

	spent := &turn{org: "o"}
	spent.finish(full, 1)
	if !spent.done || spent.cursors != nil || !spent.More {
		t.Fatalf("out of batches: done %v, cursors %v, more %v", spent.done, spent.cursors, spent.More)
	}
}
