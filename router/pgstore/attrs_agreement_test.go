package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"pgregory.net/rapid"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// The SQL function routeops_attributes_valid(jsonb) is the set-based mirror
// of router.ParseAttributes: verify and repair use it to find invalid
// revisions, the engine uses Go. They must agree on every document that
// PostgreSQL can store. PostgreSQL stores jsonb, not the bytes written, so
// Go is given the document as PostgreSQL renders it back ($1::jsonb::text),
// which is what the engine reads from this store.

// agreementDB prepares a database with a helper that turns bytes into jsonb,
// or NULL when PostgreSQL refuses them (not UTF-8, not JSON, \u0000, ...).
func agreementDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	st := pgtest.NewStore(t)
	pool := st.Pool()
	_, err := pool.Exec(context.Background(), `
CREATE FUNCTION agreement_jsonb(d bytea) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN convert_from(d, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$`)
	if err != nil {
		t.Fatalf("create helper: %v", err)
	}
	return pool
}

type pgVerdict struct {
	stored   bool   // PostgreSQL accepted the document as jsonb
	rendered string // how PostgreSQL prints it back
	valid    bool   // routeops_attributes_valid
}

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// pgJudge asks PostgreSQL about every document in one statement.
func pgJudge(t tb, pool *pgxpool.Pool, docs [][]byte) []pgVerdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := pool.Query(ctx, `
SELECT t.i, x.j IS NOT NULL, coalesce(x.j::text, ''), coalesce(routeops_attributes_valid(x.j), false)
FROM unnest($1::bytea[]) WITH ORDINALITY AS t(d, i)
CROSS JOIN LATERAL (SELECT agreement_jsonb(t.d) AS j) x
ORDER BY t.i`, docs)
	if err != nil {
		t.Fatalf("judge %d documents: %v", len(docs), err)
	}
	defer rows.Close()
	out := make([]pgVerdict, 0, len(docs))
	for rows.Next() {
		var i int64
		var v pgVerdict
		if err := rows.Scan(&i, &v.stored, &v.rendered, &v.valid); err != nil {
			t.Fatal(err)
		}
		if int(i) != len(out)+1 {
			t.Fatalf("row %d out of order", i)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("judge %d documents: %v", len(docs), err)
	}
	if len(out) != len(docs) {
		t.Fatalf("%d verdicts for %d documents", len(out), len(docs))
	}
	return out
}

// disagreement describes how Go and SQL disagree on one document, or "".
func disagreement(doc []byte, v pgVerdict) string {
	if !v.stored {
		if _, err := router.ParseAttributes(doc); err == nil {
			return fmt.Sprintf("PostgreSQL refuses %q as jsonb, but ParseAttributes accepts it", clip(doc))
		}
		return ""
	}
	goErr := router.ValidateAttributes([]byte(v.rendered))
	if (goErr == nil) != v.valid {
		return fmt.Sprintf("document %q, stored as %q: ParseAttributes says %v, routeops_attributes_valid says %v",
			clip(doc), clip([]byte(v.rendered)), errOrValid(goErr), v.valid)
	}
	return ""
}

func errOrValid(err error) string {
	if err == nil {
		return "valid"
	}
	return err.Error()
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + fmt.Sprintf("…(%d bytes)", len(b))
	}
	return string(b)
}

// ---- the fixed corpus ----

