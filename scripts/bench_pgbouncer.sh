#!/usr/bin/env bash
# bench_pgbouncer.sh: routing through PgBouncer in transaction pooling against
# routing direct to PostgreSQL, on the durable server of scripts/benchpg.sh.
#
#   scripts/bench_pgbouncer.sh [ROUNDS] [-- extra routeops bench flags]
#
# It starts a PgBouncer (transaction pooling, every database mapped to the
# bench server, nothing in the configuration for routeops's sake: no
# ignore_startup_parameters) on BENCHPGB_PORT (default 26432), then runs the
# bench's throughput scenario ROUNDS times (default 3) in turn: direct, through
# the pool with unnamed statements in the extended protocol ("exec"), through the
# pool with the simple protocol ("simple", the default under db.pooler
# transaction). Interleaving brackets the
# machine's drift. Each run prints one JSON object (scenario throughput) with a
# "via" line before it; PgBouncer is stopped at the end.
#
# Environment: as for benchpg.sh; ROUTEOPS (default: go run ./cmd/routeops),
# PGBOUNCER (default: pgbouncer on PATH, else /usr/sbin/pgbouncer).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
shift || true
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")

DSN=$(scripts/benchpg.sh start)
PORT=${BENCHPG_PORT:-25432}
PGB_PORT=${BENCHPGB_PORT:-26432}
PGB=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
DIR=$(mktemp -d /tmp/routeops-pgb.XXXXXX)
trap 'kill "$(cat "$DIR/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$DIR"' EXIT

cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/users.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
echo '"postgres" ""' >"$DIR/users.txt"
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$DIR"
	runuser -u postgres -- "$PGB" -d "$DIR/pgbouncer.ini"
else
	"$PGB" -d "$DIR/pgbouncer.ini"
fi
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PGB_PORT") 2>/dev/null && break
	sleep 0.1
done
POOL="postgres://postgres@127.0.0.1:$PGB_PORT/postgres?sslmode=disable"

if [ -n "${ROUTEOPS:-}" ]; then
	RO=("$ROUTEOPS")
else
	go build -o "$DIR/routeops" ./cmd/routeops
	RO=("$DIR/routeops")
fi

for round in $(seq "$ROUNDS"); do
	for via in direct exec simple; do
		args=(bench --dsn "$DSN" --scenario throughput -o json "${EXTRA[@]}")
		if [ "$via" != direct ]; then
			args+=(--pool-dsn "$POOL" --pool-exec-mode "$via")
		fi
		echo "# round $round, via $via, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg)"
		"${RO[@]}" "${args[@]}"
	done
done
