// Package harness drives the routeops binary the way a user or a service
// manager does, for the tests that do so (e2e, reliability): it runs the
// binary built by internal/testbin in a controlled environment, in the
// foreground (Run, Must, Expect, MustJSON) or in the background (Start),
// and interrupts, kills and waits for it. Its raw SQL helpers (reading,
// checking and damaging a test database, the "nothing changed" digest)
// are in router/pgstore/pgtest, whose private servers the tests run on.
//
// The environment is an allow-list. A child sees exactly PATH, HOME and
// XDG_CONFIG_HOME (both in an empty directory of the test's, which is
// also its working directory, so that no routeops.yaml or ~/.config file
// is picked up), USER (OperatorUser), LANG=C.UTF-8, TZ=UTC, ROUTEOPS_DSN
// when the test has a database, and what the test adds with With. Nothing
// else of the shell that runs go test leaks in: not ROUTEOPS_* or PG*
// variables (a DSN, a password, a service file), not SSH_CONNECTION or
// SUDO_USER (which decide the journalled operator and origin), not
// NO_COLOR, TERM or a locale. A deny-list would have to know every such
// variable in advance, and would let through the next one anybody sets.
package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/testbin"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// Main runs a package's tests, then runs stop (servers of the package's
// own), stops pgtest's server and removes the built binary. Use it from
// TestMain.
func Main(m *testing.M, stop ...func()) {
	code := m.Run()
	for _, f := range stop {
		f()
	}
	pgtest.Stop()
	testbin.Cleanup()
	os.Exit(code)
}

// OperatorUser is the USER of every child unless a test says otherwise.
const OperatorUser = "e2e-operator"

// RunTimeout bounds Run, Must, Expect and MustJSON.
const RunTimeout = 3 * time.Minute

// Bin runs the routeops binary for one test against one database (or
// none), with one environment.
type Bin struct {
	t   testing.TB
	dsn string
	dir string
	env map[string]string
}

// New returns a Bin for dsn ("" for none) in a fresh empty directory.
func New(t testing.TB, dsn string) *Bin {
	t.Helper()
	dir := t.TempDir()
	return &Bin{t: t, dsn: dsn, dir: dir, env: map[string]string{
		"PATH":            os.Getenv("PATH"),
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, ".config"),
		"USER":            OperatorUser,
		"LANG":            "C.UTF-8",
		"TZ":              "UTC",
	}}
}

