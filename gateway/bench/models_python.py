"""The Python reference side of gateway/bench/models.sh: the same inputs, the same weights,
timed the way the Rust examples time themselves.

  models_python.py minilm MODEL_DIR SENTENCES_FILE THREADS
  models_python.py ocr IMAGE THREADS
  models_python.py whisper WAV CT2_MODEL_DIR THREADS RUNS

Each prints the same `key=value` lines as its Rust counterpart.
"""

import itertools
import sys
import time

MEASURE_MINILM_S = 3.0
MEASURE_OCR_S = 10.0


def minilm(model_dir: str, sentences_file: str, threads: int) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    sentences = open(sentences_file, encoding="utf-8").read().splitlines()
    print(f"sentence-transformers on torch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch_size in (1, 8, 32):
        batch = list(itertools.islice(itertools.cycle(sentences), batch_size))
        model.encode(batch, batch_size=batch_size, normalize_embeddings=True)
        embedded = 0
        started = time.perf_counter()
        while time.perf_counter() - started < MEASURE_MINILM_S:
            embedded += len(model.encode(batch, batch_size=batch_size, normalize_embeddings=True))
        elapsed = time.perf_counter() - started
        batches = embedded // batch_size
        print(
            f"batch={batch_size} sentences_per_second={embedded / elapsed:.1f} "
            f"ms_per_batch={elapsed * 1e3 / batches:.2f} batches={batches}"
        )


def ocr(image_path: str, threads: int) -> None:
    import cv2
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    image = cv2.imread(image_path)
    result, _ = engine(image)
    print("read", repr(" / ".join(line[1] for line in result or [])))
    images = 0
    started = time.perf_counter()
    while time.perf_counter() - started < MEASURE_OCR_S or images < 3:
        engine(image)
        images += 1
    elapsed = time.perf_counter() - started
    print(f"{images} images in {elapsed:.2f} s ({elapsed * 1e3 / images:.0f} ms each)")
    print(f"images_per_second={images / elapsed:.3f}")


def whisper(wav: str, model_dir: str, threads: int, runs: int) -> None:
    import numpy as np
    import wave
    from faster_whisper import WhisperModel

    with wave.open(wav) as f:
        assert f.getsampwidth() == 2 and f.getframerate() == 16000
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
        audio = pcm.reshape(-1, f.getnchannels()).mean(axis=1).astype(np.float32) / 32768.0
    audio_seconds = len(audio) / 16000
    # float32 is the like-for-like reference (omnigate computes in f32); int8 is what
    # faster-whisper users run on CPUs for speed.
    for compute_type in ("float32", "int8"):
        model = WhisperModel(
            model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads
        )
        best = float("inf")
        for _ in range(max(runs, 1)):
            started = time.perf_counter()
            # Greedy like omnigate; the generator decodes only when consumed.
            segments, _ = model.transcribe(audio, beam_size=1, language="en", vad_filter=False)
            text = " ".join(segment.text.strip() for segment in segments)
            seconds = time.perf_counter() - started
            print(f"{compute_type} {seconds:.3f} s: {text}")
            best = min(best, seconds)
        print(
            f"compute_type={compute_type} best_seconds={best:.3f} "
            f"audio_seconds={audio_seconds:.2f} rtf={best / audio_seconds:.4f}"
        )

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "minilm":
        minilm(args[0], args[1], int(args[2]))
    elif command == "ocr":
        ocr(args[0], int(args[1]))
    elif command == "whisper":
        whisper(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit(f"unknown command {command!r}")
