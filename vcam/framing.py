"""Auto-framing: a virtual camera operator that crops and zooms the camera picture so that the
main person's head and shoulders stay framed.

1. :func:`head_of` finds the head in the main person's region of the low-resolution matte:
   walking down from its top, the head's width is the widest row seen when the depth first
   reaches 0.65 times that width, which is the head's widest part (its equator) for a head 1.3
   times as tall as wide, whatever comes below (a neck, hair down to the shoulders, shoulders
   right under the chin). The top itself is placed from the first row half as wide as the head
   (stray hairs come and go from frame to frame).
2. :func:`target_view` is where a camera operator would point: the eyes (0.45 of the head's
   height below its top) on the upper third line, at least 6% headroom, the head as tall as
   the style's share of the view, at most 2x zoom and never a view shorter than
   ``MIN_VIEW_ROWS`` camera rows (more would be a visibly blurry enlargement).
3. :class:`FramingController` moves the view there without swimming: targets inside a dead zone
   (6% of the view's size, 10% zoom) are ignored; once they stay outside it for PATIENCE, their
   mean becomes the new goal, reached by a critically damped spring (no overshoot, within 2%
   after 0.83 s, so about a second from the person moving to the view settled). At the start
   the view moves from the full frame to the person the same way.
4. :func:`crop_to_view` cuts the view out of the camera picture and of the low-resolution
   matte and enlarges both to their full size (one ``cv2.warpAffine`` each, sub-pixel, so
   slow movements are smooth), before the refiner and the compositor: the background stays a
   full, sharp picture.

Views are in camera-frame pixels: the centre (cx, cy) and the zoom; the view keeps the frame's
aspect ratio (width W / zoom, height H / zoom).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

HEAD_ASPECT = 1.3  # head height (top of the hair to the chin) per head width
EQUATOR = HEAD_ASPECT / 2  # the head's widest row lies this many head widths below its top
# ... and a row half as wide this many: 1 - sqrt(3)/2 of the half height on an ellipse
CROWN_DEPTH = EQUATOR * (1 - 3**0.5 / 2)
EYE_DEPTH = 0.45  # eyes below the head's top, as a share of the head's height
EYE_LINE = 1.0 / 3.0  # where the eyes go in the view, from its top
HEADROOM = 0.06  # at least this share of the view above the head
MIN_HEAD_SHARE = 0.2  # a "head" narrower than this share of the person's width is not one
MIN_ROW_PIXELS = 2  # low-resolution pixels a row needs to count as the person's top
MIN_VIEW_ROWS = 320  # never enlarge fewer camera rows than this to the full frame
DEAD_ZONE = 0.06  # targets within this share of the view's width/height are ignored
ZOOM_DEAD_ZONE = 0.10  # ... and within this relative zoom change
PATIENCE = 0.15  # seconds a target must stay outside the dead zone to become the goal
OMEGA = 7.0  # the spring's natural frequency (1/s): within 2% of a step after 0.83 s
LOST_AFTER = 2.0  # seconds without anybody before the view zooms back out to the full frame
MAX_STEP = 0.25  # longest time step the controller takes at once (s)


@dataclass(frozen=True)
class FramingStyle:
    """How close to frame: the head's share of the view's height, and the largest zoom."""

    head_share: float
    max_zoom: float


STYLES = {
    "gentle": FramingStyle(head_share=0.30, max_zoom=1.5),
    "tight": FramingStyle(head_share=0.42, max_zoom=2.0),
}


@dataclass(frozen=True)
class View:
    """A view into the frame: centre ``cx``, ``cy`` (frame pixels) and ``zoom`` (>= 1)."""

    cx: float
    cy: float
    zoom: float = 1.0

    def rect(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """(left, top, width, height) in frame pixels for a frame of ``size`` (width, height)."""
        width, height = size[0] / self.zoom, size[1] / self.zoom
        return self.cx - width / 2, self.cy - height / 2, width, height


def full_view(size: tuple[int, int]) -> View:
    """The whole frame of ``size`` (width, height)."""
    return View(size[0] / 2, size[1] / 2, 1.0)


def max_zoom(size: tuple[int, int], style: FramingStyle) -> float:
    """The largest zoom for a frame of ``size``: the style's, and no view under MIN_VIEW_ROWS."""
    return max(1.0, min(style.max_zoom, size[1] / MIN_VIEW_ROWS))


