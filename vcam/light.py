"""Light correction of the person: lift an underexposed or colour-cast person towards a
natural look, leaving the background alone.

1. :func:`person_statistics` measures the person from the matte-weighted pixels (every 4th
   pixel of every 4th row) of the top 40% of the person's rows, the head and shoulders, as a
   photographer exposes for the face (a dark suit or a red jumper is no reason to correct):
   mean blue, green, red and luma, and the luma's spread.
2. :class:`LightCorrector` smooths those statistics over seconds (an exponential average with a
   2 s time constant, so the picture never pumps when the person moves or a hand passes) and
   turns them into a :class:`ToneCurve` with :func:`correction_curve`.
3. :func:`apply_curve` applies the curve to the person only: ``out = frame + alpha * (curve(frame)
   - frame)``. The background pixels (alpha 0) are left exactly as they were, so a blurred
   background made from the frame keeps its own light.

What counts as natural was measured the same way (the top 40% of the rows under the mask) on
the 1,341 training portraits of portraits-shen2016: 92% of them have a mean luma of 0.27 or
more (the median is 0.44), 99% a luma spread (standard deviation) of 0.11 or more, and 98%
blue/luma, green/luma and red/luma ratios inside the bands below (each its 1st to 99th
percentile). A person inside all of them is left unchanged. A darker one, or a colour ratio
outside its band, is brought back inside: as far inside as it was outside, never past the
natural median (the further off, the surer it is a bad light and not a dark jumper or skin); a
flatter one is stretched. Per channel the lift is at most 2x at black, so the darkest pictures
are lifted less than asked (noise would show).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

log = logging.getLogger(__name__)

_JIT = {"parallel": True, "cache": True, "fastmath": True, "nogil": True}

LUMA_WEIGHTS = (0.114, 0.587, 0.299)  # blue, green, red (BT.601)
DARK_LUMA = 0.27  # mean person luma below which the person is lifted
NATURAL_LUMA = 0.44  # the median: never lifted past it
BOUNCE = 1.0  # a value d outside its natural range is brought d * BOUNCE inside it
FLAT_SPREAD = 0.10  # luma spread (standard deviation) below which contrast is stretched
MAX_STRETCH = 1.25  # at most this much contrast
MAX_LIFT = 1.0  # the lift curve's k (slope 1 + k at black; 1 keeps the curve monotonic)
MAX_CUT = 0.5  # the most a channel is lowered (k >= -0.5)
# (1st percentile, median, 99th percentile) of blue/luma, green/luma and red/luma over the
# training portraits.
NATURAL_RATIOS = ((0.488, 0.844, 1.108), (0.807, 0.941, 1.009), (0.967, 1.177, 1.531))
SMOOTHING_SECONDS = 2.0  # time constant of the statistics' exponential average
MIN_PERSON_SHARE = 0.01  # measure only when the person covers this much of the frame
SAMPLE_STEP = 4  # statistics from every 4th pixel of every 4th row
HEAD_SHARE = 0.4  # statistics from this top share of the person's rows
DEFAULT_STRENGTH = 0.8


# ---------------------------------------------------------------------------------------------
# Kernels (frame as an (H, W*3) row view, as in vcam.compositor)


@njit(cache=True, fastmath=True, nogil=True)
def _row_sums_kernel(frame, alpha, step, sums, cols):  # pragma: no cover - compiled
    """Per sampled row (every ``step``-th), the alpha-weighted sums of B, G, R, luma and luma
    squared (all in [0, 1]) and of the weights over every ``step``-th pixel; ``cols`` gets the
    first and last sampled column with alpha > 0 (-1 when none)."""
    width = alpha.shape[1]
    wb, wg, wr = LUMA_WEIGHTS
    for i in range(sums.shape[0]):
        f_row, a_row, row = frame[i * step], alpha[i * step], sums[i]
        first, last = -1, -1
        for x in range(0, width, step):
            a = a_row[x]
            if a == 0:
                continue
            if first < 0:
                first = x
            last = x
            w = np.float64(a) / 255.0
            b = np.float64(f_row[3 * x]) / 255.0
            g = np.float64(f_row[3 * x + 1]) / 255.0
            r = np.float64(f_row[3 * x + 2]) / 255.0
            luma = wb * b + wg * g + wr * r
            row[0] += w * b
            row[1] += w * g
            row[2] += w * r
            row[3] += w * luma
            row[4] += w * luma * luma
            row[5] += w
        cols[i, 0], cols[i, 1] = first, last


@njit(inline="always", fastmath=True)
def _tone(v, a, p0, p1, p2):  # pragma: no cover - compiled
    """``v + a * (curve(v) - v)`` rounded to a level; curve(v) = p0 + v * (p1 + p2 * v)."""
    z = p0 + v * (p1 + p2 * v)
    r = v + a * (z - v)
    return np.uint8(min(max(r + np.float32(0.5), np.float32(0.0)), np.float32(255.0)))


@njit(**_JIT)
def _apply_kernel(
    frame, alpha, x0, x1, b0, b1, b2, g0, g1, g2, r0, r1, r2, out
):  # pragma: no cover - compiled
    """The tone curve on columns ``x0:x1`` of every row, weighted by alpha. Scalar
    coefficients, channels written out and rows sliced to the columns first (a loop from x0
    to x1 instead is not vectorised and runs ten times slower)."""
    inv = np.float32(1.0 / 255.0)
    for y in prange(alpha.shape[0]):
        f_row, o_row = frame[y, 3 * x0 : 3 * x1], out[y, 3 * x0 : 3 * x1]
        a_row = alpha[y, x0:x1]
        for x in range(x1 - x0):
            a = np.float32(a_row[x]) * inv
            k = 3 * x
            o_row[k] = _tone(np.float32(f_row[k]), a, b0, b1, b2)
            o_row[k + 1] = _tone(np.float32(f_row[k + 1]), a, g0, g1, g2)
            o_row[k + 2] = _tone(np.float32(f_row[k + 2]), a, r0, r1, r2)


# ---------------------------------------------------------------------------------------------
# Statistics and the curve


@dataclass(frozen=True)
class PersonStats:
    """The person's light: ``means`` (blue, green, red) and ``luma`` in [0, 1], ``spread`` the
    luma's standard deviation, ``share`` the person's share of the frame, ``box`` (x0, y0, x1,
    y1) the pixels the person covers (frame pixels, x1 and y1 exclusive)."""

    means: tuple[float, float, float]
    luma: float
    spread: float
    share: float
    box: tuple[int, int, int, int]


def person_statistics(
    frame: np.ndarray, alpha: np.ndarray, step: int = SAMPLE_STEP, head_share: float = HEAD_SHARE
) -> PersonStats:
    """The person's light in ``frame`` (BGR uint8), weighted by ``alpha`` (uint8, same size),
    from every ``step``-th pixel of every ``step``-th row in the top ``head_share`` of the rows
    the person covers."""
    if frame.shape[:2] != alpha.shape or frame.dtype != np.uint8 or alpha.dtype != np.uint8:
        raise ValueError(f"frame {frame.shape} and alpha {alpha.shape} must be uint8 of one size")
    height, width = alpha.shape
    frame = np.ascontiguousarray(frame)
    alpha = np.ascontiguousarray(alpha)
    rows = -(-height // step)
    sums = np.zeros((rows, 6), np.float64)
    cols = np.empty((rows, 2), np.int64)
    _row_sums_kernel(frame.reshape(height, -1), alpha, step, sums, cols)
    covered = np.flatnonzero(cols[:, 0] >= 0)
    if covered.size == 0:
        return PersonStats((0.0, 0.0, 0.0), 0.0, 0.0, 0.0, (0, 0, 0, 0))
    first, last = int(covered[0]), int(covered[-1])
    head = sums[first : first + max(1, round(head_share * (last - first + 1)))].sum(axis=0)
    weight = head[5]
    means = (head[0] / weight, head[1] / weight, head[2] / weight)
    luma = head[3] / weight
    spread = math.sqrt(max(0.0, head[4] / weight - luma * luma))
    share = float(sums[:, 5].sum()) / (rows * -(-width // step))
    # the sampled box, widened by the sampling step: pixels between samples may be person too
    box = (
        max(0, int(cols[covered, 0].min()) - step),
        max(0, first * step - step),
        min(width, int(cols[covered, 1].max()) + 1 + step),
        min(height, last * step + 1 + step),
    )
    return PersonStats(means, luma, spread, share, box)


@dataclass(frozen=True)
class ToneCurve:
    """Per-channel quadratic curves on levels 0..255: ``out = p0 + v * (p1 + p2 * v)`` for
    blue, green and red (``coefficients[c] = (p0, p1, p2)``)."""

    coefficients: tuple[tuple[float, float, float], ...] = ((0.0, 1.0, 0.0),) * 3

    def levels(self) -> np.ndarray:
        """The curves as a (3, 256) float array (what each level becomes, unclipped)."""
        v = np.arange(256, dtype=np.float64)
        return np.stack([p0 + v * (p1 + p2 * v) for p0, p1, p2 in self.coefficients])

    @property
    def identity(self) -> bool:
        """Whether no level moves by half a step or more (nothing to do)."""
        return bool(np.abs(self.levels() - np.arange(256)).max() < 0.5)


IDENTITY = ToneCurve()


def natural_value(value: float, low: float, median: float, high: float) -> float:
    """``value`` if it lies in ``low``..``high``, else brought back inside: BOUNCE times as far
    inside as it was outside, but not past ``median``."""
    if value < low:
        return min(median, low + BOUNCE * (low - value))
    if value > high:
        return max(median, high - BOUNCE * (value - high))
    return value


def _lift_k(mean: float, target: float) -> float:
    """k of the lift curve ``y = x * (1 + k * (1 - x))`` that takes ``mean`` to ``target``."""
    mean = min(max(mean, 1e-3), 0.999)
    k = (target / mean - 1.0) / (1.0 - mean)
    return min(max(k, -MAX_CUT), MAX_LIFT)


def correction_curve(
    stats: PersonStats,
    strength: float = DEFAULT_STRENGTH,
    frame_means: tuple[float, float, float] | None = None,
) -> ToneCurve:
    """The curve that lifts a dark person, stretches a flat one and pulls a colour cast back
    into the natural bands; the identity for a well-exposed, natural-looking person.
    ``strength`` (0..1) scales the correction. The stretch pivots on the mean luma that the
    lift gives the person of ``frame_means`` (this frame's own blue, green and red, when the
    statistics are smoothed over time), so that it changes the contrast and not the
    brightness."""
    luma = stats.luma
    if stats.share <= 0 or luma <= 1e-3 or strength <= 0:
        return IDENTITY
    full_luma = natural_value(luma, DARK_LUMA, NATURAL_LUMA, math.inf)
    ratios = [mean / luma for mean in stats.means]
    natural = [natural_value(r, *band) for r, band in zip(ratios, NATURAL_RATIOS, strict=True)]
    norm = sum(w * r for w, r in zip(LUMA_WEIGHTS, natural, strict=True))
    target_luma = luma + strength * (full_luma - luma)
    lifted_spread = stats.spread * target_luma / luma
    stretch = 1.0
    if 0 < lifted_spread < FLAT_SPREAD:
        stretch = 1.0 + strength * (min(MAX_STRETCH, FLAT_SPREAD / lifted_spread) - 1.0)
    lifts = []
    for mean, ratio in zip(stats.means, natural, strict=True):
        target = mean + strength * (full_luma * ratio / norm - mean)
        lifts.append(_lift_k(mean, min(target, 0.98)))
    means = frame_means or stats.means
    pivot = sum(
        w * m * (1.0 + k * (1.0 - m)) for w, m, k in zip(LUMA_WEIGHTS, means, lifts, strict=True)
    )
    centre = pivot * 255.0
    # per channel, the lift y = v (1 + k) - k v^2 / 255, then the stretch around the pivot
    return ToneCurve(
        tuple(((1.0 - stretch) * centre, stretch * (1.0 + k), -stretch * k / 255.0) for k in lifts)
    )


def apply_curve(
    frame: np.ndarray,
    alpha: np.ndarray,
    curve: ToneCurve,
    box: tuple[int, int, int, int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``frame`` with ``curve`` applied to the person: ``frame + alpha * (curve(frame) -
    frame)``. Only the ``box`` (x0, y0, x1, y1; where alpha may be above 0) is computed, the
    rest is copied. ``out`` may be ``frame`` (in place)."""
    height, width = alpha.shape
    if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 {(height, width, 3)}, got {frame.shape}")
    if out is None:
        out = np.empty_like(frame)
    x0, y0, x1, y1 = box if box is not None else (0, 0, width, height)
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    if out is not frame:  # what the box leaves out stays as it was
        out[:y0] = frame[:y0]
        out[y1:] = frame[y1:]
        out[y0:y1, :x0] = frame[y0:y1, :x0]
        out[y0:y1, x1:] = frame[y0:y1, x1:]
    if x1 <= x0 or y1 <= y0:
        return out
    frame = np.ascontiguousarray(frame)
    alpha = np.ascontiguousarray(alpha)
    rows, out_rows = frame.reshape(height, -1), out.reshape(height, -1)
    coefficients = [np.float32(c) for channel in curve.coefficients for c in channel]
    _apply_kernel(rows[y0:y1], alpha[y0:y1], x0, x1, *coefficients, out_rows[y0:y1])
    return out


