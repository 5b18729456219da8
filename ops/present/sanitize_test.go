package present_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/routeops/routeops/ops/present"
)

// forbiddenIn returns the first forbidden rune or invalid byte in s.
func forbiddenIn(s string) (rune, bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return rune(s[i]), true
		}
		if present.Forbidden(r) {
			return r, true
		}
		i += n
	}
	return 0, false
}

func TestForbiddenSet(t *testing.T) {
	for _, r := range []rune{0, 0x07, 0x1b, 0x0a, 0x0d, 0x7f, 0x80, 0x9b, 0x9d, 0x9f, 0x061c, 0x200e, 0x200f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029} {
		if !present.Forbidden(r) {
			t.Errorf("U+%04X should be forbidden", r)
		}
	}
	for _, r := range []rune{' ', 'a', '~', 0xa0, 0xe9, 0x200d, 0x2030, 0x2065, 0x206a, '✖', '…', 0x1f600} {
		if present.Forbidden(r) {
			t.Errorf("U+%04X should be allowed", r)
		}
	}
}

func TestTextAndLine(t *testing.T) {
	cases := []struct{ in, text, line string }{
		{"plain org-0007", "plain org-0007", "plain org-0007"},
		{"", "", ""},
		{"\x1b]0;pwned\x07title", `\x1b]0;pwned\x07title`, `\x1b]0;pwned\x07title`},
		{"\x1b]52;c;cHduZWQ=\x07", `\x1b]52;c;cHduZWQ=\x07`, `\x1b]52;c;cHduZWQ=\x07`},
		{"clear\x1b[2J\x1b[H", `clear\x1b[2J\x1b[H`, `clear\x1b[2J\x1b[H`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"c1 \u009b31m \u009d", `c1 \u009b31m \u009d`, `c1 \u009b31m \u009d`},
		{"bidi \u202egnp.exe\u202c", `bidi \u202egnp.exe\u202c`, `bidi \u202egnp.exe\u202c`},
		{"isolates \u2066x\u2069 \u061c \u200e\u200f", `isolates \u2066x\u2069 \u061c \u200e\u200f`, `isolates \u2066x\u2069 \u061c \u200e\u200f`},
		{"sep\u2028para\u2029", `sep\u2028para\u2029`, `sep\u2028para\u2029`},
		{"two\nlines\tand tab", "two\nlines\tand tab", "two lines and tab"},
		{"crlf\r\nnext", `crlf\x0d` + "\nnext", "crlf next"},
		{"keeps  double  spaces", "keeps  double  spaces", "keeps  double  spaces"},
		{"{\n  \"a\": 1\n}", "{\n  \"a\": 1\n}", `{ "a": 1 }`},
		{"bad utf8 \xff\xfe end", `bad utf8 \xff\xfe end`, `bad utf8 \xff\xfe end`},
		{"raw c1 byte \x9b", `raw c1 byte \x9b`, `raw c1 byte \x9b`},
		{"unicode ✖ ▲ ● é 日本", "unicode ✖ ▲ ● é 日本", "unicode ✖ ▲ ● é 日本"},
	}
	for _, c := range cases {
		if got := present.Text(c.in); got != c.text {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.text)
		}
		if got := present.Line(c.in); got != c.line {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.line)
		}
	}
}

func TestCap(t *testing.T) {
	if got := present.Cap("short", 10); got != "short" {
		t.Fatalf("Cap under the limit: %q", got)
	}
	if got := present.Cap("0123456789abcdef", 10); got != "0123456789… 6 bytes more" {
		t.Fatalf("Cap: %q", got)
	}
	// Never splits a rune: é is two bytes.
	if got := present.Cap("aaaéééé", 4); got != "aaa… 8 bytes more" {
		t.Fatalf("Cap at a rune boundary: %q", got)
	}
	// Counts the bytes of the input, escapes what it keeps.
	if got := present.Cap("\x1b[31mred\x1b[0m", 5); got != `\x1b[31m… 7 bytes more` {
		t.Fatalf("Cap escapes: %q", got)
	}
	if got := present.LineCap("a\nb\nc\nd", 3); got != "a b… 4 bytes more" {
		t.Fatalf("LineCap: %q", got)
	}
	big := strings.Repeat("x", 10<<20)
	if got := present.LineCap(big, 4096); len(got) > 4096+40 || !strings.HasSuffix(got, "… 10481664 bytes more") {
		t.Fatalf("a 10 MB value capped to %d bytes ending %q", len(got), got[len(got)-30:])
	}
}

