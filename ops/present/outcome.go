package present

import (
	"fmt"
	"strings"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/internal/text"
	"github.com/routeops/routeops/router"
)

// Error explains an error to an operator on one line: the store's error
// class prefixes ("not found: ", "conflict: ") dropped, the rest
// sanitized. Both faces show every error through it.
func Error(err error) string { return Line(text.Explain(err)) }

// Outcome is the sentence for one item an action touched: the store's own
// message ("item 1042 quarantined"), with "; nothing changed" when it was
// already so, or "quarantine of item 1042 refused: …".
func Outcome(verb string, o ops.Outcome) string {
	if !o.OK {
		return fmt.Sprintf("%s of item %s refused: %s", verb, Line(o.Item), Line(o.Message))
	}
	msg := Line(o.Message)
	if msg == "" {
		msg = fmt.Sprintf("item %s %s", Line(o.Item), verb)
	}
	if !o.Changed {
		msg += "; nothing changed"
	}
	return msg
}

// Refusals sums up the refused items of a bulk action.
func Refusals(failed, total int) string {
	return fmt.Sprintf("%d of %d items refused; see above", failed, total)
}

// Cancelled is what a face says when the operator answered no.
func Cancelled(action string) string { return action + " cancelled; nothing changed" }

// PauseOutcome is the sentence for a pause or resume.
func PauseOutcome(ref router.QueueRef, paused bool, r router.ActionResult) string {
	msg := Line(r.Message)
	if msg == "" {
		verb := ops.ActionResume
		if paused {
			verb = ops.ActionPause
		}
		msg = fmt.Sprintf("queue %s: %s done", Line(ref.String()), verb)
	}
	if !r.Changed {
		msg += "; nothing changed"
	}
	return msg
}

// DrillOutcome is the sentence for an injected drill, naming up to five
// of the items it broke.
func DrillOutcome(kind, org string, ids []int64) string {
	if len(ids) == 0 {
		return fmt.Sprintf("drill %s on %s: no queued items to break", Line(kind), Line(org))
	}
	return fmt.Sprintf("drill %s injected on %s: %d items %s", Line(kind), Line(org), len(ids), idList(ids, 5))
}

