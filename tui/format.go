package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/routeops/routeops/ops/present"
)

// Layout helpers. Every cell is untrusted text: trunc and width work on
// it as present's sanitizer leaves it (present.Clip, present.Width), so a
// control character or a bidi mark is shown escaped and measured as
// shown, and a row never loses a column to it. The hot paths are the
// printable-ASCII fast paths, where sanitizing changes nothing.

// printable reports whether s is printable ASCII only: text the sanitizer
// leaves as it is, one cell a byte.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// width is the display width of s once sanitized.
func width(s string) int {
	if printable(s) {
		return len(s)
	}
	return present.Width(s)
}

// trunc is s sanitized on one line and cut to at most w cells, ending
// with "…" when it was cut.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if printable(s) {
		if len(s) <= w {
			return s
		}
		if w == 1 {
			return "…"
		}
		return s[:w-1] + "…"
	}
	return present.Clip(s, w)
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

// wrap sanitizes lines (present.Line) and breaks them to at most w cells
// each.
func wrap(lines []string, w int) []string {
	if w <= 0 {
		return nil
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if !printable(l) {
			l = present.Line(l)
		}
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

// scrollTo moves a window of rows over a list so that the cursor shows.
func scrollTo(cursor, offset, rows int) int {
	if rows <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+rows {
		offset = cursor - rows + 1
	}
	return max(offset, 0)
}