func TestClipMeasuresSanitizedText(t *testing.T) {
	if got := present.Clip("org-\x1b[31mred", 8); got != `org-\x1…` {
		t.Fatalf("Clip: %q", got)
	}
	if got := present.Clip("✖ CRIT", 10); got != "✖ CRIT" {
		t.Fatalf("Clip of a short value: %q", got)
	}
	if present.Width("a\x1bb") != 6 {
		t.Fatalf("Width counts the escape's cells: %d", present.Width("a\x1bb"))
	}
	if present.Clip("abc", 0) != "" {
		t.Fatal("Clip to 0 cells")
	}
}

func TestJSONEscapesTheSameSet(t *testing.T) {
	v := map[string]any{
		"org":    "org\x1b[2J\u009b\u202e\u2028\x7f",
		"reason": strings.Repeat("long ", 5000),
		"attrs":  json.RawMessage(`{"team": "t\u202e1", "n": 1}`),
		"bad":    "\xff",
	}
	var buf bytes.Buffer
	if err := present.JSON(&buf, v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if r, bad := forbiddenIn(strings.ReplaceAll(out, "\n", "")); bad {
		t.Fatalf("JSON emitted U+%04X raw:\n%q", r, out)
	}
	for _, want := range []string{`\u001b[2J`, `\u009b`, `\u202e`, `\u2028`, `\u007f`, `"t\u202e1"`, `\ufffd`, "{\n  \""} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %q:\n%s", want, out)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("escaped JSON does not decode: %v", err)
	}
	if back["org"] != "org\x1b[2J\u009b\u202e\u2028\x7f" || back["reason"] != v["reason"] {
		t.Fatalf("JSON changed the values (or truncated them): %q", back["org"])
	}
	if attrs := back["attrs"].(map[string]any); attrs["team"] != "t\u202e1" {
		t.Fatalf("raw attributes changed: %v", attrs)
	}
}

// FuzzSanitize asserts that no forbidden rune and no invalid byte ever
// survives Text, Line, Cap, LineCap, Clip or EscapeJSON, that Line never
// leaves a line break, that text without anything to escape is unchanged,
// and that escaped JSON stays valid and means the same.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]52;c;eA==\x07", "\u202eabc", "a\r\nb\tc", "\xff\xfe", "\u009b1m",
		"é\u2028ü", "\x7f", `\x1b`, "\u2066\u2069\u061c", strings.Repeat("ab\x00", 50)} {
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 64
		for name, out := range map[string]string{
			"Text": present.Text(s), "Line": present.Line(s), "Cap": present.Cap(s, n),
			"LineCap": present.LineCap(s, n), "Clip": present.Clip(s, n),
		} {
			check := out
			if name == "Text" || name == "Cap" {
				check = strings.NewReplacer("\n", "", "\t", "").Replace(out)
			}
			if r, bad := forbiddenIn(check); bad {
				t.Fatalf("%s(%q) = %q keeps U+%04X", name, s, out, r)
			}
		}
		if strings.ContainsAny(present.Line(s), "\n\r\t") {
			t.Fatalf("Line(%q) keeps a line break", s)
		}
		// Clean: nothing forbidden between the newlines and tabs Text keeps
		// (each piece checked alone: two invalid bytes either side of a tab
		// must not join into a valid rune).
		clean := true
		for _, piece := range strings.Split(strings.ReplaceAll(s, "\n", "\t"), "\t") {
			if _, bad := forbiddenIn(piece); bad {
				clean = false
			}
		}
		if clean && present.Text(s) != s {
			t.Fatalf("Text changed clean text %q", s)
		}
		doc, err := json.Marshal(map[string]string{"v": s})
		if err != nil {
			t.Fatal(err)
		}
		esc := present.EscapeJSON(doc)
		if r, bad := forbiddenIn(string(esc)); bad {
			t.Fatalf("EscapeJSON(%q) keeps U+%04X", doc, r)
		}
		var a, b map[string]string
		if json.Unmarshal(doc, &a) != nil || json.Unmarshal(esc, &b) != nil || a["v"] != b["v"] {
			t.Fatalf("EscapeJSON changed the document %q into %q", doc, esc)
		}
	})
}
