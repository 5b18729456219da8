#!/usr/bin/env bash
# bench_sqlwriter.sh: enqueue → assigned latency for a writer that is not
# routeops: pgbench inserts an item and its revision in one transaction with
# plain SQL, at RATE per second for SECONDS, while `routeops serve` runs;
# the latency of each item is its assigned_at − enqueued_at, read back from
# the database afterwards.
#
#   scripts/bench_sqlwriter.sh ORGS [RATE] [SECONDS]
#
# Starts a private durable server (scripts/benchpg.sh, its own directory and
# port) and seeds ORGS orgs with agents and no items. Prints p50, p99 and max
# in milliseconds, and how many items were not assigned.
set -euo pipefail
cd "$(dirname "$0")/.."
ORGS=${1:?usage: bench_sqlwriter.sh ORGS [RATE] [SECONDS]}
RATE=${2:-200}
SECS=${3:-20}
BIN=${ROUTEOPS:-routeops}
export BENCHPG_DIR=${BENCHPG_DIR:-/tmp/routeops-sqlwriter} BENCHPG_PORT=${BENCHPG_PORT:-25511}
scripts/benchpg.sh start >/dev/null
TMP=$(mktemp -d)
trap 'kill "${SP:-}" 2>/dev/null || true; scripts/benchpg.sh destroy >/dev/null; rm -rf "$TMP"' EXIT
DSN=$(scripts/benchpg.sh dsn)
export ROUTEOPS_DSN=$DSN
"$BIN" migrate >/dev/null
"$BIN" seed --orgs "$ORGS" --queues-per-org 2 --agents-per-org 4 --capacity 50 --items-per-org 0 >/dev/null 2>&1
QUEUE=$(psql "$DSN" -Atc "SELECT id FROM queues WHERE org_id = 'org-0001' ORDER BY id LIMIT 1")
cat > "$TMP/insert.sql" <<SQL
\set o random(1, $ORGS)
BEGIN;
WITH ids AS (SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev,
		'org-' || lpad(:o::text, greatest(4, length(:o::text)), '0') AS org),
	r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, source)
		SELECT org, rev, item, '{"priority": 50, "channel": "chat"}', 'platform' FROM ids RETURNING org_id, id, work_item_id)
INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at)
	SELECT org_id, work_item_id, '$QUEUE', id, 50, clock_timestamp() FROM r;
COMMIT;
SQL
"$BIN" serve --metrics-addr 127.0.0.1:0 >"$TMP/serve.log" 2>&1 &
SP=$!
sleep 5
FIRST=$(psql "$DSN" -Atc "SELECT coalesce(max(id), 0) FROM work_items")
pgbench -n -c 4 -j 2 -R "$RATE" -T "$SECS" -f "$TMP/insert.sql" "$DSN" >"$TMP/pgbench.log" 2>&1
sleep 3
psql "$DSN" -Atc "SELECT format('orgs %s, rate %s/s for %s s: items %s, p50 %s ms, p99 %s ms, max %s ms, not assigned %s',
	$ORGS, $RATE, $SECS, count(*),
	round(extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY assigned_at - enqueued_at)) * 1000, 1),
	round(extract(epoch FROM percentile_disc(0.99) WITHIN GROUP (ORDER BY assigned_at - enqueued_at)) * 1000, 1),
	round(extract(epoch FROM max(assigned_at - enqueued_at)) * 1000, 1),
	count(*) FILTER (WHERE assigned_at IS NULL))
	FROM work_items WHERE id > $FIRST"
