#!/usr/bin/env bash
# omnigate-media against the Python stack a model server would otherwise run (Pillow + numpy,
# librosa, PyAV), on the same input files, one core and one thread each, in alternating rounds.
#
#   gateway/media/benches/compare.sh                        # all workloads, 3 rounds
#   ROUNDS=5 ONLY="jpeg mp3" gateway/media/benches/compare.sh
#   CPU=1 gateway/media/benches/compare.sh                  # pin both sides to core 1
#   FEATURES=ffmpeg ONLY=video gateway/media/benches/compare.sh   # video decoded by FFmpeg
#   TURBO=0 gateway/media/benches/compare.sh                # skip the libjpeg-turbo build
#   WALL_CPUS=0,1 ONLY=video gateway/media/benches/compare.sh    # wall-time round on 2 cores
#
# Pictures are timed twice on the Rust side: the default build (zune-jpeg, full size) and, when
# nasm is there (TURBO=auto, the default; TURBO=1 insists), a second build with the
# `libjpeg-turbo` feature (JPEGs decoded at 1/2, 1/4 or 1/8 scale), in the same rounds. Python's
# pictures are timed plainly and with Pillow's draft() (libjpeg's own reduced-scale decode).
#
# Video also gets a wall-time round after the one-core rounds, on WALL_CPUS (default 0,1):
# PyAV with FFmpeg's own threads on against the Rust pipeline as built (its keyframe runs
# decoded on as many threads as it has cores), each run once per round on the same cores; the
# Rust side's CPU time (all threads) is printed beside its wall time, and its floor: the
# one-core rounds' time per picture x the pictures it must decode / the cores. The load average
# is printed before and after.
#
# Inputs go to target/media-bench/: the photo is written by the Rust example, the MP3 is the
# committed testdata clip, the video is made by ffmpeg (apt-get install -y ffmpeg; the video
# workload is skipped without it). The Python side lives in a venv under
# ~/.cache/omnigate/bench-venv with pinned packages from PyPI.
#
# Each round runs the Rust example, then the Python script; each prints, per workload, the
# median and minimum ms per item over its runs. The table shows, per workload, the median over
# rounds of each side's per-round medians, and python/rust (higher means Rust is faster).
# Alternating rounds spread a shared machine's noise over both sides.
set -euo pipefail
cd "$(dirname "$0")/../../.."

ROUNDS="${ROUNDS:-3}"
CPU="${CPU:-0}"
ONLY="${ONLY:-}"
TURBO="${TURBO:-auto}"
WALL_CPUS="${WALL_CPUS:-0,1}"
VENV="${VENV:-$HOME/.cache/omnigate/bench-venv}"
DIR="${DIR:-$PWD/target/media-bench}"
PY_PACKAGES=(pillow==13.0.0 numpy==2.4.6 librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0 av==18.1.0)

command -v taskset >/dev/null || { echo "needs taskset (util-linux)" >&2; exit 1; }
mkdir -p "$DIR"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import PIL, numpy, librosa, soundfile, soxr, av' 2>/dev/null; then
    echo "creating $VENV ..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "${PY_PACKAGES[@]}"
fi

echo "building (release) ..." >&2
# Each build is copied out as soon as it is made: target/release/examples/media_timings is a
# hard link to the last build's binary, so it changes with the next build (and copying over it
# would overwrite that build's file).
example() {
    local name="$1"
    shift
    cargo build --release --quiet -p omnigate-media --example media_timings "$@"
    cp "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/media_timings" "$DIR/media_timings.$name"
    echo "$DIR/media_timings.$name"
}
BIN="$(example default ${FEATURES:+--features "$FEATURES"})"
TURBO_BIN=""
if [[ "$TURBO" == 1 ]] || { [[ "$TURBO" == auto ]] && command -v nasm >/dev/null; }; then
    TURBO_BIN="$(example turbo --features "libjpeg-turbo${FEATURES:+,$FEATURES}")"
fi
wanted() {
    [[ -z "$ONLY" ]] && return 0
    for o in $ONLY; do [[ "$1" == "$o"* || "$o" == "$1"* ]] && return 0; done
    return 1
}

ONLY_ARGS=()
for o in $ONLY; do ONLY_ARGS+=(--only "$o"); done

# One thread everywhere: BLAS/OpenMP pools, numba, soxr, FFmpeg's decoder threads (set in the
# script) and Rust (single-threaded already).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1 \
    VECLIB_MAXIMUM_THREADS=1 NUMBA_NUM_THREADS=1

RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
# Writes the photo, copies the MP3 and (once, with ffmpeg) makes the video before any timing.
"$BIN" --dir "$DIR" --prepare
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS ..." >&2
    taskset -c "$CPU" "$BIN" --dir "$DIR" "${ONLY_ARGS[@]}" | grep '^RESULT' >>"$RESULTS"
    if [[ -n "$TURBO_BIN" ]] && wanted jpeg; then
        taskset -c "$CPU" "$TURBO_BIN" --dir "$DIR" --only jpeg \
            | grep '^RESULT' | sed 's/^RESULT rust /RESULT rust_turbo /' >>"$RESULTS"
    fi
    taskset -c "$CPU" "$VENV/bin/python" gateway/media/benches/compare_python.py "$DIR" "${ONLY_ARGS[@]}" \
        | grep '^RESULT' >>"$RESULTS"
