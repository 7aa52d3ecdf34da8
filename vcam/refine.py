"""From the model's low-resolution alpha to the frame's matte.

The model gives a float32 alpha in [0, 1] for the frame's region at low resolution (the model
output already cropped to the frame's placement, e.g. 144x256 for a 720p frame). ``Refiner``
turns it into a uint8 alpha at frame size:

1. ``vcam.temporal.Stabiliser`` (low resolution): where the picture did not change the alpha
   does not change; where it moved the new alpha takes over (see ``vcam.temporal``).
2. Upsampling to frame size: the fast guided filter (He and Sun 2015) with the frame's grey
   as the guide, so edges follow the picture; or plain bilinear (``guided=False``).
3. ``threshold``: a smooth contrast curve around the threshold, towards a hard mask.
4. ``feather``: a blur of the final alpha, about ``feather`` pixels wide at the edge.

Steps 2 and 3 run as one numba pass over the frame.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
from numba import njit, prange

from vcam import temporal
from vcam.compositor import axis_coords
from vcam.temporal import Stabiliser

log = logging.getLogger(__name__)

_JIT = {"parallel": True, "cache": True, "fastmath": True, "nogil": True}

# Half width of the threshold's contrast curve: alpha below threshold - band becomes 0, above
# threshold + band becomes 1, smoothstep between.
THRESHOLD_BAND = 0.1
# Guided filter defaults: window radius in low-resolution pixels, and regularisation (the
# guide is grey in [0, 1]; edges with a contrast well above sqrt(eps) are followed). Robust
# Video Matting's fast guided filter uses the same grey guide with r=1, eps=1e-5; 1e-4 is a
# little more tolerant of webcam noise. Larger radii blurred the edges of real portraits.
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-4
_GREY_B, _GREY_G, _GREY_R = 0.114 / 255.0, 0.587 / 255.0, 0.299 / 255.0


# ---------------------------------------------------------------------------------------------
# Kernels (frame as an (H, W*3) row view; see vcam.compositor for why)


@njit(**_JIT)
def _grey_area_kernel(frame, row_start, col_start, out):  # pragma: no cover - compiled
    """Area-average grey in [0, 1] of the frame over each output cell's rows and columns."""
    height, width = out.shape
    full_w = col_start[width]
    cb, cg, cr = np.float32(_GREY_B), np.float32(_GREY_G), np.float32(_GREY_R)
    for i in prange(height):
        acc = np.zeros(full_w, np.float32)
        for y in range(row_start[i], row_start[i + 1]):
            f_row = frame[y]
            for x in range(full_w):
                acc[x] += (
                    cb * np.float32(f_row[3 * x])
                    + cg * np.float32(f_row[3 * x + 1])
                    + cr * np.float32(f_row[3 * x + 2])
                )
        o_row = out[i]
        rows = row_start[i + 1] - row_start[i]
        for j in range(width):
            total = np.float32(0.0)
            for x in range(col_start[j], col_start[j + 1]):
                total += acc[x]
            o_row[j] = total / np.float32(rows * (col_start[j + 1] - col_start[j]))


@njit(**_JIT)
def _picture_area_kernel(frame, row_start, col_start, out):  # pragma: no cover - compiled
    """Area averages over each output cell of the frame's grey in [0, 1] (``out[0]``) and of
    a quarter of its red-blue difference, in [-0.25, 0.25] (``out[1]``)."""
    height, width = out.shape[1], out.shape[2]
    full_w = col_start[width]
    cb, cg, cr = np.float32(_GREY_B), np.float32(_GREY_G), np.float32(_GREY_R)
    quarter = np.float32(0.25 / 255.0)
    for i in prange(height):
        grey = np.zeros(full_w, np.float32)
        chroma = np.zeros(full_w, np.float32)
        for y in range(row_start[i], row_start[i + 1]):
            f_row = frame[y]
            for x in range(full_w):
                b, g, r = np.float32(f_row[3 * x]), np.float32(f_row[3 * x + 1]), f_row[3 * x + 2]
                grey[x] += cb * b + cg * g + cr * np.float32(r)
                chroma[x] += np.float32(r) - b
        rows = row_start[i + 1] - row_start[i]
        for j in range(width):
            total_grey = np.float32(0.0)
            total_chroma = np.float32(0.0)
            for x in range(col_start[j], col_start[j + 1]):
                total_grey += grey[x]
                total_chroma += chroma[x]
            cells = np.float32(rows * (col_start[j + 1] - col_start[j]))
            out[0, i, j] = total_grey / cells
            out[1, i, j] = total_chroma * quarter / cells


