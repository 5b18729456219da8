package present

import (
	"fmt"
	"strings"

	"github.com/routeops/routeops/ops"
)

// sparks are a chart's eight heights.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as one line of block characters, scaled to the
// largest; zero is the lowest block.
func Sparkline(values []float64) string {
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if top > 0 && v > 0 {
			i = min(int(v/top*float64(len(sparks)-1)+0.5), len(sparks)-1)
			i = max(i, 1)
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// ChartLines draw a queue's waiting conversations and oldest wait over
// time, each with its peak.
func ChartLines(c ops.ImpactChart) []string {
	waiting := make([]float64, len(c.Points))
	oldest := make([]float64, len(c.Points))
	peakW, peakO := 0, 0.0
	for i, p := range c.Points {
		waiting[i], oldest[i] = float64(p.Waiting), p.OldestWaitSeconds
		peakW, peakO = max(peakW, p.Waiting), max(peakO, p.OldestWaitSeconds)
	}
	return []string{
		fmt.Sprintf("waiting     %s  peak %s", Sparkline(waiting), Count(peakW)),
		fmt.Sprintf("oldest wait %s  peak %s", Sparkline(oldest), Age(peakO)),
	}
}

func minutes(m float64) string { return fmt.Sprintf("%.1f", m) }

func stallText(ws []ops.StallWindow) string {
	if len(ws) == 0 {
		return "-"
	}
	parts := make([]string, 0, min(len(ws), 3))
	for i, w := range ws {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(ws)-3))
			break
		}
		to := "not cleared"
		if w.To != nil {
			to = Clock(*w.To)
		}
		parts = append(parts, fmt.Sprintf("%s %s %s→%s", Line(w.Queue), Line(w.Cause), Clock(w.From), to))
	}
	return strings.Join(parts, "; ")
}

// ImpactHeader is the report's first lines.
func ImpactHeader(r *ops.ImpactReport) []string {
	s := r.Summary
	return []string{
		fmt.Sprintf("Impact from %s to %s, SLA %s", Time(r.Since), Time(r.Until), Age(r.SLASeconds)),
		fmt.Sprintf("%s affected; %s of %s over the SLA; %s customer-minutes; longest wait %s; %s quarantined, %s repaired; %s",
			plural(s.OrgsAffected, "org"), Count(s.ItemsOverSLA), plural(s.Conversations, "conversation"),
			minutes(s.CustomerMinutes), Age(s.MaxWaitSeconds), Count(s.Quarantined), Count(s.Repaired),
			plural(s.StallWindows, "stall window")),
	}
}

// ImpactRow is an org's or a queue's row of the table.
func ImpactRow(name string, f ops.ImpactFigures) []string {
	return []string{Line(name), Count(f.Conversations), Count(f.ItemsOverSLA), Age(f.MaxWaitSeconds), Age(f.P50WaitSeconds),
		Age(f.P95WaitSeconds), minutes(f.CustomerMinutes), Count(f.Quarantined), Count(f.Repaired), stallText(f.StallWindows)}
}

// ImpactHeaders are the columns of ImpactRow.
var ImpactHeaders = []string{"ORG / QUEUE", "CONVERSATIONS", "OVER SLA", "MAX", "P50", "P95", "CUST-MIN", "QUAR", "REPAIRED", "STALLS"}

// ImpactMarkdown renders the report for a postmortem: the summary, a table
// of the affected orgs and their queues, the items quarantined and
// repaired, and a small chart of the most affected queues.
func ImpactMarkdown(r *ops.ImpactReport) []string {
	out := []string{"# Impact", ""}
	for _, l := range ImpactHeader(r) {
		out = append(out, l, "")
	}
	out = append(out, "| "+strings.Join(ImpactHeaders, " | ")+" |", strings.Repeat("|---", len(ImpactHeaders))+"|")
	unaffected := 0
	for _, o := range r.Orgs {
		if !o.Affected {
			unaffected++
			continue
		}
		out = append(out, mdRow(ImpactRow("**"+o.Org+"**", o.ImpactFigures)))
		for _, q := range o.Queues {
			out = append(out, mdRow(ImpactRow(o.Org+"/"+q.Queue, q.ImpactFigures)))
		}
	}
	if unaffected > 0 {
		out = append(out, "", fmt.Sprintf("%s not affected.", plural(unaffected, "more org")))
	}
	for _, o := range r.Orgs {
		if len(o.QuarantinedItems)+len(o.RepairedItems) == 0 {
			continue
		}
		out = append(out, "", "## "+Line(o.Org)+": items quarantined and repaired", "")
		for _, it := range o.QuarantinedItems {
			out = append(out, fmt.Sprintf("- quarantined item %s (%s, now %s) waited %s", Line(it.Item), Line(it.Queue), Line(it.State), Age(it.WaitSeconds)))
		}
		for _, it := range o.RepairedItems {
			out = append(out, fmt.Sprintf("- repaired item %s (%s, now %s) waited %s", Line(it.Item), Line(it.Queue), Line(it.State), Age(it.WaitSeconds)))
		}
	}
	if len(r.Charts) > 0 {
		out = append(out, "", "## The most affected queues over the window", "")
		for _, c := range r.Charts {
			out = append(out, "```", "queue "+Line(c.Org)+"/"+Line(c.Queue))
			out = append(out, ChartLines(c)...)
			out = append(out, "```")
		}
	}
	return out
}

// mdRow is a markdown table row; a cell's pipes are escaped.
func mdRow(cells []string) string {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// ImpactStatus is the report in one line, for a status bar.
func ImpactStatus(r *ops.ImpactReport) string {
	s := r.Summary
	return fmt.Sprintf("impact: %s affected, %s over the SLA, %s customer-minutes",
		plural(s.OrgsAffected, "org"), plural(s.ItemsOverSLA, "conversation"), minutes(s.CustomerMinutes))
}

// SetPlanTitle is the title over a bulk action's plan in the console.
func SetPlanTitle(p *ops.SetPlan, org string) string {
	if p == nil {
		return "Plan (nothing changes until you confirm)"
	}
	return fmt.Sprintf("%s plan for %s (nothing changes until you confirm)", p.Action, Scope(org))
}
