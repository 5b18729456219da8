package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
)

// The selector's --attr KEY=VALUE is jsonb containment in pgstore (on a GIN
// index) and router.AttrMatch.Match in memstore and in the reference
// semantics. They must agree: on random documents and values, Match on the
// document as PostgreSQL renders it equals "the document contains one of
// the Containments".
func TestAttrMatchAgreesWithContainment(t *testing.T) {
	pool := agreementDB(t)
	ctx := context.Background()
	check := func(t tb, doc string, m router.AttrMatch) {
		t.Helper()
		var stored bool
		var rendered string
		if err := pool.QueryRow(ctx, `SELECT agreement_jsonb($1) IS NOT NULL, coalesce(agreement_jsonb($1)::text, '')`,
			[]byte(doc)).Scan(&stored, &rendered); err != nil {
			t.Fatal(err)
		}
		if !stored {
			return
		}
		var cs []string
		for _, c := range m.Containments() {
			cs = append(cs, string(c))
		}
		var contained bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unnest($2::text[]) c WHERE $1::jsonb @> c::jsonb)`,
			rendered, cs).Scan(&contained); err != nil {
			t.Fatalf("containment of %s: %v", rendered, err)
		}
		if got := m.Match([]byte(rendered)); got != contained {
			t.Fatalf("%s on %s: Match %v, jsonb containment %v", m, rendered, got, contained)
		}
	}
	corpus := []struct {
		doc string
		m   router.AttrMatch
	}{
		{`{"tier": "gold"}`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`{"tier": ["gold"]}`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`{"tier": [["gold"]]}`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`{"tier": {"gold": 1}}`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`{"p": 42}`, router.AttrMatch{Key: "p", Value: "42.000"}},
		{`{"p": 4.2e1}`, router.AttrMatch{Key: "p", Value: "42"}},
		{`{"p": "42"}`, router.AttrMatch{Key: "p", Value: "42"}},
		{`{"p": [1, 42.0]}`, router.AttrMatch{Key: "p", Value: "42"}},
		{`{"p": -0}`, router.AttrMatch{Key: "p", Value: "0"}},
		{`{"p": true}`, router.AttrMatch{Key: "p", Value: "true"}},
		{`{"p": null}`, router.AttrMatch{Key: "p", Value: "null"}},
		{`{"s": "caf\u00e9"}`, router.AttrMatch{Key: "s", Value: "café"}},
		{`{"a": 1, "a": 2}`, router.AttrMatch{Key: "a", Value: "2"}},
		{`{"a": 1, "a": 2}`, router.AttrMatch{Key: "a", Value: "1"}},
		{`["tier", "gold"]`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`"gold"`, router.AttrMatch{Key: "tier", Value: "gold"}},
		{`{"k": " x"}`, router.AttrMatch{Key: "k", Value: "x"}},
		{`{"k": 5}`, router.AttrMatch{Key: "k", Value: " 5 "}},
		{`{"k": 1e400}`, router.AttrMatch{Key: "k", Value: "1e400"}},
	}
	for _, c := range corpus {
		check(t, c.doc, c.m)
	}
	key := rapid.SampledFrom([]string{"tier", "skills", "priority", "k"})
	scalar := rapid.OneOf(
		rapid.SampledFrom([]string{`"gold"`, `"Gold"`, `"7"`, `7`, `7.0`, `70e-1`, `-7`, `0`, `-0.0`, `true`, `null`, `"x y"`, `""`}),
		rapid.Map(rapid.IntRange(-3, 300), func(n int) string { return fmt.Sprint(n) }),
	)
	value := rapid.OneOf(scalar, rapid.Map(rapid.SliceOfN(scalar, 0, 3), func(xs []string) string {
		out := "["
		for i, x := range xs {
			if i > 0 {
				out += ", "
			}
			out += x
		}
		return out + "]"
	}))
	rapid.Check(t, func(rt *rapid.T) {
		doc := fmt.Sprintf(`{%q: %s, "other": %s}`, key.Draw(rt, "key"), value.Draw(rt, "value"), value.Draw(rt, "other"))
		m := router.AttrMatch{Key: key.Draw(rt, "match_key"),
			Value: rapid.SampledFrom([]string{"gold", "Gold", "7", "7.0", "70e-1", "-7", "0", "-0", "true", "null", "x y", "", "007"}).Draw(rt, "match_value")}
		check(rt, doc, m)
	})
}
