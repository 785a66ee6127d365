#!/usr/bin/env bash
# Gateway overhead: the same requests sent straight to a microsecond mock upstream and through
# omnigate in front of it, alternating, on one machine in one run. Reports req/s, gw/direct, the
# latency omnigate adds (p50/p90/p99), omnigate's CPU time per request, and its RSS.
#
#   gateway/bench/overhead.sh                  # chat, stream, embed, image at c = 1 16 64
#   DURATION=15 REPEATS=3 CONCURRENCY="1 64" WORKLOADS="chat image" gateway/bench/overhead.sh
#   SOAK=600 gateway/bench/overhead.sh         # then chat at c=64 for 600 s, RSS sampled every 10 s
#   IDLE_POLL=1 CONCURRENCY=1 gateway/bench/overhead.sh   # idle CPUs poll instead of halting (root)
#   FLOOR=1 CONCURRENCY=1 gateway/bench/overhead.sh       # + a bare TCP relay in omnigate's place
#   BASELINE_BIN=/tmp/omnigate-old gateway/bench/overhead.sh  # + another build, same config
#   LIMITER=1 CONCURRENCY="1 64" WORKLOADS=chat gateway/bench/overhead.sh  # + a limited key via Redis
#   TRACING=1 CONCURRENCY="1 64" WORKLOADS="chat stream" gateway/bench/overhead.sh  # + traces at 100 % and 1 %
#
# BASELINE_BIN adds a side: another omnigate binary (e.g. the last release, built from an older
# commit) in front of the same mock on the same core, alternating with this build, so a change's
# cost is read off one run rather than compared across runs on a noisy VM.
#
# LIMITER=1 adds two sides: this build again, with a virtual key whose request and token limits
# are checked (and never reached) in a real redis-server on the load core, and, in the same
# process, a virtual key without limits (authenticated and its usage recorded in Redis, nothing
# checked); what the limited key adds over that one is the limiter's cost, and the Redis round trip at c=1 is measured alongside
# (redis-benchmark PING) so the limiter's own share can be read off.
#
# TRACING=1 adds two sides: this build again with OpenTelemetry traces exported over OTLP/HTTP
# to a sink on the load core (omnigate-mock-upstream's `/v1/traces`, which answers without
# decoding), sampling every request (`traced100`) and 1 % of them (`traced1`). The plain side is
# the same build with traces off, so the three rows of a workload read off what tracing costs.
# The batch processor's queue is raised to 65536 spans (OTEL_BSP_MAX_QUEUE_SIZE) so that nothing
# is dropped and every span's export is paid for; spans dropped anyway are reported.
#
# FLOOR=1 adds a third side: a relay that only copies bytes (omnigate-mock-upstream relay) on
# omnigate's core, one thread. What it adds is what any proxy placed there costs on this machine
# before doing any work; omnigate's own share is the difference.
#
# Pinning (2+ cores): omnigate on GATEWAY_CPU (0), the mock and wrk on LOAD_CPU (1); omnigate
# runs one worker thread. Needs wrk (apt-get install wrk). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-10}"; REPEATS="${REPEATS:-2}"; WARMUP="${WARMUP:-2}"
CONCURRENCY="${CONCURRENCY:-1 16 64}"; WORKLOADS="${WORKLOADS:-chat stream embed image}"
GATEWAY_CPU="${GATEWAY_CPU:-0}"; LOAD_CPU="${LOAD_CPU:-1}"
MOCK_PORT="${MOCK_PORT:-18000}"; GW_PORT="${GW_PORT:-18080}"; SOAK="${SOAK:-0}"
RELAY_PORT="${RELAY_PORT:-18081}"; FLOOR="${FLOOR:-0}"
BASELINE_BIN="${BASELINE_BIN:-}"; BASELINE_PORT="${BASELINE_PORT:-18082}"
LIMITER="${LIMITER:-0}"; LIMITED_PORT="${LIMITED_PORT:-18083}"; REDIS_PORT="${REDIS_PORT:-18379}"
TRACING="${TRACING:-0}"; TRACED_PORT="${TRACED_PORT:-18084}"; TRACED1_PORT="${TRACED1_PORT:-18085}"
SINK_PORT="${SINK_PORT:-18318}"
OUT="${OUT:-$(mktemp -d /tmp/omnigate-bench.XXXXXX)}"
mkdir -p "$OUT"
LUA="$PWD/gateway/bench/wrk-post.lua"

