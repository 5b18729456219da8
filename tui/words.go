package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// The console's words: health and queue-state words, ages, times and
// counts, outcome sentences, and the text of the item, timeline and repair
// plan views. They are all here, and nowhere else in the console, so that
// the one vocabulary shared with the CLI can replace them in one place.

// ---- health, queue state and stalls ----

// healthWord is the health with its symbol, never colour alone.
func healthWord(h ops.Health) string {
	switch h {
	case ops.HealthCritical:
		return "✖ CRIT"
	case ops.HealthWarning:
		return "▲ WARN"
	}
	return "● OK"
}

// healthRank orders health: critical over warning over ok.
func healthRank(h ops.Health) int {
	switch h {
	case ops.HealthCritical:
		return 2
	case ops.HealthWarning:
		return 1
	}
	return 0
}

// stallText is the STALLED marker with its cause.
func stallText(stalled int32, cause router.Cause) string {
	if stalled <= 0 {
		return ""
	}
	s := "STALLED"
	if stalled > 1 {
		s += "×" + fmtCount(int(stalled))
	}
	if cause != "" {
		s += " " + string(cause)
	}
	return s
}

// queueState is paused, STALLED or flowing.
func queueState(q *ops.QueueHealth) string {
	switch {
	case q.Paused:
		return "paused"
	case q.Stalled:
		return "STALLED"
	}
	return "flowing"
}

// queueStatus is a queue row's last column: the stall's cause and error,
// else its health's reason, else the head's last error.
func queueStatus(q *ops.QueueHealth) string {
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
		return status
	case q.Paused && (q.PausedBy != "" || q.PauseReason != ""):
		// Who paused, why and until when: present's words.
		return healthWord(q.Health) + " PAUSED · " + present.PauseNote(q.PausedBy, q.PauseReason, q.PausedUntil)
	case q.Health != ops.HealthOK && q.Reason != "":
		return healthWord(q.Health) + " " + q.Reason
	case lastErr != "":
		return "last error: " + lastErr
	}
	return q.Reason
}

// itemNotes is an item row's last column.
func itemNotes(it *router.WorkItem, head bool) string {
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
	return strings.Join(parts, " · ")
}

// ---- times, ages and counts ----

// fmtAge renders seconds in at most 5 cells: 45s, 9m59s, 15m, 9h59m, 23h,
// 12d. Zero or negative is "-".
func fmtAge(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	s := int64(sec)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 600:
		return strconv.FormatInt(s/60, 10) + "m" + two(s%60) + "s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m"
	case s < 36000:
		return strconv.FormatInt(s/3600, 10) + "h" + two((s%3600)/60) + "m"
	case s < 86400:
		return strconv.FormatInt(s/3600, 10) + "h"
	default:
		return strconv.FormatInt(s/86400, 10) + "d"
	}
}

// two is n in two digits.
func two(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// fmtDur renders a duration for messages ("3s", "2m05s").
func fmtDur(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return fmtAge(d.Seconds())
}

// fmtCount renders a count in at most 6 cells.
func fmtCount(n int) string {
	switch {
	case n < 1000000:
		return strconv.Itoa(n)
	case n < 1000000000:
		return strconv.Itoa(n/1000) + "k"
	default:
		return strconv.Itoa(n/1000000) + "M"
	}
}

// fmtRatio renders "a/b".
func fmtRatio(a, b int) string {
	return fmtCount(a) + "/" + fmtCount(b)
}

// fmtTime is a timestamp in UTC, without the zone.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// fmtClock is the time of day in UTC.
func fmtClock(t time.Time) string { return t.UTC().Format("15:04:05") }

// ---- untrusted text ----

// oneLine flattens whitespace so that an error or a JSON value never
// breaks the layout.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// ---- outcome sentences and questions ----

// scopeName is an org, or "all orgs" for none.
func scopeName(org string) string {
	if org == "" {
		return "all orgs"
	}
	return org
}

// orgArg is an org as a command argument, with its space.
func orgArg(org string) string {
	if org == "" {
		return ""
	}
	return org + " "
}

// outcomeText is the outcome of an item action, or the refusal as an
// error.
func outcomeText(verb string, outs []ops.Outcome) (string, error) {
	if len(outs) == 0 {
		return "", fmt.Errorf("%s: nothing done", verb)
	}
	o := outs[0]
	if !o.OK {
		return "", fmt.Errorf("%s of item %s refused: %s", verb, o.Item, o.Message)
	}
	msg := o.Message
	if msg == "" {
		msg = fmt.Sprintf("item %s %s", o.Item, verb)
	}
	if !o.Changed {
		msg += "; nothing changed"
	}
	return msg, nil
}

// drillText is the outcome of a drill: the items it broke.
func drillText(kind, org string, ids []int64) string {
	if len(ids) == 0 {
		return fmt.Sprintf("drill %s on %s: no queued items to break", kind, org)
	}
	parts := make([]string, 0, min(len(ids), 5))
	for i, id := range ids {
		if i == 5 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, router.FormatItemID(id))
	}
	return fmt.Sprintf("drill %s injected on %s: %d items (%s)", kind, org, len(ids), strings.Join(parts, ", "))
}

