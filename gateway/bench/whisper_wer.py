#!/usr/bin/env python3
"""Word error rate of the embedded Whisper on sentences spoken by espeak-ng (a robotic voice,
harder for Whisper than people; `apt-get install espeak-ng`), through the running gateway.

    cargo run --release -- serve &    # the embedded defaults
    python3 gateway/bench/whisper_wer.py [BASE_URL]    # default http://127.0.0.1:8080

Prints a markdown table (sentence, transcript, errors/words) and the total WER. Standard
library + curl + espeak-ng only."""

import json
import os
import re
import subprocess
import sys
import tempfile

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please send the quarterly report to the finance team before Friday.",
    "The weather today is sunny with a light breeze from the west.",
    "A gateway normalizes every image and audio clip before the model sees it.",
    "She bought three apples, two oranges and a loaf of bread at the market.",
]


def words(text):
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def edit_distance(ref, hyp):
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    errors = total = 0
    print("| spoken | transcribed | errors / words |\n|---|---|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, sentence in enumerate(SENTENCES):
            wav = os.path.join(tmp, f"{i}.wav")
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, sentence], check=True)
            out = subprocess.run(
                ["curl", "-sf", f"{base}/v1/audio/transcriptions", "-F", "model=whisper-tiny.en", "-F", f"file=@{wav}"],
                check=True, capture_output=True, text=True,
            ).stdout
            text = json.loads(out)["text"]
            e, n = edit_distance(words(sentence), words(text)), len(words(sentence))
            errors, total = errors + e, total + n
            print(f"| {sentence} | {text} | {e} / {n} |")
    print(f"\nWER {errors}/{total} = {errors / total:.1%}")


if __name__ == "__main__":
    main()
