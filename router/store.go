package router

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is the seam between routing logic and storage. pgstore implements
// it on PostgreSQL, memstore in process; router/storetest holds the one
// conformance suite that both must pass.
//
// Store is the composition that every store implements. Each consumer
// takes only its part: the engine a RoutingStore, the monitor a
// MonitorStore, the operator API (ops) an OpsStore. Drills are not part of
// it: a store that allows them also implements Driller, and callers
// type-assert.
//
// Rules every implementation keeps:
//   - Each mutation and the events that record it commit together, or not
//     at all.
//   - Times are taken from the caller (the At/Now fields), never from the
//     store's own clock, so tests control time for both stores alike.
//   - A mutation takes its input as one value, a record or a request
//     struct (EnqueueRequest, QuarantineRequest, ...), never as loose
//     arguments. A journalled change carries the Actor who made it and At,
//     when it happened; the platform's own writes (status changes,
//     revisions, completions) carry At alone.
//   - Errors for a missing thing wrap ErrNotFound; a refused state change
//     wraps ErrConflict; a refused privilege wraps ErrPermission. Anything
//     else is an infrastructure error, which the engine treats as
//     transient. Errors never contain a password, and a store keeps the
//     underlying cause reachable through errors.Is and errors.As.
type Store interface {
	// Close releases the store's resources.
	Close()
	// Ping checks that the store can serve requests.
	Ping(ctx context.Context) error

	// ---- setup and writers (the platform, the seeder, the simulator) ----

	// UpsertOrg, UpsertQueue, UpsertTeam and UpsertAgent create or replace
	// reference data. UpsertAgent keeps the stored load of an existing
	// agent; load only changes through assignment and completion.
	UpsertOrg(ctx context.Context, o Org) error
	UpsertQueue(ctx context.Context, q Queue) error
	UpsertTeam(ctx context.Context, t Team) error
	UpsertAgent(ctx context.Context, a Agent) error
	// SetAgentStatus changes an agent's presence.
	SetAgentStatus(ctx context.Context, req AgentStatusRequest) error
	// SetTeamStatus pauses or activates a team.
	SetTeamStatus(ctx context.Context, req TeamStatusRequest) error

	// Enqueue creates a queued item and its first revision, and keeps the
	// attributes journal on the item. Attributes must be JSON (the column is
	// jsonb; anything else fails with an error wrapping ErrInvalidJSON) but
	// are otherwise stored as given, even when they are not valid
	// attributes: a platform can write bad data, and the engine copes.
	Enqueue(ctx context.Context, req EnqueueRequest) (WorkItem, error)
	// AddRevision writes a new revision of an item and points the item at
	// it, keeping the journal copy. It returns the new revision.
	AddRevision(ctx context.Context, req AddRevisionRequest) (Revision, error)
	// Complete finishes an assigned item and frees its agent's capacity.
	// It fails with ErrConflict unless the item is assigned.
	Complete(ctx context.Context, req CompleteRequest) error
	// BulkLoad writes a whole data set quickly (COPY on PostgreSQL). Items
	// must carry their revisions; ids are assigned by the store.
	BulkLoad(ctx context.Context, data *BulkData) (BulkResult, error)

	RoutingStore
	OpsStore
}

