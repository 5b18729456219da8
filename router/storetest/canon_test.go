package storetest

import (
	"testing"

	"github.com/routeops/routeops/router"
)

// The canonical form must be exactly what PostgreSQL's jsonb prints, or the
// byte-identity checks in the suite would fail on pgstore for the wrong
// reason.
func TestCanonJSON(t *testing.T) {
	cases := []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"priority": 5, "channel": "chat"}, `{"channel": "chat", "priority": 5}`},
		{map[string]any{"priority": 5, "channel": "chat", "tier": "gold", "team": "t1", "skills": []string{"a", "b"}},
			`{"team": "t1", "tier": "gold", "skills": ["a", "b"], "channel": "chat", "priority": 5}`},
		{map[string]any{"b": true, "a": nil, "aa": []any{1, "x<y&z"}, "c": map[string]any{"zz": 1, "y": 2}},
			`{"a": null, "b": true, "c": {"y": 2, "zz": 1}, "aa": [1, "x<y&z"]}`},
		{map[string]any{}, `{}`},
	}
	for _, tc := range cases {
		if got := string(canonJSON(tc.in)); got != tc.want {
			t.Errorf("canonJSON(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if err := router.ValidateAttributes(attrs(5, "chat", "team", "t1", "tier", "gold", "skills", []string{"a"})); err != nil {
		t.Errorf("attrs() builds invalid attributes: %v", err)
	}
	for _, b := range [][]byte{badPriorityAttrs, badChannelAttrs, unknownKeyAttrs, notObjectAttrs} {
		if router.ValidateAttributes(b) == nil {
			t.Errorf("%s validates", b)
		}
	}
}
