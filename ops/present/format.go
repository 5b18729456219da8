package present

import (
	"time"

	"github.com/routeops/routeops/ops/internal/text"
)

// Age renders an age in seconds in at most five cells: 45s, 9m59s, 15m,
// 9h59m, 23h, 12d. Zero or less is "-" (no age).
func Age(sec float64) string { return text.Age(sec) }

// Duration renders a span like Age; under a second it is "0s".
func Duration(d time.Duration) string { return text.Duration(d) }

// Time renders an instant in UTC with a trailing Z: 2026-11-28 15:04:05Z.
func Time(t time.Time) string { return text.Time(t) }

// Clock renders a time of day in UTC with a trailing Z: 15:04:05Z.
func Clock(t time.Time) string { return text.Clock(t) }

// Count renders a count in at most six cells: 999999, 1234k, 12M.
func Count(n int) string { return text.Count(n) }

// Ratio renders "a/b" with both counts as Count does.
func Ratio(a, b int) string { return Count(a) + "/" + Count(b) }

// Scope names the orgs an action or a view covers: the org, or "all orgs".
func Scope(org string) string {
	if org == "" {
		return "all orgs"
	}
	return Line(org)
}
