#!/usr/bin/env python3
"""Closed-loop load spread over several gateways: CONCURRENCY threads, each sending chat
requests to the gateways in turn for SECONDS, on kept-alive connections. Prints one JSON line:
answers per status, and per-second counts of 200s (to see when an outage began and ended).

    spread_load.py --ports 18101,18102,18103 --key sk-og-x --concurrency 32 --seconds 30

Standard library only, so the benchmark needs nothing installed.
"""

import argparse
import http.client
import json
import threading
import time
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--model", default="mock")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    body = json.dumps(
        {"model": args.model, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    start = time.monotonic()
    end = start + args.seconds
    lock = threading.Lock()
    statuses: Counter = Counter()
    accepted_per_second: Counter = Counter()
    slowest = [0.0]

    def client(index: int) -> None:
        connections = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in ports}
        n = index
        while time.monotonic() < end:
            port = ports[n % len(ports)]
            n += 1
            sent = time.monotonic()
            try:
                conn = connections[port]
                conn.request("POST", "/v1/chat/completions", body, headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as err:
                status = type(err).__name__
                connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            took = time.monotonic() - sent
            with lock:
                statuses[status] += 1
                slowest[0] = max(slowest[0], took)
                if status == "200":
                    accepted_per_second[int(sent - start)] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        json.dumps(
            {
                "statuses": dict(statuses),
                "accepted": statuses["200"],
                "slowest_s": round(slowest[0], 3),
                "accepted_per_second": [
                    accepted_per_second[s] for s in range(int(args.seconds) + 1)
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
