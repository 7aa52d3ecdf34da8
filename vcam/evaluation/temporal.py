"""How steady a matte is on video, and how closely it follows motion.

:class:`TemporalMeter` takes a clip frame by frame (the frame, the matte, optionally a
reference matte) and gives:

- ``flicker``: the mean absolute matte change (alpha in 0..1, x1000) between consecutive frames
  over the pixels whose grey level changed by less than ``STILL_LEVELS`` (the picture did not
  change there, so neither should the matte), averaged over the frames;
- ``jumps`` / ``jumps_max``: the share (%) of all pixels whose matte changed by more than
  ``JUMP_LEVELS`` between two frames, mean and worst frame; ``still_jumps`` the same over the
  still pixels only (holes and objects that come and go);
- ``lag``: against the reference (the true alpha of a synthetic clip, or the same model's
  matte without smoothing), over the pixels where the picture moved (grey change of at least
  ``MOVING_LEVELS``) and the reference changed by more than ``JUMP_LEVELS``: the k in 0..3 for
  which the matte at t is closest to the reference at t - k (0: no lag); ``followed`` the share
  (%) of those pixels where the matte is within ``JUMP_LEVELS`` of the reference at t. Against
  the true alpha, only the pixels where the model without smoothing was right count, so that
  what the model misses is not taken for lag.

:func:`motion_clip` renders synthetic clips of a person who is known to move: still (only
sensor noise changes), a sway, steps (jumps, then still) and two local motions (the head
moves while the body stays; a still person and, beside them, a small figure covering 5% of
the frame moving like a waving hand), each frame with its true alpha.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

STILL_LEVELS = 2  # grey change below which a pixel counts as still
JUMP_LEVELS = 64  # a matte change larger than this is a large jump
MOVING_LEVELS = 10  # grey change from which a pixel counts as moving (lag)
MAX_LAG = 3  # frames of lag looked for
MIN_MOVING_PIXELS = 50  # fewer moving pixels in a frame: no lag sample from it
MOTIONS = ("still", "sway", "steps", "head", "hand")
HAND_AREA = 0.05  # the waving figure's share of the frame
NECK = 0.38  # the head is the top this much of the person


def grey_levels(frame: np.ndarray) -> np.ndarray:
    """A BGR uint8 frame's grey levels as int16."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int16)


class TemporalMeter:
    """Accumulates the temporal figures of one clip; see the module's docstring."""

    def __init__(self) -> None:
        self._grey: np.ndarray | None = None
        self._matte: np.ndarray | None = None
        self._references: deque[np.ndarray] = deque(maxlen=MAX_LAG + 1)
        self.frames = 0
        self._flicker: list[float] = []
        self._jumps: list[float] = []
        self._still_jumps: list[float] = []
        self._lag_error = np.zeros(MAX_LAG + 1)
        self._followed: list[float] = []

    def add(
        self,
        frame: np.ndarray,
        matte: np.ndarray,
        reference: np.ndarray | None = None,
        valid: np.ndarray | None = None,
    ) -> None:
        """The next frame (BGR uint8), its matte (uint8, frame size) and, for the lag, the
        reference matte of the same frame (uint8); ``valid``: the pixels the lag may look at
        (bool; e.g. where the model got the true alpha right, so that a model's error is not
        taken for lag)."""
        if matte.shape != frame.shape[:2] or matte.dtype != np.uint8:
            raise ValueError(f"matte {matte.shape} {matte.dtype} does not fit {frame.shape}")
        grey, matte = grey_levels(frame), matte.astype(np.int16)
        if self._grey is not None:
            moved = np.abs(grey - self._grey)
            change = np.abs(matte - self._matte)
            still = moved < STILL_LEVELS
            if still.any():
                self._flicker.append(float(change[still].mean()) / 255.0)
                self._still_jumps.append(float((change[still] > JUMP_LEVELS).mean()))
            self._jumps.append(float((change > JUMP_LEVELS).mean()))
            if reference is not None and self._references:
                self._lag_sample(moved, matte, reference.astype(np.int16), valid)
        if reference is not None:
            self._references.appendleft(reference.astype(np.int16))
        self._grey, self._matte = grey, matte
        self.frames += 1

    def _lag_sample(self, moved, matte, reference, valid) -> None:
        history = [reference, *self._references]  # reference at t, t-1, ...
        if len(history) < MAX_LAG + 1:
            return
        moving = (moved >= MOVING_LEVELS) & (np.abs(reference - history[1]) > JUMP_LEVELS)
        if valid is not None:
            moving &= valid
        if int(moving.sum()) < MIN_MOVING_PIXELS:
            return
        seen = matte[moving]
        for k in range(MAX_LAG + 1):
            self._lag_error[k] += float(np.abs(seen - history[k][moving]).mean())
        self._followed.append(float((np.abs(seen - reference[moving]) <= JUMP_LEVELS).mean()))

    def result(self) -> dict:
        """The figures (NaN where a clip gave no sample: no still pixel, no motion)."""

        def mean(values: list[float], scale: float) -> float:
            return float(np.mean(values)) * scale if values else math.nan

        return {
            "frames": self.frames,
            "flicker": mean(self._flicker, 1000.0),
            "jumps": mean(self._jumps, 100.0),
            "jumps_max": float(np.max(self._jumps)) * 100.0 if self._jumps else math.nan,
            "still_jumps": mean(self._still_jumps, 100.0),
            "lag": int(np.argmin(self._lag_error)) if self._followed else None,
            "followed": mean(self._followed, 100.0),
            "lag_samples": len(self._followed),
        }


