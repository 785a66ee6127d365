"""Independent reference for omnigate-silero: onnxruntime runs silero's own ONNX graph.

Writes `reference_probs.json` beside this file: the per-chunk speech probabilities of
beckett.wav (rounded to 5 decimals) and the speech segments that silero's own
`get_speech_timestamps_from_probs` (from the wheel's utils_vad.py) draws from them.

Why the initializers are swapped: the wheel's `silero_vad_16k.safetensors` (the weights the
Rust crate loads) is the v5 checkpoint, while every ONNX/JIT file in the same wheel carries
the retrained v6 weights. The graph of `silero_vad_op18_ifless.onnx` (16 kHz branch) is the
reference *computation*; its 16 kHz weights are replaced by the safetensors tensors, so the
reference and the crate use the same numbers but share no code. For information the JSON also
records how far the stock (v6) ONNX model's probabilities are from these.

Regenerate (from the repository root, after `.ci/fetch-models`):

    python3.11 -m venv ~/.cache/omnigate/ref-venv-silero
    ~/.cache/omnigate/ref-venv-silero/bin/pip install onnxruntime==1.20.1 numpy==2.1.3 onnx==1.17.0
    ~/.cache/omnigate/ref-venv-silero/bin/python backends/burn/models/silero/testdata/reference.py

Only the standard library reads the WAV (`wave`) and the safetensors header (`json`, `struct`).
"""

import ast
import json
import os
import struct
import wave
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper

CACHE = Path(os.environ.get("OMNIGATE_CACHE_DIR", Path.home() / ".cache" / "omnigate"))
SILERO = CACHE / "models/pypi/silero-vad/6.2.3/silero_vad"
BECKETT = CACHE / "models/pypi/useful-moonshine-onnx/20251121/moonshine_onnx/assets/beckett.wav"
OUT = Path(__file__).with_name("reference_probs.json")

CHUNK = 512
CONTEXT = 64
RATE = 16000

# safetensors name -> initializer of the op18 graph's 16 kHz branch.
ONNX_NAMES = {
    "stft_conv.weight": "model.stft.forward_basis_buffer",
    "conv1.weight": "model.encoder.0.reparam_conv.weight",
    "conv1.bias": "model.encoder.0.reparam_conv.bias",
    "conv2.weight": "model.encoder.1.reparam_conv.weight",
    "conv2.bias": "model.encoder.1.reparam_conv.bias",
    "conv3.weight": "model.encoder.2.reparam_conv.weight",
    "conv3.bias": "model.encoder.2.reparam_conv.bias",
    "conv4.weight": "model.encoder.3.reparam_conv.weight",
    "conv4.bias": "model.encoder.3.reparam_conv.bias",
    "lstm_cell.weight_ih": "model.decoder.rnn.weight_ih",
    "lstm_cell.weight_hh": "model.decoder.rnn.weight_hh",
    "lstm_cell.bias_ih": "model.decoder.rnn.bias_ih",
    "lstm_cell.bias_hh": "model.decoder.rnn.bias_hh",
    "final_conv.weight": "model.decoder.decoder.2.weight",
    "final_conv.bias": "model.decoder.decoder.2.bias",
}


def read_safetensors(path):
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[base + start : base + end], dtype="<f4").reshape(info["shape"])
    return tensors


def read_wav(path):
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2, "expected 16-bit mono"
        assert wav.getframerate() == RATE, wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def session(model):
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def with_safetensors_weights(model, weights):
    by_name = {init.name: init for init in model.graph.initializer}
    for st_name, onnx_name in ONNX_NAMES.items():
        old = by_name[onnx_name]
        new = weights[st_name].reshape(numpy_helper.to_array(old).shape)
        old.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(new), onnx_name))
    return model


def probabilities(sess, audio):
    """Same chunking as silero's OnnxWrapper.audio_forward: zero-pad the tail, carry context."""
    padded = np.pad(audio, (0, (-len(audio)) % CHUNK))
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, CONTEXT), dtype=np.float32)
    probs = []
    for start in range(0, len(padded), CHUNK):
        x = np.concatenate([context, padded[None, start : start + CHUNK]], axis=1)
        out, state = sess.run(None, {"input": x, "state": state, "sr": np.array(RATE, dtype=np.int64)})
        context = x[:, -CONTEXT:]
        probs.append(float(out[0, 0]))
    return probs


def silero_timestamps_function():
    """get_speech_timestamps_from_probs, lifted verbatim from the wheel (utils_vad imports torch)."""
    source = (SILERO / "utils_vad.py").read_text()
    tree = ast.parse(source)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_speech_timestamps_from_probs")
    namespace = {"List": list, "make_visualization": None}
    exec(compile(ast.Module(body=[func], type_ignores=[]), "utils_vad.py", "exec"), namespace)
    return namespace["get_speech_timestamps_from_probs"]


def main():
    audio = read_wav(BECKETT)
    weights = read_safetensors(SILERO / "data/silero_vad_16k.safetensors")
    graph = SILERO / "data/silero_vad_op18_ifless.onnx"
    probs = probabilities(session(with_safetensors_weights(onnx.load(graph), weights)), audio)
    stock = probabilities(session(onnx.load(graph)), audio)
    timestamps = silero_timestamps_function()
    segments = timestamps(probs, audio_length_samples=len(audio))
    stock_segments = timestamps(stock, audio_length_samples=len(audio))
    result = {
        "source": "testdata/reference.py: onnxruntime %s, silero_vad_op18_ifless.onnx graph with "
        "silero_vad_16k.safetensors weights (silero-vad 6.2.3)" % onnxruntime.__version__,
        "audio": "useful-moonshine-onnx 20251121 moonshine_onnx/assets/beckett.wav",
        "sample_rate": RATE,
        "total_samples": len(audio),
        "probs": [round(p, 5) for p in probs],
        "segments_samples": [[s["start"], s["end"]] for s in segments],
        "stock_v6_onnx_info": {
            "max_abs_prob_difference": round(max(abs(a - b) for a, b in zip(probs, stock)), 5),
            "segments_samples": [[s["start"], s["end"]] for s in stock_segments],
        },
    }
    OUT.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"{len(probs)} chunks, segments {result['segments_samples']}, v6 info {result['stock_v6_onnx_info']}")


if __name__ == "__main__":
    main()
