package ops

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/routeops/routeops/router"
)

// Bulk actions on a selection: the actions of rules.go.
const (
	SetQuarantine = ActionQuarantine
	SetRelease    = ActionRelease
	SetRepair     = ActionRepair
)

// DefaultMax is how many items a bulk action changes at most unless told
// otherwise (--max).
const DefaultMax = 1000

// bulkBatch is the most items one bulk transaction changes.
const bulkBatch = 500

// planRows is how many items a plan shows.
const planRows = 10

// OverMaxError refuses a bulk action larger than its cap: nothing changed.
type OverMaxError struct {
	Action     string
	Total, Max int
}

func (e *OverMaxError) Error() string {
	return fmt.Sprintf("%s of %d items refused: more than --max %d; nothing was changed (raise --max, or narrow the selection)",
		e.Action, e.Total, e.Max)
}

// OutsideSelectionError refuses explicit ids that the filters exclude.
type OutsideSelectionError struct{ IDs []int64 }

func (e *OutsideSelectionError) Error() string {
	parts := make([]string, 0, min(len(e.IDs), 10))
	for i, id := range e.IDs {
		if i == 10 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, router.FormatItemID(id))
	}
	return fmt.Sprintf("item(s) %s do not exist or are outside the selection's filters; nothing was changed",
		strings.Join(parts, ", "))
}

// SetOptions shape a bulk action.
type SetOptions struct {
	// Max caps the items changed (DefaultMax when 0).
	Max int
	// Reason is the quarantine reason (required for quarantine).
	Reason string
	// Force releases items whose current revision is still missing,
	// oversized or invalid (they would fault again), as Release's force
	// does for one item.
	Force bool
	// AllowDefaults lets repair fall back to default attributes;
	// AllowFallback lets it apply an unverified journal copy or an earlier
	// revision (see RepairPlan.AllowFallback).
	AllowDefaults, AllowFallback bool
}

// SetPlan is what a bulk action would do. It changes nothing to make one.
type SetPlan struct {
	Action string `json:"action"`
	// Selector is what the operator asked for, rendered.
	Selector string `json:"selector"`
	// Total is how many items the action would change.
	Total int `json:"total"`
	// Groups break Total down by org and queue.
	Groups []router.SelectionCount `json:"by_queue"`
	// First are the first items, in id order.
	First []router.WorkItem `json:"first"`
	// Held counts, for release without --force, the selected items left
	// alone because their revision is still missing, oversized or invalid.
	Held int `json:"held,omitempty"`
	// Operation is an unfinished run of this very action that applying
	// continues; Done is how many items it already changed.
	Operation string `json:"resumes_operation,omitempty"`
	Done      int    `json:"already_done,omitempty"`
	Max       int    `json:"max"`
	// Repair holds the repair plan of the selected items.
	Repair *RepairPlan `json:"repair,omitempty"`

	sel         router.ItemSelector
	fingerprint string
	ids         []int64
	reason      string
}

// Empty reports whether there is nothing to do.
func (p *SetPlan) Empty() bool { return p.Total == 0 }

// selectorKey is the part of a selector that names a selection.
type selectorKey struct {
	Action     string             `json:"action"`
	Org        string             `json:"org,omitempty"`
	Queue      string             `json:"queue,omitempty"`
	State      router.ItemState   `json:"state,omitempty"`
	Cause      router.Cause       `json:"cause,omitempty"`
	WaitedOver string             `json:"waited_over,omitempty"`
	Attrs      []router.AttrMatch `json:"attrs,omitempty"`
	Revision   int64              `json:"revision,omitempty"`
	IDs        []int64            `json:"ids,omitempty"`
	Force      bool               `json:"force,omitempty"`
}

