package router_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/routeops/routeops/router"
)

const validMin = `{"priority": 0, "channel": "chat"}`

// attrDoc builds `{"priority": 5, "channel": "chat", <extra>}`.
func attrDoc(extra string) string {
	if extra == "" {
		return `{"priority": 5, "channel": "chat"}`
	}
	return `{"priority": 5, "channel": "chat", ` + extra + `}`
}

// quoteJSON renders s as a JSON string literal.
func quoteJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func skillsDoc(n int, skill string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = quoteJSON(fmt.Sprintf("%s%d", skill, i))
	}
	return attrDoc(`"skills": [` + strings.Join(parts, ", ") + `]`)
}

func TestParseAttributesValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want router.Attributes
	}{
		{"minimal", validMin, router.Attributes{Priority: 0, Channel: "chat"}},
		{"full", `{"team": "billing", "tier": "gold", "skills": ["de", "fr"], "channel": "voice", "priority": 100}`,
			router.Attributes{Priority: 100, Channel: "voice", Team: "billing", Tier: "gold", Skills: []string{"de", "fr"}}},
		{"compact, any key order", `{"skills":["x"],"priority":42,"tier":"t","channel":"email","team":"a"}`,
			router.Attributes{Priority: 42, Channel: "email", Team: "a", Tier: "t", Skills: []string{"x"}}},
		{"surrounding whitespace", " \t\r\n{ \"priority\" : 7 ,\n\"channel\":\"sms\" }\n\t ",
			router.Attributes{Priority: 7, Channel: "sms"}},
		{"email", `{"priority": 1, "channel": "email"}`, router.Attributes{Priority: 1, Channel: "email"}},
		{"sms", `{"priority": 1, "channel": "sms"}`, router.Attributes{Priority: 1, Channel: "sms"}},
		{"voice", `{"priority": 1, "channel": "voice"}`, router.Attributes{Priority: 1, Channel: "voice"}},
		{"priority 100", `{"priority": 100, "channel": "chat"}`, router.Attributes{Priority: 100, Channel: "chat"}},
		{"null optional keys are absent", attrDoc(`"team": null, "tier": null, "skills": null`),
			router.Attributes{Priority: 5, Channel: "chat"}},
		{"empty skills", attrDoc(`"skills": []`), router.Attributes{Priority: 5, Channel: "chat"}},
		{"escaped strings", attrDoc(`"team": "b\u00e9\"q\\", "tier": "\ud834\udd1e"`),
			router.Attributes{Priority: 5, Channel: "chat", Team: "bé\"q\\", Tier: "𝄞"}},
		{"escaped key and channel", `{"pri\u006frity": 3, "channel": "ch\u0061t"}`, router.Attributes{Priority: 3, Channel: "chat"}},
		{"team of 64 two-byte runes", attrDoc(`"team": "` + strings.Repeat("é", 64) + `"`),
			router.Attributes{Priority: 5, Channel: "chat", Team: strings.Repeat("é", 64)}},
		{"tier of 32 three-byte runes", attrDoc(`"tier": "` + strings.Repeat("日", 32) + `"`),
			router.Attributes{Priority: 5, Channel: "chat", Tier: strings.Repeat("日", 32)}},
		{"skill of 64 four-byte runes", attrDoc(`"skills": ["` + strings.Repeat("𝄞", 64) + `"]`),
			router.Attributes{Priority: 5, Channel: "chat", Skills: []string{strings.Repeat("𝄞", 64)}}},
		{"32 skills", skillsDoc(32, "s"), func() router.Attributes {
			a := router.Attributes{Priority: 5, Channel: "chat"}
			for i := range 32 {
				a.Skills = append(a.Skills, fmt.Sprintf("s%d", i))
			}
			return a
		}()},
		{"duplicate key: last wins", `{"priority": 500, "channel": "fax", "priority": 5, "channel": "sms"}`,
			router.Attributes{Priority: 5, Channel: "sms"}},
		{"duplicate optional key: last null wins", attrDoc(`"team": 5, "team": null`),
			router.Attributes{Priority: 5, Channel: "chat"}},
		{"HTML characters", attrDoc(`"team": "<a&b>"`), router.Attributes{Priority: 5, Channel: "chat", Team: "<a&b>"}},
		{"duplicate skills", attrDoc(`"skills": ["de", "de"]`), router.Attributes{Priority: 5, Channel: "chat", Skills: []string{"de", "de"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := router.ParseAttributes([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseAttributes(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseAttributes(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			if err := router.ValidateAttributes([]byte(tc.in)); err != nil {
				t.Fatalf("ValidateAttributes: %v", err)
			}
			if p := router.PriorityOf([]byte(tc.in)); p != tc.want.Priority {
				t.Fatalf("PriorityOf = %d, want %d", p, tc.want.Priority)
			}
		})
	}
}

// invalidAttributeCases are corrupt attributes with a fragment that the
// error message must contain, so that an operator reading it knows what is
// wrong.
var invalidAttributeCases = []struct {
	name string
	in   string
	msg  string
}{
	// priority
	{"priority missing", `{"channel": "chat"}`, "priority is missing"},
	{"priority null", `{"priority": null, "channel": "chat"}`, "priority is missing"},
	{"priority string", `{"priority": "high", "channel": "chat"}`, `priority must be a whole number from 0 to 100, got "high"`},
	{"priority digit string", `{"priority": "5", "channel": "chat"}`, `priority must be a whole number from 0 to 100, got "5"`},
	{"priority float", `{"priority": 5.0, "channel": "chat"}`, "priority must be a whole number from 0 to 100, got 5.0"},
	{"priority fraction", `{"priority": 5.5, "channel": "chat"}`, "got 5.5"},
	{"priority negative", `{"priority": -1, "channel": "chat"}`, "got -1"},
	{"priority minus zero", `{"priority": -0, "channel": "chat"}`, "got -0"},
	{"priority 101", `{"priority": 101, "channel": "chat"}`, "priority must be a whole number from 0 to 100, got 101"},
	{"priority 999", `{"priority": 999, "channel": "chat"}`, "got 999"},
	{"priority 1000", `{"priority": 1000, "channel": "chat"}`, "got 1000"},
	{"priority huge", `{"priority": 123456789012345678901234567890, "channel": "chat"}`, "priority must be a whole number from 0 to 100"},
	{"priority exponent", `{"priority": 1e2, "channel": "chat"}`, "got 1e2"},
	{"priority exponent upper", `{"priority": 1E1, "channel": "chat"}`, "got 1E1"},
	{"priority leading zeros", `{"priority": 007, "channel": "chat"}`, "does not decode"},
	{"priority leading zero", `{"priority": 05, "channel": "chat"}`, "does not decode"},
	{"priority plus sign", `{"priority": +5, "channel": "chat"}`, "does not decode"},
	{"priority bool", `{"priority": true, "channel": "chat"}`, "got true"},
	{"priority array", `{"priority": [5], "channel": "chat"}`, "got [5]"},
	{"priority object", `{"priority": {"v": 5}, "channel": "chat"}`, `got {"v": 5}`},
	// channel
	{"channel missing", `{"priority": 5}`, "channel is missing"},
	{"channel null", `{"priority": 5, "channel": null}`, "channel is missing"},
	{"channel unknown", `{"priority": 5, "channel": "fax"}`, `channel must be one of chat, email, sms, voice, got "fax"`},
	{"channel case", `{"priority": 5, "channel": "Chat"}`, `got "Chat"`},
	{"channel padded", `{"priority": 5, "channel": "chat "}`, `got "chat "`},
	{"channel empty", `{"priority": 5, "channel": ""}`, `got ""`},
	{"channel number", `{"priority": 5, "channel": 1}`, "channel must be one of chat, email, sms, voice, got 1"},
	{"channel array", `{"priority": 5, "channel": ["chat"]}`, `got ["chat"]`},
	{"channel NUL escape", `{"priority": 5, "channel": "chat\u0000"}`, "channel must be one of"},
	// team
	{"team number", attrDoc(`"team": 5`), "team must be a string, got 5"},
	{"team bool", attrDoc(`"team": false`), "team must be a string, got false"},
	{"team array", attrDoc(`"team": ["a"]`), `team must be a string, got ["a"]`},
	{"team object", attrDoc(`"team": {}`), "team must be a string, got {}"},
	{"team empty", attrDoc(`"team": ""`), "team must be 1 to 64 characters"},
	{"team 65 two-byte runes", attrDoc(`"team": "` + strings.Repeat("é", 65) + `"`), "team must be 1 to 64 characters"},
	{"team 65 ascii", attrDoc(`"team": "` + strings.Repeat("a", 65) + `"`), "team must be 1 to 64 characters"},
	{"team NUL escape", attrDoc(`"team": "a\u0000b"`), "team must be a string"},
	// tier
	{"tier number", attrDoc(`"tier": 1`), "tier must be a string, got 1"},
	{"tier empty", attrDoc(`"tier": ""`), "tier must be 1 to 32 characters"},
	{"tier 33 three-byte runes", attrDoc(`"tier": "` + strings.Repeat("日", 33) + `"`), "tier must be 1 to 32 characters"},
	{"tier NUL escape", attrDoc(`"tier": "\u0000"`), "tier must be a string"},
	// skills
	{"skills string", attrDoc(`"skills": "de"`), `skills must be an array of strings, got "de"`},
	{"skills number", attrDoc(`"skills": 3`), "skills must be an array of strings, got 3"},
	{"skills object", attrDoc(`"skills": {"de": true}`), "skills must be an array of strings"},
	{"skills number element", attrDoc(`"skills": ["de", 1]`), "skills must be an array of strings, got element 1"},
	{"skills null element", attrDoc(`"skills": [null]`), "got element null"},
	{"skills nested array", attrDoc(`"skills": [["de"]]`), `got element ["de"]`},
	{"skills empty element", attrDoc(`"skills": ["de", ""]`), "each skill must be 1 to 64 characters"},
	{"skills long element", attrDoc(`"skills": ["` + strings.Repeat("𝄞", 65) + `"]`), "each skill must be 1 to 64 characters"},
	{"skills NUL element", attrDoc(`"skills": ["d\u0000e"]`), "skills must be an array of strings"},
	{"skills 33 entries", skillsDoc(33, "s"), "skills has 33 entries, limit 32"},
	// keys
	{"unknown key", attrDoc(`"queue": "vip"`), `unknown key "queue"`},
	{"unknown empty key", attrDoc(`"": 1`), `unknown key ""`},
	{"unknown key null", attrDoc(`"x": null`), `unknown key "x"`},
	// not an object
	{"empty input", ``, "empty"},
	{"only whitespace", " \n\t", "not a JSON object"},
	{"array", `[1, 2, 3]`, "not a JSON object"},
	{"string", `"garbage"`, "not a JSON object"},
	{"number", `42`, "not a JSON object"},
	{"null", `null`, "not a JSON object"},
	{"true", `true`, "not a JSON object"},
	{"BOM", "\xef\xbb\xbf" + validMin, "not a JSON object"},
	// broken JSON
	{"truncated", `{"priority": 5, "channel": "chat"`, "does not decode"},
	{"truncated key", `{"prio`, "does not decode"},
	{"single quotes", `{'priority': 5, 'channel': 'chat'}`, "does not decode"},
	{"trailing comma", `{"priority": 5, "channel": "chat",}`, "does not decode"},
	{"raw control char in string", "{\"priority\": 5, \"channel\": \"chat\", \"team\": \"a\x01b\"}", "does not decode"},
	{"raw NUL in string", "{\"priority\": 5, \"channel\": \"chat\", \"team\": \"a\x00b\"}", "does not decode"},
	{"bad escape", attrDoc(`"team": "\x41"`), "does not decode"},
	// trailing data
	{"trailing value", validMin + ` 1`, "trailing data after the object"},
	{"trailing object", validMin + validMin, "trailing data after the object"},
	{"trailing garbage", validMin + ` x`, "trailing data after the object"},
	// encoding
	{"invalid UTF-8", attrDoc("\"team\": \"\xff\xfe\""), "not valid UTF-8"},
	{"invalid UTF-8 outside strings", validMin + "\xc3", "not valid UTF-8"},
	{"overlong UTF-8", attrDoc("\"team\": \"\xc0\xaf\""), "not valid UTF-8"},
	{"UTF-16", "\xff\xfe{\x00}\x00", "not valid UTF-8"},
}

func TestParseAttributesInvalid(t *testing.T) {
	for _, tc := range invalidAttributeCases {
		t.Run(tc.name, func(t *testing.T) {
			checkRefused(t, []byte(tc.in), tc.msg)
		})
	}
}

func checkRefused(t *testing.T, in []byte, msg string) {
	t.Helper()
	got, err := router.ParseAttributes(in)
	if err == nil {
		t.Fatalf("ParseAttributes(%q) accepted it as %#v; want an error containing %q", clipQ(in), got, msg)
	}
	if !router.IsAttributeError(err) {
		t.Fatalf("ParseAttributes(%q): error %v (%T) is not an *AttributeError", clipQ(in), err, err)
	}
	if !strings.HasPrefix(err.Error(), "corrupt attributes: ") {
		t.Errorf("error %q does not start with %q", err, "corrupt attributes: ")
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("ParseAttributes(%q): error %q does not contain %q", clipQ(in), err, msg)
	}
	if router.ValidateAttributes(in) == nil {
		t.Errorf("ValidateAttributes accepts what ParseAttributes refuses")
	}
	if p := router.PriorityOf(in); p != 0 {
		t.Errorf("PriorityOf(corrupt) = %d, want 0", p)
	}
}

func clipQ(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// TestParseAttributesTrailingClosers: a stray closing bracket after the
// object is trailing data like any other. encoding/json's Decoder.More
// reports false for '}' and ']', and Token then returns a syntax error,
// which ParseAttributes takes for the end of input.
func TestParseAttributesTrailingClosers(t *testing.T) {
	for _, in := range []string{
		validMin + `}`,
		validMin + `]`,
		validMin + ` ]]]`,
		validMin + "\n}",
	} {
		t.Run(in, func(t *testing.T) { checkRefused(t, []byte(in), "trailing data after the object") })
	}
}

// TestParseAttributesLoneSurrogates: PostgreSQL refuses a \u escape of a
// lone UTF-16 surrogate ("invalid input syntax for type json"), so no
// jsonb revision can hold one; encoding/json instead decodes it to U+FFFD.
// ParseAttributes must refuse it too, or memstore accepts attributes that
// pgstore cannot store (and Marshal then writes U+FFFD: not what was given).
func TestParseAttributesLoneSurrogates(t *testing.T) {
	for _, in := range []string{
		attrDoc(`"team": "\ud800"`),
		attrDoc(`"tier": "a\udc00"`),
		attrDoc(`"skills": ["\udbff"]`),
		attrDoc(`"team": "\ud800\u0041"`),
		attrDoc(`"team": "\udc00\ud800"`),
	} {
		t.Run(in, func(t *testing.T) { checkRefused(t, []byte(in), "") })
	}
	// a proper pair is fine
	if a, err := router.ParseAttributes([]byte(attrDoc(`"team": "\ud834\udd1e"`))); err != nil || a.Team != "𝄞" {
		t.Fatalf("surrogate pair: %#v %v", a, err)
	}
}

// TestParseAttributesKeysAreExact: keys are matched exactly, as jsonb and
// routeops_attributes_valid match them. encoding/json matches struct fields
// case-insensitively (and with Unicode simple folding, so that "ſ" U+017F
// matches "s" and "K" U+212A matches "k"); ParseAttributes must not.
func TestParseAttributesKeysAreExact(t *testing.T) {
	for _, tc := range []struct{ in, key string }{
		{`{"Priority": 5, "channel": "chat"}`, "Priority"},
		{`{"PRIORITY": 5, "channel": "chat"}`, "PRIORITY"},
		{`{"priority": 5, "Channel": "chat"}`, "Channel"},
		{attrDoc(`"TEAM": "a"`), "TEAM"},
		{attrDoc(`"Tier": "gold"`), "Tier"},
		{attrDoc(`"ſkills": ["de"]`), "ſkills"},
		{attrDoc(`"s\u212aills": ["de"]`), "sKills"},
		// a case variant must not shadow the real key either
		{`{"priority": 5, "channel": "chat", "PRIORITY": 500}`, "PRIORITY"},
	} {
		t.Run(tc.in, func(t *testing.T) { checkRefused(t, []byte(tc.in), "unknown key") })
	}
}

func TestParseAttributesSizeLimit(t *testing.T) {
	pad := func(total int) []byte {
		// a valid object padded with insignificant whitespace to exactly total bytes
		head := `{"priority": 5, "channel": "chat"`
		return []byte(head + strings.Repeat(" ", total-len(head)-1) + "}")
	}
	at := pad(router.MaxAttributesBytes)
	if len(at) != 64<<10 {
		t.Fatalf("pad: %d bytes", len(at))
	}
	if _, err := router.ParseAttributes(at); err != nil {
		t.Fatalf("exactly 64 KiB refused: %v", err)
	}
	checkRefused(t, pad(router.MaxAttributesBytes+1), "too large (65537 bytes, limit 65536)")

	// A huge input is refused on its length, before anything reads it:
	// the message says so, and no JSON error is reported even though the
	// input is not JSON at all.
	huge := bytes.Repeat([]byte{'{'}, 16<<20)
	checkRefused(t, huge, "too large (16777216 bytes, limit 65536)")
	hugeArray := bytes.Repeat([]byte{'['}, 100_000)
	checkRefused(t, hugeArray, "too large (100000 bytes")
}

func TestParseAttributesDeepNesting(t *testing.T) {
	// Within the size limit, nesting is bounded by encoding/json's depth
	// limit (10000); none of this may overflow the stack.
	for _, depth := range []int{100, 9_000, 20_000, 32_000} {
		open, closeB := strings.Repeat("[", depth), strings.Repeat("]", depth)
		t.Run(fmt.Sprint("unknown key ", depth), func(t *testing.T) {
			checkRefused(t, []byte(attrDoc(`"x": `+open+closeB)), "")
		})
		t.Run(fmt.Sprint("priority ", depth), func(t *testing.T) {
			checkRefused(t, []byte(`{"channel": "chat", "priority": `+open+closeB+`}`), "")
		})
		t.Run(fmt.Sprint("skills ", depth), func(t *testing.T) {
			checkRefused(t, []byte(attrDoc(`"skills": `+open+closeB)), "")
		})
		t.Run(fmt.Sprint("unterminated ", depth), func(t *testing.T) {
			checkRefused(t, []byte(`{"x": `+open), "does not decode")
		})
		t.Run(fmt.Sprint("objects ", depth/8), func(t *testing.T) {
			checkRefused(t, []byte(strings.Repeat(`{"a":`, depth/8)+"1"+strings.Repeat("}", depth/8)), "")
		})
	}
	checkRefused(t, []byte(strings.Repeat("[", 60_000)), "not a JSON object")
	checkRefused(t, []byte(`{"x": `+strings.Repeat("[", 60_000)), "does not decode")
}

func TestAttributeErrorMessages(t *testing.T) {
	// A long bad value is clipped in the message.
	long := strings.Repeat("x", 500)
	_, err := router.ParseAttributes([]byte(`{"priority": 5, "channel": "` + long + `"}`))
	if err == nil || len(err.Error()) > 150 || !strings.Contains(err.Error(), "…") {
		t.Fatalf("long value not clipped: %v", err)
	}
	// Wrapped errors are still recognised.
	wrapped := fmt.Errorf("revision 7: %w", err)
	if !router.IsAttributeError(wrapped) {
		t.Fatal("IsAttributeError(wrapped) = false")
	}
	var ae *router.AttributeError
	if !errors.As(wrapped, &ae) || ae.Reason == "" || !strings.HasPrefix(ae.Error(), "corrupt attributes: ") {
		t.Fatalf("AttributeError: %#v", ae)
	}
	if router.IsAttributeError(errors.New("corrupt attributes: lookalike")) || router.IsAttributeError(nil) {
		t.Fatal("IsAttributeError accepts a plain error")
	}
}

// TestAttributeErrorMessagesAreValidUTF8: messages end up in logs, the
// console and JSON output, so clipping a long value must not cut a
// multi-byte character in half.
func TestAttributeErrorMessagesAreValidUTF8(t *testing.T) {
	for _, v := range []string{
		`"` + strings.Repeat("é", 40) + `"`,
		`"` + strings.Repeat("日", 40) + `"`,
		`"` + strings.Repeat("𝄞", 40) + `"`,
		`"a` + strings.Repeat("𝄞", 40) + `"`,
	} {
		for _, doc := range []string{
			`{"priority": 5, "channel": ` + v + `}`,
			attrDoc(`"skills": [1, ` + v + `]`),
			attrDoc(`"skills": ` + v),
			`{"priority": ` + v + `, "channel": "chat"}`,
		} {
			_, err := router.ParseAttributes([]byte(doc))
			if err == nil {
				t.Fatalf("accepted %s", doc)
			}
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error message for %s is not valid UTF-8: %q", doc, err.Error())
			}
		}
	}
}

func TestAttributesMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   router.Attributes
		want string
	}{
		{"minimal", router.Attributes{Channel: "chat"}, `{"channel": "chat", "priority": 0}`},
		{"full: jsonb key order (length, then bytes)",
			router.Attributes{Priority: 100, Channel: "voice", Team: "billing", Tier: "gold", Skills: []string{"fr", "de"}},
			`{"team": "billing", "tier": "gold", "skills": ["fr", "de"], "channel": "voice", "priority": 100}`},
		{"tier only", router.Attributes{Priority: 7, Channel: "sms", Tier: "vip"}, `{"tier": "vip", "channel": "sms", "priority": 7}`},
		{"skills only", router.Attributes{Priority: 7, Channel: "sms", Skills: []string{"a"}}, `{"skills": ["a"], "channel": "sms", "priority": 7}`},
		{"empty skills omitted", router.Attributes{Priority: 7, Channel: "sms", Skills: []string{}}, `{"channel": "sms", "priority": 7}`},
		{"HTML not escaped", router.Attributes{Priority: 1, Channel: "chat", Team: "<a&b>"}, `{"team": "<a&b>", "channel": "chat", "priority": 1}`},
		{"escapes as jsonb prints them", router.Attributes{Priority: 1, Channel: "chat", Team: "q\"b\\n\n\t\x01é"},
			`{"team": "q\"b\\n\n\t\u0001é", "channel": "chat", "priority": 1}`},
		{"control escapes as jsonb prints them", router.Attributes{Priority: 1, Channel: "chat", Tier: "\b\f\r\x1f\x7f"},
			`{"tier": "\b\f\r\u001f` + "\x7f" + `", "channel": "chat", "priority": 1}`},
		// jsonb prints U+2028 and U+2029 as they are; encoding/json always
		// escapes them (for JavaScript), even with SetEscapeHTML(false).
		{"line separators raw, as jsonb prints them", router.Attributes{Priority: 1, Channel: "chat", Team: "a\u2028b\u2029c"},
			"{\"team\": \"a\u2028b\u2029c\", \"channel\": \"chat\", \"priority\": 1}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(tc.in.Marshal())
			if got != tc.want {
				t.Fatalf("Marshal = %s\n           want %s", got, tc.want)
			}
			back, err := router.ParseAttributes([]byte(got))
			if err != nil {
				t.Fatalf("Marshal output does not parse: %v", err)
			}
			norm := tc.in
			if len(norm.Skills) == 0 {
				norm.Skills = nil
			}
			if !reflect.DeepEqual(back, norm) {
				t.Fatalf("round trip: %#v, want %#v", back, norm)
			}
			if again := string(back.Marshal()); again != got {
				t.Fatalf("Marshal is not stable: %s then %s", got, again)
			}
		})
	}
}

// TestAttributesMarshalRoundTripsTable: every valid table case survives
// Marshal then ParseAttributes unchanged.
func TestAttributesMarshalRoundTripsTable(t *testing.T) {
	for _, in := range []string{
		validMin,
		`{"team": "billing", "tier": "gold", "skills": ["de", "fr"], "channel": "voice", "priority": 100}`,
		attrDoc(`"team": "b\u00e9\"q\\", "tier": "\ud834\udd1e"`),
		attrDoc(`"team": "` + strings.Repeat("é", 64) + `"`),
		skillsDoc(32, "skill-"),
	} {
		a, err := router.ParseAttributes([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		b, err := router.ParseAttributes(a.Marshal())
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %s: %#v, %v", in, b, err)
		}
	}
}

func TestClassifyRevision(t *testing.T) {
	a, cause, err := router.ClassifyRevision(false, 8812, nil)
	if cause != router.CauseMissingRevision || err == nil || err.Error() != "current revision 8812 not found" {
		t.Fatalf("missing: %v %q %v", a, cause, err)
	}
	if router.IsAttributeError(err) {
		t.Fatal("a missing revision is not an attribute error")
	}
	a, cause, err = router.ClassifyRevision(true, 9, []byte(`{"priority": "high", "channel": "chat"}`))
	if cause != router.CauseCorruptRevision || err == nil || !router.IsAttributeError(err) ||
		!strings.HasPrefix(err.Error(), "revision 9: corrupt attributes: priority") {
		t.Fatalf("corrupt: %v %q %v", a, cause, err)
	}
	if !reflect.DeepEqual(a, router.Attributes{}) {
		t.Fatalf("corrupt revision returned attributes %#v", a)
	}
	a, cause, err = router.ClassifyRevision(true, 10, []byte(`{"priority": 9, "channel": "email", "team": "t"}`))
	if cause != router.CauseNone || err != nil || a.Priority != 9 || a.Channel != "email" || a.Team != "t" {
		t.Fatalf("valid: %v %q %v", a, cause, err)
	}
	// found with empty attributes is corrupt, not missing
	_, cause, _ = router.ClassifyRevision(true, 11, nil)
	if cause != router.CauseCorruptRevision {
		t.Fatalf("empty attributes: %q", cause)
	}
}

func TestPriorityOf(t *testing.T) {
	for in, want := range map[string]int{
		`{"priority": 42, "channel": "chat"}`:  42,
		`{"priority": 100, "channel": "chat"}`: 100,
		`{"priority": 101, "channel": "chat"}`: 0,
		`{"priority": 42, "channel": "fax"}`:   0,
		`{"priority": 42}`:                     0,
		`garbage`:                              0,
		``:                                     0,
	} {
		if got := router.PriorityOf([]byte(in)); got != want {
			t.Errorf("PriorityOf(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestCorruptAttributes(t *testing.T) {
	seen := map[string]bool{}
	for i := -10; i < 10; i++ {
		b := router.CorruptAttributes(i)
		if !json.Valid(b) {
			t.Errorf("CorruptAttributes(%d) = %s is not JSON (jsonb would refuse it)", i, b)
		}
		if err := router.ValidateAttributes(b); err == nil {
			t.Errorf("CorruptAttributes(%d) = %s validates", i, b)
		}
		seen[string(b)] = true
	}
	if len(seen) < 5 {
		t.Errorf("only %d distinct corrupt values", len(seen))
	}
}

// TestCorruptAttributesAnyIndex: drills pass arbitrary ints; -i overflows
// for math.MinInt and the index goes negative.
func TestCorruptAttributesAnyIndex(t *testing.T) {
	for _, i := range []int{math.MaxInt, math.MinInt, math.MinInt + 1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("CorruptAttributes(%d) panics: %v", i, r)
				}
			}()
			if b := router.CorruptAttributes(i); router.ValidateAttributes(b) == nil {
				t.Errorf("CorruptAttributes(%d) validates", i)
			}
		}()
	}
}
