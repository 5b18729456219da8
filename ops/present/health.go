package present

import (
	"fmt"
	"strings"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// HealthWord is a health with its symbol, never colour alone: "✖ CRIT",
// "▲ WARN" or "● OK" (six cells at most).
func HealthWord(h ops.Health) string {
	switch h {
	case ops.HealthCritical:
		return "✖ CRIT"
	case ops.HealthWarning:
		return "▲ WARN"
	}
	return "● OK"
}

// CheckUnknown is the check line's word when no health could be read.
const CheckUnknown = "UNKNOWN"

// CheckWord is a health as the monitoring check line says it: OK, WARNING
// or CRITICAL.
func CheckWord(h ops.Health) string {
	switch h {
	case ops.HealthCritical:
		return "CRITICAL"
	case ops.HealthWarning:
		return "WARNING"
	}
	return "OK"
}

// State is a queue's state word. Greater values outrank smaller ones (see
// the package doc for the rule and its reason); the gaps leave room for
// words added later, such as "behind" between Starved and Flowing.
type State int

const (
	Flowing State = 0
	Starved State = 20
	Paused  State = 30
	Stalled State = 40
)

// String is the word: STALLED, PAUSED, starved or flowing (seven cells at
// most). The two that stop routing are in capitals.
func (s State) String() string {
	switch s {
	case Stalled:
		return "STALLED"
	case Paused:
		return "PAUSED"
	case Starved:
		return "starved"
	}
	return "flowing"
}

// QueueState is the one ranking: STALLED > PAUSED > starved > flowing. A
// stalled queue is always STALLED, whatever else holds; a queue paused, or
// whose head needs a paused team, is PAUSED.
func QueueState(q *ops.QueueHealth) State {
	switch {
	case q.Stalled:
		return Stalled
	case q.Paused || q.Cause == router.CauseQueuePaused || q.Cause == router.CauseTeamPaused:
		return Paused
	case q.Starved:
		return Starved
	}
	return Flowing
}

// HeadFault is the fault a queue's head would hit when routed: its
// revision missing or corrupt, else the fault the engine recorded; "" for
// a sound head or none.
func HeadFault(q *ops.QueueHealth) router.Cause {
	if q.Head == nil {
		return router.CauseNone
	}
	switch q.Head.Revision {
	case "missing":
		return router.CauseMissingRevision
	case "corrupt":
		return router.CauseCorruptRevision
	}
	return q.Head.FaultCause
}

// QueueStatus is the state word with what qualifies it: "STALLED
// missing_revision"; "PAUSED", "PAUSED · team t2" (the head's team is
// paused) and "… · head 1042 missing_revision" when a broken head waits
// behind the pause; "starved (no capacity)"; "flowing".
func QueueStatus(q *ops.QueueHealth) string {
	st := QueueState(q)
	switch st {
	case Stalled:
		if q.Cause != "" {
			return "STALLED " + Line(string(q.Cause))
		}
		return "STALLED"
	case Paused:
		s := "PAUSED"
		if !q.Paused && q.Cause == router.CauseTeamPaused && q.Head != nil && q.Head.Team != "" {
			s += " · team " + Line(q.Head.Team)
		}
		if n := PauseNote(q.PausedBy, q.PauseReason, q.PausedUntil); n != "" {
			s += " · " + n
		}
		if f := HeadFault(q); f != router.CauseNone {
			s += " · head " + Line(q.Head.Item) + " " + Line(string(f))
		}
		return s
	case Starved:
		return "starved (no capacity)"
	}
	return st.String()
}

// StalledText is an org's stall marker: "STALLED missing_revision", with
// "×N" when N of its queues are stalled; "" for none.
func StalledText(n int, cause router.Cause) string {
	if n <= 0 {
		return ""
	}
	s := "STALLED"
	if n > 1 {
		s += "×" + Count(n)
	}
	if cause != "" {
		s += " " + Line(string(cause))
	}
	return s
}

// StalledQueue is one stalled queue as the check reports it.
type StalledQueue struct {
	Org    string  `json:"org"`
	Queue  string  `json:"queue"`
	Cause  string  `json:"cause"`
	Head   string  `json:"head,omitempty"`
	Waited float64 `json:"head_age_seconds"`
}

// CheckLine is the monitoring plugin line for a snapshot (perfdata after
// "|"), and the stalled queues it names.
func CheckLine(s *ops.Snapshot) (string, []StalledQueue) {
	stalled := []StalledQueue{}
	var warns []string
	if s.Database != nil && s.Database.Reason != "" {
		warns = append(warns, Line(s.Database.Reason))
	}
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if q.Stalled {
				r := StalledQueue{Org: o.Org, Queue: q.Queue, Cause: string(q.Cause)}
				if q.Head != nil {
					r.Head, r.Waited = q.Head.Item, q.Head.AgeSeconds
				}
				stalled = append(stalled, r)
			} else if q.Health == ops.HealthWarning && len(warns) < 3 {
				warns = append(warns, Line(o.Org+"/"+q.Queue+": "+q.Reason))
			}
		}
	}
	sm := s.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "ROUTEOPS %s - ", CheckWord(sm.Health))
	switch {
	case len(stalled) > 0:
		parts := make([]string, 0, 4)
		for i, r := range stalled {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(stalled)-3))
				break
			}
			parts = append(parts, Line(fmt.Sprintf("%s/%s (%s, head %s waited %s)", r.Org, r.Queue, r.Cause, r.Head, Age(r.Waited))))
		}
		fmt.Fprintf(&b, "%d stalled queue(s): %s", len(stalled), strings.Join(parts, ", "))
	case len(warns) > 0:
		b.WriteString(strings.Join(warns, "; "))
	default:
		fmt.Fprintf(&b, "%d orgs routing, engine %s", sm.Orgs, Line(s.Engine.State))
	}
	// The plugin's text ends at the first "|": none may come from the data.
	line := strings.ReplaceAll(b.String(), "|", "¦")
	b.Reset()
	b.WriteString(line)
	fmt.Fprintf(&b, " | orgs=%d queued=%d assigned=%d quarantined=%d stalled_queues=%d starved_queues=%d assigned_5m=%d",
		sm.Orgs, sm.Queued, sm.Assigned, sm.Quarantined, sm.StalledQueues, sm.StarvedQueues, sm.Assigned5m)
	if sm.ReplicaLagSeconds != nil {
		fmt.Fprintf(&b, " replica_lag=%.1fs", *sm.ReplicaLagSeconds)
	}
	return b.String(), stalled
}

