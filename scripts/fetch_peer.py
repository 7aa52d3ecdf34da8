#!/usr/bin/env python
"""Fetch the MediaPipe selfie-segmentation models (the evaluation peer and training teacher).

A developer-time step, never run by vcam itself: downloads the ``mediapipe==0.10.21`` wheel for
CPython 3.11 on manylinux x86_64 (the .tflite files are the same in every wheel; 0.10.21 is the
last release that carries them) with ``pip download --no-deps`` into a temporary folder and
unzips ``selfie_segmentation.tflite`` and ``selfie_segmentation_landscape.tflite`` (Apache-2.0)
into ``.cache/peers/`` (or ``$VCAM_PEER_DIR``, or ``--dest``). Idempotent: files already present
with the expected SHA-256 are kept.

    python scripts/fetch_peer.py [--dest DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vcam.evaluation.peer import MODEL_FILES, MODEL_SHA256, peer_dir  # noqa: E402

PACKAGE = "mediapipe==0.10.21"
WHEEL_TAGS = [
    "--only-binary=:all:",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--abi",
    "cp311",
    "--platform",
    "manylinux_2_28_x86_64",
]
MEMBER_DIR = "mediapipe/modules/selfie_segmentation/"
LICENSE = "Apache-2.0 (Google LLC, MediaPipe). Taken from the mediapipe==0.10.21 wheel on PyPI.\n"


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def have_all(dest: Path) -> bool:
    """True when every model file is in ``dest`` with its expected checksum."""
    return all(
        (dest / name).is_file() and sha256(dest / name) == MODEL_SHA256[name]
        for name in MODEL_FILES.values()
    )


def download_wheel(folder: Path) -> Path:
    """``pip download`` the mediapipe wheel into ``folder`` and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder)]
    result = subprocess.run(cmd + WHEEL_TAGS + [PACKAGE], capture_output=True, text=True)
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
        raise RuntimeError(f"pip download {PACKAGE} failed ({last}); check the network to PyPI")
    return wheels[0]


def extract(wheel: Path, dest: Path) -> list[Path]:
    """Unzip the selfie-segmentation models from ``wheel`` into ``dest`` and verify them."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for name in MODEL_FILES.values():
            data = zf.read(MEMBER_DIR + name)
            digest = hashlib.sha256(data).hexdigest()
            if digest != MODEL_SHA256[name]:
                raise RuntimeError(f"{name} in {wheel.name} has SHA-256 {digest}, not the expected")
            tmp = dest / (name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dest / name)
            written.append(dest / name)
    (dest / "LICENSE-mediapipe.txt").write_text(LICENSE)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help="folder (default .cache/peers)")
    parser.add_argument("--force", action="store_true", help="download even if present")
    args = parser.parse_args(argv)
    dest = args.dest or peer_dir()
    if not args.force and have_all(dest):
        print(f"peer models already in {dest}")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="vcam-peer-") as tmp:
            wheel = download_wheel(Path(tmp))
            written = extract(wheel, dest)
    except (RuntimeError, OSError, KeyError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
