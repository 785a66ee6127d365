#!/usr/bin/env bash
# Routing and resilience, measured on real processes on loopback: omnigate in front of
# omnigate-mock-upstream instances with latency and failures, driven by wrk.
#
#   gateway/bench/routing.sh                 # balance (1 ms vs 20 ms; three equal) + soak
#   PARTS=balance gateway/bench/routing.sh   # or PARTS=soak; SOAK_SECONDS=60 DURATION=10
#
# balance: one model over a 1 ms and a 20 ms deployment (P2C-EWMA): the share the fast one
#   gets and the gateway's p50, beside the fast deployment alone through the gateway; then
#   three equal deployments and each one's share.
# soak: three deployments of one model at c=64: A healthy, B answering 30 % 500s, C killed
#   (SIGKILL) a third of the way in and restarted on the same port at two thirds. Reports client
#   errors, when C was ejected after its death and back in rotation after its return (from
#   /v1/deployments sampled every 100 ms), and the retry load (tries / client requests).
set -euo pipefail
cd "$(dirname "$0")/../.."

PARTS="${PARTS:-balance soak}"; DURATION="${DURATION:-10}"; SOAK_SECONDS="${SOAK_SECONDS:-60}"
GW_PORT="${GW_PORT:-18180}"; BASE_PORT="${BASE_PORT:-18100}"
OUT="${OUT:-$(mktemp -d /tmp/omnigate-routing.XXXXXX)}"
LUA="$PWD/gateway/bench/wrk-post.lua"
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
echo "building (release)..." >&2
cargo build --release --quiet -p omnigate -p omnigate-testkit --bin omnigate --bin omnigate-mock-upstream
BIN="$PWD/target/release"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

printf '{"model":"m","messages":[{"role":"user","content":"Say hi"}]}' >"$OUT/chat.json"

# mock PORT DELAY_MS FAIL_PERCENT -> starts one, prints its pid
mock() {
  "$BIN/omnigate-mock-upstream" serve --port "$1" --delay-ms "$2" --fail-percent "$3" >>"$OUT/mocks.log" 2>&1 &
  echo $!
}

# gateway STRATEGY PORT... -> (re)starts omnigate over mocks on PORTs, waits until it answers
gateway() {
  local strategy=$1; shift
  {
    echo "[server]"; echo "bind = \"127.0.0.1:$GW_PORT\""; echo "worker_threads = 1"
    echo "[models.m]"; echo "routing = { strategy = \"$strategy\", max_attempts = 3 }"
    for port in "$@"; do
      echo "[[models.m.deployments]]"; echo 'kind = "openai"'
      echo "base_url = \"http://127.0.0.1:$port/v1\""; echo "timeout_secs = 5.0"
    done
  } >"$OUT/omnigate.toml"
  RUST_LOG=error "$BIN/omnigate" serve --config "$OUT/omnigate.toml" >>"$OUT/omnigate.log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && return; sleep 0.05; done
  echo "omnigate did not start" >&2; exit 1
}

