"""A compact, self-contained data pack for training on another machine (a lent GPU machine
that cannot see ``../shared``): each set's photos (lossy WebP) and soft targets (lossless PNG),
the wallpaper and scene backgrounds, in one ``.npz`` of encoded bytes with a JSON index.

The targets (teacher bands included) round-trip exactly; the photos lose what WebP at the
chosen quality loses (about a grey level on average), on both machines alike, since training
from a pack decodes the same bytes.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from vcam.training.data import PortraitSet, save_atomically

PACK_VERSION = 1


def _encode_rgb(image: np.ndarray, quality: int) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ValueError("WebP encoding failed")
    return data.tobytes()


def _encode_alpha(alpha: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", alpha, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def _decode(data: bytes, colour: bool) -> np.ndarray:
    array = np.frombuffer(data, np.uint8)
    if colour:
        return cv2.cvtColor(cv2.imdecode(array, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return cv2.imdecode(array, cv2.IMREAD_GRAYSCALE)


class _Blob:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> list[int]:
        self.parts.append(data)
        self.size += len(data)
        return [self.size - len(data), len(data)]


def write_pack(
    path: str | Path,
    sets: list[PortraitSet],
    wallpapers: np.ndarray,
    scenes: np.ndarray,
    quality: int = 85,
    threads: int = 4,
) -> Path:
    """Write the pack; returns its path. ``wallpapers`` and ``scenes`` are RGB N,H,W,3."""
    blob = _Blob()
    index: dict = {"version": PACK_VERSION, "quality": quality, "sets": [], "groups": {}}
    with ThreadPoolExecutor(threads) as pool:
        for data in sets:
            images = list(pool.map(lambda im: _encode_rgb(im, quality), data.images))
            alphas = list(pool.map(_encode_alpha, data.alphas))
            index["sets"].append(
                {
                    "name": data.name,
                    "stems": [str(s) for s in data.stems],
                    "images": [blob.add(b) for b in images],
                    "alphas": [blob.add(b) for b in alphas],
                }
            )
        for name, group in (("wallpapers", wallpapers), ("scenes", scenes)):
            encoded = list(pool.map(lambda im: _encode_rgb(im, quality), group))
            index["groups"][name] = {
                "shape": list(group.shape[1:]),
                "items": [blob.add(b) for b in encoded],
            }
    payload = np.frombuffer(b"".join(blob.parts), np.uint8)
    header = np.frombuffer(json.dumps(index).encode(), np.uint8)
    save_atomically(path, lambda file: np.savez(file, index=header, blob=payload))
    return Path(path)


def read_pack(
    path: str | Path, threads: int = 8
) -> tuple[list[PortraitSet], np.ndarray, np.ndarray]:
    """(sets, wallpapers, scenes) decoded from a pack written by :func:`write_pack`."""
    with np.load(path, allow_pickle=False) as f:
        index = json.loads(f["index"].tobytes().decode())
        blob = f["blob"].tobytes()
    if index.get("version") != PACK_VERSION:
        raise ValueError(f"{path}: pack version {index.get('version')}, expected {PACK_VERSION}")

    def take(item: list[int]) -> bytes:
        start, length = item
        return blob[start : start + length]

    sets = []
    with ThreadPoolExecutor(threads) as pool:
        for entry in index["sets"]:
            images = list(pool.map(lambda it: _decode(take(it), True), entry["images"]))
            alphas = list(pool.map(lambda it: _decode(take(it), False), entry["alphas"]))
            sets.append(
                PortraitSet(
                    entry["name"], np.stack(images), np.stack(alphas), np.array(entry["stems"])
                )  # fmt: skip
            )
        groups = []
        for name in ("wallpapers", "scenes"):
            group = index["groups"][name]
            decoded = list(pool.map(lambda it: _decode(take(it), True), group["items"]))
            groups.append(
                np.stack(decoded) if decoded else np.zeros((0, *group["shape"]), np.uint8)
            )
    return sets, groups[0], groups[1]
