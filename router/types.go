// Package router holds the routing domain: the types that every store and
// every face of routeops share, the Store seam, the fault classes, agent
// matching, and the Engine that routes each org's queues.
package router

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ItemState is the lifecycle state of a work item, stored as text in
// work_items.state. The five values are part of the external contract.
type ItemState string

const (
	StateQueued      ItemState = "queued"
	StateAssigned    ItemState = "assigned"
	StateCompleted   ItemState = "completed"
	StateQuarantined ItemState = "quarantined"
	StateCancelled   ItemState = "cancelled"
)

// ItemStates lists every state, in lifecycle order.
var ItemStates = []ItemState{StateQueued, StateAssigned, StateCompleted, StateQuarantined, StateCancelled}

// ParseItemState validates a state name.
func ParseItemState(s string) (ItemState, error) {
	for _, st := range ItemStates {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown state %q (allowed: queued, assigned, completed, quarantined, cancelled)", s)
}

// AgentStatus is an agent's presence.
type AgentStatus string

const (
	AgentAvailable AgentStatus = "available"
	AgentAway      AgentStatus = "away"
	AgentOffline   AgentStatus = "offline"
)

// TeamStatus says whether a team takes work.
type TeamStatus string

const (
	TeamActive TeamStatus = "active"
	TeamPaused TeamStatus = "paused"
)

// FaultPolicy decides what the engine does with an item that has a
// permanent fault (routing.on_item_fault).
type FaultPolicy string

const (
	// PolicyQuarantine moves the faulty item out of the head path.
	PolicyQuarantine FaultPolicy = "quarantine"
	// PolicySkip leaves it queued and flagged, and routes past it.
	PolicySkip FaultPolicy = "skip"
	// PolicyBlock is the legacy behaviour: the item stays at the head and
	// the queue behind it waits. Kept for drills and comparisons.
	PolicyBlock FaultPolicy = "block"
)

// FaultPolicies lists the allowed policies.
var FaultPolicies = []FaultPolicy{PolicyQuarantine, PolicySkip, PolicyBlock}

// ParseFaultPolicy validates a policy name.
func ParseFaultPolicy(s string) (FaultPolicy, error) {
	for _, p := range FaultPolicies {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown fault policy %q (allowed: quarantine, skip, block)", s)
}

// Cause names why an item faulted or why a queue is stalled. The stall
// causes are part of the status JSON contract.
type Cause string

const (
	CauseNone            Cause = ""
	CauseMissingRevision Cause = "missing_revision"
	CauseCorruptRevision Cause = "corrupt_revision"
	// CauseOversizedAttributes: the current revision's attributes are over
	// the store's size limit, so nothing loads them; written before the
	// limit, or before it was lowered.
	CauseOversizedAttributes Cause = "oversized_attributes"
	// CauseUnknownQueue is an item fault only: the item names a queue that
	// does not exist, so it can never reach a head.
	CauseUnknownQueue Cause = "unknown_queue"
	CauseQueuePaused  Cause = "queue_paused"
	CauseTeamPaused   Cause = "team_paused"
	CauseNoCapacity   Cause = "no_capacity"
	CauseEngineDown   Cause = "engine_down"
	CauseUnknown      Cause = "unknown"
	// CauseOperator marks a quarantine made by hand.
	CauseOperator Cause = "operator"
)

// Event kinds. The first eight are part of the external contract.
const (
	EventAssigned         = "assigned"
	EventQuarantined      = "quarantined"
	EventReleased         = "released"
	EventRevisionRepaired = "revision_repaired"
	EventItemFault        = "item_fault"
	EventStallDetected    = "stall_detected"
	EventStallCleared     = "stall_cleared"
	EventRevisionsCleaned = "revisions_cleaned"
	EventQueuePaused      = "queue_paused"
	EventQueueResumed     = "queue_resumed"
	EventCompleted        = "completed"
	EventDrillInjected    = "drill_injected"
)

// Org is a tenant.
type Org struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Queue belongs to an org. Higher Priority is served first.
type Queue struct {
	OrgID    string `json:"org"`
	ID       string `json:"queue"`
	Priority int    `json:"priority"`
	Paused   bool   `json:"paused"`
	// Pause is filled in by stores when they list queues; writers leave
	// it empty.
	Pause PauseInfo `json:"pause,omitzero"`
}

// Team groups agents.
type Team struct {
	OrgID  string     `json:"org"`
	ID     string     `json:"team"`
	Status TeamStatus `json:"status"`
	// Pause is filled in by stores when they list teams (paused ones).
	Pause PauseInfo `json:"pause,omitzero"`
}

// Agent takes work items up to Capacity. Load is the number of items
// assigned to it that are not yet completed.
type Agent struct {
	OrgID    string      `json:"org"`
	ID       string      `json:"agent"`
	TeamID   string      `json:"team"`
	Skills   []string    `json:"skills"`
	Status   AgentStatus `json:"status"`
	Capacity int         `json:"capacity"`
	Load     int         `json:"load"`
	// TeamStatus is filled in by stores when they load agents for routing.
	TeamStatus TeamStatus `json:"team_status,omitempty"`
}

// Free is the capacity left, never negative.
func (a Agent) Free() int {
	if a.Load >= a.Capacity {
		return 0
	}
	return a.Capacity - a.Load
}

// WorkItem is one conversation's routing unit.
type WorkItem struct {
	OrgID             string     `json:"org"`
	ID                int64      `json:"id"`
	QueueID           string     `json:"queue"`
	State             ItemState  `json:"state"`
	CurrentRevisionID int64      `json:"current_revision_id"`
	Priority          int        `json:"priority"`
	EnqueuedAt        time.Time  `json:"enqueued_at"`
	AgentID           string     `json:"agent,omitempty"`
	AssignedAt        *time.Time `json:"assigned_at,omitempty"`
	CompletedAt       *time.Time `json:"completed_at,omitempty"`
	Attempts          int        `json:"attempts"`
	LastError         string     `json:"last_error,omitempty"`
	LastAttemptAt     *time.Time `json:"last_attempt_at,omitempty"`
	// FaultCause is the class of the last permanent fault, empty when the
	// item never faulted or was repaired since.
	FaultCause Cause `json:"fault_cause,omitempty"`
	// Skipped is set by the skip policy: the item stays queued but the
	// engine routes past it until it is repaired or released.
	Skipped          bool   `json:"skipped,omitempty"`
	QuarantineReason string `json:"quarantine_reason,omitempty"`
	// JournalRevisionID and JournalAttributes are the copy of the current
	// revision's attributes that is kept on the item when the revision is
	// written. They survive the revision row, which is what lets repair
	// rebuild a deleted revision exactly.
	JournalRevisionID int64  `json:"journal_revision_id,omitempty"`
	JournalAttributes []byte `json:"-"`
	// JournalVerified is set when the store can prove the copy came from
	// the revision itself (pgstore: its trigger copied it), not from
	// whoever wrote the item. Repair uses an unverified copy only when
	// asked to.
	JournalVerified bool `json:"journal_verified"`
	// JournalBytes is the journal copy's size; when it is over the store's
	// limit, JournalOversized is set and JournalAttributes is not loaded.
	JournalBytes     int  `json:"journal_bytes,omitempty"`
	JournalOversized bool `json:"journal_oversized,omitempty"`
}

// ItemIDs lists the items' ids, in order.
func ItemIDs(items []WorkItem) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// Revision is an immutable set of routing attributes for one item.
type Revision struct {
	OrgID      string    `json:"org"`
	ID         int64     `json:"id"`
	WorkItemID int64     `json:"work_item_id"`
	Attributes []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	// Source says how the revision came to be: "platform", "seed", "sim",
	// or "repair:<source>".
	Source string `json:"source,omitempty"`
	// Bytes is the size of the attributes as text. Oversized is set when
	// that is over the store's limit; Attributes is then not loaded.
	Bytes     int  `json:"bytes,omitempty"`
	Oversized bool `json:"oversized,omitempty"`
}

// Event is one entry of the append-only journal.
type Event struct {
	OrgID      string    `json:"org"`
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Kind       string    `json:"kind"`
	WorkItemID int64     `json:"work_item_id,omitempty"`
	QueueID    string    `json:"queue,omitempty"`
	Actor      string    `json:"actor"`
	Origin     string    `json:"origin,omitempty"`
	OSUser     string    `json:"os_user,omitempty"`
	// Detail is a JSON object with kind-specific fields.
	Detail []byte `json:"detail,omitempty"`
	// DBUser and RecordedAt are what the store itself recorded, whatever
	// the writer claimed in Actor, Origin and At: pgstore's login
	// (session_user) and its clock, set by a trigger. Empty for events
	// written before the store recorded them, and on the embedded store.
	DBUser     string     `json:"db_user,omitempty"`
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
	// OperationID groups the events of one bulk action.
	OperationID string `json:"operation_id,omitempty"`
}

// Actor identifies who made a change and from where. Every mutation
// carries one, and it is written into the event that records it.
type Actor struct {
	Name   string // operator name, or "engine:<id>"
	OSUser string // the OS user running the process
	Origin string // the SSH client address, or "local"
}

func (a Actor) String() string {
	if a.Origin == "" || a.Origin == "local" {
		return a.Name
	}
	return a.Name + "@" + a.Origin
}

// Heartbeat is an engine's liveness record.
type Heartbeat struct {
	EngineID  string      `json:"engine_id"`
	Host      string      `json:"host"`
	PID       int         `json:"pid"`
	Policy    FaultPolicy `json:"policy"`
	Version   string      `json:"version"`
	StartedAt time.Time   `json:"started_at"`
	BeatAt    time.Time   `json:"beat_at"`
	Stopped   bool        `json:"stopped"`
	// Polling: the engine has no wake-ups (no connection to LISTEN on),
	// so it finds new work only by polling, every poll interval.
	Polling bool `json:"polling"`
}

// BrokenRevisionf says why an item should not be released: its current
// revision is "missing", "oversized" or "invalid".
func BrokenRevisionf(item, revision int64, verdict string) error {
	return Conflictf("item %d's current revision %d is %s: released, it would fault again at once; "+
		"repair it first (repair plan, then repair apply), or force the release", item, revision, verdict)
}

// FormatItemID renders an item id the way every output shows it.
func FormatItemID(id int64) string { return strconv.FormatInt(id, 10) }

// ParseItemID parses an item id given by an operator. It accepts the plain
// number, optionally prefixed with "#".
func ParseItemID(s string) (int64, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "#")
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("malformed item id %q: an item id is a positive whole number, such as 1042", s)
	}
	return id, nil
}

// QueueRef is "org/queue" as operators type it.
type QueueRef struct{ Org, Queue string }

func (q QueueRef) String() string { return q.Org + "/" + q.Queue }

// ParseQueueRef parses "org/queue".
func ParseQueueRef(s string) (QueueRef, error) {
	org, q, ok := strings.Cut(s, "/")
	if !ok || org == "" || q == "" || strings.Contains(q, "/") {
		return QueueRef{}, fmt.Errorf("malformed queue %q: give it as org/queue, such as org-0007/default", s)
	}
	return QueueRef{Org: org, Queue: q}, nil
}