@njit(**_JIT)
def _widen_kernel(small, x0, x1, fx, wide):  # pragma: no cover - compiled
    """Interpolate each row of ``small`` (h, w) to full width: ``wide`` is (h, W)."""
    width = x0.shape[0]
    for i in prange(small.shape[0]):
        s_row, w_row = small[i], wide[i]
        for x in range(width):
            v0 = s_row[x0[x]]
            w_row[x] = v0 + (s_row[x1[x]] - v0) * fx[x]


@njit(fastmath=True, cache=True, inline="always")
def _finish(q, lo, inv_span, curve):  # pragma: no cover - compiled
    """Clip to [0, 1], apply the threshold curve when ``curve``, scale to a uint8 level."""
    q = min(max(q, np.float32(0.0)), np.float32(1.0))
    if curve:
        t = min(max((q - lo) * inv_span, np.float32(0.0)), np.float32(1.0))
        q = t * t * (np.float32(3.0) - np.float32(2.0) * t)
    return np.uint8(q * np.float32(255.0) + np.float32(0.5))


@njit(**_JIT)
def _apply_guided_kernel(
    frame, wide_a, wide_b, y0, y1, fy, lo, inv_span, curve, out
):  # pragma: no cover - compiled
    """alpha = a * grey + b per pixel, a and b upsampled bilinearly (vertical half here)."""
    height, width = out.shape
    cb, cg, cr = np.float32(_GREY_B), np.float32(_GREY_G), np.float32(_GREY_R)
    for y in prange(height):
        f_row, o_row, f = frame[y], out[y], fy[y]
        a_top, a_bottom = wide_a[y0[y]], wide_a[y1[y]]
        b_top, b_bottom = wide_b[y0[y]], wide_b[y1[y]]
        for x in range(width):
            grey = (
                cb * np.float32(f_row[3 * x])
                + cg * np.float32(f_row[3 * x + 1])
                + cr * np.float32(f_row[3 * x + 2])
            )
            a = a_top[x] + (a_bottom[x] - a_top[x]) * f
            b = b_top[x] + (b_bottom[x] - b_top[x]) * f
            o_row[x] = _finish(a * grey + b, lo, inv_span, curve)


@njit(**_JIT)
def _apply_bilinear_kernel(wide, y0, y1, fy, lo, inv_span, curve, out):  # pragma: no cover
    height, width = out.shape
    for y in prange(height):
        o_row, top, bottom, f = out[y], wide[y0[y]], wide[y1[y]], fy[y]
        for x in range(width):
            o_row[x] = _finish(top[x] + (bottom[x] - top[x]) * f, lo, inv_span, curve)


# ---------------------------------------------------------------------------------------------
# Functions


def _spans(n_out: int, n_in: int) -> np.ndarray:
    """Start indices (n_out + 1 of them) of ``n_out`` near-equal spans covering ``n_in``."""
    return np.floor(np.arange(n_out + 1) * (n_in / n_out)).astype(np.int64)


