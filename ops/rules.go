package ops

import (
	"fmt"
	"strings"
	"time"

	"github.com/routeops/routeops/router"
)

// Every operator rule has its home here: whether a change may run at all
// (read-only, the drill gate), what a request must carry (a reason, a
// count, a retention), and whether a face may run it now, must ask first,
// or must refuse (the confirmation policy). The faces only carry out the
// decision: the CLI asks y/N on a terminal, the console asks in its status
// line.

// Actions, as the rules and the messages name them.
const (
	ActionQuarantine = "quarantine"
	ActionRelease    = "release"
	ActionPause      = "pause"
	ActionResume     = "resume"
	ActionRepair     = "repair"
	ActionCleanup    = "cleanup"
	ActionDrill      = "drill"
	ActionMigrate    = "migrate"
	ActionSeed       = "seed"
	ActionBench      = "bench"
	ActionTeamPause  = "team pause"
	ActionTeamResume = "team resume"
	ActionAgent      = "agent set-status"
)

// Policy is what this process may change: the read-only switch and the
// drill gate.
type Policy struct {
	// ReadOnly refuses every change (--read-only, console.read_only).
	ReadOnly bool
	// ReadOnlyReason says why changes are refused when it is not the
	// switch (StandbyReason: the database is a standby).
	ReadOnlyReason string
	// Embedded is set on the in-process demo store, where drills are
	// always allowed.
	Embedded bool
	// DrillAllow is drill.allow from the config: this database is marked
	// for drills.
	DrillAllow bool
	// Store names the store in a drill refusal; "this database" when empty.
	Store string
}

// ReadOnlyError refuses a change in read-only mode. Its message is the one
// read-only refusal both faces show. Reason, when set, says why changes
// are refused instead of the read-only switch.
type ReadOnlyError struct{ Action, Reason string }

func (e *ReadOnlyError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("read-only: %s refused (%s); nothing was changed", e.Action, e.Reason)
	}
	return fmt.Sprintf("read-only mode: %s refused (started with --read-only or console.read_only: true); nothing was changed", e.Action)
}

// StandbyReason is why a process connected to a standby refuses changes.
const StandbyReason = "the database is a standby (in recovery); changes need the primary"

func (e *ReadOnlyError) Unwrap() error { return router.ErrReadOnly }

// ErrReadOnly refuses a mutation in read-only mode.
var ErrReadOnly = router.ErrReadOnly

// DrillRefusedError explains why a drill was refused.
type DrillRefusedError struct{ Store string }

func (e *DrillRefusedError) Error() string {
	return fmt.Sprintf("drill refused: %s is not marked for drills. Drills run on the embedded demo, "+
		"or on a database whose routeops config sets drill.allow: true", e.Store)
}

// DemoOnlyError refuses, in the console, an action that it offers only
// on the embedded demo (a drill): on a database the CLI runs it, under
// the drill gate.
type DemoOnlyError struct{ Action string }

func (e *DemoOnlyError) Error() string {
	return fmt.Sprintf("%s: only on the embedded demo (routeops demo); on a database use routeops %s with drill.allow", e.Action, e.Action)
}

// ConfirmationError refuses a change that nobody confirmed: no --yes and
// no terminal to ask on.
type ConfirmationError struct{ Action string }

func (e *ConfirmationError) Error() string {
	return fmt.Sprintf("%s needs --yes when there is no terminal to confirm on; nothing was changed", e.Action)
}

// RequestError is a request refused before anything is read or written:
// a missing reason, a bad count, an unknown drill. The CLI treats it as a
// usage error (exit 1).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func requestErr(format string, args ...any) error {
	return &RequestError{Msg: fmt.Sprintf(format, args...)}
}

// Allow says whether action may change anything here: read-only refuses
// every change; a drill also needs the embedded store or drill.allow.
func (p Policy) Allow(action string) error {
	if p.ReadOnly {
		return &ReadOnlyError{Action: action, Reason: p.ReadOnlyReason}
	}
	if action == ActionDrill && !p.Embedded && !p.DrillAllow {
		store := p.Store
		if store == "" {
			store = "this database"
		}
		return &DrillRefusedError{Store: store}
	}
	return nil
}

