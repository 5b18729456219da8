package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// MigrateTo migrates an empty or older database to exactly version, for
// tests that need the schema as an earlier routeops left it.
func MigrateTo(ctx context.Context, dsn string, version int32) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(migrationsDir()); err != nil {
		return err
	}
	return m.MigrateTo(ctx, version)
}
