package redact

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/routeops/routeops/redact/redacttest"
)

// pgxOptions keeps pgx's parser away from files and the network.
var pgxOptions = pgconn.ParseConfigOptions{ConnStringAllowedKeys: []string{
	"host", "port", "user", "password", "database", "dbname", "sslmode", "sslpassword",
	"application_name", "connect_timeout", "target_session_attrs",
}}

// FuzzRedactDSN checks that a password never survives DSN or Text. It
// uses pgx's own parser as the judge of what the password of an
// arbitrary dsn is, and also builds DSNs of every form around pw.
func FuzzRedactDSN(f *testing.F) {
	f.Setenv("PGPASSWORD", "")
	f.Setenv("PGSSLPASSWORD", "")
	f.Setenv("PGPASSFILE", filepath.Join(f.TempDir(), "none"))
	f.Setenv("PGSERVICEFILE", filepath.Join(f.TempDir(), "none"))
	f.Setenv("PGSERVICE", "")
	f.Add("postgres://u:secret@h/db", "p@ss w/rd")
	f.Add("host=h password='abc'defSECRET' connect_timeout=x", "abc'defSECRET")
	f.Fuzz(func(t *testing.T, dsn string, pw string) {
		malformedPasswordHidden(t, pw)
		// Arbitrary input: never panics, and what pgx would send as the
		// password is hidden.
		out := DSN(dsn)
		if cfg, err := pgconn.ParseConfigWithOptions(dsn, pgxOptions); err == nil && cfg.Password != "" {
			p := cfg.Password
			msg := "failed: " + p + " | " + dsn + " | " + fmt.Sprintf("%q", p)
			if got := Text(msg, dsn); strings.Contains(got, p) {
				t.Fatalf("Text(%q, %q) = %q holds pgx's password %q", msg, dsn, got, p)
			}
			if !strings.Contains(p, "\x00") && strings.Count(dsn, p) <= 1 {
				if nul, _ := redactDSN(dsn, "\x00"); strings.Contains(nul, p) {
					t.Fatalf("DSN(%q) = %q holds pgx's password %q", dsn, out, p)
				}
			}
		}

		// Built DSNs around pw.
		if pw == "" || strings.Contains(pw, "\x00") {
			return
		}
		for _, form := range builtForms(pw) {
			d := form.prefix + form.written + form.suffix
			skeleton := form.prefix + "\x00" + form.suffix
			if !strings.Contains(skeleton, pw) {
				if nul, _ := redactDSN(d, "\x00"); strings.Contains(nul, pw) {
					t.Fatalf("DSN(%q) = %q holds the password %q", d, DSN(d), pw)
				}
			}
			msg := "error: " + d + " pw=" + pw + " written=" + form.written
			if got := Text(msg, d); strings.Contains(got, pw) || strings.Contains(got, form.written) {
				t.Fatalf("Text(%q, %q) = %q holds the password", msg, d, got)
			}
		}
	})
}

// malformedPasswordHidden: a password written into a keyword/value DSN
// without the quoting it needs (a quote inside it) makes pgx refuse the
// DSN, quoting what follows the early end of the value; no piece of the
// password survives Text in that error.
func malformedPasswordHidden(t *testing.T, pw string) {
	if pw == "" || strings.ContainsAny(pw, " \t\n\r\v\f=\\\x00") || !strings.Contains(pw, "'") {
		return
	}
	for _, form := range []builtForm{
		{"host=h user=u password=", pw, " connect_timeout=x"},
		{"host=h user=u password='", pw, "' connect_timeout=x"},
		{"password=", pw, " sslmode=bogus host=h"},
	} {
		d := form.prefix + form.written + form.suffix
		_, err := pgconn.ParseConfigWithOptions(d, pgxOptions)
		if err == nil {
			continue
		}
		got := Text(err.Error(), d)
		// The same DSN with every character of the password but its quotes
		// replaced: pgx's own words in the error are in its error too.
		neutral := strings.Map(func(r rune) rune {
			if r == '\'' {
				return r
			}
			return 'Z'
		}, pw)
		_, nerr := pgconn.ParseConfigWithOptions(form.prefix+neutral+form.suffix, pgxOptions)
		if nerr == nil {
			continue
		}
		for _, piece := range strings.Split(pw, "'") {
			if len(piece) >= 4 && strings.Count(got, piece) > strings.Count(nerr.Error()+form.prefix+form.suffix, piece) {
				t.Fatalf("Text(%q, %q) = %q holds %q, a piece of the password %q", err.Error(), d, got, piece, pw)
			}
		}
	}
}

type builtForm struct{ prefix, written, suffix string }

func builtForms(pw string) []builtForm {
	return []builtForm{
		{"postgres://u:", redacttest.PercentEncodeAll(pw), "@h:5432/db?sslmode=require"},
		{"postgresql://u:", redacttest.PercentEncodeSome(pw), "@h/db"},
		{"postgres://h/db?user=u&password=", redacttest.PercentEncodeAll(pw), "&sslmode=disable"},
		{"host=h user=u password=", redacttest.QuoteKeyword(pw), " dbname=db"},
		{"host=h sslpassword = ", redacttest.QuoteKeyword(pw), " sslmode=verify-full"},
		{"password=", redacttest.EscapeKeyword(pw), " host=h"},
	}
}

// TestRedactAgainstPgx: for DSNs that pgx accepts, the password pgx would
// send is hidden by DSN and Text.
func TestRedactAgainstPgx(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("PGSERVICEFILE", filepath.Join(t.TempDir(), "none"))
	dsns := []string{
		"postgres://u:s3cret@h/db",
		"postgres://u: s3cret @h/db",
		"postgres://u:p%25w%20x@h/db",
		"postgres://u:s3cret@h/db?password=other",
		"postgres://u:s3cret@h1:5432,h2:5433/db",
		"postgresql://u:s3cret@/db?host=/tmp",
		"postgres://[::1]:5432/db?user=u&password=a%26b",
		"postgres://h/db?pass%77ord=s3cret",
		"postgres://u:p@ss@h/db",
		"host=h password=s3cret user=u",
		" host=h   password = s3cret\tuser=u",
		"host=h password='s3 cret' user=u",
		`host=h password='it\'s' user=u`,
		`host=h password=p\'q user=u`,
		`host=h password=a\ b\\c user=u`,
		"host=h password='' user=u",
		"host=h sslmode=disable password=s3cret",
	}
	checked := 0
	for _, dsn := range dsns {
		cfg, err := pgconn.ParseConfigWithOptions(dsn, pgxOptions)
		if err != nil || cfg.Password == "" {
			continue
		}
		checked++
		p := cfg.Password
		// (A password that also occurs elsewhere in the DSN, like "p" in
		// "postgres", stays there: DSN masks password positions.)
		if nul, _ := redactDSN(dsn, "\x00"); strings.Count(dsn, p) <= 1 && strings.Contains(nul, p) {
			t.Errorf("DSN(%q) = %q holds %q", dsn, DSN(dsn), p)
		}
		msg := "password " + p + " refused for " + dsn
		if out := Text(msg, dsn); strings.Contains(out, p) {
			t.Errorf("Text(%q) = %q holds %q", msg, out, p)
		}
	}
	if checked < 12 {
		t.Errorf("pgx parsed only %d of the DSNs with a password", checked)
	}
}