// Confirm is the confirmation policy: after Allow, a change runs at once
// with --yes (yes); with a terminal to ask on it runs only after the face
// asked and was told y (ask is true); otherwise it is refused.
func (p Policy) Confirm(action string, yes, terminal bool) (ask bool, err error) {
	if err := p.Allow(action); err != nil {
		return false, err
	}
	switch {
	case yes:
		return false, nil
	case terminal:
		return true, nil
	}
	return false, &ConfirmationError{Action: action}
}

// RequireReason is the rule that a quarantine says why: the reason is
// journalled with the action.
func RequireReason(action, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return requestErr("%s needs a reason (--reason)", action)
	}
	return nil
}

// ConsoleReason is the reason the console journals with a quarantine
// when the operator gives none: the console asks y/N with it shown, so the
// journal still says who quarantined from where.
func ConsoleReason(operator string) string {
	if strings.TrimSpace(operator) == "" {
		operator = "operator"
	}
	return "quarantined from console by " + operator
}

// ConsolePauseReason is the reason the console journals with a pause (of a
// queue or a team) when the operator gives none: a pause always says why,
// and the console shows it in its question.
func ConsolePauseReason(operator string) string {
	if strings.TrimSpace(operator) == "" {
		operator = "operator"
	}
	return "paused from console by " + operator
}

// Drill kinds.
const (
	DrillMissingRevisions = "missing-revisions"
	DrillCorruptRevisions = "corrupt-revisions"
)

// CheckDrill validates a drill request: a known kind, an org, and a count
// of at least one.
func CheckDrill(kind, org string, count int) error {
	switch {
	case kind != DrillMissingRevisions && kind != DrillCorruptRevisions:
		return requestErr("unknown drill %q (allowed: %s, %s)", kind, DrillMissingRevisions, DrillCorruptRevisions)
	case org == "":
		return requestErr("drill needs an org (--org)")
	case count < 1:
		return requestErr("drill needs --count of at least 1")
	}
	return nil
}

// CheckRetention validates a cleanup retention.
func CheckRetention(d time.Duration) error {
	if d <= 0 {
		return requestErr("cleanup needs a positive --older-than, such as 720h")
	}
	return nil
}

// IncidentOrg is the one rule for where a rehearsed incident strikes (the
// demo's --incident, in the console and headless alike): an org with free
// capacity, so that a stuck head is a stall (work and capacity, no
// progress) and not starvation; among those the busiest (queued, counted
// up to 1000), then the one with the most free capacity, then by name.
// Without free capacity anywhere, the busiest org. "" when the snapshot
// has no org.
func IncidentOrg(snap *Snapshot) string {
	if snap == nil {
		return ""
	}
	better := func(a, b *OrgHealth) bool {
		if fa, fb := a.AvailableCapacity > 0, b.AvailableCapacity > 0; fa != fb {
			return fa
		}
		if qa, qb := min(a.Queued, 1000), min(b.Queued, 1000); qa != qb {
			return qa > qb
		}
		if a.AvailableCapacity != b.AvailableCapacity {
			return a.AvailableCapacity > b.AvailableCapacity
		}
		return a.Org < b.Org
	}
	var best *OrgHealth
	for i := range snap.Orgs {
		if o := &snap.Orgs[i]; best == nil || better(o, best) {
			best = o
		}
	}
	if best == nil {
		return ""
	}
	return best.Org
}

// CheckPause validates a pause: it says why (required, as a quarantine
// does), and a timed pause lasts at least a second.
func CheckPause(reason string, d time.Duration) error {
	if err := RequireReason(ActionPause, reason); err != nil {
		return err
	}
	if d < 0 || (d > 0 && d < time.Second) {
		return requestErr("--for must be at least 1s (or left out: paused until someone resumes it)")
	}
	return nil
}

// CheckTeamStatus validates a team status change: a pause says why.
func CheckTeamStatus(st router.TeamStatus, reason string) error {
	switch st {
	case router.TeamPaused:
		return RequireReason(ActionTeamPause, reason)
	case router.TeamActive:
		return nil
	}
	return requestErr("unknown team status %q (allowed: active, paused)", st)
}