// RoutingStore is what the engine needs: which orgs to route, one routing
// transaction per org, liveness, maintenance and wake-ups.
type RoutingStore interface {
	// ListOrgs returns every org id, sorted.
	ListOrgs(ctx context.Context) ([]string, error)
	// RoutableOrgs returns the orgs that have queued, unskipped items and
	// at least one available agent with free capacity, sorted. The engine
	// polls these instead of every org, so idle tenants cost nothing.
	RoutableOrgs(ctx context.Context) ([]string, error)
	// RouteOrg runs one routing transaction for one org: it takes the
	// org's routing lock without waiting (Busy when another engine holds
	// it), loads the eligible agents, claims up to Limit head items per
	// unpaused queue in routing order, skipping rows locked by others,
	// calls decide, and applies the decisions with their events in the
	// same transaction. Items decide leaves out are released untouched.
	RouteOrg(ctx context.Context, req RouteRequest, decide DecideFunc) (RouteResult, error)
	// RouteOrgs routes several orgs in one call, each as RouteOrg would
	// (its own lock, limit, cursors and batch; decide is called once per
	// org), and may apply them all in one transaction: a fleet of small
	// orgs then costs a few transactions rather than one per org. The
	// result for reqs[i] is at index i; an org whose lock another engine
	// holds comes back Busy. Orgs must be distinct. On error nothing was
	// applied for any of them.
	RouteOrgs(ctx context.Context, reqs []RouteRequest, decide DecideFunc) ([]RouteResult, error)
	// Backlog lists every org with queued, unskipped items (orphans
	// included), sorted: how many, and whether it is routable now (as
	// RoutableOrgs decides). It reads counters, not items. The engine
	// uses the counts to put small orgs together in one call.
	Backlog(ctx context.Context) ([]OrgBacklog, error)
	// Heartbeat records an engine's liveness.
	Heartbeat(ctx context.Context, hb Heartbeat) error
	// Heartbeats returns every engine heartbeat, newest first.
	Heartbeats(ctx context.Context) ([]Heartbeat, error)
	// Maintain folds what writers appended for readers into its compact
	// form (pgstore: count deltas into counts, dirty queue heads
	// refreshed). It changes no answer, only how much work answering takes;
	// engines call it with their heartbeat. Safe to run concurrently.
	Maintain(ctx context.Context) error
	// Notifications delivers org ids that may have new routable work
	// (enqueue, release, repair, resume, freed capacity). The channel is
	// closed when ctx ends. Delivery is best-effort: engines still poll.
	Notifications(ctx context.Context) (<-chan string, error)
	// ResumeExpired resumes every paused queue whose pause ends at or
	// before now (PauseQueue's Until), journalling queue_resumed with the
	// pause it ends, once per queue however many engines call it. It
	// returns the queues it resumed.
	ResumeExpired(ctx context.Context, now time.Time, actor Actor) ([]QueueRef, error)
}

// MonitorStore is what the health monitor needs: the aggregate snapshot
// and the stall marks.
type MonitorStore interface {
	// Describe says what the store is, for headers and logs; it never
	// contains a password.
	Describe() string
	// Snapshot returns the aggregate state of every queue from set-based
	// queries; it never loads every item. Filter may name one org.
	Snapshot(ctx context.Context, req SnapshotRequest) (*StoreSnapshot, error)
	// MarkStall records a stall transition for one queue exactly once
	// across all monitors: detected (Cause non-empty) sets the queue's
	// stall state if it was clear, cleared (Cause empty) clears it if it
	// was set; each real transition appends its event. It reports whether
	// this call made the transition.
	MarkStall(ctx context.Context, req MarkStallRequest) (bool, error)
	// MarkStalls records many stall transitions as MarkStall does each,
	// set-based (pgstore: one statement per chunk of marks), so that a
	// monitor over a large fleet records every transition in a few
	// round trips. changed[i] reports whether req.Marks[i] made its
	// transition; a queue that does not exist is not changed. Queues must
	// be distinct.
	MarkStalls(ctx context.Context, req MarkStallsRequest) (changed []bool, err error)
}

