package pgstore_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestWakeUpsAfterCommit checks migration 008's split: routeops's own
// sessions do not notify inside their data transactions (so notifying
// commits do not serialise on PostgreSQL's notify lock) but wake the
// engines after committing, while any other writer inserting work_items
// with plain SQL still wakes them through the trigger.
func TestWakeUpsAfterCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn := pgtest.NewDB(t)
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertOrg(ctx, router.Org{ID: "o1"}))
	must(st.UpsertQueue(ctx, router.Queue{OrgID: "o1", ID: "q"}))
	must(st.UpsertOrg(ctx, router.Org{ID: "o2"}))
	must(st.UpsertQueue(ctx, router.Queue{OrgID: "o2", ID: "q"}))

	var setting string
	must(st.Pool().QueryRow(ctx, `SELECT current_setting('routeops.notify', true)`).Scan(&setting))
	if setting != "after_commit" {
		t.Fatalf("routeops sessions have routeops.notify = %q, want after_commit", setting)
	}

	listener, err := pgx.Connect(ctx, dsn)
	must(err)
	defer listener.Close(context.Background())
	_, err = listener.Exec(ctx, "LISTEN "+pgx.Identifier{st.WakeChannel()}.Sanitize())
	must(err)
	next := func(what string) string {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
		return n.Payload
	}
	none := func(what string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer wcancel()
		if n, err := listener.WaitForNotification(wctx); err == nil {
			t.Fatalf("%s: unexpected notification %q", what, n.Payload)
		}
	}

	// routeops's Enqueue: exactly one wake-up, after the commit.
	if _, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority": 1}`), EnqueuedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := next("Enqueue"); got != "o1" {
		t.Fatalf("Enqueue woke %q, want o1", got)
	}
	none("after Enqueue's one wake-up")

	// A routeops session inserting an item with plain SQL: the trigger
	// stays silent (routeops's writers call wake after committing).
	tx, err := st.Pool().Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, `INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at, source)
		VALUES ('o1', 900001, 900001, '{}', now(), 'platform')`)
	must(err)
	_, err = tx.Exec(ctx, `INSERT INTO work_items (org_id, id, queue_id, current_revision_id) VALUES ('o1', 900001, 'q', 900001)`)
	must(err)
	must(tx.Commit(ctx))
	none("routeops session's own insert (it wakes after commit through wake, not the trigger)")

	// Another writer (a plain session, as the platform's) is woken for by
	// the trigger.
	other, err := pgx.Connect(ctx, dsn)
	must(err)
	defer other.Close(context.Background())
	_, err = other.Exec(ctx, `BEGIN;
		INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at, source)
			VALUES ('o2', 900002, 900002, '{}', now(), 'platform');
		INSERT INTO work_items (org_id, id, queue_id, current_revision_id) VALUES ('o2', 900002, 'q', 900002);
		COMMIT`)
	must(err)
	if got := next("platform insert"); got != "o2" {
		t.Fatalf("platform insert woke %q, want o2", got)
	}
}

// TestWakeChannelIsPrivate: the engines listen on the database's own
// channel, whose name a role without routeops's grants cannot read, so
// such a role flooding the well-known channel costs an engine nothing,
// while routeops's writers and the insert trigger still wake it.
func TestWakeChannelIsPrivate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := pgtest.Shared(t)
	dsn := pgtest.NewDBOn(t, srv)
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ch := st.WakeChannel()
	if !regexp.MustCompile(`^routeops_work_[0-9a-f]{32}$`).MatchString(ch) {
		t.Fatalf("wake channel %q, want routeops_work_ and 32 hex digits", ch)
	}
	for _, o := range []string{"o1", "o2"} {
		if err := st.UpsertOrg(ctx, router.Org{ID: o}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpsertQueue(ctx, router.Queue{OrgID: o, ID: "q"}); err != nil {
			t.Fatal(err)
		}
	}

	// A role with no grants: it may connect and notify, not read the name.
	role := fmt.Sprintf("outsider_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if err := srv.Exec(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Exec(context.Background(), `DROP ROLE IF EXISTS `+role) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := pgx.Connect(ctx, srv.DSNAs(strings.TrimPrefix(u.Path, "/"), role, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer outsider.Close(context.Background())
	var name string
	if err := outsider.QueryRow(ctx, `SELECT wake_channel FROM routeops_settings`).Scan(&name); !pgstore.IsPermission(err) {
		t.Fatalf("an outside role read the wake channel: %q, %v", name, err)
	}

	notes, err := st.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The flood, on the channel every earlier version listened on.
	if _, err := outsider.Exec(ctx, `SELECT pg_notify('routeops_work', 'o1') FROM generate_series(1, 1000)`); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := outsider.Exec(ctx, `SELECT pg_notify('routeops_work', $1)`, fmt.Sprintf("o%d", i%2+1)); err != nil {
			t.Fatal(err)
		}
	}
	// routeops's own writer, after the flood: the first thing heard.
	if _, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o2", QueueID: "q", Attributes: []byte(`{"priority": 1}`), EnqueuedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-notes:
		if got != "o2" {
			t.Fatalf("the engine heard %q first, want the enqueue's o2 (the flood reached it)", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the enqueue's wake-up did not arrive")
	}
	// A platform writer with plain SQL: the trigger notifies on the
	// private channel without the writer knowing it.
	mustExec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(`BEGIN;
		INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, created_at, source)
			VALUES ('o1', 900003, 900003, '{}', now(), 'platform');
		INSERT INTO work_items (org_id, id, queue_id, current_revision_id) VALUES ('o1', 900003, 'q', 900003);
		COMMIT`)
	select {
	case got := <-notes:
		if got != "o1" {
			t.Fatalf("the engine heard %q, want the platform insert's o1", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the platform insert's wake-up did not arrive")
	}
}

// TestEnqueueFailureLeavesConnectionUsable: Enqueue pipelines BEGIN, the
// insert, COMMIT and the wake-up; a failure inside leaves the session's
// transaction block aborted, which Enqueue must roll back before the
// connection goes back to the pool. With a pool of one connection, the
// next call would fail if it did not.
func TestEnqueueFailureLeavesConnectionUsable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: pgtest.NewDB(t), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertOrg(ctx, router.Org{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertQueue(ctx, router.Queue{OrgID: "o1", ID: "q"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "nope", Attributes: []byte(`{}`), EnqueuedAt: time.Now()})
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("enqueue to an unknown queue: %v, want a does-not-exist error", err)
		}
		it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"channel": "chat", "priority": 3}`), EnqueuedAt: time.Now()})
		if err != nil {
			t.Fatalf("enqueue after a failed one: %v", err)
		}
		if it.ID == 0 || it.State != router.StateQueued || it.Priority != 3 {
			t.Fatalf("enqueued item %+v", it)
		}
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM work_items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d items stored, want 3", n)
	}
}
