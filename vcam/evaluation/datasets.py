"""Evaluation data: image/alpha pairs on disk, read as RGB uint8 and float alpha in [0, 1].

A pair folder holds ``image/<stem>.jpg`` (or .png) and ``mask/<stem>.png`` with the same stems
(the layout of ``shared/data``). Every pair must be complete: a stem with an image and no mask,
or a mask and no image, is an error that names the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import VcamError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(VcamError):
    """An evaluation data set is missing, incomplete or unreadable (the message names the file)."""


@dataclass(frozen=True)
class Pair:
    """One evaluation image and its ground-truth alpha."""

    name: str
    image: Path
    alpha: Path


@dataclass(frozen=True)
class Clip:
    """A short video as frames; ``static[i]`` is True when frame i differs from frame i-1 only by
    sensor noise (the person and the camera did not move)."""

    name: str
    frames: tuple[Pair, ...]
    static: tuple[bool, ...] = field(default=())


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in found:
                raise DatasetError(f"two files for one stem: {found[path.stem]} and {path}")
            found[path.stem] = path
    return found


def load_pairs(folder: str | Path, image_dir: str = "image", mask_dir: str = "mask") -> list[Pair]:
    """The pairs of ``folder/image`` and ``folder/mask``, sorted by stem."""
    folder = Path(folder)
    images_at, masks_at = folder / image_dir, folder / mask_dir
    for needed in (images_at, masks_at):
        if not needed.is_dir():
            raise DatasetError(f"{needed} is not a folder: expected {image_dir}/ and {mask_dir}/")
    images = _files_by_stem(images_at, IMAGE_SUFFIXES)
    masks = _files_by_stem(masks_at, (".png",))
    for stem, path in images.items():
        if stem not in masks:
            raise DatasetError(f"image {path} has no mask {masks_at / (stem + '.png')}")
    for stem, path in masks.items():
        if stem not in images:
            raise DatasetError(f"mask {path} has no image {images_at / (stem + '.jpg')}")
    if not images:
        raise DatasetError(f"no images in {images_at}")
    return [Pair(stem, images[stem], masks[stem]) for stem in sorted(images)]


def read_rgb(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array (H, W, 3)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}: missing or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_alpha(path: Path) -> np.ndarray:
    """An 8-bit (or 16-bit) mask/alpha file as float32 in [0, 1] (H, W)."""
    alpha = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if alpha is None:
        raise DatasetError(f"cannot read mask {path}: missing or not an image")
    if alpha.ndim == 3:
        alpha = alpha[:, :, 0]
    scale = 65535.0 if alpha.dtype == np.uint16 else 255.0
    return alpha.astype(np.float32) * np.float32(1.0 / scale)


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image and float alpha of ``pair``; their sizes must agree."""
    image, alpha = read_rgb(pair.image), read_alpha(pair.alpha)
    if image.shape[:2] != alpha.shape:
        raise DatasetError(
            f"mask {pair.alpha} is {alpha.shape[1]}x{alpha.shape[0]} but image {pair.image} is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    return image, alpha