// OpsStore is what the operator API needs: the monitor's part, items and
// their journal, the operator actions, repair, cleanup and the integrity
// scan.
type OpsStore interface {
	MonitorStore
	// Sets of items, pauses with a reason, teams and agents, the impact
	// report: the incident's operations.
	SetStore
	ControlStore
	ImpactStore

	// ListOrgs returns every org id, sorted (the engine's, too).
	ListOrgs(ctx context.Context) ([]string, error)

	// ---- items ----

	// GetItem returns one item with its journal copy (the copy's
	// attributes only when within the store's size limit).
	GetItem(ctx context.Context, id int64) (WorkItem, error)
	// ListItems returns a page of items without the journal copy's
	// attributes: a list never fetches a blob it does not show.
	ListItems(ctx context.Context, f ItemFilter) ([]WorkItem, error)
	// ItemRevisions returns an item's revisions, oldest first.
	ItemRevisions(ctx context.Context, org string, item int64) ([]Revision, error)
	// Events returns journal entries matching f, oldest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	// ListQueues, ListAgents and ListTeams return an org's reference data.
	ListQueues(ctx context.Context, org string) ([]Queue, error)
	ListAgents(ctx context.Context, org string) ([]Agent, error)
	ListTeams(ctx context.Context, org string) ([]Team, error)
	// Enqueue is the writer's (see Store); the incident drill uses it to
	// put its victims at the head of a queue.
	Enqueue(ctx context.Context, req EnqueueRequest) (WorkItem, error)

	// ---- operator actions ----

	// Quarantine moves a queued item to quarantined with the reason. An
	// item already quarantined is left as is (Changed false). Any other
	// state is ErrConflict. It waits for a routing transaction holding the
	// item, so it never races an assignment into both states.
	Quarantine(ctx context.Context, req QuarantineRequest) (ActionResult, error)
	// Release returns a quarantined item, or a queued item flagged by the
	// skip policy, to queued with its original enqueued_at, clearing the
	// skip flag. A queued, unflagged item is left as is (Changed false).
	// An item whose current revision is missing, over the size limit or
	// invalid is refused with ErrConflict, saying to repair it first,
	// unless req.Force; a forced release is journalled as such.
	Release(ctx context.Context, req ReleaseRequest) (ActionResult, error)
	// SetQueuePaused pauses or resumes a queue; repeating is harmless.
	SetQueuePaused(ctx context.Context, req QueuePauseRequest) (ActionResult, error)

	// ---- repair ----

	// RepairCandidates returns every live item (queued, quarantined or
	// assigned) whose current revision is missing or has invalid
	// attributes, with everything a repair plan needs; org "" means every
	// org. Completed and cancelled items are history and are left alone
	// (Verify checks live items only, the same set).
	RepairCandidates(ctx context.Context, org string) ([]RepairCandidate, error)
	// ApplyRepair writes a new revision with the given attributes for each
	// fix and repoints the item to it, in one transaction per call. Inside
	// the transaction it checks again that the item still points at
	// ExpectRevisionID, that this revision is still missing or invalid,
	// and that the new attributes validate; an item failing a check is
	// reported and left untouched. Repaired quarantined items return to
	// queued with their original enqueued_at. Existing revisions are never
	// changed or deleted. One revision_repaired event per repaired item.
	ApplyRepair(ctx context.Context, req ApplyRepairRequest) ([]RepairOutcome, error)

	// ---- cleanup ----

	// CleanupPlan counts revisions eligible for deletion: created before
	// OlderThan, not the current revision of any item, and not the newest
	// revision of their item.
	CleanupPlan(ctx context.Context, olderThan time.Time) (CleanupStats, error)
	// CleanupBatch examines, in id order, up to Limit revisions with id
	// greater than After that were created before OlderThan, and deletes
	// those that are eligible (see CleanupPlan). The reference check is part
	// of the deleting statement, and the revisions are locked first, so a
	// concurrent repoint either commits before (and the revision survives)
	// or fails after. It never deletes a referenced revision, even when the
	// foreign key has been dropped. It appends one revisions_cleaned event
	// per org touched. Callers loop with After = Next until Done.
	CleanupBatch(ctx context.Context, req CleanupBatchRequest) (CleanupBatchResult, error)

	// ---- integrity ----

	// Verify scans for integrity problems (see Finding).
	Verify(ctx context.Context, limit int) (VerifyReport, error)
}

// Driller is implemented by a store that can reproduce the incident on
// purpose. It is not part of Store: callers type-assert, and ops decides
// whether a drill may run (the embedded demo, or drill.allow).
type Driller interface {
	// DrillDeleteRevisions reproduces the incident: it deletes the current
	// revisions of up to Count queued items of Org, bypassing the foreign
	// key, and returns the affected item ids.
	DrillDeleteRevisions(ctx context.Context, req DrillRequest) ([]int64, error)
	// DrillCorruptRevisions overwrites the attributes of the current
	// revisions of up to Count queued items with invalid JSON values.
	DrillCorruptRevisions(ctx context.Context, req DrillRequest) ([]int64, error)
}

