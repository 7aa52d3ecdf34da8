"""Temporal stabilisation of the model's alpha, gated by motion in the picture.

A matting model's alpha jitters from frame to frame even where nothing moves: sensor noise
and the model's own uncertainty flip edge pixels, holes open in a sleeve for a frame and
objects behind a shoulder come and go. Averaging over frames steadies it but smears motion.
Here the picture decides instead, per pixel of the model's low-resolution alpha:

- **where the picture changed** (at the pixel or a neighbour, it moved away from what it was
  when that pixel's alpha was last taken by more than ``threshold``, the noise of a webcam),
  the new alpha takes over at once, by at most ``gain`` times the change per frame: a change
  in the picture of a few grey levels cannot flip a pixel from background to person, a clear
  one can;
- **where it did not**, the alpha does not change, except when the model says something
  clearly different (by more than ``PERSIST_CHANGE``, on the same side) for ``persist`` frames
  in a row: then the mean of what it said is taken (a correction), while a hole or an object
  that appears for a frame is not.

The picture is the frame's grey and its red-blue difference (so that a red jumper moving in
front of a wall of the same brightness counts as motion), area-averaged at the alpha's
resolution. The reference picture is kept per pixel and renewed only once the alpha has
followed, so slow motion adds up until it counts (hysteresis in time). :func:`stabilise` is a
pure function of (previous state, new alpha, picture of its frame); :class:`Stabiliser` keeps
the state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from vcam.settings import SMOOTHING_LEVELS

log = logging.getLogger(__name__)

# A still pixel's alpha is replaced only when the model's alpha differs from it by more than
# this, on the same side, for ``persist`` frames in a row.
PERSIST_CHANGE = 0.25


@dataclass(frozen=True)
class Steadiness:
    """How a level of temporal smoothing behaves.

    ``threshold``: change of the picture (grey or colour difference, 0..1, area-averaged at
    the alpha's resolution) below which a pixel counts as still. ``gain``: how far the alpha
    may move per unit of change in a frame, for a new alpha of 0 or 1 (sure); for one of 0.5
    (unsure) ``doubt`` times that, in between in proportion. ``persist``: frames a still
    pixel's model alpha must stay clearly different before it is taken."""

    threshold: float
    gain: float
    doubt: float
    persist: int


LEVELS = SMOOTHING_LEVELS
# Tuned on the talking-heads clips and synthetic motion clips (docs/benchmarks/temporal.md):
# "balanced" flickers less than MediaPipe's raw model on average and follows motion in the
# same frame; "steady" holds more, "responsive" corrects still parts sooner.
STEADINESS = {
    "responsive": Steadiness(threshold=4.0 / 255, gain=20.0, doubt=1.0, persist=15),
    "balanced": Steadiness(threshold=6.0 / 255, gain=10.0, doubt=0.5, persist=60),
    "steady": Steadiness(threshold=8.0 / 255, gain=10.0, doubt=0.3, persist=120),
}


class State(NamedTuple):
    """What the stabiliser remembers: the alpha it shows; the picture (as :func:`stabilise`
    takes it) each pixel's alpha was taken at; for a still pixel the model disagrees with,
    for how many frames in a row (the sign tells the side) and the mean of what it said."""

    alpha: np.ndarray  # float32 (h, w)
    picture: np.ndarray  # float32 (c, h, w)
    streak: np.ndarray  # int8 (h, w)
    proposal: np.ndarray  # float32 (h, w)


@njit(cache=True, fastmath=True, nogil=True)
def _stabilise_kernel(
    new,
    picture,
    alpha,
    key,
    streak,
    proposal,
    threshold,
    gain,
    doubt,
    persist,
    persist_change,
    change,
):  # pragma: no cover - compiled
    """One step in place on (alpha, key, streak, proposal); ``change`` is scratch space."""
    channels, height, width = picture.shape
    for y in range(height):
        for x in range(width):
            largest = np.float32(0.0)
            for c in range(channels):
                largest = max(largest, abs(picture[c, y, x] - key[c, y, x]))
            change[y, x] = largest
    for y in range(height):
        y0, y1 = max(y - 1, 0), min(y + 2, height)
        for x in range(width):
            x0, x1 = max(x - 1, 0), min(x + 2, width)
            motion = np.float32(0.0)
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    motion = max(motion, change[yy, xx])
            step = new[y, x] - alpha[y, x]
            taken = False
            if motion > threshold:  # the picture moved here: follow, as far as it moved
                streak[y, x] = 0
                sure = abs(np.float32(2.0) * new[y, x] - np.float32(1.0))
                cap = gain * motion * (doubt + (np.float32(1.0) - doubt) * sure)
                alpha[y, x] += min(max(step, -cap), cap)
                taken = True
            elif abs(step) > persist_change:  # still, yet the model says otherwise
                side = 1 if step > 0 else -1
                count = streak[y, x] * side
                if count <= 0:
                    count = 0
                    proposal[y, x] = new[y, x]
                else:
                    proposal[y, x] += (new[y, x] - proposal[y, x]) / np.float32(count + 1)
                count += 1
                if count >= persist:
                    alpha[y, x] = proposal[y, x]
                    taken = True
                    count = 0
                streak[y, x] = side * min(count, 127)
            else:
                streak[y, x] = 0
            if taken:
                for c in range(channels):
                    key[c, y, x] = picture[c, y, x]


def stabilise(
    state: State | None, alpha: np.ndarray, picture: np.ndarray, steadiness: Steadiness
) -> State:
    """The next state (its ``alpha`` is the stabilised alpha) after the model's ``alpha``
    (float32 (h, w) in [0, 1]) for a frame whose picture at that size is ``picture``: float32
    (c, h, w) or (h, w), such as its grey and colour difference (``vcam.refine.picture_at``).
    ``state`` None, or of another size, starts afresh from ``alpha``; it is not modified."""
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    picture = np.ascontiguousarray(picture, dtype=np.float32)
    if picture.ndim == 2:
        picture = picture[None]
    if picture.shape[1:] != alpha.shape:
        raise ValueError(f"picture {picture.shape} and alpha {alpha.shape} differ in size")
    if state is None or state.picture.shape != picture.shape:
        zeros = np.zeros(alpha.shape, np.int8)
        return State(alpha.copy(), picture.copy(), zeros, np.zeros(alpha.shape, np.float32))
    out = State(*(part.copy() for part in state))
    _stabilise_kernel(
        alpha,
        picture,
        out.alpha,
        out.picture,
        out.streak,
        out.proposal,
        np.float32(steadiness.threshold),
        np.float32(steadiness.gain),
        np.float32(steadiness.doubt),
        max(1, min(127, steadiness.persist)),
        np.float32(PERSIST_CHANGE),
        np.empty(alpha.shape, np.float32),
    )
    return out


def check_level(level: str) -> str:
    """``level`` if it is one of :data:`LEVELS`, else ValueError."""
    if level not in LEVELS:
        raise ValueError(f"temporal smoothing {level!r} must be one of {', '.join(LEVELS)}")
    return level


class Stabiliser:
    """Keeps the state of :func:`stabilise` for a stream of alphas at one ``level`` ("off",
    "responsive", "balanced" or "steady"; changeable between frames). The history resets by
    itself when the alpha's size changes; call :meth:`reset` on a new source."""

    def __init__(self, level: str = "balanced") -> None:
        self.level = level
        self._state: State | None = None

    @property
    def level(self) -> str:
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        self._level = check_level(value)

    def reset(self) -> None:
        """Forget the history: the next alpha is taken as it is."""
        self._state = None

    def __call__(self, alpha: np.ndarray, picture: np.ndarray | None) -> np.ndarray:
        """The stabilised alpha (float32, a new array) for the model's ``alpha`` and the
        picture of its frame at the alpha's size (see :func:`stabilise`; may be None when the
        level is "off")."""
        if self._level == "off":
            self._state = None
            return np.array(alpha, dtype=np.float32)
        if picture is None:
            raise ValueError("the stabiliser needs the frame's picture at the alpha's size")
        self._state = stabilise(self._state, alpha, picture, STEADINESS[self._level])
        return self._state.alpha.copy()


def warm_up() -> None:
    """Compile (or load from numba's cache) the stabiliser's kernel."""
    alpha = np.full((4, 6), 0.5, np.float32)
    picture = np.zeros((2, 4, 6), np.float32)
    state = stabilise(None, alpha, picture, STEADINESS["balanced"])
    stabilise(state, alpha, picture, STEADINESS["balanced"])
    log.debug("stabiliser kernel ready")
