#!/usr/bin/env bash
# Instructions omnigate executes per request in user space, counted by callgrind. The count is
# the same on every run of the same binary and inputs, whatever else the machine is doing, so
# it shows changes that the noise of CPU time on a shared VM hides. It leaves out the kernel's
# work (the loopback TCP hops, about half of the CPU time in overhead.sh) and says nothing
# about cache misses or mispredictions: a complement to overhead.sh, not a replacement.
#
#   gateway/bench/instructions.sh                                   # chat, stream, embed
#   BASELINE=/tmp/old/omnigate gateway/bench/instructions.sh        # and another build, side by side
#   THIS=/tmp/new/omnigate gateway/bench/instructions.sh            # that build, not the tree's
#   GATEWAY_LOG=info gateway/bench/instructions.sh                   # with the access log written
#   GATEWAY_LOG=info OMNIGATE_SERVER__LOG_FORMAT=json gateway/bench/instructions.sh   # ... as JSON
#
# The gateway's RUST_LOG is GATEWAY_LOG (default `error`: no access log); its log goes to a file
# under $OUT.
#
# Needs valgrind and wrk. The gateway runs under valgrind (~50x slower), 8 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKLOADS="${WORKLOADS:-chat stream embed}"; MEASURE_SECS="${MEASURE_SECS:-5}"
GATEWAY_CPU="${GATEWAY_CPU:-0}"; LOAD_CPU="${LOAD_CPU:-1}"
MOCK_PORT="${MOCK_PORT:-18000}"; GW_PORT="${GW_PORT:-18080}"
OUT="${OUT:-$(mktemp -d /tmp/omnigate-instructions.XXXXXX)}"
mkdir -p "$OUT"
LUA="$PWD/gateway/bench/wrk-post.lua"

for tool in valgrind callgrind_control callgrind_annotate wrk; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y valgrind wrk" >&2; exit 1; }
done
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release"
if [[ -z "${THIS:-}" ]]; then
  echo "building (release)..." >&2
  cargo build --release --quiet -p omnigate -p omnigate-testkit --bin omnigate --bin omnigate-mock-upstream
fi
# THIS: another build to measure instead of the tree's (its mock upstream is the tree's, as built).
THIS="${THIS:-$BIN/omnigate}"
# shellcheck source=gateway/bench/inputs.sh
source gateway/bench/inputs.sh

taskset -c "$LOAD_CPU" "$BIN/omnigate-mock-upstream" serve --port "$MOCK_PORT" --threads 1 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!
GW_PID=""
trap 'kill $MOCK_PID $GW_PID 2>/dev/null || true' EXIT

load() { # workload seconds -> requests answered
  BODY="$OUT/$1.json" KEY=sk-bench taskset -c "$LOAD_CPU" wrk -t1 -c8 -d"$2s" -s "$LUA" \
    "http://127.0.0.1:$GW_PORT$(bench_path "$1")" | sed -n 's/.*RESULT.*"requests":\([0-9]*\).*/\1/p'
}

measure() { # label binary workload -> prints instructions per request
  local label=$1 binary=$2 workload=$3 file="$OUT/callgrind.$1.$3"
  RUST_LOG="${GATEWAY_LOG:-error}" taskset -c "$GATEWAY_CPU" valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$binary" serve --config "$OUT/omnigate.toml" >"$OUT/omnigate.$label.log" 2>&1 &
  GW_PID=$!
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break
    sleep 0.2
  done
  load "$workload" 2 >/dev/null # warm-up: connections, pools, lazy statics
  callgrind_control -z "$GW_PID" >/dev/null 2>&1
  local requests
  requests=$(load "$workload" "$MEASURE_SECS")
  callgrind_control -d "$GW_PID" >/dev/null 2>&1
  kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
  local total
  total=$(callgrind_annotate "$file.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  printf '| %s | %s | %s | %s |\n' "$workload" "$label" "$requests" "$(( total / requests ))"
}

echo "| workload | build | requests | instructions / request |"
echo "|---|---|--:|--:|"
for workload in $WORKLOADS; do
  [[ -n "${BASELINE:-}" ]] && measure baseline "$BASELINE" "$workload"
  measure this "$THIS" "$workload"
done
echo "raw results: $OUT" >&2
