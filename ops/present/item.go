package present

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/internal/text"
	"github.com/routeops/routeops/router"
)

// Style is how a face writes the labels of multi-line text: the console
// shows them as headings ("Last error:"), the CLI in lower case like the
// rest of its output ("last error:"). The words are the same.
type Style uint8

const (
	CLI Style = iota
	Console
)

// label writes a label in the style.
func (s Style) label(l string) string {
	if s != Console || l == "" {
		return l
	}
	r, n := utf8.DecodeRuneInString(l)
	return string(unicode.ToUpper(r)) + l[n:]
}

// DefaultMaxValue caps each attribute document and event detail that
// multi-line text shows, in bytes, so one tenant's blob cannot flood a
// terminal; the JSON output carries the whole value.
const DefaultMaxValue = 4 << 10

// ItemOptions choose how ItemLines renders.
type ItemOptions struct {
	Style Style
	// MaxValue caps each attribute document and event detail in bytes: 0
	// is DefaultMaxValue, negative is no cap.
	MaxValue int
}

func (o ItemOptions) value(b []byte) string {
	max := o.MaxValue
	if max == 0 {
		max = DefaultMaxValue
	}
	if max < 0 {
		return Line(string(b))
	}
	return LineCap(string(b), max)
}

// ItemLines renders one item's detail: where it is, its current revision's
// verdict, its fault and last error, the revision chain with verdicts, the
// journal copy, and its events (oldest first). now dates the wait.
func ItemLines(d *ops.ItemDetail, now time.Time, o ItemOptions) []string {
	it := &d.Item
	l := o.Style.label
	out := []string{
		l(fmt.Sprintf("item %d · org %s · queue %s · state %s", it.ID, Line(it.OrgID), Line(it.QueueID), it.State)),
		l(fmt.Sprintf("enqueued %s (waited %s) · priority %d · attempts %d",
			Time(it.EnqueuedAt), Duration(now.Sub(it.EnqueuedAt)), it.Priority, it.Attempts)),
	}
	cur := l(fmt.Sprintf("current revision %d: %s", it.CurrentRevisionID, strings.ToUpper(Line(d.Revision))))
	if d.Error != "" {
		cur += ": " + Line(d.Error)
	}
	out = append(out, cur)
	if it.FaultCause != "" {
		f := l("fault: ") + Line(string(it.FaultCause))
		if it.LastAttemptAt != nil {
			f += " · last attempt " + Time(*it.LastAttemptAt)
		}
		out = append(out, f)
	}
	le := it.LastError
	if le == "" {
		le = "none"
	}
	out = append(out, l("last error: ")+Line(le))
	if it.QuarantineReason != "" {
		out = append(out, l("quarantine reason: ")+Line(it.QuarantineReason))
	}
	if it.AgentID != "" {
		a := l("agent: ") + Line(it.AgentID)
		if it.AssignedAt != nil {
			a += " (assigned " + Time(*it.AssignedAt) + ")"
		}
		out = append(out, a)
	}
	if it.Skipped {
		out = append(out, l("skipped by the skip policy: routed past until repaired or released"))
	}
	out = append(out, revisionLines(d, o)...)
	return append(out, eventLines(d, o)...)
}

// revisionLines are the revision chain and the journal copy.
func revisionLines(d *ops.ItemDetail, o ItemOptions) []string {
	out := []string{"", o.Style.label(fmt.Sprintf("revision chain (%d, oldest first):", len(d.Revisions)))}
	seenCurrent := false
	for _, r := range d.Revisions {
		verdict := "valid"
		if !r.Valid {
			verdict = "INVALID: " + Line(r.Error)
		}
		value := o.value(r.Attributes)
		if r.Oversized {
			verdict, value = "OVERSIZED", notLoaded(r.Bytes)
		}
		mark := " "
		if r.Current {
			mark, seenCurrent = "*", true
		}
		src := Line(r.Source)
		if src == "" {
			src = "-"
		}
		out = append(out, fmt.Sprintf(" %s rev %d  %s  %-10s %s  %s", mark, r.ID, Time(r.CreatedAt), src, verdict, value))
	}
	if !seenCurrent {
		out = append(out, fmt.Sprintf(" * rev %d  MISSING: the current revision row is gone", d.Item.CurrentRevisionID))
	}
	j := d.Journal
	if j == nil {
		return append(out, o.Style.label("journal copy: none"))
	}
	verdict := "valid"
	if !j.Valid {
		verdict = "INVALID"
	}
	if j.Unverified {
		verdict += " · UNVERIFIED (not proven a copy of the revision)"
	}
	value := o.value(j.Attributes)
	if j.Oversized {
		verdict, value = "OVERSIZED", notLoaded(j.Bytes)
	}
	return append(out, o.Style.label(fmt.Sprintf("journal copy (kept on the item): revision %d · %s · %s",
		j.RevisionID, verdict, value)))
}

