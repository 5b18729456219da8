package reliability

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

const secret = "hunter2secret"

// noSecret fails if the password appears anywhere in a run's output.
func noSecret(t testing.TB, r harness.Result, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, secret) {
		if strings.Contains(r.Output(), s) {
			t.Fatalf("the output shows the password %q:\n%s", s, r)
		}
	}
}

// wantFail checks an exit code and that the output names the problem.
func wantFail(t testing.TB, r harness.Result, code int, substrs ...string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want exit %d:\n%s", code, r)
	}
	for _, s := range substrs {
		if !strings.Contains(r.Output(), s) {
			t.Fatalf("the output should say %q:\n%s", s, r)
		}
	}
	if strings.Contains(r.Output(), "goroutine ") || strings.Contains(r.Output(), "panic") {
		t.Fatalf("a stack trace instead of a message:\n%s", r)
	}
}

// dbName is the database of a URL DSN.
func dbName(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// blackhole is a TCP server that accepts connections and never answers,
// like a firewalled or hung database: a client waits for the server's
// reply until its connect timeout.
func blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUnreachableDSN: a DSN nobody answers on fails within the connect
// timeout (the acceptance: within 20 s with the default 10 s), with exit 2
// (check: 3, UNKNOWN), a message that says it is unreachable, and never
// the password, whether the DSN is a URL or keyword/value, given by flag,
// environment or config file.
func TestUnreachableDSN(t *testing.T) {
	h := newHarness(t, "")
	refused := "postgres://u:" + secret + "@127.0.0.1:1/db"
	hole := blackhole(t)
	holeHost, holePort, _ := net.SplitHostPort(hole)
	holeURL := "postgres://u:" + secret + "@" + hole + "/db?sslmode=disable"
	holeKV := fmt.Sprintf("host=%s port=%s user=u password=%s dbname=db sslmode=disable", holeHost, holePort, secret)

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		h := h.For(t)
		for _, args := range [][]string{
			{"status"}, {"status", "-o", "json"}, {"serve", "--until-idle"}, {"verify", "-o", "json"},
			{"quarantine", "7", "--reason", "x", "--yes"}, {"items", "show", "7"}, {"migrate"}, {"timeline"},
			{"repair", "plan"}, {"cleanup", "plan", "--older-than", "1h"},
		} {
			r := h.run(nil, append([]string{"--dsn", refused}, args...)...)
			wantFail(t, r, 2, "connect to postgres://u@127.0.0.1:1/db")
			noSecret(t, r)
		}
		r := h.run(nil, "--dsn", refused, "check")
		wantFail(t, r, 3, "ROUTEOPS UNKNOWN", "connect to postgres://u@127.0.0.1:1/db")
		noSecret(t, r)
	})
	t.Run("blackhole-2s", func(t *testing.T) {
		t.Parallel()
		h := h.For(t)
		for _, dsn := range []string{holeURL, holeKV} {
			r := h.run([]string{"ROUTEOPS_DB_CONNECT_TIMEOUT=2s", "ROUTEOPS_DSN=" + dsn}, "status")
			wantFail(t, r, 2, "unreachable within the connect timeout")
			noSecret(t, r)
			if r.Took > 10*time.Second {
				t.Fatalf("took %s with db.connect_timeout 2s", r.Took)
			}
			t.Logf("blackhole, connect timeout 2s: failed after %s", r.Took.Round(time.Millisecond))
		}
		// The password in a config file is never shown either.
		cfg := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(cfg, []byte("dsn: \""+holeURL+"\"\ndb:\n  connect_timeout: 2s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := h.run(nil, "--config", cfg, "check", "-o", "json")
		wantFail(t, r, 3, `"status": "unknown"`)
		noSecret(t, r)
	})
	t.Run("blackhole-default-timeout", func(t *testing.T) {
		t.Parallel()
		h := h.For(t)
		r := h.run([]string{"ROUTEOPS_DSN=" + holeURL}, "serve", "--until-idle")
		wantFail(t, r, 2, "unreachable within the connect timeout")
		noSecret(t, r)
		if r.Took > 20*time.Second {
			t.Fatalf("an unreachable DSN took %s to fail; the acceptance is 20 s", r.Took)
		}
		t.Logf("blackhole, default connect timeout (10s): failed after %s", r.Took.Round(time.Millisecond))
	})
}

// TestWrongPassword: a role that must log in with a password (a private
// server with scram-sha-256 for every role but the superuser) and the wrong
// password get exit 2 and "authentication failed", with the password
// never shown, in a URL, a keyword/value DSN, or PGPASSWORD.
func TestWrongPassword(t *testing.T) {
	srv := passwordServer(t)
	dsn := pgtest.NewDBOn(t, srv)
	db := dbName(t, dsn)
	ctx := context.Background()
	if err := srv.Exec(ctx, `DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pw_user') THEN
				CREATE ROLE pw_user LOGIN PASSWORD 'Right-Pa55';
			END IF; END $$`); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dsn)
	before := h.Digest()
	wrongURL := srv.DSNAs(db, "pw_user", secret)
	wrongKV := fmt.Sprintf("host=127.0.0.1 port=%d user=pw_user password=%s dbname=%s sslmode=disable", srv.Port, secret, db)
	for _, dsn := range []string{wrongURL, wrongKV} {
		for _, args := range [][]string{{"status"}, {"migrate"}, {"quarantine", "1", "--reason", "x", "--yes"}, {"serve", "--until-idle"}} {
			r := h.run([]string{"ROUTEOPS_DSN=" + dsn}, args...)
			wantFail(t, r, 2, "authentication failed: wrong user or password")
			noSecret(t, r)
		}
	}
	// The password from PGPASSWORD, the DSN without one.
	r := h.run([]string{"ROUTEOPS_DSN=" + srv.DSNAs(db, "pw_user", ""), "PGPASSWORD=" + secret}, "status")
	wantFail(t, r, 2, "authentication failed")
	noSecret(t, r)
	// The right password gets in (and, without grants, no further).
	r = h.run([]string{"ROUTEOPS_DSN=" + srv.DSNAs(db, "pw_user", "Right-Pa55")}, "status")
	wantFail(t, r, 2, "permission denied")
	noSecret(t, r, "Right-Pa55")
	if after := h.Digest(); after != before {
		t.Fatal("a failed login changed data")
	}
}

