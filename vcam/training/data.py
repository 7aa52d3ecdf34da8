"""Training data: image/mask pairs on disk, soft edge targets, and a compact in-memory cache.

Layout (as ``../shared/data``): ``<set>/<split>/image/<stem>.jpg`` and
``<set>/<split>/mask/<stem>.png``. The cache holds each pair resized to a fixed size per set
(RGB uint8 + soft target uint8), so training decodes nothing after start-up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Backgrounds the evaluation's composite set uses; training must never see them.
EVAL_ONLY_BACKGROUNDS = ("ukui-wallpapers", "lomiri-wallpapers-20.04")


class DataError(ValueError):
    """A data folder is missing, empty or has an image without its mask (or the reverse)."""


def list_pairs(split_dir: str | Path) -> list[tuple[Path, Path]]:
    """``(image, mask)`` paths of a split folder, matched by stem; names any unmatched file."""
    split_dir = Path(split_dir)
    image_dir, mask_dir = split_dir / "image", split_dir / "mask"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found (expected <set>/<split>/image and mask)")
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    for stem in sorted(set(images) - set(masks)):
        raise DataError(f"{images[stem]}: no mask with the same stem in {mask_dir}")
    for stem in sorted(set(masks) - set(images)):
        raise DataError(f"{masks[stem]}: no image with the same stem in {image_dir}")
    if not images:
        raise DataError(f"{image_dir}: no images")
    return [(images[s], masks[s]) for s in sorted(images)]


def read_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and uint8 mask (0..255) of one pair, checked to match in size."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{image_path}: cannot read the image")
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DataError(f"{mask_path}: cannot read the mask")
    if mask.shape != image.shape[:2]:
        raise DataError(
            f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mask


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
    for i, (image_path, mask_path) in enumerate(pairs):
        image, mask = read_pair(image_path, mask_path)
        teacher_alpha = teacher(image) if teacher is not None else None
        # The band is measured at the original resolution, then everything is resized once.
        target = soft_target(mask, teacher_alpha, band)
        images[i] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        alphas[i] = cv2.resize(target, (w, h), interpolation=cv2.INTER_AREA)
    stems = np.array([p[0].stem for p in pairs])
    return PortraitSet(name or Path(split_dir).parent.name, images, alphas, stems)


def save_set(data: PortraitSet, path: str | Path) -> None:
    """Write a set to an uncompressed ``.npz`` (fast to load)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, images=data.images, alphas=data.alphas, stems=data.stems, name=data.name)
    tmp.replace(path)


def load_set(path: str | Path) -> PortraitSet:
    """Read a set written by :func:`save_set`."""
    with np.load(path, allow_pickle=False) as f:
        return PortraitSet(str(f["name"]), f["images"], f["alphas"], f["stems"])


def list_backgrounds(backgrounds_dir: str | Path, exclude: Sequence[str] = EVAL_ONLY_BACKGROUNDS):
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
            raise DataError(f"{path}: cannot read the background")
        ih, iw = image.shape[:2]
        scale = max(h / ih, w / iw)
        rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
        image = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
        top, left = (rh - h) // 2, (rw - w) // 2
        out[i] = cv2.cvtColor(image[top : top + h, left : left + w], cv2.COLOR_BGR2RGB)
    return out
