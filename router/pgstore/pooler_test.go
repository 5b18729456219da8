package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
	"github.com/routeops/routeops/router/storetest"
)

func openPooled(t *testing.T, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opts.MaxConns == 0 {
		opts.MaxConns = 16
	}
	st, err := pgstore.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open through %s pooling: %v", opts.Pooler, err)
	}
	t.Cleanup(st.Close)
	return st
}

// TestConformanceTransactionPool runs the whole store suite through a
// real PgBouncer in transaction pooling, where a server connection is
// lent for one transaction: every store behaviour holds there too, with
// no named prepared statements, no startup parameters, and the session
// settings set in every transaction. Wake-ups come from PostgreSQL itself
// (the listen DSN).
func TestConformanceTransactionPool(t *testing.T) {
	t.Parallel()
	b := pgtest.SharedBouncer(t, pgtest.PoolTransaction)
	storetest.Run(t, func(t *testing.T) router.Store {
		direct, dsn := pgtest.NewDBVia(t, b)
		return orphanStore{openPooled(t, pgstore.Options{DSN: dsn, Pooler: pgstore.PoolerTransaction, ListenDSN: direct})}
	})
}

// TestConformanceSessionPool: the same through session pooling, where
// PgBouncer refuses routeops's startup parameters, so they are SET after
// connecting.
func TestConformanceSessionPool(t *testing.T) {
	t.Parallel()
	b := pgtest.SharedBouncer(t, pgtest.PoolSession)
	storetest.Run(t, func(t *testing.T) router.Store {
		_, dsn := pgtest.NewDBVia(t, b)
		return orphanStore{openPooled(t, pgstore.Options{DSN: dsn, Pooler: pgstore.PoolerSession})}
	})
}

// TestPoolerSettingsAndTimeouts: through both pools (and in transaction
// pooling in both ways of sending statements) every statement runs
// with the configured timeouts and routeops.notify, whether it is a lone
// statement or in a transaction, and nothing leaks into the next user of
// a server connection. A read behind an ACCESS EXCLUSIVE lock gives up at
// the lock timeout instead of hanging.
func TestPoolerSettingsAndTimeouts(t *testing.T) {
	for _, v := range []struct {
		name, mode string
		exec       pgx.QueryExecMode
	}{
		{"transaction/simple", pgstore.PoolerTransaction, 0},
		{"transaction/exec", pgstore.PoolerTransaction, pgx.QueryExecModeExec},
		{"session", pgstore.PoolerSession, 0},
	} {
		mode := v.mode
		t.Run(v.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b := pgtest.SharedBouncer(t, mode)
			direct, dsn := pgtest.NewDBVia(t, b)
			st := openPooled(t, pgstore.Options{DSN: dsn, Pooler: mode, ExecMode: v.exec, StatementTimeout: 7 * time.Second,
				LockTimeout: 300 * time.Millisecond, MaxConns: 2})
			if err := st.UpsertOrg(ctx, router.Org{ID: "o1"}); err != nil {
				t.Fatal(err)
			}
			// The store's own reads see the settings (the snapshot runs in a
			// transaction, ListOrgs is a lone statement).
			snap, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()})
			if err != nil || len(snap.Orgs) != 1 || snap.Source == nil || snap.Source.Pooler != mode || snap.Source.InRecovery {
				t.Fatalf("snapshot through %s pooling: %+v %v", mode, snap, err)
			}

			// Hold an ACCESS EXCLUSIVE lock on orgs from a direct session.
			locker, err := pgx.Connect(ctx, direct)
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Close(context.Background())
			ltx, err := locker.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ltx.Exec(ctx, `LOCK TABLE orgs IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}
			for name, read := range map[string]func() error{
				"lone statement": func() error { _, err := st.ListOrgs(ctx); return err },
				"transaction": func() error {
					_, err := st.Snapshot(ctx, router.SnapshotRequest{Now: time.Now()})
					return err
				},
			} {
				start := time.Now()
				err := read()
				if err == nil || !strings.Contains(err.Error(), "lock") {
					t.Errorf("%s behind an ACCESS EXCLUSIVE lock: %v, want a lock timeout", name, err)
				}
				t.Logf("%s gave up after %v: %v", name, time.Since(start).Round(time.Millisecond), err)
			}
			if err := ltx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}

			// What a server connection carries after routeops used it: none of
			// routeops's settings in transaction pooling (they were local).
			if mode == pgstore.PoolerTransaction {
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
				other, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close(context.Background())
				for range 5 {
					var lt, notify string
					if err := other.QueryRow(ctx, `SELECT current_setting('lock_timeout'), coalesce(current_setting('routeops.notify', true), '')`).Scan(&lt, &notify); err != nil {
						t.Fatal(err)
					}
					if lt == "300ms" || notify == "after_commit" {
						t.Fatalf("a session setting leaked to another client of the pool: lock_timeout %s, routeops.notify %q", lt, notify)
					}
					if _, err := st.ListOrgs(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestTransactionPoolWakeups: without a listen DSN a transaction-pooled
// store offers no wake-ups, and says why; a listen DSN that is itself
// the transaction pool is refused, since its probe never comes back;
// PostgreSQL itself delivers enqueue wake-ups. Migrate goes through the
// listen DSN, and refuses without one.
func TestTransactionPoolWakeups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := pgtest.SharedBouncer(t, pgtest.PoolTransaction)
	direct, dsn := pgtest.NewDBVia(t, b)
	opts := pgstore.Options{DSN: dsn, Pooler: pgstore.PoolerTransaction, ConnectTimeout: 2 * time.Second}

	st := openPooled(t, opts)
	if _, err := st.Notifications(ctx); !errors.Is(err, router.ErrNoWakeups) || !strings.Contains(err.Error(), "db.listen_dsn") {
		t.Fatalf("Notifications without a listen DSN: %v, want ErrNoWakeups naming db.listen_dsn", err)
	}
	if _, err := pgstore.Migrate(ctx, opts); !errors.Is(err, pgstore.ErrNeedsSession) {
		t.Fatalf("Migrate under transaction pooling without a listen DSN: %v", err)
	}

	bad := opts
	bad.ListenDSN = dsn
	if _, err := openPooled(t, bad).Notifications(ctx); err == nil || !strings.Contains(err.Error(), "cannot deliver") {
		t.Fatalf("LISTEN through the transaction pool: %v, want it refused", err)
	}

	good := opts
	good.ListenDSN = direct
	if _, err := pgstore.Migrate(ctx, good); err != nil {
		t.Fatalf("Migrate through the listen DSN: %v", err)
	}
	st = openPooled(t, good)
	ch, err := st.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertOrg(ctx, router.Org{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertQueue(ctx, router.Queue{OrgID: "o1", ID: "q"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority":1,"channel":"chat"}`),
		EnqueuedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case org := <-ch:
			if org == "o1" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no wake-up for the enqueue through the transaction pool")
		}
	}
}
