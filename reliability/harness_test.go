package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routeops/routeops/internal/testbin"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestMain runs the tests, then stops the servers they started.
func TestMain(m *testing.M) {
	code := m.Run()
	closePrivate()
	pgtest.Stop()
	testbin.Cleanup()
	os.Exit(code)
}

// ---- the routeops binary ----

// routeops returns the routeops binary, built once per test run.
func routeops(t testing.TB) string { return testbin.Path(t) }

// ---- running it ----

// harness runs the binary against one database.
type harness struct {
	t   testing.TB
	dsn string
	// dir is the working directory of every child: empty, so that no
	// ./routeops.yaml is picked up.
	dir string
	// env is the children's environment (without ROUTEOPS_* or PG* from
	// the test's own).
	env  []string
	pool *pgxpool.Pool
}

func newHarness(t testing.TB, dsn string) *harness {
	t.Helper()
	h := &harness{t: t, dsn: dsn, dir: t.TempDir()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ROUTEOPS_") || strings.HasPrefix(k, "PG") || k == "SSH_CONNECTION" ||
			k == "SUDO_USER" || k == "XDG_CONFIG_HOME" || k == "NO_COLOR" {
			continue
		}
		h.env = append(h.env, kv)
	}
	h.env = append(h.env, "XDG_CONFIG_HOME="+filepath.Join(h.dir, "xdg"), "ROUTEOPS_LOG_LEVEL=warn")
	if dsn != "" {
		h.env = append(h.env, "ROUTEOPS_DSN="+dsn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to the test database: %v", err)
		}
		t.Cleanup(pool.Close)
		h.pool = pool
	}
	return h
}

// result is one finished run of the binary.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("routeops %s: exit %d after %s\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// output is stdout and stderr together, for "never shows" checks.
func (r result) output() string { return r.stdout + "\n" + r.stderr }

// run runs routeops with args, with extra environment variables (KEY=VALUE;
// an entry "-KEY" unsets KEY), and waits up to two minutes.
func (h *harness) run(env []string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, routeops(h.t), args...)
	cmd.Dir = h.dir
	cmd.Env = mergeEnv(h.env, env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		h.t.Fatalf("routeops %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		h.t.Fatalf("routeops %s did not finish within 2 minutes\n%s", strings.Join(args, " "), r)
	}
	return r
}

// mustRun runs routeops and fails the test unless it exits 0.
func (h *harness) mustRun(env []string, args ...string) result {
	h.t.Helper()
	r := h.run(env, args...)
	if r.code != 0 {
		h.t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// mergeEnv returns base with extra applied: KEY=VALUE replaces or adds,
// "-KEY" removes.
func mergeEnv(base, extra []string) []string {
	drop := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(strings.TrimPrefix(kv, "-"), "=")
		drop[k] = true
	}
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	for _, kv := range extra {
		if !strings.HasPrefix(kv, "-") {
			out = append(out, kv)
		}
	}
	return out
}

// proc is a routeops child running in the background.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	out    bytes.Buffer
	mu     sync.Mutex
	err    error
	killed bool
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start starts routeops in the background. The test kills it at the end if
// it is still running.
func (h *harness) start(env []string, args ...string) *proc {
	h.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(routeops(h.t), args...)
	p.cmd.Dir = h.dir
	p.cmd.Env = mergeEnv(h.env, env)
	w := lockedWriter{mu: &p.mu, b: &p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		h.t.Fatalf("start routeops %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	h.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *proc) kill9(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("routeops exited before it could be killed:\n%s", p.output())
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-p.done
	p.killed = true
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("routeops did not exit within %s:\n%s", d, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// ---- SQL ----

// count runs a query that returns one integer.
func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var n int64
	if err := h.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return int(n)
}

func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := h.pool.Exec(ctx, sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// snapshotTables returns a digest of every table routeops writes, to check
// that a refused command changed nothing.
func (h *harness) digest() string {
	h.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT count(*) || ':' || coalesce(sum(hashtext(w::text)), 0) FROM work_items w`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(r::text)), 0) FROM work_item_revisions r`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(e::text)), 0) FROM events e`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(a::text)), 0) FROM agents a`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(q::text)), 0) FROM queues q`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM teams t`,
		`SELECT count(*) || ':' || coalesce(sum(hashtext(o::text)), 0) FROM orgs o`,
	} {
		var s string
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := h.pool.QueryRow(ctx, q).Scan(&s)
		cancel()
		if err != nil {
			h.t.Fatalf("%s: %v", q, err)
		}
		b.WriteString(s + " ")
	}
	return b.String()
}

// invariants checks, with SQL of its own (not routeops's verify), the
// promises that hold at every moment: no item lost (the count is
// wantItems), every assigned or completed item has exactly one assigned
// event and no other item has any, no item is both assigned (an agent, an
// assigned event) and quarantined, every agent is within capacity and its
// stored load matches its assigned items.
func (h *harness) invariants(t testing.TB, wantItems int) {
	t.Helper()
	if n := h.count(`SELECT count(*) FROM work_items`); n != wantItems {
		t.Fatalf("work_items count %d, want %d: items were lost or made up", n, wantItems)
	}
	if n := h.count(`SELECT count(*) FROM work_items w WHERE w.state IN ('assigned', 'completed')
			AND (SELECT count(*) FROM events e WHERE e.work_item_id = w.id AND e.kind = 'assigned') <> 1`); n != 0 {
		t.Fatalf("%d assigned items do not have exactly one assigned event", n)
	}
	if n := h.count(`SELECT count(*) FROM work_items w WHERE w.state NOT IN ('assigned', 'completed')
			AND EXISTS (SELECT 1 FROM events e WHERE e.work_item_id = w.id AND e.kind = 'assigned')`); n != 0 {
		t.Fatalf("%d items that are not assigned have an assigned event (assigned twice, or assigned and quarantined)", n)
	}
	if n := h.count(`SELECT count(*) FROM work_items WHERE state = 'quarantined' AND agent_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d quarantined items have an agent", n)
	}
	if n := h.count(`SELECT count(*) FROM agents WHERE load > capacity`); n != 0 {
		t.Fatalf("%d agents are over capacity", n)
	}
	if n := h.count(`SELECT count(*) FROM agents a WHERE a.load <> (SELECT count(*) FROM work_items w
			WHERE w.org_id = a.org_id AND w.agent_id = a.id AND w.state = 'assigned')`); n != 0 {
		t.Fatalf("%d agents' stored load differs from their assigned items", n)
	}
	if n := h.count(`SELECT count(*) FROM (SELECT work_item_id FROM events WHERE kind = 'assigned'
			GROUP BY work_item_id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d items were assigned more than once", n)
	}
}

// verifyReport is `routeops verify -o json`.
type verifyReport struct {
	Clean    bool             `json:"clean"`
	Checked  map[string]int   `json:"checked"`
	Findings []map[string]any `json:"findings"`
}

// verifyClean runs `routeops verify -o json` and fails unless it is clean.
func (h *harness) verifyClean(t testing.TB) verifyReport {
	t.Helper()
	r := h.run(nil, "verify", "-o", "json")
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify -o json is not JSON: %v\n%s", err, r)
	}
	if r.code != 0 || !rep.Clean || len(rep.Findings) != 0 {
		t.Fatalf("verify is not clean:\n%s", r)
	}
	return rep
}

// waitFor polls cond (a database condition, never elapsed time) until it
// holds, failing after limit.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
