#!/usr/bin/env bash
# Benchmark of the SHS reference service (not a test): RPS and latency of GET /api/session/{random id}
# with the service limited to one core (docker run --cpus 1), against a real PostgreSQL carrying the
# indexes the database role adds.
#
#   tests/bench/shs_reference_rps.sh                       # full data (5M sessions), 30 s per run
#   SCALE=small DURATION=10 tests/bench/shs_reference_rps.sh
#
# Two wrk runs (one thread each, ids uniform over all sessions):
#   target:     TARGET_RPS requests/s offered at a steady pace (wrk's delay() hook) over CONNECTIONS
#               connections; its latency percentiles are what the target is about;
#   saturation: closed loop over SATURATION_CONNECTIONS connections: the most one core serves.
# wrk, PostgreSQL and the service share this machine's cores, so the figures are conservative.
#
# Env: SCALE (small|full, default full), DURATION (s per run, default 30), CONNECTIONS (default 16),
# SATURATION_CONNECTIONS (default 8), TARGET_RPS (default 500), TARGET_P90_MS (default 20),
# KEEP=1 leaves the containers and the work directory in place.
# Exit code: 0 when the target (TARGET_RPS served at p90 < TARGET_P90_MS, no errors) is met,
# 1 when missed, 2 on error. Traffic goes to 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCALE="${SCALE:-full}"
DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-16}"
SATURATION_CONNECTIONS="${SATURATION_CONNECTIONS:-8}"
TARGET_RPS="${TARGET_RPS:-500}"
TARGET_P90_MS="${TARGET_P90_MS:-20}"
EMAIL="bench@example.com"
RUN_ID="$(date +%s)-$$"
PG_NAME="shs-bench-pg-$RUN_ID"
SHS_NAME="shs-bench-shs-$RUN_ID"
WORK="$(mktemp -d /tmp/shs-bench.XXXXXX)"

die() { echo "bench: $*" >&2; exit 2; }
cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        docker rm -f -v "$PG_NAME" "$SHS_NAME" >/dev/null 2>&1 || true
        rm -rf "$WORK"
    else
        echo "bench: KEEP=1: containers $PG_NAME $SHS_NAME and $WORK left in place"
    fi
}
trap cleanup EXIT
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$SCALE" in
    full) SESSIONS=5000000 ;;
    small) SESSIONS=50000 ;;
    *) die "SCALE must be small or full" ;;
esac
command -v wrk >/dev/null || { echo "bench: installing wrk"; apt-get install -y wrk >/dev/null || die "apt-get install wrk failed"; }

echo "==> images"
python3 "$ROOT/tools/images.py" build postgres shs
PG_IMAGE="$(python3 "$ROOT/tools/images.py" tag postgres)"
SHS_IMAGE="$(python3 "$ROOT/tools/images.py" tag shs)"

echo "==> postgres"
PG_PASSWORD="$(python3 -c 'import uuid; print(uuid.uuid4().hex)')"
docker run -d --name "$PG_NAME" -p 127.0.0.1::5432 -e POSTGRES_USER=shs -e POSTGRES_PASSWORD="$PG_PASSWORD" \
    -e POSTGRES_DB=shs "$PG_IMAGE" >/dev/null
PG_PORT="$(docker port "$PG_NAME" 5432/tcp | head -1 | sed 's/.*://')"
for _ in $(seq 120); do
    docker exec "$PG_NAME" pg_isready -h 127.0.0.1 -U shs -d shs >/dev/null 2>&1 && break
    sleep 0.5
done
docker exec "$PG_NAME" pg_isready -h 127.0.0.1 -U shs -d shs >/dev/null || die "postgres did not start"
psql_() { docker exec -e PGPASSWORD="$PG_PASSWORD" "$PG_NAME" psql -h 127.0.0.1 -U shs -d shs -v ON_ERROR_STOP=1 -qAt -c "$1"; }

HTTP_PORT="$(free_port)"
LOG_DIR="$(python3 -c "import hashlib; print(hashlib.sha1(b'$EMAIL').hexdigest()[:10])")"
mkdir -p "$WORK/bingo" "$WORK/logs/$LOG_DIR"
chmod -R a+rwX "$WORK"
cat >"$WORK/bingo/config.yaml" <<CONFIG
student_email: $EMAIL
postgres_cluster:
  hosts:
  - address: 127.0.0.1
    port: $PG_PORT
  user: shs
  password: $PG_PASSWORD
  db_name: shs
  ssl_mode: disable
  use_closest_node: false
http_host: 127.0.0.1
http_port: $HTTP_PORT
CONFIG
SHS_RUN=(--network host -v "$WORK/bingo:/opt/bingo:ro" -v "$WORK/logs:/opt/bongo/logs")

echo "==> prepare_db --scale $SCALE"
started=$(date +%s.%N)
docker run --rm "${SHS_RUN[@]}" "$SHS_IMAGE" /app/bingo prepare_db --scale "$SCALE"
echo "    prepare_db took $(since "$started") s"

echo "==> indexes (the ones the database role creates)"
started=$(date +%s.%N)
psql_ "CREATE INDEX ON customers (id); CREATE INDEX ON movies (id); CREATE INDEX ON sessions (id);
       CREATE INDEX ON movies (year DESC, name); CREATE INDEX ON customers (surname, name, birthday DESC, id DESC);
       CREATE INDEX ON sessions (customer_id); CREATE INDEX ON sessions (movie_id); ANALYZE;"
