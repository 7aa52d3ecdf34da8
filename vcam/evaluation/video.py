"""Model-level steadiness on real video (no labels): how much the alpha moves where the picture
does not, and how often it jumps visibly.

``flicker`` is the mean |alpha(t) - alpha(t-1)| over the pixels whose grey level changed by less
than ``STILL_LEVELS`` between the two frames (x1000 in reports); ``jump_share`` the mean share of
pixels whose alpha changed by more than ``JUMP`` (64 grey levels) between consecutive frames;
``jump_frames`` the share of frames where more than ``JUMP_FRAME_SHARE`` of the pixels did;
``uncertain`` the mean share of undecided pixels (alpha strictly between ``UNCERTAIN`` and
1 - ``UNCERTAIN``), and ``flicker_uncertain`` the part of the flicker (summed over still pixels)
that comes from pixels undecided in either frame of the pair: a model that hedges over wide
areas flickers there.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vcam.evaluation.datasets import DatasetError

Predictor = Callable[[np.ndarray], np.ndarray]
STILL_LEVELS = 2.0  # grey levels: a pixel that changed less is "still"
JUMP = 64 / 255  # a visible alpha change
JUMP_FRAME_SHARE = 0.005  # a frame "jumps" when more than 0.5% of its pixels do
UNCERTAIN = 0.05  # alpha within 0.05 of 0 or 1 counts as decided


def read_clip(path: str | Path, max_frames: int | None = None) -> list[np.ndarray]:
    """The frames of a video file as RGB uint8 arrays (the first ``max_frames``)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DatasetError(f"{path}: cannot open the video")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if len(frames) < 2:
        raise DatasetError(f"{path}: fewer than two frames")
    return frames


def list_clips(folder: str | Path) -> list[Path]:
    """The video files of a folder (``talking-heads``), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mkv"))
    if not clips:
        raise DatasetError(f"{folder}: no video files")
    return clips


def _undecided(alpha: np.ndarray) -> np.ndarray:
    return (alpha > UNCERTAIN) & (alpha < 1.0 - UNCERTAIN)


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _still(grey: np.ndarray, previous_grey: np.ndarray) -> np.ndarray:
    return np.abs(grey - previous_grey) < STILL_LEVELS


def steadiness(frames: Sequence[np.ndarray], alphas: Sequence[np.ndarray]) -> dict[str, float]:
    """Flicker on still pixels, visible jumps and undecided pixels of ``alphas`` (float,
    [0, 1]) over ``frames``."""
    changes, shares, undecided_shares = [], [], []
    still_sum = undecided_sum = 0.0
    previous_grey = previous_alpha = previous_undecided = None
    for frame, alpha in zip(frames, alphas, strict=True):
        grey = _grey(frame)
        alpha = np.asarray(alpha, np.float32)
        undecided = _undecided(alpha)
        undecided_shares.append(float(undecided.mean()))
        if previous_alpha is not None:
            delta = np.abs(alpha - previous_alpha)
            still = _still(grey, previous_grey)
            if still.any():
                changes.append(float(delta[still].mean()))
                still_sum += float(delta[still].sum())
                undecided_sum += float(delta[still & (undecided | previous_undecided)].sum())
            shares.append(float((delta > JUMP).mean()))
        previous_grey, previous_alpha, previous_undecided = grey, alpha, undecided
    shares_array = np.array(shares)
    return {
        "flicker": float(np.mean(changes)) if changes else float("nan"),
        "jump_share": float(shares_array.mean()),
        "jump_frames": float((shares_array > JUMP_FRAME_SHARE).mean()),
        "uncertain": float(np.mean(undecided_shares)),
        "flicker_uncertain": undecided_sum / still_sum if still_sum > 0 else float("nan"),
    }


def flicker_map(frames: Sequence[np.ndarray], alphas: Sequence[np.ndarray]) -> np.ndarray:
    """Where the flicker is: per pixel, |alpha(t) - alpha(t-1)| summed over the frame pairs in
    which that pixel stood still, divided by the number of pairs (float32, H x W): pixels that
    moved add nothing, as in :func:`steadiness`."""
    if len(frames) < 2:
        raise ValueError("a flicker map needs two or more frames")
    total = np.zeros(np.shape(alphas[0]), np.float32)
    previous_grey, previous_alpha = _grey(frames[0]), np.asarray(alphas[0], np.float32)
    for frame, alpha in zip(frames[1:], alphas[1:], strict=True):
        grey, alpha = _grey(frame), np.asarray(alpha, np.float32)
        total += np.abs(alpha - previous_alpha) * _still(grey, previous_grey)
        previous_grey, previous_alpha = grey, alpha
    return total / (len(frames) - 1)


def evaluate_video(
    predict_fn: Predictor, clips: Sequence[str | Path], max_frames: int | None = None
) -> dict:
    """Steadiness of ``predict_fn`` on each clip (its own row) and on average over the clips."""
    per_clip, times = {}, []
    for path in clips:
        frames = read_clip(path, max_frames)
        alphas = []
        for frame in frames:
            start = time.perf_counter()
            alphas.append(predict_fn(frame))
            times.append((time.perf_counter() - start) * 1000.0)
        per_clip[Path(path).stem] = {"frames": len(frames), **steadiness(frames, alphas)}
    keys = ("flicker", "jump_share", "jump_frames", "uncertain", "flicker_uncertain")
    mean = {k: float(np.mean([c[k] for c in per_clip.values()])) for k in keys}
    return {
        "count": sum(c["frames"] for c in per_clip.values()),
        "clips": per_clip,
        "metrics": mean,
        "ms_per_frame": statistics.median(times),
    }
