#!/usr/bin/env bash
# bench_stalls.sh: behind versus stalled over a large fleet, and how soon a
# stall injected after a drain reaches /metrics.
#
#   scripts/bench_stalls.sh SERVER TEMPLATE
#
# SERVER is a DSN without a database name's effect (its postgres database is
# used to copy), e.g. "$(scripts/benchpg.sh dsn)"; TEMPLATE a database seeded
# with a backlog and no engine running, e.g. one made with `routeops seed
# --orgs 50000 --queues-per-org 2 --agents-per-org 2 --items-per-org 2`. Each
# part runs on a fresh copy (CREATE DATABASE … TEMPLATE), dropped afterwards.
# ROUTEOPS names the binary (default: routeops on PATH). Prints the stall
# events by cause, the queues behind and stalled 8 s into the drain, and the
# seconds from serve's start until an injected stall is exported.
set -euo pipefail
SERVER=${1:?usage: bench_stalls.sh SERVER TEMPLATE}
TEMPLATE=${2:?usage: bench_stalls.sh SERVER TEMPLATE}
BIN=${ROUTEOPS:-routeops}
COPY=routeops_stalls_$$
D=$(printf '%s' "$SERVER" | sed -E "s#/[^/?]*(\?|$)#/$COPY\1#")
PORT=$((20000 + RANDOM % 10000))
export ROUTEOPS_HEALTH_STALL_AFTER=3s
fresh() {
	psql -X -q "$SERVER" -c "DROP DATABASE IF EXISTS $COPY" -c "CREATE DATABASE $COPY TEMPLATE $TEMPLATE" >/dev/null
}
trap 'psql -X -q "$SERVER" -c "DROP DATABASE IF EXISTS $COPY WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

# 1. A drain of the whole backlog: which stall events, and what is behind.
fresh
"$BIN" --dsn "$D" serve --until-idle --metrics-addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
SP=$!
sleep 8
"$BIN" --dsn "$D" status -o json | jq -r '[.orgs[].queues[]] |
	"8 s into the drain: \(length) queues, \(map(select(.behind)) | length) behind, \(map(select(.stalled)) | length) stalled"'
wait "$SP" || true
psql -X -At "$D" -c "SELECT kind || ' cause=' || coalesce(detail->>'cause', '') || ': ' || count(*)
	FROM events WHERE kind LIKE 'stall%' GROUP BY kind, detail->>'cause' ORDER BY 1"

# 2. After the drain, one new item whose revision is deleted, under the
# block policy: how soon /metrics says its queue is stalled.
ORG=$(psql -X -At "$D" -c "SELECT id FROM orgs ORDER BY id LIMIT 1")
psql -X -q "$D" -v org="$ORG" <<'SQL' >/dev/null
WITH ids AS (SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev),
	r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes, source)
		SELECT :'org', rev, item, '{"priority": 50}', 'platform' FROM ids RETURNING org_id, id, work_item_id)
INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at)
	SELECT org_id, work_item_id, (SELECT id FROM queues WHERE org_id = :'org' ORDER BY id LIMIT 1), id, 50, now() FROM r;
SQL
ROUTEOPS_DRILL_ALLOW=true "$BIN" --dsn "$D" -y drill inject missing-revisions --org "$ORG" --count 1
START=$(date +%s.%N)
"$BIN" --dsn "$D" serve --on-item-fault block --duration 40s --metrics-addr "127.0.0.1:$((PORT + 1))" >/dev/null 2>&1 &
SP=$!
for _ in $(seq 200); do
	if curl -s "127.0.0.1:$((PORT + 1))/metrics" | grep -q "^routeops_queue_stalled{.*org=\"$ORG\".*} 1"; then
		echo "injected stall exported $(echo "$(date +%s.%N) - $START" | bc) s after serve started"
		break
	fi
	sleep 0.2
done
kill -INT "$SP" 2>/dev/null || true
wait "$SP" || true
