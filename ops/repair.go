package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/routeops/routeops/router"
)

// rawJSON marshals stored attribute bytes as JSON when they are JSON, and
// as a string otherwise, so output never breaks on bad data.
type rawJSON []byte

func asRaw(b []byte) rawJSON { return rawJSON(bytes.Clone(b)) }

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	if json.Valid(r) {
		return []byte(r), nil
	}
	return json.Marshal(string(r))
}

// Repair sources, in order of preference. Only the verified journal copy
// is exact; the others are fallbacks, applied only when the operator
// allows them (--allow-fallback for an unverified copy or an earlier
// revision, --allow-defaults for defaults).
const (
	SourceJournal = "journal"
	// SourceJournalUnverified is a journal copy the store cannot prove
	// came from the revision (written by whoever wrote the item, or before
	// the store could tell).
	SourceJournalUnverified = "journal_unverified"
	SourceEarlier           = "earlier_revision"
	SourceDefault           = "defaults"
	SourceNone              = "none"
)

// The opt-ins a fallback needs before apply uses it.
const (
	OptInFallback = "allow_fallback"
	OptInDefaults = "allow_defaults"
)

// PlanItem is one item of a repair plan. item, org, cause, source, valid
// and attributes are part of the JSON contract.
type PlanItem struct {
	Item       string       `json:"item"`
	Org        string       `json:"org"`
	Cause      router.Cause `json:"cause"`
	Source     string       `json:"source"`
	Valid      bool         `json:"valid"`
	Attributes rawJSON      `json:"attributes"`

	Queue      string `json:"queue"`
	State      string `json:"state"`
	RevisionID int64  `json:"revision_id"`
	// SourceRevisionID names the earlier revision used, for that source.
	SourceRevisionID int64 `json:"source_revision_id,omitempty"`
	// Fallback flags a source that is not a proven exact copy of the lost
	// attributes (an unverified journal copy, an earlier revision or
	// defaults); OptIn names what allows apply to use it.
	Fallback bool   `json:"fallback"`
	OptIn    string `json:"opt_in,omitempty"`
	Error    string `json:"error,omitempty"`

	itemID int64
}

// RepairPlan lists what repair would do.
type RepairPlan struct {
	Items []PlanItem `json:"items"`
	// Repairable counts items with a valid rebuild.
	Repairable int  `json:"repairable"`
	Fallbacks  int  `json:"fallbacks"`
	Unfixable  int  `json:"unfixable"`
	DryRun     bool `json:"dry_run"`
	// AllowFallback lets apply use an unverified journal copy or an
	// earlier revision (--allow-fallback); without it those items are
	// reported and left alone. NeedOptIn counts them.
	AllowFallback bool `json:"allow_fallback"`
	NeedOptIn     int  `json:"need_opt_in"`
	// Org is the org the plan was made for ("" for every org); apply
	// judges its verify on that org's findings only.
	Org string `json:"org,omitempty"`
}

// journalUse says whether an item's journal copy can rebuild its current
// revision, how exactly, and if not, why.
func journalUse(it router.WorkItem) (source, why string) {
	switch {
	case it.JournalRevisionID == 0:
		return "", "no journal entry"
	case it.JournalRevisionID != it.CurrentRevisionID:
		return "", fmt.Sprintf("the journal copy is of revision %d", it.JournalRevisionID)
	case it.JournalOversized:
		return "", fmt.Sprintf("the journal copy is oversized (%d bytes, over the size limit)", it.JournalBytes)
	case len(it.JournalAttributes) == 0:
		return "", "no journal entry"
	}
	if err := router.ValidateAttributes(it.JournalAttributes); err != nil {
		return "", "the journal copy does not validate: " + err.Error()
	}
	if !it.JournalVerified {
		return SourceJournalUnverified, ""
	}
	return SourceJournal, ""
}

