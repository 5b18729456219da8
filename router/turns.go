package router

import (
	"context"
	"sync"
	"time"
)

// A fleet is mostly small orgs. Routing each in a transaction of its own
// made the transaction, not the item, the unit of cost: 20,000 orgs of
// 150 items drained at well under half the rate of 100 orgs of 2,000. So
// the engine routes orgs in groups (one Store.RouteOrgs call, one
// transaction on PostgreSQL, per round of a group), packed by the queued
// counts that Store.Backlog reads, and keeps each org's own turn, cursors
// and backoff exactly as when it routed one org at a time.
//
// Fairness: a turn drains an org, so with thousands of orgs waiting the
// last org's first assignment would wait for every org before it to be
// drained. When many orgs have work, every org first gets one small
// batch (a first round of about FairRoundItems items in all), and only
// then does each org's turn go on at full batch size, in the same order.

const (
	// maxGroupOrgs bounds the orgs routed in one call.
	maxGroupOrgs = 128
	// groupBatches is how many full batches' worth of estimated items
	// one call may carry.
	groupBatches = 2
)

// turn is one org's turn in progress.
type turn struct {
	org     string
	cursors map[string]QueueCursor
	batches int
	OrgTurn
	// last is the last batch's result, kept only for RouteOnce (keepLast):
	// a pass holds every org's turn until it ends, and over 50,000 orgs
	// the batches' per-queue summaries came to 45 MB (heap profile of
	// serve --until-idle).
	last     RouteResult
	keepLast bool
	// done: the turn is over (drained, busy, failed, or out of batches).
	done bool
	err  error
}

// end marks the turn over and lets go of its cursors.
func (t *turn) end() {
	t.done = true
	t.cursors = nil
}

// finish records one batch's result and decides whether the turn goes
// on. While a queue's batch comes back full, the next batch pages past
// what was seen (a cursor), so items that no agent can take now (say, for
// a paused or busy team) do not hide the routable items behind them. A
// queue stopped by a block-policy fault is not paged past: that is the
// legacy behaviour.
func (t *turn) finish(r RouteResult, maxBatches int) {
	if t.keepLast {
		t.last = r
	}
	t.batches++
	t.add(r)
	if r.Busy || r.QueuesFull == 0 {
		t.end()
		return
	}
	next := make(map[string]QueueCursor, len(r.Queues))
	full := false
	for q, c := range r.Queues {
		switch {
		case c.Blocked || !c.Full:
			next[q] = QueueCursor{Skip: true}
		default:
			full = true
			if c.Moved > 0 {
				// This queue assigned or moved items: look again from
				// its head, where more may now fit.
				continue
			}
			// Nothing in this batch of the queue could be routed: page
			// past it, whatever other queues did.
			next[q] = c.Last
		}
	}
	for q, c := range t.cursors {
		if _, seen := r.Queues[q]; !seen {
			next[q] = c
		}
	}
	if !full {
		t.end()
		return
	}
	t.cursors = next
	if t.batches >= maxBatches {
		// A turn that ran out of batches while still assigning may have
		// more to do; one that only paged past unroutable items has
		// looked deep enough and is not a reason to keep an idle pass
		// from ending.
		t.end()
		t.More = t.Progress()
	}
}

// moved counts the items the turn took out of its org's queues.
func (t *turn) moved() int { return t.Assigned + t.Quarantined + t.Skipped }

// RouteOnce runs one routing transaction for an org, from the head of
// every queue.
func (e *Engine) RouteOnce(ctx context.Context, org string) (RouteResult, error) {
	t := &turn{org: org, keepLast: true}
	err := e.routeRound(ctx, []*turn{t}, e.cfg.BatchSize)
	return t.last, err
}

// RouteTurn drains an org, up to MaxBatchesPerTurn transactions, paging
// past items no agent can take (see turn.finish); the depth looked at per
// turn is BatchSize × MaxBatchesPerTurn.
func (e *Engine) RouteTurn(ctx context.Context, org string) (OrgTurn, error) {
	t := &turn{org: org}
	e.routeTurns(ctx, []*turn{t}, e.cfg.BatchSize, e.cfg.MaxBatchesPerTurn)
	return t.OrgTurn, t.err
}

