package present

import (
	"fmt"
	"strings"
	"time"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// TimelineLines render an incident timeline as plain lines for a
// terminal: the window, a summary of what happened in it, each stall with
// how long it lasted, then one line per entry (oldest first) with when,
// where, what and who. The Markdown form for a postmortem is
// ops.Timeline.Markdown.
func TimelineLines(t *ops.Timeline) []string {
	head := fmt.Sprintf("Window %s to %s · %s · %d events", Time(t.Since), Clock(t.Until), Scope(t.Org), t.Events)
	if t.Truncated {
		head += " (only the newest)"
	}
	out := []string{head, timelineSummary(&t.Summary)}
	for _, sp := range t.Summary.Stalls {
		where := Line(sp.Org + "/" + sp.Queue)
		if sp.To != nil {
			out = append(out, fmt.Sprintf("Stall %s (%s): %s to %s, %s", where, Line(sp.Cause), Clock(sp.From),
				Clock(*sp.To), Duration(time.Duration(sp.Seconds*float64(time.Second)))))
		} else {
			out = append(out, fmt.Sprintf("Stall %s (%s): since %s, still open", where, Line(sp.Cause), Clock(sp.From)))
		}
	}
	out = append(out, "")
	if len(t.Entries) == 0 {
		return append(out, "Nothing happened in this window.")
	}
	for _, e := range t.Entries {
		when := Clock(e.At)
		if e.Until != nil {
			when += "–" + Clock(*e.Until)
		}
		where := e.Org
		if e.Queue != "" {
			where += "/" + e.Queue
		}
		who := EventWho(router.Event{Actor: e.Actor, Origin: e.Origin, DBUser: e.DBUser, At: e.At, RecordedAt: e.RecordedAt})
		out = append(out, fmt.Sprintf("%s  %s  %s  (%s)", when, Line(where), Line(e.Summary), who))
	}
	return out
}

// timelineSummary is the timeline's counts on one line.
func timelineSummary(s *ops.TimelineSummary) string {
	sum := fmt.Sprintf("Faults %d on %d items · quarantined %d (by operators %d) · released %d · repaired %d · stalls %d detected, %d cleared",
		s.Faults, s.FaultyItems, s.Quarantined, s.QuarantinedByOps, s.Released, s.Repaired, s.StallsDetected, s.StallsCleared)
	if s.Drills > 0 {
		sum += fmt.Sprintf(" · drills %d", s.Drills)
	}
	if s.RevisionsDeleted > 0 {
		sum += fmt.Sprintf(" · revisions deleted %d", s.RevisionsDeleted)
	}
	if len(s.Operators) > 0 {
		sum += " · operators " + Line(strings.Join(s.Operators, ", "))
	}
	return sum
}
