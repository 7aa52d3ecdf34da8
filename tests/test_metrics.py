"""Alpha-matte metrics on small cases worked out by hand, plus identities."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.evaluation import metrics as M


def block(value: float = 1.0, size: int = 4) -> np.ndarray:
    """A size x size alpha with ``value`` in its top-left 2x2 block, 0 elsewhere."""
    a = np.zeros((size, size), np.float32)
    a[:2, :2] = value
    return a


def test_sad_mse_mad_by_hand():
    pred = np.full((4, 4), 0.5, np.float32)
    gt = np.zeros((4, 4), np.float32)
    gt[0, 0] = 1.0
    # |diff| is 0.5 everywhere: sum 8; squared 0.25 everywhere.
    assert M.sad(pred, gt) == pytest.approx(8 / 1000)
    assert M.mse(pred, gt) == pytest.approx(0.25)
    assert M.mad(pred, gt) == pytest.approx(0.5)
    pred2 = gt.copy()
    pred2[3, 3] = 0.25
    assert M.sad(pred2, gt) == pytest.approx(0.25 / 1000)
    assert M.mse(pred2, gt) == pytest.approx(0.25**2 / 16)
    assert M.mad(pred2, gt) == pytest.approx(0.25 / 16)


def test_iou_by_hand():
    gt = block()
    gt[2, 0] = 1.0  # 5 pixels
    pred = block(0.9)
    pred[0, 2] = 0.8  # 5 pixels above 0.5, 4 of them shared
    pred[3, 3] = 0.5  # exactly 0.5 is not foreground
    assert M.iou(pred, gt) == pytest.approx(4 / 6)
    assert M.iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert M.iou(np.zeros((4, 4)), block()) == 0.0


def test_connectivity_isolated_blob_by_hand():
    # gt and pred share the 2x2 block (level 1 there); the other pixels leave the largest
    # component at the first threshold, so their level is 0. A stray pred pixel of 1 has
    # d = 1 >= 0.15, phi = 0 against gt's phi = 1: error 1.
    gt = block()
    pred = block()
    pred[3, 3] = 1.0
    assert M.connectivity_error(pred, gt) == pytest.approx(1 / 1000)
    pred[3, 3] = 0.5  # d = 0.5, phi = 0.5
    assert M.connectivity_error(pred, gt) == pytest.approx(0.5 / 1000)
    pred[3, 3] = 0.1  # d = 0.1 < theta: phi = 1, no error
    assert M.connectivity_error(pred, gt) == pytest.approx(0.0)


def test_connectivity_weak_foreground_by_hand():
    # pred holds 0.55 in the block: it stays connected up to t = 0.5 and drops out at 0.6, so
    # its level is 0.5. pred: d = 0.05 < 0.15, phi = 1; gt: d = 0.5, phi = 0.5. 4 pixels x 0.5.
    gt = block()
    pred = block(0.55)
    assert M.connectivity_error(pred, gt) == pytest.approx(2 / 1000, abs=1e-9)


def test_connectivity_keeps_only_the_largest_component():
    # Two gt blobs, 4 and 1 pixels; pred matches both. The single pixel is not in the largest
    # component, so its level is 0: d = 1 for both, phi = 0 for both, no error.
    gt = block()
    gt[3, 3] = 1.0
    assert M.connectivity_error(gt.copy(), gt) == 0.0
    # pred 0.5 on the lone pixel: pred d = 0.5 (phi 0.5), gt d = 1 (phi 0): error 0.5.
    pred = gt.copy()
    pred[3, 3] = 0.5
    assert M.connectivity_error(pred, gt) == pytest.approx(0.5 / 1000)
    # 4-connectivity: a diagonal neighbour is a separate component.
    gt2 = block()
    gt2[2, 2] = 1.0
    pred2 = gt2.copy()
    pred2[2, 2] = 0.5
    assert M.connectivity_error(pred2, gt2) == pytest.approx(0.5 / 1000)


def test_dim_gradient_filters_match_gaussgradient_m():
    hx, hy = M.dim_gradient_filters(1.4)
    # halfsize = ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) * 1.4 * 0.01))) = ceil(3.62) = 4
    assert hx.shape == (9, 9)
    assert np.sum(hx * hx) == pytest.approx(1.0)
    np.testing.assert_allclose(hy, hx.T)
    np.testing.assert_allclose(hx[:, ::-1], -hx, atol=1e-12)  # odd along x
    np.testing.assert_allclose(hx[::-1, :], hx, atol=1e-12)  # even along y
    assert np.all(hx[:, :4] > 0)  # -u * gauss(u): positive for u < 0


def test_gradient_error_of_an_impulse():
    # An impulse far from the border: its gradient magnitude squared at each offset is
    # hx^2 + hy^2, summing to 1 + 1 (unit-norm filters). Against a flat gt: 2 / 1000.
    gt = np.zeros((21, 21), np.float32)
    pred = gt.copy()
    pred[10, 10] = 1.0
    assert M.gradient_error(pred, gt) == pytest.approx(2 / 1000, rel=1e-5)
    pred[10, 10] = 0.5
    assert M.gradient_error(pred, gt) == pytest.approx(0.5 / 1000, rel=1e-5)
    # Constant images have no gradient (border replicated): no error, whatever the offset.
    assert M.gradient_error(np.full((8, 8), 0.7), np.full((8, 8), 0.2)) == pytest.approx(0.0)


def mmnet_gaussian_error_reference(pred: np.ndarray, gt: np.ndarray) -> float:
    """A literal loop translation of MMNet's GaussianGradMetricOp (softmax Gaussian, VALID)."""
    sigma, size = 1.4, 9
    coords = np.arange(size) - (size - 1) / 2
    g = -0.5 * (coords[None, :] ** 2 + coords[:, None] ** 2) / sigma**2
    g = np.exp(g) / np.exp(g).sum()
    fx = -coords[None, :] * g / sigma**2
    fy = -coords[:, None] * g / sigma**2
    h, w = gt.shape
    norms = []
    for i in range(h - size + 1):
        for j in range(w - size + 1):
            pm, pa = gt[i : i + size, j : j + size], pred[i : i + size, j : j + size]
            dx = np.sum(pm * fx) - np.sum(pa * fx)
            dy = np.sum(pm * fy) - np.sum(pa * fy)
            norms.append(np.hypot(dx, dy))
    return float(np.mean(norms))


