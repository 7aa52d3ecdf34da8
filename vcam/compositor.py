"""Per-frame compositing kernels: pure functions on uint8 arrays (no state, no I/O).

Conventions:

- ``frame`` and ``background`` are BGR ``uint8`` arrays of shape ``(H, W, 3)``;
  ``alpha`` is ``uint8`` ``(H, W)``, 0 = background, 255 = person.
- The blend is ``out = (a * fg + (255 - a) * bg) / 255``, rounded to the nearest level.
- Inputs that are not C-contiguous (slices, views) are copied first; pass contiguous
  arrays on the hot path to avoid that copy.
- Every function takes an optional ``out`` array (the right shape, ``uint8``, C-contiguous)
  so the caller can reuse one buffer per frame. ``out`` may be ``frame`` itself: each output
  pixel only depends on the same input pixel.

The kernels are numba ``@njit(parallel=True, cache=True)`` loops over rows. The first call in
a fresh process compiles them (seconds) or loads them from numba's cache (about half a
second): call :func:`warm_up` when the pipeline starts. ``numba.set_num_threads(n)``, called
in the thread that runs them, sets how many cores they use: on a 2-core machine that is busy
with other work (inference, another process) one thread is steadier than two, whose parallel
launch waits for a core (medians of 4-16 ms instead of about 1 ms were measured so;
``scripts/benchmark.py stages`` shows both).
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
from numba import njit, prange

log = logging.getLogger(__name__)

_JIT = {"parallel": True, "cache": True, "fastmath": True, "nogil": True}

# Largest reduction factor of the blur's working image, and the target sigma (in pixels of
# the reduced image) that the factor is chosen for.
_BLUR_MAX_FACTOR = 16
_BLUR_SIGMA_SMALL = 2.5


# ---------------------------------------------------------------------------------------------
# Kernels. Images come in as row-flattened views, (H, W*3) or (H, W*4), and each row is a 1-D
# view: with the three channels written out per pixel LLVM vectorises these loops (about four
# times faster than indexing [y, x, c]). The uint8 blend runs in uint16: a*f + (255-a)*b + 128
# <= 65153, and (v + (v >> 8)) >> 8 is round(v / 255) exactly in that range.


@njit(**_JIT)
def _blend_kernel(frame, alpha, background, out):  # pragma: no cover - compiled
    height, width = alpha.shape
    for y in prange(height):
        f_row, b_row, a_row, o_row = frame[y], background[y], alpha[y], out[y]
        for x in range(width):
            a = np.uint16(a_row[x])
            na = np.uint16(255) - a
            k = 3 * x
            for c in range(3):
                v = a * np.uint16(f_row[k + c]) + na * np.uint16(b_row[k + c]) + np.uint16(128)
                o_row[k + c] = np.uint8((v + (v >> np.uint16(8))) >> np.uint16(8))


@njit(**_JIT)
def _blend_colour_kernel(frame, alpha, colour, out):  # pragma: no cover - compiled
    height, width = alpha.shape
    for y in prange(height):
        f_row, a_row, o_row = frame[y], alpha[y], out[y]
        for x in range(width):
            a = np.uint16(a_row[x])
            na = np.uint16(255) - a
            k = 3 * x
            for c in range(3):
                v = a * np.uint16(f_row[k + c]) + na * colour[c] + np.uint16(128)
                o_row[k + c] = np.uint8((v + (v >> np.uint16(8))) >> np.uint16(8))


@njit(**_JIT)
def _to_rgba_kernel(frame, alpha, out):  # pragma: no cover - compiled
    height, width = alpha.shape
    for y in prange(height):
        f_row, a_row, o_row = frame[y], alpha[y], out[y]
        for x in range(width):
            o_row[4 * x] = f_row[3 * x]
            o_row[4 * x + 1] = f_row[3 * x + 1]
            o_row[4 * x + 2] = f_row[3 * x + 2]
            o_row[4 * x + 3] = a_row[x]


@njit(**_JIT)
def _weighted_box_sums(frame, alpha, factor, sums):  # pragma: no cover - compiled
    """``sums[i, j] = (sum w*B, sum w*G, sum w*R, sum w)`` over each ``factor`` x ``factor``
    cell (cells at the right and bottom may be partial), ``w = 256 - alpha``: 255 times
    ``1 - alpha`` plus a floor of 1, so a cell the person covers falls back to a plain blur.
    Integer sums (exact, and faster than float); ``frame`` is (H, W*3), ``sums`` is
    (ceil(H/factor), ceil(W/factor), 4) float32 (exact up to factor 16)."""
    height, width = alpha.shape
    small_h, small_w = sums.shape[0], sums.shape[1]
    for i in prange(small_h):
        # sum the cell's rows at full width first (contiguous, vectorised), then the columns
        acc = np.zeros(4 * width, np.int32)
        for y in range(i * factor, min(height, (i + 1) * factor)):
            f_row, a_row = frame[y], alpha[y]
            for x in range(width):
                w = 256 - np.int32(a_row[x])
                acc[4 * x] += w * np.int32(f_row[3 * x])
                acc[4 * x + 1] += w * np.int32(f_row[3 * x + 1])
                acc[4 * x + 2] += w * np.int32(f_row[3 * x + 2])
                acc[4 * x + 3] += w
        s_row = sums[i]
        for j in range(small_w):
            s0 = s1 = s2 = s3 = 0
            for x in range(j * factor, min(width, (j + 1) * factor)):
                s0 += acc[4 * x]
                s1 += acc[4 * x + 1]
                s2 += acc[4 * x + 2]
                s3 += acc[4 * x + 3]
            s_row[j, 0] = s0
            s_row[j, 1] = s1
            s_row[j, 2] = s2
            s_row[j, 3] = s3


@njit(**_JIT)
def _widen_rows(blurred, x0, x1, fx, wide):  # pragma: no cover - compiled
    """Normalise the blurred sums (colour / weight) and interpolate each small row to full
    width: ``wide`` is (small_h, W*3) float32."""
    width = x0.shape[0]
    for i in prange(blurred.shape[0]):
        b_row, w_row = blurred[i], wide[i]
        for x in range(width):
            c0, c1, f = x0[x], x1[x], fx[x]
            w0, w1 = b_row[c0, 3], b_row[c1, 3]
            for c in range(3):
                v0 = b_row[c0, c] / w0
                v1 = b_row[c1, c] / w1
                w_row[3 * x + c] = v0 + (v1 - v0) * f


@njit(**_JIT)
def _blend_wide_kernel(frame, alpha, wide, y0, y1, fy, out):  # pragma: no cover - compiled
    """Blend ``frame`` over the background interpolated between two ``wide`` rows per output
    row (the vertical half of the bilinear upsampling), in one pass over the frame."""
    height, width = alpha.shape
    inv = np.float32(1.0 / 255.0)
    half = np.float32(0.5)
    for y in prange(height):
        f_row, a_row, o_row = frame[y], alpha[y], out[y]
        top, bottom, f = wide[y0[y]], wide[y1[y]], fy[y]
        for x in range(width):
            a = np.float32(a_row[x]) * inv
            k = 3 * x
            for c in range(3):
                bg = top[k + c] + (bottom[k + c] - top[k + c]) * f
                v = bg + (np.float32(f_row[k + c]) - bg) * a + half
                o_row[k + c] = np.uint8(min(v, np.float32(255.0)))


# ---------------------------------------------------------------------------------------------
# Helpers


def _check_frame(frame: np.ndarray, name: str = "frame") -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{name} must be uint8 HxWx3 (BGR), got {frame.dtype} {frame.shape}")
    return np.ascontiguousarray(frame)


def _check_alpha(alpha: np.ndarray, frame: np.ndarray) -> np.ndarray:
    if alpha.dtype != np.uint8 or alpha.shape != frame.shape[:2]:
        raise ValueError(
            f"alpha must be uint8 {frame.shape[:2]} like the frame, got {alpha.dtype} {alpha.shape}"
        )
    return np.ascontiguousarray(alpha)


def _output(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.uint8)
    if out.dtype != np.uint8 or out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
    return out


def _rows(image: np.ndarray) -> np.ndarray:
    """A C-contiguous (H, W, C) image as an (H, W*C) view."""
    return image.reshape(image.shape[0], -1)


def axis_coords(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis, as ``cv2.resize(INTER_LINEAR)`` does (pixel centres
    aligned, edges clamped): for output index ``i`` the value is
    ``in[i0[i]] * (1 - f[i]) + in[i1[i]] * f[i]``. Returns ``(i0, i1, f)``."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.int32)
    i1 = np.minimum(i0 + 1, n_in - 1).astype(np.int32)
    return i0, i1, (pos - i0).astype(np.float32)


def blur_sigma(strength: float, height: int) -> float:
    """The Gaussian sigma in full-resolution pixels for a blur ``strength``.

    ``strength`` is the sigma in pixels of a 720-line frame and scales with the frame height,
    so 720p and 1080p look alike (``Settings.blur_strength`` 1..101 is this number; 25 gives
    sigma 25 px at 720p, 37.5 px at 1080p)."""
    return max(0.5, float(strength) * height / 720.0)


def blur_factor(sigma: float) -> int:
    """The reduction factor (2..16) of the blur's working image for a full-resolution ``sigma``:
    about 2.5 px of sigma per reduced pixel. Even the weakest blur runs at half resolution
    (it then comes out a little wider than asked: the box and the bilinear upsampling add to
    it)."""
    return int(min(_BLUR_MAX_FACTOR, max(2, math.floor(sigma / _BLUR_SIGMA_SMALL))))


# ---------------------------------------------------------------------------------------------
# Public functions


def blend(
    frame: np.ndarray, alpha: np.ndarray, background: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Composite ``frame`` over ``background`` (same size, BGR uint8) with ``alpha``."""
    frame = _check_frame(frame)
    background = _check_frame(background, "background")
    if background.shape != frame.shape:
        raise ValueError(f"background {background.shape} does not match frame {frame.shape}")
    alpha = _check_alpha(alpha, frame)
    result = _output(out, frame.shape)
    _blend_kernel(_rows(frame), alpha, _rows(background), _rows(result))
    return result


