#!/usr/bin/env bash
# benchpg.sh: a private, durable PostgreSQL 15 for `routeops bench`.
#
#   scripts/benchpg.sh start   # initdb (first time) and start; prints the DSN
#   scripts/benchpg.sh dsn     # prints the DSN of the running server
#   scripts/benchpg.sh status  # says whether it runs, and its settings
#   scripts/benchpg.sh stop    # fast shutdown (the data directory stays)
#   scripts/benchpg.sh destroy # stop and remove the data directory
#
# Unlike the throwaway test server of router/pgstore/pgtest (fsync off), this
# one keeps the durable settings every published figure is taken with:
# fsync, synchronous_commit and full_page_writes on. It also loads
# pg_stat_statements, so that `routeops bench --statements N` can report where
# the server spends its time.
#
# Environment: BENCHPG_DIR (default /tmp/routeops-benchpg), BENCHPG_PORT
# (default 25432, outside the ephemeral range), BENCHPG_SHARED_BUFFERS (default 1GB), PG_BINDIR (default
# pg_config --bindir, else the newest /usr/lib/postgresql/*/bin).
# Runs the server as the postgres user when started as root.
set -euo pipefail

DIR=${BENCHPG_DIR:-/tmp/routeops-benchpg}
PORT=${BENCHPG_PORT:-25432}
SHARED_BUFFERS=${BENCHPG_SHARED_BUFFERS:-1GB}
DATA="$DIR/data"
LOG="$DIR/postgres.log"
DSN="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"

bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	local d
	d=$(pg_config --bindir 2>/dev/null || true)
	if [ -n "$d" ] && [ -x "$d/postgres" ]; then
		echo "$d"
		return
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/postgres" ]; then
		echo "$d"
		return
	fi
	echo "benchpg: no PostgreSQL server binaries (install the postgresql package or set PG_BINDIR)" >&2
	exit 1
}

BIN=$(bindir)

# as_pg runs a command as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			echo "benchpg: running as root, but there is no postgres user to run the server as" >&2
			exit 1
		fi
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

running() {
	[ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_c() {
	"$BIN/psql" -X -A -t -q "$DSN" -c "$1"
}

start() {
	if running; then
		echo "$DSN"
		return
	fi
	mkdir -p "$DIR"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$DIR"
	fi
	if [ ! -f "$DATA/PG_VERSION" ]; then
		echo "benchpg: initdb in $DATA" >&2
		as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --locale=C.UTF-8 --encoding=UTF8 >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; exit 1; }
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		echo "benchpg: port $PORT is taken by another process; set BENCHPG_PORT" >&2
		exit 1
	fi
	# Durable settings: these are PostgreSQL's defaults, spelled out so that
	# nothing in postgresql.conf can turn them off behind our back.
	as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 start -o "\
		-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR \
		-c fsync=on -c synchronous_commit=on -c full_page_writes=on \
		-c shared_buffers=$SHARED_BUFFERS -c max_wal_size=4GB -c checkpoint_timeout=15min \
		-c max_connections=200 -c shared_preload_libraries=pg_stat_statements \
		-c pg_stat_statements.track=all -c track_io_timing=on \
		-c logging_collector=off -c log_min_messages=warning" >&2
	echo "$DSN"
}

stop() {
	if running; then
		as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
	else
		echo "benchpg: not running" >&2
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
dsn)
	if ! running; then
		echo "benchpg: not running; run: $0 start" >&2
		exit 1
	fi
	echo "$DSN"
	;;
status)
	if running; then
		echo "running: $DSN"
		psql_c "SELECT name || ' = ' || current_setting(name) FROM pg_settings
			WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers',
			               'max_wal_size', 'checkpoint_timeout', 'shared_preload_libraries', 'wal_level') ORDER BY name"
	else
		echo "not running ($DATA)"
		exit 3
	fi
	;;
destroy)
	stop || true
	rm -rf "$DIR"
	;;
*)
	echo "usage: $0 start|stop|dsn|status|destroy" >&2
	exit 1
	;;
esac
