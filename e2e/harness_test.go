package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/testbin"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestMain is pgtest.Main plus the removal of the built binary: it runs the
// tests, stops the private PostgreSQL server, and removes the temp dir.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	testbin.Cleanup()
	os.Exit(code)
}

// ---- the binary ----

// binary returns the routeops binary, built once per test binary.
func binary(t testing.TB) string { return testbin.Path(t) }

// ---- running it ----

// operatorUser is the USER of every child unless a test says otherwise.
const operatorUser = "e2e-operator"

// cli runs the binary against one database (or none) with a controlled
// environment: no terminal (stdin is /dev/null), an empty working
// directory and HOME (so no ./routeops.yaml or ~/.config file is picked
// up), no ROUTEOPS_* variable but ROUTEOPS_DSN, USER set.
type cli struct {
	t   *testing.T
	dsn string
	dir string
	env map[string]string
}

func newCLI(t *testing.T, dsn string) *cli {
	t.Helper()
	dir := t.TempDir()
	return &cli{t: t, dsn: dsn, dir: dir, env: map[string]string{
		"PATH":            os.Getenv("PATH"),
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, ".config"),
		"USER":            operatorUser,
		"LANG":            "C.UTF-8",
		"TZ":              "UTC",
	}}
}

// with returns a copy with extra environment variables ("" unsets one).
func (c *cli) with(kv ...string) *cli {
	n := &cli{t: c.t, dsn: c.dsn, dir: c.dir, env: map[string]string{}}
	for k, v := range c.env {
		n.env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(n.env, kv[i])
		} else {
			n.env[kv[i]] = kv[i+1]
		}
	}
	return n
}

// withDSN returns a copy on another DSN ("" for none).
func (c *cli) withDSN(dsn string) *cli {
	n := c.with()
	n.dsn = dsn
	return n
}

func (c *cli) environ() []string {
	env := make([]string, 0, len(c.env)+1)
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	if c.dsn != "" {
		env = append(env, "ROUTEOPS_DSN="+c.dsn)
	}
	sort.Strings(env)
	return env
}

// result is one finished run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("routeops %s\nexit %d after %.2fs\n--- stdout\n%s--- stderr\n%s---",
		strings.Join(r.args, " "), r.code, r.took.Seconds(), clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	const max = 6000
	if len(s) > max {
		s = s[:max/2] + "\n…\n" + s[len(s)-max/2:]
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// syncBuffer is a bytes.Buffer that a test may read while a child writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running child.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	args           []string
	stdout, stderr *syncBuffer
	started        time.Time
	done           chan struct{}
	res            result
}

// start runs routeops in the background. The test's cleanup kills it if
// it is still running.
func (c *cli) start(args ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(binary(c.t), args...)
	cmd.Dir = c.dir
	cmd.Env = c.environ()
	cmd.Stdin = nil // /dev/null: no terminal
	p := &proc{t: c.t, cmd: cmd, args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start routeops %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		err := cmd.Wait()
		code := 0
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				code = -1
			}
		}
		p.res = result{args: args, stdout: p.stdout.String(), stderr: p.stderr.String(), code: code, took: time.Since(p.started)}
		close(p.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// running reports whether the child has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits for the child to exit, failing the test after timeout.
func (p *proc) wait(timeout time.Duration) result {
	p.t.Helper()
	select {
	case <-p.done:
		return p.res
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("routeops %s did not exit within %s; killed.\n%s", strings.Join(p.args, " "), timeout, p.res)
		return p.res
	}
}

// interrupt sends SIGINT (what ^C or a service manager does).
func (p *proc) interrupt() {
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
	}
}

// run runs routeops to completion (at most 3 minutes).
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.start(args...).wait(3 * time.Minute)
}

// expect runs routeops and fails the test unless it exits with code.
func (c *cli) expect(code int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("want exit %d, got:\n%s", code, r)
	}
	return r
}

// must runs routeops and fails the test unless it exits 0.
func (c *cli) must(args ...string) result { c.t.Helper(); return c.expect(0, args...) }

