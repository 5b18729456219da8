package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/routeops/routeops/ops/internal/text"
	"github.com/routeops/routeops/router"
)

// TimelineKinds are the event kinds an incident timeline shows by default;
// assignments and completions are left out unless asked for.
var TimelineKinds = []string{
	router.EventItemFault, router.EventQuarantined, router.EventReleased, router.EventRevisionRepaired,
	router.EventStallDetected, router.EventStallCleared, router.EventRevisionsCleaned,
	router.EventQueuePaused, router.EventQueueResumed, router.EventDrillInjected,
	router.EventTeamPaused, router.EventTeamResumed, router.EventAgentStatusChanged,
}

// TimelineEntry is one line of the timeline. Repeated faults of one item
// are collapsed into one entry with a count.
type TimelineEntry struct {
	At     time.Time  `json:"at"`
	Until  *time.Time `json:"until,omitempty"`
	Count  int        `json:"count"`
	Org    string     `json:"org"`
	Kind   string     `json:"kind"`
	Item   string     `json:"item,omitempty"`
	Queue  string     `json:"queue,omitempty"`
	Actor  string     `json:"actor"`
	Origin string     `json:"origin,omitempty"`
	OSUser string     `json:"os_user,omitempty"`
	// DBUser and RecordedAt are what the database recorded, whatever the
	// writer claimed in Actor, Origin and At (see router.Event).
	DBUser     string     `json:"db_user,omitempty"`
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
	Summary    string     `json:"summary"`
	Detail     rawJSON    `json:"detail,omitempty"`
	// Operation is the bulk action this entry stands for: its events, in
	// one org, are one entry with a count.
	Operation string `json:"operation,omitempty"`
}

// TimelineSummary condenses the window.
type TimelineSummary struct {
	Faults           int        `json:"faults"`
	FaultyItems      int        `json:"faulty_items"`
	Quarantined      int        `json:"quarantined"`
	QuarantinedByOps int        `json:"quarantined_by_operators"`
	Released         int        `json:"released"`
	Repaired         int        `json:"repaired"`
	StallsDetected   int        `json:"stalls_detected"`
	StallsCleared    int        `json:"stalls_cleared"`
	RevisionsDeleted int        `json:"revisions_deleted"`
	Drills           int        `json:"drills"`
	Operators        []string   `json:"operators"`
	FirstFault       *time.Time `json:"first_fault,omitempty"`
	// Stalls lists each stall with how long it lasted (open ones have no
	// end).
	Stalls []StallSpan `json:"stalls"`
}

// StallSpan is one stall of one queue.
type StallSpan struct {
	Org     string     `json:"org"`
	Queue   string     `json:"queue"`
	Cause   string     `json:"cause"`
	From    time.Time  `json:"from"`
	To      *time.Time `json:"to,omitempty"`
	Seconds float64    `json:"seconds"`
}

// Timeline is the journal rendered as an incident timeline.
type Timeline struct {
	Since     time.Time       `json:"since"`
	Until     time.Time       `json:"until"`
	Org       string          `json:"org,omitempty"`
	Events    int             `json:"events"`
	Truncated bool            `json:"truncated"`
	Summary   TimelineSummary `json:"summary"`
	Entries   []TimelineEntry `json:"entries"`
}

// TimelineOptions select the window.
type TimelineOptions struct {
	Since time.Duration // how far back from now
	Org   string
	// All includes assignments and completions.
	All   bool
	Limit int
}

// Timeline reads the journal for a window and renders it.
func (o *Ops) Timeline(ctx context.Context, opt TimelineOptions) (*Timeline, error) {
	if opt.Since <= 0 {
		opt.Since = time.Hour
	}
	if opt.Limit <= 0 {
		opt.Limit = 5000
	}
	now := o.Clock.Now().UTC()
	f := router.EventFilter{Org: opt.Org, Since: now.Add(-opt.Since), Limit: opt.Limit + 1, NewestOf: true}
	if !opt.All {
		f.Kinds = TimelineKinds
	}
	evs, err := o.store.Events(ctx, f)
	if err != nil {
		return nil, err
	}
	t := &Timeline{Since: f.Since, Until: now, Org: opt.Org}
	if len(evs) > opt.Limit {
		t.Truncated = true
		evs = evs[len(evs)-opt.Limit:]
	}
	t.Events = len(evs)
	BuildTimeline(t, evs)
	return t, nil
}