// notLoaded stands for a document over the store's size limit, which
// routeops never loads.
func notLoaded(bytes int) string {
	return fmt.Sprintf("(%d bytes, over the size limit: not loaded)", bytes)
}

// eventLines are the item's events, oldest first.
func eventLines(d *ops.ItemDetail, o ItemOptions) []string {
	out := []string{"", o.Style.label(fmt.Sprintf("events (%d, oldest first):", len(d.Events)))}
	for _, e := range d.Events {
		out = append(out, fmt.Sprintf("  %s  %-17s %s  %s", Time(e.At), Line(e.Kind), EventWho(e), o.value(e.Detail)))
	}
	if len(d.Events) == 0 {
		out = append(out, "  none")
	}
	return out
}

// ItemNotes is what a list of items says of one beside its id and wait:
// "HEAD · skipped · missing_revision · agent a1 · reason: … · last error",
// the parts that apply, on one line.
func ItemNotes(it *router.WorkItem, head bool) string {
	var parts []string
	if head {
		parts = append(parts, "HEAD")
	}
	if it.Skipped {
		parts = append(parts, "skipped")
	}
	if it.FaultCause != "" {
		parts = append(parts, string(it.FaultCause))
	}
	if it.AgentID != "" {
		parts = append(parts, "agent "+it.AgentID)
	}
	if it.QuarantineReason != "" {
		parts = append(parts, "reason: "+it.QuarantineReason)
	}
	if it.LastError != "" {
		parts = append(parts, it.LastError)
	}
	return Line(strings.Join(parts, " · "))
}

// Who is an actor with where they acted from, when not local:
// "alice@203.0.113.7".
func Who(actor, origin string) string {
	if origin != "" && origin != "local" {
		return Line(actor + "@" + origin)
	}
	return Line(actor)
}

// EventWho is who wrote a journal entry: the operator and origin it
// claims, and beside them the database login that wrote it and, when it
// differs from the claimed time, when the database recorded it:
// "alice@203.0.113.7 (login bob) (recorded 2026-11-28 15:04:05Z)".
func EventWho(e router.Event) string {
	return Who(e.Actor, e.Origin) + text.Login(e.DBUser) + text.Recorded(e.At, e.RecordedAt)
}

// PlanLines render a repair plan: a summary, what the sources mean, and
// every item with its source and verdict.
func PlanLines(p *ops.RepairPlan, org string) []string {
	out := []string{
		fmt.Sprintf("%d items in %s: %d repairable (%d from a fallback source), %d cannot be repaired",
			len(p.Items), Scope(org), p.Repairable, p.Fallbacks, p.Unfixable),
		"Source journal is the exact lost attributes; journal_unverified and earlier_revision are fallbacks that apply " +
			"uses only with --allow-fallback, and defaults come only with --allow-defaults.",
		"",
	}
	for _, it := range p.Items {
		src := Line(it.Source)
		switch {
		case it.Valid && it.OptIn == ops.OptInFallback && !p.AllowFallback:
			src += " (FALLBACK: needs --allow-fallback)"
		case it.Fallback:
			src += " (FALLBACK)"
		}
		if it.SourceRevisionID != 0 {
			src += fmt.Sprintf(" rev %d", it.SourceRevisionID)
		}
		verdict := "valid"
		if !it.Valid {
			verdict = "INVALID: " + Line(it.Error)
		}
		attrs := LineCap(string(it.Attributes), DefaultMaxValue)
		if attrs == "" {
			attrs = "-"
		}
		out = append(out, fmt.Sprintf("item %s  %s/%s  %s  %s  source %s  verdict %s  attributes %s",
			Line(it.Item), Line(it.Org), Line(it.Queue), Line(it.State), Line(string(it.Cause)), src, verdict, attrs))
	}
	return out
}