stop_gateway() { kill "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; }

# load CONC SECONDS -> RESULT json of wrk through the gateway
load() {
  BODY="$OUT/chat.json" wrk -t1 -c"$1" -d"$2"s -s "$LUA" "http://127.0.0.1:$GW_PORT/v1/chat/completions" |
    grep '^RESULT' | cut -d' ' -f2-
}

# shares -> the deployments' tries as a JSON list
tries() { curl -s "http://127.0.0.1:$GW_PORT/v1/deployments" | python3 -c 'import json,sys; print(json.dumps([d["requests"] for d in json.load(sys.stdin)["data"]]))'; }

if [[ " $PARTS " == *" balance "* ]]; then
  FAST=$((BASE_PORT)); SLOW=$((BASE_PORT + 1)); E1=$((BASE_PORT + 2)); E2=$((BASE_PORT + 3)); E3=$((BASE_PORT + 4))
  PIDS+=("$(mock $FAST 1 0)" "$(mock $SLOW 20 0)" "$(mock $E1 2 0)" "$(mock $E2 2 0)" "$(mock $E3 2 0)")
  sleep 0.5
  gateway p2c_ewma "$FAST"; load 16 2 >/dev/null
  alone=$(load 16 "$DURATION"); stop_gateway
  gateway p2c_ewma "$FAST" "$SLOW"; load 16 2 >/dev/null; before=$(tries)
  mixed=$(load 16 "$DURATION"); after=$(tries); stop_gateway
  gateway p2c_ewma "$E1" "$E2" "$E3"; before3=$(tries)
  equal=$(load 16 "$DURATION"); after3=$(tries); stop_gateway
  python3 - "$alone" "$mixed" "$before" "$after" "$equal" "$before3" "$after3" <<'PY'
import json, sys
alone, mixed = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = [b - a for a, b in zip(json.loads(sys.argv[3]), json.loads(sys.argv[4]))]
e = [b - a for a, b in zip(json.loads(sys.argv[6]), json.loads(sys.argv[7]))]
share = d[0] / sum(d)
print("| balance (c=16, P2C-EWMA) | value |")
print("|---|---|")
print(f"| share to the 1 ms deployment beside a 20 ms one | {share:.1%} ({d[0]} of {sum(d)}) |")
print(f"| gateway p50, 1 ms + 20 ms deployments | {mixed['p50']:.2f} ms |")
print(f"| gateway p50, the 1 ms deployment alone | {alone['p50']:.2f} ms ({mixed['p50'] / alone['p50'] - 1:+.1%}) |")
shares = [x / sum(e) for x in e]
print(f"| three equal (2 ms) deployments: shares | {', '.join(f'{s:.1%}' for s in shares)} (max deviation {max(abs(s * 3 - 1) for s in shares):.1%} of a third) |")
print(f"| client errors (mixed / equal) | {mixed['errors'] + mixed['non2xx']} / {json.loads(sys.argv[5])['errors'] + json.loads(sys.argv[5])['non2xx']} |")
PY
  kill "${PIDS[@]:1}" 2>/dev/null || true
fi

if [[ " $PARTS " == *" soak "* ]]; then
  A=$((BASE_PORT + 10)); B=$((BASE_PORT + 11)); C=$((BASE_PORT + 12))
  PIDS+=("$(mock $A 1 0)" "$(mock $B 1 30)")
  C_PID=$(mock $C 1 0); PIDS+=("$C_PID")
  sleep 0.5
  gateway p2c_ewma "$A" "$B" "$C"
  : >"$OUT/states.txt"
  ( while true; do
      printf '%s %s\n' "$(date +%s.%N)" "$(curl -s "http://127.0.0.1:$GW_PORT/v1/deployments" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d[2]["state"], sum(x["requests"] for x in d))' 2>/dev/null)" >>"$OUT/states.txt"
      sleep 0.1
    done ) &
  SAMPLER=$!; PIDS+=("$SAMPLER")
  load 64 "$SOAK_SECONDS" >"$OUT/soak.json" &
  WRK=$!
  sleep $((SOAK_SECONDS / 3)); KILLED=$(date +%s.%N); kill -9 "$C_PID"
  sleep $((SOAK_SECONDS / 3)); RESTARTED=$(date +%s.%N); PIDS+=("$(mock $C 1 0)")
  wait "$WRK"; kill "$SAMPLER" 2>/dev/null || true
  python3 - "$OUT/soak.json" "$OUT/states.txt" "$KILLED" "$RESTARTED" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
killed, restarted = float(sys.argv[3]), float(sys.argv[4])
rows = [l.split() for l in open(sys.argv[2]) if len(l.split()) == 3]
rows = [(float(t), s, int(n)) for t, s, n in rows]
ejected = next((t - killed for t, s, _ in rows if t > killed and s == "ejected"), None)
back = next((t - restarted for t, s, _ in rows if t > restarted and s == "healthy"), None)
tries = rows[-1][2] - rows[0][2] if rows else 0
print("| soak (c=64, 3 deployments: healthy, 30 % 500s, killed then restarted) | value |")
print("|---|---|")
print(f"| client requests / errors | {r['requests']} / {r['errors'] + r['non2xx']} |")
print(f"| dead deployment ejected after its death | {ejected:.2f} s |" if ejected is not None else "| dead deployment ejected | never seen |")
print(f"| back in rotation after its return | {back:.2f} s |" if back is not None else "| back in rotation | never seen |")
print(f"| tries per client request (retry load) | {tries / max(r['requests'], 1):.3f} |")
print(f"| p50 / p99 | {r['p50']:.2f} / {r['p99']:.2f} ms |")
PY
fi
echo "raw files in $OUT" >&2
