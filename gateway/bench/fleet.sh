#!/usr/bin/env bash
# The worker fleet over NATS, measured on one machine in one run:
#
# 1. The hop: a small embeddings request (MiniLM, one short sentence) answered three ways by the
#    same gateway, alternating at c=1: in-process; through the OpenAI HTTP backend to a second
#    omnigate serving MiniLM; through the fleet to an `omnigate worker` serving MiniLM. Reports
#    p50/p99 and the gateway's CPU per request for each.
# 2. Churn: 4 workers in front of the microsecond mock upstream, c=32 for CHURN_SECS (60), one
#    worker killed with SIGKILL every 10 s and a new one started; then one drained with SIGTERM.
#    Reports client failures (the goal is 0) and the answers per worker.
#
#   gateway/bench/fleet.sh
#   HOP_SECS=20 CHURN_SECS=120 gateway/bench/fleet.sh
#
# Needs nats-server (apt-get install -y nats-server), wrk and python3; MiniLM's weights in the
# cache (omnigate fetch, or .ci/fetch-models). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

HOP_SECS="${HOP_SECS:-10}"; CHURN_SECS="${CHURN_SECS:-60}"; REPEATS="${REPEATS:-2}"
NATS_PORT="${NATS_PORT:-14222}"; GW_PORT="${GW_PORT:-18090}"; REMOTE_PORT="${REMOTE_PORT:-18091}"
MOCK_PORT="${MOCK_PORT:-18000}"
OUT="${OUT:-$(mktemp -d /tmp/omnigate-fleet.XXXXXX)}"
mkdir -p "$OUT"
LUA="$PWD/gateway/bench/wrk-post.lua"

for tool in nats-server wrk python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
echo "building (release)..." >&2
cargo build --release --quiet -p omnigate -p omnigate-testkit --bin omnigate --bin omnigate-mock-upstream
BIN="$PWD/target/release"

PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; }
trap cleanup EXIT

nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$OUT/nats.log" 2>&1 &
PIDS+=($!)
"$BIN/omnigate-mock-upstream" serve --port "$MOCK_PORT" --threads 1 >"$OUT/mock.log" 2>&1 &
PIDS+=($!)

MINILM='tasks = ["embeddings"]
[[models.minilm.deployments]]
kind = "embedded"
architecture = "minilm"'

# A worker: worker NAME MODELS_TOML; its pid in WORKER_PID (a child of this shell, so `wait`
# can read its exit status).
worker() {
  cat >"$OUT/worker-$1.toml" <<TOML
[server]
worker_threads = 1
[worker]
nats_url = "nats://127.0.0.1:$NATS_PORT"
id = "$1"
heartbeat_interval_secs = 0.5
max_in_flight = 64
$2
TOML
  RUST_LOG=warn "$BIN/omnigate" worker --config "$OUT/worker-$1.toml" >"$OUT/worker-$1.log" 2>&1 &
  WORKER_PID=$!
}

wait_http() { for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }
workers_online() { # MODEL -> how many workers serve it
  curl -sf "http://127.0.0.1:$GW_PORT/v1/fleet" | python3 -c 'import json,sys; m=sys.argv[1]; print(sum(1 for w in json.load(sys.stdin)["data"] if m in w["models"] and not w["draining"]))' "$1"
}
wait_workers() { for _ in $(seq 600); do [[ $(workers_online "$1") -ge $2 ]] && return; sleep 0.1; done; echo "workers for $1 never came" >&2; exit 1; }

# --- 1. the hop -------------------------------------------------------------------------------
cat >"$OUT/remote.toml" <<TOML
[server]
bind = "127.0.0.1:$REMOTE_PORT"
worker_threads = 1
[models.minilm]
$MINILM
TOML
RUST_LOG=warn taskset -c 1 "$BIN/omnigate" serve --config "$OUT/remote.toml" >"$OUT/remote.log" 2>&1 &
PIDS+=($!)
worker hop "[models.minilm]
$MINILM"
HOP_WORKER=$WORKER_PID; PIDS+=("$HOP_WORKER")
taskset -cp 1 "$HOP_WORKER" >/dev/null
cat >"$OUT/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$GW_PORT"
worker_threads = 1
[models.minilm]
$MINILM
[models.via-http]
tasks = ["embeddings"]
[[models.via-http.deployments]]
kind = "openai"
base_url = "http://127.0.0.1:$REMOTE_PORT/v1"
model = "minilm"
[models.via-fleet]
tasks = ["embeddings"]
[[models.via-fleet.deployments]]
kind = "fleet"
nats_url = "nats://127.0.0.1:$NATS_PORT"
model = "minilm"
[models.churn]
[[models.churn.deployments]]
kind = "fleet"
nats_url = "nats://127.0.0.1:$NATS_PORT"
model = "mock"
timeout_secs = 2.0
[models.churn.routing]
max_attempts = 5
per_try_timeout_secs = 2.0
TOML
RUST_LOG=warn taskset -c 0 "$BIN/omnigate" serve --config "$OUT/gateway.toml" >"$OUT/gateway.log" 2>&1 &
GW_PID=$!; PIDS+=("$GW_PID")
wait_http "$REMOTE_PORT"; wait_http "$GW_PORT"; wait_workers minilm 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
: >"$OUT/hop.jsonl"
for model in minilm via-http via-fleet; do
  printf '{"model":"%s","input":"The quick brown fox jumps over the lazy dog."}' "$model" >"$OUT/$model.json"
