package router_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/routeops/routeops/router"
)

// attributeKeys are the only keys attributes may have, matched exactly.
var attributeKeys = []string{"priority", "channel", "team", "skills", "tier"}

// FuzzParseAttributes checks that ParseAttributes never panics and that
// whatever it accepts really is what DESIGN.md allows: valid UTF-8, one
// JSON object of at most 64 KiB with only the five documented keys, whose
// Marshal form parses back to the same Attributes. Seeds live in
// testdata/fuzz/FuzzParseAttributes.
func FuzzParseAttributes(f *testing.F) {
	f.Add([]byte(validMin))
	f.Add([]byte(`{"team": "billing", "tier": "gold", "skills": ["de", "fr"], "channel": "voice", "priority": 100}`))
	for i := range 5 {
		f.Add(router.CorruptAttributes(i))
	}
	for _, tc := range invalidAttributeCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := router.ParseAttributes(in)
		if err != nil {
			if !router.IsAttributeError(err) {
				t.Fatalf("error %v is not an *AttributeError", err)
			}
			if router.PriorityOf(in) != 0 {
				t.Fatalf("PriorityOf(refused) != 0")
			}
			return
		}
		if len(in) > router.MaxAttributesBytes {
			t.Fatalf("accepted %d bytes", len(in))
		}
		if !utf8.Valid(in) {
			t.Fatalf("accepted invalid UTF-8 %q", in)
		}
		if !json.Valid(in) {
			t.Fatalf("accepted input that is not one JSON value: %q", in)
		}
		trimmed := bytes.TrimLeft(in, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("accepted a non-object %q", in)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(in, &m); err != nil {
			t.Fatalf("accepted %q, which does not decode as an object: %v", in, err)
		}
		for k := range m {
			if !slices.Contains(attributeKeys, k) {
				t.Fatalf("accepted %q with key %q", in, k)
			}
		}
		if a.Priority < 0 || a.Priority > 100 || !slices.Contains(router.Channels, a.Channel) {
			t.Fatalf("accepted out-of-range attributes %#v", a)
		}
		if len(a.Skills) > router.MaxSkills {
			t.Fatalf("accepted %d skills", len(a.Skills))
		}
		for _, s := range append([]string{a.Team, a.Tier}, a.Skills...) {
			if strings.ContainsRune(s, 0) || utf8.RuneCountInString(s) > router.MaxTeamLen {
				t.Fatalf("accepted string %q", s)
			}
		}
		out := a.Marshal()
		b, err := router.ParseAttributes(out)
		if err != nil {
			t.Fatalf("Marshal of accepted %q gives %s, which does not parse: %v", in, out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip of %q: %#v became %#v via %s", in, a, b, out)
		}
		if again := b.Marshal(); !bytes.Equal(out, again) {
			t.Fatalf("Marshal not stable: %s vs %s", out, again)
		}
		if router.PriorityOf(in) != a.Priority {
			t.Fatalf("PriorityOf disagrees")
		}
	})
}

// FuzzParseItemID: never panics; an accepted id is positive and survives
// FormatItemID, with or without the '#'.
func FuzzParseItemID(f *testing.F) {
	for _, s := range []string{"1042", "#1042", " 7 ", "0", "-1", "9223372036854775807", "9223372036854775808",
		"12abc", "", "#", "##1", "+5", "0x10", "1e3", "١٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := router.ParseItemID(s)
		if err != nil {
			if id != 0 {
				t.Fatalf("error with id %d", id)
			}
			if !strings.Contains(err.Error(), "malformed item id") {
				t.Fatalf("unclear error %q", err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("ParseItemID(%q) = %d", s, id)
		}
		txt := router.FormatItemID(id)
		for _, in := range []string{txt, "#" + txt} {
			back, err := router.ParseItemID(in)
			if err != nil || back != id {
				t.Fatalf("ParseItemID(%q) = %d, %v; want %d", in, back, err, id)
			}
		}
	})
}

// FuzzParseQueueRef: never panics; an accepted ref has both parts and
// survives String.
func FuzzParseQueueRef(f *testing.F) {
	for _, s := range []string{"org-0007/default", "o/q", "/q", "o/", "o/q/x", "", "/", "oq", "ö/ü", "o//q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := router.ParseQueueRef(s)
		if err != nil {
			if q != (router.QueueRef{}) || !strings.Contains(err.Error(), "malformed queue") {
				t.Fatalf("ParseQueueRef(%q) = %#v, %v", s, q, err)
			}
			return
		}
		if q.Org == "" || q.Queue == "" {
			t.Fatalf("ParseQueueRef(%q) = %#v", s, q)
		}
		back, err := router.ParseQueueRef(q.String())
		if err != nil || back != q {
			t.Fatalf("round trip of %q: %#v, %v", s, back, err)
		}
		if q.String() != s {
			t.Fatalf("String() = %q, input %q", q.String(), s)
		}
	})
}
