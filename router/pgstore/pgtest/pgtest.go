// Package pgtest gives tests a real PostgreSQL. Unless ROUTEOPS_TEST_DSN
// names a server, it starts a private one per test binary from the local
// server binaries (initdb and postgres, found with pg_config --bindir or
// under /usr/lib/postgresql/*/bin), in a temp dir, on 127.0.0.1 and a free
// port, as the postgres user when running as root. Each test gets its own
// database, cloned from a migrated template. When neither a DSN nor the
// binaries are there, tests fail with a clear message; they are never
// silently skipped.
//
// A test that needs a server of its own, to stop and start it under load
// or to require passwords, starts one with StartPrivate (or NewPrivate for
// one shared by a package) and creates databases on it with NewDBOn.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router/pgstore"
)

// EnvDSN names an existing server to use instead of a private one. Its
// role needs CREATEDB; tests create and drop their own databases on it.
const EnvDSN = "ROUTEOPS_TEST_DSN"

// Server is a PostgreSQL server for tests.
type Server struct {
	// AdminDSN connects as a superuser (private server) or as the role of
	// ROUTEOPS_TEST_DSN, to the maintenance database.
	AdminDSN string
	// Dir is the data directory of a private server ("" otherwise).
	Dir     string
	BinDir  string
	Port    int
	sockDir string
	base    *url.URL
	tmpl    string

	// A private server's process, restartable with the same arguments.
	args []string
	cred *syscall.Credential
	logf *os.File
	mu   sync.Mutex
	cmd  *exec.Cmd
	// exited is closed when cmd has exited.
	exited chan struct{}
}

var (
	once    sync.Once
	shared  *Server
	initErr error
	dbSeq   atomic.Int64
)

// Main runs the tests of a package and stops the private server afterwards.
// Use it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the private server, if one was started, and the shared
// bouncers in front of it.
func Stop() {
	stopBouncers()
	if shared != nil {
		shared.stop()
	}
}

// Shared returns the test server, starting it on first use. A failure to
// get one fails the test with what to install or set.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	once.Do(func() { shared, initErr = start() })
	if initErr != nil {
		tb.Fatalf("pgtest: no PostgreSQL for tests: %v\n"+
			"Install the PostgreSQL server binaries (Debian: apt-get install postgresql) "+
			"or set %s to a server whose role may CREATE DATABASE.", initErr, EnvDSN)
	}
	return shared
}

// NewDB creates a fresh migrated database for this test and returns its
// DSN. It is dropped when the test ends.
func NewDB(tb testing.TB) string {
	tb.Helper()
	return NewDBOn(tb, Shared(tb))
}

// NewEmptyDB creates a database without the schema (for migrate tests).
func NewEmptyDB(tb testing.TB) string {
	tb.Helper()
	return NewEmptyDBOn(tb, Shared(tb))
}

// NewEmptyDBOn creates a database without the schema on srv.
func NewEmptyDBOn(tb testing.TB, srv *Server) string {
	tb.Helper()
	return srv.newDB(tb, "e", "")
}

// newDB creates database <prefix>_<pid>_<n> on s as a copy of template (""
// for an empty one) with pgstore's database helper, the one routeops bench
// uses, and drops it when the test ends.
func (s *Server) newDB(tb testing.TB, prefix, template string) string {
	tb.Helper()
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.admin(ctx, func(conn *pgx.Conn) error { return pgstore.CreateDatabase(ctx, conn, name, template) }); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.admin(ctx, func(conn *pgx.Conn) error { return pgstore.DropDatabase(ctx, conn, name) }); err != nil {
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// NewStore opens a pgstore on a fresh database.
func NewStore(tb testing.TB) *pgstore.Store {
	tb.Helper()
	dsn := NewDB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, MaxConns: 16})
	if err != nil {
		tb.Fatalf("pgtest: open store: %v", err)
	}
	tb.Cleanup(st.Close)
	return st
}

// DSN returns the DSN of a database on this server.
func (s *Server) DSN(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}

// admin runs fn on a connection to the maintenance database as AdminDSN.
func (s *Server) admin(ctx context.Context, fn func(conn *pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, s.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return fn(conn)
}

func start() (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return external(dsn)
	}
	return private()
}

func external(dsn string) (*Server, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", EnvDSN)
	}
	s := &Server{AdminDSN: dsn, base: u}
	if err := s.makeTemplate(); err != nil {
		return nil, err
	}
	return s, nil
}