done
for rep in $(seq "$REPEATS"); do
  for model in minilm via-http via-fleet; do
    before=$(cpu_ticks "$GW_PID")
    line=$(BODY="$OUT/$model.json" taskset -c 1 wrk -t1 -c1 -d"${HOP_SECS}s" -s "$LUA" "http://127.0.0.1:$GW_PORT/v1/embeddings" | grep '^RESULT' | cut -d' ' -f2-)
    after=$(cpu_ticks "$GW_PID")
    echo "{\"model\":\"$model\",\"cpu_ms\":$(( (after - before) * 1000 / TICK )),\"r\":$line}" >>"$OUT/hop.jsonl"
    echo "hop $model rep=$rep $line" >&2
  done
done

# --- 2. churn ---------------------------------------------------------------------------------
MOCK_MODEL="[models.mock]
[[models.mock.deployments]]
kind = \"openai\"
base_url = \"http://127.0.0.1:$MOCK_PORT/v1\""
CHURN=()
for i in 1 2 3 4; do worker "churn-$i" "$MOCK_MODEL"; CHURN+=("$WORKER_PID"); done
wait_workers mock 4
python3 gateway/bench/spread_load.py --ports "$GW_PORT" --key none --model churn \
  --concurrency 32 --seconds "$CHURN_SECS" >"$OUT/churn.json" &
LOAD=$!
next=5; kills=0
for _ in $(seq $(( CHURN_SECS / 10 - 1 ))); do
  sleep 10
  victim=${CHURN[0]}; CHURN=("${CHURN[@]:1}")
  kill -9 "$victim"; kills=$((kills + 1))
  worker "churn-$next" "$MOCK_MODEL"; CHURN+=("$WORKER_PID"); next=$((next + 1))
done
wait $LOAD
# Drain: c=32 for 10 s, one worker told to leave 3 s in.
python3 gateway/bench/spread_load.py --ports "$GW_PORT" --key none --model churn \
  --concurrency 32 --seconds 10 >"$OUT/drain.json" &
LOAD=$!
sleep 3; leaving=${CHURN[0]}; kill -TERM "$leaving"
drain_status=0; wait "$leaving" || drain_status=$?
wait $LOAD
PIDS+=("${CHURN[@]}")

python3 - "$OUT/hop.jsonl" "$OUT/churn.json" "$OUT/drain.json" "$kills" "$CHURN_SECS" "$drain_status" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
churn, drain = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
kills, secs, drain_status = int(sys.argv[4]), sys.argv[5], sys.argv[6]
names = {"minilm": "in-process", "via-http": "OpenAI HTTP backend → omnigate", "via-fleet": "fleet (NATS) → omnigate worker"}
print("| MiniLM embeddings, c=1 | req/s | p50 ms | p99 ms | gateway CPU µs/req |")
print("|---|--:|--:|--:|--:|")
stats = {}
for model in ("minilm", "via-http", "via-fleet"):
    rs = [r for r in rows if r["model"] == model]
    rps = st.mean(r["r"]["requests"] / r["r"]["seconds"] for r in rs)
    p50 = st.mean(r["r"]["p50"] for r in rs); p99 = st.mean(r["r"]["p99"] for r in rs)
    cpu = st.mean(r["cpu_ms"] * 1000 / max(r["r"]["requests"], 1) for r in rs)
    errors = sum(r["r"]["errors"] + r["r"]["non2xx"] for r in rs)
    stats[model] = (p50, p99, cpu)
    print(f"| {names[model]} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {cpu:.0f} |" + (f" ({errors} errors)" if errors else ""))
(hp50, _, hcpu), (fp50, _, fcpu) = stats["via-http"], stats["via-fleet"]
print(f"\nfleet vs HTTP hop: p50 {fp50 - hp50:+.3f} ms, gateway CPU {fcpu / hcpu:.2f}x")
others = lambda r: {k: v for k, v in r["statuses"].items() if k != "200"}
print(f"\n| churn: 4 workers, c=32, {secs} s, SIGKILL every 10 s | answered | failed | slowest |")
print("|---|--:|--:|--:|")
print(f"| {kills} workers killed and replaced | {churn['accepted']} | {sum(others(churn).values())} {others(churn) or ''} | {churn['slowest_s']:.2f} s |")
print(f"| one drained with SIGTERM (exit {drain_status}) | {drain['accepted']} | {sum(others(drain).values())} {others(drain) or ''} | {drain['slowest_s']:.2f} s |")
PY
echo "raw results: $OUT" >&2
