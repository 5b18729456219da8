#!/usr/bin/env bash
# bench_sidebyside.sh: the throughput target's side-by-side check, measured
# outside `routeops bench`: `routeops serve --until-idle` drains 200k seeded items,
# and pgbench runs the yardstick claim on a copy of the same data, on the
# same server, in the same run, and on a bare table (only the claim's
# columns, its index and the primary key), the machine's own ceiling.
#
#   scripts/bench_sidebyside.sh [SERVER_DSN]   # default: scripts/benchpg.sh dsn
#
# Environment: ROUTEOPS (the binary; default: go build into a temp dir),
# ORGS (100), ITEMS (2000 per org), BATCH (default: routing.batch_size's), WORKERS (4), CLIENTS (4).
# Prints one JSON line. Needs psql and pgbench; the role needs CREATEDB and
# CHECKPOINT rights (superuser on the bench server).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${1:-$(scripts/benchpg.sh dsn)}
ORGS=${ORGS:-100}
ITEMS=${ITEMS:-2000}
BATCH=${BATCH:-}
WORKERS=${WORKERS:-4}
CLIENTS=${CLIENTS:-4}
DB=routeops_sbs_$$
TMP=$(mktemp -d)
trap 'psql -X -q "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_pgbench WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_bare WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

if [ -z "${ROUTEOPS:-}" ]; then
	ROUTEOPS="$TMP/routeops"
	go build -o "$ROUTEOPS" ./cmd/routeops
fi

# dsn_for DB: the server DSN pointed at another database (URL DSNs).
dsn_for() {
	python3 - "$SERVER" "$1" <<'EOF'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))
EOF
}
DBDSN=$(dsn_for "$DB")
PGBDSN=$(dsn_for "${DB}_pgbench")
BAREDSN=$(dsn_for "${DB}_bare")
psql_s() { psql -X -q -A -t "$SERVER" -c "$1"; }

psql_s "CREATE DATABASE $DB" >/dev/null
"$ROUTEOPS" migrate --dsn "$DBDSN" --log-level warn >&2
"$ROUTEOPS" seed --dsn "$DBDSN" --yes --log-level warn --orgs "$ORGS" --queues-per-org 2 --agents-per-org 20 \
	--capacity $(((2 * ITEMS + 19) / 20)) --items-per-org "$ITEMS" >&2
psql_s "CREATE DATABASE ${DB}_pgbench TEMPLATE $DB" >/dev/null

psql_s "CHECKPOINT" >/dev/null
serve=$("$ROUTEOPS" serve --dsn "$DBDSN" --until-idle ${BATCH:+--batch-size "$BATCH"} --workers "$WORKERS" --log-level warn -o json)
echo "serve: $serve" >&2

"$ROUTEOPS" bench --print-pgbench-script --orgs "$ORGS" >"$TMP/claim.sql"
TX=$((ORGS * ITEMS / 50 / 2 / CLIENTS))

# yardstick DSN: runs the claim script with pgbench; prints "items_per_second tps"
yardstick() {
	psql_s "CHECKPOINT" >/dev/null
	local pgb tps done_tx claimed
	pgb=$(pgbench --no-vacuum --protocol=prepared --client "$CLIENTS" --jobs "$CLIENTS" --transactions "$TX" \
		--file "$TMP/claim.sql" "$1" 2>&1)
	echo "$pgb" | grep -E "^(number of transactions actually|tps|latency average)" >&2
	tps=$(echo "$pgb" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
	done_tx=$(echo "$pgb" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	claimed=$(psql -X -q -A -t "$1" -c "SELECT count(*) FROM work_items WHERE state = 'assigned'")
	python3 -c "print(round($claimed / ($done_tx / $tps), 1), $tps)"
}
read -r pg tps < <(yardstick "$PGBDSN")

# The bare table: the same shape of rows with only the claim's columns.
psql_s "CREATE DATABASE ${DB}_bare" >/dev/null
psql -X -q "$BAREDSN" -v orgs="$ORGS" -v per="$ITEMS" >/dev/null <<'SQL'
CREATE TABLE agents (org_id text NOT NULL, id text NOT NULL, PRIMARY KEY (org_id, id));
CREATE TABLE work_items (org_id text NOT NULL, id bigint NOT NULL, state text NOT NULL DEFAULT 'queued',
	priority smallint NOT NULL, enqueued_at timestamptz NOT NULL, agent_id text, assigned_at timestamptz,
	PRIMARY KEY (org_id, id));
INSERT INTO agents SELECT 'org-' || lpad(o::text, greatest(4, length(o::text)), '0'), 'agent-' || a
	FROM generate_series(1, :orgs) o, generate_series(1, 20) a;
INSERT INTO work_items (org_id, id, priority, enqueued_at)
	SELECT 'org-' || lpad(o::text, greatest(4, length(o::text)), '0'), (o - 1)::bigint * :per + i,
		(random() * 100)::int, now() - random() * interval '10 minutes'
	FROM generate_series(1, :orgs) o, generate_series(1, :per) i;
CREATE INDEX work_items_claim ON work_items (org_id, priority DESC, enqueued_at, id) WHERE state = 'queued';
VACUUM ANALYZE;
SQL
read -r bare bare_tps < <(yardstick "$BAREDSN")

python3 - "$serve" "$pg" "$tps" "$bare" "$bare_tps" <<'EOF'
import json, sys
serve = json.loads(sys.argv[1])
pg, tps, bare, bare_tps = (float(x) for x in sys.argv[2:6])
print(json.dumps({"serve_items_per_second": serve["items_per_second"], "serve_assigned": serve["assigned"],
                  "serve_seconds": serve["seconds"], "pgbench_items_per_second": pg, "pgbench_tps": tps,
                  "ratio_vs_pgbench": round(serve["items_per_second"] / pg, 3),
                  "pgbench_bare_items_per_second": bare, "pgbench_bare_tps": bare_tps,
                  "ratio_vs_pgbench_bare": round(serve["items_per_second"] / bare, 3)}))
EOF
