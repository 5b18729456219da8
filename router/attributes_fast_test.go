package router

import (
	"reflect"
	"testing"
)

// FuzzFastPathAgrees checks that ParseAttributes, with its fast path,
// never accepts what the strict path rejects, and decodes the same.
func FuzzFastPathAgrees(f *testing.F) {
	for _, s := range []string{
		`{"team": "billing", "tier": "gold", "skills": ["en", "refunds"], "channel": "chat", "priority": 40}`,
		`{"channel": "sms", "priority": 0}`,
		`{"priority":100,"channel":"voice","team":null,"skills":[]}`,
		`{"priority": 07, "channel": "chat"}`,
		`{"priority": 5, "channel": "chat", "priority": 6}`,
		`{"priority": 5, "channel": "chat"} x`,
		`{"priority": 5.0, "channel": "chat"}`,
		`{"priority": 5, "channel": "ch\u0061t"}`,
		`{"priority": 5, "channel": "chat", "skills": ["a", ""]}`,
		`{"priority": 5, "channel": "chat", "extra": 1}`,
		`{"priority": 5, "channel": "chat",}`,
		` { "priority" : 1 , "channel" : "email" } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// ParseAttributes (fast path first) must agree with the strict
		// decoder on every input: same verdict, same attributes.
		got, gerr := ParseAttributes(b)
		want, werr := parseStrict(b)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("ParseAttributes(%q) err=%v, strict err=%v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseAttributes %+v != strict %+v for %q", got, want, b)
		}
	})
}

func BenchmarkParseAttributesFast(b *testing.B) {
	a := []byte(`{"team": "billing", "tier": "gold", "skills": ["en", "refunds"], "channel": "chat", "priority": 40}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseAttributes(a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAttributesStrict(b *testing.B) {
	a := []byte(`{"team": "billing", "tier": "gold", "skills": ["en", "refunds"], "channel": "chat", "priority": 40}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseStrict(a); err != nil {
			b.Fatal(err)
		}
	}
}