def test_gaussian_grad_error_impulse_by_hand():
    # One impulse in a 9x9 image: one VALID output whose gradient difference is the filters'
    # centre taps, both 0 (the derivative vanishes at x = 0, y = 0).
    gt = np.zeros((9, 9), np.float32)
    pred = gt.copy()
    pred[4, 4] = 1.0
    assert M.gaussian_grad_error(pred, gt) == pytest.approx(0.0, abs=1e-9)
    # Shifted one column right: the output sees tap (4, 3): x = -1, so |gx| = g(1, 0) / 1.96.
    pred = gt.copy()
    pred[4, 3] = 1.0
    g = np.exp(-0.5 * (np.arange(9) - 4.0) ** 2 / 1.96)
    g2 = np.outer(g, g) / np.outer(g, g).sum()
    assert M.gaussian_grad_error(pred, gt) == pytest.approx(g2[4, 3] / 1.96, rel=1e-5)


def test_gaussian_grad_error_matches_literal_reference():
    rng = np.random.default_rng(3)
    gt = (rng.random((14, 17)) > 0.5).astype(np.float32)
    pred = rng.random((14, 17)).astype(np.float32)
    expected = mmnet_gaussian_error_reference(pred, gt)
    assert M.gaussian_grad_error(pred, gt) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="too small"):
        M.gaussian_grad_error(pred[:8], gt[:8])


def test_perfect_prediction_identities():
    rng = np.random.default_rng(0)
    gt = rng.random((40, 30)).astype(np.float32)
    gt[10:30, 5:25] = 1.0
    result = M.all_metrics(gt.copy(), gt)
    assert set(result) == set(M.METRIC_NAMES)
    for name in ("sad", "mse", "grad", "conn", "mad", "gauss_grad"):
        assert result[name] == pytest.approx(0.0, abs=1e-9), name
    assert result["iou"] == 1.0


