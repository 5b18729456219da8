package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/routeops/routeops/router"
)

// The group roles that CreateRoles creates. Both are NOLOGIN: people log
// in with their own roles, which are members of one of these.
const (
	// RoleViewer may read every routeops table: status, check, timeline,
	// items, verify, and the read-only console without an engine.
	RoleViewer = "routeops_viewer"
	// RoleOperator is a viewer that may also quarantine, release, repair,
	// pause and resume queues, and run cleanup.
	RoleOperator = "routeops_operator"
)

// Tables lists every table of the routeops schema (the tern version table
// included). CreateRoles grants on these by name rather than on every table
// of the schema, so a schema shared with other applications keeps its other
// tables to itself. A test checks that the list matches the migrations.
var Tables = []string{
	"orgs", "queues", "teams", "agents", "work_items", "work_item_orgs", "work_item_revisions", "events",
	"engine_heartbeats", "queue_throughput", "queue_counts", "queue_heads", "queue_count_deltas", "queue_dirty",
	"queued_items", "operations", "routeops_settings", VersionTable,
}

// Sequences lists the sequences of the routeops schema.
var Sequences = []string{"work_items_id_seq", "work_item_revisions_id_seq", "events_id_seq"}

// operatorGrants are the privileges of routeops_operator beyond SELECT, per
// table, and why:
//   - work_items UPDATE: quarantine, release and repair change items; repair
//     and cleanup lock items (FOR UPDATE / FOR SHARE needs UPDATE).
//   - work_item_revisions INSERT: repair writes new revisions. DELETE: cleanup.
//     UPDATE (source) only: cleanup locks the revisions it examines with FOR
//     UPDATE, which PostgreSQL allows only with UPDATE on at least one column;
//     attributes and the other columns stay immutable for the operator.
//   - events INSERT: every action journals itself. Never UPDATE or DELETE: the
//     journal is append-only (a trigger refuses them even to the owner).
//   - queues UPDATE: pause and resume, and the console's monitor recording
//     stall transitions.
//   - operations INSERT, UPDATE: a bulk action records itself, and marks
//     itself finished.
//   - teams UPDATE of the status and pause columns: team pause and resume.
//   - agents UPDATE (status): agent set-status.
//   - queue_count_deltas, queue_dirty INSERT: the triggers that record a
//     statement's changes for readers run as the user whose statement
//     changed work_items or a revision. (Folding them, routeops_maintain,
//     is the engine's job, with the schema owner's rights.)
//   - queued_items INSERT, DELETE: the same triggers keep the queued
//     membership; quarantine, release and repair move items in and out.
var operatorGrants = []struct{ privs, table string }{
	{"UPDATE", "work_items"},
	{"INSERT, DELETE", "work_item_revisions"},
	{"UPDATE (source)", "work_item_revisions"},
	{"INSERT", "events"},
	{"UPDATE", "queues"},
	{"INSERT, UPDATE", "operations"},
	{"UPDATE (status, paused_by, pause_reason, paused_at)", "teams"},
	{"UPDATE (status)", "agents"},
	{"INSERT", "queue_count_deltas"},
	{"INSERT", "queue_dirty"},
	{"INSERT, DELETE", "queued_items"},
}

// CreateRoles creates, or brings up to date, the group roles
// routeops_viewer and routeops_operator, and grants them their privileges
// on the routeops schema of the database in opts.DSN. It is idempotent:
// run it again after every upgrade (routeops migrate --roles does both).
// The connecting role must be able to create roles (a superuser or
// CREATEROLE) and own the routeops tables (the role that ran migrate). The
// schema must be at this binary's version.
//
// Grants (see README, "Access"):
//   - routeops_viewer: USAGE on the schema, SELECT on every routeops table
//     and sequence, EXECUTE on the routeops functions.
//   - routeops_operator: member of routeops_viewer, plus operatorGrants and
//     USAGE on the sequences. Neither role may UPDATE or DELETE events.
func CreateRoles(ctx context.Context, opts Options) error {
	opts.StatementTimeout, opts.LockTimeout = 0, 0
	conn, dsn, err := sessionConn(ctx, opts)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// The migration lock: roles are created while no migration runs, and
	// two CreateRoles at once serialise (CREATE ROLE is not IF NOT EXISTS).
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockNSMigrate); err != nil {
		return newError("take migration lock", err, dsn)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, 0)`, lockNSMigrate) //nolint:errcheck
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return newError("read schema version", err, dsn)
	}
	switch latest := LatestVersion(); {
	case v == 0:
		return ErrNoSchema
	case v < latest:
		return fmt.Errorf("%w (database at version %d, this binary needs %d)", ErrSchemaOld, v, latest)
	case v > latest:
		return fmt.Errorf("%w (database at version %d, this binary knows up to %d)", ErrSchemaTooNew, v, latest)
	}
	var schema string
	if err := conn.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1)`, VersionTable).Scan(&schema); err != nil {
		return newError("find the routeops schema", err, dsn)
	}
	rows, err := conn.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1 AND p.proname LIKE 'routeops\_%' ORDER BY 1`, schema)
	if err != nil {
		return newError("list the routeops functions", err, dsn)
	}
	funcs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return newError("list the routeops functions", err, dsn)
	}

	q := func(names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = pgx.Identifier{schema, n}.Sanitize()
		}
		return strings.Join(out, ", ")
	}
	sch := pgx.Identifier{schema}.Sanitize()
	stmts := []string{
		`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'routeops_viewer') THEN
				CREATE ROLE routeops_viewer NOLOGIN;
			END IF;
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'routeops_operator') THEN
				CREATE ROLE routeops_operator NOLOGIN;
			END IF;
		END $$`,
		`COMMENT ON ROLE routeops_viewer IS 'routeops: read-only (status, check, timeline, items, verify, read-only console)'`,
		`COMMENT ON ROLE routeops_operator IS 'routeops: viewer plus quarantine, release, repair, pause/resume, cleanup'`,
		`GRANT routeops_viewer TO routeops_operator`,
		`GRANT USAGE ON SCHEMA ` + sch + ` TO routeops_viewer`,
		`GRANT SELECT ON ` + q(Tables) + ` TO routeops_viewer`,
		`GRANT SELECT ON SEQUENCE ` + q(Sequences) + ` TO routeops_viewer`,
		`GRANT USAGE ON SEQUENCE ` + q(Sequences) + ` TO routeops_operator`,
		// The journal is append-only for both roles, whatever was granted
		// before: take back anything that would let them rewrite it.
		`REVOKE UPDATE, DELETE, TRUNCATE ON ` + q([]string{"events"}) + ` FROM routeops_viewer, routeops_operator`,
	}
	for _, g := range operatorGrants {
		stmts = append(stmts, `GRANT `+g.privs+` ON `+q([]string{g.table})+` TO routeops_operator`)
	}
	if len(funcs) > 0 {
		stmts = append(stmts, `GRANT EXECUTE ON FUNCTION `+strings.Join(funcs, ", ")+` TO routeops_viewer, routeops_operator`)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return newError("create roles", err, dsn)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st); err != nil {
			if IsPermission(err) {
				return &Error{op: "create roles", kind: router.ErrPermission, err: err, dsn: dsn,
					msg: "permission denied: run `routeops migrate --roles` as a superuser, " +
						"or as the role that owns the routeops tables if it also has CREATEROLE (" + err.Error() + ")"}
			}
			return newError("create roles", err, dsn)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return newError("create roles", err, dsn)
	}
	return nil
}