# ---------------------------------------------------------------------------------------------
# Over time


class LightCorrector:
    """Measures the person in each frame, smooths the statistics over seconds and applies the
    resulting correction. ``strength`` 0..1 may change between frames."""

    def __init__(
        self, strength: float = DEFAULT_STRENGTH, time_constant: float = SMOOTHING_SECONDS
    ) -> None:
        self.strength = strength
        self.time_constant = time_constant
        self.stats: PersonStats | None = None  # the smoothed statistics
        self.curve = IDENTITY
        self._seconds: float | None = None

    def reset(self) -> None:
        """Forget the history (new source)."""
        self.stats, self.curve, self._seconds = None, IDENTITY, None

    def update(self, frame: np.ndarray, alpha: np.ndarray, seconds: float) -> PersonStats:
        """Measure ``frame`` (at time ``seconds``), fold it into the smoothed statistics and
        update ``curve``. Returns this frame's own statistics."""
        now = person_statistics(frame, alpha)
        elapsed = 0.0 if self._seconds is None else max(0.0, seconds - self._seconds)
        self._seconds = seconds
        if now.share >= MIN_PERSON_SHARE:
            old = self.stats
            if old is None:
                self.stats = now
            else:
                keep = math.exp(-elapsed / self.time_constant) if self.time_constant > 0 else 0.0

                def mix(a: float, b: float) -> float:
                    return keep * a + (1.0 - keep) * b

                self.stats = PersonStats(
                    tuple(mix(a, b) for a, b in zip(old.means, now.means, strict=True)),
                    mix(old.luma, now.luma),
                    mix(old.spread, now.spread),
                    now.share,
                    now.box,
                )
        self.curve = IDENTITY
        if self.stats is not None:
            means = now.means if now.share > 0 else None
            self.curve = correction_curve(self.stats, self.strength, means)
        return now

    def __call__(
        self, frame: np.ndarray, alpha: np.ndarray, seconds: float, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``frame`` corrected (``frame`` itself when there is nothing to correct; else ``out``,
        which may be ``frame``, or a new array)."""
        now = self.update(frame, alpha, seconds)
        if self.curve.identity or now.share <= 0:
            return frame
        return apply_curve(frame, alpha, self.curve, now.box, out=out)


def warm_up() -> None:
    """Compile (or load from numba's cache) the light kernels on tiny arrays."""
    frame = np.full((8, 8, 3), 40, np.uint8)
    alpha = np.full((8, 8), 255, np.uint8)
    curve = correction_curve(person_statistics(frame, alpha, step=1), 1.0)
    apply_curve(frame, alpha, curve)
