package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// These tests write rows the way a platform integration or a compromised
// account could: raw SQL, as the owner, and under
// session_replication_role = replica, which skips ordinary triggers and
// the foreign keys.

func rawExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pool.Exec(ctx, sql, args...)
	return err
}

func mustRaw(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if err := rawExec(t, pool, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// asReplica runs sql in one transaction under session_replication_role =
// replica.
func asReplica(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// hasUnsafe reports a character no terminal should receive raw (line
// breaks and tabs aside, which messages use).
func hasUnsafe(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && router.UnsafeRune(r) {
			return true
		}
	}
	return false
}

// TestCleanTextMatchesUnsafeRune: the schema's routeops_clean_text refuses
// exactly the characters router.UnsafeRune names, over the whole Basic
// Multilingual Plane and a sample beyond it.
func TestCleanTextMatchesUnsafeRune(t *testing.T) {
	st := pgtest.NewStore(t)
	ctx := context.Background()
	var runes []int32
	for r := int32(1); r < 0x10000; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // surrogates are not characters
		}
		runes = append(runes, r)
	}
	runes = append(runes, 0x1f680, 0x10ffff, 0xe0001)
	rows, err := st.Pool().Query(ctx, `SELECT c, routeops_clean_text(chr(c)) FROM unnest($1::int[]) c`, runes)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var c int32
		var clean bool
		if err := rows.Scan(&c, &clean); err != nil {
			t.Fatal(err)
		}
		if clean == router.UnsafeRune(c) {
			t.Errorf("U+%04X: routeops_clean_text says clean=%v, router.UnsafeRune says unsafe=%v", c, clean, router.UnsafeRune(c))
		}
		n++
	}
	if err := rows.Err(); err != nil || n != len(runes) {
		t.Fatalf("%d of %d characters checked: %v", n, len(runes), err)
	}
}

// TestIDsCleanAtTheSource: a raw writer cannot store an org, queue, team
// or agent id with a control or bidi character, as the owner or under
// replica.
func TestIDsCleanAtTheSource(t *testing.T) {
	st := pgtest.NewStore(t)
	pool := st.Pool()
	mustRaw(t, pool, `INSERT INTO orgs (id) VALUES ('o1')`)
	mustRaw(t, pool, `INSERT INTO teams (org_id, id) VALUES ('o1', 't1')`)
	for _, id := range []string{"evil\x1b]0;pwned\x07", "c1\u009b2J", "rtl\u202eexe", "bell\a", "x\u2029y"} {
		for _, stmt := range []string{
			`INSERT INTO orgs (id) VALUES ($1)`,
			`INSERT INTO queues (org_id, id) VALUES ('o1', $1)`,
			`INSERT INTO teams (org_id, id) VALUES ('o1', $1)`,
			`INSERT INTO agents (org_id, id, team_id, capacity) VALUES ('o1', $1, 't1', 1)`,
			`UPDATE orgs SET id = $1 WHERE id = 'nope'`, // matches nothing: allowed
		} {
			err := rawExec(t, pool, stmt, id)
			if strings.HasPrefix(stmt, "UPDATE") {
				if err != nil {
					t.Errorf("%s: %v", stmt, err)
				}
				continue
			}
			if sqlState(err) != "23514" {
				t.Errorf("%s with %q: %v, want a check violation", stmt, id, err)
			}
			if err := asReplica(t, pool, stmt, id); sqlState(err) != "23514" {
				t.Errorf("under replica, %s with %q: %v, want a check violation", stmt, id, err)
			}
		}
	}
}

