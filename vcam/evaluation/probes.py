"""Probes for shortcuts a matting model can learn instead of the person.

- Blur probe: IoU on real photos unchanged, with the background blurred, with the person
  blurred, and with the background sharpened (Gaussian sigma 4 px at the photo's size, mixed in
  through the ground-truth mask feathered by sigma 2; sharpening = 2 x image - blurred). A model
  that reads "blurry or plain = background" gains on the second and loses on the third and fourth.
- Shift probe: on real video frames, the mean alpha change when the frame is shifted by 1 or 3
  pixels (the alpha shifted back, an 8-pixel margin left out) or re-saved as JPEG at quality 80:
  what a model does with the next frame of a still camera.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from vcam.evaluation.datasets import Pair, read_pair
from vcam.evaluation.metrics import iou

Predictor = Callable[[np.ndarray], np.ndarray]
BLUR_SIGMA = 4.0
FEATHER_SIGMA = 2.0
BLUR_CASES = ("none", "background_blurred", "person_blurred", "background_sharpened")
SHIFT_CASES = ("shift_1px", "shift_3px", "jpeg_80")
MARGIN = 8


def manipulate(image: np.ndarray, alpha: np.ndarray, case: str) -> np.ndarray:
    """``image`` (RGB uint8) with one probe manipulation through the feathered true ``alpha``."""
    if case == "none":
        return image
    source = image.astype(np.float32)
    blurred = cv2.GaussianBlur(source, (0, 0), BLUR_SIGMA)
    weight = cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), FEATHER_SIGMA)[..., None]
    if case == "background_blurred":
        out = weight * source + (1 - weight) * blurred
    elif case == "person_blurred":
        out = weight * blurred + (1 - weight) * source
    elif case == "background_sharpened":
        out = weight * source + (1 - weight) * (2 * source - blurred)
    else:
        raise ValueError(f"unknown blur probe {case!r}: use one of {BLUR_CASES}")
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def blur_probe(predict_fn: Predictor, pairs: Sequence[Pair]) -> dict[str, float]:
    """Mean IoU for each case of :data:`BLUR_CASES` over ``pairs``, and each case's change
    from ``none``."""
    ious: dict[str, list[float]] = {case: [] for case in BLUR_CASES}
    for pair in pairs:
        image, gt = read_pair(pair)
        for case in BLUR_CASES:
            ious[case].append(iou(predict_fn(manipulate(image, gt, case)), gt))
    result = {case: float(np.mean(values)) for case, values in ious.items()}
    for case in BLUR_CASES[1:]:
        result[f"{case}_change"] = result[case] - result["none"]
    return result


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def shift_probe(predict_fn: Predictor, frames: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean absolute alpha change for each case of :data:`SHIFT_CASES` over ``frames``."""
    changes: dict[str, list[float]] = {case: [] for case in SHIFT_CASES}
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    for frame in frames:
        base = np.asarray(predict_fn(frame), np.float32)
        for case, pixels in (("shift_1px", 1), ("shift_3px", 3)):
            moved = np.asarray(predict_fn(_shift(frame, pixels, pixels)), np.float32)
            back = _shift(moved, -pixels, -pixels)
            changes[case].append(float(np.abs(back - base)[inner].mean()))
        again = np.asarray(predict_fn(_jpeg(frame, 80)), np.float32)
        changes["jpeg_80"].append(float(np.abs(again - base)[inner].mean()))
    return {case: float(np.mean(values)) for case, values in changes.items()}


def probe_frames(clips: Sequence[np.ndarray], every: int = 5, first: int = 100) -> list:
    """Every ``every``-th of the first ``first`` frames of each clip (lists of frames)."""
    return [frame for frames in clips for frame in list(frames)[:first:every]]