func fixedCorpus(t *testing.T) [][]byte {
	m := `{"priority": 5, "channel": "chat"`
	with := func(extra string) string { return m + ", " + extra + "}" }
	docs := []string{
		// valid
		`{"priority": 0, "channel": "chat"}`,
		`{"team": "billing", "tier": "gold", "skills": ["de", "fr"], "channel": "voice", "priority": 100}`,
		`{"skills":["x"],"priority":42,"tier":"t","channel":"email","team":"a"}`,
		with(`"team": null, "tier": null, "skills": null`),
		with(`"skills": []`),
		with(`"team": "b\u00e9\"q\\", "tier": "\ud834\udd1e"`),
		with(`"team": "` + strings.Repeat("é", 64) + `"`),
		with(`"tier": "` + strings.Repeat("日", 32) + `"`),
		with(`"skills": ["` + strings.Repeat("𝄞", 64) + `"]`),
		with(`"team": "<a&b>", "tier": "\u2028\u2029"`),
		with(`"team": "\u0001\u001f\b\f\n\r\t\u007f"`),
		`{"priority": 500, "channel": "fax", "priority": 5, "channel": "sms"}`,
		`{"pri\u006frity": 3, "channel": "ch\u0061t"}`,
		// numbers jsonb normalises
		`{"priority": 1e2, "channel": "chat"}`,
		`{"priority": 1E1, "channel": "chat"}`,
		`{"priority": -0, "channel": "chat"}`,
		`{"priority": 0e5, "channel": "chat"}`,
		`{"priority": 1.0e2, "channel": "chat"}`,
		`{"priority": 150e-1, "channel": "chat"}`,
		`{"priority": 5.0, "channel": "chat"}`,
		`{"priority": 100.0, "channel": "chat"}`,
		`{"priority": 1e3, "channel": "chat"}`,
		`{"priority": 1e-1, "channel": "chat"}`,
		`{"priority": 1e400, "channel": "chat"}`,
		`{"priority": 123456789012345678901234567890, "channel": "chat"}`,
		// invalid values
		`{"channel": "chat"}`, `{"priority": null, "channel": "chat"}`, `{"priority": "5", "channel": "chat"}`,
		`{"priority": -1, "channel": "chat"}`, `{"priority": 101, "channel": "chat"}`, `{"priority": 999, "channel": "chat"}`,
		`{"priority": true, "channel": "chat"}`, `{"priority": [5], "channel": "chat"}`, `{"priority": {"v": 5}, "channel": "chat"}`,
		`{"priority": 5}`, `{"priority": 5, "channel": null}`, `{"priority": 5, "channel": "fax"}`, `{"priority": 5, "channel": "Chat"}`,
		`{"priority": 5, "channel": ""}`, `{"priority": 5, "channel": 1}`, `{"priority": 5, "channel": ["chat"]}`,
		with(`"team": 5`), with(`"team": ""`), with(`"team": ["a"]`), with(`"team": {}`),
		with(`"team": "` + strings.Repeat("é", 65) + `"`), with(`"tier": "` + strings.Repeat("日", 33) + `"`), with(`"tier": true`),
		with(`"skills": "de"`), with(`"skills": {"de": true}`), with(`"skills": ["de", 1]`), with(`"skills": [null]`),
		with(`"skills": [""]`), with(`"skills": [["de"]]`), with(`"skills": ["` + strings.Repeat("𝄞", 65) + `"]`),
		with(`"queue": "vip"`), with(`"": 1`), with(`"x": null`),
		// keys match exactly
		`{"Priority": 5, "channel": "chat"}`, `{"PRIORITY": 5, "channel": "chat"}`, `{"priority": 5, "Channel": "chat"}`,
		with(`"TEAM": "a"`), with(`"ſkills": ["de"]`), with(`"s\u212aills": ["de"]`), with(`"PRIORITY": 500`),
		// not objects
		`[1, 2, 3]`, `"garbage"`, `42`, `null`, `true`, `[]`, `{}`,
		// PostgreSQL refuses these
		``, " ", `{"priority": 5, "channel": "chat"`, `{'priority': 5}`, `{"priority": 5, "channel": "chat",}`,
		`{"priority": 0, "channel": "chat"} 1`, `{"priority": 0, "channel": "chat"}}`, `{"priority": 0, "channel": "chat"}]`,
		`{"priority": 007, "channel": "chat"}`, `{"priority": +5, "channel": "chat"}`, "\xef\xbb\xbf" + `{"priority": 0, "channel": "chat"}`,
		with(`"team": "a\u0000b"`), with(`"skills": ["\u0000"]`), `{"priority": 5, "channel": "chat\u0000"}`,
		with("\"team\": \"a\x00b\""), with("\"team\": \"a\x01b\""), with("\"team\": \"\xff\""), with("\"team\": \"\xc0\xaf\""),
		with(`"team": "\x41"`),
		// lone surrogates: PostgreSQL refuses them, encoding/json decodes them to U+FFFD
		with(`"team": "\ud800"`), with(`"tier": "a\udc00"`), with(`"skills": ["\udbff"]`),
	}
	// size and depth
	pad := func(total int) string { return m + strings.Repeat(" ", total-len(m)-1) + "}" }
	docs = append(docs, pad(router.MaxAttributesBytes), pad(router.MaxAttributesBytes+1),
		with(`"team": "`+strings.Repeat("a", 64)+`", "x": "`+strings.Repeat("y", 70_000)+`"`),
		with(`"x": `+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)),
		with(`"x": `+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)),
		`{"priority": `+strings.Repeat("[", 30000)+strings.Repeat("]", 30000)+`, "channel": "chat"}`,
		strings.Repeat("[", 100_000),
	)
	for i := range 5 {
		docs = append(docs, string(router.CorruptAttributes(i)))
	}
	out := make([][]byte, 0, len(docs))
	for _, d := range docs {
		out = append(out, []byte(d))
	}
	// and the fuzz corpus of router (seeds and anything the fuzzer found)
	files, err := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzParseAttributes", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a fuzz corpus file", fn)
		}
		lit, ok := strings.CutPrefix(lines[1], "[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		s, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		out = append(out, []byte(s))
	}
	if len(files) == 0 {
		t.Fatal("no fuzz corpus found under router/testdata/fuzz/FuzzParseAttributes")
	}
	return out
}