// pausedText is the outcome of pausing or resuming a queue.
func pausedText(ref router.QueueRef, verb string, r router.ActionResult) string {
	text := r.Message
	if text == "" {
		text = fmt.Sprintf("queue %s: %s done", ref, verb)
	}
	if !r.Changed {
		text += "; nothing changed"
	}
	return text
}

// repairText is the outcome of an applied repair and its verify.
func repairText(rep *ops.RepairReport) string {
	text := fmt.Sprintf("repair: %d repaired (%d back in their queue), %d skipped", rep.Repaired, rep.Released, rep.Skipped)
	if rep.VerifyOK {
		text += "; verify clean"
	} else if rep.Verify != nil {
		text += fmt.Sprintf("; verify found %d problems (run routeops verify)", len(rep.Verify.Findings))
	}
	return text
}

// repairPrompt is the question before a repair is applied.
func repairPrompt(p *ops.RepairPlan) string {
	prompt := fmt.Sprintf("Apply repair to %d items", p.Repairable)
	if p.Fallbacks > 0 {
		prompt += fmt.Sprintf(" (%d from a fallback source)", p.Fallbacks)
	}
	if p.Unfixable > 0 {
		prompt += fmt.Sprintf("; %d cannot be repaired and stay untouched", p.Unfixable)
	}
	return prompt + "?"
}

// defaultReason is the quarantine reason when the operator gives none.
func defaultReason(operator string) string {
	if operator == "" {
		operator = "operator"
	}
	return "quarantined from console by " + operator
}

// demoOnlyText refuses a demo-only action outside the embedded demo.
func demoOnlyText(action string) string {
	return action + ": only on the embedded demo (routeops demo); on a database use routeops " + action + " with drill.allow"
}

// ---- the text views ----

// itemLines renders an item's detail: the revision chain with verdicts and
// the journal copy, the last error, and the events.
func itemLines(d *ops.ItemDetail, now time.Time) []string {
	it := &d.Item
	var out []string
	out = append(out, fmt.Sprintf("Item %d · org %s · queue %s · state %s", it.ID, it.OrgID, it.QueueID, it.State))
	out = append(out, fmt.Sprintf("Enqueued %s UTC (waited %s) · priority %d · attempts %d",
		fmtTime(it.EnqueuedAt), fmtDur(now.Sub(it.EnqueuedAt)), it.Priority, it.Attempts))
	cur := fmt.Sprintf("Current revision %d: %s", it.CurrentRevisionID, strings.ToUpper(d.Revision))
	if d.Error != "" {
		cur += ": " + d.Error
	}
	out = append(out, cur)
	if it.FaultCause != "" {
		f := "Fault: " + string(it.FaultCause)
		if it.LastAttemptAt != nil {
			f += " · last attempt " + fmtTime(*it.LastAttemptAt)
		}
		out = append(out, f)
	}
	le := it.LastError
	if le == "" {
		le = "none"
	}
	out = append(out, "Last error: "+oneLine(le))
	if it.QuarantineReason != "" {
		out = append(out, "Quarantine reason: "+oneLine(it.QuarantineReason))
	}
	if it.AgentID != "" {
		a := "Agent: " + it.AgentID
		if it.AssignedAt != nil {
			a += " (assigned " + fmtTime(*it.AssignedAt) + ")"
		}
		out = append(out, a)
	}
	if it.Skipped {
		out = append(out, "Skipped by the skip policy: routed past until repaired or released")
	}
	out = append(out, "", fmt.Sprintf("Revision chain (%d, oldest first):", len(d.Revisions)))
	seenCurrent := false
	for _, r := range d.Revisions {
		verdict := "valid"
		if !r.Valid {
			verdict = "INVALID: " + r.Error
		}
		mark := " "
		if r.Current {
			mark, seenCurrent = "*", true
		}
		src := r.Source
		if src == "" {
			src = "-"
		}
		out = append(out, fmt.Sprintf(" %s rev %d  %s  %-10s %s  %s", mark, r.ID, fmtTime(r.CreatedAt), src, verdict,
			oneLine(string(r.Attributes))))
	}
	if !seenCurrent {
		out = append(out, fmt.Sprintf(" * rev %d  MISSING: the current revision row is gone", it.CurrentRevisionID))
	}
	if j := d.Journal; j != nil {
		verdict := "valid"
		if !j.Valid {
			verdict = "INVALID"
		}
		out = append(out, fmt.Sprintf("Journal copy (kept on the item): revision %d · %s · %s", j.RevisionID, verdict,
			oneLine(string(j.Attributes))))
	} else {
		out = append(out, "Journal copy: none")
	}
	out = append(out, "", fmt.Sprintf("Events (%d, oldest first):", len(d.Events)))
	for _, e := range d.Events {
		who := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			who += "@" + e.Origin
		}
		out = append(out, fmt.Sprintf("  %s  %-17s %s  %s", fmtTime(e.At), e.Kind, who, oneLine(string(e.Detail))))
	}
	if len(d.Events) == 0 {
		out = append(out, "  none")
	}
	return out
}