command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
# NO_BUILD=1 measures the binaries already in the target directory (e.g. while other builds
# would compete for the cores a quiet run needs).
if [[ ${NO_BUILD:-0} != 1 ]]; then
  echo "building (release)..." >&2
  cargo build --release --quiet -p omnigate -p omnigate-testkit --bin omnigate --bin omnigate-mock-upstream
fi
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release"

# shellcheck source=gateway/bench/inputs.sh
source gateway/bench/inputs.sh

# IDLE_POLL=1 (root): hold /dev/cpu_dma_latency at 0 for the run, so idle CPUs poll instead of
# halting. On a VM a halted vCPU takes tens of µs to wake, and every request crosses between the
# two cores four times; this shows what the paths cost without that (both sides alike).
if [[ "${IDLE_POLL:-0}" == 1 ]]; then
  exec 3>/dev/cpu_dma_latency || { echo "IDLE_POLL=1 needs root (/dev/cpu_dma_latency)" >&2; exit 1; }
  printf '\0\0\0\0' >&3
  echo "idle polling on: /dev/cpu_dma_latency held at 0 µs" >&2
fi

taskset -c "$LOAD_CPU" "$BIN/omnigate-mock-upstream" serve --port "$MOCK_PORT" --threads 1 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!
RUST_LOG=error taskset -c "$GATEWAY_CPU" "$BIN/omnigate" serve --config "$OUT/omnigate.toml" >"$OUT/omnigate.log" 2>&1 &
GW_PID=$!
RELAY_PID=""; TARGETS="direct gateway"
if [[ $FLOOR == 1 ]]; then
  taskset -c "$GATEWAY_CPU" "$BIN/omnigate-mock-upstream" relay --port "$RELAY_PORT" --to "$MOCK_PORT" >"$OUT/relay.log" 2>&1 &
  RELAY_PID=$!; TARGETS="$TARGETS relay"
fi
BASELINE_PID=""
if [[ -n $BASELINE_BIN ]]; then
  RUST_LOG=error OMNIGATE_SERVER__BIND="127.0.0.1:$BASELINE_PORT" taskset -c "$GATEWAY_CPU" "$BASELINE_BIN" serve --config "$OUT/omnigate.toml" >"$OUT/baseline.log" 2>&1 &
  BASELINE_PID=$!; TARGETS="$TARGETS baseline"
fi
LIMITED_PID=""; REDIS_PID=""
if [[ $LIMITER == 1 ]]; then
  command -v redis-server >/dev/null || { echo "LIMITER=1 needs redis-server: apt-get install -y redis-server" >&2; exit 1; }
  taskset -c "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  { sed "s/^bind = .*/bind = \"127.0.0.1:$LIMITED_PORT\"/" "$OUT/omnigate.toml"
    printf '[state]\nredis_url = "redis://127.0.0.1:%s"\nredis_prefix = "bench:"\n' "$REDIS_PORT"
    printf '[[keys]]\nid = "bench"\nsecret = "sk-limited"\nlimits = { requests_per_minute = 1000000000, tokens_per_minute = 1000000000000 }\n'
    printf '[[keys]]\nid = "open"\nsecret = "sk-keyed"\n'
  } >"$OUT/omnigate-limited.toml"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  RUST_LOG=error taskset -c "$GATEWAY_CPU" "$BIN/omnigate" serve --config "$OUT/omnigate-limited.toml" >"$OUT/limited.log" 2>&1 &
  LIMITED_PID=$!; TARGETS="$TARGETS keyed limited"
