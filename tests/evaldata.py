"""A tiny data folder in the layout of ../shared/data, drawn for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TRAINING_ONLY_GREEN = (0, 255, 0)  # the colour of a background training may use, never eval


def person(width: int, height: int, seed: int, touch_sides: bool) -> tuple[np.ndarray, np.ndarray]:
    """A portrait (BGR) and its 0/255 mask: a head and shoulders running off the bottom edge
    (and off both sides when ``touch_sides``), on a textured wall."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 140, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cx = width // 2
    shoulders = (width // 2 + (10 if touch_sides else -12), height // 3)
    cv2.ellipse(mask, (cx, height), shoulders, 0, 180, 360, 255, -1)
    cv2.ellipse(mask, (cx, height * 2 // 5), (width // 7, height // 6), 0, 0, 360, 255, -1)
    shirt = tuple(int(v) for v in rng.integers(30, 200, 3))
    image[mask > 0] = shirt
    face = mask.copy()
    face[height * 3 // 5 :] = 0
    image[face > 0] = (120, 150, 200)
    return image, mask


def make_data(root: Path, persons: int = 3, size: tuple[int, int] = (120, 160)) -> Path:
    """Write ``persons`` portraits into portraits-shen2016/test and a few backgrounds; returns
    ``root``. One background folder is training-only and pure green."""
    test = root / "portraits-shen2016" / "test"
    (test / "image").mkdir(parents=True)
    (test / "mask").mkdir(parents=True)
    for index in range(persons):
        image, mask = person(*size, seed=index, touch_sides=index % 2 == 0)
        cv2.imwrite(str(test / "image" / f"{index:05d}.jpg"), image)
        cv2.imwrite(str(test / "mask" / f"{index:05d}.png"), mask)
    ramp = np.linspace(0, 255, 200, dtype=np.uint8)
    walls = {
        "ukui-wallpapers/warm.jpg": np.dstack(
            [np.tile(ramp, (110, 1))] * 2 + [np.full((110, 200), 200, np.uint8)]
        ),
        "lomiri-wallpapers-20.04/cool.png": np.dstack(
            [
                np.full((150, 260), 200, np.uint8),
                np.tile(np.linspace(0, 255, 260, dtype=np.uint8), (150, 1)),
                np.full((150, 260), 60, np.uint8),
            ]
        ),
        "gnome-backgrounds/green.jpg": np.full((120, 200, 3), TRAINING_ONLY_GREEN, np.uint8),
    }
    for name, wall in walls.items():
        path = root / "backgrounds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), wall)
    (root / "backgrounds" / "ukui-wallpapers" / "COPYRIGHT.txt").write_text("test\n")
    return root