echo "    indexes took $(since "$started") s"

echo "==> service on one core (--cpus 1), port $HTTP_PORT"
docker run -d --name "$SHS_NAME" --cpus 1 "${SHS_RUN[@]}" "$SHS_IMAGE" >/dev/null
for _ in $(seq 100); do
    [ "$(curl -s "http://127.0.0.1:$HTTP_PORT/ping" || true)" = pong ] && break
    sleep 0.1
done
[ "$(curl -s "http://127.0.0.1:$HTTP_PORT/ping")" = pong ] || { docker logs "$SHS_NAME" >&2; die "service did not start"; }
curl -sf "http://127.0.0.1:$HTTP_PORT/api/session/1" >/dev/null || die "GET /api/session/1 failed"

cat >"$WORK/random_session.lua" <<'LUA'
-- GET /api/session/{id}, ids drawn uniformly from 1..args[1]. With args[2] = R > 0 the requests are
-- paced to R per second (one wrk thread: its connections share this schedule); 0 = as fast as possible.
-- Prints machine-readable figures at the end; non-200 answers are counted.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } shs_timespec;
int clock_gettime(int clk_id, shs_timespec *tp);
]]
local ts = ffi.new("shs_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local thread_list = {}
function setup(thread) table.insert(thread_list, thread) end
local max_id, interval, next_at = 1, 0, 0
function init(args)
    max_id = tonumber(args[1])
    local rate = tonumber(args[2] or "0")
    if rate > 0 then interval = 1000 / rate end
    math.randomseed(os.time())
    non200 = 0
end
function delay()
    if interval == 0 then return 0 end
    local now = now_ms()
    -- Never bank more than one interval of backlog: a stall must not turn into a burst.
    if next_at < now - interval then next_at = now end
    next_at = next_at + interval
    return math.max(0, math.floor(next_at - now))
end
function request() return wrk.format("GET", "/api/session/" .. math.random(1, max_id)) end
function response(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
function done(summary, latency, requests)
    local bad = 0
    for _, t in ipairs(thread_list) do bad = bad + t:get("non200") end
    io.write(string.format("NON200 %d\nP50_US %d\nP90_US %d\nP99_US %d\nRPS %.1f\n", bad,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        summary.requests / (summary.duration / 1e6)))
end
LUA

# bench_run NAME CONNECTIONS RATE: one wrk run; its output goes to $WORK/NAME.out
bench_run() {
    local name="$1" conns="$2" rate="$3" shown
    shown="$rate RPS"; [ "$rate" = 0 ] && shown="unlimited"
    echo "==> $name: wrk -t1 -c$conns -d${DURATION}s, rate $shown, GET /api/session/{random 1..$SESSIONS}"
    # CPU and memory of the service, sampled half-way through the run.
    (sleep "$((DURATION / 2))"; docker stats --no-stream --format '{{.CPUPerc}} CPU, {{.MemUsage}}' "$SHS_NAME" \
        >"$WORK/$name.stats" 2>/dev/null) &
    wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$WORK/random_session.lua" \
        "http://127.0.0.1:$HTTP_PORT" -- "$SESSIONS" "$rate" >"$WORK/$name.out"
    wait
    sed -n '/Latency Distribution/,/Transfer/p' "$WORK/$name.out" | sed 's/^/    /'
}
value() { awk -v k="$2" '$1 == k {print $2}' "$WORK/$1.out"; }
summary() {
    local name="$1" rps p50 p90 p99 bad
    rps="$(value "$name" RPS)"; p50="$(value "$name" P50_US)"; p90="$(value "$name" P90_US)"
    p99="$(value "$name" P99_US)"; bad="$(value "$name" NON200)"
    [ -n "$rps" ] && [ -n "$p90" ] || die "could not parse the wrk output of $name"
    awk -v n="$name" -v rps="$rps" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v bad="$bad" 'BEGIN {
        printf "    %-11s RPS %6.0f   p50 %5.1f ms   p90 %5.1f ms   p99 %5.1f ms   non-200 %d\n",
               n, rps, p50/1000, p90/1000, p99/1000, bad }'
    echo "                service mid-run: $(cat "$WORK/$name.stats" 2>/dev/null || echo n/a)"
}

echo "==> warm-up (5 s)"
wrk -t1 -c8 -d5s -s "$WORK/random_session.lua" "http://127.0.0.1:$HTTP_PORT" -- "$SESSIONS" 0 >/dev/null
# 1. The target: TARGET_RPS offered at a steady pace; p90 must stay under TARGET_P90_MS.
bench_run target "$CONNECTIONS" "$TARGET_RPS"
# 2. Saturation: as many requests as one core serves (closed loop, few connections).
bench_run saturation "$SATURATION_CONNECTIONS" 0

echo
echo "==> result (service: --cpus 1; scale $SCALE, $SESSIONS sessions, indexed; ${DURATION} s per run)"
summary target
summary saturation
if awk -v rps="$(value target RPS)" -v p90="$(value target P90_US)" -v bad="$(value target NON200)" \
        -v t="$TARGET_RPS" -v l="$TARGET_P90_MS" 'BEGIN { exit !(rps >= 0.98 * t && p90 < l * 1000 && bad == 0) }'; then
    echo "    target met: $TARGET_RPS RPS served at p90 < $TARGET_P90_MS ms, no errors"
    exit 0
fi
echo "    target MISSED: $TARGET_RPS RPS at p90 < $TARGET_P90_MS ms with no errors"
exit 1
