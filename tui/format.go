package tui

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Formatting helpers. Everything here works on plain text (no escape
// sequences) and is cheap: the hot paths are the ASCII fast paths.

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// width is the display width of plain text.
func width(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return ansi.StringWidth(s)
}

// trunc cuts s to at most w cells, ending with "…" when it was cut.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if isASCII(s) {
		if len(s) <= w {
			return s
		}
		if w == 1 {
			return "…"
		}
		return s[:w-1] + "…"
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// padRight left-aligns s in exactly w cells.
func padRight(s string, w int) string {
	s = trunc(s, w)
	n := width(s)
	if n >= w {
		return s
	}
	return s + strings.Repeat(" ", w-n)
}

// padLeft right-aligns s in exactly w cells.
func padLeft(s string, w int) string {
	s = trunc(s, w)
	n := width(s)
	if n >= w {
		return s
	}
	return strings.Repeat(" ", w-n) + s
}

// appendCell writes s into b aligned in w cells, followed by a separator
// space unless last.
func appendCell(b *strings.Builder, s string, w int, right, last bool) {
	if right {
		b.WriteString(padLeft(s, w))
	} else {
		b.WriteString(padRight(s, w))
	}
	if !last {
		b.WriteByte(' ')
	}
}

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

// oneLine flattens whitespace so that an error or a JSON value never
// breaks the layout.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// wrap breaks plain lines to at most w cells each.
func wrap(lines []string, w int) []string {
	if w <= 0 {
		return nil
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if width(l) <= w {
			out = append(out, l)
			continue
		}
		wrapped := ansi.Wrap(l, w, " ,")
		out = append(out, strings.Split(wrapped, "\n")...)
	}
	return out
}

// clamp keeps v in [lo, hi] (lo wins when hi < lo).
func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// stripStyle drops escape sequences, for measuring styled text.
func stripStyle(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansi.Strip(s)
}

// truncStyled cuts styled text to w cells, keeping its escape sequences.
func truncStyled(s string, w int) string { return ansi.Truncate(s, w, "…") }