// BinDir finds the PostgreSQL server binaries.
func BinDir() (string, error) {
	if d := os.Getenv("ROUTEOPS_PG_BINDIR"); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", errors.New("no PostgreSQL server binaries (pg_config --bindir has no postgres, and /usr/lib/postgresql/*/bin is empty)")
}

var verRe = regexp.MustCompile(`/postgresql/(\d+)/`)

func versionOf(p string) int {
	m := verRe.FindStringSubmatch(p)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// credential returns the postgres user's credential when running as root.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, errors.New("running as root, and PostgreSQL refuses to run as root, but there is no postgres user to run it as (install the postgresql package, which creates it)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func private() (*Server, error) { return newPrivate(PrivateOptions{}) }

// PrivateOptions configure a private server of StartPrivate.
type PrivateOptions struct {
	// PasswordAuth makes every role except the postgres superuser
	// authenticate with a password (scram-sha-256) over TCP; the superuser
	// (AdminDSN) still gets in without one. Tests create login roles with
	// CREATE ROLE ... LOGIN PASSWORD '...' and connect with them.
	PasswordAuth bool
}

// StartPrivate starts a PostgreSQL server for this test alone, even when
// ROUTEOPS_TEST_DSN is set, so that the test may stop and start it
// (Stop, Start, Restart) or change its authentication. It keeps its data
// directory and port across restarts and is removed when the test ends.
// NewDBOn creates databases on it.
func StartPrivate(tb testing.TB, opts PrivateOptions) *Server {
	tb.Helper()
	s, err := newPrivate(opts)
	if err != nil {
		tb.Fatalf("pgtest: no private PostgreSQL for this test: %v\n"+
			"Install the PostgreSQL server binaries (Debian: apt-get install postgresql).", err)
	}
	tb.Cleanup(s.stop)
	return s
}

// NewPrivate starts a private server like StartPrivate, for a server that
// several tests of a package share; the caller stops it with Close (in
// TestMain, after m.Run).
func NewPrivate(opts PrivateOptions) (*Server, error) { return newPrivate(opts) }

// Close stops a private server and removes its data directory.
func (s *Server) Close() { s.stop() }

// NewDBOn creates a fresh migrated database on srv for this test and
// returns its DSN (as the superuser). It is dropped when the test ends.
func NewDBOn(tb testing.TB, srv *Server) string {
	tb.Helper()
	return srv.newDB(tb, "t", srv.tmpl)
}

// Exec runs SQL as the admin role on the maintenance database (roles are
// cluster-wide, so this is where tests create them).
func (s *Server) Exec(ctx context.Context, sql string) error {
	return s.admin(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	})
}

// DSNAs returns the DSN of database db on this server for another role,
// with a password ("" for none).
func (s *Server) DSNAs(db, user, password string) string {
	u := *s.base
	u.Path = "/" + db
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// Stop shuts a private server down (a fast shutdown: sessions are
// terminated, as in pg_ctl stop -m fast) and keeps its data directory, so
// that Start brings the same data back on the same port.
func (s *Server) Stop() error {
	if s.Dir == "" {
		return errors.New("pgtest: only a private server can be stopped")
	}
	s.halt()
	return nil
}

// Start starts a stopped private server again and waits until it accepts
// connections.
func (s *Server) Start() error {
	if s.Dir == "" {
		return errors.New("pgtest: only a private server can be started")
	}
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return errors.New("pgtest: the server is running")
	}
	return s.launch()
}

// Restart stops and starts a private server, failing the test on error.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.Stop(); err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("pgtest: restart: %v", err)
	}
}

// Running reports whether a private server's process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func newPrivate(opts PrivateOptions) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "routeops-pg-")
	if err != nil {
		return nil, err
	}
	// Unix socket paths are limited to ~107 bytes: keep the socket dir short.
	sock, err := os.MkdirTemp("/tmp", "ropg")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		for _, d := range []string{dir, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd.CombinedOutput()
	}
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
		"--locale=C.UTF-8", "--encoding=UTF8"); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, bytes.TrimSpace(out))
	}
	if opts.PasswordAuth {
		// First match wins: the superuser keeps trust, everyone else needs
		// a password over TCP.
		hba := "local all all trust\n" +
			"host all postgres 127.0.0.1/32 trust\n" +
			"host all all 127.0.0.1/32 scram-sha-256\n"
		if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, BinDir: bin, Port: port, sockDir: sock, cred: cred}
	s.args = []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + sock,
		// A throwaway test server: durability is not under test here.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning", "-c", "logging_collector=off"}
	s.logf, err = os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	if cred != nil {
		_ = s.logf.Chown(uid, gid)
	}
	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		RawQuery: "sslmode=disable"}
	s.AdminDSN = s.DSN("postgres")
	if err := s.launch(); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.makeTemplate(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// launch starts the postgres process and waits until it accepts
// connections.
func (s *Server) launch() error {
	// The server must die with the test binary even if Stop is never
	// called: Pdeathsig is tied to the thread that forks, so fork from a
	// goroutine that keeps its thread for as long as the server runs.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command(filepath.Join(s.BinDir, "postgres"), s.args...)
		cmd.Dir = s.Dir
		cmd.Stdout, cmd.Stderr = s.logf, s.logf
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		s.mu.Lock()
		s.cmd, s.exited = cmd, exited
		s.mu.Unlock()
		started <- nil
		_ = cmd.Wait()
		close(exited)
		// The server is gone, so this thread may end now (it stays locked,
		// so the runtime retires it rather than reuse it).
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.AdminDSN)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited during start: %s", bytes.TrimSpace(log))
		default:
		}
		if time.Now().After(deadline) {
			s.halt()
			return fmt.Errorf("postgres did not accept connections within 60s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeTemplate creates and migrates the template database once.
func (s *Server) makeTemplate() error {
	s.tmpl = fmt.Sprintf("routeops_tmpl_%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := s.admin(ctx, func(conn *pgx.Conn) error { return pgstore.CreateDatabase(ctx, conn, s.tmpl, "") }); err != nil {
		return fmt.Errorf("template database: %w", err)
	}
	if _, err := pgstore.Migrate(ctx, pgstore.Options{DSN: s.DSN(s.tmpl)}); err != nil {
		return fmt.Errorf("migrate template database: %w", err)
	}
	return nil
}

// halt stops the server process, if it runs, and waits for it to exit.
func (s *Server) halt() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// stop halts the server and removes its directories.
func (s *Server) stop() {
	s.halt()
	if s.logf != nil {
		_ = s.logf.Close()
	}
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
	if s.sockDir != "" {
		_ = os.RemoveAll(s.sockDir)
	}
}