// PlanRepair finds every live item whose current revision is missing,
// oversized or invalid and decides how to rebuild it: the exact attributes
// from the verified journal copy first; an unverified copy, then an
// earlier revision, only as flagged fallbacks (apply uses them only with
// plan.AllowFallback); defaults only when allowDefaults is set. It changes
// nothing.
func (o *Ops) PlanRepair(ctx context.Context, org string, allowDefaults bool) (*RepairPlan, error) {
	cands, err := o.store.RepairCandidates(ctx, org)
	if err != nil {
		return nil, err
	}
	plan := &RepairPlan{Items: make([]PlanItem, 0, len(cands)), DryRun: true, Org: org}
	for _, c := range cands {
		plan.add(o.planItem(c, allowDefaults))
	}
	return plan, nil
}

// add appends one item to the plan and counts it.
func (plan *RepairPlan) add(p PlanItem) {
	if !p.Valid {
		plan.Unfixable++
	} else {
		plan.Repairable++
		if p.Fallback {
			plan.Fallbacks++
		}
		if p.OptIn == OptInFallback {
			plan.NeedOptIn++
		}
	}
	plan.Items = append(plan.Items, p)
}

// planItem decides how to rebuild one candidate's attributes.
func (o *Ops) planItem(c router.RepairCandidate, allowDefaults bool) PlanItem {
	it := c.Item
	p := PlanItem{Item: router.FormatItemID(it.ID), Org: it.OrgID, Queue: it.QueueID, State: string(it.State),
		RevisionID: it.CurrentRevisionID, Cause: router.CauseCorruptRevision, Source: SourceNone, itemID: it.ID}
	switch {
	case !c.RevisionFound:
		p.Cause = router.CauseMissingRevision
	case c.CurrentOversized:
		p.Cause = router.CauseOversizedAttributes
	}
	var attrs []byte
	src, why := journalUse(it)
	switch src {
	case SourceJournal:
		attrs, p.Source = it.JournalAttributes, SourceJournal
	case SourceJournalUnverified:
		attrs, p.Source, p.Fallback, p.OptIn = it.JournalAttributes, SourceJournalUnverified, true, OptInFallback
	default:
		for _, r := range c.Earlier {
			if !r.Oversized && router.ValidateAttributes(r.Attributes) == nil {
				attrs, p.Source, p.SourceRevisionID, p.Fallback, p.OptIn = r.Attributes, SourceEarlier, r.ID, true, OptInFallback
				break
			}
		}
		if attrs == nil && allowDefaults {
			a := router.Attributes{Priority: o.repair.DefaultPriority, Channel: o.repair.DefaultChannel}
			attrs, p.Source, p.Fallback, p.OptIn = a.Marshal(), SourceDefault, true, OptInDefaults
		}
	}
	if attrs == nil {
		p.Error = "no surviving copy of the attributes (" + why + ", no valid earlier revision); rerun with --allow-defaults to use defaults"
	} else if err := router.ValidateAttributes(attrs); err != nil {
		p.Error = "rebuilt attributes do not validate: " + err.Error()
		p.Attributes = asRaw(attrs)
	} else {
		p.Valid = true
		p.Attributes = asRaw(attrs)
	}
	return p
}

// RepairReport says what apply did.
type RepairReport struct {
	Repaired int                    `json:"repaired"`
	Released int                    `json:"released"`
	Skipped  int                    `json:"skipped"`
	Outcomes []router.RepairOutcome `json:"outcomes"`
	Verify   *router.VerifyReport   `json:"verify,omitempty"`
	VerifyOK bool                   `json:"verify_clean"`
	// VerifyOrg is the org whose findings Verify lists and VerifyOK judges
	// (a repair scoped to one org answers for that org only); "" for all.
	VerifyOrg string `json:"verify_org,omitempty"`
	// OtherFindings counts findings in other orgs, left out of a scoped
	// repair's verdict.
	OtherFindings int `json:"other_findings,omitempty"`
}