// With returns a copy with environment changes: "KEY=VALUE" sets KEY,
// "-KEY" removes it. ROUTEOPS_DSN=... here overrides the Bin's DSN.
func (b *Bin) With(env ...string) *Bin {
	n := *b
	n.env = maps.Clone(b.env)
	for _, kv := range env {
		if k, ok := strings.CutPrefix(kv, "-"); ok {
			delete(n.env, k)
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		n.env[k] = v
	}
	return &n
}

// WithDSN returns a copy on another database ("" for none).
func (b *Bin) WithDSN(dsn string) *Bin {
	n := b.With()
	n.dsn = dsn
	return n
}

// For returns a copy that reports to t (a subtest) instead.
func (b *Bin) For(t testing.TB) *Bin {
	n := b.With()
	n.t = t
	return n
}

// Dir is the children's working directory and HOME.
func (b *Bin) Dir() string { return b.dir }

// DSN is the database the children use ("" for none).
func (b *Bin) DSN() string { return b.dsn }

// Environ is the children's whole environment, sorted.
func (b *Bin) Environ() []string {
	env := make([]string, 0, len(b.env)+1)
	if _, set := b.env["ROUTEOPS_DSN"]; !set && b.dsn != "" {
		env = append(env, "ROUTEOPS_DSN="+b.dsn)
	}
	for k, v := range b.env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// Path is the routeops binary, built once per test binary.
func (b *Bin) Path() string { return testbin.Path(b.t) }

// Result is one finished run.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int // -1 when the child could not be waited for
	Took           time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("routeops %s\nexit %d after %.2fs\n--- stdout\n%s--- stderr\n%s---",
		strings.Join(r.Args, " "), r.Code, r.Took.Seconds(), Clip(r.Stdout), Clip(r.Stderr))
}

// Output is stdout and stderr together, for "never shows" checks.
func (r Result) Output() string { return r.Stdout + "\n" + r.Stderr }

// Clip shortens s to its first and last 3,000 bytes, with a final newline.
func Clip(s string) string {
	const max = 6000
	if len(s) > max {
		s = s[:max/2] + "\n…\n" + s[len(s)-max/2:]
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// Buffer is a bytes.Buffer that one goroutine may read while others
// write: a child's output, or a logger's sink.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is a child running in the background.
type Proc struct {
	t              testing.TB
	cmd            *exec.Cmd
	args           []string
	Stdout, Stderr *Buffer
	Started        time.Time
	done           chan struct{}
	res            Result
}

// Start runs routeops in the background, without a terminal (stdin is
// /dev/null). The test's cleanup kills it if it is still running.
func (b *Bin) Start(args ...string) *Proc {
	b.t.Helper()
	cmd := exec.Command(b.Path(), args...)
	cmd.Dir = b.dir
	cmd.Env = b.Environ()
	p := &Proc{t: b.t, cmd: cmd, args: args, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start routeops %s: %v", strings.Join(args, " "), err)
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
		p.res = Result{Args: args, Stdout: p.Stdout.String(), Stderr: p.Stderr.String(), Code: code, Took: time.Since(p.Started)}
		close(p.done)
	}()
	b.t.Cleanup(func() {
		if p.Running() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Running reports whether the child has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Output is what the child wrote so far, stdout then stderr.
func (p *Proc) Output() string { return p.Stdout.String() + p.Stderr.String() }

// Wait waits for the child to exit, killing it and failing the test after
// timeout.
func (p *Proc) Wait(timeout time.Duration) Result {
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

// Interrupt sends SIGINT, as ^C or a service manager does.
func (p *Proc) Interrupt() {
	if p.Running() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
	}
}

// Kill9 sends SIGKILL and waits until the child is gone; it fails the test
// if the child had already exited.
func (p *Proc) Kill9() {
	p.t.Helper()
	if !p.Running() {
		p.t.Fatalf("routeops %s exited before it could be killed:\n%s", strings.Join(p.args, " "), p.res)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill -9: %v", err)
	}
	<-p.done
}

// Run runs routeops to completion (at most RunTimeout).
func (b *Bin) Run(args ...string) Result {
	b.t.Helper()
	return b.Start(args...).Wait(RunTimeout)
}

// TimeBin is GNU time, which RunMeasured runs routeops under.
const TimeBin = "/usr/bin/time"

// RunMeasured runs routeops to completion under /usr/bin/time and returns
// its peak resident memory in bytes as well. (The rusage a child reports
// to this process is no measure: a child started by a Go program carries
// the parent's high-water mark from before its exec.)
func (b *Bin) RunMeasured(args ...string) (Result, int64) {
	b.t.Helper()
	if _, err := os.Stat(TimeBin); err != nil {
		b.t.Fatalf("measuring memory needs GNU time at %s (Debian: apt-get install time): %v", TimeBin, err)
	}
	out := filepath.Join(b.t.TempDir(), "time")
	cmd := exec.Command(TimeBin, append([]string{"-f", "%M", "-o", out, b.Path()}, args...)...)
	cmd.Dir = b.dir
	cmd.Env = b.Environ()
	var stdout, stderr Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		b.t.Fatalf("routeops %s: %v", strings.Join(args, " "), err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		b.t.Fatalf("routeops %s: no memory figure: %v", strings.Join(args, " "), err)
	}
	fields := strings.Fields(string(raw)) // "Command exited with non-zero status N" comes first
	kb, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		b.t.Fatalf("routeops %s: cannot read %s's figure %q", strings.Join(args, " "), TimeBin, raw)
	}
	return r, kb * 1024
}

// Expect runs routeops and fails the test unless it exits with code.
func (b *Bin) Expect(code int, args ...string) Result {
	b.t.Helper()
	r := b.Run(args...)
	if r.Code != code {
		b.t.Fatalf("want exit %d, got:\n%s", code, r)
	}
	return r
}

// Must runs routeops and fails the test unless it exits 0.
func (b *Bin) Must(args ...string) Result {
	b.t.Helper()
	return b.Expect(0, args...)
}

// MustJSON runs routeops, expects exit code, and decodes stdout into v.
func (b *Bin) MustJSON(v any, code int, args ...string) Result {
	b.t.Helper()
	r := b.Expect(code, args...)
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		b.t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
	return r
}

// Poll calls cond until it returns true or limit has passed, pausing
// between calls, and returns how long it took and whether cond came true.
// The condition is observed, never assumed after a sleep.
func Poll(limit, pause time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(pause)
	}
}

// WaitFor polls cond (a condition on the database or a child, never
// elapsed time) every 5 ms until it holds, failing the test after limit.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if took, ok := Poll(limit, 5*time.Millisecond, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s", took.Round(time.Millisecond), what)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Sample returns the value of the series written exactly as name{labels}
// in a /metrics body.
func Sample(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