type detailFields struct {
	Cause         string          `json:"cause"`
	Error         string          `json:"error"`
	Action        string          `json:"action"`
	Reason        string          `json:"reason"`
	Agent         string          `json:"agent"`
	Source        string          `json:"source"`
	OldRevision   int64           `json:"old_revision_id"`
	NewRevision   int64           `json:"new_revision_id"`
	Released      bool            `json:"released"`
	Deleted       int             `json:"deleted"`
	Drill         string          `json:"drill"`
	Items         []int64         `json:"items"`
	Depth         int             `json:"depth"`
	Head          json.RawMessage `json:"head"`
	EnqueuedAt    string          `json:"enqueued_at"`
	OlderThan     string          `json:"older_than"`
	AvailableCapa int             `json:"available_capacity"`
	Until         string          `json:"until"`
	Expired       bool            `json:"expired"`
	Team          string          `json:"team"`
	From          string          `json:"from"`
	To            string          `json:"to"`
}

// BuildTimeline fills a timeline's entries and summary from events,
// oldest first.
func BuildTimeline(t *Timeline, evs []router.Event) {
	t.Entries = []TimelineEntry{}
	ops := map[string]bool{}
	faulty := map[string]bool{}
	open := map[[2]string]int{} // org/queue -> index in Stalls
	lastFault := map[string]int{}
	lastOp := map[string]int{}
	for _, e := range evs {
		var d detailFields
		_ = json.Unmarshal(e.Detail, &d)
		item := ""
		if e.WorkItemID != 0 {
			item = router.FormatItemID(e.WorkItemID)
		}
		ent := TimelineEntry{At: e.At, Count: 1, Org: e.OrgID, Kind: e.Kind, Item: item, Queue: e.QueueID,
			Actor: e.Actor, Origin: e.Origin, OSUser: e.OSUser, DBUser: e.DBUser, RecordedAt: e.RecordedAt, Detail: asRaw(e.Detail)}
		byOperator := !strings.HasPrefix(e.Actor, "engine:") && !strings.HasPrefix(e.Actor, "monitor")
		if byOperator {
			who := e.Actor
			if e.Origin != "" && e.Origin != "local" {
				who += "@" + e.Origin
			}
			ops[who] = true
		}
		s := &t.Summary
		switch e.Kind {
		case router.EventItemFault:
			s.Faults++
			faulty[e.OrgID+"/"+item] = true
			if s.FirstFault == nil {
				at := e.At
				s.FirstFault = &at
			}
			key := e.OrgID + "/" + item + "/" + d.Cause
			if i, ok := lastFault[key]; ok {
				prev := &t.Entries[i]
				prev.Count++
				at := e.At
				prev.Until = &at
				prev.Summary = faultSummary(item, d, prev.Count)
				continue
			}
			ent.Summary = faultSummary(item, d, 1)
			lastFault[key] = len(t.Entries)
		case router.EventQuarantined:
			s.Quarantined++
			if byOperator {
				s.QuarantinedByOps++
				ent.Summary = fmt.Sprintf("%s quarantined item %s: %s", e.Actor, item, d.Reason)
			} else {
				ent.Summary = fmt.Sprintf("engine quarantined item %s (%s)", item, d.Cause)
			}
		case router.EventStallDetected:
			s.StallsDetected++
			ent.Summary = fmt.Sprintf("queue %s STALLED (%s): %s", e.QueueID, d.Cause, d.Reason)
			open[[2]string{e.OrgID, e.QueueID}] = len(s.Stalls)
			s.Stalls = append(s.Stalls, StallSpan{Org: e.OrgID, Queue: e.QueueID, Cause: d.Cause, From: e.At, Seconds: -1})
		case router.EventStallCleared:
			s.StallsCleared++
			k := [2]string{e.OrgID, e.QueueID}
			if i, ok := open[k]; ok {
				sp := &s.Stalls[i]
				at := e.At
				sp.To = &at
				sp.Seconds = round1(at.Sub(sp.From).Seconds())
				delete(open, k)
				ent.Summary = fmt.Sprintf("queue %s flowing again after %s stalled", e.QueueID, text.Duration(at.Sub(sp.From)))
			} else {
				ent.Summary = fmt.Sprintf("queue %s flowing again", e.QueueID)
			}
		default:
			ent.Summary = plainEntry(s, e, item, &d)
		}
		if e.OperationID != "" {
			key := e.OperationID + "/" + e.OrgID + "/" + e.Kind
			if i, ok := lastOp[key]; ok {
				prev := &t.Entries[i]
				prev.Count++
				at := e.At
				prev.Until = &at
				prev.Summary = operationSummary(prev, d.Reason)
				continue
			}
			lastOp[key] = len(t.Entries)
			ent.Operation = e.OperationID
			ent.Summary = operationSummary(&ent, d.Reason)
		}
		t.Entries = append(t.Entries, ent)
	}
	t.Summary.FaultyItems = len(faulty)
	t.Summary.Operators = make([]string, 0, len(ops))
	for o := range ops {
		t.Summary.Operators = append(t.Summary.Operators, o)
	}
	sort.Strings(t.Summary.Operators)
	if t.Summary.Stalls == nil {
		t.Summary.Stalls = []StallSpan{}
	}
}

