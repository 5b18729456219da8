package pgstore

// Where the store is connected: the host that actually answered a
// multi-host DSN, whether a server is a standby and how far behind, the
// session connection that migrations and LISTEN need under transaction
// pooling, and opening a store while the database is still coming up.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/routeops/routeops/router"
)

// ErrNeedsSession refuses what needs a session of its own (the migration
// lock) under transaction pooling without db.listen_dsn.
var ErrNeedsSession = errors.New("this needs a session-level advisory lock, which transaction pooling " +
	"(db.pooler: transaction) cannot hold: set db.listen_dsn (--listen-dsn) to PostgreSQL itself or to a " +
	"session pool, and it connects through that")

// ErrStandby says that a server is in recovery (a hot standby), where
// nothing can be written.
var ErrStandby = errors.New("the server is a standby (in recovery): it cannot be written to")

// transientConnect reports whether trying again later may connect: a
// server that is down, starting, shutting down, failing over or
// unreachable may come back; a refused login, a missing database or a bad
// DSN will not.
func transientConnect(err error) bool {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) && !IsConnectTimeout(err) {
		return false
	}
	return !IsAuthFailure(err) && !IsUnknownDatabase(err) && !IsPermission(err)
}

// connHost remembers the server that connections actually reached.
type connHost struct {
	mu   sync.Mutex
	cc   *pgx.ConnConfig
	host string
}

func (h *connHost) init(cc *pgx.ConnConfig) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cc, h.host = cc, hostPort(cc.Host, cc.Port)
}

// set records the server that c is connected to, named as the DSN names
// it when the DSN lists several.
func (h *connHost) set(c *pgx.Conn) {
	name := connectedHost(c)
	if name == "" {
		return
	}
	h.mu.Lock()
	h.host = name
	h.mu.Unlock()
}

func (h *connHost) describe() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cc == nil {
		return ""
	}
	return describeHost(h.cc, h.host)
}

// connectedHost is host:port of the server c reached: the DSN's name for
// it when one of the DSN's hosts is that address, else the address.
func connectedHost(c *pgx.Conn) string {
	nc := c.PgConn().Conn()
	if nc == nil {
		return ""
	}
	ra := nc.RemoteAddr()
	cc := c.Config()
	if ra == nil || ra.Network() == "unix" {
		return hostPort(cc.Host, cc.Port)
	}
	ip, port, err := net.SplitHostPort(ra.String())
	if err != nil {
		return ra.String()
	}
	type cand struct {
		host string
		port uint16
	}
	cands := []cand{{cc.Host, cc.Port}}
	for _, fb := range cc.Fallbacks {
		cands = append(cands, cand{fb.Host, fb.Port})
	}
	var samePort []cand
	for _, x := range cands {
		if strconv.Itoa(int(x.port)) != port {
			continue
		}
		if x.host == ip {
			return hostPort(x.host, x.port)
		}
		samePort = append(samePort, x)
	}
	if len(samePort) == 1 {
		return hostPort(samePort[0].host, samePort[0].port)
	}
	return net.JoinHostPort(ip, port)
}