// CheckUnknownLine is the check line when no snapshot could be taken.
func CheckUnknownLine(msg string) string { return "ROUTEOPS " + CheckUnknown + " - " + Line(msg) }

// PauseNote says who paused, why and until when: "by alice: upstream
// outage, until 2026-11-28 15:04:05Z"; "" when none of it is known. The reason is
// bounded.
func PauseNote(by, reason string, until *time.Time) string {
	var s string
	if by != "" {
		s = "by " + LineCap(by, 40)
	}
	if reason != "" {
		if s != "" {
			s += ": "
		}
		s += LineCap(reason, 60)
	}
	if until != nil {
		if s != "" {
			s += ", "
		}
		s += "until " + Time(*until)
	}
	return s
}

// QueueDetail is what stands beside a queue's state word where a column
// already shows the word (the console's org view): a stall's cause with
// the head's last error (else the stall's reason), else a warning's health
// word and reason (a pause, with any broken head behind it), else the
// head's last error, else the reason.
func QueueDetail(q *ops.QueueHealth) string {
	lastErr := ""
	if q.Head != nil {
		lastErr = q.Head.LastError
	}
	switch {
	case q.Stalled:
		status := string(q.Cause)
		if lastErr != "" {
			status += ": " + lastErr
		} else if q.Reason != "" {
			status += ": " + q.Reason
		}
		return Line(status)
	case q.Paused && (q.PausedBy != "" || q.PauseReason != ""):
		// Who paused, why and until when.
		return HealthWord(q.Health) + " PAUSED · " + PauseNote(q.PausedBy, q.PauseReason, q.PausedUntil)
	case q.Health != ops.HealthOK && q.Reason != "":
		return HealthWord(q.Health) + " " + Line(q.Reason)
	case lastErr != "":
		return "last error: " + Line(lastErr)
	}
	return Line(q.Reason)
}

// HeadDesc names a queue's head item as an action's target, for the
// question before the action: "head of o1/escalations, waited 2m05s,
// attempts 3, STALLED missing_revision".
func HeadDesc(org string, q *ops.QueueHealth) string {
	if q.Head == nil {
		return ""
	}
	desc := fmt.Sprintf("head of %s/%s, waited %s, attempts %d", Line(org), Line(q.Queue), Age(q.Head.AgeSeconds), q.Head.Attempts)
	if q.Stalled {
		desc += ", STALLED " + Line(string(q.Cause))
	}
	return desc
}