// TestNoSchema: a database without the routeops schema gets exit 2 and a
// message telling the user to run `routeops migrate` (check: UNKNOWN, 3),
// and no command but migrate creates anything in it.
func TestNoSchema(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	h := newHarness(t, dsn)
	for _, args := range [][]string{{"status"}, {"serve", "--until-idle"}, {"verify"}, {"items", "list"},
		{"quarantine", "1", "--reason", "x", "--yes"}, {"repair", "apply", "--yes"}, {"timeline"}, {"migrate", "--roles", "--read-only"}} {
		r := h.run(nil, args...)
		if args[0] == "migrate" {
			wantFail(t, r, 2, "read-only")
			continue
		}
		wantFail(t, r, 2, "run `routeops migrate`")
	}
	r := h.run(nil, "check")
	wantFail(t, r, 3, "ROUTEOPS UNKNOWN", "routeops migrate")
	if n := h.count(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'public'`); n != 0 {
		t.Fatalf("%d relations were created in a database without the schema", n)
	}
	h.mustRun(nil, "migrate")
	h.mustRun(nil, "status")
}

// TestSchemaNewerThanBinary: a database migrated by a newer routeops
// (routeops_schema_version at 99) is refused by every command, migrate
// included, with exit 2 and "upgrade routeops"; nothing changes.
func TestSchemaNewerThanBinary(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(2, 20)...)
	h.Exec(`UPDATE routeops_schema_version SET version = 99`)
	before := h.Digest()
	var item int64
	if err := h.Pool().QueryRow(context.Background(), `SELECT min(id) FROM work_items`).Scan(&item); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"migrate"}, {"migrate", "--roles"}, {"serve", "--until-idle"},
		{"quarantine", fmt.Sprint(item), "--reason", "x", "--yes"}, {"verify"}, {"repair", "apply", "--yes"},
		{"cleanup", "apply", "--older-than", "1s", "--yes"}} {
		r := h.run(nil, args...)
		wantFail(t, r, 2, "newer than this routeops binary", "upgrade routeops", "version 99")
	}
	if n := h.count(`SELECT version FROM routeops_schema_version`); n != 99 {
		t.Fatalf("schema version %d, want 99 untouched", n)
	}
	if h.Digest() != before {
		t.Fatal("a refused command changed data")
	}
}

// TestConfigErrors: a broken config file exits 1 naming the file and the
// problem; an unknown key only warns (with a suggestion); a bad value, from
// a file, the environment (the acceptance: ROUTEOPS_ROUTING_ON_ITEM_FAULT=
// bogus) or a flag, exits 1 naming the key and the allowed values; check
// reports them as UNKNOWN (3). Nothing is routed or changed meanwhile.
func TestConfigErrors(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(2, 20)...)
	before := h.Digest()
	write := func(name, body string) string {
		p := filepath.Join(h.Dir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Broken files, found by name or given with --config.
	write("routeops.yaml", "dsn: [unterminated\n")
	wantFail(t, h.run(nil, "serve", "--until-idle"), 1, "routeops.yaml", "invalid YAML", "line 1")
	r := h.run(nil, "check")
	wantFail(t, r, 3, "ROUTEOPS UNKNOWN", "invalid YAML")
	os.Remove(filepath.Join(h.Dir(), "routeops.yaml"))
	for name, body := range map[string]string{"b.json": `{"dsn": `, "b.toml": `dsn = "x`, "b.yml": "\t- :"} {
		wantFail(t, h.run(nil, "--config", write(name, body), "serve", "--until-idle"), 1, name, "invalid")
	}
	wantFail(t, h.run(nil, "--config", filepath.Join(h.Dir(), "nope.yaml"), "status"), 1, "nope.yaml", "does not exist")

	// Unknown keys warn, and the command runs.
	r = h.run(nil, "--config", write("u.yaml", "routng:\n  on_item_fault: skip\nrouting:\n  on_item_faul: skip\n"), "status", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stderr, "warning: unknown config key routing.on_item_faul") ||
		!strings.Contains(r.Stderr, "did you mean routing.on_item_fault?") || !strings.Contains(r.Stderr, "routng.on_item_fault") {
		t.Fatalf("unknown keys should warn and run:\n%s", r)
	}

	// Bad values.
	r = h.run([]string{"ROUTEOPS_ROUTING_ON_ITEM_FAULT=bogus"}, "serve", "--until-idle")
	wantFail(t, r, 1, `routing.on_item_fault: "bogus" is not allowed`, "allowed: quarantine, skip, block", "ROUTEOPS_ROUTING_ON_ITEM_FAULT")
	wantFail(t, h.run(nil, "serve", "--until-idle", "--on-item-fault", "bogus"), 1, "routing.on_item_fault", "quarantine, skip, block")
	wantFail(t, h.run(nil, "--config", write("v.yaml", "health:\n  stall_after: soon\n"), "serve", "--until-idle"), 1,
		"health.stall_after", "not a duration")
	wantFail(t, h.run([]string{"ROUTEOPS_DB_CONNECT_TIMEOUT=forever"}, "status"), 1, "db.connect_timeout")
	wantFail(t, h.run([]string{"ROUTEOPS_ROUTING_WORKERS=0"}, "serve", "--until-idle"), 1, "routing.workers", "1 to 256")
	wantFail(t, h.run([]string{"ROUTEOPS_CONSOLE_READ_ONLY=maybe"}, "quarantine", "1", "--reason", "x", "--yes"), 1,
		"console.read_only", "true, false")
	wantFail(t, h.run([]string{"ROUTEOPS_ROUTING_ON_ITEM_FAULT=bogus"}, "check"), 3, "ROUTEOPS UNKNOWN", "routing.on_item_fault")
	wantFail(t, h.run(nil, "status", "-o", "yaml"), 1, "not a known output format")
	if h.Digest() != before {
		t.Fatal("a configuration error changed data (did serve route?)")
	}
}

// TestBadItemIDs: unknown ids, ids from another org (--org) and malformed
// ids each get a clear message and the documented exit code (2 for a
// refused action, 1 for a malformed argument), and change nothing, even
// when mixed with valid ids.
func TestBadItemIDs(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(2, 5)...)
	ctx := context.Background()
	var org1Item, org2Item int64
	if err := h.Pool().QueryRow(ctx, `SELECT min(id) FROM work_items WHERE org_id = 'org-0001'`).Scan(&org1Item); err != nil {
		t.Fatal(err)
	}
	if err := h.Pool().QueryRow(ctx, `SELECT min(id) FROM work_items WHERE org_id = 'org-0002'`).Scan(&org2Item); err != nil {
		t.Fatal(err)
	}
	before := h.Digest()
	unknown := "999999999"
	wantFail(t, h.run(nil, "quarantine", unknown, "--reason", "x", "--yes"), 2, "item 999999999 does not exist")
	wantFail(t, h.run(nil, "release", unknown, "--yes"), 2, "item 999999999 does not exist")
	wantFail(t, h.run(nil, "items", "show", unknown), 2, "item 999999999 does not exist")

	other := fmt.Sprint(org2Item)
	wantFail(t, h.run(nil, "quarantine", other, "--org", "org-0001", "--reason", "x", "--yes"), 2,
		fmt.Sprintf("item %s does not exist in org org-0001", other))
	wantFail(t, h.run(nil, "release", other, "--org", "org-0001", "--yes"), 2, "does not exist in org org-0001")
	wantFail(t, h.run(nil, "items", "show", other, "--org", "org-0001"), 2, "does not exist in org org-0001")
	wantFail(t, h.run(nil, "pause", "org-0001/nope", "--reason", "test", "--yes"), 2, "queue org-0001/nope does not exist")

	for _, bad := range []string{"abc", "12x", "0", "1.5", "0x1f", "99999999999999999999", "", " "} {
		wantFail(t, h.run(nil, "quarantine", bad, "--reason", "x", "--yes"), 1, "malformed item id")
		wantFail(t, h.run(nil, "items", "show", bad), 1, "malformed item id")
	}
	wantFail(t, h.run(nil, "quarantine", "--reason", "x", "--yes", "--", "-5"), 1, "malformed item id")
	// A valid id next to a malformed one: refused before anything runs.
	wantFail(t, h.run(nil, "quarantine", fmt.Sprint(org1Item), "abc", "--reason", "x", "--yes"), 1, "malformed item id")
	wantFail(t, h.run(nil, "pause", "nope", "--yes"), 1, "malformed queue")
	wantFail(t, h.run(nil, "items", "list", "--state", "lost"), 1, "unknown state")
	if h.Digest() != before {
		t.Fatal("bad ids changed data")
	}
	// The valid id alone works, and its event names the operator.
	h.mustRun([]string{"ROUTEOPS_OPERATOR=dana"}, "quarantine", fmt.Sprint(org1Item), "--reason", "x", "--yes")
}

