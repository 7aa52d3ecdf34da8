"""Alpha refinement: guided upsampling, threshold, feather, Refiner (temporal smoothing:
test_temporal.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scenes import person_scene

from vcam import refine
from vcam.refine import Refiner


def low_res(alpha: np.ndarray, size_hw=(144, 256)) -> np.ndarray:
    """What a model at ``size_hw`` sees of a true alpha: its area average (float32)."""
    return cv2.resize(alpha.astype(np.float32), size_hw[::-1], interpolation=cv2.INTER_AREA).astype(
        np.float32
    )


def edge_band(alpha: np.ndarray, width: int = 15) -> np.ndarray:
    """Pixels within ``width`` of the true edge."""
    hard = (alpha > 0.5).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.dilate(hard, kernel) != cv2.erode(hard, kernel)


def edge_error(matte: np.ndarray, alpha: np.ndarray) -> float:
    band = edge_band(alpha)
    return float(np.abs(matte / 255.0 - alpha)[band].mean())


@pytest.fixture(scope="module")
def scene():
    frame, alpha, _ = person_scene(720, 1280, seed=2, soft=0.7)
    return frame, alpha


# ---------------------------------------------------------------------------------------------
# upsampling


def test_guided_follows_a_sharp_edge_better_than_bilinear_on_a_textured_scene(scene):
    frame, alpha = scene
    small = low_res(alpha)
    guided = refine.upsample_alpha(small, frame, guided=True)
    bilinear = refine.upsample_alpha(small, frame, guided=False)
    assert edge_error(guided, alpha) < 0.85 * edge_error(bilinear, alpha)


def test_guided_recovers_a_high_contrast_edge_almost_exactly():
    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = ((((xx - 640) / 300.0) ** 2 + ((yy - 400) / 250.0) ** 2) < 1).astype(np.float64)
    frame = np.where(alpha[..., None] > 0, (60, 80, 200), (150, 160, 170)).astype(np.uint8)
    small = low_res(alpha)
    guided = refine.upsample_alpha(small, frame, guided=True)
    bilinear = refine.upsample_alpha(small, frame, guided=False)
    assert edge_error(guided, alpha) < 0.3 * edge_error(bilinear, alpha)
    # and the hard edge lands where it is: few pixels on the wrong side of 0.5
    wrong = ((guided >= 128) != (alpha > 0.5)).mean()
    assert wrong < 0.001


def test_bilinear_matches_cv2_resize(scene):
    frame, alpha = scene
    small = low_res(alpha, (90, 160))
    got = refine.upsample_alpha(small, frame, guided=False)
    expected = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR)
    assert np.abs(got.astype(int) - np.round(expected * 255)).max() <= 1


@pytest.mark.parametrize("guided", [True, False])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_alpha_stays_constant(scene, guided, value):
    frame, _ = scene
    small = np.full((144, 256), value, np.float32)
    got = refine.upsample_alpha(small, frame, guided=guided)
    assert (got == round(value * 255)).all()


@pytest.mark.parametrize("guided", [True, False])
@pytest.mark.parametrize(
    ("frame_hw", "alpha_hw"),
    [((479, 641), (90, 120)), ((720, 1280), (144, 256)), ((100, 160), (144, 256))],
)
def test_shapes_and_dtypes(guided, frame_hw, alpha_hw):
    frame, alpha, _ = person_scene(*frame_hw, seed=4, soft=3.0)
    got = refine.upsample_alpha(low_res(alpha, alpha_hw), frame, guided=guided)
    assert got.shape == frame_hw and got.dtype == np.uint8
    # the person is in the middle-bottom, the corners are background
    assert got[-1, frame_hw[1] // 2] > 200 and got[0, 0] < 30


def test_grey_guide_is_the_area_average_of_the_grey_frame():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (120, 200, 3), np.uint8)
    guide = refine.grey_guide(frame, (30, 40))
    grey = frame.astype(np.float64) @ np.array([0.114, 0.587, 0.299]) / 255.0
    expected = grey.reshape(30, 4, 40, 5).mean(axis=(1, 3))
    assert np.abs(guide - expected).max() < 1e-5


# ---------------------------------------------------------------------------------------------
# threshold and feather


def test_threshold_pushes_alpha_to_a_hard_mask():
    ramp = np.linspace(0, 1, 256, dtype=np.float32)[None, :].repeat(64, axis=0)
    frame = np.zeros((64, 256, 3), np.uint8)
    soft = refine.upsample_alpha(ramp, frame, guided=False, threshold=0.0)
    hard = refine.upsample_alpha(ramp, frame, guided=False, threshold=0.5)
    assert np.abs(soft[0].astype(int) - np.arange(256)).max() <= 1  # 0 disables
    row = hard[0].astype(int)
    assert (row[ramp[0] < 0.39] == 0).all() and (row[ramp[0] > 0.61] == 255).all()
    assert row[127] < 128 < row[128] and (np.diff(row) >= 0).all()  # 0.5 stays the middle
    # a higher threshold keeps less of the alpha
    higher = refine.upsample_alpha(ramp, frame, guided=False, threshold=0.8)
    assert (higher >= 128).sum() < (hard >= 128).sum()


def test_threshold_curve_matches_the_fused_kernel():
    ramp = np.linspace(0, 1, 200, dtype=np.float32)[None, :].repeat(8, axis=0)
    frame = np.zeros((8, 200, 3), np.uint8)
    for threshold in (0.0, 0.3, 0.5, 0.9):
        fused = refine.upsample_alpha(ramp, frame, guided=False, threshold=threshold)
        expected = np.round(refine.threshold_curve(ramp, threshold) * 255)
        assert np.abs(fused.astype(int) - expected).max() <= 1


def transition_width(matte: np.ndarray) -> int:
    """How many pixels of the middle row are neither 0 nor 255."""
    row = matte[matte.shape[0] // 2]
    return int(((row > 0) & (row < 255)).sum())


@pytest.mark.parametrize("feather", [2.0, 8.0, 30.0])
def test_feather_softens_the_edge_by_about_that_many_pixels(feather):
    matte = np.zeros((200, 400), np.uint8)
    matte[:, 200:] = 255
    got = refine.feather_alpha(matte, feather)
    assert got.dtype == np.uint8 and got.shape == matte.shape
    row = got[100].astype(int)
    ramp = int(((row > 0.1 * 255) & (row < 0.9 * 255)).sum())  # 10-90 % rise
    assert 0.6 * feather <= ramp <= 2.0 * feather + 1
    assert row[0] == 0 and row[-1] == 255
    assert np.array_equal(refine.feather_alpha(matte, 0), matte)


# ---------------------------------------------------------------------------------------------
# Refiner


def test_refiner_gives_a_frame_sized_uint8_matte(scene):
    frame, alpha = scene
    refiner = Refiner(threshold=0.5, feather=2.0, smoothing="balanced", guided=True)
    small = low_res(alpha)
    matte = refiner.refine(small, frame)
    assert matte.shape == (720, 1280) and matte.dtype == np.uint8
    assert edge_error(matte, alpha) < 0.1
    as_model_output = refiner.refine(small[None, None], frame)
    assert as_model_output.shape == (720, 1280)
    out = np.empty((720, 1280), np.uint8)
    assert refiner.refine(small, frame, out=out) is out


def test_refiner_settings_change_live(scene):
    frame, alpha = scene
    small = low_res(alpha)
    refiner = Refiner()
    plain = refiner.refine(small, frame)
    refiner.configure(threshold=0.5)
    hard = refiner.refine(small, frame)
    soft_pixels = ((plain > 10) & (plain < 245)).sum()
    assert ((hard > 10) & (hard < 245)).sum() < soft_pixels
    refiner.configure(feather=12.0, guided=False)
    feathered = refiner.refine(small, frame)
    assert ((feathered > 10) & (feathered < 245)).sum() > soft_pixels
    refiner.smoothing = "steady"
    assert refiner.stabiliser.level == "steady"
    for bad in ({"threshold": 2.0}, {"feather": -1.0}, {"smoothing": "wobbly"}, {"radius": 0}):
        with pytest.raises(ValueError):
            refiner.configure(**bad)


def test_refiner_rejects_bad_arrays(scene):
    frame, alpha = scene
    refiner = Refiner()
    with pytest.raises(ValueError, match="alpha"):
        refiner.refine(np.zeros((3, 4, 5), np.float32), frame)
    with pytest.raises(ValueError, match="frame"):
        refiner.refine(low_res(alpha), frame[..., 0])


def test_refiner_cleans_nan_and_out_of_range_alpha(scene):
    frame, _ = scene
    small = np.full((144, 256), 2.0, np.float32)
    small[:10] = np.nan
    small[10:20] = -1.0
    matte = Refiner(guided=False).refine(small, frame)
    assert matte.min() == 0 and matte.max() == 255


def test_live_update_and_render_match_refine(scene):
    frame, alpha = scene
    small = low_res(alpha)
    offline, live = Refiner(0.5, 2.0, "balanced"), Refiner(0.5, 2.0, "balanced")
    with pytest.raises(ValueError, match="no alpha yet"):
        live.render(frame)
    picture = live.picture(frame, small.shape)
    live.update(small, picture)
    assert np.array_equal(live.render(frame, picture=picture), offline.refine(small, frame))
    live.reset()
    assert live.alpha is None


def test_warm_up_compiles_the_kernels():
    refine.warm_up()
    assert refine._apply_guided_kernel.signatures and refine._apply_bilinear_kernel.signatures
    assert refine._picture_area_kernel.signatures
