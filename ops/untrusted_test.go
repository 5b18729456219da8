package ops_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
)

// TestRepairFallbacksNeedOptIn: an earlier revision is a fallback, not the
// lost attributes: the plan shows it, flagged, and apply leaves the item
// alone unless the operator allows fallbacks.
func TestRepairFallbacksNeedOptIn(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 10)
		f := e.enqueue("o1", "default", attrs(7), base)
		first, _ := current(e, f)
		e.addRevision("o1", f.ID, []byte(`{"priority": "high", "channel": "chat"}`), at(time.Minute))
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		p := planItem(t, plan, f.ID)
		if p.Source != ops.SourceEarlier || !p.Valid || p.OptIn != ops.OptInFallback || plan.NeedOptIn != 1 || plan.AllowFallback {
			t.Fatalf("plan: %+v, item %+v", plan, p)
		}
		before := e.item(f.ID)
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 0 || rep.Skipped != 1 || !strings.Contains(rep.Outcomes[0].Reason, "--allow-fallback") {
			t.Fatalf("apply without --allow-fallback: %+v", rep)
		}
		if now := e.item(f.ID); now.CurrentRevisionID != before.CurrentRevisionID {
			t.Fatalf("apply without the opt-in repointed the item to %d", now.CurrentRevisionID)
		}
		plan.AllowFallback = true
		rep, err = e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if r, _ := current(e, e.item(f.ID)); rep.Repaired != 1 || !bytes.Equal(r.Attributes, first.Attributes) {
			t.Fatalf("apply with --allow-fallback: %+v, current %s", rep, r.Attributes)
		}
	})
}

// TestRepairLabelsUnverifiedJournal: an item inserted by a raw writer with
// its own journal copy and no revision (foreign key skipped under replica)
// is rebuilt only as a fallback labelled journal_unverified.
func TestRepairLabelsUnverifiedJournal(t *testing.T) {
	onlyPG(t, func(t *testing.T, e *env) {
		e.org("o1", 1, 10)
		ctx := context.Background()
		err := pgx.BeginFunc(ctx, e.pg.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO work_items (org_id, id, queue_id, current_revision_id, enqueued_at,
				journal_revision_id, journal_attributes)
				VALUES ('o1', 424242, 'default', 424242, $1, 424242, '{"priority": 100, "channel": "voice", "tier": "forged"}')`, base)
			return err
		})
		e.must(err)
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		p := planItem(t, plan, 424242)
		if p.Source != ops.SourceJournalUnverified || !p.Fallback || p.OptIn != ops.OptInFallback || p.Cause != router.CauseMissingRevision {
			t.Fatalf("plan item: %+v", p)
		}
		rep, err := e.ops.ApplyRepair(e.ctx, plan)
		e.must(err)
		if rep.Repaired != 0 || !strings.Contains(rep.Outcomes[0].Reason, "journal_unverified") {
			t.Fatalf("apply without the opt-in: %+v", rep)
		}
	})
}

// TestRepairReportsOversizedJournal: a journal copy over the size limit is
// reported as such (not as "no journal entry"), and never loaded.
func TestRepairReportsOversizedJournal(t *testing.T) {
	onlyPG(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := pgstore.AttributesLimit(ctx, pgstore.Options{DSN: e.dsn}, 4<<20); err != nil {
			t.Fatal(err)
		}
		e.org("o1", 1, 10)
		blob := []byte(`{"priority": 5, "channel": "chat", "tier": "` + strings.Repeat("x", 2<<20) + `"}`)
		it := e.enqueue("o1", "default", blob, base)
		if _, err := pgstore.AttributesLimit(ctx, pgstore.Options{DSN: e.dsn}, pgstore.DefaultAttributesLimit); err != nil {
			t.Fatal(err)
		}
		e.must(pgx.BeginFunc(ctx, e.pg.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM work_item_revisions WHERE id = $1`, it.CurrentRevisionID)
			return err
		}))
		plan, err := e.ops.PlanRepair(e.ctx, "o1", false)
		e.must(err)
		p := planItem(t, plan, it.ID)
		if p.Valid || !strings.Contains(p.Error, "oversized") || strings.Contains(p.Error, "no journal entry") {
			t.Fatalf("plan item: %+v", p)
		}
		d, err := e.ops.Item(e.ctx, "", it.ID)
		e.must(err)
		if d.Journal == nil || !d.Journal.Oversized || len(d.Journal.Attributes) != 0 || d.Journal.Bytes < 2<<20 {
			t.Fatalf("item view of the journal: %+v", d.Journal)
		}
	})
}

// TestCheckedActor: one rule for a name from any source.
func TestCheckedActor(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		operator string
		env      func(string) string
		ok       bool
	}{
		{"alice", env("USER", "alice-os"), true},
		{"", env("SUDO_USER", "sam", "USER", "root"), true},
		{"Zoë Ångström", env("USER", "zoe"), true},
		{"alice\u202e", env("USER", "alice-os"), false},
		{"alice\x1b]0;x\x07", env(), false},
		{"", env("SUDO_USER", "sam\x1b[2J", "USER", "root"), false},
		{"alice", env("SUDO_USER", "sam\u009b", "USER", "root"), false},
		{"", env("USER", "u\x07"), false},
		{"", env("LOGNAME", "l\u2066"), false},
	} {
		a, err := ops.CheckedActor(c.operator, c.env)
		if (err == nil) != c.ok {
			t.Errorf("CheckedActor(%q): %+v, %v; want ok %v", c.operator, a, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--operator") {
			t.Errorf("the refusal does not say what to do: %v", err)
		}
	}
}
