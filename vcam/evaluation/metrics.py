"""Alpha-matte error metrics, per image, on float alphas in [0, 1] at the ground truth's size.

With no trimap here every metric covers the whole image.

- ``sad``: sum of absolute differences / 1000 (as customary in matting papers).
- ``mse``: mean squared error.
- ``gradient_error``: Rhemann et al. 2009 as the Deep Image Matting code computes it:
  first-order Gaussian derivative filters (sigma 1.4, ``gaussgradient.m``: kernel half size
  ``ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01)))``, unit L2 norm, replicated border), sum of
  squared differences of the gradient magnitudes / 1000.
- ``connectivity_error``: Rhemann et al. 2009 / DIM's ``compute_connectivity_error.m``:
  thresholds 0.1, 0.2, ..., 1; at each the largest 4-connected component of
  ``pred >= t & gt >= t``; a pixel's level ``l`` is the last threshold before it falls out of
  that component (1 if it never does); ``phi = 1 - d * (d >= 0.15)`` with ``d = alpha - l``
  (theta 0.15, p 1); sum of ``|phi_pred - phi_gt|`` / 1000.
- ``mad``: MMNet's MAD, the mean absolute difference (``metrics/ops/tensor_ops.py``).
- ``gaussian_grad_error``: MMNet's GAUSS_GRAD: 9x9 first-derivative-of-Gaussian filters (sigma
  1.4, truncated at 3 sigma, Gaussian normalised to sum 1, derivative ``-x g / sigma^2``)
  applied with VALID padding; the mean over pixels of the L2 norm of the difference of the two
  gradient vectors (``common/image_helper.py``).
- ``iou``: intersection over union of ``alpha > 0.5`` (1 when both are empty).

Where the errors are (``errors_by_distance``): the pixels of ``alpha > 0.5`` that are wrong,
as shares of all pixels, split into background kept and person lost and by their distance from
the true boundary (:data:`DISTANCE_BANDS`, fractions of the image height: at the edge, near it,
a mid-scale bulge or dent, far away); ``errors_by_height`` splits the same errors by
quarters of the image height, top to bottom (a "the bottom of the frame is person" habit shows
as background kept in the lower quarters).

Temporal, between consecutive video frames:

- ``alpha_change``: the mean absolute change of the predicted alpha (flicker where the image
  barely changed and the ground truth did not change at all).
- ``dtssd``: dtSSD (Erofeev et al. 2015) as the RVM/MODNet evaluation code computes it:
  ``100 * sqrt(mean(((a_t - a_t-1) - (g_t - g_t-1))^2))``.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

METRIC_NAMES = ("sad", "mse", "grad", "conn", "mad", "gauss_grad", "iou")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and return float32 copies (2-D)."""
    pred = np.asarray(pred, dtype=np.float32)
    gt = np.asarray(gt, dtype=np.float32)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(
            f"prediction {pred.shape} and ground truth {gt.shape} must be 2-D and the same shape"
        )
    return pred, gt


def sad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Sum of absolute differences, divided by 1000."""
    pred, gt = _pair(pred, gt)
    return float(np.abs(pred.astype(np.float64) - gt).sum() / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared error."""
    pred, gt = _pair(pred, gt)
    return float(np.mean(np.square(pred.astype(np.float64) - gt)))


def mad(pred: np.ndarray, gt: np.ndarray) -> float:
    """MMNet's MAD: the mean absolute difference."""
    pred, gt = _pair(pred, gt)
    return float(np.mean(np.abs(pred.astype(np.float64) - gt)))


