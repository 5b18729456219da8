package pgtest

// The production topology, for tests: PgBouncer in front of a server, in
// transaction or session pooling, and streaming standbys made with
// pg_basebackup -R that can be promoted.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pool modes of a Bouncer.
const (
	PoolTransaction = "transaction"
	PoolSession     = "session"
)

// Bouncer is a PgBouncer process in front of a test server.
type Bouncer struct {
	// Mode is the pool mode: PoolTransaction or PoolSession.
	Mode string
	// Port is where it listens, on 127.0.0.1.
	Port int
	// Dir holds its configuration and log.
	Dir string

	srv    *Server
	base   *url.URL
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
}

// BouncerOptions configure StartBouncer.
type BouncerOptions struct {
	// Mode is PoolTransaction (the default) or PoolSession.
	Mode string
	// PoolSize is default_pool_size: server connections per database and
	// user (default 20).
	PoolSize int
	// Users are more roles that may log in through it (trust, like the
	// test server); the server's own role always may.
	Users []string
	// Extra lines for the [pgbouncer] section, such as
	// "ignore_startup_parameters = extra_float_digits".
	Extra []string
}

var (
	bouncerMu sync.Mutex
	bouncers  = map[string]*Bouncer{}
)

// SharedBouncer returns a PgBouncer in the given pool mode in front of the
// shared test server, starting it on first use; it lives as long as the
// test binary (Main stops it). Every database of the server is reachable
// through it under the same name (Bouncer.DSN).
func SharedBouncer(tb testing.TB, mode string) *Bouncer {
	tb.Helper()
	srv := Shared(tb)
	bouncerMu.Lock()
	defer bouncerMu.Unlock()
	if b := bouncers[mode]; b != nil {
		return b
	}
	b, err := newBouncer(srv, BouncerOptions{Mode: mode})
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	bouncers[mode] = b
	return b
}

// StartBouncer starts a PgBouncer in front of srv for this test alone; it
// is stopped when the test ends.
func StartBouncer(tb testing.TB, srv *Server, opts BouncerOptions) *Bouncer {
	tb.Helper()
	b, err := newBouncer(srv, opts)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}

// stopBouncers stops the shared bouncers (Main calls it).
func stopBouncers() {
	bouncerMu.Lock()
	defer bouncerMu.Unlock()
	for k, b := range bouncers {
		b.Close()
		delete(bouncers, k)
	}
}