func keyOf(action string, sel router.ItemSelector, force bool) selectorKey {
	k := selectorKey{Action: action, Org: sel.Org, Queue: sel.Queue, State: sel.State, Cause: sel.Cause,
		Attrs: slices.Clone(sel.Attrs), Revision: sel.Revision, IDs: slices.Clone(sel.IDs), Force: force}
	if sel.WaitedOver > 0 {
		k.WaitedOver = sel.WaitedOver.String()
	}
	slices.SortFunc(k.Attrs, func(a, b router.AttrMatch) int { return strings.Compare(a.String(), b.String()) })
	k.Attrs = slices.Compact(k.Attrs)
	slices.Sort(k.IDs)
	k.IDs = slices.Compact(k.IDs)
	return k
}

// Fingerprint names a bulk action on a selection: a re-run with the same
// action and selector resumes the unfinished operation that has it.
func Fingerprint(action string, sel router.ItemSelector, force bool) string {
	b, _ := json.Marshal(keyOf(action, sel, force))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// DescribeSelector renders a selector the way the flags say it.
func DescribeSelector(sel router.ItemSelector) string {
	var parts []string
	add := func(flag, v string) {
		if v != "" {
			parts = append(parts, flag+" "+v)
		}
	}
	add("--org", sel.Org)
	add("--queue", sel.Queue)
	add("--state", string(sel.State))
	add("--cause", string(sel.Cause))
	if sel.WaitedOver > 0 {
		add("--waited-over", sel.WaitedOver.String())
	}
	for _, a := range sel.Attrs {
		add("--attr", a.String())
	}
	if sel.Revision != 0 {
		add("--revision", fmt.Sprint(sel.Revision))
	}
	if len(sel.IDs) > 0 {
		ids := make([]string, 0, len(sel.IDs))
		for _, id := range sel.IDs {
			ids = append(ids, router.FormatItemID(id))
		}
		parts = append(parts, "items "+strings.Join(ids, " "))
	}
	if len(parts) == 0 {
		return "every item"
	}
	return strings.Join(parts, " ")
}

// scopeOf is the set of items an action applies to.
func scopeOf(action string) (router.SelectScope, error) {
	switch action {
	case SetQuarantine:
		return router.ScopeQuarantine, nil
	case SetRelease:
		return router.ScopeRelease, nil
	case SetRepair:
		return router.ScopeLive, nil
	}
	return "", fmt.Errorf("unknown bulk action %q", action)
}

// eventOf is the journal kind an action writes per item.
func eventOf(action string) string {
	switch action {
	case SetQuarantine:
		return router.EventQuarantined
	case SetRelease:
		return router.EventReleased
	}
	return router.EventRevisionRepaired
}

// CheckSelector applies the rules every face shares to a selector the
// operator typed: quarantine and release need ids or a filter; the
// filters must make sense. It is a usage error otherwise.
func CheckSelector(action string, sel router.ItemSelector) error {
	if err := sel.Validate(); err != nil {
		return requestErr("%s", err.Error())
	}
	if (action == SetQuarantine || action == SetRelease) && !sel.Filtered() {
		return requestErr("%s needs item ids or a filter (--org, --queue, --state, --cause, --waited-over, --attr, --revision)", action)
	}
	return nil
}

// PlanSet works out what a bulk action on a selection would change, and
// changes nothing. Explicit ids that the filters exclude are refused.
func (o *Ops) PlanSet(ctx context.Context, action string, sel router.ItemSelector, opt SetOptions) (*SetPlan, error) {
	if err := CheckSelector(action, sel); err != nil {
		return nil, err
	}
	if action == SetQuarantine {
		if err := RequireReason(action, opt.Reason); err != nil {
			return nil, err
		}
	}
	scope, err := scopeOf(action)
	if err != nil {
		return nil, err
	}
	if opt.Max <= 0 {
		opt.Max = DefaultMax
	}
	sel.Now = o.Clock.Now()
	if err := o.checkIDs(ctx, sel); err != nil {
		return nil, err
	}
	p := &SetPlan{Action: action, Selector: DescribeSelector(sel), Max: opt.Max, reason: opt.Reason,
		fingerprint: Fingerprint(action, sel, opt.Force)}
	eff := sel
	eff.Scope = scope
	if op, err := o.store.FindOperation(ctx, p.fingerprint); err != nil {
		return nil, err
	} else if op != nil {
		p.Operation = op.ID
		if p.Done, err = o.store.OperationDone(ctx, op.ID, eventOf(action)); err != nil {
			return nil, err
		}
		eff.ExcludeOperation = op.ID
	}
	if action == SetRelease && !opt.Force {
		held := eff
		held.RevisionHealth = router.RevisionBroken
		if p.Held, err = o.countSelected(ctx, held); err != nil {
			return nil, err
		}
		eff.RevisionHealth = router.RevisionSound
	}
	if action == SetRepair {
		eff.RevisionHealth = router.RevisionBroken
	}
	if p.Groups, err = o.store.CountSelected(ctx, eff); err != nil {
		return nil, err
	}
	for _, g := range p.Groups {
		p.Total += g.N
	}
	p.sel = eff
	if p.Total > p.Max {
		return p, &OverMaxError{Action: action, Total: p.Total, Max: p.Max}
	}
	if err := o.planItems(ctx, p, opt); err != nil {
		return nil, err
	}
	return p, nil
}

func (o *Ops) countSelected(ctx context.Context, sel router.ItemSelector) (int, error) {
	cs, err := o.store.CountSelected(ctx, sel)
	n := 0
	for _, c := range cs {
		n += c.N
	}
	return n, err
}

// checkIDs refuses explicit ids that do not exist or that the filters
// exclude (as --org always did for ids of another org).
func (o *Ops) checkIDs(ctx context.Context, sel router.ItemSelector) error {
	if len(sel.IDs) == 0 {
		return nil
	}
	sel.Limit = len(sel.IDs)
	got, err := o.store.SelectItems(ctx, sel)
	if err != nil {
		return err
	}
	in := map[int64]bool{}
	for _, it := range got {
		in[it.ID] = true
	}
	var out []int64
	for _, id := range sel.IDs {
		if !in[id] {
			out = append(out, id)
		}
	}
	if len(out) > 0 {
		return &OutsideSelectionError{IDs: out}
	}
	return nil
}

// planItems lists every planned item (Total is at most Max), the first
// rows, and for repair the plan of each.
func (o *Ops) planItems(ctx context.Context, p *SetPlan, opt SetOptions) error {
	sel := p.sel
	sel.Limit = bulkBatch
	if p.Action == SetRepair {
		plan := &RepairPlan{Items: []PlanItem{}, DryRun: true, AllowFallback: opt.AllowFallback}
		for {
			cands, err := o.store.SelectRepairCandidates(ctx, sel)
			if err != nil {
				return err
			}
			for _, c := range cands {
				plan.add(o.planItem(c, opt.AllowDefaults))
				p.ids = append(p.ids, c.Item.ID)
				if len(p.First) < planRows {
					p.First = append(p.First, c.Item)
				}
			}
			if len(cands) < sel.Limit {
				break
			}
			sel.After = cands[len(cands)-1].Item.ID
		}
		p.Repair = plan
		return nil
	}
	for {
		items, err := o.store.SelectItems(ctx, sel)
		if err != nil {
			return err
		}
		for _, it := range items {
			p.ids = append(p.ids, it.ID)
			if len(p.First) < planRows {
				p.First = append(p.First, it)
			}
		}
		if len(items) < sel.Limit {
			break
		}
		sel.After = items[len(items)-1].ID
	}
	if p.First == nil {
		p.First = []router.WorkItem{}
	}
	return nil
}

// SetReport says what a bulk action did.
type SetReport struct {
	Action    string `json:"action"`
	Operation string `json:"operation"`
	// Resumed is set when this run continued an unfinished operation.
	Resumed bool `json:"resumed"`
	Planned int  `json:"planned"`
	Changed int  `json:"changed"`
	// Skipped counts planned items that no longer matched when their batch
	// was applied (changed since the plan, or by another run).
	Skipped int `json:"skipped"`
	// Held counts items left alone by release without --force.
	Held int `json:"held,omitempty"`
	// Done counts items the operation changed in earlier runs.
	Done int `json:"already_done,omitempty"`
	// Failed counts repairs that could not be applied.
	Failed int `json:"failed,omitempty"`
	// Findings counts the integrity findings, after a repair, about the
	// selected items (the rest of the store does not count here).
	Findings int `json:"findings_in_selection,omitempty"`
	// Interrupted is set when the run stopped before the end; running the
	// same command again continues it.
	Interrupted bool                    `json:"interrupted,omitempty"`
	Groups      []router.SelectionCount `json:"changed_by_queue"`
	Repair      *RepairReport           `json:"repair,omitempty"`
}

// ApplyOptions shape how a plan is applied.
type ApplyOptions struct {
	// Rate, when above 0, caps the items changed per second: no one-second
	// window of the journal holds more of this action's events.
	Rate int
	// Progress is told how many items are done after each batch.
	Progress func(done, total int)
}

// NewOperationID makes a fresh operation id: the time and 8 random hex
// digits.
func NewOperationID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "op-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ApplySet applies a plan in set-based batches under one operation id,
// reusing the id of an unfinished run of the same action and selection.
// Items already changed by the operation are never changed again; planned
// items that no longer match are counted as skipped. When ctx ends between
// batches it stops and reports Interrupted with what it did.
func (o *Ops) ApplySet(ctx context.Context, p *SetPlan, opt ApplyOptions) (*SetReport, error) {
	if err := o.guard(p.Action); err != nil {
		return nil, err
	}
	if p.Total > p.Max {
		return nil, &OverMaxError{Action: p.Action, Total: p.Total, Max: p.Max}
	}
	rep := &SetReport{Action: p.Action, Planned: len(p.ids), Held: p.Held, Groups: []router.SelectionCount{}}
	if len(p.ids) == 0 {
		return rep, nil
	}
	op, err := o.store.StartOperation(ctx, router.Operation{ID: NewOperationID(o.Clock.Now()), Kind: p.Action,
		Fingerprint: p.fingerprint, Selector: p.Selector, Actor: o.Actor.String(), StartedAt: o.Clock.Now()})
	if err != nil {
		return nil, err
	}
	rep.Operation, rep.Resumed = op.ID, op.Resumed
	if op.Resumed {
		if rep.Done, err = o.store.OperationDone(ctx, op.ID, eventOf(p.Action)); err != nil {
			return rep, err
		}
	}
	groups := map[[2]string]int{}
	if p.Action == SetRepair {
		err = o.applyRepairSet(ctx, p, op.ID, rep, opt)
	} else {
		err = o.applyBatches(ctx, p, op.ID, rep, opt, groups)
	}
	for k, n := range groups {
		rep.Groups = append(rep.Groups, router.SelectionCount{Org: k[0], Queue: k[1], N: n})
	}
	slices.SortFunc(rep.Groups, func(a, b router.SelectionCount) int {
		if c := strings.Compare(a.Org, b.Org); c != 0 {
			return c
		}
		return strings.Compare(a.Queue, b.Queue)
	})
	if err != nil {
		if ctx.Err() != nil {
			rep.Interrupted = true
		}
		return rep, fmt.Errorf("%s stopped after %d of %d items (operation %s; run the same command again to continue): %w",
			p.Action, rep.Changed+rep.Skipped, rep.Planned, op.ID, err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.store.FinishOperation(fctx, op.ID, o.Clock.Now()); err != nil {
		return rep, err
	}
	return rep, nil
}

func (o *Ops) applyBatches(ctx context.Context, p *SetPlan, opID string, rep *SetReport, opt ApplyOptions, groups map[[2]string]int) error {
	pace := newPacer(o.Clock, opt.Rate)
	for start := 0; start < len(p.ids); {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, at, err := pace.take(ctx, min(bulkBatch, len(p.ids)-start))
		if err != nil {
			return err
		}
		req := router.BatchRequest{OperationID: opID, Items: p.ids[start : start+n], Selector: p.sel, Reason: p.reason,
			Actor: o.Actor, At: at}
		var res router.BatchResult
		if p.Action == SetQuarantine {
			res, err = o.store.BulkQuarantine(ctx, req)
		} else {
			res, err = o.store.BulkRelease(ctx, req)
		}
		if err != nil {
			return err
		}
		pace.record(at, len(res.Changed))
		start += n
		rep.Changed += len(res.Changed)
		rep.Skipped += len(res.Skipped)
		for _, c := range res.Changed {
			groups[[2]string{c.Org, c.Queue}]++
		}
		if opt.Progress != nil {
			opt.Progress(start, len(p.ids))
		}
	}
	return nil
}

// applyRepairSet applies a selection's repair plan in chunks under the
// operation id, then verifies.
func (o *Ops) applyRepairSet(ctx context.Context, p *SetPlan, opID string, rep *SetReport, opt ApplyOptions) error {
	rr, err := o.applyRepair(ctx, p.Repair, opID, opt.Progress)
	rep.Repair = rr
	if rr != nil {
		rep.Changed = rr.Repaired
		for _, oc := range rr.Outcomes {
			if !oc.Repaired {
				rep.Failed++
			}
		}
		if rr.Verify != nil {
			selected := make(map[int64]bool, len(p.ids))
			for _, id := range p.ids {
				selected[id] = true
			}
			for _, f := range rr.Verify.Findings {
				if f.ItemID != 0 && selected[f.ItemID] {
					rep.Findings++
				}
			}
		}
	}
	return err
}

// ListSelected returns one page of a selection, in id order (After and
// Limit page it; Limit defaults to 50); Next is the cursor of the next
// page. It is a read.
func (o *Ops) ListSelected(ctx context.Context, sel router.ItemSelector) (*ItemPage, error) {
	sel.Now = o.Clock.Now()
	if err := sel.Validate(); err != nil {
		return nil, requestErr("%s", err.Error())
	}
	want := pageSize(sel.Limit)
	sel.Limit = want + 1 // one more, to know whether a next page exists
	items, err := o.store.SelectItems(ctx, sel)
	if err != nil {
		return nil, err
	}
	return newPage(items, want), nil
}

// CountSelection counts a selection: the total and by org and queue. It
// is a read.
func (o *Ops) CountSelection(ctx context.Context, sel router.ItemSelector) (int, []router.SelectionCount, error) {
	sel.Now, sel.After = o.Clock.Now(), 0
	if err := sel.Validate(); err != nil {
		return 0, nil, requestErr("%s", err.Error())
	}
	cs, err := o.store.CountSelected(ctx, sel)
	n := 0
	for _, c := range cs {
		n += c.N
	}
	return n, cs, err
}

// Rehearse is the console's drill (D): it breaks the current revisions of
// up to count queued items of org, in the queues routing will reach (its
// unpaused queues), so that the engine faults on them. When those queues
// hold nothing, as on a demo whose agents keep up, it first enqueues the
// victims at their head (InjectIncident): the drill always breaks
// something.
func (o *Ops) Rehearse(ctx context.Context, kind, org string, count int) ([]int64, error) {
	if err := o.guard(ActionDrill); err != nil {
		return nil, err
	}
	qs, err := o.store.ListQueues(ctx, org)
	if err != nil {
		return nil, err
	}
	waiting := 0
	for _, q := range qs {
		if q.Paused {
			continue
		}
		cs, err := o.store.CountSelected(ctx, router.ItemSelector{Org: org, Queue: q.ID, Scope: router.ScopeQuarantine})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			waiting += c.N
		}
	}
	if waiting == 0 {
		return o.InjectIncident(ctx, kind, org, count)
	}
	return o.Drill(ctx, kind, org, count)
}
