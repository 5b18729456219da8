package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
)

func TestCanonicalJSONExample(t *testing.T) {
	a := router.Attributes{Priority: 40, Channel: "chat", Team: "billing", Skills: []string{"en"}, Tier: "gold"}
	got := string(CanonicalJSON(a))
	want := `{"team": "billing", "tier": "gold", "skills": ["en"], "channel": "chat", "priority": 40}`
	if got != want {
		t.Fatalf("CanonicalJSON:\n got %s\nwant %s", got, want)
	}
	min := string(CanonicalJSON(router.Attributes{Priority: 0, Channel: "sms"}))
	if min != `{"channel": "sms", "priority": 0}` {
		t.Fatalf("minimal attributes: %s", min)
	}
	two := string(CanonicalJSON(router.Attributes{Priority: 100, Channel: "voice", Skills: []string{"de", "api"}}))
	if two != `{"skills": ["de", "api"], "channel": "voice", "priority": 100}` {
		t.Fatalf("skills keep their order: %s", two)
	}
}

func TestCanonicalJSONEscaping(t *testing.T) {
	cases := map[string]string{
		"plain":         `"plain"`,
		`say "hi"`:      `"say \"hi\""`,
		`back\slash`:    `"back\\slash"`,
		"a\tb\nc\rd":    `"a\tb\nc\rd"`,
		"\b\f":          `"\b\f"`,
		"\x01\x1f":      `"\u0001\u001f"`,
		"\x00":          `"\u0000"`,
		"\x7f":          "\"\x7f\"",
		"/<>&":          `"/<>&"`,
		"Zürich ☎":      `"Zürich ☎"`,
		"\u2028":        "\"\u2028\"",
		"bad\xffutf8":   "\"bad\uFFFDutf8\"",
		"cut\xe2\x98":   "\"cut\uFFFD\uFFFD\"",
		"日本語\x1bescape": `"日本語\u001bescape"`,
	}
	for in, want := range cases {
		got := string(appendJSONString(nil, in))
		if got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}

// jsonbKeyLess is PostgreSQL's jsonb key order: shorter first, then
// bytewise.
func jsonbKeyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// objectKeys returns the keys of a JSON object in the order written.
// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Fatalf(format string, args ...any)
}

func objectKeys(t fataler, b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("bad key in %s: %v", b, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("bad value in %s: %v", b, err)
		}
	}
	return keys
}

// refCanonical renders a decoded JSON value the way jsonb prints it,
// independently of the code under test: keys by the jsonb order, ", " and
// ": " separators, strings escaped as escape_json does.
func refCanonical(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return jsonbKeyLess(keys[i], keys[j]) })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = refCanonical(k) + ": " + refCanonical(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = refCanonical(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		var sb strings.Builder
		sb.WriteByte('"')
		for _, r := range x {
			switch r {
			case '"':
				sb.WriteString(`\"`)
			case '\\':
				sb.WriteString(`\\`)
			case '\b':
				sb.WriteString(`\b`)
			case '\f':
				sb.WriteString(`\f`)
			case '\n':
				sb.WriteString(`\n`)
			case '\r':
				sb.WriteString(`\r`)
			case '\t':
				sb.WriteString(`\t`)
			default:
				if r < 0x20 {
					fmt.Fprintf(&sb, `\u%04x`, r)
				} else {
					sb.WriteRune(r)
				}
			}
		}
		sb.WriteByte('"')
		return sb.String()
	case json.Number:
		return x.String()
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
}

func decodeAny(t fataler, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not JSON: %s: %v", b, err)
	}
	return v
}

func TestCanonicalJSONProperties(t *testing.T) {
	anyString := rapid.StringOf(rapid.OneOf(
		rapid.RuneFrom([]rune{'"', '\\', '\b', '\f', '\n', '\r', '\t', 0x01, 0x1f, 0x7f, 'é', '☎', 0x2028, '/', '<'}),
		rapid.Rune(),
	))
	validString := func(max int) *rapid.Generator[string] {
		return rapid.Custom(func(t *rapid.T) string {
			s := anyString.Draw(t, "s")
			for utf8.RuneCountInString(s) > max {
				_, size := utf8.DecodeLastRuneInString(s)
				s = s[:len(s)-size]
			}
			if s == "" || strings.ContainsRune(s, 0) {
				s = "x" + strings.ReplaceAll(s, "\x00", "")
			}
			return s
		})
	}
	rapid.Check(t, func(t *rapid.T) {
		a := router.Attributes{
			Priority: rapid.IntRange(0, 100).Draw(t, "priority"),
			Channel:  rapid.SampledFrom(router.Channels).Draw(t, "channel"),
		}
		if rapid.Bool().Draw(t, "hasTeam") {
			a.Team = validString(router.MaxTeamLen).Draw(t, "team")
		}
		if rapid.Bool().Draw(t, "hasTier") {
			a.Tier = validString(router.MaxTierLen).Draw(t, "tier")
		}
		a.Skills = rapid.SliceOfN(validString(router.MaxSkillLen), 0, 5).Draw(t, "skills")
		if len(a.Skills) == 0 {
			a.Skills = nil
		}
		b := CanonicalJSON(a)

		// ParseAttributes accepts it and gets the same attributes back.
		got, err := router.ParseAttributes(b)
		if err != nil {
			t.Fatalf("ParseAttributes(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("round trip:\n got %#v\nwant %#v\njson %s", got, a, b)
		}
		// Keys in jsonb order.
		keys := objectKeys(t, b)
		if !sort.SliceIsSorted(keys, func(i, j int) bool { return jsonbKeyLess(keys[i], keys[j]) }) {
			t.Fatalf("keys not in jsonb order: %v", keys)
		}
		// Byte for byte what jsonb would print.
		if ref := refCanonical(decodeAny(t, b)); ref != string(b) {
			t.Fatalf("not canonical:\n got %s\nwant %s", b, ref)
		}
		// Same value as the plain encoding/json rendering.
		if !reflect.DeepEqual(decodeAny(t, b), decodeAny(t, a.Marshal())) {
			t.Fatalf("differs from Attributes.Marshal: %s vs %s", b, a.Marshal())
		}
	})
}