fi
TRACED_PID=""; TRACED1_PID=""; SINK_PID=""
if [[ $TRACING == 1 ]]; then
  taskset -c "$LOAD_CPU" "$BIN/omnigate-mock-upstream" serve --port "$SINK_PORT" --threads 1 >"$OUT/sink.log" 2>&1 &
  SINK_PID=$!
  # traced_config PORT RATIO: the plain config on PORT, exporting to the sink at RATIO.
  traced_config() {
    sed "s/^bind = .*/bind = \"127.0.0.1:$1\"/" "$OUT/omnigate.toml"
    printf '[telemetry]\notlp_endpoint = "http://127.0.0.1:%s"\nprotocol = "http"\nsampling_ratio = %s\n' "$SINK_PORT" "$2"
  }
  traced_config "$TRACED_PORT" 1.0 >"$OUT/omnigate-traced100.toml"
  traced_config "$TRACED1_PORT" 0.01 >"$OUT/omnigate-traced1.toml"
  # The SDK's own warnings (dropped spans, failed exports) go to the logs; requests log nothing.
  RUST_LOG=error,opentelemetry_sdk=warn OTEL_BSP_MAX_QUEUE_SIZE=65536 taskset -c "$GATEWAY_CPU" \
    "$BIN/omnigate" serve --config "$OUT/omnigate-traced100.toml" >"$OUT/traced100.log" 2>&1 &
  TRACED_PID=$!
  RUST_LOG=error,opentelemetry_sdk=warn OTEL_BSP_MAX_QUEUE_SIZE=65536 taskset -c "$GATEWAY_CPU" \
    "$BIN/omnigate" serve --config "$OUT/omnigate-traced1.toml" >"$OUT/traced1.log" 2>&1 &
  TRACED1_PID=$!
  TARGETS="$TARGETS traced100 traced1"
fi
trap 'kill $MOCK_PID $GW_PID $RELAY_PID $BASELINE_PID $LIMITED_PID $REDIS_PID $TRACED_PID $TRACED1_PID $SINK_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && curl -sf "http://127.0.0.1:$MOCK_PORT/health" >/dev/null &&
    { [[ -z $RELAY_PID ]] || curl -sf "http://127.0.0.1:$RELAY_PORT/health" >/dev/null; } &&
    { [[ -z $BASELINE_PID ]] || curl -sf "http://127.0.0.1:$BASELINE_PORT/health" >/dev/null; } &&
    { [[ -z $LIMITED_PID ]] || curl -sf "http://127.0.0.1:$LIMITED_PORT/health" >/dev/null; } &&
    { [[ -z $TRACED_PID ]] || { curl -sf "http://127.0.0.1:$TRACED_PORT/health" >/dev/null &&
      curl -sf "http://127.0.0.1:$TRACED1_PORT/health" >/dev/null; }; } && break
  sleep 0.1
done
sleep 0.5
IDLE_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")

# cpu_ticks PID: user + system clock ticks so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# target_base TARGET -> the base URL requests for TARGET (direct, gateway, relay) go to
target_base() {
  case $1 in
    gateway) echo "http://127.0.0.1:$GW_PORT" ;;
    relay) echo "http://127.0.0.1:$RELAY_PORT" ;;
    baseline) echo "http://127.0.0.1:$BASELINE_PORT" ;;
    limited|keyed) echo "http://127.0.0.1:$LIMITED_PORT" ;;
    traced100) echo "http://127.0.0.1:$TRACED_PORT" ;;
    traced1) echo "http://127.0.0.1:$TRACED1_PORT" ;;
    *) echo "http://127.0.0.1:$MOCK_PORT" ;;
  esac
}