// plainEntry counts an event that needs no other event to be told, and
// says what happened.
func plainEntry(s *TimelineSummary, e router.Event, item string, d *detailFields) string {
	switch e.Kind {
	case router.EventReleased:
		s.Released++
		return fmt.Sprintf("%s released item %s back to %s, in its original place", e.Actor, item, e.QueueID)
	case router.EventRevisionRepaired:
		s.Repaired++
		sum := fmt.Sprintf("%s repaired item %s from %s: revision %d -> %d", e.Actor, item, d.Source, d.OldRevision, d.NewRevision)
		if d.Released {
			sum += ", back in its queue"
		}
		return sum
	case router.EventRevisionsCleaned:
		s.RevisionsDeleted += d.Deleted
		return fmt.Sprintf("cleanup by %s deleted %d unreferenced revisions older than %s", e.Actor, d.Deleted, d.OlderThan)
	case router.EventQueuePaused:
		s := fmt.Sprintf("%s paused queue %s", e.Actor, e.QueueID)
		if d.Reason != "" {
			s += ": " + d.Reason
		}
		if d.Until != "" {
			s += " (until " + d.Until + ")"
		}
		return s
	case router.EventQueueResumed:
		if d.Expired {
			return fmt.Sprintf("%s resumed queue %s: its pause ended", e.Actor, e.QueueID)
		}
		return fmt.Sprintf("%s resumed queue %s", e.Actor, e.QueueID)
	case router.EventTeamPaused:
		return fmt.Sprintf("%s paused team %s: %s", e.Actor, d.Team, d.Reason)
	case router.EventTeamResumed:
		return fmt.Sprintf("%s resumed team %s", e.Actor, d.Team)
	case router.EventAgentStatusChanged:
		return fmt.Sprintf("%s set agent %s %s (was %s)", e.Actor, d.Agent, d.To, d.From)
	case router.EventDrillInjected:
		s.Drills++
		return fmt.Sprintf("DRILL by %s: %s on %d items %s", e.Actor, d.Drill, len(d.Items), idList(d.Items))
	case router.EventAssigned:
		return fmt.Sprintf("item %s assigned to %s", item, d.Agent)
	case router.EventCompleted:
		return fmt.Sprintf("item %s completed", item)
	}
	return e.Kind
}

// operationSummary tells a bulk action's events in one org as one line.
func operationSummary(e *TimelineEntry, reason string) string {
	verb := map[string]string{router.EventQuarantined: "quarantined", router.EventReleased: "released",
		router.EventRevisionRepaired: "repaired"}[e.Kind]
	if verb == "" {
		verb = e.Kind
	}
	items := "item " + e.Item
	if e.Count > 1 {
		items = fmt.Sprintf("%d items, from item %s", e.Count, e.Item)
	}
	s := fmt.Sprintf("%s %s %s (bulk operation %s)", e.Actor, verb, items, e.Operation)
	if reason != "" {
		s += ": " + reason
	}
	return s
}