def iou(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the regions above ``threshold``; 1.0 when both are empty."""
    pred, gt = _pair(pred, gt)
    p, g = pred > threshold, gt > threshold
    union = np.count_nonzero(p | g)
    return 1.0 if union == 0 else float(np.count_nonzero(p & g) / union)


# Upper ends of the distance bands, as fractions of the image height (4, 16 and 48 pixels of an
# 800-pixel-high portrait); the last band is everything further away.
DISTANCE_BANDS = (0.005, 0.02, 0.06)


def errors_by_distance(pred: np.ndarray, gt: np.ndarray) -> dict[str, list[float]]:
    """Shares of all pixels that are background kept (``"kept"``) and person lost
    (``"lost"``) at ``alpha > 0.5``, one per band of distance from the true boundary
    (:data:`DISTANCE_BANDS`, then beyond): each list sums to that error's share."""
    pred, gt = _pair(pred, gt)
    p, g = pred > 0.5, gt > 0.5
    height = gt.shape[0]
    edges = [0.0] + [band * height for band in DISTANCE_BANDS] + [np.inf]
    out = {}
    for name, wrong, region in (("kept", p & ~g, ~g), ("lost", g & ~p, g)):
        # Distance of every pixel of the region to the nearest pixel outside it (the boundary).
        if region.all():
            distance = np.full(region.shape, np.inf, np.float32)
        else:
            distance = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
        d = distance[wrong]
        out[name] = [
            float(np.count_nonzero((d > lo) & (d <= hi)) / gt.size)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
    return out


# Horizontal strips of ``errors_by_height``, top to bottom.
HEIGHT_PARTS = 4


def errors_by_height(pred: np.ndarray, gt: np.ndarray) -> dict[str, list[float]]:
    """Shares of all pixels that are background kept (``"kept"``) and person lost (``"lost"``)
    at ``alpha > 0.5``, one per quarter of the image height from the top: each list sums to
    that error's share."""
    pred, gt = _pair(pred, gt)
    p, g = pred > 0.5, gt > 0.5
    rows = np.linspace(0, gt.shape[0], HEIGHT_PARTS + 1).round().astype(int)
    return {
        name: [
            float(np.count_nonzero(wrong[top:bottom]) / gt.size)
            for top, bottom in zip(rows[:-1], rows[1:], strict=True)
        ]
        for name, wrong in (("kept", p & ~g), ("lost", g & ~p))
    }


@cache
def _dim_gradient_1d(sigma: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D Gaussian and its derivative whose outer product (scaled to unit L2 norm) is
    ``gaussgradient.m``'s x filter; the norm is folded into both factors."""
    half = int(np.ceil(sigma * np.sqrt(-2.0 * np.log(np.sqrt(2.0 * np.pi) * sigma * 1e-2))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2.0 * sigma**2)) / (sigma * np.sqrt(2.0 * np.pi))
    dgauss = -u * gauss / sigma**2
    scale = np.sqrt(np.sqrt(np.sum(gauss**2) * np.sum(dgauss**2)))
    return (gauss / scale).astype(np.float32), (dgauss / scale).astype(np.float32)


def dim_gradient_filters(sigma: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """``gaussgradient.m``'s 2-D x and y filters (x varies along columns), unit L2 norm."""
    gauss, dgauss = _dim_gradient_1d(sigma)
    hx = np.outer(gauss.astype(np.float64), dgauss)
    return hx, np.ascontiguousarray(hx.T)


def dim_gradient_magnitude(alpha: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """Gradient magnitude of ``alpha`` by ``gaussgradient.m`` (float32): convolution with the
    derivative filters, border replicated; the filters are separable (outer products)."""
    gauss, dgauss = _dim_gradient_1d(sigma)
    image = np.asarray(alpha, dtype=np.float32)
    # sepFilter2D correlates; the reversed derivative makes it the convolution MATLAB's
    # imfilter 'conv' does (for these odd kernels only the sign changes, not the magnitude).
    d = dgauss[::-1].copy()
    gx = cv2.sepFilter2D(image, cv2.CV_32F, d, gauss, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(image, cv2.CV_32F, gauss, d, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def gradient_error(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4) -> float:
    """Rhemann et al.'s gradient error: sum of squared magnitude differences / 1000."""
    pred, gt = _pair(pred, gt)
    diff = dim_gradient_magnitude(pred, sigma) - dim_gradient_magnitude(gt, sigma)
    return float(np.sum(np.square(diff, dtype=np.float64)) / 1000.0)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean mask (all False when it is empty)."""
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if count <= 1:
        return np.zeros_like(mask)
    areas = np.bincount(labels.ravel(), minlength=count)
    # Ties go to the lowest label, like MATLAB's max over bwconncomp (both scan in order).
    return labels == 1 + int(np.argmax(areas[1:]))


def connectivity_error(
    pred: np.ndarray, gt: np.ndarray, step: float = 0.1, theta: float = 0.15
) -> float:
    """Rhemann et al.'s connectivity error (p = 1), divided by 1000."""
    pred, gt = _pair(pred, gt)
    steps = np.round(np.arange(0.0, 1.0 + step / 2, step), 10).astype(np.float32)
    level = np.full(pred.shape, -1.0, dtype=np.float32)
    for i in range(1, len(steps)):
        omega = _largest_component((pred >= steps[i]) & (gt >= steps[i]))
        level[(level == -1.0) & ~omega] = steps[i - 1]
    level[level == -1.0] = 1.0
    pred_d = pred - level
    gt_d = gt - level
    pred_phi = 1.0 - pred_d * (pred_d >= theta)
    gt_phi = 1.0 - gt_d * (gt_d >= theta)
    return float(np.abs(pred_phi.astype(np.float64) - gt_phi).sum() / 1000.0)


@cache
def _mmnet_gaussian_1d(sigma: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D factors of MMNet's filters: ``gx = outer(g, -x g / sigma^2)``, ``gy`` = its
    transpose, with ``g`` the sampled Gaussian (3-sigma truncation) normalised to sum 1."""
    half = int(3 * sigma + 0.5)
    x = np.arange(2 * half + 1, dtype=np.float64) - half
    g = np.exp(-0.5 * x**2 / sigma**2)
    g /= g.sum()
    return g, -x * g / sigma**2


def mmnet_gaussian_filters(sigma: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """MMNet's 2-D first-derivative-of-Gaussian filters (x varies along columns)."""
    g, dg = _mmnet_gaussian_1d(sigma)
    gx = np.outer(g, dg)
    return gx, np.ascontiguousarray(gx.T)


def gaussian_grad_error(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4) -> float:
    """MMNet's Gaussian gradient error: mean L2 norm of the gradient difference (VALID)."""
    pred, gt = _pair(pred, gt)
    g, dg = (k.astype(np.float32) for k in _mmnet_gaussian_1d(sigma))
    half = len(g) // 2
    if pred.shape[0] <= 2 * half or pred.shape[1] <= 2 * half:
        raise ValueError(f"image {pred.shape} is too small for a {len(g)}x{len(g)} filter")
    diff = gt - pred  # the filters are linear: grad(a) - grad(b) = grad(a - b)
    # tf.nn.depthwise_conv2d correlates, as sepFilter2D does; only the VALID part is kept.
    dx = cv2.sepFilter2D(diff, cv2.CV_32F, dg, g, borderType=cv2.BORDER_CONSTANT)
    dy = cv2.sepFilter2D(diff, cv2.CV_32F, g, dg, borderType=cv2.BORDER_CONSTANT)
    valid = (slice(half, -half), slice(half, -half))
    return float(np.mean(np.sqrt(dx[valid] ** 2 + dy[valid] ** 2), dtype=np.float64))


def alpha_change(alpha: np.ndarray, previous: np.ndarray) -> float:
    """Mean absolute change of an alpha between two consecutive frames."""
    alpha, previous = _pair(alpha, previous)
    return float(np.mean(np.abs(alpha - previous), dtype=np.float64))


def dtssd(pred: np.ndarray, pred_prev: np.ndarray, gt: np.ndarray, gt_prev: np.ndarray) -> float:
    """dtSSD x 100: RMS difference between the predicted and the true alpha change."""
    pred, pred_prev = _pair(pred, pred_prev)
    gt, gt_prev = _pair(gt, gt_prev)
    _pair(pred, gt)
    diff = (pred - pred_prev) - (gt - gt_prev)
    return float(np.sqrt(np.mean(np.square(diff, dtype=np.float64))) * 100.0)


METRICS = {
    "sad": sad,
    "mse": mse,
    "grad": gradient_error,
    "conn": connectivity_error,
    "mad": mad,
    "gauss_grad": gaussian_grad_error,
    "iou": iou,
}


def all_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one image."""
    return {name: METRICS[name](pred, gt) for name in METRIC_NAMES}