def grey_guide(frame: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """The frame's grey level in [0, 1], area-averaged down to ``size_hw`` (float32); each
    output pixel averages the frame pixels of its cell. ``size_hw`` must not exceed the
    frame's size."""
    height, width = size_hw
    if height > frame.shape[0] or width > frame.shape[1]:
        raise ValueError(f"guide size {size_hw} is larger than the frame {frame.shape[:2]}")
    frame = np.ascontiguousarray(frame)
    out = np.empty((height, width), np.float32)
    rows, cols = _spans(height, frame.shape[0]), _spans(width, frame.shape[1])
    _grey_area_kernel(frame.reshape(frame.shape[0], -1), rows, cols, out)
    return out


def picture_at(frame: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """The frame area-averaged down to ``size_hw`` as float32 (2, h, w): its grey in [0, 1]
    (``grey_guide``) and a quarter of its red-blue difference (in [-0.25, 0.25]; a quarter
    keeps its noise below the grey's), which tells apart what grey alone cannot (a red jumper
    against a wall of the same brightness)."""
    height, width = size_hw
    if height > frame.shape[0] or width > frame.shape[1]:
        raise ValueError(f"picture size {size_hw} is larger than the frame {frame.shape[:2]}")
    frame = np.ascontiguousarray(frame)
    out = np.empty((2, height, width), np.float32)
    rows, cols = _spans(height, frame.shape[0]), _spans(width, frame.shape[1])
    _picture_area_kernel(frame.reshape(frame.shape[0], -1), rows, cols, out)
    return out


def guided_coefficients(
    alpha: np.ndarray, guide: np.ndarray, radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS
) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's smoothed linear coefficients ``(mean_a, mean_b)`` (float32) such
    that ``alpha ~ mean_a * guide + mean_b``, computed with box windows of ``radius``."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(image: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(alpha)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * alpha) - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a), box(b)


def _curve(threshold: float) -> tuple[np.float32, np.float32, bool]:
    if threshold <= 0.0:
        return np.float32(0.0), np.float32(1.0), False
    lo = threshold - THRESHOLD_BAND
    return np.float32(lo), np.float32(1.0 / (2 * THRESHOLD_BAND)), True


def upsample_alpha(
    alpha: np.ndarray,
    frame: np.ndarray,
    guided: bool = True,
    threshold: float = 0.0,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
    out: np.ndarray | None = None,
    guide: np.ndarray | None = None,
) -> np.ndarray:
    """``alpha`` (float32 (h, w) in [0, 1], low resolution) as uint8 at the frame's size.

    ``guided``: the fast guided filter with the frame's grey as guide, else bilinear.
    ``threshold`` > 0 applies the contrast curve (see :func:`threshold_curve`). An alpha that is
    not smaller than the frame is area-resized instead (no guide needed). ``guide``: the
    frame's :func:`grey_guide` at the alpha's size when the caller has it already."""
    height, width = frame.shape[:2]
    if out is None:
        out = np.empty((height, width), np.uint8)
    elif out.shape != (height, width) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous uint8 array of shape {(height, width)}")
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    lo, inv_span, curve = _curve(threshold)
    if alpha.shape[0] >= height or alpha.shape[1] >= width:
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
        guided = False
    y0, y1, fy = axis_coords(height, alpha.shape[0])
    x0, x1, fx = axis_coords(width, alpha.shape[1])
    if guided:
        if guide is None or guide.shape != alpha.shape:
            guide = grey_guide(frame, alpha.shape)
        mean_a, mean_b = guided_coefficients(alpha, guide, radius, eps)
        wide_a = np.empty((alpha.shape[0], width), np.float32)
        wide_b = np.empty((alpha.shape[0], width), np.float32)
        _widen_kernel(mean_a, x0, x1, fx, wide_a)
        _widen_kernel(mean_b, x0, x1, fx, wide_b)
        rows = np.ascontiguousarray(frame).reshape(height, -1)
        _apply_guided_kernel(rows, wide_a, wide_b, y0, y1, fy, lo, inv_span, curve, out)
    else:
        wide = np.empty((alpha.shape[0], width), np.float32)
        _widen_kernel(alpha, x0, x1, fx, wide)
        _apply_bilinear_kernel(wide, y0, y1, fy, lo, inv_span, curve, out)
    return out


def threshold_curve(alpha: np.ndarray, threshold: float) -> np.ndarray:
    """The threshold's contrast curve on a float alpha in [0, 1] (numpy; the refiner fuses it
    into the upsampling pass): smoothstep from ``threshold - 0.1`` to ``threshold + 0.1``, so
    alpha below the band becomes 0 and above it 1. ``threshold`` 0 leaves alpha unchanged."""
    alpha = np.clip(alpha, 0.0, 1.0)
    if threshold <= 0.0:
        return alpha
    t = np.clip((alpha - (threshold - THRESHOLD_BAND)) / (2 * THRESHOLD_BAND), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def feather_alpha(alpha: np.ndarray, feather: float) -> np.ndarray:
    """Soften the edges of a uint8 alpha by about ``feather`` pixels (a Gaussian blur with
    sigma ``feather / 2``; strong feathers are blurred at reduced resolution)."""
    if feather <= 0:
        return alpha
    sigma = feather / 2.0
    if sigma <= 2.0:
        return cv2.GaussianBlur(alpha, (0, 0), sigma)
    height, width = alpha.shape
    factor = int(min(8, sigma // 1.5))
    small = cv2.resize(
        alpha, (-(-width // factor), -(-height // factor)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


class Refiner:
    """Low-resolution model alpha to a uint8 matte at frame size, with live settings.

    ``threshold`` 0..1 (0 off), ``feather`` pixels (0 off), ``smoothing`` the temporal
    smoothing level ("off", "responsive", "balanced", "steady"; see ``vcam.temporal``),
    ``guided`` (guided filter or bilinear). Change them between frames with :meth:`configure`
    (or by setting the attributes); they apply from the next frame.

    :meth:`refine` takes the model's alpha for a frame and gives that frame's matte. Live,
    where the model may be slower than the camera, :meth:`update` takes each new alpha with
    the grey of the frame it was made from, and :meth:`render` puts the latest one on every
    frame."""

    def __init__(
        self,
        threshold: float = 0.0,
        feather: float = 0.0,
        smoothing: str = "off",
        guided: bool = True,
        radius: int = GUIDED_RADIUS,
        eps: float = GUIDED_EPS,
    ) -> None:
        self.stabiliser = Stabiliser(smoothing)
        self.threshold = 0.0
        self.feather = 0.0
        self.guided = True
        self.radius = GUIDED_RADIUS
        self.eps = GUIDED_EPS
        self._alpha: np.ndarray | None = None
        self.configure(threshold=threshold, feather=feather, guided=guided, radius=radius, eps=eps)

    @property
    def smoothing(self) -> str:
        return self.stabiliser.level

    @smoothing.setter
    def smoothing(self, value: str) -> None:
        self.stabiliser.level = value

    def configure(
        self,
        threshold: float | None = None,
        feather: float | None = None,
        smoothing: str | None = None,
        guided: bool | None = None,
        radius: int | None = None,
        eps: float | None = None,
    ) -> None:
        """Change any of the settings (None keeps it); raises ValueError for a bad value."""
        if threshold is not None:
            if not 0.0 <= float(threshold) <= 1.0:
                raise ValueError(f"threshold {threshold} must be in 0..1")
            self.threshold = float(threshold)
        if feather is not None:
            if not 0.0 <= float(feather) < math.inf:
                raise ValueError(f"feather {feather} must be 0 or more pixels")
            self.feather = float(feather)
        if smoothing is not None:
            self.smoothing = smoothing
        if guided is not None:
            self.guided = bool(guided)
        if radius is not None:
            if int(radius) < 1:
                raise ValueError(f"guided filter radius {radius} must be at least 1")
            self.radius = int(radius)
        if eps is not None:
            if not float(eps) > 0.0:
                raise ValueError(f"guided filter eps {eps} must be positive")
            self.eps = float(eps)

    def reset(self) -> None:
        """Forget the temporal history (scene cut, new source, new resolution)."""
        self.stabiliser.reset()
        self._alpha = None

    @property
    def alpha(self) -> np.ndarray | None:
        """The latest stabilised low-resolution alpha (None before the first)."""
        return self._alpha

    def needs_picture(self) -> bool:
        """Whether :meth:`update` needs the picture of the alpha's frame (smoothing is on)."""
        return self.stabiliser.level != "off"

    def update(self, alpha_lowres: np.ndarray, picture: np.ndarray | None) -> np.ndarray:
        """Take the model's new alpha (float (h, w) in [0, 1] covering the whole frame, or
        (1, 1, h, w) as the model returns it), made from a frame whose :meth:`picture` is
        ``picture`` (None is allowed when smoothing is off). Returns the stabilised
        low-resolution alpha."""
        alpha = np.asarray(alpha_lowres)
        if alpha.ndim == 4 and alpha.shape[:2] == (1, 1):
            alpha = alpha[0, 0]
        if alpha.ndim != 2 or alpha.size == 0:
            raise ValueError(f"alpha must be a 2-D array, got shape {alpha.shape}")
        alpha = np.clip(np.nan_to_num(alpha.astype(np.float32, copy=False)), 0.0, 1.0)
        self._alpha = self.stabiliser(alpha, picture)
        return self._alpha

    def render(
        self, frame: np.ndarray, out: np.ndarray | None = None, picture: np.ndarray | None = None
    ) -> np.ndarray:
        """The matte (uint8 (H, W)) of ``frame`` from the latest alpha; ``picture``: the
        frame's :meth:`picture` when the caller has it (its grey guides the upsampling)."""
        if self._alpha is None:
            raise ValueError("no alpha yet: call update() first")
        _check_frame(frame)
        matte = upsample_alpha(
            self._alpha,
            frame,
            self.guided,
            self.threshold,
            self.radius,
            self.eps,
            out=out,
            guide=None if picture is None else picture[0],
        )
        if self.feather > 0:
            feathered = feather_alpha(matte, self.feather)
            if out is not None:
                out[...] = feathered
                return out
            return feathered
        return matte

    def picture(self, frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
        """The frame at the alpha's size (``shape`` (h, w), or (1, 1, h, w)) as float32
        (c, h, w) when the guided filter or the smoothing needs it, else None: its grey
        (:func:`grey_guide`), and for the smoothing also its colour (:func:`picture_at`)."""
        if not (self.guided or self.needs_picture()):
            return None
        height, width = shape[-2:]
        if height <= frame.shape[0] and width <= frame.shape[1]:
            if self.needs_picture():
                return picture_at(frame, (height, width))
            return grey_guide(frame, (height, width))[None]
        # A frame smaller than the alpha: enlarge it (nothing is guided then).
        big = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        return picture_at(big, (height, width))

    def refine(
        self, alpha_lowres: np.ndarray, frame: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The matte for ``frame`` (uint8 (H, W)) from the model's ``alpha_lowres`` for that
        same frame: :meth:`update` then :meth:`render`, sharing the frame's picture."""
        _check_frame(frame)
        alpha = np.asarray(alpha_lowres)
        picture = self.picture(frame, alpha.shape) if alpha.ndim in (2, 4) else None
        self.update(alpha, picture)
        return self.render(frame, out=out, picture=picture)


def _check_frame(frame: np.ndarray) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 HxWx3 (BGR), got {frame.dtype} {frame.shape}")


def warm_up() -> None:
    """Compile (or load from numba's cache) the refine kernels on tiny arrays."""
    frame = np.zeros((24, 40, 3), np.uint8)
    alpha = np.full((6, 10), 0.5, np.float32)
    upsample_alpha(alpha, frame, guided=True, threshold=0.5)
    upsample_alpha(alpha, frame, guided=False, threshold=0.0)
    picture_at(frame, alpha.shape)
    temporal.warm_up()
    log.debug("refine kernels ready")
