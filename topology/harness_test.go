package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/internal/testbin"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	testbin.Cleanup()
	os.Exit(code)
}

// cli runs the binary with a controlled environment: no terminal, an
// empty working directory and HOME, no ROUTEOPS_* variable but those the
// test sets.
type cli struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newCLI(t *testing.T, kv ...string) *cli {
	t.Helper()
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, ".config"),
		"USER": "topology-sre", "LANG": "C.UTF-8", "TZ": "UTC",
	}}
	return c.with(kv...)
}

// with returns a copy with more environment ("" unsets a variable).
func (c *cli) with(kv ...string) *cli {
	n := &cli{t: c.t, dir: c.dir, env: map[string]string{}}
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

func (c *cli) environ() []string {
	env := make([]string, 0, len(c.env))
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("routeops %s\nexit %d after %.2fs\n--- stdout\n%s\n--- stderr\n%s\n---",
		strings.Join(r.args, " "), r.code, r.took.Seconds(), clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	const max = 8000
	if len(s) > max {
		return s[:max/2] + "\n…\n" + s[len(s)-max/2:]
	}
	return s
}

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

type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	args           []string
	stdout, stderr *syncBuffer
	started        time.Time
	done           chan struct{}
	res            result
}

// start runs routeops in the background; the test's cleanup kills it.
func (c *cli) start(args ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(testbin.Path(c.t), args...)
	cmd.Dir = c.dir
	cmd.Env = c.environ()
	p := &proc{t: c.t, cmd: cmd, args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start routeops %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
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

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

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

// stop sends SIGTERM, as a service manager does, and waits.
func (p *proc) stop() result {
	p.t.Helper()
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	return p.wait(60 * time.Second)
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.start(args...).wait(3 * time.Minute)
}

func (c *cli) expect(code int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	c.t.Logf("routeops %s: exit %d in %v", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	if r.code != code {
		c.t.Fatalf("want exit %d, got:\n%s", code, r)
	}
	return r
}

func (c *cli) must(args ...string) result { c.t.Helper(); return c.expect(0, args...) }

func (c *cli) mustJSON(v any, code int, args ...string) result {
	c.t.Helper()
	r := c.expect(code, args...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		c.t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	return r
}

// ---- the database through raw SQL ----

type db struct {
	t   *testing.T
	dsn string
}

func sqlDB(t *testing.T, dsn string) *db { return &db{t: t, dsn: dsn} }

func (d *db) conn(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.dsn)
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	return pgx.ConnectConfig(ctx, cfg)
}

func (d *db) exec(sql string, args ...any) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := d.conn(ctx)
	if err != nil {
		d.t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
}

func (d *db) int(sql string, args ...any) int64 {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := d.conn(ctx)
	if err != nil {
		d.t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	var n int64
	if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return n
}

func (d *db) str(sql string, args ...any) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := d.conn(ctx)
	if err != nil {
		d.t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	var s string
	if err := c.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		d.t.Fatalf("SQL %s: %v", sql, err)
	}
	return s
}

// ---- helpers ----

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// poll calls cond until it is true or the deadline passes, pausing
// between calls: conditions are observed, never assumed after a sleep.
func poll(deadline, pause time.Duration, cond func() bool) (time.Duration, bool) {
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

// scrape fetches /metrics.
func scrape(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// sample reads one series' value from a /metrics body.
func sample(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// status is the part of status -o json that these tests read.
type status struct {
	Store   string `json:"store"`
	Summary struct {
		Orgs              int      `json:"orgs"`
		Queued            int      `json:"queued"`
		Assigned          int      `json:"assigned"`
		Health            string   `json:"health"`
		ReplicaLagSeconds *float64 `json:"replica_lag_seconds"`
	} `json:"summary"`
	Engine struct {
		State   string `json:"state"`
		Engines int    `json:"engines"`
		Polling int    `json:"polling"`
	} `json:"engine"`
	Database *struct {
		Store             string   `json:"store"`
		Reads             string   `json:"reads"`
		Pooler            string   `json:"pooler"`
		Standby           bool     `json:"standby"`
		Viewer            bool     `json:"viewer"`
		ReplicaLagSeconds *float64 `json:"replica_lag_seconds"`
		Health            string   `json:"health"`
		Reason            string   `json:"reason"`
	} `json:"database"`
}

// hostOf is host:port of a URL DSN.
func hostOf(t *testing.T, dsn string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		t.Fatalf("not a postgres:// URL: %s", dsn)
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
