// Package text is the implementation behind ops/present's sanitizer and
// formats. It is a package of its own only because ops itself needs the
// same words (the monitor's reasons, the timeline's Markdown, the
// explanation of a store error in an outcome) and ops/present imports ops.
// The faces never import it: they call ops/present, which documents every
// function here.
package text

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/routeops/routeops/router"
)

// Forbidden reports whether r must never reach a terminal raw: the C0
// controls, DEL, the C1 controls, the bidi and direction marks (U+061C,
// U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line and paragraph
// separators (U+2028, U+2029). The set is router.UnsafeRune's, the one the
// stores also refuse in ids.
func Forbidden(r rune) bool { return router.UnsafeRune(r) }

const hexDigits = "0123456789abcdef"

// escapeRune writes r as \xNN (below U+0080) or \uNNNN.
func escapeRune(b *strings.Builder, r rune) {
	if r < 0x80 {
		b.WriteString(`\x`)
		b.WriteByte(hexDigits[r>>4])
		b.WriteByte(hexDigits[r&0xf])
		return
	}
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>uint(shift))&0xf])
	}
}

// escapeByte writes a byte that is not valid UTF-8 as \xNN.
func escapeByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

// clean reports whether s needs no escaping: printable text (ASCII, or
// UTF-8 with no forbidden rune), plus tabs and newlines when keep is set.
// Clean text is returned as it is, without a copy.
func clean(s string, keep bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f, keep && (c == '\n' || c == '\t'):
			i++
			continue
		case c < utf8.RuneSelf:
			return false
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || Forbidden(r) {
			return false
		}
		i += n
	}
	return true
}

// Text escapes every forbidden rune of s, and every byte that is not valid
// UTF-8, keeping newlines and tabs: for multi-line text.
func Text(s string) string {
	if clean(s, true) {
		return s
	}
	return sanitize(s, true)
}

// Line is Text for one line: every run of blanks that holds a tab, a
// newline or a carriage return becomes one space, so a value can never
// break a row; other forbidden runes are escaped.
func Line(s string) string {
	if clean(s, false) {
		return s
	}
	return sanitize(s, false)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func sanitize(s string, multiline bool) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if !multiline && isBlank(c) {
			j, ctl := i, false
			for j < len(s) && isBlank(s[j]) {
				ctl = ctl || s[j] != ' '
				j++
			}
			if ctl {
				b.WriteByte(' ')
			} else {
				b.WriteString(s[i:j])
			}
			i = j
			continue
		}
		if c < utf8.RuneSelf {
			if c >= 0x20 && c < 0x7f || multiline && (c == '\n' || c == '\t') {
				b.WriteByte(c)
			} else {
				escapeRune(&b, rune(c))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			escapeByte(&b, c)
		case Forbidden(r):
			escapeRune(&b, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// cut returns the longest prefix of s of at most max bytes that does not
// split a rune, and how many bytes are left out.
func cut(s string, max int) (string, int) {
	if max < 0 {
		max = 0
	}
	if len(s) <= max {
		return s, 0
	}
	end := max
	// Back off to a rune start; at most three bytes (a rune is at most four).
	for back := 0; end > 0 && back < 3 && !utf8.RuneStart(s[end]); back++ {
		end--
	}
	return s[:end], len(s) - end
}

// More is the marker after a capped value.
func More(n int) string { return "… " + strconv.Itoa(n) + " bytes more" }

// Cap is Text of at most max bytes of s, followed by "… N bytes more"
// when s was longer. max counts the bytes of s, before escaping.
func Cap(s string, max int) string {
	head, rest := cut(s, max)
	if rest == 0 {
		return Text(s)
	}
	return Text(head) + More(rest)
}

// LineCap is Line of at most max bytes of s, with the same marker.
func LineCap(s string, max int) string {
	head, rest := cut(s, max)
	if rest == 0 {
		return Line(s)
	}
	return Line(head) + More(rest)
}

// Age renders seconds in at most 5 cells: 45s, 9m59s, 15m, 9h59m, 23h,
// 12d. Zero or less is "-" (no age).
func Age(sec float64) string {
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

// Duration renders a span in the same cells as Age; under a second it is
// "0s".
func Duration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return Age(d.Seconds())
}

// TimeLayout and ClockLayout are the one way times are written: UTC with a
// trailing Z.
const (
	TimeLayout  = "2006-01-02 15:04:05Z"
	ClockLayout = "15:04:05Z"
)

// Time renders an instant as 2006-01-02 15:04:05Z (UTC).
func Time(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Clock renders the time of day as 15:04:05Z (UTC).
func Clock(t time.Time) string { return t.UTC().Format(ClockLayout) }

// Count renders a count in at most 6 cells: 999999, 1234k, 12M.
func Count(n int) string {
	switch {
	case n < 1000000:
		return strconv.Itoa(n)
	case n < 1000000000:
		return strconv.Itoa(n/1000) + "k"
	default:
		return strconv.Itoa(n/1000000) + "M"
	}
}

// Explain renders a store or ops error for an operator: the "not found: "
// and "conflict: " prefixes of the store's error classes are dropped, the
// rest is the message. It does not sanitize; present.Error does.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, router.ErrNotFound.Error()+": ")
	return strings.TrimPrefix(msg, router.ErrConflict.Error()+": ")
}

// Login is the database login that wrote a journal entry, as it follows
// the claimed operator: " (login bob)"; "" when the store did not record
// one. The login is what the database saw; the operator, origin and time
// are what the writer claimed.
func Login(login string) string {
	if login == "" {
		return ""
	}
	return " (login " + Line(login) + ")"
}

// Recorded is when the store recorded an entry, shown when it differs from
// the time the writer claimed by more than a minute: " (recorded
// 2026-11-28 15:04:05Z)"; "" otherwise.
func Recorded(at time.Time, recorded *time.Time) string {
	if recorded == nil {
		return ""
	}
	if d := recorded.Sub(at); d > time.Minute || d < -time.Minute {
		return " (recorded " + Time(*recorded) + ")"
	}
	return ""
}