# run TARGET WORKLOAD CONC SECONDS -> prints the RESULT json (+ cpu_ms for the gateway)
run() {
  local base path key="" pid=$GW_PID
  path=$(bench_path "$2"); base=$(target_base "$1")
  if [[ $1 == gateway || $1 == baseline ]]; then key="sk-bench"; fi
  if [[ $1 == relay ]]; then pid=$RELAY_PID; fi
  if [[ $1 == baseline ]]; then pid=$BASELINE_PID; fi
  if [[ $1 == limited ]]; then pid=$LIMITED_PID; key="sk-limited"; fi
  if [[ $1 == keyed ]]; then pid=$LIMITED_PID; key="sk-keyed"; fi
  if [[ $1 == traced100 ]]; then pid=$TRACED_PID; key="sk-bench"; fi
  if [[ $1 == traced1 ]]; then pid=$TRACED1_PID; key="sk-bench"; fi
  local before; before=$(cpu_ticks "$pid")
  local line
  line=$(BODY="$OUT/$2.json" KEY="$key" taskset -c "$LOAD_CPU" wrk -t1 -c"$3" -d"$4"s -s "$LUA" "$base$path" | grep '^RESULT' | cut -d' ' -f2-)
  local after; after=$(cpu_ticks "$pid")
  python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r["cpu_ms"] = float(sys.argv[2]); print(json.dumps(r))' \
    "$line" "$(( (after - before) * 1000 / TICK ))"
}

: >"$OUT/results.jsonl"
for workload in $WORKLOADS; do
  for c in $CONCURRENCY; do
    for target in $TARGETS; do run "$target" "$workload" "$c" "$WARMUP" >/dev/null; done
    for rep in $(seq "$REPEATS"); do
      for target in $TARGETS; do
        r=$(run "$target" "$workload" "$c" "$DURATION")
        echo "{\"workload\":\"$workload\",\"c\":$c,\"rep\":$rep,\"target\":\"$target\",\"r\":$r}" >>"$OUT/results.jsonl"
        echo "$workload c=$c rep=$rep $target $r" >&2
      done
    done
  done
done
# Streaming time to first byte at c=1: curl on one kept-alive connection, TTFB_REQUESTS per
# side in alternating batches of 100 (the first of each batch, which pays the TCP connect, is
# dropped). The mock sends its events at once, so this is the added delay before the first event.
TTFB_REQUESTS="${TTFB_REQUESTS:-600}"
: >"$OUT/ttfb.txt"
ttfb() {
  local base auth=() args=()
  base=$(target_base "$1")
  if [[ $1 == gateway || $1 == baseline ]]; then auth=(-H "Authorization: Bearer sk-bench"); fi
  if [[ $1 == limited ]]; then auth=(-H "Authorization: Bearer sk-limited"); fi
  if [[ $1 == keyed ]]; then auth=(-H "Authorization: Bearer sk-keyed"); fi
  if [[ $1 == traced* ]]; then auth=(-H "Authorization: Bearer sk-bench"); fi
  for _ in $(seq 101); do args+=(-o /dev/null "$base/v1/chat/completions"); done
  taskset -c "$LOAD_CPU" curl -s "${auth[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$OUT/stream.json" -w "$1 %{time_starttransfer} %{http_code}\n" "${args[@]}" | tail -n +2
}
if [[ " $WORKLOADS " == *" stream "* ]] && command -v curl >/dev/null; then
  for _ in $(seq $(( (TTFB_REQUESTS + 99) / 100 ))); do for target in $TARGETS; do ttfb "$target" >>"$OUT/ttfb.txt"; done; done