// TestNoTerminal: without a TTY, bare `routeops` and `routeops console`
// print the status instead of starting the console, a mutation without
// --yes is refused (exit 2, nothing changed), and --read-only refuses every
// mutation. (A terminal that is too small is tui's TestTooSmallAndResize
// and TestFramesFit.)
func TestNoTerminal(t *testing.T) {
	h := newHarness(t, pgtest.NewDB(t))
	h.mustRun(nil, seedArgs(1, 5)...)
	var item int64
	if err := h.Pool().QueryRow(context.Background(), `SELECT min(id) FROM work_items`).Scan(&item); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"console"}} {
		r := h.mustRun(nil, args...)
		if !strings.HasPrefix(r.Stdout, "routeops status") || strings.Contains(r.Stdout, "\x1b[") {
			t.Fatalf("routeops %v without a terminal should print the status:\n%s", args, r)
		}
	}
	before := h.Digest()
	id := fmt.Sprint(item)
	for _, args := range [][]string{{"quarantine", id, "--reason", "x"}, {"release", id}, {"pause", "org-0001/default", "--reason", "x"},
		{"repair", "apply", "--allow-defaults"}, {"cleanup", "apply", "--older-than", "1s"}} {
		r := h.run(nil, args...)
		if args[0] == "repair" && r.Code == 0 {
			continue // nothing to repair: nothing to confirm
		}
		wantFail(t, r, 2, "needs --yes", "nothing was changed")
	}
	for _, args := range [][]string{{"quarantine", id, "--reason", "x"}, {"release", id}, {"pause", "org-0001/default", "--reason", "x"},
		{"resume", "org-0001/default"}, {"cleanup", "apply", "--older-than", "1s"}, {"migrate"}, {"seed"},
		{"drill", "inject", "missing-revisions", "--org", "org-0001"}} {
		r := h.run(nil, append([]string{"--read-only", "--yes"}, args...)...)
		if args[0] == "drill" {
			wantFail(t, r, 2, "refused")
			continue
		}
		wantFail(t, r, 2, "read-only")
	}
	if h.Digest() != before {
		t.Fatal("a refused mutation changed data")
	}
}