// Sentinel errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalidJSON refuses attribute bytes that are not JSON at all.
	ErrInvalidJSON = errors.New("attributes are not valid JSON")
	// ErrAttributesTooLarge refuses attributes over the store's size
	// limit (64 KiB unless the database says otherwise). Errors wrapping
	// it also match ErrInvalidJSON: either way the store refused the
	// bytes at once and stored nothing.
	ErrAttributesTooLarge error = refusedAttributes("attributes too large")
	// ErrPermission means the store refused for lack of a privilege. It is
	// permanent: the engine stops on it rather than retrying.
	ErrPermission = errors.New("permission denied")
	// ErrReadOnly is returned by ops when a mutation is refused.
	ErrReadOnly = errors.New("read-only")
)

// refusedAttributes is an attributes refusal that also matches
// ErrInvalidJSON.
type refusedAttributes string

func (e refusedAttributes) Error() string        { return string(e) }
func (e refusedAttributes) Is(target error) bool { return target == ErrInvalidJSON }

// TooLargef wraps ErrAttributesTooLarge with a message.
func TooLargef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAttributesTooLarge, fmt.Sprintf(format, args...))
}

// NotFoundf wraps ErrNotFound with a message.
func NotFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// Conflictf wraps ErrConflict with a message.
func Conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// EnqueueRequest creates one item.
type EnqueueRequest struct {
	OrgID      string
	QueueID    string
	Attributes []byte
	EnqueuedAt time.Time
}

// AddRevisionRequest writes a new current revision of an item
// (AddRevision).
type AddRevisionRequest struct {
	Org        string
	ItemID     int64
	Attributes []byte
	At         time.Time
}

// CompleteRequest finishes an assigned item (Complete).
type CompleteRequest struct {
	Org    string
	ItemID int64
	At     time.Time
}

// MarkStallRequest records a stall transition of one queue (MarkStall):
// detected when Cause is set, cleared when it is empty. Detail is the
// event's detail; nil records the cause alone.
type MarkStallRequest struct {
	Org    string
	Queue  string
	Cause  Cause
	Detail []byte
	Actor  Actor
	At     time.Time
}

// MarkStallsRequest records many stall transitions at one time by one
// actor (MarkStalls).
type MarkStallsRequest struct {
	Marks []StallMark
	Actor Actor
	At    time.Time
}

// QuarantineRequest moves one queued item aside (Quarantine). Org may be
// empty; when given, an item of another org is not found.
type QuarantineRequest struct {
	Org    string
	ItemID int64
	Reason string
	Actor  Actor
	At     time.Time
}

// ReleaseRequest returns one item to its queue (Release). Org may be
// empty, as for QuarantineRequest.
type ReleaseRequest struct {
	Org    string
	ItemID int64
	// Force releases an item whose current revision is missing, oversized
	// or invalid, which is otherwise refused (ErrConflict): routed, it
	// would fault again at once.
	Force bool
	Actor Actor
	At    time.Time
}

// QueuePauseRequest pauses (Paused) or resumes a queue (SetQueuePaused).
type QueuePauseRequest struct {
	Org    string
	Queue  string
	Paused bool
	Actor  Actor
	At     time.Time
}

// ApplyRepairRequest applies repairs in one transaction (ApplyRepair).
type ApplyRepairRequest struct {
	Fixes []RepairFix
	Actor Actor
	At    time.Time
}

// DrillRequest breaks the current revisions of up to Count queued items of
// Org (Driller).
type DrillRequest struct {
	Org   string
	Count int
	Actor Actor
	At    time.Time
}

// BulkData is a data set for BulkLoad.
type BulkData struct {
	Orgs   []Org
	Queues []Queue
	Teams  []Team
	Agents []Agent
	Items  []BulkItem
}

// BulkItem is an item with its revision history, oldest first; the last
// revision becomes current.
type BulkItem struct {
	OrgID      string
	QueueID    string
	State      ItemState // queued (default) or cancelled
	EnqueuedAt time.Time
	Revisions  []BulkRevision
}

// BulkRevision is one revision of a BulkItem.
type BulkRevision struct {
	Attributes []byte
	CreatedAt  time.Time
}

// BulkResult counts what BulkLoad wrote.
type BulkResult struct {
	Items, Revisions int
	FirstItemID      int64
	LastItemID       int64
}