// TestMigrationReportsUncleanIDs: ids written by an older routeops that
// carry control or bidi characters stop the migration with a list of them,
// shown escaped (no escape byte reaches the operator's terminal), and
// nothing changes; once they are renamed the migration goes through.
func TestMigrationReportsUncleanIDs(t *testing.T) {
	dsn := pgtest.NewEmptyDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pgstore.MigrateTo(ctx, dsn, 9); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{
		`INSERT INTO orgs (id) VALUES (E'evil\x1b]0;pwned\x07'), (E'rtl\u202eexe'), ('fine')`,
		`INSERT INTO queues (org_id, id) VALUES ('fine', E'q\u009b2J'), ('fine', 'default')`,
		`INSERT INTO teams (org_id, id) VALUES ('fine', E't\x1b[5m')`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	_, err = pgstore.Migrate(ctx, pgstore.Options{DSN: dsn})
	if err == nil {
		t.Fatal("the migration went through with unclean ids")
	}
	msg := err.Error()
	for _, want := range []string{`4 id(s)`, `org evil\x1b]0;pwned\x07`, `org rtl\u202eexe`, `queue fine/q\x9b2J`, `team fine/t\x1b[5m`,
		"nothing was changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the migration's report lacks %q:\n%s", want, msg)
		}
	}
	if hasUnsafe(msg) {
		t.Errorf("the report carries a control or bidi character raw: %q", msg)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT version FROM `+pgstore.VersionTable).Scan(&v); err != nil || v != 9 {
		t.Fatalf("schema version %d (%v) after the refused migration, want 9", v, err)
	}
	for _, sql := range []string{
		`DELETE FROM teams`, `DELETE FROM queues WHERE id <> 'default'`, `DELETE FROM orgs WHERE id <> 'fine'`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pgstore.Migrate(ctx, pgstore.Options{DSN: dsn}); err != nil {
		t.Fatalf("migrate after the cleanup: %v", err)
	}
}

// TestAttributesLimitForEveryWriter: SQL refuses a revision over the
// limit whoever writes it (owner, replica, UPDATE); migrate's setting moves
// the limit.
func TestAttributesLimitForEveryWriter(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pool := st.Pool()
	seedOrg(t, st, "o1")
	it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority": 1, "channel": "chat"}`), EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"x": "` + strings.Repeat("a", 10<<20) + `"}`
	over := `{"x": "` + strings.Repeat("a", 70<<10) + `"}`
	for name, run := range map[string]func() error{
		"insert": func() error {
			return rawExec(t, pool, `INSERT INTO work_item_revisions (org_id, work_item_id, attributes) VALUES ('o1', $1, $2::jsonb)`, it.ID, huge)
		},
		"insert under replica": func() error {
			return asReplica(t, pool, `INSERT INTO work_item_revisions (org_id, work_item_id, attributes) VALUES ('o1', $1, $2::jsonb)`, it.ID, over)
		},
		"update under replica": func() error {
			return asReplica(t, pool, `UPDATE work_item_revisions SET attributes = $1::jsonb WHERE org_id = 'o1'`, over)
		},
		"insert an item with a huge journal copy": func() error {
			return asReplica(t, pool, `INSERT INTO work_items (org_id, id, queue_id, current_revision_id, journal_revision_id, journal_attributes)
				VALUES ('o1', 999999, 'q', 888888, 888888, $1::jsonb)`, huge)
		},
	} {
		if err := run(); sqlState(err) != "RO413" || !strings.Contains(err.Error(), "attributes") && !strings.Contains(err.Error(), "journal") {
			t.Errorf("%s: %v, want SQLSTATE RO413 (too large)", name, err)
		}
	}
	if _, err := st.AddRevision(ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID, Attributes: []byte(over), At: time.Now()}); !errors.Is(err, router.ErrAttributesTooLarge) {
		t.Errorf("AddRevision over the limit: %v", err)
	}
	if n, err := pgstore.AttributesLimit(ctx, pgstore.Options{DSN: dsn}, 0); err != nil || n != pgstore.DefaultAttributesLimit {
		t.Fatalf("default limit %d, %v", n, err)
	}
	if _, err := pgstore.AttributesLimit(ctx, pgstore.Options{DSN: dsn}, 1000); err == nil {
		t.Error("a limit of 1000 bytes was accepted")
	}
	if n, err := pgstore.AttributesLimit(ctx, pgstore.Options{DSN: dsn}, 128<<10); err != nil || n != 128<<10 {
		t.Fatalf("raise the limit: %d, %v", n, err)
	}
	if _, err := st.AddRevision(ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID, Attributes: []byte(over), At: time.Now()}); err != nil {
		t.Errorf("AddRevision of %d bytes under a 128 KiB limit: %v", len(over), err)
	}
}

func seedOrg(t *testing.T, st router.Store, org string) {
	t.Helper()
	ctx := context.Background()
	for _, err := range []error{
		st.UpsertOrg(ctx, router.Org{ID: org}),
		st.UpsertQueue(ctx, router.Queue{OrgID: org, ID: "q"}),
		st.UpsertTeam(ctx, router.Team{OrgID: org, ID: "t1"}),
		st.UpsertAgent(ctx, router.Agent{OrgID: org, ID: "a1", TeamID: "t1", Capacity: 100}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestOversizedDocumentsNeverLoaded: documents stored under a higher limit
// (10 MB) and then over a lowered one are never fetched: the claim, the
// snapshot's head, the item, its revisions and repair's candidates report
// their size instead, and the engine faults the item as
// oversized_attributes without loading it, while the items behind it route.
func TestOversizedDocumentsNeverLoaded(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	opts := pgstore.Options{DSN: dsn}
	if _, err := pgstore.AttributesLimit(ctx, opts, pgstore.MaxAttributesLimit); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedOrg(t, st, "o1")
	t0 := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	huge := []byte(`{"priority": 90, "channel": "chat", "tier": "` + strings.Repeat("z", 10<<20) + `"}`)
	big, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: huge, EnqueuedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	fine, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority": 0, "channel": "chat"}`), EnqueuedAt: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.AttributesLimit(ctx, opts, pgstore.DefaultAttributesLimit); err != nil {
		t.Fatal(err)
	}
	const max = 64 << 10
	got, err := st.GetItem(ctx, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.JournalOversized || got.JournalAttributes != nil || got.JournalBytes < 10<<20 {
		t.Errorf("GetItem: journal oversized %v, %d bytes loaded, size %d", got.JournalOversized, len(got.JournalAttributes), got.JournalBytes)
	}
	revs, err := st.ItemRevisions(ctx, "o1", big.ID)
	if err != nil || len(revs) != 1 || !revs[0].Oversized || len(revs[0].Attributes) > 0 || revs[0].Bytes < 10<<20 {
		t.Errorf("ItemRevisions: %v, %+v", err, revs)
	}
	items, err := st.ListItems(ctx, router.ItemFilter{Org: "o1"})
	if err != nil || len(items) != 2 {
		t.Fatalf("ListItems: %v %d", err, len(items))
	}
	for _, it := range items {
		if len(it.JournalAttributes) > 0 {
			t.Errorf("ListItems fetched item %d's journal copy", it.ID)
		}
	}
	snap, err := st.Snapshot(ctx, router.SnapshotRequest{Org: "o1", Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	h := snap.Orgs[0].Queues[0].Head
	if h == nil || h.ID != big.ID || !h.Oversized || len(h.Attributes) > max || h.Bytes < 10<<20 {
		t.Fatalf("snapshot head: %+v", h)
	}
	if err := st.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err = st.Snapshot(ctx, router.SnapshotRequest{Org: "o1", Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if h := snap.Orgs[0].Queues[0].Head; h == nil || !h.Oversized || len(h.Attributes) > 0 {
		t.Fatalf("stored head after maintenance: %+v", h)
	}
	var claimed []router.ClaimedItem
	res, err := st.RouteOrg(ctx, router.RouteRequest{Org: "o1", Limit: 10, Now: t0.Add(time.Minute),
		Actor: router.Actor{Name: "engine:test"}}, func(b *router.Batch) []router.Decision {
		claimed = append(claimed, b.Items...)
		return router.Decide(router.PolicyQuarantine, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 2 || claimed[0].Item.ID != big.ID || !claimed[0].Oversized || len(claimed[0].Attributes) > 0 {
		t.Fatalf("claimed: %+v", claimed)
	}
	if res.Assigned != 1 || res.Quarantined != 1 {
		t.Fatalf("route: %+v", res)
	}
	b, err := st.GetItem(ctx, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != router.StateQuarantined || b.FaultCause != router.CauseOversizedAttributes || !strings.Contains(b.LastError, "too large") {
		t.Fatalf("the oversized item: %s, cause %q, %q", b.State, b.FaultCause, b.LastError)
	}
	if f, _ := st.GetItem(ctx, fine.ID); f.State != router.StateAssigned {
		t.Fatalf("the item behind it is %s", f.State)
	}
	cands, err := st.RepairCandidates(ctx, "o1")
	if err != nil || len(cands) != 1 || !cands[0].CurrentOversized || len(cands[0].CurrentAttributes) > 0 ||
		!cands[0].Item.JournalOversized || len(cands[0].Item.JournalAttributes) > 0 {
		t.Fatalf("repair candidates: %v %+v", err, cands)
	}
	rep, err := st.Verify(ctx, 10)
	if err != nil || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Detail, "too large") {
		t.Fatalf("verify: %v %+v", err, rep.Findings)
	}
}

// TestEventsStampedByTheDatabase: whatever a writer claims in actor,
// origin and at, the event records its login and the server's clock, as
// the owner and under replica.
func TestEventsStampedByTheDatabase(t *testing.T) {
	st := pgtest.NewStore(t)
	pool := st.Pool()
	ctx := context.Background()
	var login string
	var before time.Time
	if err := pool.QueryRow(ctx, `SELECT session_user, clock_timestamp()`).Scan(&login, &before); err != nil {
		t.Fatal(err)
	}
	forged := `INSERT INTO events (org_id, kind, actor, origin, at, db_user, recorded_at)
		VALUES ('o1', 'released', 'carol', '10.1.2.3', now() - interval '30 minutes', 'someone-else', now() - interval '30 minutes')`
	mustRaw(t, pool, forged)
	if err := asReplica(t, pool, forged); err != nil {
		t.Fatal(err)
	}
	var after time.Time
	if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, router.EventFilter{Org: "o1"})
	if err != nil || len(evs) != 2 {
		t.Fatalf("events: %v %+v", err, evs)
	}
	for _, e := range evs {
		if e.Actor != "carol" || e.Origin != "10.1.2.3" {
			t.Errorf("the claim is kept: %+v", e)
		}
		if e.DBUser != login {
			t.Errorf("db_user %q, want the login %q", e.DBUser, login)
		}
		if e.RecordedAt == nil || e.RecordedAt.Before(before) || e.RecordedAt.After(after) || !e.At.Before(before.Add(-29*time.Minute)) {
			t.Errorf("recorded_at %v (claimed at %v), want the server's clock between %v and %v", e.RecordedAt, e.At, before, after)
		}
	}
}

// TestJournalWrittenOnlyByTheTrigger: a writer cannot put its own
// attributes in an item's journal copy (repair's exact source): an UPDATE
// of the copy is refused, as the owner and under replica; an insert gets
// the revision's attributes whatever it sent; an item inserted before its
// revision gets the copy at commit; a copy the trigger did not make is
// marked unverified.
func TestJournalWrittenOnlyByTheTrigger(t *testing.T) {
	st := pgtest.NewStore(t)
	pool := st.Pool()
	ctx := context.Background()
	seedOrg(t, st, "o1")
	it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority": 1, "channel": "chat"}`), EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	forge := fmt.Sprintf(`UPDATE work_items SET journal_revision_id = current_revision_id,
		journal_attributes = '{"priority": 100, "channel": "voice", "tier": "forged"}' WHERE id = %d`, it.ID)
	if err := rawExec(t, pool, forge); sqlState(err) != "42501" {
		t.Errorf("forging the journal copy: %v, want insufficient_privilege", err)
	}
	if err := asReplica(t, pool, forge); sqlState(err) != "42501" {
		t.Errorf("forging the journal copy under replica: %v, want insufficient_privilege", err)
	}
	if err := rawExec(t, pool, fmt.Sprintf(`UPDATE work_items SET journal_verified = true WHERE id = %d`, it.ID)); err != nil {
		t.Errorf("an UPDATE that changes nothing: %v", err)
	}
	got, _ := st.GetItem(ctx, it.ID)
	if string(got.JournalAttributes) != `{"channel": "chat", "priority": 1}` || !got.JournalVerified {
		t.Fatalf("journal after the attempts: %s verified %v", got.JournalAttributes, got.JournalVerified)
	}
	// An insert that brings its own copy gets the revision's.
	if err := asReplica(t, pool, `WITH r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes)
			VALUES ('o1', 70001, 70001, '{"priority": 2, "channel": "sms"}') RETURNING id)
		INSERT INTO work_items (org_id, id, queue_id, current_revision_id, journal_revision_id, journal_attributes)
		SELECT 'o1', 70001, 'q', id, id, '{"priority": 99, "channel": "voice"}' FROM r`); err != nil {
		t.Fatal(err)
	}
	// An item inserted before its revision, in one transaction.
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO work_items (org_id, id, queue_id, current_revision_id, journal_revision_id, journal_attributes)
			VALUES ('o1', 70002, 'q', 70002, 70002, '{"priority": 99, "channel": "voice"}')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes)
			VALUES ('o1', 70002, 70002, '{"priority": 3, "channel": "email"}')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// And one whose revision never comes (the foreign key skipped).
	if err := asReplica(t, pool, `INSERT INTO work_items (org_id, id, queue_id, current_revision_id, journal_revision_id, journal_attributes)
			VALUES ('o1', 70003, 'q', 70003, 70003, '{"priority": 99, "channel": "voice"}')`); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]struct {
		attrs    string
		verified bool
	}{
		70001: {`{"channel": "sms", "priority": 2}`, true},
		70002: {`{"channel": "email", "priority": 3}`, true},
		70003: {`{"channel": "voice", "priority": 99}`, false},
	} {
		got, err := st.GetItem(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.JournalAttributes) != want.attrs || got.JournalVerified != want.verified {
			t.Errorf("item %d: journal %s verified %v, want %s verified %v", id, got.JournalAttributes, got.JournalVerified, want.attrs, want.verified)
		}
	}
}

// TestRepointToMissingRevisionRefused: with the foreign key dropped and
// under replica, an item cannot be pointed at a revision that does not
// exist.
func TestRepointToMissingRevisionRefused(t *testing.T) {
	st := pgtest.NewStore(t)
	pool := st.Pool()
	ctx := context.Background()
	seedOrg(t, st, "o1")
	it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: []byte(`{"priority": 1, "channel": "chat"}`), EnqueuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	mustRaw(t, pool, `ALTER TABLE work_items DROP CONSTRAINT work_items_current_revision_fk`)
	sql := fmt.Sprintf(`UPDATE work_items SET current_revision_id = 987654 WHERE id = %d`, it.ID)
	if err := rawExec(t, pool, sql); sqlState(err) != "23503" {
		t.Errorf("repoint to a missing revision without the FK: %v, want a foreign key violation", err)
	}
	if err := asReplica(t, pool, sql); sqlState(err) != "23503" {
		t.Errorf("repoint to a missing revision under replica: %v, want a foreign key violation", err)
	}
}

// waitUntil polls cond until it holds, failing after limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCleanupRaceWithoutForeignKey reproduces the race with the foreign key
// dropped: cleanup has locked and deleted a superseded revision and is
// held inside its transaction (its journal insert waits on a table lock),
// while a writer under session_replication_role = replica points an item
// at that revision, once the revision's own item and once another item.
// The repoint's trigger takes KEY SHARE on the revision, so the writer
// waits for cleanup, finds the revision gone, and fails: no item points at
// a missing revision afterwards.
func TestCleanupRaceWithoutForeignKey(t *testing.T) {
	for _, other := range []bool{false, true} {
		name := "own_item"
		if other {
			name = "other_item"
		}
		t.Run(name, func(t *testing.T) {
			st := pgtest.NewStore(t)
			pool := st.Pool()
			ctx := context.Background()
			seedOrg(t, st, "o1")
			mustRaw(t, pool, `ALTER TABLE work_items DROP CONSTRAINT work_items_current_revision_fk`)
			old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			attrs := []byte(`{"priority": 1, "channel": "chat"}`)
			x, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: attrs, EnqueuedAt: old})
			if err != nil {
				t.Fatal(err)
			}
			y, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: attrs, EnqueuedAt: old})
			if err != nil {
				t.Fatal(err)
			}
			candidate := x.CurrentRevisionID // superseded below, so cleanup may delete it
			if _, err := st.AddRevision(ctx, router.AddRevisionRequest{Org: "o1", ItemID: x.ID, Attributes: attrs, At: old.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			target := x.ID
			if other {
				target = y.ID
			}

			// Hold cleanup inside its transaction: its journal insert waits.
			holder, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback(context.Background()) //nolint:errcheck
			if _, err := holder.Exec(ctx, `LOCK TABLE events IN SHARE MODE`); err != nil {
				t.Fatal(err)
			}
			cleanupDone := make(chan error, 1)
			var res router.CleanupBatchResult
			go func() {
				var err error
				res, err = st.CleanupBatch(ctx, router.CleanupBatchRequest{OlderThan: old.Add(time.Hour), Limit: 100,
					Actor: router.Actor{Name: "cleanup-test"}, At: time.Now()})
				cleanupDone <- err
			}()
			waiting := func(sqlLike string) func() bool {
				return func() bool {
					var n int
					_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE wait_event_type = 'Lock' AND query ILIKE $1`, sqlLike).Scan(&n)
					return n > 0
				}
			}
			waitUntil(t, "cleanup to wait on the held journal", 20*time.Second, waiting("%INSERT INTO events%"))

			// The writer, under replica, repoints to the candidate.
			writer, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString())
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close(context.Background())
			writerDone := make(chan error, 1)
			go func() {
				writerDone <- pgx.BeginFunc(ctx, writer, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE work_items SET current_revision_id = $1 WHERE org_id = 'o1' AND id = $2 /* race-writer */`,
						candidate, target)
					return err
				})
			}()
			var werr error
			writerFinished := false
			waitUntil(t, "the writer to finish or wait", 20*time.Second, func() bool {
				select {
				case werr = <-writerDone:
					writerFinished = true
					return true
				default:
				}
				return waiting("%race-writer%")()
			})
			if err := holder.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-cleanupDone; err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			if !writerFinished {
				werr = <-writerDone
			}
			if res.Deleted != 1 {
				t.Fatalf("cleanup deleted %d revisions, want the candidate", res.Deleted)
			}
			var dangling int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM work_items w WHERE NOT EXISTS
				(SELECT 1 FROM work_item_revisions r WHERE r.org_id = w.org_id AND r.id = w.current_revision_id)`).Scan(&dangling); err != nil {
				t.Fatal(err)
			}
			if dangling != 0 {
				t.Fatalf("%d item(s) point at a deleted revision; the writer's repoint committed (err %v)", dangling, werr)
			}
			if sqlState(werr) != "23503" {
				t.Fatalf("the writer's repoint: %v, want a foreign key violation", werr)
			}
		})
	}
}

