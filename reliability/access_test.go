package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

var roleSeq atomic.Int64

// accessDB is a seeded database on the password server with the roles
// created by `routeops migrate --roles`, and two login roles with
// passwords: a member of routeops_viewer and a member of routeops_operator.
type accessDB struct {
	srv               *pgtest.Server
	h                 *rig // as the superuser
	db                string
	viewer, operator  string // login role names
	viewerDSN, opsDSN string
}

const (
	viewerPassword   = "V1ewer-pa55-word"
	operatorPassword = "0perat0r-pa55-word"
)

func newAccessDB(t *testing.T) *accessDB {
	t.Helper()
	srv := passwordServer(t)
	dsn := pgtest.NewDBOn(t, srv)
	a := &accessDB{srv: srv, h: newHarness(t, dsn), db: dbName(t, dsn)}
	a.h.mustRun(nil, seedArgs(2, 20)...)
	for i := 0; i < 2; i++ { // idempotent: the second run changes nothing and succeeds
		r := a.h.mustRun(nil, "migrate", "--roles")
		if !strings.Contains(r.Stdout, "roles routeops_viewer and routeops_operator are up to date") {
			t.Fatalf("migrate --roles:\n%s", r)
		}
	}
	n := roleSeq.Add(1)
	a.viewer, a.operator = fmt.Sprintf("viewer_%d_%d", os.Getpid(), n), fmt.Sprintf("operator_%d_%d", os.Getpid(), n)
	ctx := context.Background()
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE routeops_viewer`, a.viewer, viewerPassword),
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE routeops_operator`, a.operator, operatorPassword),
	} {
		if err := srv.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = srv.Exec(context.Background(), fmt.Sprintf(`DROP ROLE IF EXISTS %s, %s`, a.viewer, a.operator))
	})
	a.viewerDSN = srv.DSNAs(a.db, a.viewer, viewerPassword)
	a.opsDSN = srv.DSNAs(a.db, a.operator, operatorPassword)
	return a
}

func (a *accessDB) as(dsn string, env ...string) []string {
	return append([]string{"ROUTEOPS_DSN=" + dsn}, env...)
}