// timelineLines renders the journal as an incident timeline.
func timelineLines(t *ops.Timeline) []string {
	var out []string
	head := fmt.Sprintf("Window %s to %s UTC · %s · %d events", fmtTime(t.Since), fmtClock(t.Until), scopeName(t.Org), t.Events)
	if t.Truncated {
		head += " (only the newest)"
	}
	out = append(out, head)
	s := &t.Summary
	sum := fmt.Sprintf("Faults %d on %d items · quarantined %d (by operators %d) · released %d · repaired %d · stalls %d detected, %d cleared",
		s.Faults, s.FaultyItems, s.Quarantined, s.QuarantinedByOps, s.Released, s.Repaired, s.StallsDetected, s.StallsCleared)
	if s.Drills > 0 {
		sum += fmt.Sprintf(" · drills %d", s.Drills)
	}
	if s.RevisionsDeleted > 0 {
		sum += fmt.Sprintf(" · revisions deleted %d", s.RevisionsDeleted)
	}
	if len(s.Operators) > 0 {
		sum += " · operators " + strings.Join(s.Operators, ", ")
	}
	out = append(out, sum)
	for _, sp := range s.Stalls {
		if sp.To != nil {
			out = append(out, fmt.Sprintf("Stall %s/%s (%s): %s to %s, %s", sp.Org, sp.Queue, sp.Cause, fmtClock(sp.From),
				fmtClock(*sp.To), fmtDur(time.Duration(sp.Seconds*float64(time.Second)))))
		} else {
			out = append(out, fmt.Sprintf("Stall %s/%s (%s): since %s, still open", sp.Org, sp.Queue, sp.Cause, fmtClock(sp.From)))
		}
	}
	out = append(out, "")
	if len(t.Entries) == 0 {
		return append(out, "Nothing happened in this window.")
	}
	for _, e := range t.Entries {
		when := fmtClock(e.At)
		if e.Until != nil {
			when += "–" + fmtClock(*e.Until)
		}
		where := e.Org
		if e.Queue != "" {
			where += "/" + e.Queue
		}
		who := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			who += "@" + e.Origin
		}
		out = append(out, fmt.Sprintf("%s  %s  %s  (%s)", when, where, oneLine(e.Summary), who))
	}
	return out
}

// planLines renders a repair plan: every item with its source and verdict.
func planLines(p *ops.RepairPlan, scope string) []string {
	var out []string
	out = append(out, fmt.Sprintf("%d items in %s: %d repairable (%d from a fallback source), %d cannot be repaired",
		len(p.Items), scope, p.Repairable, p.Fallbacks, p.Unfixable))
	out = append(out, "Source journal is the exact lost attributes; earlier_revision and defaults are flagged fallbacks.")
	out = append(out, "")
	for _, it := range p.Items {
		src := it.Source
		if it.Fallback {
			src += " (FALLBACK)"
		}
		if it.SourceRevisionID != 0 {
			src += fmt.Sprintf(" rev %d", it.SourceRevisionID)
		}
		verdict := "valid"
		if !it.Valid {
			verdict = "INVALID: " + it.Error
		}
		attrs := oneLine(string(it.Attributes))
		if attrs == "" {
			attrs = "-"
		}
		out = append(out, fmt.Sprintf("item %s  %s/%s  %s  %s  source %s  verdict %s  attributes %s",
			it.Item, it.Org, it.Queue, it.State, it.Cause, src, verdict, attrs))
	}
	return out
}
