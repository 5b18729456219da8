#!/usr/bin/env bash
# console_rss.sh: the console memory figure. Runs `routeops console`
# on a real pseudo-terminal (script(1)) for SECONDS, then presses q, and
# prints the peak RSS that /usr/bin/time -v saw.
#
#   scripts/console_rss.sh DSN [SECONDS] [extra console flags...]
#
# DSN names a database to watch, such as the one `routeops bench --scenario
# snapshot --keep` leaves behind (5,000 orgs, 1M queued items). The console
# runs with --no-engine unless you pass other flags; ROUTEOPS names the
# binary (default: go build into a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
DSN=${1:?usage: $0 DSN [SECONDS] [console flags...]}
SECS=${2:-30}
shift $(($# >= 2 ? 2 : 1))
FLAGS=${*:---no-engine}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -z "${ROUTEOPS:-}" ]; then
	ROUTEOPS="$TMP/routeops"
	go build -o "$ROUTEOPS" ./cmd/routeops
fi
(sleep "$SECS"; printf q; sleep 5) |
	TERM=xterm-256color script -qec "stty cols 120 rows 40; /usr/bin/time -v -o $TMP/time $ROUTEOPS console $FLAGS --dsn '$DSN'" /dev/null >"$TMP/screen" 2>&1
grep -E "Maximum resident set size|Elapsed \(wall clock\)|Exit status" "$TMP/time"
kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time")
echo "{\"console_rss_mb\": $((kb / 1024)), \"seconds\": $SECS, \"flags\": \"$FLAGS\"}"
