"""Reference OCR output of rapidocr for the crate's rendered test page.

Setup (pinned):
    python3.11 -m venv ~/.cache/omnigate/ref-venv-ppocr
    ~/.cache/omnigate/ref-venv-ppocr/bin/pip install rapidocr-onnxruntime==1.4.4 onnxruntime==1.20.1
Run (the crate's tests first write $TMPDIR/omnigate-ppocr-{title,paragraph}.png):
    cargo test -p omnigate-ppocr --test ocr
    ~/.cache/omnigate/ref-venv-ppocr/bin/python backends/burn/models/ppocr/testdata/reference.py
It writes testdata/reference.json: boxes, texts and scores in reading order, and an FNV-1a
hash of the page's RGB pixels so the test can tell it was made from the same image.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image
from rapidocr_onnxruntime import RapidOCR


def fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())
    engine = RapidOCR()
    images = {}
    for name in ("title", "paragraph"):
        image_path = folder / f"omnigate-ppocr-{name}.png"
        rgb = Image.open(image_path).convert("RGB")
        # Given a path, rapidocr reads the file and turns RGB into the BGR its models expect.
        result, _ = engine(str(image_path))
        lines = [
            {"bbox": [[float(x), float(y)] for x, y in box], "text": text, "score": float(score)}
            for box, text, score in (result or [])
        ]
        images[name] = {"pixels_fnv1a64": str(fnv1a64(rgb.tobytes())), "lines": lines}
        print(f"{name}: {[line['text'] for line in lines]}")
    out = Path(__file__).with_name("reference.json")
    out.write_text(
        json.dumps(
            {
                "generator": "rapidocr-onnxruntime==1.4.4, onnxruntime==1.20.1, default config",
                "images": images,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