done
# Wall time on several cores: what a client waits for one long video when the decoders may
# use every core they are given (FFmpeg's frame/slice threads; the Rust pipeline as built).
if wanted video && [[ -f "$DIR/video_60s_720p30_h264.mp4" ]]; then
    for round in $(seq 1 "$ROUNDS"); do
        echo "wall round $round/$ROUNDS on cores $WALL_CPUS ..." >&2
        taskset -c "$WALL_CPUS" "$BIN" --dir "$DIR" --only video_60s_720p_1fps \
            | grep -E '^RESULT rust (video_60s_720p_1fps|video_cpu) ' \
            | sed 's/ video_60s_720p_1fps / video_60s_720p_1fps_wall /; s/ video_cpu / video_cpu_wall /' \
            >>"$RESULTS"
        env -u OMP_NUM_THREADS taskset -c "$WALL_CPUS" "$VENV/bin/python" \
            gateway/media/benches/compare_python.py "$DIR" --only video_60s_720p_1fps_threads \
            | grep '^RESULT' >>"$RESULTS"
    done
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "omnigate-media vs Python, ms per item (median of $ROUNDS rounds' medians; one core: taskset -c $CPU;"
echo "wall rows: taskset -c $WALL_CPUS). Load average before: $LOAD_BEFORE; after: $LOAD_AFTER"
# nproc would honour the OMP_NUM_THREADS=1 exported above.
WALL_CORES="$(env -u OMP_NUM_THREADS taskset -c "$WALL_CPUS" nproc)"
python3 - "$RESULTS" "$WALL_CORES" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    _, side, name, median, _minimum, _runs = line.split()
    rows.setdefault(name, {}).setdefault(side, []).append(float(median))
# The Pillow draft() variant is compared with the same Rust workload, and PyAV with threads
# with the Rust pipeline on the same cores.
pairs = [
    ("jpeg_tensor_448", "jpeg_tensor_448"),
    ("jpeg_tensor_448", "jpeg_tensor_448_draft"),
    ("jpeg420_tensor_448", "jpeg420_tensor_448"),
    ("jpeg420_tensor_448", "jpeg420_tensor_448_draft"),
    ("jpeg_reencode_448", "jpeg_reencode_448"),
    ("mp3_60s_16k_mono", "mp3_60s_16k_mono"),
    ("mp3_decode_only", "mp3_decode_only"),
    ("video_60s_720p_1fps", "video_60s_720p_1fps"),
    ("video_per_picture", "video_per_picture"),
    ("video_60s_720p_1fps_wall", "video_60s_720p_1fps_threads"),
]
turbo = any("rust_turbo" in sides for sides in rows.values())
header = f"{'workload':<28}{'python':>10}{'rust':>10}{'python/rust':>13}"
if turbo:
    header += f"{'rust+turbo':>12}{'python/turbo':>14}"
print(header)
for rust_name, py_name in pairs:
    rust = rows.get(rust_name, {}).get("rust")
    py = rows.get(py_name, {}).get("python")
    if not rust or not py:
        continue
    r, p = statistics.median(rust), statistics.median(py)
    line = f"{py_name:<28}{p:>10.2f}{r:>10.2f}{p / r:>12.2f}x"
    fast = rows.get(rust_name, {}).get("rust_turbo")
    if fast:
        t = statistics.median(fast)
        line += f"{t:>12.2f}{p / t:>13.2f}x"
    print(line)


def median(name, side):
    values = rows.get(name, {}).get(side)
    return statistics.median(values) if values else None


# What the targets leave for the decoders, against what the decoders take in this run.
librosa, rust_decode, py_decode = (
    median("mp3_60s_16k_mono", "python"),
    median("mp3_decode_only", "rust"),
    median("mp3_decode_only", "python"),
)
if librosa and rust_decode and py_decode:
    print(
        f"\nMP3 at 1.2x librosa: {librosa / 1.2:.2f} ms for decoding and resampling together; "
        f"decoding alone takes {rust_decode:.2f} ms (symphonia, at 44.1 kHz) and "
        f"{py_decode:.2f} ms (libsndfile/mpg123)"
    )
pyav, rust_video, rust_picture, py_picture = (
    median("video_60s_720p_1fps", "python"),
    median("video_60s_720p_1fps", "rust"),
    median("video_per_picture", "rust"),
    median("video_per_picture", "python"),
)
if pyav and rust_video and rust_picture and py_picture:
    pictures = rust_video / rust_picture
    print(
        f"video, one core: {pictures:.0f} pictures to decode at {rust_picture:.3f} ms each "
        f"(PyAV's FFmpeg {py_picture:.3f} per reference picture)"
    )
threads, wall, cpu = (
    median("video_60s_720p_1fps_threads", "python"),
    median("video_60s_720p_1fps_wall", "rust"),
    median("video_cpu_wall", "rust"),
)
cores = int(sys.argv[2])
if threads and wall and rust_video and rust_picture:
    pictures = rust_video / rust_picture
    floor = rust_picture * pictures / cores
    print(
        f"video wall time on {cores} cores: {wall:.0f} ms ({cpu or 0:.0f} ms CPU, "
        f"{(cpu or 0) / pictures:.3f} per picture); PyAV threaded {threads:.0f} ms, so 1.5x "
        f"PyAV leaves {threads / 1.5:.0f} ms; floor (one core's {rust_picture:.3f} ms per "
        f"picture x {pictures:.0f} / {cores}): {floor:.0f} ms"
    )
PY