# ---------------------------------------------------------------------------------------------
# synthetic clips of a person who moves in a known way


@dataclass(frozen=True)
class Cutout:
    """A person to place: RGB float [0, 1] and a float mask [0, 1] of the same size."""

    name: str
    rgb: np.ndarray
    mask: np.ndarray


def drawn_person(height: int = 600, width: int = 520) -> Cutout:
    """A drawn head-and-shoulders person (textured jumper, skin-toned head): the cutout used
    when no portrait photos are at hand."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width / 2
    head = ((xx - cx) / (0.2 * width)) ** 2 + ((yy - 0.3 * height) / (0.24 * height)) ** 2 < 1
    body = ((xx - cx) / (0.5 * width)) ** 2 + ((yy - 1.15 * height) / (0.6 * height)) ** 2 < 1
    mask = cv2.GaussianBlur((head | body).astype(np.float32), (0, 0), 1.0)
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:] = (0.75, 0.2, 0.2)
    rgb[..., 1] += 0.1 * np.sin(yy / 7.0)
    rgb[head] = (0.85, 0.65, 0.5)
    rgb += np.random.default_rng(3).normal(0, 0.02, rgb.shape).astype(np.float32)
    return Cutout("drawn", np.clip(rgb, 0, 1), mask)


def portrait_cutouts(data: Path, count: int) -> list[Cutout]:
    """``count`` persons cut out of ``portraits-shen2016/test`` (evenly spread), or the drawn
    person when the data is not there."""
    from vcam.evaluation.datasets import DatasetError, load_pairs
    from vcam.evaluation.hardset import SOURCE_SET, _cut_out

    try:
        pairs = load_pairs(Path(data).joinpath(*SOURCE_SET))
    except DatasetError:
        return [drawn_person()]
    picks = np.linspace(0, len(pairs) - 1, num=min(count, len(pairs))).round().astype(int)
    cutouts = []
    for index in sorted(set(picks.tolist())):
        cut = _cut_out(pairs[index])
        cutouts.append(Cutout(pairs[index].name, cut.rgb, cut.mask))
    return cutouts


def backdrops(data: Path, width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` evaluation backgrounds (RGB float) at the frame size, or a drawn room."""
    from vcam.evaluation.datasets import DatasetError
    from vcam.evaluation.hardset import _background, background_files

    rng = np.random.default_rng(7)
    try:
        files = background_files(Path(data))
    except DatasetError:
        files = []
    if not files:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        room = np.stack([0.4 + 0.2 * yy / height, 0.45 + 0.15 * xx / width, 0.5 + 0 * xx], 2)
        room[(xx // 97 + yy // 61) % 2 == 0] *= 0.8  # something with edges
        return [cv2.GaussianBlur(room, (0, 0), 1.5)]
    picks = np.linspace(0, len(files) - 1, num=min(count, len(files))).round().astype(int)
    return [_background(files[i], width, height, rng) for i in picks]


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], border: int):
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)