// TestLongestValidAttributesFitTheBound: routeops_priority_of does not
// examine a document longer than 16384 bytes, because no valid one is:
// the longest valid attributes (every string at its longest, every
// character one that jsonb prints escaped) are valid and shorter.
func TestLongestValidAttributesFitTheBound(t *testing.T) {
	st := pgtest.NewStore(t)
	esc := func(n int) string { return `"` + strings.Repeat(`\u0001`, n) + `"` }
	skills := make([]string, router.MaxSkills)
	for i := range skills {
		skills[i] = esc(router.MaxSkillLen)
	}
	doc := `{"priority": 100, "channel": "voice", "team": ` + esc(router.MaxTeamLen) + `, "tier": ` + esc(router.MaxTierLen) +
		`, "skills": [` + strings.Join(skills, ", ") + `]}`
	if err := router.ValidateAttributes([]byte(doc)); err != nil {
		t.Fatalf("the longest valid document is not valid: %v", err)
	}
	var valid bool
	var size int
	var prio int
	if err := st.Pool().QueryRow(context.Background(), `SELECT routeops_attributes_valid($1::jsonb), octet_length($1::jsonb::text),
		routeops_priority_of($1::jsonb, octet_length($1::jsonb::text))`, doc).Scan(&valid, &size, &prio); err != nil {
		t.Fatal(err)
	}
	if !valid || size > 16384 || prio != 100 {
		t.Fatalf("longest valid document: valid %v, %d bytes as text (bound 16384), priority %d", valid, size, prio)
	}
}