// TestAttributesAgreementCorpus: the table cases, the fuzz corpus and the
// drill's corrupt values.
func TestAttributesAgreementCorpus(t *testing.T) {
	pool := agreementDB(t)
	docs := fixedCorpus(t)
	verdicts := pgJudge(t, pool, docs)
	stored, valid := 0, 0
	for i, doc := range docs {
		v := verdicts[i]
		if v.stored {
			stored++
		}
		if v.valid {
			valid++
		}
		if msg := disagreement(doc, v); msg != "" {
			t.Error(msg)
		}
	}
	t.Logf("%d documents: PostgreSQL stored %d, %d valid", len(docs), stored, valid)
	if valid < 10 || stored-valid < 50 || len(docs)-stored < 15 {
		t.Fatalf("corpus lost its mix: %d stored, %d valid of %d", stored, valid, len(docs))
	}
	storeDivergence(t, docs, verdicts)
}

// storeDivergence logs documents that PostgreSQL stores in a form whose
// validity differs from the bytes as written. memstore keeps the bytes, so
// the two stores disagree on these; the engine reads what the store gives.
func storeDivergence(t *testing.T, docs [][]byte, verdicts []pgVerdict) {
	n := 0
	for i, doc := range docs {
		v := verdicts[i]
		if !v.stored {
			continue
		}
		raw := router.ValidateAttributes(doc) == nil
		if raw != v.valid {
			n++
			if n <= 10 {
				t.Logf("note: %q is %s as written but %s as jsonb (%q)", clip(doc), validWord(raw), validWord(v.valid), clip([]byte(v.rendered)))
			}
		}
	}
	if n > 0 {
		t.Logf("note: %d documents change validity when stored as jsonb", n)
	}
}

func validWord(b bool) string {
	if b {
		return "valid"
	}
	return "invalid"
}

// ---- random documents ----

var (
	keyVariants = []string{"Priority", "PRIORITY", "Channel", "CHANNEL", "Team", "TIER", "Skills", "ſkills", "s\u212aills",
		"x", "", "prio", "priority ", " team", "queue", "é", "tiers", "skill"}
	alphabet = []rune{'a', 'b', 'Z', '0', ' ', 'é', '日', '𝄞', '\u2028', '"', '\\', '\n', '\t', '\x01', '\x1f', '<', '&',
		'\u00a0', '\u007f', 'ſ', '\ufffd', '/', '\u200b'}
	separators = []string{"", " ", "\n", "\t", "  \r\n"}
)