// routeRound routes one batch of every turn in ts, in one store call.
func (e *Engine) routeRound(ctx context.Context, ts []*turn, limit int) error {
	now := e.cfg.Clock.Now()
	reqs := make([]RouteRequest, len(ts))
	sweeps := make([]bool, len(ts))
	e.mu.Lock()
	for i, t := range ts {
		st := e.orgs[t.org]
		if st == nil {
			st = &orgState{}
			e.orgs[t.org] = st
		}
		// A first-round batch (smaller than BatchSize) leaves the orphan
		// sweep to the org's full batches, so that the round stays short.
		sweeps[i] = limit >= e.cfg.BatchSize && now.Sub(st.lastSweep) >= e.cfg.OrphanSweepInterval
		reqs[i] = RouteRequest{Org: t.org, Limit: limit, IncludeOrphans: sweeps[i], Cursors: t.cursors, Actor: e.actor, Now: now}
	}
	e.mu.Unlock()
	policy := e.cfg.Policy
	start := time.Now()
	res, err := e.store.RouteOrgs(ctx, reqs, func(b *Batch) []Decision { return Decide(policy, b) })
	took := time.Since(start)
	if err == nil && len(res) != len(reqs) {
		err = errWrongResults
	}
	if err != nil {
		e.stats.errors.Add(1)
		if len(ts) == 1 && e.cfg.Observer != nil {
			e.cfg.Observer.OrgError(ts[0].org, err)
		}
		return err
	}
	e.stats.batches.Add(1)
	for i, t := range ts {
		r := res[i]
		if sweeps[i] && !r.Busy {
			e.mu.Lock()
			e.orgs[t.org].lastSweep = now
			e.mu.Unlock()
		}
		e.record(t.org, r, took)
		t.finish(r, e.cfg.MaxBatchesPerTurn)
	}
	return nil
}

// record counts one org's batch and tells the observer.
func (e *Engine) record(org string, res RouteResult, took time.Duration) {
	e.stats.assigned.Add(int64(res.Assigned))
	e.stats.quarantined.Add(int64(res.Quarantined))
	e.stats.skipped.Add(int64(res.Skipped))
	e.stats.blocked.Add(int64(res.Blocked))
	e.stats.faults.Add(int64(len(res.Faults)))
	for _, f := range res.Faults {
		e.log.Warn("item fault", "org", org, "item", f.ItemID, "queue", f.QueueID,
			"cause", string(f.Cause), "action", string(f.Action), "error", f.Error)
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.OrgRouted(org, res, took)
	}
}

// routeTurns runs up to rounds batches of every turn in ts that is not
// done, all of them in one store call per round, limit items per queue.
// When a call for several orgs fails, the store cannot say which org
// caused it: each turn then goes on alone, so that a transient fault
// backs off its own org and the others keep routing.
func (e *Engine) routeTurns(ctx context.Context, ts []*turn, limit, rounds int) {
	for r := 0; r < rounds; r++ {
		var active []*turn
		for _, t := range ts {
			if !t.done {
				active = append(active, t)
			}
		}
		if len(active) == 0 {
			return
		}
		if err := e.routeRound(ctx, active, limit); err != nil {
			if len(active) == 1 || ctx.Err() != nil {
				for _, t := range active {
					e.noteFailure(t.org, err)
					t.err, t.done = err, true
				}
				return
			}
			for _, t := range active {
				e.routeTurns(ctx, []*turn{t}, limit, rounds-r)
			}
			return
		}
		for _, t := range active {
			e.noteSuccess(t.org)
		}
		if err := ctx.Err(); err != nil {
			for _, t := range active {
				if !t.done {
					t.err, t.done = err, true
				}
			}
			return
		}
	}
}

// firstSlice is the per-queue batch of a first round over n orgs with
// work: FairRoundItems shared among them, at least 1, at most BatchSize
// (BatchSize means no first round is needed).
func (e *Engine) firstSlice(n int) int {
	if n <= 1 {
		return e.cfg.BatchSize
	}
	return min(max(e.cfg.FairRoundItems/n, 1), e.cfg.BatchSize)
}