def blend_colour(
    frame: np.ndarray,
    alpha: np.ndarray,
    bgr: tuple[int, int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Composite ``frame`` over a solid colour given as ``(blue, green, red)`` 0..255."""
    frame = _check_frame(frame)
    alpha = _check_alpha(alpha, frame)
    b, g, r = (int(v) for v in bgr)
    if not all(0 <= v <= 255 for v in (b, g, r)):
        raise ValueError(f"colour {bgr} must have three values in 0..255")
    result = _output(out, frame.shape)
    colour = np.array([b, g, r], np.uint16)
    _blend_colour_kernel(_rows(frame), alpha, colour, _rows(result))
    return result


def blurred_background_small(
    frame: np.ndarray, alpha: np.ndarray, strength: float
) -> tuple[np.ndarray, int]:
    """The blurred background's colour and weight sums at reduced resolution.

    Returns ``(blurred, factor)``: ``blurred`` is ``(ceil(H/factor), ceil(W/factor), 4)``
    float32, channels B, G, R weighted by ``1 - alpha`` and the weight itself, box-summed over
    ``factor`` x ``factor`` cells and Gaussian-blurred (zero border). ``blurred[..., :3] /
    blurred[..., 3:]`` is the background colour with the person left out (normalised
    convolution), so the person does not bleed into the blur as a halo."""
    height, width = alpha.shape
    sigma = blur_sigma(strength, height)
    factor = blur_factor(sigma)
    small_h, small_w = -(-height // factor), -(-width // factor)
    sums = np.empty((small_h, small_w, 4), np.float32)
    _weighted_box_sums(_rows(frame), alpha, factor, sums)
    small_sigma = sigma / factor
    ksize = 2 * int(math.ceil(3.0 * small_sigma)) + 1
    blurred = cv2.GaussianBlur(
        sums, (ksize, ksize), small_sigma, small_sigma, borderType=cv2.BORDER_CONSTANT
    )
    return blurred, factor


def blend_blur(
    frame: np.ndarray, alpha: np.ndarray, strength: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Composite ``frame`` over a blurred copy of its own background.

    ``strength`` (> 0) is the Gaussian sigma in pixels of a 720-line frame, scaled to the
    frame height (see :func:`blur_sigma`). The blur runs at reduced resolution, weighted by
    ``1 - alpha`` (see :func:`blurred_background_small`); the bilinear upsampling of the small
    blurred image is fused into the final blend pass."""
    frame = _check_frame(frame)
    alpha = _check_alpha(alpha, frame)
    if not 0.0 < float(strength) < math.inf:
        raise ValueError(f"blur strength {strength} must be a positive number")
    result = _output(out, frame.shape)
    height, width = alpha.shape
    blurred, _ = blurred_background_small(frame, alpha, strength)
    y0, y1, fy = axis_coords(height, blurred.shape[0])
    x0, x1, fx = axis_coords(width, blurred.shape[1])
    wide = np.empty((blurred.shape[0], 3 * width), np.float32)
    _widen_rows(blurred, x0, x1, fx, wide)
    _blend_wide_kernel(_rows(frame), alpha, wide, y0, y1, fy, _rows(result))
    return result


def to_rgba(frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The frame with ``alpha`` as its fourth channel: ``(H, W, 4)`` BGRA uint8 (straight,
    not premultiplied), as ``cv2.imwrite`` writes a transparent PNG."""
    frame = _check_frame(frame)
    alpha = _check_alpha(alpha, frame)
    result = _output(out, (*frame.shape[:2], 4))
    _to_rgba_kernel(_rows(frame), alpha, _rows(result))
    return result


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on tiny arrays."""
    frame = np.zeros((20, 24, 3), np.uint8)
    alpha = np.full((20, 24), 128, np.uint8)
    blend(frame, alpha, frame)
    blend_colour(frame, alpha, (0, 255, 0))
    blend_blur(frame, alpha, 5.0)
    to_rgba(frame, alpha)
    log.debug("compositor kernels ready")