// sessionConfig is the connection for what needs a session of its own
// (LISTEN, the migration lock): DSN, or under transaction pooling
// ListenDSN. A ListenDSN may be a session pool, so it carries no custom
// startup parameters.
func sessionConfig(opts Options, listen bool) (*pgx.ConnConfig, string, error) {
	dsn, o := opts.DSN, opts
	switch {
	case opts.ListenDSN != "" && (listen || opts.txMode()):
		dsn, o.Pooler = opts.ListenDSN, PoolerSession
	case opts.txMode():
		return nil, "", ErrNeedsSession
	}
	cfg, err := parseConfig(dsn, o, nil)
	if err != nil {
		return nil, "", err
	}
	cc := cfg.ConnConfig
	if o.Pooler == PoolerSession {
		cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	return cc, dsn, nil
}

// sessionConn connects for what needs a session of its own, and returns
// the DSN it used (for redaction).
func sessionConn(ctx context.Context, opts Options) (*pgx.Conn, string, error) {
	cc, dsn, err := sessionConfig(opts, false)
	if err != nil {
		return nil, dsn, err
	}
	cctx, cancel := context.WithTimeout(ctx, cc.ConnectTimeout+time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err != nil {
		return nil, dsn, connectError("connect to "+describe(cc), err, dsn)
	}
	return conn, dsn, nil
}

// InRecovery reports whether the server that writes go to is a standby.
func (s *Store) InRecovery(ctx context.Context) (bool, error) {
	var rec bool
	if err := s.w.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&rec); err != nil {
		return false, s.wrap(err)
	}
	return rec, nil
}

// ReadsSplit reports whether reads go to a replica of their own
// (db.read_dsn).
func (s *Store) ReadsSplit() bool { return s.rpool != nil }

// sourceSQL says where a snapshot is read: the server's recovery state
// and, on a standby, how far its replay is behind: 0 when it has
// replayed all that it received, else the time since the last replayed
// commit.
const sourceSQL = `SELECT pg_is_in_recovery(),
	CASE WHEN NOT pg_is_in_recovery() THEN 0
	     WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
	     ELSE greatest(0, coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)) END::float8`

func (s *Store) scanSource(row pgx.Row) (*router.SnapshotSource, error) {
	src := &router.SnapshotSource{Store: s.Describe(), Pooler: s.opts.Pooler, ReadSplit: s.rpool != nil}
	if src.Pooler == "" {
		src.Pooler = PoolerNone
	}
	if s.rpool != nil {
		src.Reads = s.readHost.describe()
	}
	var lag float64
	if err := row.Scan(&src.InRecovery, &lag); err != nil {
		return nil, err
	}
	src.ReplicaLag = time.Duration(lag * float64(time.Second))
	return src, nil
}

// OpenRetrying opens the store like Open, and while the database cannot
// be reached (down, starting, failing over), tries again with backoff
// until deadline (zero: forever) or ctx ends. retry is told each failure
// and the wait before the next attempt. A failure that retrying cannot
// cure (a wrong password, no schema) returns at once.
func OpenRetrying(ctx context.Context, opts Options, deadline time.Time, retry func(err error, wait time.Duration)) (*Store, error) {
	wait := 100 * time.Millisecond
	for {
		st, err := Open(ctx, opts)
		if err == nil {
			return st, nil
		}
		if !transientConnect(err) {
			return nil, err
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, fmt.Errorf("%w (gave up after db.connect_timeout)", err)
			}
			wait = min(wait, left)
		}
		if retry != nil {
			retry(err, wait)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Reading your own writes from a replica. An operator's change (withTx
// with action) commits on the primary; with reads split to a replica, the
// next read of the same process waits until the replica has replayed that
// commit, so that a quarantine is seen by the refresh after it and a
// repair by its verify. If the replica does not catch up within
// readYourWritesWait, the read goes to the primary instead.

const readYourWritesWait = 5 * time.Second

// parseLSN reads a pg_lsn's text form ("16/B374D848").
func parseLSN(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return h<<32 | l, true
}

func formatLSN(v uint64) string { return fmt.Sprintf("%X/%X", v>>32, v&0xffffffff) }

// noteWrite records the primary's WAL position after an operator's
// change, when reads go to a replica.
func (s *Store) noteWrite(ctx context.Context) {
	if s.rpool == nil {
		return
	}
	var lsn string
	if err := s.w.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		// Unknown: read the primary until a later write is noted.
		s.wrote.Store(^uint64(0))
		return
	}
	if v, ok := parseLSN(lsn); ok {
		for {
			old := s.wrote.Load()
			if v <= old || s.wrote.CompareAndSwap(old, v) {
				return
			}
		}
	}
}

// rd is where a read goes: the replica, once it has replayed this
// process's last change; the primary if it does not within
// readYourWritesWait; the primary's pool when reads are not split.
func (s *Store) rd(ctx context.Context) *db {
	want := s.wrote.Load()
	if s.rpool == nil || want == 0 {
		return s.r
	}
	if want == ^uint64(0) {
		return s.w
	}
	deadline := time.Now().Add(readYourWritesWait)
	for {
		var done bool
		err := s.r.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true)`, formatLSN(want)).Scan(&done)
		if err == nil && done {
			s.wrote.CompareAndSwap(want, 0)
			return s.r
		}
		if err != nil || time.Now().After(deadline) {
			return s.w
		}
		select {
		case <-ctx.Done():
			return s.w
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// EndSessions ends every other session on database name: a pool in front
// of the server keeps idle server connections that would keep the
// database from being dropped or copied.
func EndSessions(ctx context.Context, admin SQLConn, name string) error {
	_, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
	return err
}