func faultSummary(item string, d detailFields, n int) string {
	s := fmt.Sprintf("item %s faulted: %s (%s)", item, d.Cause, d.Error)
	switch d.Action {
	case string(router.PolicyQuarantine):
		s += ", quarantined"
	case string(router.PolicySkip):
		s += ", skipped"
	case string(router.PolicyBlock):
		s += ", left blocking its queue (block policy)"
	}
	if n > 1 {
		s += fmt.Sprintf(" [x%d]", n)
	}
	return s
}

func idList(ids []int64) string {
	if len(ids) == 0 {
		return ""
	}
	parts := make([]string, 0, min(len(ids), 10))
	for i, id := range ids {
		if i == 10 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, router.FormatItemID(id))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Markdown renders the timeline like a postmortem's.
func (t *Timeline) Markdown() string {
	var b strings.Builder
	org := "all orgs"
	if t.Org != "" {
		org = text.Line(t.Org)
	}
	fmt.Fprintf(&b, "# Incident timeline\n\n")
	fmt.Fprintf(&b, "Window: %s to %s (UTC), %s, %d events", t.Since.Format("2006-01-02 15:04:05"),
		t.Until.Format("2006-01-02 15:04:05"), org, t.Events)
	if t.Truncated {
		b.WriteString(" (only the newest shown)")
	}
	b.WriteString("\n\n## Summary\n\n")
	s := t.Summary
	if s.FirstFault != nil {
		fmt.Fprintf(&b, "- First item fault: %s\n", s.FirstFault.Format("15:04:05"))
	}
	fmt.Fprintf(&b, "- Item faults: %d, on %d items\n", s.Faults, s.FaultyItems)
	fmt.Fprintf(&b, "- Quarantined: %d (by operators: %d), released: %d, repaired: %d\n", s.Quarantined, s.QuarantinedByOps, s.Released, s.Repaired)
	fmt.Fprintf(&b, "- Stalls detected: %d, cleared: %d\n", s.StallsDetected, s.StallsCleared)
	for _, sp := range s.Stalls {
		if sp.To != nil {
			fmt.Fprintf(&b, "  - %s/%s stalled %s to %s (%s), cause %s\n", text.Line(sp.Org), text.Line(sp.Queue), sp.From.Format("15:04:05"),
				sp.To.Format("15:04:05"), text.Duration(time.Duration(sp.Seconds*float64(time.Second))), text.Line(sp.Cause))
		} else {
			fmt.Fprintf(&b, "  - %s/%s stalled since %s, cause %s, still open\n", text.Line(sp.Org), text.Line(sp.Queue), sp.From.Format("15:04:05"), text.Line(sp.Cause))
		}
	}
	if s.RevisionsDeleted > 0 {
		fmt.Fprintf(&b, "- Revisions deleted by cleanup: %d\n", s.RevisionsDeleted)
	}
	if s.Drills > 0 {
		fmt.Fprintf(&b, "- Drills injected: %d\n", s.Drills)
	}
	if len(s.Operators) > 0 {
		fmt.Fprintf(&b, "- Operators: %s\n", text.Line(strings.Join(s.Operators, ", ")))
	}
	b.WriteString("\n## Events\n\n")
	if len(t.Entries) == 0 {
		b.WriteString("Nothing happened in this window.\n")
		return b.String()
	}
	b.WriteString("| Time (UTC) | Org | Queue | What happened | Who |\n|---|---|---|---|---|\n")
	for _, e := range t.Entries {
		when := e.At.Format("15:04:05")
		if e.Until != nil {
			when += "–" + e.Until.Format("15:04:05")
		}
		who := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			who += " from " + e.Origin
		}
		who += text.Login(e.DBUser) + text.Recorded(e.At, e.RecordedAt)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", when, mdCell(e.Org), mdCell(e.Queue), mdCell(e.Summary), mdCell(who))
	}
	return b.String()
}

// mdCell is one Markdown table cell of untrusted text: sanitized on one
// line (text.Line), with its pipes escaped.
func mdCell(s string) string {
	return strings.ReplaceAll(text.Line(s), "|", `\|`)
}
