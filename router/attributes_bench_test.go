package router_test

import (
	"testing"

	"github.com/routeops/routeops/router"
)

// attributeCorpus is what the engine decodes for every claimed item: the
// jsonb canonical form PostgreSQL hands back (the fast path), the same
// with a unicode escape (the strict path), and a corrupt revision.
var attributeCorpus = []struct {
	name  string
	attrs []byte
	valid bool
}{
	{"minimal", []byte(`{"channel": "chat", "priority": 50}`), true},
	{"team_tier", []byte(`{"team": "billing", "tier": "gold", "channel": "email", "priority": 87}`), true},
	{"skills", []byte(`{"tier": "silver", "skills": ["en", "refunds", "api"], "channel": "voice", "priority": 3}`), true},
	{"escaped_strict_path", []byte(`{"team": "t\u00e9cnico", "channel": "sms", "priority": 100}`), true},
	{"corrupt", []byte(`{"channel": "fax", "priority": "high", "extra": true}`), false},
}

// BenchmarkParseAttributes decodes and validates revision attributes, once
// per claimed item in the routing transaction. Nothing asserts a timing.
func BenchmarkParseAttributes(b *testing.B) {
	for _, c := range attributeCorpus {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.attrs)))
			for b.Loop() {
				_, err := router.ParseAttributes(c.attrs)
				if (err == nil) != c.valid {
					b.Fatalf("%s: err = %v, want valid=%v", c.name, err, c.valid)
				}
			}
		})
	}
}
