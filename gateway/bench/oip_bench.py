"""One 224x224 JPEG through omnigate to MLServer over gRPC, against the same tensor sent straight
to MLServer by tritonclient's gRPC client, alternating request by request in one run (c=1).

Prints the latency of each path (p50/p90/p99), the difference of the medians (what omnigate
adds), and, from omnigate's JSON access log, its media time (fetch, decode, resize, normalize)
and its whole overhead per request. Run by gateway/bench/oip.sh with MLServer's venv (numpy,
tritonclient, Pillow)."""

import argparse
import base64
import http.client
import io
import json
import statistics
import time

import numpy as np
import tritonclient.grpc as grpcclient
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def picture() -> bytes:
    """A 224x224 photo-like JPEG (smooth gradients plus seeded noise), quality 90."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:224, 0:224]
    rgb = np.stack([x * 255 / 224, y * 255 / 224, (x + y) * 128 / 224], axis=2)
    rgb = np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    return out.getvalue()


def tensor(jpeg: bytes) -> np.ndarray:
    """What the contract makes of it: [1, 3, 224, 224] FP32, (x / 255 - mean) / std."""
    rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)
    return ((rgb / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


def quantiles(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return statistics.median(s), pick(0.90), pick(0.99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    jpeg = picture()
    body = json.dumps({"inputs": [{"name": "pixel_values", "media":
        "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}]}).encode()
    gateway = http.client.HTTPConnection(args.gateway)
    headers = {"content-type": "application/json"}

    def via_gateway() -> float:
        start = time.perf_counter()
        gateway.request("POST", "/v2/models/stats/infer", body, headers)
        response = gateway.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, answer
        return elapsed

    client = grpcclient.InferenceServerClient(args.grpc)
    data = tensor(jpeg)
    inputs = [grpcclient.InferInput("pixel_values", list(data.shape), "FP32")]
    inputs[0].set_data_from_numpy(data)

    def hop() -> float:
        # The bare round trip to omnigate from this client: what any HTTP hop costs it.
        start = time.perf_counter()
        gateway.request("GET", "/health")
        response = gateway.getresponse()
        response.read()
        return time.perf_counter() - start

    def direct() -> float:
        start = time.perf_counter()
        client.infer("image-stats", inputs)
        return time.perf_counter() - start

    for _ in range(args.warmup):
        via_gateway()
        direct()
    with open(args.log) as log:
        skip = sum(1 for _ in log)
    through, straight, hops = [], [], []
    for _ in range(args.requests):
        through.append(via_gateway() * 1000)
        straight.append(direct() * 1000)
        hops.append(hop() * 1000)

    media, overhead, upstream = [], [], []
    time.sleep(0.5)
    with open(args.log) as log:
        for line in list(log)[skip:]:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            fields = event.get("fields", {})
            if event.get("target") == "omnigate::access" and fields.get("route") == "/v2/models/{model}/infer":
                media.append(fields["media_ms"])
                overhead.append(fields["overhead_ms"])
                upstream.append(fields["upstream_ms"])

    g, d = quantiles(through), quantiles(straight)
    m, o, u = quantiles(media), quantiles(overhead), quantiles(upstream)
    print(f"requests per path: {args.requests} (after {args.warmup} warm-up), JPEG {len(jpeg)} bytes")
    print(f"through omnigate   p50/p90/p99 ms: {g[0]:.3f} / {g[1]:.3f} / {g[2]:.3f}")
    print(f"straight (triton)  p50/p90/p99 ms: {d[0]:.3f} / {d[1]:.3f} / {d[2]:.3f}")
    h = quantiles(hops)
    print(f"GET /health (hop)  p50/p90/p99 ms: {h[0]:.3f} / {h[1]:.3f} / {h[2]:.3f}")
    print(f"omnigate media     p50/p90/p99 ms: {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}  ({len(media)} log lines)")
    print(f"omnigate overhead  p50/p90/p99 ms: {o[0]:.3f} / {o[1]:.3f} / {o[2]:.3f}")
    print(f"omnigate upstream  p50/p90/p99 ms: {u[0]:.3f} / {u[1]:.3f} / {u[2]:.3f}")
    # The upstream's own time varies by milliseconds from one request to the next; pairing each
    # request through omnigate with the direct one sent right after it cancels slow drifts.
    paired = statistics.median(t - s for t, s in zip(through, straight))
    print(f"added, p50 through - p50 straight: {g[0] - d[0]:.3f} ms; median of paired differences: "
          f"{paired:.3f} ms")
    beyond = paired - m[0]
    print(f"paired added beyond the media time: {beyond:.3f} ms "
          f"({'within' if beyond <= 0.2 else 'OVER'} the 0.2 ms budget); inside omnigate, "
          f"overhead - media p50: {o[0] - m[0]:.3f} ms; paired added beyond media and the bare "
          f"hop: {beyond - h[0]:.3f} ms")


if __name__ == "__main__":
    main()
