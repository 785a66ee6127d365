#!/usr/bin/env python3
"""The Python reference for omnigate-media's pipelines, timed per item.

Runs what a Python model server would do for the same inputs as `examples/media_timings.rs`
and prints `RESULT python <workload> <median ms> <min ms> <runs>` lines in the same format.
Run it through `compare.sh`, which pins both sides to one core and one thread.

    compare_python.py DIR [--only PREFIX]...

Workloads (DIR holds the inputs the Rust side wrote):
  jpeg_tensor_448        Pillow decode, BICUBIC centre-crop resize to 448x448 (one resize with
                         a box, the cheapest correct way), numpy to a normalized f32 CHW array.
  jpeg_tensor_448_draft  The same with Image.draft() first (libjpeg DCT-domain downscale), a
                         trick most model servers do not use; shown for honesty.
  jpeg420_tensor_448     jpeg_tensor_448 on the same photo saved with 4:2:0 chroma (typical of
                         camera and phone JPEGs; the first photo is 4:4:4).
  jpeg420_tensor_448_draft  The same with Image.draft().
  jpeg_reencode_448      The same resize, re-encoded as JPEG quality 90, 4:4:4 (as Rust does).
  mp3_60s_16k_mono       librosa.load(sr=16000, mono=True) (libsndfile/mpg123 decode, soxr_hq).
  video_60s_720p_1fps    PyAV, one decoding thread: decode every frame in order and keep the one
                         on screen at each whole second, as rgb24 numpy arrays (what Hugging
                         Face's read_video_pyav does).
  video_60s_720p_1fps_threads  The same with FFmpeg's threads on (thread_type="AUTO", one
                         thread per core it may use): the wall-time baseline, run by compare.sh
                         on several cores.

And the floors under the sound and video workloads, what the decoders alone cost:
  mp3_decode_only        soundfile.read of the MP3 as f32 (libsndfile/mpg123), librosa's decode
                         step, nothing resampled.
  video_per_picture      PyAV (its own FFmpeg build), one thread, skip_frame="NONREF": only the
                         pictures other pictures refer to are decoded, as the Rust pipeline does;
                         ms per picture decoded.
"""

import io
import os
import statistics
import sys
import time

import av
import librosa
import numpy as np
import soundfile
from PIL import Image

PHOTO = "photo_1280x960_q90.jpg"
PHOTO_420 = "photo_1280x960_q90_420.jpg"
MP3 = "speechlike_60s_mono_44k_32k.mp3"
VIDEO = "video_60s_720p30_h264.mp4"
SIZE = 448
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def timed(name, warmup, runs, fn, per=1):
    """Prints the RESULT line of `fn`'s runs, each divided by `per` (items per run)."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - start) * 1e3 / per)
    print(f"RESULT python {name} {statistics.median(ms):.3f} {min(ms):.3f} {runs}", flush=True)


def centre_box(width, height):
    """The centred square crop box, as the Rust side's FitMode::Crop computes it."""
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)


def resized(data, draft):
    im = Image.open(io.BytesIO(data))
    if draft:
        # Lets libjpeg decode at 1/2, 1/4 or 1/8 scale while staying >= the requested size.
        im.draft("RGB", (SIZE * im.width // min(im.size), SIZE * im.height // min(im.size)))
    im = im.convert("RGB")
    return im.resize((SIZE, SIZE), Image.BICUBIC, box=centre_box(*im.size))


def to_tensor(data, draft=False):
    x = np.asarray(resized(data, draft), dtype=np.float32)
    x = (x * (1.0 / 255.0) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def reencode(data):
    out = io.BytesIO()
    # 4:4:4 like the Rust side's re-encoder (Pillow's default would be 4:2:0).
    resized(data, False).save(out, "JPEG", quality=90, subsampling=0)
    return out.getvalue()


def load_mp3(data):
    samples, rate = librosa.load(io.BytesIO(data), sr=16000, mono=True)
    assert rate == 16000 and samples.dtype == np.float32
    return samples


def decode_mp3(data):
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 44100 and samples.dtype == np.float32
    return samples


def decode_reference_pictures(data):
    """Decodes only the pictures other pictures refer to; returns how many were decoded."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        stream.codec_context.skip_frame = "NONREF"
        return sum(1 for _ in container.decode(stream))


def sample_video(data, fps=1.0, threads=False):
    frames = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = len(os.sched_getaffinity(0))
        else:
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
        next_t = 0.0
        previous = None
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            # The picture on screen at next_t is the last one that started at or before it.
            while previous is not None and t > next_t + 1e-9:
                frames.append(previous.to_ndarray(format="rgb24"))
                next_t += 1.0 / fps
            previous = frame
        duration = float(stream.duration * stream.time_base) if stream.duration else t
        while previous is not None and next_t < duration:
            frames.append(previous.to_ndarray(format="rgb24"))
            next_t += 1.0 / fps
    return frames


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    folder, only = args[0], []
    rest = args[1:]
    while rest:
        if rest[0] == "--only" and len(rest) > 1:
            only.append(rest[1])
            rest = rest[2:]
        else:
            sys.exit(f"unknown argument {rest[0]!r}")

    def wanted(name):
        return not only or any(name.startswith(o) for o in only)

    def read(name):
        with open(os.path.join(folder, name), "rb") as f:
            return f.read()

    if wanted("jpeg_tensor_448") or wanted("jpeg_reencode_448"):
        photo = read(PHOTO)
        tensor = to_tensor(photo)
        assert tensor.shape == (3, SIZE, SIZE) and tensor.dtype == np.float32
    if wanted("jpeg_tensor_448"):
        timed("jpeg_tensor_448", 5, 40, lambda: to_tensor(photo))
        timed("jpeg_tensor_448_draft", 5, 40, lambda: to_tensor(photo, draft=True))
    if wanted("jpeg420_tensor_448"):
        photo_420 = read(PHOTO_420)
        timed("jpeg420_tensor_448", 5, 40, lambda: to_tensor(photo_420))
        timed("jpeg420_tensor_448_draft", 5, 40, lambda: to_tensor(photo_420, draft=True))
    if wanted("jpeg_reencode_448"):
        timed("jpeg_reencode_448", 5, 40, lambda: reencode(photo))
    if wanted("mp3_60s_16k_mono"):
        mp3 = read(MP3)
        timed("mp3_60s_16k_mono", 2, 15, lambda: load_mp3(mp3))
    if wanted("mp3_decode_only"):
        mp3 = read(MP3)
        timed("mp3_decode_only", 2, 15, lambda: decode_mp3(mp3))
    if "video_60s_720p_1fps_threads" in only:
        path = os.path.join(folder, VIDEO)
        if os.path.exists(path):
            video = read(VIDEO)
            timed("video_60s_720p_1fps_threads", 1, 5, lambda: sample_video(video, threads=True))
    elif wanted("video_60s_720p_1fps"):
        path = os.path.join(folder, VIDEO)
        if not os.path.exists(path):
            print(f"skipping video_60s_720p_1fps: {path} is missing", file=sys.stderr)
        else:
            video = read(VIDEO)
            count = len(sample_video(video))
            print(f"python video: {count} frames", file=sys.stderr)
            timed("video_60s_720p_1fps", 1, 5, lambda: sample_video(video))
            pictures = decode_reference_pictures(video)
            print(f"python video: {pictures} reference pictures", file=sys.stderr)
            timed("video_per_picture", 1, 5, lambda: decode_reference_pictures(video), pictures)


if __name__ == "__main__":
    main()