func (a *accessDB) firstItem(t testing.TB, org string) int64 {
	t.Helper()
	var id int64
	if err := a.h.Pool().QueryRow(context.Background(), `SELECT min(id) FROM work_items WHERE org_id = $1 AND state = 'queued'`, org).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestViewerCanReadButNotChange: a login role in routeops_viewer runs every
// read-only command (status, check, timeline, items, verify, repair and
// cleanup plans, the console without a terminal), and every mutation it
// tries fails with exit 2 and a clear "permission denied" message naming
// routeops_operator, not a stack trace; nothing changes.
func TestViewerCanReadButNotChange(t *testing.T) {
	a := newAccessDB(t)
	// Something for repair to find.
	a.h.mustRun([]string{"ROUTEOPS_DRILL_ALLOW=true"}, "drill", "inject", "corrupt-revisions", "--org", "org-0002", "--count", "1", "--yes")
	before := a.h.Digest()
	item := fmt.Sprint(a.firstItem(t, "org-0001"))
	for _, args := range [][]string{{"status"}, {"status", "-o", "json"}, {"timeline", "--since", "24h"}, {"items", "list"},
		{"items", "show", item}, {"repair", "plan", "-o", "json"}, {"cleanup", "plan", "--older-than", "1s"},
		{"console", "--read-only", "--no-engine"}, {"config"}} {
		r := a.h.run(a.as(a.viewerDSN), args...)
		if r.Code != 0 {
			t.Fatalf("the viewer should be able to run this:\n%s", r)
		}
		noSecret(t, r, viewerPassword)
	}
	// verify runs, and finds the drill's corrupt revision (exit 2 with a
	// finding, not a permission error).
	r := a.h.run(a.as(a.viewerDSN), "verify", "-o", "json")
	if r.Code != 2 || !strings.Contains(r.Stdout, "invalid_attributes") || strings.Contains(r.Output(), "permission") {
		t.Fatalf("verify as the viewer:\n%s", r)
	}
	if r := a.h.run(a.as(a.viewerDSN), "check"); r.Code == 3 {
		t.Fatalf("check as the viewer is UNKNOWN:\n%s", r)
	}
	for _, args := range [][]string{
		{"quarantine", item, "--reason", "viewer tries", "--yes"},
		{"release", item, "--yes"},
		{"pause", "org-0001/default", "--reason", "test", "--yes"},
		{"resume", "org-0001/default", "--yes"},
		{"repair", "apply", "--yes"},
		{"cleanup", "apply", "--older-than", "1s", "--yes"},
		{"seed", "--orgs", "1", "--org-offset", "50"},
		{"migrate", "--roles"},
	} {
		r := a.h.run(a.as(a.viewerDSN), args...)
		wantFail(t, r, 2, "permission denied")
		noSecret(t, r, viewerPassword)
	}
	r = a.h.run(a.as(a.viewerDSN), "quarantine", item, "--reason", "viewer tries", "--yes")
	if !strings.Contains(r.Stdout, "routeops_operator") {
		t.Fatalf("the refusal should say which role can do it:\n%s", r)
	}
	if a.h.Digest() != before {
		t.Fatal("the viewer changed data")
	}
}

// TestViewerServeRefused: the routing engine is a writer too. serve under
// the viewer role must stop with exit 2 and a permission message instead
// of retrying a permission error forever as if it were transient.
func TestViewerServeRefused(t *testing.T) {
	a := newAccessDB(t)
	before := a.h.Digest()
	r := a.h.run(a.as(a.viewerDSN), "serve", "--until-idle", "--duration", "15s")
	wantFail(t, r, 2, "permission denied")
	if a.h.Digest() != before {
		t.Fatal("the viewer's engine changed data")
	}
}

// TestOperatorActionsAudited: a login role in routeops_operator can
// quarantine, release, pause, resume, repair and clean up; each change is
// journalled with the operator's name, OS user and SSH origin (from
// SSH_CONNECTION), or "root (sudo from …)" under sudo; and the operator
// still cannot create roles or rewrite revisions.
func TestOperatorActionsAudited(t *testing.T) {
	a := newAccessDB(t)
	a.h.mustRun([]string{"ROUTEOPS_DRILL_ALLOW=true"}, "drill", "inject", "missing-revisions", "--org", "org-0002", "--count", "2", "--yes")
	// Give cleanup something to delete: superseded revisions from the seed.
	env := a.as(a.opsDSN, "ROUTEOPS_OPERATOR=olga", "USER=olga-os", "SSH_CONNECTION=203.0.113.9 50022 10.0.0.5 22")
	item := fmt.Sprint(a.firstItem(t, "org-0001"))
	for _, args := range [][]string{
		{"quarantine", item, "--reason", "INC-7 bad item", "--yes"},
		{"release", item, "--yes"},
		{"pause", "org-0001/default", "--reason", "test", "--yes"},
		{"resume", "org-0001/default", "--yes"},
		{"repair", "apply", "--yes"},
		{"cleanup", "apply", "--older-than", "1s", "--yes"},
	} {
		r := a.h.run(env, args...)
		if r.Code != 0 {
			t.Fatalf("the operator should be able to do this:\n%s", r)
		}
		noSecret(t, r, operatorPassword)
	}
	a.h.verifyClean(t)
	ctx := context.Background()
	rows, err := a.h.Pool().Query(ctx, `SELECT kind, actor, os_user, origin FROM events
		WHERE kind IN ('quarantined', 'released', 'queue_paused', 'queue_resumed', 'revision_repaired', 'revisions_cleaned')
		ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var kind, actor, osUser, origin string
		if err := rows.Scan(&kind, &actor, &osUser, &origin); err != nil {
			t.Fatal(err)
		}
		seen[kind] = true
		if actor != "olga" || osUser != "olga-os" || origin != "203.0.113.9" {
			t.Fatalf("%s event by %q, OS user %q, origin %q; want olga, olga-os, 203.0.113.9", kind, actor, osUser, origin)
		}
	}
	rows.Close()
	for _, k := range []string{"quarantined", "released", "queue_paused", "queue_resumed", "revision_repaired", "revisions_cleaned"} {
		if !seen[k] {
			t.Fatalf("no %s event", k)
		}
	}
	// Under sudo, with no --operator: the sudoer is the operator.
	r := a.h.run(a.as(a.opsDSN, "USER=root", "SUDO_USER=sam", "-SSH_CONNECTION"), "pause", "org-0001/billing", "--reason", "test", "--yes")
	if r.Code != 0 {
		t.Fatalf("pause under sudo:\n%s", r)
	}
	var actor, osUser, origin string
	if err := a.h.Pool().QueryRow(ctx, `SELECT actor, os_user, origin FROM events ORDER BY id DESC LIMIT 1`).Scan(&actor, &osUser, &origin); err != nil {
		t.Fatal(err)
	}
	if actor != "sam" || osUser != "root (sudo from sam)" || origin != "local" {
		t.Fatalf("sudo: actor %q, OS user %q, origin %q", actor, osUser, origin)
	}
	// What the operator may not do.
	wantFail(t, a.h.run(a.as(a.opsDSN), "migrate", "--roles"), 2, "permission denied")
	wantFail(t, a.h.run(a.as(a.opsDSN, "ROUTEOPS_DRILL_ALLOW=true"), "drill", "inject", "missing-revisions", "--org", "org-0001", "--yes"), 2)
	conn := a.connect(t, a.opsDSN)
	for _, sql := range []string{
		`UPDATE work_item_revisions SET attributes = '{}'`,
		`UPDATE agents SET capacity = 1000`,
		`DELETE FROM work_items`,
		`INSERT INTO orgs (id) VALUES ('evil')`,
		`CREATE TABLE evil (x int)`,
	} {
		if _, err := conn.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("the operator ran %q: %v", sql, err)
		}
	}
}

func (a *accessDB) connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestJournalAppendOnly: UPDATE, DELETE and TRUNCATE on events fail for
// the viewer, the operator and a superuser (also with
// session_replication_role = replica, which skips ordinary triggers), and
// the journal is unchanged; INSERT works for the operator only.
func TestJournalAppendOnly(t *testing.T) {
	a := newAccessDB(t)
	a.h.mustRun(nil, "serve", "--until-idle")
	ctx := context.Background()
	count := func() int { return a.h.count(`SELECT count(*) FROM events`) }
	digest := func() int {
		return a.h.count(`SELECT coalesce(sum(hashtext(e::text)), 0) FROM events e`)
	}
	n0, d0 := count(), digest()
	if n0 == 0 {
		t.Fatal("no events to protect")
	}
	who := map[string]string{"viewer": a.viewerDSN, "operator": a.opsDSN, "superuser": a.h.DSN()}
	for name, dsn := range who {
		conn := a.connect(t, dsn)
		stmts := []string{`UPDATE events SET actor = 'mallory'`, `DELETE FROM events`, `TRUNCATE events`,
			`UPDATE events SET detail = '{}' WHERE id = (SELECT min(id) FROM events)`}
		if name == "superuser" {
			stmts = append(stmts, `SET session_replication_role = replica; DELETE FROM events`)
		}
		for _, sql := range stmts {
			_, err := conn.Exec(ctx, sql)
			if err == nil {
				t.Fatalf("%s ran %q on the journal", name, sql)
			}
			msg := err.Error()
			if !strings.Contains(msg, "permission denied") && !strings.Contains(msg, "append-only") {
				t.Fatalf("%s %q: %v; want a permission or append-only refusal", name, sql, err)
			}
			_, _ = conn.Exec(ctx, `RESET session_replication_role`)
		}
	}
	if count() != n0 || digest() != d0 {
		t.Fatal("the journal changed")
	}
	// The viewer cannot even add to it; the operator can (every action does).
	ins := `INSERT INTO events (org_id, kind, actor) VALUES ('org-0001', 'note', 'test')`
	if _, err := a.connect(t, a.viewerDSN).Exec(ctx, ins); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("the viewer inserted an event: %v", err)
	}
	if _, err := a.connect(t, a.opsDSN).Exec(ctx, ins); err != nil {
		t.Fatalf("the operator could not insert an event: %v", err)
	}
}

// TestSecretsNeverShown runs routeops with a DSN whose password is real
// (an operator login on the password server) and checks that the password
// appears in no output, no log file (debug level, text and JSON), no JSON
// (status, check, config, verify, items, timeline), and no error. serve,
// which needs the owner's rights, runs as the superuser with a password in
// its DSN (the server trusts the superuser, so the password is only there
// to be hidden).
func TestSecretsNeverShown(t *testing.T) {
	a := newAccessDB(t)
	const superPassword = "Sup3r-user-pa55"
	superDSN := a.srv.DSNAs(a.db, "postgres", superPassword)
	env := a.as(a.opsDSN, "ROUTEOPS_OPERATOR=olga")
	item := fmt.Sprint(a.firstItem(t, "org-0001"))
	logDir := t.TempDir()
	type run struct {
		args []string
		ok   bool
	}
	var runs []harness.Result
	for i, c := range []run{
		{[]string{"status"}, true}, {[]string{"status", "-o", "json"}, true}, {[]string{"status", "--all"}, true},
		{[]string{"config"}, true}, {[]string{"config", "-o", "json"}, true},
		{[]string{"items", "list", "-o", "json"}, true}, {[]string{"items", "show", item}, true},
		{[]string{"timeline", "-o", "json"}, true}, {[]string{"verify", "-o", "json"}, true},
		{[]string{"repair", "plan", "-o", "json"}, true},
		{[]string{"quarantine", item, "--reason", "secrets test", "--yes", "-o", "json"}, true},
		{[]string{"release", item, "--yes"}, true},
		{[]string{"--dsn", superDSN, "serve", "--duration", "1500ms", "--log-level", "debug", "--metrics-addr", "127.0.0.1:0"}, true},
		{[]string{"--dsn", superDSN, "serve", "--until-idle", "-o", "json"}, true},
		{[]string{"--dsn", superDSN, "migrate", "--roles"}, true},
		{[]string{"migrate", "--roles"}, false},                                          // permission
		{[]string{"items", "show", "999999999"}, false},                                  // not found
		{[]string{"--dsn", a.opsDSN + "&connect_timeout=x", "status"}, false},            // bad DSN
		{[]string{"--dsn", strings.Replace(a.opsDSN, a.db, "nodb", 1), "status"}, false}, // no such database
		{[]string{"cleanup", "apply", "--older-than", "1s"}, false},                      // needs --yes
	} {
		logFile := filepath.Join(logDir, fmt.Sprintf("%d.log", i))
		format := []string{"text", "json"}[i%2]
		args := c.args
		if slices.Contains(args, "serve") {
			args = append(slices.Clone(args), "--log-file", logFile) // the flag; the others use ROUTEOPS_LOG_FILE
		}
		r := a.h.run(append(env, "ROUTEOPS_LOG_FILE="+logFile, "ROUTEOPS_LOG_FORMAT="+format, "ROUTEOPS_LOG_LEVEL=debug"), args...)
		noSecret(t, r, operatorPassword, superPassword)
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), operatorPassword) || strings.Contains(string(b), superPassword) {
			t.Fatalf("the log file of %v shows the password:\n%s", c.args, b)
		}
		if slices.Contains(args, "serve") && !strings.Contains(string(b), "engine started") && !strings.Contains(string(b), "serve finished") {
			t.Fatalf("serve wrote no log to %s, so the check proves nothing:\n%s", logFile, b)
		}
		if (r.Code == 0) != c.ok {
			t.Fatalf("want success %v:\n%s", c.ok, r)
		}
		runs = append(runs, r)
	}
	r := a.h.run(env, "check", "-o", "json")
	noSecret(t, r, operatorPassword)
	if r.Code == 3 || !json.Valid([]byte(r.Stdout)) {
		t.Fatalf("check:\n%s", r)
	}
	// status -o json names the store without a secret.
	var st struct {
		Store string `json:"store"`
	}
	if err := json.Unmarshal([]byte(runs[1].Stdout), &st); err != nil || !strings.HasPrefix(st.Store, "postgres://"+a.operator+"@") {
		t.Fatalf("status -o json store %q: %v", st.Store, err)
	}
}
