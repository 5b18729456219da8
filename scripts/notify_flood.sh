#!/usr/bin/env bash
# notify_flood.sh: what a flood of wake-up notifications costs serve.
#
#   scripts/notify_flood.sh [ROUTEOPS_BINARY] [CHANNEL]
#
# Starts a private durable server (scripts/benchpg.sh, its own directory and
# port), seeds 20 orgs, runs `serve`, and measures serve's CPU (from /proc)
# and the statements it sends (pg_stat_statements) over 20 s idle and then
# over 20 s while two sessions loop pg_notify(CHANNEL, one of the orgs) as
# fast as they can, committing every 20 notifications. CHANNEL defaults to
# routeops_work, the channel every version before schema 14 listened on and
# the one a role without routeops's grants can guess; `private` floods the
# database's own channel (routeops_settings.wake_channel), as a role that may
# read it could.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-routeops}
CHANNEL=${2:-routeops_work}
export BENCHPG_DIR=${BENCHPG_DIR:-/tmp/routeops-flood} BENCHPG_PORT=${BENCHPG_PORT:-25499} BENCHPG_SHARED_BUFFERS=128MB
scripts/benchpg.sh start >/dev/null
trap 'scripts/benchpg.sh destroy >/dev/null' EXIT
DSN=$(scripts/benchpg.sh dsn)
export ROUTEOPS_DSN=$DSN
"$BIN" migrate >/dev/null
psql "$DSN" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
if [ "$CHANNEL" = private ]; then
	CHANNEL=$(psql "$DSN" -Atc "SELECT wake_channel FROM routeops_settings")
fi
"$BIN" seed --orgs 20 --items-per-org 100 >/dev/null 2>&1
"$BIN" serve --metrics-addr 127.0.0.1:0 >/dev/null 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null || true; scripts/benchpg.sh destroy >/dev/null' EXIT
sleep 8
cpu() { awk '{print $14+$15}' "/proc/$SP/stat"; }
statements() {
	psql "$DSN" -Atc "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
		WHERE query NOT LIKE '%pg_notify%' AND query NOT LIKE '%pg_stat_statements%'"
}
hz=$(getconf CLK_TCK)
measure() {
	local n0 t0 n1 t1
	n0=$(statements); t0=$(cpu); sleep 20; t1=$(cpu); n1=$(statements)
	echo "$1: serve CPU $(echo "scale=1; ($t1-$t0)*100/$hz/20" | bc)% of a core, $((n1 - n0)) statements in 20 s"
}
measure idle
for _ in 1 2; do
	psql "$DSN" -qc "DO \$\$ BEGIN FOR i IN 1..100000000 LOOP
		PERFORM pg_notify('$CHANNEL', 'org-' || lpad((i % 20 + 1)::text, 4, '0'));
		IF i % 20 = 0 THEN COMMIT; END IF; END LOOP; END \$\$" >/dev/null 2>&1 &
done
sleep 3
measure "flood on $CHANNEL"
pkill -f "pg_notify\('$CHANNEL'" 2>/dev/null || true