// PgBouncerBin finds the pgbouncer binary: $ROUTEOPS_PGBOUNCER, then PATH,
// then /usr/sbin/pgbouncer (where Debian's package puts it).
func PgBouncerBin() (string, error) {
	if p := os.Getenv("ROUTEOPS_PGBOUNCER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", errors.New("no pgbouncer binary for the tests that put PgBouncer in front of PostgreSQL: " +
		"install it (Debian: apt-get install pgbouncer) or set ROUTEOPS_PGBOUNCER to its path")
}

func newBouncer(srv *Server, opts BouncerOptions) (*Bouncer, error) {
	bin, err := PgBouncerBin()
	if err != nil {
		return nil, err
	}
	if opts.Mode == "" {
		opts.Mode = PoolTransaction
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 20
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "routeops-pgb-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	host, pgPort, err := net.SplitHostPort(srv.base.Host)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: server address %q: %v", srv.base.Host, err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	// auth_type trust still needs every user in the auth file; the
	// server's role logs in to the server with its password, if any.
	var users strings.Builder
	admin := srv.base.User.Username()
	pw, _ := srv.base.User.Password()
	fmt.Fprintf(&users, "%q %q\n", admin, pw)
	for _, u := range opts.Users {
		fmt.Fprintf(&users, "%q \"\"\n", u)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(users.String()), 0o600); err != nil {
		return nil, err
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 2000
max_db_connections = 0
server_login_retry = 1
logfile = %s
log_connections = 0
log_disconnections = 0
`, host, pgPort, port, filepath.Join(dir, "users.txt"), admin, opts.Mode, opts.PoolSize, filepath.Join(dir, "pgbouncer.log"))
	ini += strings.Join(opts.Extra, "\n") + "\n"
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, f := range []string{"users.txt", "pgbouncer.ini"} {
			if err := os.Chown(filepath.Join(dir, f), uid, gid); err != nil {
				return nil, err
			}
		}
	}
	u := *srv.base
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	b := &Bouncer{Mode: opts.Mode, Port: port, Dir: dir, srv: srv, base: &u}
	if err := b.launch(bin, iniPath, cred); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// launch runs pgbouncer in the foreground (so that it dies with the test
// binary) and waits until a query goes through it.
func (b *Bouncer) launch(bin, ini string, cred *syscall.Credential) error {
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // Pdeathsig is tied to the forking thread
		cmd := exec.Command(bin, ini)
		cmd.Dir = b.Dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		b.mu.Lock()
		b.cmd, b.exited = cmd, exited
		b.mu.Unlock()
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start pgbouncer: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := b.ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(b.Dir, "pgbouncer.log"))
			return fmt.Errorf("pgbouncer exited during start: %s", bytes.TrimSpace(log))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgbouncer did not pass a query within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Bouncer) ping(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(b.DSN("postgres"))
	if err != nil {
		return err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// DSN is the DSN of database db on the server behind the bouncer,
// through the bouncer.
func (b *Bouncer) DSN(db string) string {
	u := *b.base
	u.Path = "/" + db
	return u.String()
}

// Via returns dsn (a DSN of the bouncer's server) rewritten to go through
// the bouncer.
func (b *Bouncer) Via(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(fmt.Sprintf("pgtest: Via: %v", err))
	}
	u.Host = b.base.Host
	return u.String()
}

// Log returns what the bouncer logged so far.
func (b *Bouncer) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "pgbouncer.log"))
	return string(data)
}

// Close stops the bouncer and removes its directory.
func (b *Bouncer) Close() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if b.Dir != "" {
		_ = os.RemoveAll(b.Dir)
	}
}

// NewDBVia creates a fresh migrated database on the bouncer's server for
// this test and returns its DSN direct to the server and through the
// bouncer. It is dropped when the test ends.
func NewDBVia(tb testing.TB, b *Bouncer) (direct, pooled string) {
	tb.Helper()
	direct = NewDBOn(tb, b.srv)
	return direct, b.Via(direct)
}

// ---- standbys ----

// StartStandby makes a streaming standby of the private server s with
// pg_basebackup -R and starts it on a free port. It is a Server of its own
// (AdminDSN, DSN, Stop, Start), stopped and removed when the test ends.
// Promote turns it into a primary.
func (s *Server) StartStandby(tb testing.TB) *Server {
	tb.Helper()
	sb, err := s.newStandby()
	if err != nil {
		tb.Fatalf("pgtest: standby: %v", err)
	}
	tb.Cleanup(sb.stop)
	return sb
}

func (s *Server) newStandby() (*Server, error) {
	if s.Dir == "" {
		return nil, errors.New("only a private server (StartPrivate) can have a standby")
	}
	_, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "routeops-pgsb-")
	if err != nil {
		return nil, err
	}
	sock, err := os.MkdirTemp("/tmp", "ropg")
	if err != nil {
		return nil, err
	}
	if s.cred != nil {
		for _, d := range []string{dir, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(s.BinDir, "pg_basebackup"), "-D", data, "-R", "-X", "stream", "-c", "fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", "--no-sync")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_basebackup: %v: %s", err, bytes.TrimSpace(out))
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	sb := &Server{Dir: dir, BinDir: s.BinDir, Port: port, sockDir: sock, cred: s.cred, tmpl: s.tmpl}
	for i := 0; i < len(s.args); i++ {
		a := s.args[i]
		switch {
		case a == "-D" || a == "-p":
			v := data
			if a == "-p" {
				v = strconv.Itoa(port)
			}
			sb.args = append(sb.args, a, v)
			i++
		case strings.HasPrefix(a, "unix_socket_directories="):
			sb.args = append(sb.args, "unix_socket_directories="+sock)
		default:
			sb.args = append(sb.args, a)
		}
	}
	sb.logf, err = os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	if s.cred != nil {
		_ = sb.logf.Chown(uid, gid)
	}
	base := *s.base
	base.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	sb.base = &base
	sb.AdminDSN = sb.DSN("postgres")
	if err := sb.launch(); err != nil {
		sb.stop()
		return nil, err
	}
	return sb, nil
}

// InRecovery reports whether the server is a standby.
func (s *Server) InRecovery(ctx context.Context) (bool, error) {
	conn, err := pgx.Connect(ctx, s.AdminDSN)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var rec bool
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&rec)
	return rec, err
}

// Promote turns a standby into a primary and waits until it is one.
func (s *Server) Promote(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_promote(true, 60)`).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("pgtest: promotion did not finish within 60s")
	}
	return nil
}

// CatchUp waits until the standby sb has replayed everything that the
// primary p had written when CatchUp was called.
func (p *Server) CatchUp(ctx context.Context, sb *Server) error {
	pc, err := pgx.Connect(ctx, p.AdminDSN)
	if err != nil {
		return err
	}
	var lsn string
	err = pc.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn)
	pc.Close(context.Background())
	if err != nil {
		return err
	}
	sc, err := pgx.Connect(ctx, sb.AdminDSN)
	if err != nil {
		return err
	}
	defer sc.Close(context.Background())
	for {
		var done bool
		if err := sc.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: standby did not replay up to %s: %w", lsn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// PauseReplay stops (true) or resumes (false) the standby's replay of the
// WAL it receives, so that it falls behind on purpose.
func (s *Server) PauseReplay(ctx context.Context, pause bool) error {
	fn := "pg_wal_replay_resume()"
	if pause {
		fn = "pg_wal_replay_pause()"
	}
	return s.Exec(ctx, "SELECT "+fn)
}