def clamp_view(view: View, size: tuple[int, int], most: float) -> View:
    """``view`` with its zoom in 1..``most`` and the view inside the frame."""
    zoom = min(max(view.zoom, 1.0), most)
    half_w, half_h = size[0] / zoom / 2, size[1] / zoom / 2
    cx = min(max(view.cx, half_w), size[0] - half_w)
    cy = min(max(view.cy, half_h), size[1] - half_h)
    return View(cx, cy, zoom)


@dataclass(frozen=True)
class Head:
    """The main person's head in frame pixels: ``top`` (y), centre ``cx`` and ``height``."""

    top: float
    cx: float
    height: float

    @property
    def eyes(self) -> float:
        return self.top + EYE_DEPTH * self.height


def head_of(mask: np.ndarray, size: tuple[int, int]) -> Head | None:
    """The head of the person whose low-resolution region is ``mask`` (bool or 0/1, (h, w),
    covering a frame of ``size`` (width, height)); None when there is no plausible head (no
    pixels, or only a narrow top such as a raised arm)."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    sx, sy = size[0] / cols, size[1] / rows
    counts = mask.sum(axis=1)
    filled = np.flatnonzero(counts >= MIN_ROW_PIXELS)
    if filled.size == 0:
        return None
    top = int(filled[0])
    widths = counts[top:].astype(np.float64) * sx
    widest = np.maximum.accumulate(widths)
    rows_below = (top + np.arange(widths.size) + 1) * sy  # each row's bottom, frame pixels

    def equator(crown: float) -> tuple[int, float]:
        """(rows down to the equator, head width) for a head whose top is at ``crown``."""
        reached = np.flatnonzero(rows_below - crown >= EQUATOR * widest)
        end = int(reached[0]) + 1 if reached.size else widths.size
        return end, float(widest[end - 1])

    crown = top * sy
    end, head_width = equator(crown)
    # The first rows are a few stray hairs one frame and none the next: the top is placed from
    # the first row half as wide as the head instead (CROWN_DEPTH head widths below the top on
    # a head HEAD_ASPECT times as tall as wide), and the width measured again from there.
    for _ in range(2):
        half = int(np.flatnonzero(widths >= 0.5 * head_width)[0])
        crown = max(0.0, (top + half) * sy - CROWN_DEPTH * head_width)
        end, head_width = equator(crown)
    if head_width < MIN_HEAD_SHARE * float(widths.max()):
        return None
    _, xs = np.nonzero(mask[top : top + end])
    cx = (float(xs.mean()) + 0.5) * sx
    return Head(top=crown, cx=cx, height=HEAD_ASPECT * head_width)


def target_view(head: Head, size: tuple[int, int], style: FramingStyle) -> View:
    """Where the view should be for ``head`` in a frame of ``size`` (width, height)."""
    most = max_zoom(size, style)
    zoom = min(max(size[1] * style.head_share / max(head.height, 1.0), 1.0), most)
    view_height = size[1] / zoom
    top = min(head.eyes - EYE_LINE * view_height, head.top - HEADROOM * view_height)
    return clamp_view(View(head.cx, top + view_height / 2, zoom), size, most)


def _spring(x: float, v: float, goal: float, dt: float) -> tuple[float, float]:
    """One exact step of a critically damped spring (natural frequency OMEGA) towards
    ``goal``: the new position and velocity. It never passes the goal."""
    offset = x - goal
    decay = math.exp(-OMEGA * dt)
    push = (v + OMEGA * offset) * dt
    new_offset = (offset + push) * decay
    new_v = (v - OMEGA * push) * decay
    if new_offset * offset < 0:  # would pass the goal (only when already moving past it)
        return goal, 0.0
    return goal + new_offset, new_v


class FramingController:
    """Moves the view towards the target views it is given, frame by frame, without swimming:
    a dead zone, a little patience, then a critically damped spring. ``update`` returns the
    view to show."""

    def __init__(self, size: tuple[int, int], style: FramingStyle) -> None:
        self.size = size
        self.style = style
        self.reset()

    def reset(self) -> None:
        """Back to the full frame (the view then moves to the first target like to any
        other: a camera operator finding the person)."""
        self.view = self.goal = full_view(self.size)
        self._velocity = [0.0, 0.0, 0.0]
        self._outside: list[View] = []  # the targets since they left the dead zone
        self._outside_for = 0.0  # seconds
        self._alone = 0.0  # seconds without anybody

    @property
    def settled(self) -> bool:
        """Whether the view is at its goal and at rest."""
        return self.view == self.goal and not any(self._velocity)

    def _in_dead_zone(self, target: View) -> bool:
        goal = self.goal
        width, height = self.size[0] / goal.zoom, self.size[1] / goal.zoom
        return (
            abs(target.cx - goal.cx) <= DEAD_ZONE * width
            and abs(target.cy - goal.cy) <= DEAD_ZONE * height
            and abs(math.log(target.zoom / goal.zoom)) <= ZOOM_DEAD_ZONE
        )

    def update(self, target: View | None, dt: float, present: bool = True) -> View:
        """Take this frame's ``target`` (None: no head found; ``present`` False: nobody at
        all), ``dt`` seconds after the last frame; return the view to show now."""
        dt = min(max(dt, 0.0), MAX_STEP)
        most = max_zoom(self.size, self.style)
        if target is not None:
            target = clamp_view(target, self.size, most)
        self._alone = 0.0 if present else self._alone + dt
        if target is None and self._alone >= LOST_AFTER:
            target = full_view(self.size)
        if target is None or self._in_dead_zone(target):
            self._outside.clear()
            self._outside_for = 0.0
        else:
            self._outside.append(target)
            self._outside_for += dt
            if self._outside_for >= PATIENCE or self._alone >= LOST_AFTER:
                # the mean of the targets seen meanwhile: one frame's matte is noisy
                mean = np.mean([(v.cx, v.cy, v.zoom) for v in self._outside], axis=0)
                self.goal = clamp_view(View(*(float(x) for x in mean)), self.size, most)
                self._outside.clear()
                self._outside_for = 0.0
        self.view = self._move(dt, most)
        return self.view

    def _move(self, dt: float, most: float) -> View:
        now = (self.view.cx, self.view.cy, self.view.zoom)
        goal = (self.goal.cx, self.goal.cy, self.goal.zoom)
        moved = []
        for axis, eps in enumerate((0.05, 0.05, 1e-4)):
            x, v = _spring(now[axis], self._velocity[axis], goal[axis], dt)
            if abs(x - goal[axis]) < eps and abs(v) < eps * OMEGA:
                x, v = goal[axis], 0.0  # arrived: rest exactly at the goal
            moved.append(x)
            self._velocity[axis] = v
        clamped = clamp_view(View(*moved), self.size, most)
        held = (clamped.cx, clamped.cy, clamped.zoom)
        for axis in range(3):
            if held[axis] != moved[axis]:  # held by the frame's edge: no push against it
                self._velocity[axis] = 0.0
        return clamped


def crop_to_view(image: np.ndarray, view: View, frame_size: tuple[int, int]) -> np.ndarray:
    """The ``view`` (given in a frame of ``frame_size`` (width, height)) cut out of ``image``
    and enlarged to ``image``'s own size. ``image`` covers the whole frame at any resolution:
    the camera picture (uint8 BGR) or the low-resolution matte (float32). The full view
    returns ``image`` itself."""
    if view.zoom == 1.0 and view == full_view(frame_size):
        return image
    height, width = image.shape[:2]
    left, top, _, _ = view.rect(frame_size)
    scale = 1.0 / view.zoom  # image pixels per output pixel
    kx, ky = width / frame_size[0], height / frame_size[1]
    # output pixel centre (x + 0.5) maps to image position (x + 0.5) * scale + left
    matrix = np.array(
        [
            [scale, 0.0, left * kx + 0.5 * scale - 0.5],
            [0.0, scale, top * ky + 0.5 * scale - 0.5],
        ],
        np.float64,
    )
    return cv2.warpAffine(
        image,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