// jsonString writes s as a JSON string literal, escaping at random where
// JSON allows it.
func jsonString(t *rapid.T, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		mustEscape := r == '"' || r == '\\' || r < 0x20
		if !mustEscape && rapid.IntRange(0, 7).Draw(t, "raw") > 0 {
			b.WriteRune(r)
			continue
		}
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n' && rapid.Bool().Draw(t, "short"):
			b.WriteString(`\n`)
		case r == '\t' && rapid.Bool().Draw(t, "short"):
			b.WriteString(`\t`)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04X`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func genText(t *rapid.T, label string) string {
	n := rapid.OneOf(rapid.SampledFrom([]int{0, 1, 31, 32, 33, 63, 64, 65}), rapid.IntRange(0, 70)).Draw(t, label+"-len")
	rs := make([]rune, n)
	plain := rapid.Bool().Draw(t, label+"-plain")
	for i := range rs {
		if plain {
			rs[i] = rune('a' + rapid.IntRange(0, 25).Draw(t, "c"))
		} else {
			rs[i] = rapid.SampledFrom(alphabet).Draw(t, "r")
		}
	}
	return string(rs)
}

func genOther(t *rapid.T) string {
	return rapid.SampledFrom([]string{`5`, `-1`, `null`, `true`, `false`, `[]`, `{}`, `["a"]`, `{"a": [1, {"b": null}]}`,
		`"x"`, `""`, `1.5`, `[[[]]]`}).Draw(t, "other")
}

func genPriority(t *rapid.T) string {
	if rapid.IntRange(0, 9).Draw(t, "prioKind") < 8 {
		return strconv.Itoa(rapid.IntRange(0, 100).Draw(t, "prio"))
	}
	return rapid.SampledFrom([]string{"-1", "101", "1000", "255", "-0", "1e2", "1E1", "0e0", "5.0", "100.0", "1.5e1",
		"1.0e2", "12345678901234567890", "0.5", "true", "null", `"5"`, `[]`, `{}`, `[5]`, "-5", "99", "1e-0"}).Draw(t, "badPrio")
}

func genChannel(t *rapid.T) string {
	if rapid.IntRange(0, 9).Draw(t, "chKind") < 8 {
		return `"` + rapid.SampledFrom(router.Channels).Draw(t, "ch") + `"`
	}
	return rapid.SampledFrom([]string{`"fax"`, `"Chat"`, `"EMAIL"`, `""`, `"chat "`, `1`, `null`, `["chat"]`,
		`"ch\u0061t"`, `{"a":1}`, `true`, `"sms\n"`}).Draw(t, "badCh")
}

func genOptString(t *rapid.T, label string) string {
	if rapid.IntRange(0, 9).Draw(t, label+"Kind") < 8 {
		return jsonString(t, genText(t, label))
	}
	return genOther(t)
}

func genSkills(t *rapid.T) string {
	if rapid.IntRange(0, 9).Draw(t, "skKind") >= 8 {
		return genOther(t)
	}
	n := rapid.OneOf(rapid.SampledFrom([]int{0, 1, 2, 3, 31, 32, 33}), rapid.IntRange(0, 5)).Draw(t, "nSkills")
	parts := make([]string, n)
	for i := range parts {
		if rapid.IntRange(0, 19).Draw(t, "skElKind") == 0 {
			parts[i] = genOther(t)
		} else if rapid.Bool().Draw(t, "shortSkill") {
			parts[i] = jsonString(t, rapid.SampledFrom([]string{"de", "fr", "vip", "en", "日本"}).Draw(t, "sk"))
		} else {
			parts[i] = jsonString(t, genText(t, "skill"))
		}
	}
	sep := "," + rapid.SampledFrom(separators).Draw(t, "sep")
	return "[" + strings.Join(parts, sep) + "]"
}

// genDoc builds a random JSON object, mostly close to valid attributes.
// Every document is JSON that PostgreSQL can store.
func genDoc() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		var members []string
		add := func(k, v string) {
			ws := func() string { return rapid.SampledFrom(separators).Draw(t, "ws") }
			members = append(members, ws()+jsonString(t, k)+ws()+":"+ws()+v+ws())
		}
		if rapid.IntRange(0, 9).Draw(t, "hasPrio") > 0 {
			add("priority", genPriority(t))
		}
		if rapid.IntRange(0, 9).Draw(t, "hasCh") > 0 {
			add("channel", genChannel(t))
		}
		if rapid.Bool().Draw(t, "hasTeam") {
			add("team", genOptString(t, "team"))
		}
		if rapid.Bool().Draw(t, "hasTier") {
			add("tier", genOptString(t, "tier"))
		}
		if rapid.Bool().Draw(t, "hasSkills") {
			add("skills", genSkills(t))
		}
		if rapid.IntRange(0, 9).Draw(t, "extra") == 0 {
			k := rapid.SampledFrom(keyVariants).Draw(t, "extraKey")
			var v string
			switch rapid.IntRange(0, 3).Draw(t, "extraVal") {
			case 0:
				v = genPriority(t)
			case 1:
				v = genChannel(t)
			default:
				v = genOther(t)
			}
			add(k, v)
		}
		if rapid.IntRange(0, 9).Draw(t, "dup") == 0 {
			k := rapid.SampledFrom([]string{"priority", "channel", "team", "tier", "skills"}).Draw(t, "dupKey")
			add(k, rapid.SampledFrom([]string{genPriority(t), genChannel(t), genOptString(t, "dup"), genSkills(t)}).Draw(t, "dupVal"))
		}
		members = rapid.Permutation(members).Draw(t, "order")
		return "{" + strings.Join(members, ",") + "}"
	})
}

// TestAttributesAgreementRandom: thousands of random documents mixing
// valid and invalid fields, including key names that differ from the real
// ones only in case or by Unicode case folding, in batches of 100 to 200.
func TestAttributesAgreementRandom(t *testing.T) {
	pool := agreementDB(t)
	total, valid := 0, 0
	var inSQL time.Duration
	rapid.Check(t, func(rt *rapid.T) {
		strs := rapid.SliceOfN(genDoc(), 100, 200).Draw(rt, "docs")
		docs := make([][]byte, len(strs))
		for i, s := range strs {
			if !utf8.ValidString(s) || !json.Valid([]byte(s)) {
				rt.Fatalf("generator made a document that is not JSON: %q", s)
			}
			docs[i] = []byte(s)
		}
		start := time.Now()
		verdicts := pgJudge(rt, pool, docs)
		inSQL += time.Since(start)
		for i, doc := range docs {
			if !verdicts[i].stored {
				rt.Fatalf("PostgreSQL refused generated JSON %q", doc)
			}
			if msg := disagreement(doc, verdicts[i]); msg != "" {
				rt.Fatal(msg)
			}
			if verdicts[i].valid {
				valid++
			}
		}
		total += len(docs)
	})
	t.Logf("%d random documents compared, %d of them valid; %v in SQL", total, valid, inSQL.Round(time.Millisecond))
	if !t.Failed() && (total < 1000 || valid < total/10 || valid > total*9/10) {
		t.Fatalf("generator mix is off: %d valid of %d", valid, total)
	}
}

// TestAttributesMarshalAgreementJSONB: Attributes.Marshal claims to render
// attributes exactly as PostgreSQL prints the jsonb value, so that what
// routeops writes reads back byte for byte from either store.
func TestAttributesMarshalAgreementJSONB(t *testing.T) {
	pool := agreementDB(t)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 100).Draw(rt, "n")
		attrs := make([]router.Attributes, n)
		docs := make([][]byte, n)
		for i := range attrs {
			a := router.Attributes{
				Priority: rapid.IntRange(0, 100).Draw(rt, "prio"),
				Channel:  rapid.SampledFrom(router.Channels).Draw(rt, "ch"),
			}
			textOf := func(label string, max int) string {
				s := genText(rt, label)
				if r := []rune(s); len(r) > max {
					s = string(r[:max])
				}
				return s
			}
			if rapid.Bool().Draw(rt, "team") {
				a.Team = textOf("team", router.MaxTeamLen)
			}
			if rapid.Bool().Draw(rt, "tier") {
				a.Tier = textOf("tier", router.MaxTierLen)
			}
			if rapid.Bool().Draw(rt, "skills") {
				for range rapid.IntRange(1, 5).Draw(rt, "nSkills") {
					if s := textOf("skill", router.MaxSkillLen); s != "" {
						a.Skills = append(a.Skills, s)
					}
				}
			}
			if a.Team == "" && a.Tier == "" && len(a.Skills) == 0 && rapid.Bool().Draw(rt, "minimal") {
				a.Team = "t"
			}
			attrs[i] = a
			docs[i] = a.Marshal()
		}
		verdicts := pgJudge(rt, pool, docs)
		for i, v := range verdicts {
			if !v.stored || !v.valid {
				rt.Fatalf("Marshal output %q: stored %v, valid %v", docs[i], v.stored, v.valid)
			}
			if v.rendered != string(docs[i]) {
				rt.Fatalf("Marshal of %#v\n  gives %q\n  jsonb %q", attrs[i], docs[i], v.rendered)
			}
		}
	})
}
