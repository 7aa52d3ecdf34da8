"""A tiny data folder laid out like ../shared/data, made from synthetic person scenes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scenes import person_scene, room


def make_data_folder(
    root: Path,
    sets: dict[str, int] | None = None,
    split: str = "train",
    size_hw: tuple[int, int] = (160, 120),
    backgrounds: int = 3,
) -> Path:
    """Write ``<set>/<split>/image/*.jpg`` + ``mask/*.png`` and ``backgrounds/<pkg>/*.jpg``."""
    sets = sets or {"portraits-shen2016": 6, "fullbody-ccp": 4}
    h, w = size_hw
    for s, (name, count) in enumerate(sets.items()):
        for folder in ("image", "mask"):
            (root / name / split / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            frame, alpha, _ = person_scene(h, w, seed=100 * s + i)
            stem = f"{i:05d}"
            cv2.imwrite(str(root / name / split / "image" / f"{stem}.jpg"), frame)
            mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
            cv2.imwrite(str(root / name / split / "mask" / f"{stem}.png"), mask)
    for package in ("train-walls", "ukui-wallpapers"):
        (root / "backgrounds" / package).mkdir(parents=True, exist_ok=True)
        for i in range(backgrounds):
            path = root / "backgrounds" / package / f"bg{i}.jpg"
            cv2.imwrite(str(path), room(90, 160, seed=50 + i))
    return root
