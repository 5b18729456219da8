package router

import (
	"context"
	"sync"
	"time"
)

// job is one group of orgs handed to a worker: a first round (one small
// batch each) or full turns.
type job struct {
	turns         []*turn
	first         bool
	limit, rounds int
}

// scheduler is Run's state: the line of orgs waiting for a turn, in
// arrival order, and what the workers are doing.
type scheduler struct {
	e        *Engine
	pending  map[string]bool
	order    []string
	inflight map[string]bool
	redo     map[string]bool
	// served: the org had its first-round batch in this stretch of work,
	// so its next visit is a full turn.
	served map[string]bool
	// depth: queued counts from the last poll, for packing.
	depth     map[string]int
	jobs      int
	nextPoll  time.Time
	listFails int
	// gate decides which notifications start a turn (see wakeGate).
	gate *wakeGate
}

func newScheduler(e *Engine) *scheduler {
	return &scheduler{e: e, pending: map[string]bool{}, inflight: map[string]bool{}, redo: map[string]bool{},
		served: map[string]bool{}, depth: map[string]int{}, gate: newWakeGate(e.cfg.PollInterval)}
}

func (s *scheduler) enqueue(org string) {
	if s.inflight[org] {
		s.redo[org] = true
		return
	}
	if !s.pending[org] {
		s.pending[org] = true
		s.order = append(s.order, org)
	}
}

// poll lists the routable orgs and puts them in line. It returns an
// error only when the store refuses for good.
func (s *scheduler) poll(ctx context.Context, now time.Time) error {
	e := s.e
	bl, err := e.store.Backlog(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		e.listError(err)
		if permanent(err) {
			e.log.Error("listing orgs refused; stopping", "error", err.Error())
			return err
		}
		s.listFails++
		d := e.backoff(s.listFails)
		if s.listFails == 1 || s.listFails%10 == 0 {
			e.log.Warn("listing orgs failed; retrying", "error", err.Error(), "backoff", d.String())
		}
		s.nextPoll = now.Add(d)
		return nil
	}
	if s.listFails > 0 {
		e.log.Info("store reachable again", "after_failures", s.listFails)
	}
	s.listFails = 0
	s.depth = make(map[string]int, len(bl))
	for _, b := range bl {
		s.depth[b.Org] = b.Queued
		s.gate.known[b.Org] = true
		if b.Routable {
			s.enqueue(b.Org)
		}
	}
	for _, o := range s.gate.release(now) {
		s.enqueue(o)
	}
	s.nextPoll = now.Add(e.cfg.PollInterval)
	return nil
}

// next takes the next job from the front of the line: orgs of the same
// kind (first round or full turn) until the job carries about
// groupBatches full batches of estimated items. Orgs backing off are set
// aside in deferred, and wake is moved to the earliest retry.
func (s *scheduler) next(now time.Time, deferred *[]string, wake *time.Time) *job {
	e := s.e
	slice := e.firstSlice(len(s.order) + len(s.inflight))
	budget := groupBatches * e.cfg.BatchSize
	var j *job
	sum := 0
	for len(s.order) > 0 {
		org := s.order[0]
		if ra := e.retryAt(org); ra.After(now) {
			*deferred = append(*deferred, org)
			s.order = s.order[1:]
			if ra.Before(*wake) {
				*wake = ra
			}
			continue
		}
		first := slice < e.cfg.BatchSize && !s.served[org]
		if j == nil {
			j = &job{first: first, limit: e.cfg.BatchSize, rounds: e.cfg.MaxBatchesPerTurn}
			if first {
				j.limit, j.rounds = slice, 1
			}
		} else if j.first != first {
			break
		}
		t := &turn{org: org}
		// An org woken by a notification since the last poll most likely
		// has a few new items.
		est := 1
		if _, ok := s.depth[org]; ok {
			est = estimate(t, s.depth, j.limit)
		}
		if len(j.turns) > 0 && (sum+est > budget || len(j.turns) >= maxGroupOrgs) {
			break
		}
		s.order = s.order[1:]
		delete(s.pending, org)
		s.inflight[org] = true
		j.turns = append(j.turns, t)
		sum += est
	}
	return j
}

