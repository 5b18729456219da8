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

// bigTenant makes org-0003 hold 40 queued items whose current revisions
// (and journal copies) are 10 MB documents, written while the limit
// allowed it, then puts the default 64 KiB limit back: what a tenant's
// blobs from before the limit look like.
func bigTenant(t *testing.T, h *rig) []int64 {
	t.Helper()
	h.mustRun(nil, seedArgs(3, 20)...)
	h.mustRun(nil, "migrate", "--attributes-limit", "64MiB")
	h.Exec(`WITH ids AS (
			SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev FROM generate_series(1, 40)),
		r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes)
			SELECT 'org-0003', rev, item, jsonb_build_object('priority', 90, 'channel', 'chat', 'tier', repeat(md5(item::text), 327680))
			FROM ids RETURNING id, work_item_id)
		INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at)
		SELECT 'org-0003', work_item_id, 'default', id, 90, now() - interval '1 hour' FROM r`)
	h.mustRun(nil, "migrate", "--attributes-limit", "64KiB")
	ids := h.Ints(`SELECT w.id FROM work_items w JOIN work_item_revisions r
		ON r.org_id = w.org_id AND r.id = w.current_revision_id WHERE r.attributes_bytes > 10000000 ORDER BY w.id`)
	if len(ids) != 40 {
		t.Fatalf("%d items with 10 MB documents, want 40", len(ids))
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
		r := h.run(nil, args...)
		rss := r.MaxRSS
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
	if r := measure(0, "items", "show", item); !strings.Contains(r.Stdout, "oversized") {
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
