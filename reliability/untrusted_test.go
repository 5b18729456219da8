package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		if !strings.Contains(r.stderr, "password file "+file) || !strings.Contains(r.stderr, "chmod 0600") {
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
	if strings.Contains(r.stderr, "password file") {
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
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.Contains(l, "--dsn") {
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
