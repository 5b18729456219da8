// Package ops holds every operator rule and every operator-facing
// operation. The rules (rules.go) are read-only, the drill gate, required
// reasons, the confirmation policy and the incident target; the
// operations are the health monitor, quarantine and release, pause and
// resume, repair, cleanup, verify, drills, the timeline and metrics. The
// console and the CLI are two faces of these same calls, and say what
// they return with the words of ops/present. The store is reachable only
// through an Ops; ops never writes SQL (that lives in router/pgstore).
package ops

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/routeops/routeops/ops/internal/text"
	"github.com/routeops/routeops/router"
)

// Health is a severity word. Its JSON form is part of the contract.
type Health string

const (
	HealthOK       Health = "ok"
	HealthWarning  Health = "warning"
	HealthCritical Health = "critical"
)

func (h Health) rank() int {
	switch h {
	case HealthCritical:
		return 2
	case HealthWarning:
		return 1
	}
	return 0
}

// Worst returns the more severe of two health values.
func Worst(a, b Health) Health {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Worse reports whether h is more severe than other.
func (h Health) Worse(other Health) bool { return h.rank() > other.rank() }

// ExitCode maps health to the monitoring convention (0 ok, 1 warning, 2
// critical).
func (h Health) ExitCode() int { return h.rank() }

// Settings are the monitor's thresholds (health.* in the config).
type Settings struct {
	// StallAfter: a queue with dispatchable work and free capacity that
	// made no progress for this long, while its head waited this long, is
	// stalled.
	StallAfter time.Duration
	// WarnHeadAge: a starved queue whose head waited this long is a warning.
	WarnHeadAge time.Duration
	// HeartbeatTimeout: no engine heartbeat for this long means engine_down.
	HeartbeatTimeout time.Duration
	// QuarantineWarn: this many quarantined items make a queue a warning (0
	// disables).
	QuarantineWarn int
	// MaxReplicaLag: reads from a replica further behind make the fleet's
	// health a warning (0: DefaultMaxReplicaLag).
	MaxReplicaLag time.Duration
}

// DefaultSettings are the config defaults.
func DefaultSettings() Settings {
	return Settings{StallAfter: 60 * time.Second, WarnHeadAge: 5 * time.Minute,
		HeartbeatTimeout: 15 * time.Second, QuarantineWarn: 1, MaxReplicaLag: DefaultMaxReplicaLag}
}

// Snapshot is the one picture of the fleet that the console, the CLI
// (status -o json) and the metrics endpoint all render. The fields named
// in DESIGN.md must not change; others may be added.
type Snapshot struct {
	GeneratedAt time.Time   `json:"generated_at"`
	Store       string      `json:"store,omitempty"`
	Engine      EngineState `json:"engine"`
	Settings    struct {
		StallAfterSeconds float64 `json:"stall_after_seconds"`
	} `json:"settings"`
	Summary Summary     `json:"summary"`
	Orgs    []OrgHealth `json:"orgs"`
	// Database says where the snapshot was read (absent on the embedded
	// store).
	Database *DatabaseState `json:"database,omitempty"`
}

// Summary totals the fleet.
type Summary struct {
	Orgs          int    `json:"orgs"`
	Queued        int    `json:"queued"`
	Assigned      int    `json:"assigned"`
	Quarantined   int    `json:"quarantined"`
	StalledQueues int    `json:"stalled_queues"`
	Health        Health `json:"health"`
	StarvedQueues int    `json:"starved_queues"`
	BehindQueues  int    `json:"behind_queues"`
	WarningOrgs   int    `json:"warning_orgs"`
	CriticalOrgs  int    `json:"critical_orgs"`
	Assigned1m    int    `json:"assigned_1m"`
	Assigned5m    int    `json:"assigned_5m"`
	// ReplicaLagSeconds is how far behind the standby that the snapshot was
	// read from is; present only when reads come from one.
	ReplicaLagSeconds *float64 `json:"replica_lag_seconds,omitempty"`
}

// EngineState summarises the engines' heartbeats.
type EngineState struct {
	// State is "running", "down" (heartbeats stopped without a clean
	// stop), "stopped" (all engines said goodbye) or "none" (never ran).
	State   string `json:"state"`
	Engines int    `json:"engines"`
	// RunningSince is when the longest-running live engine started.
	RunningSince  *time.Time `json:"running_since,omitempty"`
	Policy        string     `json:"policy,omitempty"`
	LastBeatAge   float64    `json:"last_beat_age_seconds"`
	LastBeatEpoch float64    `json:"last_beat_unix"`
	// Polling counts live engines without wake-ups, which find new work
	// only by polling.
	Polling int `json:"polling"`
}

// Up reports whether some engine is alive.
func (e EngineState) Up() bool { return e.State == "running" }

// OrgHealth is one org.
type OrgHealth struct {
	Org    string        `json:"org"`
	Health Health        `json:"health"`
	Queues []QueueHealth `json:"queues"`

	Queued            int     `json:"queued"`
	Assigned          int     `json:"assigned"`
	Quarantined       int     `json:"quarantined"`
	Orphans           int     `json:"orphans"`
	StalledQueues     int     `json:"stalled_queues"`
	OldestAgeSeconds  float64 `json:"oldest_age_seconds"`
	HeadAgeSeconds    float64 `json:"head_age_seconds"`
	Assigned1m        int     `json:"assigned_1m"`
	Assigned5m        int     `json:"assigned_5m"`
	AgentsAvailable   int     `json:"agents_available"`
	AgentsTotal       int     `json:"agents_total"`
	Capacity          int     `json:"capacity"`
	AvailableCapacity int     `json:"available_capacity"`
	Reason            string  `json:"reason,omitempty"`
}

// QueueHealth is one queue.
type QueueHealth struct {
	Queue             string       `json:"queue"`
	Depth             int          `json:"depth"`
	OldestAgeSeconds  float64      `json:"oldest_age_seconds"`
	AvailableCapacity int          `json:"available_capacity"`
	Quarantined       int          `json:"quarantined"`
	Stalled           bool         `json:"stalled"`
	Cause             router.Cause `json:"cause"`
	Head              *HeadHealth  `json:"head"`
	// Behind: the head waited health.stall_after with free capacity and
	// nothing assigned, but no engine has reached the queue in that time
	// (a backlog over many orgs): a warning, not a stall.
	Behind bool `json:"behind,omitempty"`

	Health       Health     `json:"health"`
	Starved      bool       `json:"starved"`
	Paused       bool       `json:"paused"`
	Priority     int        `json:"priority"`
	Skipped      int        `json:"skipped"`
	Assigned1m   int        `json:"assigned_1m"`
	Assigned5m   int        `json:"assigned_5m"`
	StalledSince *time.Time `json:"stalled_since,omitempty"`
	// StallCause is the cause that the stall was detected with: the one
	// recorded with stall_detected, kept until the stall clears, while
	// Cause follows what is wrong now. Metrics label the stalled series
	// with it, so that one stall is one series.
	StallCause router.Cause `json:"stall_cause,omitempty"`
	// LastProgressSeconds is the time since the last assignment, -1 when
	// the queue never assigned anything.
	LastProgressSeconds float64 `json:"last_progress_seconds"`
	// Reason says in words why the queue has its health.
	Reason string `json:"reason,omitempty"`
	// PausedBy, PauseReason and PausedUntil say who paused the queue, why,
	// and when an engine resumes it, when it is paused and that is known.
	PausedBy    string     `json:"paused_by,omitempty"`
	PauseReason string     `json:"pause_reason,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
}

// HeadHealth is a queue's head item.
type HeadHealth struct {
	Item       string  `json:"item"`
	AgeSeconds float64 `json:"age_seconds"`
	Attempts   int     `json:"attempts"`
	LastError  string  `json:"last_error"`

	RevisionID int64 `json:"revision_id"`
	// Revision is "ok", "missing" or "corrupt".
	Revision   string       `json:"revision"`
	FaultCause router.Cause `json:"fault_cause,omitempty"`
	// Team is the team the head needs, when its attributes name one.
	Team string `json:"team,omitempty"`
}

// Evaluate turns the store's raw aggregates into health. It is a pure
// function of its inputs.
func Evaluate(raw *router.StoreSnapshot, s Settings) *Snapshot {
	return evaluate(raw, s, false)
}

// evaluate is Evaluate; with release it lets go of each org's raw
// aggregates (queues' heads and attributes, teams, agent groups) once the
// org is evaluated, so that a monitor that owns raw never holds the whole
// raw fleet and the whole evaluated fleet at once.
func evaluate(raw *router.StoreSnapshot, s Settings, release bool) *Snapshot {
	now := raw.Now
	snap := &Snapshot{GeneratedAt: now.UTC().Truncate(time.Millisecond), Engine: engineState(raw.Heartbeats, now, s.HeartbeatTimeout)}
	snap.Settings.StallAfterSeconds = s.StallAfter.Seconds()
	snap.Summary.Health = HealthOK
	snap.Orgs = make([]OrgHealth, 0, len(raw.Orgs))
	for i := range raw.Orgs {
		oh := evaluateOrg(&raw.Orgs[i], now, s, snap.Engine)
		if release {
			releaseOrg(&raw.Orgs[i])
		}
		snap.Orgs = append(snap.Orgs, oh)
		sm := &snap.Summary
		sm.Orgs++
		sm.Queued += oh.Queued
		sm.Assigned += oh.Assigned
		sm.Quarantined += oh.Quarantined
		sm.StalledQueues += oh.StalledQueues
		sm.Assigned1m += oh.Assigned1m
		sm.Assigned5m += oh.Assigned5m
		for _, q := range oh.Queues {
			if q.Starved {
				sm.StarvedQueues++
			}
			if q.Behind {
				sm.BehindQueues++
			}
		}
		switch oh.Health {
		case HealthWarning:
			sm.WarningOrgs++
		case HealthCritical:
			sm.CriticalOrgs++
		}
		sm.Health = Worst(sm.Health, oh.Health)
	}
	SortOrgs(snap.Orgs)
	if d := evaluateDatabase(raw.Source, s); d != nil {
		snap.Database = d
		snap.Store = d.Store
		snap.Summary.ReplicaLagSeconds = d.ReplicaLagSeconds
		snap.Summary.Health = Worst(snap.Summary.Health, d.Health)
	}
	return snap
}

// releaseOrg drops what an evaluated org's raw aggregates point at. A
// store may lay several orgs' queues out in one slice, so the queues'
// heads are dropped one by one before the org lets go of its slices.
func releaseOrg(o *router.OrgStats) {
	for i := range o.Queues {
		o.Queues[i].Head = nil
	}
	*o = router.OrgStats{}
}

// SortOrgs orders orgs by severity, then by stalled queues, then by
// oldest wait, then by id, so stuck orgs come first. The order is total
// (org ids are unique), so the sort need not be stable. It sorts a
// permutation and then moves each org once: an OrgHealth is large, and a
// sort that swaps the values themselves moved them O(n log n) times
// (a fifth of `status -o json`'s time over 50,000 orgs).
func SortOrgs(orgs []OrgHealth) {
	perm := make([]int32, len(orgs))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(i, j int32) int { return compareOrgs(&orgs[i], &orgs[j]) })
	// perm[k] is the index of the org that belongs at k: follow each
	// cycle once, moving every org exactly once.
	for start := range perm {
		if perm[start] < 0 || int(perm[start]) == start {
			continue
		}
		tmp := orgs[start]
		k := start
		for {
			src := int(perm[k])
			perm[k] = -1
			if src == start {
				orgs[k] = tmp
				break
			}
			orgs[k] = orgs[src]
			k = src
		}
	}
}

// compareOrgs is SortOrgs's order.
func compareOrgs(a, b *OrgHealth) int {
	if c := cmp.Compare(b.Health.rank(), a.Health.rank()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.StalledQueues, a.StalledQueues); c != 0 {
		return c
	}
	if c := cmp.Compare(b.OldestAgeSeconds, a.OldestAgeSeconds); c != 0 {
		return c
	}
	return strings.Compare(a.Org, b.Org)
}

func engineState(hbs []router.Heartbeat, now time.Time, timeout time.Duration) EngineState {
	es := EngineState{State: "none", LastBeatAge: -1}
	var newest *router.Heartbeat
	allStopped := true
	for i := range hbs {
		hb := &hbs[i]
		if newest == nil || hb.BeatAt.After(newest.BeatAt) {
			newest = hb
		}
		if now.Sub(hb.BeatAt) <= timeout && !hb.Stopped {
			es.Engines++
			if hb.Polling {
				es.Polling++
			}
			if es.Policy == "" {
				es.Policy = string(hb.Policy)
			}
			if st := hb.StartedAt; !st.IsZero() && (es.RunningSince == nil || st.Before(*es.RunningSince)) {
				es.RunningSince = &st
			}
		}
		if !hb.Stopped {
			allStopped = false
		}
	}
	if newest == nil {
		return es
	}
	es.LastBeatAge = round1(now.Sub(newest.BeatAt).Seconds())
	es.LastBeatEpoch = float64(newest.BeatAt.UnixMilli()) / 1000
	switch {
	case es.Engines > 0:
		es.State = "running"
	case allStopped:
		es.State = "stopped"
	default:
		es.State = "down"
	}
	if es.Policy == "" {
		es.Policy = string(newest.Policy)
	}
	return es
}

func round1(f float64) float64 {
	if f < 0 {
		return f
	}
	return float64(int64(f*10+0.5)) / 10
}

func evaluateOrg(o *router.OrgStats, now time.Time, s Settings, eng EngineState) OrgHealth {
	oh := OrgHealth{Org: o.Org, Health: HealthOK, Queued: o.Queued, Assigned: o.Assigned,
		Quarantined: o.Quarantined, Orphans: o.Orphans, Queues: make([]QueueHealth, 0, len(o.Queues))}
	teamStatus := map[string]router.TeamStatus{}
	for _, t := range o.Teams {
		teamStatus[t.ID] = t.Status
	}
	for _, g := range o.AgentGroups {
		oh.AgentsTotal += g.Agents
		oh.Capacity += g.Capacity
		if g.Status == router.AgentAvailable && g.TeamStatus == router.TeamActive {
			oh.AgentsAvailable += g.Agents
			oh.AvailableCapacity += g.Free
		}
	}
	for i := range o.Queues {
		qh := evaluateQueue(&o.Queues[i], o, teamStatus, now, s, eng)
		oh.Queues = append(oh.Queues, qh)
		if qh.Stalled {
			oh.StalledQueues++
		}
		oh.Assigned1m += qh.Assigned1m
		oh.Assigned5m += qh.Assigned5m
		if qh.OldestAgeSeconds > oh.OldestAgeSeconds {
			oh.OldestAgeSeconds = qh.OldestAgeSeconds
		}
		if qh.Head != nil && qh.Head.AgeSeconds > oh.HeadAgeSeconds {
			oh.HeadAgeSeconds = qh.Head.AgeSeconds
		}
		if qh.Health.rank() > oh.Health.rank() {
			oh.Health, oh.Reason = qh.Health, qh.Queue+": "+qh.Reason
		}
	}
	if o.Orphans > 0 && oh.Health == HealthOK {
		oh.Health = HealthWarning
		oh.Reason = fmt.Sprintf("%d queued items name a queue that does not exist", o.Orphans)
	}
	return oh
}

func age(now, t time.Time) float64 {
	d := now.Sub(t).Seconds()
	if d < 0 {
		d = 0
	}
	return round1(d)
}

func evaluateQueue(q *router.QueueStats, o *router.OrgStats, teams map[string]router.TeamStatus, now time.Time, s Settings, eng EngineState) QueueHealth {
	qh := QueueHealth{Queue: q.Queue, Depth: q.Depth, Quarantined: q.Quarantined, Health: HealthOK,
		Paused: q.Paused, Priority: q.Priority, Skipped: q.Skipped, Assigned1m: q.Assigned1m,
		Assigned5m: q.Assigned5m, StalledSince: q.StalledSince, LastProgressSeconds: -1}
	if q.Paused {
		qh.PausedBy, qh.PauseReason, qh.PausedUntil = q.Pause.By, q.Pause.Reason, q.Pause.Until
	}
	if q.OldestEnqueuedAt != nil {
		qh.OldestAgeSeconds = age(now, *q.OldestEnqueuedAt)
	}
	if q.LastAssignedAt != nil {
		qh.LastProgressSeconds = age(now, *q.LastAssignedAt)
	}
	h := evaluateHead(&qh, q.Head, now)
	qh.AvailableCapacity = router.GroupFree(o.AgentGroups, h.attrs)
	if q.Head != nil {
		h.noProgress = noProgress(q, now, s, eng)
		h.teamPaused = h.attrs != nil && h.attrs.Team != "" && teams[h.attrs.Team] == router.TeamPaused
		judgeHead(&qh, q, h, now, s, eng)
	}
	if qh.Stalled {
		qh.StallCause = qh.Cause
		if q.StalledSince != nil && q.StallCause != router.CauseNone {
			qh.StallCause = q.StallCause
		}
	}
	if s.QuarantineWarn > 0 && q.Quarantined >= s.QuarantineWarn {
		qh.warn(fmt.Sprintf("%d quarantined", q.Quarantined))
	}
	if q.Skipped > 0 {
		qh.warn(fmt.Sprintf("%d skipped by the skip policy", q.Skipped))
	}
	return qh
}

// noProgress reports whether the queue assigned nothing for stall_after.
// Progress is measured from the last assignment, or from when the running
// engine started if that is later: an engine that has just started on a
// backlog has not yet had stall_after to make progress.
func noProgress(q *router.QueueStats, now time.Time, s Settings, eng EngineState) bool {
	var ref *time.Time
	if q.LastAssignedAt != nil {
		ref = q.LastAssignedAt
	}
	if eng.Up() && eng.RunningSince != nil && (ref == nil || eng.RunningSince.After(*ref)) {
		ref = eng.RunningSince
	}
	return ref == nil || now.Sub(*ref) >= s.StallAfter
}

// reached reports whether an engine claimed from the queue within
// stall_after: only then does "nothing assigned" mean the queue is stuck
// rather than not yet looked at. The head has waited at least stall_after
// whenever this is asked, so such a look came after the head arrived.
func reached(q *router.QueueStats, now time.Time, s Settings) bool {
	return q.LastRoutedAt != nil && now.Sub(*q.LastRoutedAt) < s.StallAfter
}

func sinceReached(q *router.QueueStats, now time.Time) string {
	if q.LastRoutedAt == nil {
		return "ever"
	}
	return text.Duration(now.Sub(*q.LastRoutedAt))
}

// headFacts is what the rules need to know about a queue's head.
type headFacts struct {
	attrs      *router.Attributes // nil when the revision is missing or corrupt
	cause      router.Cause       // the revision's fault, if any
	err        string
	noProgress bool
	teamPaused bool
}

// evaluateHead fills qh.Head and classifies the head's current revision.
func evaluateHead(qh *QueueHealth, h *router.HeadItem, now time.Time) headFacts {
	var f headFacts
	if h == nil {
		return f
	}
	hh := &HeadHealth{Item: router.FormatItemID(h.ID), AgeSeconds: age(now, h.EnqueuedAt), Attempts: h.Attempts,
		LastError: h.LastError, RevisionID: h.CurrentRevisionID, Revision: "ok", FaultCause: h.FaultCause}
	a, cause, err := router.ClassifyHead(h)
	switch cause {
	case router.CauseMissingRevision:
		hh.Revision = "missing"
	case router.CauseCorruptRevision:
		hh.Revision = "corrupt"
	case router.CauseOversizedAttributes:
		hh.Revision = "oversized"
	default:
		f.attrs = &a
		hh.Team = a.Team
	}
	if cause != router.CauseNone {
		f.cause, f.err = cause, err.Error()
		if hh.LastError == "" {
			hh.LastError = f.err
		}
	}
	qh.Head = hh
	return f
}

func (qh *QueueHealth) warn(reason string) {
	if qh.Health == HealthOK {
		qh.Health, qh.Reason = HealthWarning, reason
	}
}

func (qh *QueueHealth) stall(c router.Cause, reason string) {
	qh.Stalled, qh.Cause, qh.Reason, qh.Health = true, c, reason, HealthCritical
}

// pause marks a deliberate pause: never a stall, a warning that pages no
// one, with its cause.
func (qh *QueueHealth) pause(c router.Cause, reason string) {
	qh.Cause = c
	qh.warn(reason)
}

// judgeHead applies the rules, in this order: a deliberate pause (of the
// queue, or of the team the head needs) is never a stall; no engine with
// capacity waiting is engine_down; no capacity for the head is starved;
// work, capacity and no progress for stall_after is a stall.
func judgeHead(qh *QueueHealth, q *router.QueueStats, h headFacts, now time.Time, s Settings, eng EngineState) {
	headAge := now.Sub(q.Head.EnqueuedAt)
	waiting := headAge >= s.StallAfter
	switch {
	case q.Paused:
		reason := fmt.Sprintf("queue is paused with %d waiting", q.Depth)
		if broken := brokenHead(qh.Head, h); broken != "" {
			reason += "; behind the pause, " + broken
		}
		qh.pause(router.CauseQueuePaused, reason)
	case h.teamPaused:
		qh.pause(router.CauseTeamPaused, fmt.Sprintf("head needs team %s, which is paused", h.attrs.Team))
	case !eng.Up() && qh.AvailableCapacity > 0:
		// Only when capacity could take the head: a starved queue
		// waits for capacity, not for the engine.
		if waiting && h.noProgress {
			qh.stall(router.CauseEngineDown, "no routing engine is running ("+eng.State+")")
		} else {
			qh.warn("no routing engine is running (" + eng.State + ")")
		}
	case qh.AvailableCapacity == 0:
		qh.Starved, qh.Cause = true, router.CauseNoCapacity
		if h.cause != router.CauseNone {
			qh.warn("starved, and head item " + qh.Head.Item + " is broken: " + h.err)
		} else if headAge >= s.WarnHeadAge {
			qh.warn(fmt.Sprintf("starved: no free capacity for the head, which waited %s", text.Duration(headAge)))
		} else {
			qh.Reason = "starved: no free capacity for the head"
		}
	case waiting && (h.noProgress || (h.cause != router.CauseNone && q.Head.Attempts > 0)) && !reached(q, now, s):
		// Running engines have not looked at this queue for stall_after:
		// they are behind (many orgs, long passes), which is not a stall;
		// the queue warns and pages no one.
		qh.Behind = true
		qh.warn(fmt.Sprintf("behind: no engine has reached the queue for %s (%d waiting)", sinceReached(q, now), q.Depth))
	case waiting && (h.noProgress || (h.cause != router.CauseNone && q.Head.Attempts > 0)):
		// A head the engine keeps failing on (the block policy) stalls
		// its queue even while higher-priority arrivals still flow past.
		switch {
		case h.cause != router.CauseNone:
			qh.stall(h.cause, "head item "+qh.Head.Item+": "+h.err)
		case q.Head.FaultCause != router.CauseNone:
			qh.stall(q.Head.FaultCause, "head item "+qh.Head.Item+": "+q.Head.LastError)
		default:
			qh.stall(router.CauseUnknown, fmt.Sprintf("no assignment for %s with %d free capacity", text.Duration(headAge), qh.AvailableCapacity))
		}
	case h.cause != router.CauseNone:
		qh.warn("head item " + qh.Head.Item + ": " + h.err)
	}
}

// brokenHead names a head that would fault when routed, or "".
func brokenHead(hh *HeadHealth, h headFacts) string {
	switch {
	case h.cause != router.CauseNone:
		return "head item " + hh.Item + " is broken (" + string(h.cause) + "): " + h.err
	case hh.FaultCause != router.CauseNone:
		return "head item " + hh.Item + " faulted (" + string(hh.FaultCause) + "): " + hh.LastError
	}
	return ""
}

// Monitor builds snapshots and, when it records, writes stall detected and
// cleared events once per transition.
type Monitor struct {
	store    router.MonitorStore
	clock    router.Clock
	settings Settings
	actor    router.Actor
	log      *slog.Logger
	desc     string

	mu     sync.Mutex
	onSnap []func(*Snapshot)
}

// NewMonitor builds a monitor.
func NewMonitor(store router.MonitorStore, clock router.Clock, s Settings, actor router.Actor, log *slog.Logger) *Monitor {
	if clock == nil {
		clock = router.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{store: store, clock: clock, settings: s, actor: actor, log: log, desc: store.Describe()}
}

// Settings returns the thresholds.
func (m *Monitor) Settings() Settings { return m.settings }

// Snapshot builds a snapshot (org "" for all) without writing anything.
func (m *Monitor) Snapshot(ctx context.Context, org string) (*Snapshot, error) {
	raw, err := m.store.Snapshot(ctx, router.SnapshotRequest{Org: org, Now: m.clock.Now()})
	if err != nil {
		return nil, err
	}
	snap := evaluate(raw, m.settings, true)
	if snap.Store == "" {
		snap.Store = m.desc
	}
	if org == "" {
		m.tell(snap)
	}
	return snap, nil
}

// OnSnapshot has f called with every full snapshot the monitor takes
// (Observe, and Snapshot of every org), once it is evaluated and its
// transitions recorded. The monitor itself keeps no snapshot between
// observations: whoever needs one later keeps only what it needs of it
// (the metrics keep what they export), so that a process never holds a
// whole fleet's last snapshot while it builds the next. f must not keep
// the snapshot.
func (m *Monitor) OnSnapshot(f func(*Snapshot)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onSnap = append(m.onSnap, f)
}

// tell passes a full snapshot to the OnSnapshot functions.
func (m *Monitor) tell(snap *Snapshot) {
	m.mu.Lock()
	fs := m.onSnap
	m.mu.Unlock()
	for _, f := range fs {
		f(snap)
	}
}

// Observe builds a full snapshot and records stall transitions.
func (m *Monitor) Observe(ctx context.Context) (*Snapshot, error) {
	raw, err := m.store.Snapshot(ctx, router.SnapshotRequest{Now: m.clock.Now()})
	if err != nil {
		return nil, err
	}
	snap := evaluate(raw, m.settings, true)
	if snap.Store == "" {
		snap.Store = m.desc
	}
	// On a standby (without a primary for writes) there is nothing to
	// record stall events in: this monitor only watches.
	if snap.Database == nil || !snap.Database.Viewer {
		m.recordTransitions(ctx, snap)
	}
	m.tell(snap)
	return snap, nil
}

// recordTransitions compares each queue's evaluated stall with the
// persisted one, which the evaluated queue carries (StalledSince).
func (m *Monitor) recordTransitions(ctx context.Context, snap *Snapshot) {
	var marks []router.StallMark
	for _, o := range snap.Orgs {
		for _, q := range o.Queues {
			was := q.StalledSince != nil
			switch {
			case q.Stalled && !was:
				marks = append(marks, router.StallMark{Org: o.Org, Queue: q.Queue, Cause: q.Cause,
					Detail: router.Detail("cause", q.Cause, "reason", q.Reason, "depth", q.Depth,
						"available_capacity", q.AvailableCapacity, "head", q.Head)})
			case !q.Stalled && was:
				marks = append(marks, router.StallMark{Org: o.Org, Queue: q.Queue,
					Detail: router.Detail("depth", q.Depth, "reason", "progress resumed")})
			}
		}
	}
	if len(marks) == 0 {
		return
	}
	changed, err := m.store.MarkStalls(ctx, router.MarkStallsRequest{Marks: marks, Actor: m.actor, At: m.clock.Now()})
	if err != nil {
		m.log.Warn("recording stall transitions failed", "transitions", len(marks), "recorded", countTrue(changed), "error", err.Error())
	}
	logged := 0
	for i, ok := range changed {
		if !ok {
			continue
		}
		if logged++; logged > 20 {
			continue
		}
		mk := marks[i]
		if mk.Cause != router.CauseNone {
			m.log.Warn("queue stalled", "org", mk.Org, "queue", mk.Queue, "cause", string(mk.Cause))
		} else {
			m.log.Info("queue stall cleared", "org", mk.Org, "queue", mk.Queue)
		}
	}
	if logged > 20 {
		m.log.Warn("stall transitions recorded", "transitions", logged, "logged", 20)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// observeShare bounds the share of time Run spends observing: after an
// observation that took d, the next one waits at least (observeShare-1)×d.
// Over 20,000 orgs a snapshot takes about a second on two cores; taking
// one every second (health.interval's default) kept a core busy and
// slowed the routing it watches.
const observeShare = 5

// observeWait is how long Run waits after an observation that took took:
// health.interval, or longer when observing is slow (observeShare), but
// never more than half of health.stall_after, so that a stall is seen
// within about stall_after and two observations however large the fleet.
// (Over 50,000 orgs an observation takes 1.5–4 s; at a fifth of the time, a
// stall injected with stall_after 3 s was exported after 15–21 s.) An
// operator who asks for a short stall_after over a large fleet so pays
// for it in the monitor's share of the machine.
func observeWait(interval, took, stallAfter time.Duration) time.Duration {
	wait := max(interval, (observeShare-1)*took)
	if half := stallAfter / 2; half > 0 && wait > half {
		wait = max(interval, half)
	}
	return wait
}

// Run observes every interval (longer when observing is slow: see
// observeShare) until ctx ends, calling onSnap with each snapshot (or
// error). Store errors are reported and retried.
func (m *Monitor) Run(ctx context.Context, interval time.Duration, onSnap func(*Snapshot, error)) {
	for {
		start := m.clock.Now()
		snap, err := m.Observe(ctx)
		if ctx.Err() != nil {
			return
		}
		if onSnap != nil {
			onSnap(snap, err)
		}
		wait := observeWait(interval, m.clock.Now().Sub(start), m.settings.StallAfter)
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(wait):
		}
	}
}

// Loop observes every interval until ctx ends, recording stall
// transitions, and logs a failing streak once when it starts and once
// when it ends (not every failed snapshot).
func (m *Monitor) Loop(ctx context.Context, interval time.Duration) {
	failing := false
	m.Run(ctx, interval, func(_ *Snapshot, err error) {
		switch {
		case err != nil && !failing:
			failing = true
			m.log.Warn("monitor: snapshot failed; retrying", "error", err.Error())
		case err == nil && failing:
			failing = false
			m.log.Info("monitor: snapshot recovered")
		}
	})
}
