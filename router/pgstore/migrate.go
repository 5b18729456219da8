package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// VersionTable is where tern records the schema version.
const VersionTable = "routeops_schema_version"

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int {
	names, err := migrate.FindMigrations(migrationsDir())
	if err != nil {
		return 0
	}
	return len(names)
}

func migrationsDir() fs.FS {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// SchemaVersion reads the schema version; 0 when there is no schema.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.w)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, VersionTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT version FROM `+VersionTable).Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// CheckSchema reports ErrNoSchema, ErrSchemaOld or ErrSchemaTooNew.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return newError("read schema version", err, s.opts.DSN)
	}
	latest := LatestVersion()
	switch {
	case v == 0:
		return ErrNoSchema
	case v < latest:
		return fmt.Errorf("%w (database at version %d, this binary needs %d)", ErrSchemaOld, v, latest)
	case v > latest:
		return fmt.Errorf("%w (database at version %d, this binary knows up to %d)", ErrSchemaTooNew, v, latest)
	}
	return nil
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	From, To int
}

// Migrate applies the embedded migrations under an advisory lock. It is
// idempotent, and refuses a database whose schema is newer than this
// binary.
func Migrate(ctx context.Context, opts Options) (MigrateResult, error) {
	opts.StatementTimeout, opts.LockTimeout = 0, 0
	// The lock is a session's: under transaction pooling the connection
	// goes through ListenDSN (ErrNeedsSession without one).
	conn, dsn, err := sessionConn(ctx, opts)
	if err != nil {
		return MigrateResult{}, err
	}
	defer conn.Close(context.Background())
	// Our own lock, held across the version check and tern's run, so that
	// two migrations at once serialise and the second finds nothing to do.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockNSMigrate); err != nil {
		return MigrateResult{}, newError("take migration lock", err, dsn)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, 0)`, lockNSMigrate) //nolint:errcheck
	from, err := schemaVersion(ctx, conn)
	if err != nil {
		return MigrateResult{}, newError("read schema version", err, dsn)
	}
	latest := LatestVersion()
	if from > latest {
		return MigrateResult{From: from, To: from}, fmt.Errorf("%w (database at version %d, this binary knows up to %d)", ErrSchemaTooNew, from, latest)
	}
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return MigrateResult{}, newError("prepare migrations", err, dsn)
	}
	if err := m.LoadMigrations(migrationsDir()); err != nil {
		return MigrateResult{}, &Error{op: "load migrations", err: err}
	}
	if err := m.Migrate(ctx); err != nil {
		var pe migrate.MigrationPgError
		if errors.As(err, &pe) {
			return MigrateResult{From: from}, &Error{op: "migration " + pe.MigrationName + " failed", err: pe, dsn: dsn}
		}
		return MigrateResult{From: from}, newError("migrate", err, dsn)
	}
	to, err := schemaVersion(ctx, conn)
	if err != nil {
		return MigrateResult{From: from}, newError("read schema version", err, dsn)
	}
	return MigrateResult{From: from, To: to}, nil
}