// RouteRequest parameterises one RouteOrg call.
type RouteRequest struct {
	Org string
	// Limit is the most items claimed per queue.
	Limit int
	// IncludeOrphans also claims queued items whose queue does not exist.
	IncludeOrphans bool
	// Cursors page deeper into queues within one engine turn: a queue with
	// a cursor is claimed only after it in routing order, and a queue whose
	// cursor has Skip is not claimed at all. Queues without a cursor are
	// claimed from the head.
	Cursors map[string]QueueCursor
	Actor   Actor
	Now     time.Time
}

// StallMark is one stall transition for MarkStalls: detected when Cause
// is set, cleared when it is empty. Detail is the event's detail (JSON).
type StallMark struct {
	Org, Queue string
	Cause      Cause
	Detail     []byte
}

// OrgBacklog is one org's queued work, from Backlog.
type OrgBacklog struct {
	Org string
	// Queued counts queued, unskipped items, orphans included.
	Queued int
	// Routable: an unpaused queue (or an orphan) has work and an
	// available agent has free capacity.
	Routable bool
}

// QueueCursor is a position in a queue's routing order (priority desc,
// enqueued_at, id).
type QueueCursor struct {
	Skip       bool
	Priority   int
	EnqueuedAt time.Time
	ID         int64
}

// After reports whether an item comes after the cursor in routing order.
func (c QueueCursor) After(it *WorkItem) bool {
	if c.Skip {
		return false
	}
	if it.Priority != c.Priority {
		return it.Priority < c.Priority
	}
	if !it.EnqueuedAt.Equal(c.EnqueuedAt) {
		return it.EnqueuedAt.After(c.EnqueuedAt)
	}
	return it.ID > c.ID
}

// CursorOf is the cursor just at an item.
func CursorOf(it *WorkItem) QueueCursor {
	return QueueCursor{Priority: it.Priority, EnqueuedAt: it.EnqueuedAt, ID: it.ID}
}

// QueueClaim says what one RouteOrg call claimed from one queue.
type QueueClaim struct {
	Claimed int
	// Full is set when Limit items were claimed, so more may be waiting.
	Full bool
	// Last is the last claimed item's position.
	Last QueueCursor
	// Blocked is set when a block-policy fault stopped the queue.
	Blocked bool
	// Moved counts the claimed items assigned, quarantined or skipped.
	Moved int
}

// ClaimSummary fills a RouteResult's per-queue claims from a batch and the
// decisions applied to it. Stores call it.
func ClaimSummary(b *Batch, ds []Decision, limit int) map[string]QueueClaim {
	out := map[string]QueueClaim{}
	for i := range b.Items {
		it := &b.Items[i].Item
		if _, known := b.Queues[it.QueueID]; !known {
			continue
		}
		c := out[it.QueueID]
		c.Claimed++
		c.Last = CursorOf(it)
		c.Full = c.Claimed >= limit
		out[it.QueueID] = c
	}
	for _, d := range ds {
		c, ok := out[d.QueueID]
		if !ok {
			continue
		}
		if d.Kind == DecideFault && d.Action == PolicyBlock {
			c.Blocked = true
		} else {
			c.Moved++
		}
		out[d.QueueID] = c
	}
	return out
}

// DecideFunc is called inside the routing transaction with the claimed
// batch and returns one decision per item it acts on. It must not call the
// store (memstore holds its lock while it runs).
type DecideFunc func(b *Batch) []Decision

// Batch is what RouteOrg hands to decide.
type Batch struct {
	Org string
	// Queues are all of the org's queues, keyed by id.
	Queues map[string]Queue
	// Teams are all of the org's teams, keyed by id.
	Teams map[string]Team
	// Agents are the org's available agents with free capacity, with
	// TeamStatus filled in, sorted by id. Their loads can only fall before
	// the decisions are written (only routing raises a load, one routing
	// call per org at a time); the store checks capacity again as it
	// writes.
	Agents []Agent
	// Items are the claimed items in routing order: queue priority desc,
	// queue id, item priority desc, enqueued_at, id. Orphans (unknown
	// queue) come last.
	Items []ClaimedItem
}

// ClaimedItem is one claimed item with its current revision, if found.
// A revision whose attributes are over the store's size limit is found
// but Oversized, and its attributes are not loaded.
type ClaimedItem struct {
	Item          WorkItem
	RevisionFound bool
	Attributes    []byte
	Oversized     bool
	Bytes         int
}

