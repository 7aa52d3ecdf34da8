"""Synthetic but realistic-looking test frames: a textured room and a head-and-shoulders
person with a known alpha (used by the compositor, refine and backgrounds tests)."""

from __future__ import annotations

import cv2
import numpy as np


def person_alpha(height: int, width: int, soft: float = 1.5) -> np.ndarray:
    """A float64 alpha in [0, 1]: a head (ellipse) over shoulders (a wider ellipse cut by the
    bottom edge), centred, with an edge ``soft`` pixels wide."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cx = width / 2
    head = ((xx - cx) / (0.12 * width)) ** 2 + ((yy - 0.38 * height) / (0.2 * height)) ** 2
    body = ((xx - cx) / (0.3 * width)) ** 2 + ((yy - 1.05 * height) / (0.45 * height)) ** 2
    # signed distance-like value: <0 inside; scaled to roughly pixels near the edge
    inside = np.minimum((np.sqrt(head) - 1.0) * 0.12 * width, (np.sqrt(body) - 1.0) * 0.3 * width)
    return np.clip(0.5 - inside / max(soft, 1e-6), 0.0, 1.0)


def room(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 'room': a warm vertical gradient, a few blurred shapes and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 90 + 60 * yy / height
    img[..., 1] = 120 + 40 * xx / width
    img[..., 2] = 170 - 50 * yy / height
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.2) * min(height, width)
        colour = rng.uniform(30, 230, 3)
        mask = (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r).astype(np.float32)
        img = img * (1 - mask[..., None]) + colour * mask[..., None]
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def person_scene(
    height: int, width: int, seed: int = 0, soft: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, alpha_float, background): a textured person composited over :func:`room`."""
    rng = np.random.default_rng(seed + 1)
    background = room(height, width, seed)
    alpha = person_alpha(height, width, soft)
    person = np.empty((height, width, 3), np.float32)
    person[...] = (60, 80, 200)  # a red jumper in BGR
    yy = np.arange(height, dtype=np.float32)[:, None]
    person[..., 1] += 30 * np.sin(yy / 9.0)
    person += rng.normal(0, 6, person.shape)
    frame = alpha[..., None] * person + (1 - alpha[..., None]) * background
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), alpha, background
