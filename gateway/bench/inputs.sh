# Sourced by the benchmarks: writes the gateway's config and the request bodies into $OUT.
# Needs OUT, GW_PORT, MOCK_PORT and BIN (the release binaries) set.
# gateway/tests/api/bench_requests.rs reads the config and message below (keep the TOML heredoc and the
# one-line msg variable) and sends the same requests once in CI.

cat >"$OUT/omnigate.toml" <<TOML
[server]
bind = "127.0.0.1:$GW_PORT"
api_keys = ["sk-bench"]
worker_threads = 1
[models.mock]
tasks = ["chat", "embeddings"]
[[models.mock.deployments]]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[models.mock-vision]
modalities = ["text", "image"]
[models.mock-vision.image]
max_side = 448
fit = "pad"
[[models.mock-vision.deployments]]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
model = "mock"
TOML

msg="Please summarize in one sentence: the quick brown fox jumps over the lazy dog near the riverbank, while the morning fog slowly lifts over the quiet village and the bakers start warming their ovens. Ok"
printf '{"model":"mock","messages":[{"role":"user","content":"%s"}]}' "$msg" >"$OUT/chat.json"
printf '{"model":"mock","stream":true,"messages":[{"role":"user","content":"%s"}]}' "$msg" >"$OUT/stream.json"
printf '{"model":"mock","input":"%s"}' "$msg" >"$OUT/embed.json"
"$BIN/omnigate-mock-upstream" jpeg 1280 960 >"$OUT/picture.jpg"
printf '{"model":"mock-vision","messages":[{"role":"user","content":[{"type":"text","text":"Describe this."},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,%s"}}]}]}' \
  "$(base64 -w0 "$OUT/picture.jpg")" >"$OUT/image.json"

# The path each workload posts to.
bench_path() {
  if [[ "$1" == embed ]]; then echo /v1/embeddings; else echo /v1/chat/completions; fi
}