// mustJSON runs routeops, expects exit code, and decodes stdout into v.
func (c *cli) mustJSON(v any, code int, args ...string) result {
	c.t.Helper()
	r := c.expect(code, args...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		c.t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
	return r
}

// ---- the database, through raw SQL ----

type db struct {
	t    *testing.T
	conn *pgx.Conn
}

func connect(t *testing.T, dsn string) *db {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &db{t: t, conn: conn}
}

func sqlCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

func (d *db) exec(sql string, args ...any) int64 {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	tag, err := d.conn.Exec(ctx, sql, args...)
	if err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return tag.RowsAffected()
}

func (d *db) int(sql string, args ...any) int64 {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	var n int64
	if err := d.conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return n
}

func (d *db) str(sql string, args ...any) string {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	var s string
	if err := d.conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return s
}

func (d *db) ints(sql string, args ...any) []int64 {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return ids
}

// strMap runs a query of (bigint, text) rows into a map.
func (d *db) strMap(sql string, args ...any) map[int64]string {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	defer rows.Close()
	m := map[int64]string{}
	for rows.Next() {
		var k int64
		var v string
		if err := rows.Scan(&k, &v); err != nil {
			d.t.Fatalf("SQL %s: %v", sql, err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return m
}

// rawScript runs fn in one transaction with
// SET LOCAL session_replication_role = replica: the incident's script,
// which bypasses foreign keys and ordinary triggers.
func (d *db) rawScript(fn func(tx pgx.Tx) error) {
	d.t.Helper()
	ctx, cancel := sqlCtx()
	defer cancel()
	err := pgx.BeginFunc(ctx, d.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		d.t.Fatalf("raw SQL script: %v", err)
	}
}

// deleteCurrentRevisions deletes the current revisions of items with raw
// SQL that bypasses the foreign key.
func (d *db) deleteCurrentRevisions(items []int64) {
	d.t.Helper()
	d.rawScript(func(tx pgx.Tx) error {
		tag, err := tx.Exec(context.Background(), `
			DELETE FROM work_item_revisions r USING work_items w
			WHERE w.id = ANY($1) AND r.org_id = w.org_id AND r.id = w.current_revision_id`, items)
		if err == nil && tag.RowsAffected() != int64(len(items)) {
			err = fmt.Errorf("deleted %d revisions, want %d", tag.RowsAffected(), len(items))
		}
		return err
	})
}

// headItems returns the first n queued items of a queue in routing order.
func (d *db) headItems(org, queue string, n int) []int64 {
	d.t.Helper()
	ids := d.ints(`SELECT id FROM work_items WHERE org_id = $1 AND queue_id = $2 AND state = 'queued'
		ORDER BY priority DESC, enqueued_at, id LIMIT $3`, org, queue, n)
	if len(ids) != n {
		d.t.Fatalf("queue %s/%s has %d queued items, want at least %d", org, queue, len(ids), n)
	}
	return ids
}

// fingerprint digests every routing-relevant row and the journal's size,
// so that "nothing changed" is one comparison.
func (d *db) fingerprint() string {
	d.t.Helper()
	return d.str(`SELECT md5(concat_ws('|',
		(SELECT string_agg(concat_ws(',', org_id, id, queue_id, state, current_revision_id, priority, enqueued_at,
			agent_id, attempts, last_error, fault_cause, skipped, quarantine_reason, journal_revision_id,
			journal_attributes::text), ';' ORDER BY org_id, id) FROM work_items),
		(SELECT string_agg(concat_ws(',', org_id, id, work_item_id, attributes::text, created_at, source), ';'
			ORDER BY org_id, id) FROM work_item_revisions),
		(SELECT string_agg(concat_ws(',', org_id, id, paused), ';' ORDER BY org_id, id) FROM queues),
		(SELECT string_agg(concat_ws(',', org_id, id, status, capacity, load), ';' ORDER BY org_id, id) FROM agents),
		(SELECT count(*)::text || ',' || coalesce(max(id), 0)::text FROM events)))`)
}

// ---- checks ----

// withPassword returns dsn with a password added. The test server trusts
// local connections, so the password is never checked: it is only there
// to prove that it never shows.
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

// redactedDSN is how routeops shows dsn: postgres://user@host:port/db.
func redactedDSN(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s%s", u.User.Username(), u.Host, u.Path)
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// poll calls cond until it returns true or the deadline passes; it returns
// how long it took and whether cond came true. It pauses briefly between
// calls: the condition is observed, never assumed after a sleep.
func poll(deadline time.Duration, pause time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > deadline {
			return time.Since(start), false
		}
		time.Sleep(pause)
	}
}

func idSet(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sameIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := idSet(a), idSet(b)
	if len(sa) != len(sb) {
		return false
	}
	for id := range sa {
		if !sb[id] {
			return false
		}
	}
	return true
}

func sortedIDs(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
