"""Fit a frame of any aspect ratio into a model's input without squashing the person.

The frame is scaled to fit inside the model size, centred, and the rest is filled by
replicating the frame's border (the training augmentation does the same). ``unfit`` maps the
model's output back onto the frame. Shared by the runtime, the evaluation and the training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Placement:
    """Where the scaled frame lies inside the model input: rows ``top:top+height``, cols
    ``left:left+width``."""

    top: int
    left: int
    height: int
    width: int


def placement(frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> Placement:
    """The centred, aspect-preserving placement of a ``frame_hw`` frame in ``input_hw``."""
    fh, fw = frame_hw
    ih, iw = input_hw
    scale = min(ih / fh, iw / fw)
    h = min(ih, max(1, round(fh * scale)))
    w = min(iw, max(1, round(fw * scale)))
    return Placement((ih - h) // 2, (iw - w) // 2, h, w)


def fit(image: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, Placement]:
    """Scale ``image`` (H,W or H,W,C) into ``input_hw`` with border-replicated padding."""
    where = placement(image.shape[:2], input_hw)
    small = cv2.resize(image, (where.width, where.height), interpolation=cv2.INTER_LINEAR)
    bottom = input_hw[0] - where.height - where.top
    right = input_hw[1] - where.width - where.left
    if where.top or bottom or where.left or right:
        small = cv2.copyMakeBorder(
            small, where.top, bottom, where.left, right, borderType=cv2.BORDER_REPLICATE
        )
    return small, where


def unfit(alpha: np.ndarray, where: Placement, frame_hw: tuple[int, int]) -> np.ndarray:
    """Crop the model output (H,W) to the frame's placement and resize it to ``frame_hw``."""
    crop = alpha[where.top : where.top + where.height, where.left : where.left + where.width]
    if crop.shape[:2] == tuple(frame_hw):
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (frame_hw[1], frame_hw[0]), interpolation=cv2.INTER_LINEAR)
