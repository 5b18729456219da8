package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestInsecurePassfileIgnored: a password file that its group or others
// may read is ignored, with a warning naming it, as libpq does; the same
// file with mode 0600 is used. The password never shows.
func TestInsecurePassfileIgnored(t *testing.T) {
	srv := passwordServer(t)
	dsn := pgtest.NewDBOn(t, srv)
	db := dbName(t, dsn)
	const pw = "Pgpass-Only-5ecret"
	if err := srv.Exec(context.Background(), `DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgpass_user') THEN
				CREATE ROLE pgpass_user LOGIN PASSWORD '`+pw+`';
			END IF; END $$`); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dsn)
	file := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("127.0.0.1:%d:%s:pgpass_user:%s\n", srv.Port, db, pw)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ROUTEOPS_DSN=" + srv.DSNAs(db, "pgpass_user", ""), "PGPASSFILE=" + file}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
		r := h.run(env, "status")
		wantFail(t, r, 2, "authentication failed")
		if !strings.Contains(r.Stderr, "password file "+file) || !strings.Contains(r.Stderr, "chmod 0600") {
			t.Fatalf("mode %04o: no warning about the password file:\n%s", mode, r)
		}
		noSecret(t, r, pw)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run(env, "status")
	// In, and without grants no further.
	wantFail(t, r, 2, "permission denied")
	if strings.Contains(r.Stderr, "password file") {
		t.Fatalf("a 0600 password file was warned about:\n%s", r)
	}
	noSecret(t, r, pw)
}

// TestHelpSaysHowToKeepPasswordsOffTheCommandLine: --help for --dsn names
// ROUTEOPS_DSN, PGPASSFILE and PGPASSWORD.
func TestHelpSaysHowToKeepPasswordsOffTheCommandLine(t *testing.T) {
	h := newHarness(t, "")
	for _, args := range [][]string{{"--help"}, {"status", "--help"}} {
		r := h.mustRun(nil, args...)
		var dsnLine string
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "--dsn ") {
				dsnLine = l
			}
		}
		for _, want := range []string{"ROUTEOPS_DSN", "PGPASSFILE", "PGPASSWORD"} {
			if !strings.Contains(dsnLine, want) {
				t.Errorf("routeops %s: the --dsn line does not name %s: %q", strings.Join(args, " "), want, dsnLine)
			}
		}
	}
}

// bigTenant makes org-0003 hold 40 queued items whose current revisions
// (and journal copies) are 10 MB documents, written while the limit
// allowed it (raised with migrate --attributes-limit), then puts the
// default 64 KiB limit back: what a tenant's blobs from before the limit
// look like.
func bigTenant(t *testing.T, h *rig) []int64 {
	t.Helper()
	h.mustRun(nil, seedArgs(3, 20)...)
	h.mustRun(nil, "migrate", "--attributes-limit", "64MiB")
	ids := h.Oversized("org-0003", "default", 40, 10<<20)
	h.mustRun(nil, "migrate", "--attributes-limit", "64KiB")
	if n := h.count(`SELECT count(*) FROM work_item_revisions WHERE attributes_bytes > 10000000`); n != 40 {
		t.Fatalf("%d revisions of 10 MB, want 40", n)
	}
	return ids
}