// dispatch hands jobs to idle workers. It returns when to look again, and
// false when ctx ended.
func (s *scheduler) dispatch(ctx context.Context, now time.Time, work chan<- *job) (time.Time, bool) {
	e := s.e
	wake := s.nextPoll
	var deferred []string
	for len(s.order) > 0 && s.jobs < e.cfg.Workers {
		j := s.next(now, &deferred, &wake)
		if j == nil {
			break
		}
		s.jobs++
		select {
		case work <- j:
		case <-ctx.Done():
			return wake, false
		}
	}
	s.order = append(deferred, s.order...)
	for _, org := range deferred {
		if ra := e.retryAt(org); ra.Before(wake) {
			wake = ra
		}
	}
	return wake, true
}

// finish takes a job back: orgs with more to do (a turn that ran out of
// batches, or a first-round batch that came back full) and orgs notified
// meanwhile go back in line, at its end. It returns an error only when
// the store refused for good.
func (s *scheduler) finish(j *job, now time.Time) error {
	s.jobs--
	for _, t := range j.turns {
		delete(s.inflight, t.org)
		s.gate.turnDone(t.org, t.err == nil && t.Progress(), now)
		if t.err != nil && permanent(t.err) {
			s.e.log.Error("routing refused; stopping", "org", t.org, "error", t.err.Error())
			return t.err
		}
		more := t.err == nil && (t.More || (j.first && !t.done))
		if more && j.first {
			s.served[t.org] = true
		}
		if !more {
			delete(s.served, t.org)
		}
		if more || s.redo[t.org] {
			s.enqueue(t.org)
		}
		delete(s.redo, t.org)
	}
	return nil
}

// Run routes continuously until ctx ends: every org at least every
// PollInterval, and at once when a notification says it has work. Orgs
// are routed in groups (see pack), in the order they came to have work.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info("engine started", "policy", string(e.cfg.Policy), "workers", e.cfg.Workers,
		"batch", e.cfg.BatchSize, "poll", e.cfg.PollInterval.String())
	stopHB := e.startHeartbeats(ctx)
	defer stopHB()

	notify := make(chan string, 1024)
	resync := make(chan struct{}, 1)
	listening := make(chan struct{})
	go e.listen(ctx, notify, resync, listening)
	// Subscribe before the first poll, so that nothing notified in between
	// is missed; a subscription that takes longer is waited for no more
	// than firstListenWait, and then asks for a poll of its own (resync).
	select {
	case <-listening:
	case <-ctx.Done():
		return nil
	case <-time.After(firstListenWait):
	}

	work := make(chan *job)
	done := make(chan *job, e.cfg.Workers)
	var wg sync.WaitGroup
	for w := 0; w < e.cfg.Workers; w++ {
		wg.Go(func() {
			for j := range work {
				e.routeTurns(ctx, j.turns, j.limit, j.rounds)
				done <- j
			}
		})
	}
	defer func() {
		close(work)
		// Drain results so workers can exit.
		go func() {
			for range done {
			}
		}()
		wg.Wait()
		close(done)
		e.log.Info("engine stopped")
	}()

	s := newScheduler(e)
	listOrgs := func() ([]string, error) { return e.store.ListOrgs(ctx) }
	for {
		now := e.cfg.Clock.Now()
		if !now.Before(s.nextPoll) {
			if err := s.poll(ctx, now); err != nil {
				return err
			}
		}
		wake, ok := s.dispatch(ctx, now, work)
		if !ok {
			return nil
		}
		d := max(wake.Sub(now), time.Millisecond)
		select {
		case <-ctx.Done():
			return nil
		case org := <-notify:
			if s.gate.admit(org, e.cfg.Clock.Now(), listOrgs) {
				s.enqueue(org)
			}
		case <-resync:
			// Subscribed (again): whatever was notified before is lost, so
			// look at every org now.
			s.nextPoll = time.Time{}
		case j := <-done:
			if err := s.finish(j, e.cfg.Clock.Now()); err != nil {
				return err
			}
		case <-e.cfg.Clock.After(d):
		}
	}
}