// estimate is how many items a batch of limit per queue is likely to
// claim for an org, from the queued counts (nil: unknown, assume two full
// queues).
func estimate(t *turn, depth map[string]int, limit int) int {
	if depth == nil {
		return groupBatches * limit
	}
	return min(max(depth[t.org]-t.moved(), 0), groupBatches*limit)
}

// pack puts the turns that are not done into groups, in order, each
// carrying about groupBatches full batches of estimated items.
func (e *Engine) pack(ts []*turn, depth map[string]int, limit int) [][]*turn {
	budget := groupBatches * e.cfg.BatchSize
	var groups [][]*turn
	var cur []*turn
	sum := 0
	for _, t := range ts {
		if t.done {
			continue
		}
		est := estimate(t, depth, limit)
		if len(cur) > 0 && (sum+est > budget || len(cur) >= maxGroupOrgs) {
			groups = append(groups, cur)
			cur, sum = nil, 0
		}
		cur = append(cur, t)
		sum += est
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// depths reads every org's queued count for packing; nil when there is
// nothing to pack or the store cannot say (each org then goes alone).
func (e *Engine) depths(ctx context.Context, n int) map[string]int {
	if n <= 1 {
		return nil
	}
	bl, err := e.store.Backlog(ctx)
	if err != nil {
		e.log.Debug("reading the backlog failed; routing one org per transaction", "error", err.Error())
		return nil
	}
	out := make(map[string]int, len(bl))
	for _, b := range bl {
		out[b.Org] = b.Queued
	}
	return out
}

// runGroups routes groups on Workers goroutines until every turn in them
// is done or has had rounds batches.
func (e *Engine) runGroups(ctx context.Context, groups [][]*turn, limit, rounds int) {
	ch := make(chan []*turn)
	var wg sync.WaitGroup
	for w := 0; w < min(e.cfg.Workers, len(groups)); w++ {
		wg.Go(func() {
			for g := range ch {
				e.routeTurns(ctx, g, limit, rounds)
			}
		})
	}
	for _, g := range groups {
		select {
		case ch <- g:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
}

// Pass routes every org once (each org drained as far as one turn goes),
// Workers groups at a time. With many orgs waiting, a first round gives
// each one small batch before any turn goes on (see firstSlice).
func (e *Engine) Pass(ctx context.Context) (PassResult, error) {
	e.ResumeExpired(ctx)
	orgs, err := e.store.ListOrgs(ctx)
	if err != nil {
		e.listError(err)
		return PassResult{}, err
	}
	res := PassResult{Orgs: len(orgs)}
	now := e.cfg.Clock.Now()
	ts := make([]*turn, 0, len(orgs))
	for _, org := range orgs {
		if e.retryAt(org).After(now) {
			// Backing off: its turn comes when the backoff ends, and the
			// other orgs do not wait for it.
			res.Deferred++
			continue
		}
		ts = append(ts, &turn{org: org})
	}
	depth := e.depths(ctx, len(ts))
	waiting := len(ts)
	if depth != nil {
		waiting = len(depth)
	}
	if slice := e.firstSlice(waiting); slice < e.cfg.BatchSize {
		e.runGroups(ctx, e.pack(ts, depth, slice), slice, 1)
	}
	if ctx.Err() == nil {
		e.runGroups(ctx, e.pack(ts, depth, e.cfg.BatchSize), e.cfg.BatchSize, e.cfg.MaxBatchesPerTurn)
	}
	for _, t := range ts {
		res.Assigned += t.Assigned
		res.Quarantined += t.Quarantined
		res.Skipped += t.Skipped
		res.Faults += len(t.Faults)
		if t.Busy {
			res.Busy++
		}
		if t.More {
			// A turn that stopped early is not a verdict on the org.
			res.Busy++
		}
		if t.err != nil {
			res.Errors++
			res.LastError = t.err
			if permanent(t.err) && res.Fatal == nil {
				res.Fatal = t.err
			}
		}
	}
	return res, ctx.Err()
}