// TestOversizedTenantBoundedMemory: a tenant holding 10 MB attribute
// documents costs every command a bounded amount of memory and output
// (under 150 MB resident, under 1 MB printed): lists and claims never
// fetch the blobs, the engine faults those items as oversized_attributes
// without loading them, and repair and the item view report sizes.
func TestOversizedTenantBoundedMemory(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	ids := bigTenant(t, h)
	item := fmt.Sprint(ids[0])
	const maxRSS, maxOut = 150 << 20, 1 << 20
	measure := func(code int, args ...string) harness.Result {
		t.Helper()
		r, rss := h.RunMeasured(args...)
		if r.Code != code {
			t.Fatalf("want exit %d:\n%s", code, r)
		}
		t.Logf("routeops %-40s %6.1f MB resident, %8d bytes out, %s", strings.Join(args, " "), float64(rss)/(1<<20),
			len(r.Stdout)+len(r.Stderr), r.Took.Round(time.Millisecond))
		if rss > maxRSS {
			t.Errorf("routeops %s: %d MB resident, want under 150 MB", strings.Join(args, " "), rss>>20)
		}
		if rss == 0 {
			t.Fatalf("no peak memory reported for routeops %s", strings.Join(args, " "))
		}
		if len(r.Stdout)+len(r.Stderr) > maxOut {
			t.Errorf("routeops %s printed %d bytes", strings.Join(args, " "), len(r.Stdout)+len(r.Stderr))
		}
		return r
	}
	measure(0, "items", "list", "--org", "org-0003", "--limit", "50")
	measure(0, "items", "list", "--org", "org-0003", "--limit", "50", "-o", "json")
	if r := measure(0, "items", "show", item); !strings.Contains(r.Stdout, "OVERSIZED") {
		t.Errorf("items show does not say the revision is oversized:\n%s", r.Stdout)
	}
	measure(0, "items", "show", item, "-o", "json")
	measure(0, "status", "--all")
	measure(0, "repair", "plan")
	measure(0, "repair", "plan", "-o", "json")
	measure(2, "verify")
	measure(0, "serve", "--until-idle")
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'quarantined' AND fault_cause = 'oversized_attributes'
		AND id = ANY($1)`, ids); n != len(ids) {
		t.Fatalf("%d of %d items with 10 MB documents quarantined as oversized_attributes", n, len(ids))
	}
	measure(0, "items", "list", "--org", "org-0003", "--state", "quarantined")
	measure(0, "timeline", "--since", "2h")
	measure(1, "check") // a warning: quarantined items
}

// unsafeIn returns the first rune of out that must never reach a terminal
// (line breaks and tabs aside), and its offset.
func unsafeIn(out string) (rune, int, bool) {
	for i, r := range out {
		if r != '\n' && r != '\t' && router.UnsafeRune(r) {
			return r, i, true
		}
	}
	return 0, 0, false
}

// TestCLIEscapesHostileRows: fed hostile rows (pgtest.DB.Hostile: escapes
// that set the title, write the clipboard with OSC 52 and clear the
// screen; C1 controls U+009B and U+009D; U+202E; BEL), no output of any
// command, table, JSON, Markdown or error, carries an ESC, BEL, C1 or bidi
// byte: they show escaped (\x1b, \u202e), and JSON escapes them as
// \uXXXX.
func TestCLIEscapesHostileRows(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(2, 5)...)
	ids := h.Hostile()
	item, quarantined, queued := fmt.Sprint(ids[0]), fmt.Sprint(ids[len(ids)-1]), fmt.Sprint(ids[1])
	org, queue := pgtest.HostileOrg, pgtest.HostileQueue
	for _, c := range []struct {
		code int
		args []string
	}{
		{0, []string{"status"}}, {0, []string{"status", "--all"}}, {0, []string{"status", "-o", "json"}},
		{0, []string{"status", "--org", org}}, {2, []string{"check"}}, {2, []string{"check", "-o", "json"}}, // critical: no engine runs
		{0, []string{"items", "list"}}, {0, []string{"items", "list", "-o", "json"}},
		{0, []string{"items", "list", "--org", org, "--queue", queue}},
		{0, []string{"items", "show", item}}, {0, []string{"items", "show", item, "--full"}},
		{0, []string{"items", "show", item, "-o", "json"}},
		{0, []string{"timeline", "--since", "24h"}}, {0, []string{"timeline", "--since", "24h", "-o", "markdown"}},
		{0, []string{"timeline", "--since", "24h", "-o", "json"}},
		{0, []string{"repair", "plan"}}, {0, []string{"repair", "plan", "-o", "json"}},
		{0, []string{"verify"}}, {0, []string{"verify", "-o", "json"}},
		{2, []string{"items", "show", item, "--org", "org-0001"}},
		{0, []string{"quarantine", queued, "--reason", "INC\x1b]0;x\x07 " + pgtest.HostileLastError, "--yes"}},
		{0, []string{"release", quarantined, "--yes", "-o", "json"}},
		{0, []string{"pause", org + "/" + queue, "--reason", "INC\x1b]0;x\x07\u202e", "--for", "1h", "--yes"}},
		{2, []string{"pause", org + "/nope\x1b[2J", "--reason", "x", "--yes"}},
		// Sets, teams, agents and the impact report over the same rows.
		{0, []string{"status", "--org", org}}, {0, []string{"status", "--org", org, "-o", "json"}},
		{0, []string{"teams", "list"}}, {0, []string{"teams", "list", "-o", "json"}},
		{0, []string{"agents", "list", "--org", org}}, {0, []string{"agents", "list", "--org", org, "-o", "json"}},
		{0, []string{"team", "pause", org + "/" + pgtest.HostileTeam, "--reason", "off\x1b[2J\u009b", "--yes"}},
		{0, []string{"teams", "list", "--org", org}},
		{0, []string{"agent", "set-status", org + "/" + pgtest.HostileAgent, "away", "--yes"}},
		{0, []string{"items", "list", "--org", org, "--count"}}, {0, []string{"items", "list", "--org", org, "--attr", "priority=5", "-o", "json"}},
		{0, []string{"quarantine", "--org", org, "--reason", "bulk\x1b]0;x\x07", "--yes"}},
		{0, []string{"release", "--org", org, "--rate", "100", "--yes"}},
		{0, []string{"repair", "plan", "--org", org}},
		{0, []string{"impact", "--since", "24h"}}, {0, []string{"impact", "--since", "24h", "-o", "markdown"}},
		{0, []string{"impact", "--since", "24h", "--org", org, "-o", "json"}},
		{0, []string{"timeline", "--since", "24h"}},
		{1, []string{"items", "show", "12\x1b]0;x\x07"}},
		// SQL in arguments is data: every query is parameterised.
		{0, []string{"items", "list", "--org", "o'; DROP TABLE events; --", "--queue", "q' OR '1'='1"}},
		{2, []string{"pause", "o'; DELETE FROM work_items; --/q", "--reason", "x", "--yes"}},
	} {
		r := h.run([]string{"ROUTEOPS_OPERATOR=olga"}, c.args...)
		if r.Code != c.code {
			t.Errorf("want exit %d:\n%s", c.code, r)
			continue
		}
		if ru, at, bad := unsafeIn(r.Stdout + r.Stderr); bad {
			t.Errorf("routeops %q wrote U+%04X raw at byte %d:\n%q", c.args, ru, at, r.Stdout+r.Stderr)
		}
	}
	if n := h.count(`SELECT count(*) FROM work_items`); n != 13 {
		t.Fatalf("%d items after SQL in the arguments, want 13", n)
	}
	// The hostile text was shown, escaped, not dropped.
	r := h.mustRun(nil, "items", "show", item)
	for _, want := range []string{`evil\x1b]0;pwned\x07org`, `boom\x1b[2J\x07\u202e second line`, `mallory\x1b]52;c;cHduZWQ=\x07@10.0.0.1\u202e (login `} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("items show lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// TestOperatorNamesCheckedAlike: an operator name with a control character
// or a bidi mark is refused whatever it comes from (--operator, the
// config's ROUTEOPS_OPERATOR, SUDO_USER, USER), with exit 1, a message
// that shows it escaped, and nothing recorded.
func TestOperatorNamesCheckedAlike(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(1, 5)...)
	item := fmt.Sprint(h.Ints(`SELECT min(id) FROM work_items`)[0])
	before := h.Digest()
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--operator", "alice\u202e", "quarantine", item, "--reason", "x", "--yes"}},
		{[]string{"ROUTEOPS_OPERATOR=bob\x1b]0;pwned\x07"}, []string{"quarantine", item, "--reason", "x", "--yes"}},
		{[]string{"SUDO_USER=sam\x1b]52;c;cHduZWQ=\x07", "USER=root"}, []string{"quarantine", item, "--reason", "x", "--yes"}},
		{[]string{"USER=u\u009b2J"}, []string{"quarantine", item, "--reason", "x", "--yes"}},
		{[]string{"SUDO_USER=sam\x07"}, []string{"status"}},
	} {
		r := h.run(c.env, c.args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "control characters or bidi marks") {
			t.Errorf("env %q: want exit 1 refusing the name:\n%s", c.env, r)
		}
		if ru, at, bad := unsafeIn(r.Stdout + r.Stderr); bad {
			t.Errorf("env %q: U+%04X raw at byte %d: %q", c.env, ru, at, r.Stderr)
		}
	}
	if h.Digest() != before {
		t.Fatal("a refused name changed data")
	}
	h.mustRun([]string{"SUDO_USER=sam", "USER=root"}, "quarantine", item, "--reason", "x", "--yes")
}

// TestOperatorCannotForgeTheJournal: the operator role writes events with
// any actor, origin and time it likes (routeops's own actions claim the
// operator's name and SSH origin), but the database adds the login that
// wrote each one and its own clock, and the timeline and the item view
// show them beside the claim. The operator cannot write an item's journal
// copy.
func TestOperatorCannotForgeTheJournal(t *testing.T) {
	a := newAccessDB(t)
	item := a.firstItem(t, "org-0001")
	conn := a.connect(t, a.opsDSN)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `INSERT INTO events (org_id, kind, actor, origin, at, work_item_id, db_user, recorded_at)
		VALUES ('org-0001', 'released', 'carol', '10.1.2.3', now() - interval '30 minutes', $1, 'postgres', now() - interval '30 minutes')`, item); err != nil {
		t.Fatal(err)
	}
	var login string
	var recent bool
	if err := a.h.Pool().QueryRow(ctx, `SELECT db_user, recorded_at > now() - interval '5 minutes' FROM events WHERE actor = 'carol'`).Scan(&login, &recent); err != nil {
		t.Fatal(err)
	}
	if login != a.operator || !recent {
		t.Fatalf("forged event: db_user %q (want %q), recorded recently %v", login, a.operator, recent)
	}
	// routeops's own action, with a claimed name and a forged SSH origin.
	a.h.mustRun(a.as(a.opsDSN, "ROUTEOPS_OPERATOR=alice", "SSH_CONNECTION=198.51.100.7 50000 10.0.0.1 22"),
		"quarantine", fmt.Sprint(item), "--reason", "INC-9", "--yes")
	for _, args := range [][]string{{"timeline", "--since", "2h"}, {"items", "show", fmt.Sprint(item)}} {
		r := a.h.mustRun(a.as(a.viewerDSN), args...)
		for _, want := range []string{"carol", "(login " + a.operator + ")", "(recorded ", "alice"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("routeops %s lacks %q:\n%s", strings.Join(args, " "), want, r.Stdout)
			}
		}
	}
	for _, sql := range []string{
		`UPDATE work_items SET journal_attributes = '{"priority": 100, "channel": "voice"}' WHERE id = $1`,
		`UPDATE work_items SET journal_revision_id = current_revision_id, journal_attributes = '{"priority": 1, "channel": "sms"}' WHERE id = $1`,
		`UPDATE work_items SET journal_attributes = NULL, journal_revision_id = NULL WHERE id = $1`,
	} {
		if _, err := conn.Exec(ctx, sql, item); err == nil || !strings.Contains(err.Error(), "journal copy") {
			t.Errorf("the operator ran %q: %v", sql, err)
		}
	}
}

// TestReleaseRefusesABrokenRevision: releasing an item whose current
// revision is still missing is refused (exit 2, "repair it first") and
// changes nothing; --force releases it, and the journal says it was
// forced.
func TestReleaseRefusesABrokenRevision(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(1, 10)...)
	item := fmt.Sprint(h.Ints(`SELECT min(id) FROM work_items`)[0])
	h.DeleteCurrentRevisions(h.Ints(`SELECT min(id) FROM work_items`)...)
	h.mustRun(nil, "quarantine", item, "--reason", "revision gone", "--yes")
	before := h.Digest()
	r := h.run(nil, "release", item, "--yes")
	if r.Code != 2 || !strings.Contains(r.Output(), "missing") || !strings.Contains(r.Output(), "repair it first") {
		t.Fatalf("release of an item whose revision is missing:\n%s", r)
	}
	if h.Digest() != before {
		t.Fatal("the refused release changed data")
	}
	h.mustRun(nil, "release", item, "--force", "--yes")
	if n := h.count(`SELECT count(*) FROM events WHERE kind = 'released' AND work_item_id = $1 AND (detail ->> 'forced')::bool`, item); n != 1 {
		t.Fatalf("%d forced release events", n)
	}
	// In bulk, the same rule: the broken item is left alone (exit 2) unless
	// --force, and a forced release is journalled as forced.
	other := h.Ints(`SELECT id FROM work_items ORDER BY id OFFSET 1 LIMIT 1`)[0]
	h.DeleteCurrentRevisions(other)
	h.mustRun(nil, "quarantine", fmt.Sprint(other), "--reason", "revision gone", "--yes")
	before = h.Digest()
	r = h.run(nil, "release", "--state", "quarantined", "--yes")
	if r.Code != 2 || !strings.Contains(r.Output(), "left alone") {
		t.Fatalf("bulk release of an item whose revision is missing:\n%s", r)
	}
	if h.Digest() != before {
		t.Fatal("the held-back bulk release changed data")
	}
	h.mustRun(nil, "release", "--state", "quarantined", "--force", "--yes")
	if n := h.count(`SELECT count(*) FROM events WHERE kind = 'released' AND work_item_id = $1 AND operation_id IS NOT NULL
		AND (detail ->> 'forced')::bool AND detail ->> 'revision' = 'missing'`, other); n != 1 {
		t.Fatalf("%d forced bulk release events", n)
	}
}

// TestMalformedPasswordNeverShown: a DSN whose password holds a quote that
// is not escaped makes the driver refuse the DSN and quote what follows
// the quote; routeops's message never shows any of the password, in the
// environment or on the command line.
func TestMalformedPasswordNeverShown(t *testing.T) {
	h := newHarness(t, "")
	for _, dsn := range []string{
		"host=127.0.0.1 user=u password='abc'defSECRET' connect_timeout=x",
		"host=127.0.0.1 user=u password=abc'defSECRET connect_timeout=x",
		"host=127.0.0.1 user=u password='abc'de fSECRET' sslmode=bogus",
	} {
		for _, r := range []harness.Result{
			h.run([]string{"ROUTEOPS_DSN=" + dsn}, "status"),
			h.run(nil, "--dsn", dsn, "migrate"),
			h.run([]string{"ROUTEOPS_DSN=" + dsn}, "config"),
		} {
			if strings.Contains(r.Output(), "SECRET") || strings.Contains(r.Output(), "defSE") {
				t.Errorf("the password shows:\n%s", r)
			}
		}
	}
}