fi
PEAK_RSS=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")
# The Redis round trip at c=1 from the load core (p50, ms), what the limiter waits for per request.
# And the floor under the limiter's cost: one Redis round trip through the gateway's own client
# (redis-rs's ConnectionManager on one thread, on the gateway's core), CPU per call and p50; and
# the admission script's own run time inside Redis (commandstats).
REDIS_RTT=""; REDIS_FLOOR=""; REDIS_FLOOR64=""; REDIS_ADMIT=""; REDIS_ADMIT64=""; REDIS_SCRIPT_US=""
if [[ -n $REDIS_PID ]]; then
  REDIS_RTT=$(taskset -c "$LOAD_CPU" redis-benchmark -p "$REDIS_PORT" -c 1 -n 20000 -t ping_mbulk --csv 2>/dev/null |
    awk -F'","' 'NR == 2 {print $5}')
  REDIS_SCRIPT_US=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p')
  REDIS_FLOOR=$(taskset -c "$GATEWAY_CPU" "$BIN/omnigate-mock-upstream" redis-rtt --port "$REDIS_PORT" --seconds 5)
  # At c=64 the requests' round trips share the connection and its system calls, as the
  # limiter's admissions do: the floor under the c=64 rows.
  REDIS_FLOOR64=$(taskset -c "$GATEWAY_CPU" "$BIN/omnigate-mock-upstream" redis-rtt --port "$REDIS_PORT" --seconds 5 --concurrency 64)
  # And a round trip of an admission's size (a do-nothing script given the same keys and
  # arguments): what the client itself spends on the admission, at c=1 and c=64.
  REDIS_ADMIT=$(taskset -c "$GATEWAY_CPU" "$BIN/omnigate-mock-upstream" redis-rtt --port "$REDIS_PORT" --seconds 5 --admission-sized)
  REDIS_ADMIT64=$(taskset -c "$GATEWAY_CPU" "$BIN/omnigate-mock-upstream" redis-rtt --port "$REDIS_PORT" --seconds 5 --concurrency 64 --admission-sized)
fi

# The traced gateways stop first (SIGTERM: the provider flushes, and logs spans it dropped), then
# the sink says what arrived.
TRACE_SINK=""; TRACE_DROPPED=""
if [[ -n $TRACED_PID ]]; then
  kill "$TRACED_PID" "$TRACED1_PID"; wait "$TRACED_PID" "$TRACED1_PID" 2>/dev/null || true
  TRACE_SINK=$(curl -sf "http://127.0.0.1:$SINK_PORT/v1/traces")
  TRACE_DROPPED=$(for side in traced100 traced1; do
    printf '%s: %s; ' "$side" "$(grep -o 'dropped_span_count=[0-9]*' "$OUT/$side.log" | tail -1 || true)"
  done)
fi

SOAK_LOG=""
if [[ $SOAK -gt 0 ]]; then
  SOAK_LOG="$OUT/soak.txt"; : >"$SOAK_LOG"
  BODY="$OUT/chat.json" KEY=sk-bench taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${SOAK}"s -s "$LUA" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >"$OUT/soak-wrk.txt" &
  WRK=$!
  while kill -0 $WRK 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status" >>"$SOAK_LOG"; sleep 10; done
fi

python3 - "$OUT/results.jsonl" "$IDLE_RSS" "$PEAK_RSS" "$SOAK_LOG" "$OUT/ttfb.txt" "$REDIS_RTT" "$REDIS_FLOOR" "$REDIS_SCRIPT_US" "$REDIS_FLOOR64" "$REDIS_ADMIT" "$REDIS_ADMIT64" "$TRACE_SINK" "$TRACE_DROPPED" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
idle, peak, soak = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
redis_rtt, redis_floor, redis_script_us, redis_floor64 = sys.argv[6], sys.argv[7], sys.argv[8], sys.argv[9]
redis_admit, redis_admit64 = sys.argv[10], sys.argv[11]
trace_sink, trace_dropped = sys.argv[12], sys.argv[13]
sides = ("gateway", "baseline", "keyed", "limited", "traced100", "traced1", "relay")
ttfb = {side: [] for side in ("direct",) + sides}
bad = 0
for line in open(sys.argv[5]):
    side, seconds, status = line.split()
    bad += status != "200"
    ttfb[side].append(float(seconds) * 1000)
names = {"gateway": "omnigate", "relay": "bare TCP relay (FLOOR=1)", "baseline": "baseline build (BASELINE_BIN)", "limited": "limited key via Redis (LIMITER=1)", "keyed": "virtual key without limits, same process (LIMITER=1)",
         "traced100": "traces at 100 % (TRACING=1)", "traced1": "traces at 1 % (TRACING=1)"}
# With FLOOR=1 a second row per workload: the relay's figures in the omnigate columns.
print("| workload | c | direct req/s | omnigate req/s | gw/direct | added p50 / p90 / p99 ms | omnigate CPU µs/req | errors |")
print("|---|--:|--:|--:|--:|--:|--:|--:|")
keys = []
for r in rows:
    k = (r["workload"], r["c"])
    if k not in keys: keys.append(k)
