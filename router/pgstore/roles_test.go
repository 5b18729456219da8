package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestCreateRoles: CreateRoles is idempotent, refuses a database without
// the schema, and grants exactly what README's "Access" section says:
// the viewer SELECT only; the operator the viewer's rights plus the action
// grants; neither may UPDATE, DELETE or TRUNCATE events. pgstore.Tables
// and pgstore.Sequences name every table and sequence the migrations
// create, so a new migration cannot leave a table out of the grants.
func TestCreateRoles(t *testing.T) {
	// Roles are cluster-wide: create them on a private server, never on a
	// ROUTEOPS_TEST_DSN server shared with others.
	srv := pgtest.StartPrivate(t, pgtest.PrivateOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pgstore.CreateRoles(ctx, pgstore.Options{DSN: pgtest.NewEmptyDBOn(t, srv)}); !errors.Is(err, pgstore.ErrNoSchema) {
		t.Fatalf("CreateRoles on a database without the schema: %v, want ErrNoSchema", err)
	}
	dsn := pgtest.NewDBOn(t, srv)
	for i := 0; i < 2; i++ {
		if err := pgstore.CreateRoles(ctx, pgstore.Options{DSN: dsn}); err != nil {
			t.Fatalf("CreateRoles, run %d: %v", i+1, err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	list := func(sql string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tables := list(`SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1`)
	want := slices.Sorted(slices.Values(pgstore.Tables))
	if !slices.Equal(tables, want) {
		t.Fatalf("the schema has tables %v; pgstore.Tables lists %v", tables, want)
	}
	seqs := list(`SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'S' ORDER BY 1`)
	if want := slices.Sorted(slices.Values(pgstore.Sequences)); !slices.Equal(seqs, want) {
		t.Fatalf("the schema has sequences %v; pgstore.Sequences lists %v", seqs, want)
	}
	for _, r := range []string{pgstore.RoleViewer, pgstore.RoleOperator} {
		var login bool
		if err := conn.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, r).Scan(&login); err != nil || login {
			t.Fatalf("role %s: login %v, %v; want an existing NOLOGIN role", r, login, err)
		}
	}
	priv := func(role, table, p string) bool {
		t.Helper()
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT has_table_privilege($1, $2, $3)`, role, table, p).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, table := range pgstore.Tables {
		for _, role := range []string{pgstore.RoleViewer, pgstore.RoleOperator} {
			if !priv(role, table, "SELECT") {
				t.Errorf("%s cannot SELECT %s", role, table)
			}
		}
		for _, p := range []string{"INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
			if priv(pgstore.RoleViewer, table, p) {
				t.Errorf("the viewer may %s %s", p, table)
			}
		}
	}
	operator := map[string][]string{
		"work_items":          {"UPDATE"},
		"work_item_revisions": {"INSERT", "DELETE"},
		"events":              {"INSERT"},
		"queues":              {"UPDATE"},
		"queue_count_deltas":  {"INSERT"},
		"queue_dirty":         {"INSERT"},
		"queued_items":        {"INSERT", "DELETE"},
		"operations":          {"INSERT", "UPDATE"},
	}
	for _, table := range pgstore.Tables {
		for _, p := range []string{"INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
			want := slices.Contains(operator[table], p)
			if got := priv(pgstore.RoleOperator, table, p); got != want {
				t.Errorf("operator %s on %s: %v, want %v", p, table, got, want)
			}
		}
	}
	// Revisions: UPDATE only on the source column (for cleanup's row
	// locks); attributes stay immutable.
	var src, attrs bool
	if err := conn.QueryRow(ctx, `SELECT has_column_privilege($1, 'work_item_revisions', 'source', 'UPDATE'),
			has_column_privilege($1, 'work_item_revisions', 'attributes', 'UPDATE')`, pgstore.RoleOperator).Scan(&src, &attrs); err != nil {
		t.Fatal(err)
	}
	if !src || attrs {
		t.Errorf("operator UPDATE on work_item_revisions: source %v (want true), attributes %v (want false)", src, attrs)
	}
	// Teams and agents: their status only (team pause, agent set-status);
	// capacity, skills and membership stay the platform's.
	var teamStatus, agentStatus, agentCap bool
	if err := conn.QueryRow(ctx, `SELECT has_column_privilege($1, 'teams', 'status', 'UPDATE'),
			has_column_privilege($1, 'agents', 'status', 'UPDATE'), has_column_privilege($1, 'agents', 'capacity', 'UPDATE')`,
		pgstore.RoleOperator).Scan(&teamStatus, &agentStatus, &agentCap); err != nil {
		t.Fatal(err)
	}
	if !teamStatus || !agentStatus || agentCap {
		t.Errorf("operator UPDATE: teams.status %v, agents.status %v (want true), agents.capacity %v (want false)", teamStatus, agentStatus, agentCap)
	}
	for _, s := range pgstore.Sequences {
		var viewerUse, opUse bool
		if err := conn.QueryRow(ctx, `SELECT has_sequence_privilege($1, $3, 'USAGE'), has_sequence_privilege($2, $3, 'USAGE')`,
			pgstore.RoleViewer, pgstore.RoleOperator, s).Scan(&viewerUse, &opUse); err != nil {
			t.Fatal(err)
		}
		if viewerUse || !opUse {
			t.Errorf("sequence %s: viewer USAGE %v (want false), operator USAGE %v (want true)", s, viewerUse, opUse)
		}
	}
}
