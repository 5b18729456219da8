package memstore

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

// operation is a bulk action's record.
type operation struct {
	op       router.Operation
	finished bool
}

// currentRevision is the item's current revision as a join on the
// revision's key finds it.
func (s *Store) currentRevision(it *router.WorkItem) (bool, []byte) {
	r := s.revisions[it.CurrentRevisionID]
	if r == nil || r.OrgID != it.OrgID {
		return false, nil
	}
	return true, r.Attributes
}

// opItems lists the items that carry an event of an operation.
func (s *Store) opItems(id string) map[int64]bool {
	if id == "" {
		return nil
	}
	out := map[int64]bool{}
	for i := range s.events {
		if e := &s.events[i]; e.OperationID == id && e.WorkItemID != 0 {
			out[e.WorkItemID] = true
		}
	}
	return out
}

// selected returns the items a selector matches, in id order, ignoring
// paging.
func (s *Store) selected(sel router.ItemSelector) []*router.WorkItem {
	sel.Limit = 0
	done := s.opItems(sel.ExcludeOperation)
	var out []*router.WorkItem
	for _, it := range s.items {
		if done[it.ID] {
			continue
		}
		found, attrs := s.currentRevision(it)
		if sel.Matches(it, found, attrs) {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Store) CountSelected(ctx context.Context, sel router.ItemSelector) ([]router.SelectionCount, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sel.After = 0
	n := map[[2]string]int{}
	for _, it := range s.selected(sel) {
		n[[2]string{it.OrgID, it.QueueID}]++
	}
	out := make([]router.SelectionCount, 0, len(n))
	for k, c := range n {
		out = append(out, router.SelectionCount{Org: k[0], Queue: k[1], N: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Org != out[j].Org {
			return out[i].Org < out[j].Org
		}
		return out[i].Queue < out[j].Queue
	})
	return out, nil
}

func limitOf(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

func (s *Store) SelectItems(ctx context.Context, sel router.ItemSelector) ([]router.WorkItem, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []router.WorkItem
	for _, it := range s.selected(sel) {
		if len(out) == limitOf(sel.Limit) {
			break
		}
		out = append(out, cloneItem(it))
	}
	return out, nil
}

func (s *Store) SelectRepairCandidates(ctx context.Context, sel router.ItemSelector) ([]router.RepairCandidate, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sel.Scope, sel.RevisionHealth = router.ScopeLive, router.RevisionBroken
	var out []router.RepairCandidate
	for _, it := range s.selected(sel) {
		if len(out) == limitOf(sel.Limit) {
			break
		}
		out = append(out, s.candidate(it))
	}
	return out, nil
}

// candidate is an item with everything a repair plan needs.
func (s *Store) candidate(it *router.WorkItem) router.RepairCandidate {
	c := router.RepairCandidate{Item: cloneItem(it)}
	if found, attrs := s.currentRevision(it); found {
		c.RevisionFound = true
		c.CurrentAttributes = slices.Clone(attrs)
	}
	revs := s.itemRevs[it.ID]
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i] == it.CurrentRevisionID {
			continue
		}
		if er := s.revisions[revs[i]]; er != nil {
			c.Earlier = append(c.Earlier, cloneRevision(er))
		}
	}
	return c
}

func (s *Store) BulkQuarantine(ctx context.Context, req router.BatchRequest) (router.BatchResult, error) {
	return s.bulk(ctx, req, router.ScopeQuarantine, func(it *router.WorkItem, o *orgData, at time.Time) {
		o.removeQueued(it)
		it.State = router.StateQuarantined
		it.QuarantineReason = req.Reason
		it.Skipped = false
		s.appendOpEvent(actorEvent(it.OrgID, router.EventQuarantined, it.ID, it.QueueID, req.Actor, at,
			router.Detail("cause", router.CauseOperator, "reason", req.Reason)), req.OperationID)
	})
}

func (s *Store) BulkRelease(ctx context.Context, req router.BatchRequest) (router.BatchResult, error) {
	return s.bulk(ctx, req, router.ScopeRelease, func(it *router.WorkItem, o *orgData, at time.Time) {
		it.State = router.StateQueued
		it.Skipped = false
		it.FaultCause = ""
		it.QuarantineReason = ""
		o.addQueued(it)
		// A forced release (the selector let a broken revision through)
		// says so, as Release does for one item.
		detail := router.Detail("enqueued_at", it.EnqueuedAt)
		if broken, r := s.needsRepair(it); broken {
			verdict := "invalid"
			if r == nil {
				verdict = "missing"
			}
			detail = router.Detail("enqueued_at", it.EnqueuedAt, "forced", true, "revision", verdict)
		}
		s.appendOpEvent(actorEvent(it.OrgID, router.EventReleased, it.ID, it.QueueID, req.Actor, at, detail), req.OperationID)
		s.notify(it.OrgID)
	})
}

func (s *Store) appendOpEvent(e router.Event, op string) {
	e.OperationID = op
	s.appendEvent(e)
}

// bulk changes, under the store's lock, the planned items that still match.
func (s *Store) bulk(ctx context.Context, req router.BatchRequest, scope router.SelectScope,
	apply func(it *router.WorkItem, o *orgData, at time.Time)) (router.BatchResult, error) {
	var res router.BatchResult
	if req.OperationID == "" {
		return res, errors.New("memstore: a bulk action needs an operation id")
	}
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	ids := slices.Clone(req.Items)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	sel := req.Selector
	sel.Scope, sel.IDs, sel.After, sel.Limit = scope, ids, 0, 0
	done := s.opItems(req.OperationID)
	for _, id := range ids {
		it := s.items[id]
		if it == nil || done[id] {
			res.Skipped = append(res.Skipped, id)
			continue
		}
		found, attrs := s.currentRevision(it)
		if !sel.Matches(it, found, attrs) {
			res.Skipped = append(res.Skipped, id)
			continue
		}
		apply(it, s.orgs[it.OrgID], req.At.UTC())
		res.Changed = append(res.Changed, router.BulkItemRef{ID: it.ID, Org: it.OrgID, Queue: it.QueueID})
	}
	return res, nil
}

func (s *Store) BulkRepair(ctx context.Context, req router.RepairBatchRequest) ([]router.RepairOutcome, error) {
	if req.OperationID == "" {
		return nil, errors.New("memstore: a bulk repair needs an operation id")
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.applyRepair(router.ApplyRepairRequest{Fixes: req.Fixes, Actor: req.Actor, At: req.At}, req.OperationID), nil
}

// ---- operations ----

func (s *Store) FindOperation(ctx context.Context, fingerprint string) (*router.Operation, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	for _, o := range s.operations {
		if !o.finished && o.op.Fingerprint == fingerprint {
			op := o.op
			return &op, nil
		}
	}
	return nil, nil
}

func (s *Store) StartOperation(ctx context.Context, op router.Operation) (router.Operation, error) {
	if err := s.lock(ctx); err != nil {
		return router.Operation{}, err
	}
	defer s.mu.Unlock()
	for _, o := range s.operations {
		if !o.finished && o.op.Fingerprint == op.Fingerprint {
			got := o.op
			got.Resumed = true
			return got, nil
		}
	}
	if op.ID == "" {
		return router.Operation{}, errors.New("memstore: an operation needs an id")
	}
	if _, dup := s.operations[op.ID]; dup {
		return router.Operation{}, router.Conflictf("operation %s exists", op.ID)
	}
	if s.operations == nil {
		s.operations = map[string]*operation{}
	}
	op.Resumed = false
	op.StartedAt = op.StartedAt.UTC()
	s.operations[op.ID] = &operation{op: op}
	return op, nil
}

func (s *Store) FinishOperation(ctx context.Context, id string, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	o := s.operations[id]
	if o == nil {
		return router.NotFoundf("operation %s does not exist", id)
	}
	o.finished = true
	return nil
}

func (s *Store) OperationDone(ctx context.Context, id, kind string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := map[int64]bool{}
	for i := range s.events {
		if e := &s.events[i]; e.OperationID == id && e.Kind == kind && e.WorkItemID != 0 {
			n[e.WorkItemID] = true
		}
	}
	return len(n), nil
}