// DecisionKind is what the engine decided for one item.
type DecisionKind int

const (
	DecideAssign DecisionKind = iota + 1
	DecideFault
)

// Decision is the engine's verdict on one claimed item.
type Decision struct {
	Kind    DecisionKind
	ItemID  int64
	QueueID string
	// Assign
	AgentID string
	// Fault
	Cause  Cause
	Error  string
	Action FaultPolicy
}

// RouteResult reports what one RouteOrg call did.
type RouteResult struct {
	// Busy means another engine held the org's routing lock; nothing ran.
	Busy        bool
	Claimed     int
	Assigned    int
	Quarantined int
	Skipped     int
	Blocked     int
	// Faults lists the faults applied, for metrics and logs.
	Faults []Decision
	// FreeCapacity is the org's free capacity before this call.
	FreeCapacity int
	// QueuesFull counts queues where Limit items were claimed, so more may
	// be waiting.
	QueuesFull int
	// Queues reports what was claimed per queue (orphans excluded).
	Queues map[string]QueueClaim
}

// Progress reports whether the call assigned or moved anything out of the
// way; a pass where no org progresses is idle.
func (r RouteResult) Progress() bool {
	return r.Assigned > 0 || r.Quarantined > 0 || r.Skipped > 0
}

// ActionResult reports an operator action.
type ActionResult struct {
	Changed bool      // false when the item already was in the target state
	State   ItemState // the state after the action
	Message string
}

// ItemFilter selects items for ListItems, paginated by id.
type ItemFilter struct {
	Org     string
	Queue   string
	State   ItemState
	AfterID int64 // keyset pagination: ids greater than this
	Limit   int
}

// EventFilter selects journal entries.
type EventFilter struct {
	Org      string
	Since    time.Time // inclusive
	Until    time.Time // exclusive; zero: no upper bound
	Kinds    []string
	ItemID   int64
	AfterID  int64
	Limit    int
	NewestOf bool // when set with Limit, return the newest Limit (still oldest first)
	// OperationID keeps the events of one bulk operation.
	OperationID string
}

// SnapshotRequest parameterises Snapshot.
type SnapshotRequest struct {
	Org string // empty: every org
	Now time.Time
}

// StoreSnapshot is the raw aggregate state the monitor turns into health.
type StoreSnapshot struct {
	Now        time.Time
	Orgs       []OrgStats
	Heartbeats []Heartbeat
	// Source says where the snapshot was read (nil: an embedded store).
	Source *SnapshotSource
}

// OrgStats aggregates one org.
type OrgStats struct {
	Org         string
	Queued      int
	Assigned    int
	Quarantined int
	// Orphans are queued items whose queue does not exist.
	Orphans int
	Queues  []QueueStats
	Teams   []Team
	// AgentGroups aggregate the org's agents by team, team status, skills
	// and status, so that the monitor can compute the capacity that could
	// take a queue's head without loading every agent.
	AgentGroups []AgentGroup
}

// AgentGroup is a set of agents that look alike to routing.
type AgentGroup struct {
	TeamID     string
	TeamStatus TeamStatus
	Skills     []string
	Status     AgentStatus
	Agents     int
	Capacity   int
	Load       int
	// Free is the sum of free capacity (capacity minus load, floored at 0).
	Free int
}

// QueueStats aggregates one queue.
type QueueStats struct {
	Org      string
	Queue    string
	Priority int
	Paused   bool
	// Depth counts queued items, including skipped ones.
	Depth int
	// Skipped counts queued items flagged by the skip policy.
	Skipped     int
	Quarantined int
	// OldestEnqueuedAt is the oldest enqueued_at among queued items.
	OldestEnqueuedAt *time.Time
	// Head is the first item the engine would claim next (queued, not
	// skipped, in routing order), with its current revision.
	Head           *HeadItem
	LastAssignedAt *time.Time
	// LastRoutedAt is when an engine last claimed items from the queue
	// (whether or not it assigned any): nil when none has. The monitor
	// tells a stalled queue (reached, nothing assigned) from one that is
	// behind (not reached) with it.
	LastRoutedAt *time.Time
	// Assigned1m and Assigned5m count assignments in the last minute and
	// five minutes before Now. Stores may count in 10-second buckets, so a
	// window can include up to 10 s more; tests keep clear of the edges.
	Assigned1m int
	Assigned5m int
	// StalledSince and StallCause are the persisted stall state.
	StalledSince *time.Time
	StallCause   Cause
	// Pause says who paused the queue, why and until when (when Paused).
	Pause PauseInfo
}