// idList is "(1, 2, 3)", with "…" after max ids.
func idList(ids []int64, max int) string {
	parts := make([]string, 0, min(len(ids), max)+1)
	for i, id := range ids {
		if i == max {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, router.FormatItemID(id))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// RepairLines report an applied repair: what was repaired and returned to
// its queue, each item left untouched and why, and the verify verdict.
func RepairLines(rep *ops.RepairReport) []string {
	out := []string{fmt.Sprintf("repaired %d item(s), %d back in their queues; %d left untouched", rep.Repaired, rep.Released, rep.Skipped)}
	for _, oc := range rep.Outcomes {
		if !oc.Repaired {
			out = append(out, fmt.Sprintf("  item %d: not repaired: %s", oc.ItemID, Line(oc.Reason)))
		}
	}
	return append(out, verifyVerdict(rep))
}

// RepairSummary is an applied repair on one line, for a status line:
// "repair: 2 repaired (2 back in their queue), 0 skipped; verify clean".
func RepairSummary(rep *ops.RepairReport) string {
	s := fmt.Sprintf("repair: %d repaired (%d back in their queue), %d skipped; ", rep.Repaired, rep.Released, rep.Skipped)
	if rep.VerifyOK {
		return s + "verify clean"
	}
	return s + verifyVerdict(rep)
}

// verifyVerdict says what verify found after a repair: in the repair's org
// when it was scoped to one, with the other orgs' findings counted apart
// (they are not this repair's).
func verifyVerdict(rep *ops.RepairReport) string {
	scope, other := "", ""
	if rep.VerifyOrg != "" {
		scope = " in " + Line(rep.VerifyOrg)
	}
	if rep.OtherFindings > 0 {
		other = fmt.Sprintf(" (%d finding(s) in other orgs, not this repair's: `routeops verify` lists them)", rep.OtherFindings)
	}
	switch {
	case rep.VerifyOK:
		return "verify: clean" + scope + other
	case rep.Verify != nil:
		return fmt.Sprintf("verify: %d finding(s)%s; run `routeops verify` for details%s", len(rep.Verify.Findings), scope, other)
	}
	return "verify: not run"
}

// NothingToRepair is what repair says when every live item's current
// revision is present and valid.
func NothingToRepair(org string) string {
	return "nothing to repair in " + Scope(org) + ": every live item's current revision is present and valid"
}

// NoneRepairable is what repair says of a plan whose items have no
// surviving copy; retry is how the face asks for the repair with
// defaults ("--allow-defaults", ":repair o1 --allow-defaults").
func NoneRepairable(p *ops.RepairPlan, retry string) string {
	return fmt.Sprintf("repair: none of the %d items can be repaired from a surviving copy; %s rebuilds them from defaults",
		len(p.Items), retry)
}

// The questions both faces ask before a change. The CLI adds " [y/N] ",
// the console " y/N". desc, when given, says what the target is.

// AskQuarantine asks before quarantining items.
func AskQuarantine(ids []int64, desc, reason string) string {
	return fmt.Sprintf("Quarantine %s? reason: %s", itemsWithDesc(ids, desc), Line(reason))
}

// AskRelease asks before releasing items.
func AskRelease(ids []int64, desc string) string {
	if len(ids) == 1 {
		return fmt.Sprintf("Release %s back to its queue, in its original place?", itemsWithDesc(ids, desc))
	}
	return fmt.Sprintf("Release %s back to their queues, in their original places?", itemsWithDesc(ids, desc))
}

// AskForcedRelease asks before releasing items even when their current
// revision is still broken (release --force).
func AskForcedRelease(ids []int64, desc string) string {
	return "FORCE: " + strings.TrimSuffix(AskRelease(ids, desc), "?") + ", even with a missing or invalid revision?"
}

// OnlyFallbacks says that every repairable item has only a fallback
// source, which apply uses only when allowed; retry is the command that
// allows it.
func OnlyFallbacks(p *ops.RepairPlan, retry string) string {
	return fmt.Sprintf("repair: the %d repairable items have only a fallback source (an earlier revision or an unverified "+
		"journal copy); %s applies it", p.NeedOptIn, retry)
}

func itemsWithDesc(ids []int64, desc string) string {
	s := fmt.Sprintf("%d items %s", len(ids), idList(ids, 10))
	if len(ids) == 1 {
		s = "item " + router.FormatItemID(ids[0])
	}
	if desc != "" {
		s += " (" + Line(desc) + ")"
	}
	return s
}

// AskPause asks before pausing or resuming a queue; depth is its waiting
// items, or negative when unknown.
func AskPause(ref router.QueueRef, pause bool, depth int) string {
	q := Line(ref.String())
	switch {
	case !pause:
		return fmt.Sprintf("Resume queue %s? Routing starts again.", q)
	case depth < 0:
		return fmt.Sprintf("Pause queue %s? Routing stops from it until resumed.", q)
	}
	return fmt.Sprintf("Pause queue %s? Routing stops for its %d waiting items until resumed.", q, depth)
}

// AskPauseReason is AskPause for a pause that says why.
func AskPauseReason(ref router.QueueRef, depth int, reason string) string {
	return AskPause(ref, true, depth) + " reason: " + LineCap(reason, 80)
}

// AskRepair asks before applying a repair plan.
func AskRepair(p *ops.RepairPlan) string {
	s := fmt.Sprintf("Apply repair to %d items", p.Repairable)
	if p.Fallbacks > 0 {
		s += fmt.Sprintf(" (%d from a fallback source)", p.Fallbacks)
	}
	if p.Unfixable > 0 {
		s += fmt.Sprintf("; %d cannot be repaired and stay untouched", p.Unfixable)
	}
	if p.NeedOptIn > 0 && !p.AllowFallback {
		s += fmt.Sprintf("; %d have only a fallback source and stay untouched without --allow-fallback", p.NeedOptIn)
	}
	return s + "?"
}

// AskDrill asks before injecting a drill.
func AskDrill(kind, org string, count int) string {
	what := "delete the revisions of"
	if kind == ops.DrillCorruptRevisions {
		what = "corrupt"
	}
	return fmt.Sprintf("DRILL %s on %s: %s up to %d items?", Line(kind), Line(org), what, count)
}

// AskCleanup asks before an applied cleanup.
func AskCleanup(maxRows int, olderThan time.Duration, batch int) string {
	return fmt.Sprintf("Delete up to %d unreferenced revisions older than %s, in batches of %d?", maxRows, olderThan, batch)
}
