"""Training data: image/mask pairs on disk, soft edge targets, and a compact in-memory cache.

Layout (as ``../shared/data``): ``<set>/<split>/image/<stem>.jpg`` and
``<set>/<split>/mask/<stem>.png``. The cache holds each pair resized to a fixed size per set
(RGB uint8 + soft target uint8), so training decodes nothing after start-up.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from vcam.evaluation.datasets import IMAGE_SUFFIXES, DatasetError, Pair, load_pairs
from vcam.evaluation.datasets import read_pair as read_evaluation_pair
from vcam.evaluation.hardset import EVAL_BACKGROUND_SETS

log = logging.getLogger(__name__)


def list_pairs(split_dir: str | Path) -> list[Pair]:
    """The image/mask pairs of a split folder (the evaluation's loader: it names any unmatched
    file)."""
    return load_pairs(split_dir)


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and uint8 mask (0..255) of one pair, checked to match in size."""
    image, alpha = read_evaluation_pair(pair)
    return image, np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def soft_target(
    mask: np.ndarray, teacher_alpha: np.ndarray | None = None, band: int = 5
) -> np.ndarray:
    """Soft alpha target (uint8): the binary mask, with the teacher's alpha (or, without a
    teacher, a slightly blurred mask) inside a band of ``band`` pixels on each side of the edge."""
    hard = (mask > 127).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    in_band = cv2.dilate(hard, kernel) != cv2.erode(hard, kernel)
    if teacher_alpha is None:
        soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), band / 3.0)
    else:
        soft = teacher_alpha.astype(np.float32)
    target = hard.astype(np.float32)
    target[in_band] = soft[in_band]
    return np.clip(target * 255.0 + 0.5, 0, 255).astype(np.uint8)


def is_validation(stem: str, fraction: float) -> bool:
    """Deterministic hold-out of a fraction of a training split, by a hash of the stem."""
    digest = hashlib.sha1(stem.encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32 < fraction


@dataclass
class PortraitSet:
    """One data set in memory: RGB images N,H,W,3 and soft targets N,H,W (uint8)."""

    name: str
    images: np.ndarray
    alphas: np.ndarray
    stems: np.ndarray

    def __len__(self) -> int:
        return len(self.stems)

    def subset(self, keep: np.ndarray) -> PortraitSet:
        return PortraitSet(self.name, self.images[keep], self.alphas[keep], self.stems[keep])

    def split(self, fraction: float) -> tuple[PortraitSet, PortraitSet]:
        """(train, validation) parts, the validation part chosen by :func:`is_validation`."""
        val = np.array([is_validation(str(s), fraction) for s in self.stems], dtype=bool)
        return self.subset(~val), self.subset(val)


Teacher = Callable[[np.ndarray], np.ndarray]


def build_set(
    split_dir: str | Path,
    size_hw: tuple[int, int],
    teacher: Teacher | None = None,
    band: int = 5,
    name: str | None = None,
) -> PortraitSet:
    """Read a split folder into memory at ``size_hw`` with soft targets (teacher in the band)."""
    pairs = list_pairs(split_dir)
    h, w = size_hw
    images = np.empty((len(pairs), h, w, 3), np.uint8)
    alphas = np.empty((len(pairs), h, w), np.uint8)
    for i, pair in enumerate(pairs):
        image, mask = read_pair(pair)
        teacher_alpha = teacher(image) if teacher is not None else None
        # The band is measured at the original resolution, then everything is resized once.
        target = soft_target(mask, teacher_alpha, band)
        images[i] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        alphas[i] = cv2.resize(target, (w, h), interpolation=cv2.INTER_AREA)
    stems = np.array([p.name for p in pairs])
    return PortraitSet(name or Path(split_dir).parent.name, images, alphas, stems)


def save_atomically(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Create ``path`` through ``write(file)`` on a temporary file, then rename it: a reader
    sees the whole file or none. The temporary name is the process's own (DDP ranks may build
    the same cache at the same time)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as file:
        write(file)
    os.replace(tmp, path)


def save_set(data: PortraitSet, path: str | Path) -> None:
    """Write a set to an uncompressed ``.npz`` (fast to load)."""
    save_atomically(
        path,
        lambda file: np.savez(
            file, images=data.images, alphas=data.alphas, stems=data.stems, name=data.name
        ),
    )


def load_set(path: str | Path) -> PortraitSet:
    """Read a set written by :func:`save_set`."""
    with np.load(path, allow_pickle=False) as f:
        return PortraitSet(str(f["name"]), f["images"], f["alphas"], f["stems"])


def list_backgrounds(backgrounds_dir: str | Path, exclude: Sequence[str] = EVAL_BACKGROUND_SETS):
    """Background image paths, leaving out the packages kept for evaluation."""
    root = Path(backgrounds_dir)
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(part in exclude for part in p.parts)
    )


def build_backgrounds(paths: Sequence[Path], size_hw: tuple[int, int]) -> np.ndarray:
    """Backgrounds as RGB uint8 N,H,W,3, each cover-cropped to ``size_hw``."""
    h, w = size_hw
    out = np.empty((len(paths), h, w, 3), np.uint8)
    for i, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"{path}: cannot read the background")
        ih, iw = image.shape[:2]
        scale = max(h / ih, w / iw)
        rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
        image = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
        top, left = (rh - h) // 2, (rw - w) // 2
        out[i] = cv2.cvtColor(image[top : top + h, left : left + w], cv2.COLOR_BGR2RGB)
    return out