def _placement(cutout: Cutout, width: int, height: int) -> tuple[float, float, float]:
    """(scale, x, y): the person about 0.85 of the frame high, centred, bottom at the edge."""
    scale = 0.85 * height / cutout.mask.shape[0]
    x = width / 2 - scale * cutout.mask.shape[1] / 2
    return scale, x, height - scale * cutout.mask.shape[0]


def _shift(kind: str, t: int, fps: float, width: int) -> float:
    """The person's horizontal offset in pixels at frame ``t``."""
    if kind == "sway":
        return 0.04 * width * math.sin(2 * math.pi * t / (2.0 * fps))
    if kind == "steps":
        return 0.04 * width * ((t // max(1, round(fps / 2))) % 2)
    return 0.0


def motion_clip(
    kind: str,
    cutout: Cutout,
    background: np.ndarray,
    frames: int = 60,
    fps: float = 30.0,
    noise: float = 2.5,
    jpeg: int = 85,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames (BGR uint8) and true alphas (uint8) of a person moving as ``kind`` says in front
    of ``background`` (RGB float, frame size): "still", "sway" (4% of the width, 2 s period),
    "steps" (jumps of 4% of the width every half second), "head" (the top of the person
    sways by 2% of the width once a second, the rest stays) or "hand" (still person; a small
    copy of them covering 5% of the frame moves up and down beside them, once a second). Every
    frame gets fresh sensor noise (``noise`` grey levels) and JPEG compression."""
    if kind not in MOTIONS:
        raise ValueError(f"unknown motion {kind!r}: use one of {', '.join(MOTIONS)}")
    height, width = background.shape[:2]
    rng = np.random.default_rng(seed)
    scale, x, y = _placement(cutout, width, height)
    small = 0.0
    if kind == "hand":  # the person again, scaled to cover HAND_AREA of the frame
        small = math.sqrt(HAND_AREA * width * height / max(1.0, float(cutout.mask.sum())))
    neck = round(NECK * cutout.mask.shape[0])
    body, head = cutout.mask.copy(), cutout.mask.copy()
    body[:neck], head[neck:] = 0.0, 0.0
    for t in range(frames):
        matrix = np.array([[scale, 0, x + _shift(kind, t, fps, width)], [0, scale, y]])
        layers = [(cutout.rgb, cutout.mask, matrix)]
        if kind == "head":
            nod = 0.02 * width * math.sin(2 * math.pi * t / fps)
            layers = [
                (cutout.rgb, body, matrix),
                (cutout.rgb, head, matrix + np.array([[0, 0, nod], [0, 0, 0]])),
            ]
        if small:
            sx = 0.87 * width - small * cutout.mask.shape[1] / 2
            sy = 0.3 * height + 0.1 * height * math.sin(2 * math.pi * t / fps)
            layers.append((cutout.rgb, cutout.mask, np.array([[small, 0, sx], [0, small, sy]])))
        frame = background.copy()
        alpha = np.zeros((height, width), np.float32)
        for rgb, mask, m in layers:
            a = _warp(mask, m, (width, height), cv2.BORDER_CONSTANT)
            fg = _warp(rgb, m, (width, height), cv2.BORDER_REPLICATE)
            frame = a[..., None] * fg + (1 - a[..., None]) * frame
            alpha = np.maximum(alpha, a)
        frame = cv2.GaussianBlur(frame, (0, 0), 0.6) * 255.0
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * noise
        image = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        yield cv2.imdecode(data, cv2.IMREAD_COLOR), np.rint(alpha * 255).astype(np.uint8)
