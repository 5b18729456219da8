#!/usr/bin/env bash
# hot_updates.sh: how many of the updates a drain makes to work_items are
# HOT (heap-only: no index entry written), on a fresh database.
#
#   scripts/hot_updates.sh [ORGS [ITEMS_PER_ORG]]   # default 100 x 2,000
#
# Seeds ORGS x ITEMS_PER_ORG queued items with `routeops seed`, resets the
# statistics, drains them with `routeops serve --until-idle`, and prints
# the updates of work_items, the HOT ones, and their share. The server is
# BENCH_DSN, else scripts/benchpg.sh's; the binary ROUTEOPS (default
# routeops on PATH). The database is dropped afterwards.
set -euo pipefail
ORGS=${1:-100}
PER=${2:-2000}
DSN=${BENCH_DSN:-$("$(dirname "$0")/benchpg.sh" dsn)}
ROUTEOPS=${ROUTEOPS:-routeops}
DB=routeops_hot_$$
psql -X -q "$DSN" -c "CREATE DATABASE $DB"
trap 'psql -X -q "$DSN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
D=$(printf '%s' "$DSN" | sed -E "s#/[^/?]*(\?|$)#/$DB\1#")
"$ROUTEOPS" migrate --dsn "$D" --log-level warn >/dev/null
# Room for every item: 20 agents, each taking a tenth of the org's items.
"$ROUTEOPS" seed --dsn "$D" --yes --log-level warn --orgs "$ORGS" --queues-per-org 2 \
	--agents-per-org 20 --capacity $(((PER + 19) / 20 * 2)) --items-per-org "$PER" >/dev/null
psql -X -q "$D" -c "VACUUM ANALYZE" -c "SELECT pg_stat_reset()" >/dev/null
"$ROUTEOPS" serve --dsn "$D" --until-idle --log-level warn >/dev/null
sleep 1 # the backends' statistics reach the cumulative view as they exit
psql -X -A -F ' ' -t "$D" -c "SELECT 'work_items updates', n_tup_upd, 'hot', n_tup_hot_upd,
	'hot_share', round(n_tup_hot_upd::numeric / nullif(n_tup_upd, 0), 3)
	FROM pg_stat_user_tables WHERE relname = 'work_items'"
