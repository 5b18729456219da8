package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// wantPgError checks that err is a *pgstore.Error whose message holds
// none of the secrets, and that the *pgconn.PgError behind it, with the
// given SQLSTATE, is reachable through errors.As.
func wantPgError(t *testing.T, what string, err error, code string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	var se *pgstore.Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: %T %v is not a *pgstore.Error", what, err, err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: %v: errors.As finds %+v, want a *pgconn.PgError with SQLSTATE %s", what, err, pe, code)
	}
	if se.SQLState() != code {
		t.Fatalf("%s: SQLState() = %q, want %s", what, se.SQLState(), code)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q holds the password", what, err.Error())
		}
	}
	t.Logf("%s: %v", what, err)
}

func wantText(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: %q does not say %q", what, err.Error(), p)
		}
	}
}

func open(t *testing.T, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestErrorsFromServer provokes real PostgreSQL errors on a private server
// with password authentication and checks each pgstore error: its
// predicate and sentinel, the *pgconn.PgError behind it, the operator's
// words, and no password in the message.
func TestErrorsFromServer(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{PasswordAuth: true})
	dsn := pgtest.NewDBOn(t, srv)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	const password = "Np-Secret-7"
	if err := srv.Exec(ctx, `CREATE ROLE nopriv LOGIN PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	owner := open(t, pgstore.Options{DSN: dsn})
	if err := owner.UpsertOrg(ctx, router.Org{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if err := owner.UpsertQueue(ctx, router.Queue{OrgID: "o1", ID: "q"}); err != nil {
		t.Fatal(err)
	}
	it, err := owner.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q",
		Attributes: []byte(`{"priority": 1, "channel": "chat"}`), EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("AuthFailure", func(t *testing.T) {
		for _, d := range []string{
			srv.DSNAs(db, "nopriv", "wrong-"+password),
			fmt.Sprintf("host=127.0.0.1 port=%d user=nopriv password='wrong %s' dbname=%s sslmode=disable", srv.Port, password, db),
		} {
			_, err := pgstore.Open(ctx, pgstore.Options{DSN: d})
			wantPgError(t, "open with a wrong password", err, "28P01", "wrong-"+password, "wrong "+password)
			if !pgstore.IsAuthFailure(err) {
				t.Fatalf("IsAuthFailure(%v) = false", err)
			}
			var ce *pgconn.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("%v: the *pgconn.ConnectError is not reachable", err)
			}
			wantText(t, "open with a wrong password", err, "connect to postgres://nopriv@", "authentication failed: wrong user or password")
		}
	})

	t.Run("Permission", func(t *testing.T) {
		_, err := pgstore.Open(ctx, pgstore.Options{DSN: srv.DSNAs(db, "nopriv", password)})
		wantPgError(t, "open as a role without grants", err, "42501", password)
		if !pgstore.IsPermission(err) || !errors.Is(err, router.ErrPermission) {
			t.Fatalf("%v: want IsPermission and router.ErrPermission", err)
		}
		wantText(t, "open as a role without grants", err, "read schema version: permission denied: the database role lacks a privilege")
	})

	t.Run("UnknownDatabase", func(t *testing.T) {
		_, err := pgstore.Open(ctx, pgstore.Options{DSN: srv.DSNAs("no_such_db", "nopriv", password)})
		wantPgError(t, "open a database that does not exist", err, "3D000", password)
		if !pgstore.IsUnknownDatabase(err) {
			t.Fatalf("IsUnknownDatabase(%v) = false", err)
		}
		wantText(t, "open a database that does not exist", err, "the database does not exist")
	})

	t.Run("LockTimeout", func(t *testing.T) {
		st := open(t, pgstore.Options{DSN: dsn, LockTimeout: 100 * time.Millisecond})
		release := holdItemLock(t, owner, it.ID)
		defer release()
		_, err := st.Quarantine(ctx, router.QuarantineRequest{Org: "o1", ItemID: it.ID, Reason: "behind a lock",
			Actor: router.Actor{Name: "t"}, At: time.Now()})
		wantPgError(t, "quarantine behind a held lock", err, "55P03")
		if !pgstore.IsLockTimeout(err) || pgstore.IsStatementTimeout(err) {
			t.Fatalf("%v: want IsLockTimeout alone", err)
		}
		wantText(t, "quarantine behind a held lock", err, "gave up waiting for a lock after the lock timeout")
	})

	t.Run("StatementTimeout", func(t *testing.T) {
		st := open(t, pgstore.Options{DSN: dsn, StatementTimeout: 100 * time.Millisecond, LockTimeout: time.Hour})
		release := holdItemLock(t, owner, it.ID)
		defer release()
		_, err := st.Quarantine(ctx, router.QuarantineRequest{Org: "o1", ItemID: it.ID, Reason: "behind a lock",
			Actor: router.Actor{Name: "t"}, At: time.Now()})
		wantPgError(t, "quarantine past the statement timeout", err, "57014")
		if !pgstore.IsStatementTimeout(err) || pgstore.IsLockTimeout(err) {
			t.Fatalf("%v: want IsStatementTimeout alone", err)
		}
		wantText(t, "quarantine past the statement timeout", err, "the statement timed out")
	})

	t.Run("ReadOnlyTransaction", func(t *testing.T) {
		// A session whose transactions are read-only, as on a hot standby.
		st := open(t, pgstore.Options{DSN: dsn + "&default_transaction_read_only=on"})
		_, err := st.SetQueuePaused(ctx, router.QueuePauseRequest{Org: "o1", Queue: "q", Paused: true,
			Actor: router.Actor{Name: "t"}, At: time.Now()})
		wantPgError(t, "pause on a read-only session", err, "25006")
		if !pgstore.IsReadOnlyTransaction(err) {
			t.Fatalf("IsReadOnlyTransaction(%v) = false", err)
		}
		wantText(t, "pause on a read-only session", err, "the database refuses writes")
		if err := st.UpsertOrg(ctx, router.Org{ID: "o2"}); !pgstore.IsReadOnlyTransaction(err) {
			t.Fatalf("upsert on a read-only session: %v", err)
		}
	})

	t.Run("NoSchema", func(t *testing.T) {
		st := open(t, pgstore.Options{DSN: pgtest.NewEmptyDBOn(t, srv), SkipSchemaCheck: true})
		_, err := st.ListOrgs(ctx)
		wantPgError(t, "list orgs without the schema", err, "42P01")
		if !pgstore.IsUndefinedTable(err) || !errors.Is(err, pgstore.ErrNoSchema) {
			t.Fatalf("%v: want IsUndefinedTable and ErrNoSchema", err)
		}
	})

	t.Run("ForeignKeyIsNotFound", func(t *testing.T) {
		_, err := owner.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "nope",
			Attributes: []byte(`{"priority": 1, "channel": "chat"}`), EnqueuedAt: time.Now()})
		wantPgError(t, "enqueue to an unknown queue", err, "23503")
		if !errors.Is(err, router.ErrNotFound) || !pgstore.IsForeignKeyViolation(err) {
			t.Fatalf("%v: want router.ErrNotFound and IsForeignKeyViolation", err)
		}
		wantText(t, "enqueue to an unknown queue", err, "not found: queue o1/nope does not exist")
	})

	t.Run("InvalidJSON", func(t *testing.T) {
		_, err := owner.AddRevision(ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID,
			Attributes: []byte(`{"priority": 1, "channel": "chat", "x": "\u0000"}`), At: time.Now()})
		wantPgError(t, "a revision jsonb refuses", err, "22P05")
		if !errors.Is(err, router.ErrInvalidJSON) {
			t.Fatalf("%v: want router.ErrInvalidJSON", err)
		}
	})
}

// holdItemLock locks an item's row in a transaction of its own until the
// returned function ends it.
func holdItemLock(t *testing.T, st *pgstore.Store, id int64) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM work_items WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	return func() { _ = tx.Rollback(ctx) }
}

// TestConnectErrorsHidePassword: a failing connection, refused or never
// answered, says where it went and why, keeps pgx's error as the cause,
// and holds no password, whatever form the DSN takes.
func TestConnectErrorsHidePassword(t *testing.T) {
	const pw = "Pa55 w/rd@x"
	hole, err := net.Listen("tcp", "127.0.0.1:0") // accepts and never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	_, holePort, _ := net.SplitHostPort(hole.Addr().String())
	for _, tc := range []struct {
		dsn, says string
		timeout   bool
	}{
		{"postgres://u:Pa55%20w%2Frd%40x@127.0.0.1:1/db?sslmode=disable", "connect to postgres://u@127.0.0.1:1/db", false},
		{"host=127.0.0.1 port=1 user=u password='" + pw + "' dbname=db sslmode=disable", "connect to postgres://u@127.0.0.1:1/db", false},
		{"postgres://u:Pa55%20w%2Frd%40x@127.0.0.1:" + holePort + "/db?sslmode=disable", "unreachable within the connect timeout", true},
	} {
		_, err := pgstore.Open(context.Background(), pgstore.Options{DSN: tc.dsn, ConnectTimeout: 300 * time.Millisecond})
		if err == nil {
			t.Fatalf("%s: opened", tc.dsn)
		}
		var se *pgstore.Error
		var ce *pgconn.ConnectError
		if !errors.As(err, &se) || !errors.As(err, &ce) {
			t.Fatalf("%v (%T): want a *pgstore.Error with the *pgconn.ConnectError behind it", err, err)
		}
		for _, s := range []string{pw, "Pa55%20w%2Frd%40x", "Pa55"} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("%q holds the password (%q)", err.Error(), s)
			}
		}
		wantText(t, tc.dsn, err, tc.says)
		t.Logf("%v", err)
		if got := pgstore.IsConnectTimeout(err); got != tc.timeout {
			t.Fatalf("IsConnectTimeout(%v) = %v, want %v", err, got, tc.timeout)
		}
	}
	// A DSN that does not parse: the message is redacted too.
	_, err = pgstore.Open(context.Background(), pgstore.Options{DSN: "postgres://u:" + "Pa55word" + "@127.0.0.1:notaport/db"})
	var se *pgstore.Error
	if !errors.As(err, &se) || strings.Contains(err.Error(), "Pa55word") || !strings.Contains(err.Error(), "invalid DSN") {
		t.Fatalf("unparsable DSN: %v", err)
	}
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		t.Fatalf("unparsable DSN: %v: the *pgconn.ParseConfigError is not reachable", err)
	}
}
