// Package topology holds routeops's tests of the production topology,
// driven through the binary as an SRE would run it: PgBouncer in
// transaction and session pooling in front of PostgreSQL, a streaming
// standby made with pg_basebackup -R that serves reads and is promoted in
// a planned switchover, serve refusing a standby and waiting for a
// database, and the service's own face (--version, --log-format, a DSN
// from a systemd credential).
package topology
