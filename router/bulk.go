package router

import (
	"context"
	"time"
)

// SetStore is the part of Store that acts on sets of items: the selector's
// count and pages, bulk quarantine, release and repair in set-based
// batches, and the bookkeeping that lets an interrupted bulk action resume.
type SetStore interface {
	// CountSelected counts the items a selector matches (After and Limit
	// are ignored), grouped by org and queue, sorted by org then queue.
	CountSelected(ctx context.Context, sel ItemSelector) ([]SelectionCount, error)
	// SelectItems returns one page of the items a selector matches, in id
	// order: ids greater than sel.After, at most sel.Limit (default 100).
	SelectItems(ctx context.Context, sel ItemSelector) ([]WorkItem, error)
	// SelectRepairCandidates is RepairCandidates for the items a selector
	// matches, paged like SelectItems: live items whose current revision
	// is missing or invalid, with their earlier revisions.
	SelectRepairCandidates(ctx context.Context, sel ItemSelector) ([]RepairCandidate, error)

	// BulkQuarantine quarantines the listed items that still match the
	// request's selector (its scope is forced to ScopeQuarantine and its
	// ExcludeOperation to the operation), in one transaction: one
	// quarantined event per item, each carrying the operation id. Items
	// that no longer match are reported as skipped and left alone.
	BulkQuarantine(ctx context.Context, req BatchRequest) (BatchResult, error)
	// BulkRelease does the same for release (ScopeRelease): each item
	// returns to queued with its original enqueued_at.
	BulkRelease(ctx context.Context, req BatchRequest) (BatchResult, error)
	// BulkRepair is ApplyRepair with every revision_repaired event carrying
	// the operation id.
	BulkRepair(ctx context.Context, req RepairBatchRequest) ([]RepairOutcome, error)

	// FindOperation returns the unfinished operation with this
	// fingerprint, or nil. It changes nothing.
	FindOperation(ctx context.Context, fingerprint string) (*Operation, error)
	// StartOperation records a new operation, or returns the unfinished
	// one with the same fingerprint (Resumed set), so that two runs of one
	// bulk action share one operation id.
	StartOperation(ctx context.Context, op Operation) (Operation, error)
	// FinishOperation marks an operation finished; a later run with the
	// same fingerprint starts a new one.
	FinishOperation(ctx context.Context, id string, at time.Time) error
	// OperationDone counts the distinct items that carry an event of the
	// given kind with this operation id.
	OperationDone(ctx context.Context, id, kind string) (int, error)
}

// SelectionCount is how many selected items one queue holds.
type SelectionCount struct {
	Org   string `json:"org"`
	Queue string `json:"queue"`
	N     int    `json:"count"`
}

// BatchRequest is one batch of a bulk quarantine or release.
type BatchRequest struct {
	OperationID string
	// Items are the planned items of this batch (ids; their orgs are
	// looked up). Each is re-checked against Selector under its row lock.
	Items    []int64
	Selector ItemSelector
	// Reason is the quarantine reason.
	Reason string
	Actor  Actor
	At     time.Time
}

// BatchResult reports one batch.
type BatchResult struct {
	// Changed lists the items changed, in id order.
	Changed []BulkItemRef
	// Skipped lists the planned items that no longer matched.
	Skipped []int64
}

// BulkItemRef is one item a bulk batch changed.
type BulkItemRef struct {
	ID    int64
	Org   string
	Queue string
}

// RepairBatchRequest is one batch of a bulk repair.
type RepairBatchRequest struct {
	OperationID string
	Fixes       []RepairFix
	Actor       Actor
	At          time.Time
}

// Operation is one bulk action, which may span several runs.
type Operation struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Fingerprint string    `json:"fingerprint"`
	Selector    string    `json:"selector"`
	Actor       string    `json:"actor"`
	StartedAt   time.Time `json:"started_at"`
	// Resumed is set by StartOperation when it returned an unfinished
	// operation instead of starting one.
	Resumed bool `json:"resumed,omitempty"`
}