// ApplyRepair applies the valid items of a plan, in chunks, each validated
// again inside its transaction, then runs verify and reports. Items that
// cannot be repaired are reported and left untouched. Running it again
// finds nothing to do.
func (o *Ops) ApplyRepair(ctx context.Context, plan *RepairPlan) (*RepairReport, error) {
	if err := o.guard(ActionRepair); err != nil {
		return nil, err
	}
	return o.applyRepair(ctx, plan, "", nil)
}

// ApplyRepairProgress is ApplyRepair, telling progress how many of the
// plan's valid items are done after each chunk.
func (o *Ops) ApplyRepairProgress(ctx context.Context, plan *RepairPlan, progress func(done, total int)) (*RepairReport, error) {
	if err := o.guard(ActionRepair); err != nil {
		return nil, err
	}
	return o.applyRepair(ctx, plan, "", progress)
}

// applyRepair applies a plan; with an operation id every repair's event
// carries it. progress, when set, is told how many items are done.
func (o *Ops) applyRepair(ctx context.Context, plan *RepairPlan, opID string, progress func(done, total int)) (*RepairReport, error) {
	rep := &RepairReport{Outcomes: []router.RepairOutcome{}}
	var fixes []router.RepairFix
	for _, p := range plan.Items {
		reason := p.Error
		if p.Valid && p.OptIn == OptInFallback && !plan.AllowFallback {
			reason = fmt.Sprintf("the only source is a fallback (%s); rerun with --allow-fallback to apply it", p.Source)
		}
		if !p.Valid || reason != "" {
			rep.Skipped++
			rep.Outcomes = append(rep.Outcomes, router.RepairOutcome{ItemID: p.itemID, OrgID: p.Org,
				State: router.ItemState(p.State), Reason: reason})
			continue
		}
		fixes = append(fixes, router.RepairFix{OrgID: p.Org, ItemID: p.itemID, ExpectRevisionID: p.RevisionID,
			Attributes: []byte(p.Attributes), Source: p.Source})
	}
	const chunk = 1000
	for start := 0; start < len(fixes); start += chunk {
		end := min(start+chunk, len(fixes))
		var outs []router.RepairOutcome
		var err error
		if opID == "" {
			outs, err = o.store.ApplyRepair(ctx, router.ApplyRepairRequest{Fixes: fixes[start:end], Actor: o.Actor, At: o.Clock.Now()})
		} else {
			outs, err = o.store.BulkRepair(ctx, router.RepairBatchRequest{OperationID: opID, Fixes: fixes[start:end],
				Actor: o.Actor, At: o.Clock.Now()})
		}
		if err != nil {
			return rep, fmt.Errorf("repair stopped after %d items: %w", rep.Repaired, err)
		}
		for _, oc := range outs {
			if oc.Repaired {
				rep.Repaired++
			} else {
				rep.Skipped++
			}
			rep.Outcomes = append(rep.Outcomes, oc)
		}
		if progress != nil {
			progress(end, len(fixes))
		}
	}
	requeued := make(map[int64]bool, len(rep.Outcomes))
	for _, oc := range rep.Outcomes {
		if oc.Repaired && oc.State == router.StateQueued {
			requeued[oc.ItemID] = true
		}
	}
	for _, p := range plan.Items {
		if p.Valid && p.State == string(router.StateQuarantined) && requeued[p.itemID] {
			rep.Released++
		}
	}
	v, err := o.store.Verify(ctx, 1000)
	if err != nil {
		return rep, fmt.Errorf("repair done (%d repaired), but verify failed: %w", rep.Repaired, err)
	}
	if v.Findings == nil {
		v.Findings = []router.Finding{}
	}
	if plan.Org != "" {
		mine := []router.Finding{}
		for _, f := range v.Findings {
			if f.OrgID == plan.Org {
				mine = append(mine, f)
			} else {
				rep.OtherFindings++
			}
		}
		v.Findings, rep.VerifyOrg = mine, plan.Org
	}
	rep.Verify, rep.VerifyOK = &v, v.Clean()
	return rep, nil
}
