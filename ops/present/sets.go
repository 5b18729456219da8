package present

import (
	"fmt"
	"strings"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// verbed is the past tense of a bulk action.
func verbed(action string) string {
	switch action {
	case ops.SetQuarantine:
		return "quarantined"
	case ops.SetRelease:
		return "released"
	case ops.SetRepair:
		return "repaired"
	}
	return action + " done"
}

// SetPlanLines render a bulk action's plan: how many, by org and queue,
// the first rows, and what is held back or resumed. Printed before any
// change is made.
func SetPlanLines(p *ops.SetPlan) []string {
	out := []string{fmt.Sprintf("%s %s (selected: %s)", strings.ToUpper(p.Action[:1])+p.Action[1:],
		plural(p.Total, "item"), Line(p.Selector))}
	if p.Operation != "" {
		out = append(out, fmt.Sprintf("continues operation %s, which already %s %s", Line(p.Operation), verbed(p.Action),
			plural(p.Done, "item")))
	}
	if p.Held > 0 {
		out = append(out, fmt.Sprintf("%s left alone: their revision is still missing, oversized or invalid (repair them, or --force)",
			plural(p.Held, "item")))
	}
	if p.Total == 0 {
		return out
	}
	out = append(out, "", "ORG / QUEUE  ITEMS")
	for i, g := range p.Groups {
		if i == 20 {
			out = append(out, fmt.Sprintf("… and %d more queues", len(p.Groups)-20))
			break
		}
		out = append(out, fmt.Sprintf("%s/%s  %s", Line(g.Org), Line(g.Queue), Count(g.N)))
	}
	if len(p.First) == 0 {
		return out
	}
	out = append(out, "", "first items:")
	for _, it := range p.First {
		out = append(out, fmt.Sprintf("  %s  %s/%s  %s  enqueued %s", router.FormatItemID(it.ID), Line(it.OrgID),
			Line(it.QueueID), Line(string(it.State)), Time(it.EnqueuedAt)))
	}
	if p.Total > len(p.First) {
		out = append(out, fmt.Sprintf("  … and %s more", Count(p.Total-len(p.First))))
	}
	return out
}

// AskSet is the confirmation question of a bulk action.
func AskSet(p *ops.SetPlan) string {
	return fmt.Sprintf("%s %s?", strings.ToUpper(p.Action[:1])+p.Action[1:], plural(p.Total, "item"))
}

// NothingSelected says that a selection matched nothing, so nothing
// changed.
func NothingSelected(p *ops.SetPlan) string {
	return fmt.Sprintf("no items to %s match (%s); nothing changed", p.Action, Line(p.Selector))
}

// SetReportLines render what a bulk action did.
func SetReportLines(r *ops.SetReport) []string {
	var out []string
	head := fmt.Sprintf("%s %s", verbed(r.Action), plural(r.Changed, "item"))
	if r.Operation != "" {
		head += " (operation " + Line(r.Operation)
		if r.Resumed {
			head += ", continued"
		}
		head += ")"
	}
	out = append(out, head)
	if r.Done > 0 {
		out = append(out, fmt.Sprintf("%s by earlier runs of this operation", plural(r.Done, "item")+" "+verbed(r.Action)))
	}
	if r.Skipped > 0 {
		out = append(out, fmt.Sprintf("%s skipped: no longer matching when applied (changed since the plan)", plural(r.Skipped, "item")))
	}
	if r.Held > 0 {
		out = append(out, fmt.Sprintf("%s left alone: revision still missing, oversized or invalid", plural(r.Held, "item")))
	}
	if r.Failed > 0 {
		out = append(out, fmt.Sprintf("%s could not be repaired", plural(r.Failed, "item")))
	}
	if r.Interrupted {
		out = append(out, "interrupted: run the same command again to continue the operation")
	}
	for i, g := range r.Groups {
		if i == 20 {
			out = append(out, fmt.Sprintf("  … and %d more queues", len(r.Groups)-20))
			break
		}
		out = append(out, fmt.Sprintf("  %s/%s  %s", Line(g.Org), Line(g.Queue), Count(g.N)))
	}
	if r.Repair != nil {
		out = append(out, RepairSummary(r.Repair))
	}
	return out
}

// HeldBack is the error of a release that left items alone.
func HeldBack(n int) string {
	return fmt.Sprintf("%s left alone: their revision is still missing, oversized or invalid; repair them first, or release with --force",
		plural(n, "item"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return Count(n) + " " + word + "s"
}

// TeamRow is one row of teams list: org, team, status, and who paused it,
// why and since when.
func TeamRow(t router.Team) []string {
	since := ""
	if t.Pause.At != nil {
		since = Time(*t.Pause.At)
	}
	return []string{Line(t.OrgID), Line(t.ID), Line(string(t.Status)), LineCap(t.Pause.By, 40), LineCap(t.Pause.Reason, 80), since}
}

// TeamHeaders are the columns of TeamRow.
var TeamHeaders = []string{"ORG", "TEAM", "STATUS", "PAUSED BY", "REASON", "SINCE"}

// AgentRow is one row of agents list.
func AgentRow(a router.Agent) []string {
	return []string{Line(a.OrgID), Line(a.ID), Line(a.TeamID), Line(string(a.Status)), Ratio(a.Load, a.Capacity),
		LineCap(strings.Join(a.Skills, ","), 60)}
}

// AgentNote is what the console shows after an agent's load: its skills,
// after "team paused" when its team is.
func AgentNote(a router.Agent) string {
	skills := strings.Join(a.Skills, ",")
	if a.TeamStatus == router.TeamPaused {
		skills = "team paused · " + skills
	}
	return skills
}

// AgentHeaders are the columns of AgentRow.
var AgentHeaders = []string{"ORG", "AGENT", "TEAM", "STATUS", "LOAD", "SKILLS"}

// ActionOutcome is the sentence for a team or agent change.
func ActionOutcome(r router.ActionResult) string {
	msg := Line(r.Message)
	if !r.Changed {
		msg += "; nothing changed"
	}
	return msg
}

// AskTeam is the question before a team pause or resume.
func AskTeam(org, team string, st router.TeamStatus, reason string) string {
	if st == router.TeamPaused {
		return fmt.Sprintf("Pause team %s/%s (%s)? Its agents take no work until it is resumed.", Line(org), Line(team), LineCap(reason, 80))
	}
	return fmt.Sprintf("Resume team %s/%s?", Line(org), Line(team))
}

// AskAgent is the question before an agent status change.
func AskAgent(org, agent string, st router.AgentStatus) string {
	return fmt.Sprintf("Set agent %s/%s %s?", Line(org), Line(agent), Line(string(st)))
}

// AskTimedPause is the question before a pause with a reason.
func AskTimedPause(ref router.QueueRef, reason string, d time.Duration) string {
	s := fmt.Sprintf("Pause queue %s (%s)", Line(ref.String()), LineCap(reason, 80))
	if d > 0 {
		s += " for " + Duration(d)
	}
	return s + "? Nothing is routed from it until it is resumed."
}