def test_worse_prediction_scores_worse():
    gt = np.zeros((40, 40), np.float32)
    gt[10:30, 10:30] = 1.0
    slightly = gt.copy()
    slightly[10:30, 29] = 0.5
    badly = np.roll(gt, 6, axis=1)
    good, bad = M.all_metrics(slightly, gt), M.all_metrics(badly, gt)
    for name in ("sad", "mse", "grad", "conn", "mad", "gauss_grad"):
        assert 0 < good[name] < bad[name], name
    assert bad["iou"] < good["iou"] < 1.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same shape"):
        M.sad(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="2-D"):
        M.iou(np.zeros((4, 4, 1)), np.zeros((4, 4, 1)))


def test_temporal_metrics_by_hand():
    prev = np.zeros((4, 4), np.float32)
    cur = prev.copy()
    cur[0, :] = 0.5  # 4 of 16 pixels change by 0.5
    assert M.alpha_change(cur, prev) == pytest.approx(4 * 0.5 / 16)
    # The ground truth did not move: the whole change is error. sqrt(4 * 0.25 / 16) * 100 = 25.
    assert M.dtssd(cur, prev, prev, prev) == pytest.approx(25.0)
    # The ground truth moved the same way: no temporal error, though the alpha changed.
    assert M.dtssd(cur, prev, cur, prev) == pytest.approx(0.0)
    # A constant offset (a biased but stable prediction) is no temporal error either.
    assert M.dtssd(cur + 0.1, prev + 0.1, cur, prev) == pytest.approx(0.0, abs=1e-6)


def test_errors_by_distance_by_hand():
    # An 800-pixel-high image: the bands end at 4, 16 and 48 pixels from the true boundary.
    gt = np.zeros((800, 800), np.float32)
    gt[200:600, 200:600] = 1.0
    pred = gt.copy()
    pred[200:600, 600:602] = 1.0  # a 2-pixel sliver of background kept at the edge
    pred[700:720, 20:40] = 1.0  # a blob of background kept far away
    pred[390:400, 390:400] = 0.0  # a hole deep inside the person
    where = M.errors_by_distance(pred, gt)
    n = gt.size
    assert where["kept"] == pytest.approx([800 / n, 0.0, 0.0, 400 / n])
    assert where["lost"] == pytest.approx([0.0, 0.0, 0.0, 100 / n])
    # The bands split the errors and nothing else: they sum to the shares of wrong pixels.
    p, g = pred > 0.5, gt > 0.5
    assert sum(where["kept"]) == pytest.approx(np.count_nonzero(p & ~g) / n)
    assert sum(where["lost"]) == pytest.approx(np.count_nonzero(g & ~p) / n)
    perfect = M.errors_by_distance(gt, gt)
    assert perfect == {"kept": [0.0] * 4, "lost": [0.0] * 4}
    everything = M.errors_by_distance(np.ones_like(gt), np.zeros_like(gt))
    assert sum(everything["kept"]) == pytest.approx(1.0) and everything["kept"][3] == 1.0


def test_errors_by_height_by_hand():
    gt = np.zeros((800, 400), np.float32)
    gt[100:800, 100:300] = 1.0  # a torso down to the bottom of the frame
    pred = gt.copy()
    pred[700:800, 0:100] = 1.0  # background kept in the bottom-left corner (the bottom quarter)
    pred[150:160, 150:250] = 0.0  # a hole in the top quarter
    where = M.errors_by_height(pred, gt)
    n = gt.size
    assert where["kept"] == pytest.approx([0.0, 0.0, 0.0, 100 * 100 / n])
    assert where["lost"] == pytest.approx([10 * 100 / n, 0.0, 0.0, 0.0])
    assert M.errors_by_height(gt, gt) == {"kept": [0.0] * 4, "lost": [0.0] * 4}
