#!/usr/bin/env bash
# A 224x224 JPEG through omnigate to MLServer over gRPC, against the same tensor sent straight to
# MLServer by tritonclient (PyPI), alternating request by request in one run at c=1
# (gateway/bench/oip_bench.py). The model is the tests' `image-stats` runtime (per-channel means
# of a [1, 3, 224, 224] FP32 tensor); omnigate's contract makes that tensor from the JPEG
# (ImageNet mean/std, NCHW). Reports both latencies, what omnigate adds, and its media time from
# its access log: the target is "added ≤ media time + 0.2 ms".
#
#   gateway/bench/oip.sh
#   REQUESTS=3000 gateway/bench/oip.sh
#
# Needs MLServer's venv as .ci/test makes it ($HOME/.cache/omnigate/mlserver-venv, or
# MLSERVER_VENV). Loopback only; omnigate runs one worker thread.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS="${REQUESTS:-1000}"; WARMUP="${WARMUP:-100}"
GW_PORT="${GW_PORT:-18095}"; HTTP_PORT="${HTTP_PORT:-18096}"; GRPC_PORT="${GRPC_PORT:-18097}"
METRICS_PORT="${METRICS_PORT:-18098}"
VENV="${MLSERVER_VENV:-${OMNIGATE_CACHE_DIR:-$HOME/.cache/omnigate}/mlserver-venv}"
OUT="${OUT:-$(mktemp -d /tmp/omnigate-oip.XXXXXX)}"
[ -x "$VENV/bin/mlserver" ] || { echo "no MLServer in $VENV: run .ci/test once" >&2; exit 1; }

if [ "${BUILD:-1}" != 0 ]; then  # BUILD=0: use target/release/omnigate as it is
  echo "building (release)..." >&2
  cargo build --release --quiet -p omnigate --bin omnigate
fi
BIN="$PWD/target/release/omnigate"

PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; }
trap cleanup EXIT

mkdir -p "$OUT/models/image-stats"
cp backends/testkit/mlserver/omnigate_test_models.py "$OUT/models/"
cat >"$OUT/models/settings.json" <<JSON
{"http_port": $HTTP_PORT, "grpc_port": $GRPC_PORT, "metrics_port": $METRICS_PORT,
 "host": "127.0.0.1", "parallel_workers": 0}
JSON
cat >"$OUT/models/image-stats/model-settings.json" <<JSON
{"name": "image-stats", "implementation": "omnigate_test_models.ImageStats",
 "inputs": [{"name": "pixel_values", "datatype": "FP32", "shape": [-1, 3, 224, 224]}],
 "outputs": [{"name": "channel_mean", "datatype": "FP64", "shape": [-1, 3]},
             {"name": "pixels", "datatype": "FP32", "shape": [-1, 3, 4]}]}
JSON
"$VENV/bin/mlserver" start "$OUT/models" >"$OUT/mlserver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/v2/models/image-stats/ready" >/dev/null && break; sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP_PORT/v2/models/image-stats/ready" >/dev/null \
  || { echo "MLServer did not start; see $OUT/mlserver.log" >&2; exit 1; }

cat >"$OUT/gateway.toml" <<TOML
[server]
bind = "127.0.0.1:$GW_PORT"
worker_threads = 1
log_format = "json"
[models.stats]
tasks = ["infer"]
[models.stats.image]
output = "tensor"
tensor_size = [224, 224]
[models.stats.inputs.pixel_values]
media = "image"
[[models.stats.deployments]]
kind = "oip"
url = "http://127.0.0.1:$GRPC_PORT"
protocol = "grpc"
model = "image-stats"
TOML
RUST_LOG=info "$BIN" serve --config "$OUT/gateway.toml" >"$OUT/gateway.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break; sleep 0.1; done

echo "omnigate $(git rev-parse --short HEAD), $(nproc) CPUs, logs in $OUT" >&2
"$VENV/bin/python" gateway/bench/oip_bench.py --gateway "127.0.0.1:$GW_PORT" \
  --grpc "127.0.0.1:$GRPC_PORT" --requests "$REQUESTS" --warmup "$WARMUP" --log "$OUT/gateway.log"
