#!/usr/bin/env bash
# Limits across replicas: three omnigate processes in front of one mock upstream, sharing one
# real redis-server (Valkey speaks the same protocol), a client spreading c=32 requests over
# them for a key limited to LIMIT requests a minute. Reports how many were accepted (exactly the
# limit is the goal), then the same with the in-memory store (each replica counts alone), then
# Redis killed mid-run and restarted, under fail_open and under fail_closed.
#
#   gateway/bench/replicas.sh                    # LIMIT=600 RUN_SECS=30
#   LIMIT=1200 RUN_SECS=45 gateway/bench/replicas.sh
#
# Needs redis-server (apt-get install -y redis-server) and python3. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

LIMIT="${LIMIT:-600}"; RUN_SECS="${RUN_SECS:-30}"; CONCURRENCY="${CONCURRENCY:-32}"
MOCK_PORT="${MOCK_PORT:-18000}"; REDIS_PORT="${REDIS_PORT:-18379}"
PORTS=(18101 18102 18103)
OUT="${OUT:-$(mktemp -d /tmp/omnigate-replicas.XXXXXX)}"
mkdir -p "$OUT"

command -v redis-server >/dev/null || { echo "needs redis-server: apt-get install -y redis-server" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release --quiet -p omnigate -p omnigate-testkit --bin omnigate --bin omnigate-mock-upstream
BIN="$PWD/target/release"

"$BIN/omnigate-mock-upstream" serve --port "$MOCK_PORT" --threads 2 >"$OUT/mock.log" 2>&1 &
PIDS=($!)
REDIS_PID=""
start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >>"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 50); do
    if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
      # Our server, not a stale one on the same port (ours would have exited).
      kill -0 "$REDIS_PID" 2>/dev/null && return
      echo "port $REDIS_PORT is taken by another redis-server (REDIS_PORT=...)" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "redis-server did not start" >&2; exit 1
}
GATEWAYS=()
# (With no gateway running, a bare `wait` would wait for every child, the mock and Redis too.)
stop_gateways() {
  if [[ ${#GATEWAYS[@]} -gt 0 ]]; then
    kill "${GATEWAYS[@]}" 2>/dev/null || true; wait "${GATEWAYS[@]}" 2>/dev/null || true
  fi
  GATEWAYS=()
}
trap 'kill "${PIDS[@]}" $REDIS_PID 2>/dev/null || true; stop_gateways' EXIT

# start_gateways STATE_TOML: three replicas with a key `sk-og-bench` of LIMIT a minute and a
# key `sk-og-after` of 50 a minute.
start_gateways() {
  for port in "${PORTS[@]}"; do
    cat >"$OUT/gw-$port.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
worker_threads = 1
[state]
$1
[models.mock]
[[models.mock.deployments]]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[[keys]]
id = "bench"
secret = "sk-og-bench"
limits = { requests_per_minute = $LIMIT }
[[keys]]
id = "after"
secret = "sk-og-after"
limits = { requests_per_minute = 50 }
TOML
    RUST_LOG=warn "$BIN/omnigate" serve --config "$OUT/gw-$port.toml" >"$OUT/gw-$port.log" 2>&1 &
    GATEWAYS+=($!)
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  done
}

load() { # KEY SECONDS -> JSON line
  python3 gateway/bench/spread_load.py --ports "$(IFS=,; echo "${PORTS[*]}")" --key "$1" \
    --concurrency "$CONCURRENCY" --seconds "$2"
}

field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "| store | replicas | limit / min | run | accepted | off the limit | other answers |" >"$OUT/table.md"
echo "|---|--:|--:|--:|--:|--:|---|" >>"$OUT/table.md"
row() { # STORE RESULT
  local accepted; accepted=$(field "$2" accepted)
  python3 - "$1" "$2" "$LIMIT" "$RUN_SECS" "$accepted" >>"$OUT/table.md" <<'PY'
import json, sys
store, result, limit, secs, accepted = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
others = {k: v for k, v in result["statuses"].items() if k != "200"}
print(f"| {store} | 3 | {limit} | {secs} s, c=32 | {accepted} | {100 * (accepted - limit) / limit:+.2f} % | {others} |")
PY
}

start_redis
start_gateways "redis_url = \"redis://127.0.0.1:$REDIS_PORT\""
shared=$(load sk-og-bench "$RUN_SECS"); echo "redis: $shared" >&2
row "Redis (shared)" "$shared"
stop_gateways

start_gateways ""
local_run=$(load sk-og-bench "$RUN_SECS"); echo "memory: $local_run" >&2
row "memory (per replica)" "$local_run"
stop_gateways

# Outage: a key with room to spare, Redis killed 5 s into a 20 s run and started again at 10 s;
# then a key of 50 a minute shows whether counting is shared again.
echo "" >>"$OUT/table.md"
echo "| policy | 200 | other answers | slowest answer | 200s per second (Redis down from 5 s to 10 s) | after the restart, a key of 50/min accepted |" >>"$OUT/table.md"
echo "|---|--:|---|--:|---|--:|" >>"$OUT/table.md"
for policy in fail_open fail_closed; do
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  LIMIT_SAVED=$LIMIT; LIMIT=100000000
  start_gateways "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"
on_unavailable = \"$policy\""
  LIMIT=$LIMIT_SAVED
  load sk-og-bench 20 >"$OUT/outage-$policy.json" &
  LOAD=$!
  sleep 5; kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
  sleep 5; start_redis
  wait $LOAD
  after=$(load sk-og-after 5)
  python3 - "$policy" "$(cat "$OUT/outage-$policy.json")" "$(field "$after" accepted)" >>"$OUT/table.md" <<'PY'
import json, sys
policy, r, after = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
others = {k: v for k, v in r["statuses"].items() if k != "200"}
print(f"| {policy} | {r['accepted']} | {others} | {r['slowest_s']:.3f} s | {' '.join(map(str, r['accepted_per_second'][:20]))} | {after} |")
PY
  stop_gateways
done
cat "$OUT/table.md"
echo "raw results: $OUT" >&2