for (w, c), side in ((k, side) for k in keys for side in sides):
    d = [r["r"] for r in rows if (r["workload"], r["c"], r["target"]) == (w, c, "direct")]
    g = [r["r"] for r in rows if (r["workload"], r["c"], r["target"]) == (w, c, side)]
    if not g:
        continue
    label = {"gateway": w, "relay": f"{w}, bare TCP relay", "baseline": f"{w}, baseline build", "limited": f"{w}, limited key via Redis", "keyed": f"{w}, virtual key, no limits",
             "traced100": f"{w}, traces 100 %", "traced1": f"{w}, traces 1 %"}[side]
    rps = lambda xs: st.mean(x["requests"] / x["seconds"] for x in xs)
    lat = lambda xs, p: st.mean(x[p] for x in xs)
    add = " / ".join(f"{lat(g, p) - lat(d, p):.3f}" for p in ("p50", "p90", "p99"))
    cpu = st.mean(x["cpu_ms"] * 1000 / max(x["requests"], 1) for x in g)
    errs = sum(x["errors"] + x["non2xx"] for x in g + d)
    print(f"| {label} | {c} | {rps(d):,.0f} | {rps(g):,.0f} | {rps(g) / rps(d):.2f} | {add} | {cpu:.0f} | {errs} |")
q = lambda xs, p: st.quantiles(xs, n=100)[p - 1]
for side in sides:
    d, g = ttfb["direct"], ttfb[side]
    if d and g:
        print(f"\nstreaming time to first byte, c=1, {len(g)} requests per side ({bad} not 200): "
              f"direct p50 {q(d, 50):.3f} / p99 {q(d, 99):.3f} ms, {names[side]} p50 {q(g, 50):.3f} / p99 {q(g, 99):.3f} ms, "
              f"added p50 {q(g, 50) - q(d, 50):.3f} / p99 {q(g, 99) - q(d, 99):.3f} ms")
if redis_rtt:
    print(f"\nRedis round trip at c=1 (redis-benchmark PING, p50): {float(redis_rtt):.3f} ms")
if redis_floor:
    f = json.loads(redis_floor)
    print(f"floor: one Redis round trip through the gateway's client (redis-rs ConnectionManager, one thread, "
          f"gateway core): {f['cpu_us_per_call']:.1f} µs CPU, p50 {f['p50_ms']:.3f} ms over {f['calls']} calls")
if redis_floor64:
    f = json.loads(redis_floor64)
    print(f"floor at c=64: 64 tasks sharing that connection, one PING at a time each: {f['cpu_us_per_call']:.1f} µs CPU "
          f"a round trip, p50 {f['p50_ms']:.3f} ms over {f['calls']} calls")
for c, figures in ((1, redis_admit), (64, redis_admit64)):
    if figures:
        f = json.loads(figures)
        print(f"an admission-sized round trip (do-nothing script, same keys and arguments) at c={c}: "
              f"{f['cpu_us_per_call']:.1f} µs CPU, p50 {f['p50_ms']:.3f} ms over {f['calls']} calls")
if redis_script_us:
    print(f"the limiter's scripts inside Redis (admissions and settlement batches): {float(redis_script_us):.1f} µs a call (commandstats evalsha)")
if trace_sink:
    sink = json.loads(trace_sink)
    print(f"\ntraces: the sink received {sink['exports']:,} exports, {sink['bytes'] / 1e6:,.1f} MB; spans dropped: {trace_dropped or 'none reported'}")
print(f"\nomnigate RSS: idle {idle / 1024:.1f} MB, peak {peak / 1024:.1f} MB")
if soak:
    vals = [int(v) for v in open(soak) if v.strip()]
    if vals:
        print(f"soak (chat c=64): RSS first {vals[0]/1024:.1f} MB, min {min(vals)/1024:.1f}, max {max(vals)/1024:.1f}, last {vals[-1]/1024:.1f} MB over {len(vals)} samples")
PY
echo "raw results: $OUT" >&2
