package router

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseAttrMatch(t *testing.T) {
	for in, want := range map[string]AttrMatch{
		"tier=gold":     {Key: "tier", Value: "gold"},
		" tier =gold":   {Key: "tier", Value: "gold"},
		"note=a=b":      {Key: "note", Value: "a=b"},
		"skills=":       {Key: "skills", Value: ""},
		"priority=42.0": {Key: "priority", Value: "42.0"},
	} {
		got, err := ParseAttrMatch(in)
		if err != nil || got != want {
			t.Errorf("ParseAttrMatch(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"tier", "=gold", "", " =x"} {
		if _, err := ParseAttrMatch(bad); err == nil {
			t.Errorf("ParseAttrMatch(%q) succeeded", bad)
		}
	}
}

func TestAttrMatch(t *testing.T) {
	doc := []byte(`{"priority": 42, "channel": "chat", "tier": "gold", "skills": ["billing", "fr", 7], "n": 1e2,
		"nested": [["deep"]], "obj": {"tier": "gold"}, "esc": "caf\u00e9"}`)
	cases := []struct {
		m    AttrMatch
		want bool
	}{
		{AttrMatch{"tier", "gold"}, true},
		{AttrMatch{"tier", "Gold"}, false},
		{AttrMatch{"tier", "gold "}, false},
		{AttrMatch{"skills", "billing"}, true},
		{AttrMatch{"skills", "de"}, false},
		{AttrMatch{"skills", "7"}, true},
		{AttrMatch{"skills", "7.00"}, true},
		{AttrMatch{"priority", "42"}, true},
		{AttrMatch{"priority", "4.2e1"}, true},
		{AttrMatch{"priority", "42.5"}, false},
		{AttrMatch{"priority", "042"}, false},
		{AttrMatch{"priority", " 42"}, true},
		{AttrMatch{"n", "100"}, true},
		{AttrMatch{"n", "1e999999999"}, false},
		{AttrMatch{"nested", "deep"}, false},
		{AttrMatch{"obj", "gold"}, false},
		{AttrMatch{"missing", "x"}, false},
		{AttrMatch{"esc", "café"}, true},
	}
	for _, c := range cases {
		if got := c.m.Match(doc); got != c.want {
			t.Errorf("%s on %s = %v, want %v", c.m, doc, got, c.want)
		}
	}
	if (AttrMatch{"tier", "gold"}).Match([]byte(`"not an object"`)) || (AttrMatch{"tier", "gold"}).Match([]byte(`{bad`)) {
		t.Error("a document that is not an object matched")
	}
	if n := len((AttrMatch{"priority", "42"}).Containments()); n != 4 {
		t.Errorf("a number has %d containments, want 4 (string, number, each alone or in an array)", n)
	}
	if n := len((AttrMatch{"tier", "gold"}).Containments()); n != 2 {
		t.Errorf("a string has %d containments, want 2", n)
	}
}

// TestCanonNumber: exact comparison agrees with big.Rat where big.Rat is
// cheap, and a hostile exponent costs nothing.
func TestCanonNumber(t *testing.T) {
	nums := []string{"0", "-0", "0.0", "1", "1.0", "10", "1e1", "100e-1", "-5", "-5.000", "0.5", "5e-1", "50E-2",
		"123456789012345678901234567890", "1.23456789012345678901234567890e29", "7", "7e0", "70e-1", "3.14", "314e-2"}
	for _, a := range nums {
		for _, b := range nums {
			x, _ := new(big.Rat).SetString(a)
			y, _ := new(big.Rat).SetString(b)
			ca, ok1 := canonNumber(a)
			cb, ok2 := canonNumber(b)
			if !ok1 || !ok2 {
				t.Fatalf("canonNumber(%q, %q) failed", a, b)
			}
			got := ca.neg == cb.neg && ca.digits == cb.digits && ca.exp.Cmp(cb.exp) == 0
			if want := x.Cmp(y) == 0; got != want {
				t.Errorf("%s == %s: %v, want %v", a, b, got, want)
			}
		}
	}
	start := time.Now()
	huge := "1e" + strings.Repeat("9", 5000)
	if numEqual("1", jsonNumber(huge)) {
		t.Error("1 equals 1e999…")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("comparing a hostile exponent did not come back")
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }

func TestSelectorValidate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := []ItemSelector{{}, {Org: "o", Queue: "q"}, {State: StateQueued, Cause: CauseMissingRevision},
		{WaitedOver: time.Minute, Now: now}, {IDs: []int64{1, 2}}, {Attrs: []AttrMatch{{"tier", "gold"}}}}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
	bad := []ItemSelector{{Queue: "q"}, {State: "lost"}, {Cause: "queue_paused"}, {WaitedOver: -time.Second},
		{IDs: []int64{0}}, {Attrs: []AttrMatch{{"", "x"}}}, {Revision: -1}}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", s)
		}
	}
	if (ItemSelector{Scope: ScopeRelease, Limit: 5}).Filtered() || !(ItemSelector{Cause: CauseCorruptRevision}).Filtered() {
		t.Error("Filtered")
	}
}
