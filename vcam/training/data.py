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
    """Soft alpha target (uint8): the binary mask, softened by the teacher's alpha (or, without a
    teacher, a blurred mask) within ``band`` pixels of the edge.

    The teacher is trusted fully at the edge and not at all ``band`` pixels away, so the target
    fades into the mask at both band edges (no steps). It is trusted only where it agrees with
    the mask: at most 0.5 on the background side, at least 0.5 on the person side. A teacher
    whose profile across an edge is monotone gives a monotone target.
    """
    hard = (mask > 127).astype(np.uint8)
    if teacher_alpha is None:
        soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), band / 3.0)
    else:
        soft = teacher_alpha.astype(np.float32)
    # Distance of each pixel to the nearest pixel of the other side (1 next to the edge).
    inside = cv2.distanceTransform(hard, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - hard, cv2.DIST_L2, 5)
    distance = np.where(hard > 0, inside, outside)
    ramp = np.clip((distance - 1.0) / max(band, 1), 0.0, 1.0)
    trust = 0.5 * (1.0 + np.cos(np.pi * ramp))
    target = np.where(
        hard > 0,
        1.0 - trust * np.clip(1.0 - soft, 0.0, 0.5),
        trust * np.clip(soft, 0.0, 0.5),
    )
    return np.clip(target * 255.0 + 0.5, 0, 255).astype(np.uint8)


def cut_sides(alphas: np.ndarray, min_share: float = 0.02) -> np.ndarray:
    """Which sides of each photo cut the person (N,H,W uint8 targets -> N,4 bool: left, right,
    top, bottom): the person covers at least ``min_share`` of that border."""
    fg = alphas > 127
    borders = (fg[:, :, 0], fg[:, :, -1], fg[:, 0, :], fg[:, -1, :])
    return np.stack([b.mean(axis=1) >= min_share for b in borders], axis=1)


def _largest_free_rectangle(
    free: np.ndarray, aspect_range: tuple[float, float]
) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the largest all-True rectangle of ``free`` whose
    width/height lies in ``aspect_range``, or None. Brute force over row ranges (small grids)."""
    rows, cols = free.shape
    best, best_area = None, 0
    for top in range(rows):
        run = np.ones(cols, bool)
        for bottom in range(top, rows):
            run &= free[bottom]
            if not run.any():
                break
            height = bottom - top + 1
            # Longest run of True columns.
            padded = np.concatenate([[False], run, [False]]).astype(np.int8)
            edges = np.flatnonzero(np.diff(padded))
            starts, ends = edges[0::2], edges[1::2]
            lengths = ends - starts
            k = int(np.argmax(lengths))
            width = min(int(lengths[k]), int(aspect_range[1] * height))
            if width / height < aspect_range[0]:
                continue
            if width * height > best_area:
                best_area = width * height
                best = (top, int(starts[k]), height, width)
    return best


def scene_crop(
    image: np.ndarray,
    mask: np.ndarray,
    size_hw: tuple[int, int],
    margin: float = 0.04,
    min_side: int = 160,
    aspect_range: tuple[float, float] = (0.6, 2.0),
) -> np.ndarray | None:
    """A person-free crop of a training photo (the largest rectangle at least ``margin`` of the
    photo's size away from the mask), cover-resized to ``size_hw``; None when no rectangle of at
    least ``min_side`` pixels a side exists. Real rooms, streets and furniture as backgrounds."""
    h, w = mask.shape
    cell = 8
    grid_h, grid_w = h // cell, w // cell
    person = (mask[: grid_h * cell, : grid_w * cell] > 0).reshape(grid_h, cell, grid_w, cell)
    person = person.any(axis=(1, 3)).astype(np.uint8)
    reach = max(1, round(margin * max(h, w) / cell))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    free = cv2.dilate(person, kernel) == 0
    found = _largest_free_rectangle(free, aspect_range)
    if found is None:
        return None
    top, left, height, width = (v * cell for v in found)
    if min(height, width) < min_side:
        return None
    out_h, out_w = size_hw
    scale = max(out_h / height, out_w / width)
    crop_h, crop_w = min(height, round(out_h / scale)), min(width, round(out_w / scale))
    top += (height - crop_h) // 2
    left += (width - crop_w) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (out_w, out_h), interpolation=interpolation)


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


def build_scenes(
    split_dirs: Sequence[str | Path], size_hw: tuple[int, int], val_fraction: float = 0.0
) -> np.ndarray:
    """Person-free crops (:func:`scene_crop`) of every training photo in ``split_dirs`` that has
    one, validation photos left out: RGB uint8 N,H,W,3."""
    crops = []
    for split in split_dirs:
        for pair in list_pairs(split):
            if val_fraction and is_validation(pair.name, val_fraction):
                continue
            image, mask = read_pair(pair)
            crop = scene_crop(image, mask, size_hw)
            if crop is not None:
                crops.append(crop)
    if not crops:
        return np.zeros((0, *size_hw, 3), np.uint8)
    return np.stack(crops)


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