// HeadItem is the head of a queue.
type HeadItem struct {
	ID                int64
	EnqueuedAt        time.Time
	Attempts          int
	LastError         string
	LastAttemptAt     *time.Time
	FaultCause        Cause
	CurrentRevisionID int64
	RevisionFound     bool
	Attributes        []byte
	// Oversized: the revision's attributes (Bytes long) are over the
	// store's limit and were not loaded.
	Oversized bool
	Bytes     int
}

// RepairCandidate is an item that needs its current revision rebuilt.
type RepairCandidate struct {
	Item WorkItem
	// RevisionFound is false when the current revision row is missing;
	// otherwise CurrentAttributes holds its invalid attributes, unless
	// they are over the store's size limit (CurrentOversized, with
	// CurrentBytes their size).
	RevisionFound     bool
	CurrentAttributes []byte
	CurrentOversized  bool
	CurrentBytes      int
	// Earlier holds the item's other revisions, newest first.
	Earlier []Revision
}

// RepairFix is one repair to apply.
type RepairFix struct {
	OrgID            string
	ItemID           int64
	ExpectRevisionID int64
	Attributes       []byte
	Source           string
}

// RepairOutcome reports one repair.
type RepairOutcome struct {
	ItemID        int64
	OrgID         string
	Repaired      bool
	NewRevisionID int64
	State         ItemState
	Reason        string // why it was not repaired
}

// CleanupStats describes what cleanup could delete.
type CleanupStats struct {
	Eligible int `json:"eligible"`
	// Referenced counts old revisions kept because an item points at them.
	Referenced int `json:"referenced_kept"`
	// Newest counts old revisions kept because they are their item's newest.
	Newest int `json:"newest_kept"`
	// Total counts every revision.
	Total int            `json:"total_revisions"`
	ByOrg map[string]int `json:"by_org,omitempty"`
}

// CleanupBatchRequest is one batch of cleanup (CleanupBatch).
type CleanupBatchRequest struct {
	OlderThan time.Time
	After     int64 // keyset cursor: revision ids greater than this
	Limit     int   // most revisions examined
	Actor     Actor
	At        time.Time
}

// CleanupBatchResult reports one batch.
type CleanupBatchResult struct {
	Examined int
	Deleted  int
	Next     int64 // the last revision id examined; pass as After
	Done     bool  // nothing older is left after Next (a store may also say so when exactly Limit were examined)
}

// Finding kinds reported by Verify.
const (
	FindingDanglingRevision  = "dangling_current_revision"
	FindingInvalidAttributes = "invalid_attributes"
	FindingAssignedNoAgent   = "assigned_without_agent"
	FindingAgentOverCapacity = "agent_over_capacity"
	FindingLoadMismatch      = "agent_load_mismatch"
	FindingEventMismatch     = "event_state_mismatch"
	FindingBothStates        = "item_assigned_and_quarantined"
	// FindingLookupMismatch: the id-to-org lookup a store keeps for
	// operators who type an id alone disagrees with the items (pgstore's
	// work_item_orgs, after raw SQL changed an item's org or id).
	FindingLookupMismatch = "item_lookup_mismatch"
)

// Finding is one integrity problem.
type Finding struct {
	Kind   string `json:"kind"`
	OrgID  string `json:"org"`
	ItemID int64  `json:"item,omitempty"`
	Agent  string `json:"agent,omitempty"`
	Detail string `json:"detail"`
}

// VerifyReport lists what Verify found.
type VerifyReport struct {
	Checked  map[string]int `json:"checked"`
	Findings []Finding      `json:"findings"`
	// Truncated is set when more findings existed than the limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Clean reports whether nothing was found.
func (r VerifyReport) Clean() bool { return len(r.Findings) == 0 }
