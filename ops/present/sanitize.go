package present

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/routeops/routeops/ops/internal/text"
)

// Forbidden reports whether r is never emitted raw: a C0 or C1 control,
// DEL, a bidi or direction mark, or a line or paragraph separator.
func Forbidden(r rune) bool { return text.Forbidden(r) }

// Text sanitizes multi-line untrusted text: forbidden runes and bytes that
// are not UTF-8 are escaped (\x1b, \u202e); newlines and tabs are kept.
func Text(s string) string { return text.Text(s) }

// Line sanitizes untrusted text for one line (a table cell, a status
// line, an error): like Text, and every run of blanks that holds a tab,
// newline or carriage return becomes one space.
func Line(s string) string { return text.Line(s) }

// Cap is Text of at most maxBytes bytes of s (never splitting a rune),
// followed by "… N bytes more" when s was longer.
func Cap(s string, maxBytes int) string { return text.Cap(s, maxBytes) }

// LineCap is Line of at most maxBytes bytes of s, with the same marker.
func LineCap(s string, maxBytes int) string { return text.LineCap(s, maxBytes) }

// Width is the number of terminal cells Line(s) takes.
func Width(s string) int { return ansi.StringWidth(Line(s)) }

// Clip is Line(s) cut to at most cells terminal cells, ending with "…"
// when it was cut. It measures the sanitized text, so a row laid out
// with it never loses a column to an escape.
func Clip(s string, cells int) string {
	if cells <= 0 {
		return ""
	}
	l := Line(s)
	if ansi.StringWidth(l) <= cells {
		return l
	}
	return ansi.Truncate(l, cells, "…")
}

// JSON writes v as indented JSON (two spaces, a trailing newline) with
// every forbidden rune escaped as \uXXXX, DEL and C1 controls included,
// which encoding/json leaves raw. Nothing is truncated.
func JSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(EscapeJSON(buf.Bytes()))
	return err
}

// EscapeJSON escapes the forbidden runes left in JSON as encoding/json
// writes it (structural whitespace is spaces, tabs, newlines and carriage
// returns, which are kept): DEL, the C1 controls, the bidi marks and the
// separators become \uXXXX, any other control byte \u00XX, and a byte that
// is not UTF-8 \ufffd. Such runes can only stand inside strings, where
// these escapes are valid, so the document's meaning is unchanged.
func EscapeJSON(b []byte) []byte {
	clean := true
	for _, c := range b {
		if c >= 0x7f || c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	const hex = "0123456789abcdef"
	esc := func(r rune) {
		out = append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f {
				esc(rune(c))
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			esc(utf8.RuneError)
		case Forbidden(r):
			esc(r)
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
