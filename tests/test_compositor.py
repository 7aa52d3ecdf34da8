"""The numba compositor against plain float64 numpy references of the same maths."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scenes import person_scene

from vcam import compositor

# ---------------------------------------------------------------------------------------------
# float64 references


def ref_blend(frame, alpha, background):
    a = alpha.astype(np.float64)[..., None] / 255.0
    v = a * frame.astype(np.float64) + (1.0 - a) * background.astype(np.float64)
    return np.floor(v + 0.5).astype(np.uint8)


def ref_linear(n_out, n_in):
    """Sampling positions of a half-pixel-centred bilinear resize, clamped at the edges."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, pos - lo


def ref_blend_blur(frame, alpha, strength):
    """Normalised convolution at reduced resolution, bilinear upsampling, blend (float64)."""
    h, w = alpha.shape
    sigma = max(0.5, strength * h / 720.0)  # strength: sigma in px of a 720-line frame
    factor = int(min(16, max(2, math.floor(sigma / 2.5))))
    weight = 256.0 - alpha  # 255 (1 - alpha) + 1: the person's cells fall back to a plain blur
    data = np.concatenate([frame * weight[..., None], weight[..., None]], axis=2)
    sh, sw = -(-h // factor), -(-w // factor)
    padded = np.zeros((sh * factor, sw * factor, 4))
    padded[:h, :w] = data
    sums = padded.reshape(sh, factor, sw, factor, 4).sum(axis=(1, 3))
    small_sigma = sigma / factor
    ksize = 2 * int(math.ceil(3 * small_sigma)) + 1
    kernel = cv2.getGaussianKernel(ksize, small_sigma, cv2.CV_64F).ravel()

    def conv(r):  # zero border, centred, any length
        return np.convolve(r, kernel, "full")[ksize // 2 : ksize // 2 + len(r)]

    blurred = np.apply_along_axis(conv, 0, sums)
    blurred = np.apply_along_axis(conv, 1, blurred)
    small_bg = blurred[..., :3] / blurred[..., 3:]
    y0, y1, fy = ref_linear(h, sh)
    x0, x1, fx = ref_linear(w, sw)
    rows = small_bg[y0] * (1 - fy)[:, None, None] + small_bg[y1] * fy[:, None, None]
    bg = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    return ref_blend_float(frame, alpha, bg)


def ref_blend_float(frame, alpha, background):
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.floor(a * frame + (1 - a) * background + 0.5).astype(np.uint8)


def max_diff(a, b):
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


# ---------------------------------------------------------------------------------------------
# frames


@pytest.fixture(scope="module")
def random_720p():
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (720, 1280, 3), np.uint8)
    background = rng.integers(0, 256, (720, 1280, 3), np.uint8)
    alpha = rng.integers(0, 256, (720, 1280), np.uint8)
    return frame, alpha, background


@pytest.fixture(scope="module")
def scene_720p():
    frame, alpha, background = person_scene(720, 1280, seed=3)
    return frame, np.round(alpha * 255).astype(np.uint8), background


@pytest.fixture(scope="module")
def odd_scene():
    frame, alpha, background = person_scene(479, 641, seed=5, soft=4.0)
    return frame, np.round(alpha * 255).astype(np.uint8), background


def frames(request, name):
    return request.getfixturevalue(name)


SETS = ["random_720p", "scene_720p", "odd_scene"]


# ---------------------------------------------------------------------------------------------
# blend


@pytest.mark.parametrize("name", SETS)
def test_blend_matches_reference_within_one_level(request, name):
    frame, alpha, background = frames(request, name)
    got = compositor.blend(frame, alpha, background)
    assert got.shape == frame.shape and got.dtype == np.uint8
    assert max_diff(got, ref_blend(frame, alpha, background)) <= 1


def test_blend_is_exactly_rounded(random_720p):
    frame, alpha, background = random_720p
    got = compositor.blend(frame, alpha, background)
    assert max_diff(got, ref_blend(frame, alpha, background)) == 0


def test_blend_alpha_extremes_give_frame_or_background(scene_720p):
    frame, _, background = scene_720p
    zeros = np.zeros(frame.shape[:2], np.uint8)
    full = np.full(frame.shape[:2], 255, np.uint8)
    assert np.array_equal(compositor.blend(frame, zeros, background), background)
    assert np.array_equal(compositor.blend(frame, full, background), frame)


def test_blend_writes_into_out_and_may_overwrite_the_frame(scene_720p):
    frame, alpha, background = scene_720p
    expected = compositor.blend(frame, alpha, background)
    out = np.zeros_like(frame)
    assert compositor.blend(frame, alpha, background, out=out) is out
    assert np.array_equal(out, expected)
    in_place = frame.copy()
    compositor.blend(in_place, alpha, background, out=in_place)
    assert np.array_equal(in_place, expected)


def test_non_contiguous_inputs_give_the_same_result(odd_scene):
    frame, alpha, background = odd_scene
    wide = np.zeros((479, 641 * 2, 3), np.uint8)
    wide[:, ::2] = frame  # a strided view, not C-contiguous
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    flipped = alpha[:, ::-1]
    got = compositor.blend(view, flipped, background)
    assert np.array_equal(got, compositor.blend(frame, np.ascontiguousarray(flipped), background))


def test_bad_arguments_raise_value_error(scene_720p):
    frame, alpha, background = scene_720p
    with pytest.raises(ValueError, match="alpha"):
        compositor.blend(frame, alpha[:-1], background)
    with pytest.raises(ValueError, match="background"):
        compositor.blend(frame, alpha, background[:-1])
    with pytest.raises(ValueError, match="frame"):
        compositor.blend(frame.astype(np.float32), alpha, background)
    with pytest.raises(ValueError, match="out"):
        compositor.blend(frame, alpha, background, out=np.empty((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="strength"):
        compositor.blend_blur(frame, alpha, 0.0)
    with pytest.raises(ValueError, match="strength"):
        compositor.blend_blur(frame, alpha, float("nan"))
    with pytest.raises(ValueError, match="colour"):
        compositor.blend_colour(frame, alpha, (0, 256, 0))


# ---------------------------------------------------------------------------------------------
# colour


@pytest.mark.parametrize("name", SETS)
def test_blend_colour_matches_reference(request, name):
    frame, alpha, _ = frames(request, name)
    bgr = (12, 200, 77)
    plate = np.empty_like(frame)
    plate[...] = bgr
    got = compositor.blend_colour(frame, alpha, bgr)
    assert max_diff(got, ref_blend(frame, alpha, plate)) == 0


def test_blend_colour_alpha_zero_is_the_colour(odd_scene):
    frame, _, _ = odd_scene
    got = compositor.blend_colour(frame, np.zeros(frame.shape[:2], np.uint8), (0, 255, 0))
    assert (got == np.array([0, 255, 0], np.uint8)).all()


# ---------------------------------------------------------------------------------------------
# blur


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("strength", [1, 5, 18, 36, 101])
def test_blend_blur_matches_reference(request, name, strength):
    frame, alpha, _ = frames(request, name)
    got = compositor.blend_blur(frame, alpha, strength)
    assert got.shape == frame.shape and got.dtype == np.uint8
    assert max_diff(got, ref_blend_blur(frame, alpha, strength)) <= 1


def test_blur_reduces_resolution_for_strong_blur():
    assert compositor.blur_sigma(25, 1080) == 37.5
    assert compositor.blur_factor(compositor.blur_sigma(25, 1080)) == 15
    assert compositor.blur_factor(compositor.blur_sigma(18, 720)) == 7
    assert compositor.blur_factor(compositor.blur_sigma(101, 1080)) == 16
    assert compositor.blur_factor(compositor.blur_sigma(1, 720)) == 2


def test_blend_blur_keeps_the_person_and_blurs_the_rest(scene_720p):
    frame, alpha, _ = scene_720p
    got = compositor.blend_blur(frame, alpha, 18)
    person = alpha == 255
    assert np.array_equal(got[person], frame[person])
    # the background loses its fine detail (sensor noise, sharp shape edges)
    lap_in = np.abs(cv2.Laplacian(frame, cv2.CV_32F))[alpha == 0].mean()
    lap_out = np.abs(cv2.Laplacian(got, cv2.CV_32F))[alpha == 0].mean()
    assert lap_out < 0.2 * lap_in


def test_blend_blur_does_not_halo_the_person_into_the_background():
    h, w = 360, 640
    frame = np.full((h, w, 3), 60, np.uint8)  # dark room
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, 240:400] = 255  # a bright person, full height
    frame[alpha == 255] = 250
    got = compositor.blend_blur(frame, alpha, 22)
    ring = np.zeros((h, w), bool)
    ring[:, 200:240] = True  # background just left of the person
    ring[:, 400:440] = True
    # weighted blur: the background stays at its own level next to the person
    assert np.abs(got[ring].astype(int) - 60).max() <= 2
    # an unweighted blur of the same strength would carry the person into that ring
    sigma = compositor.blur_sigma(22, h)
    naive = cv2.GaussianBlur(frame, (0, 0), sigma)
    assert naive[ring].astype(int).mean() > 75


def test_blend_blur_with_person_everywhere_and_nowhere(odd_scene):
    frame, _, _ = odd_scene
    full = np.full(frame.shape[:2], 255, np.uint8)
    assert np.array_equal(compositor.blend_blur(frame, full, 18), frame)
    none = np.zeros(frame.shape[:2], np.uint8)
    got = compositor.blend_blur(frame, none, 18)
    assert max_diff(got, ref_blend_blur(frame, none, 18)) <= 1


# ---------------------------------------------------------------------------------------------
# rgba and warm-up


@pytest.mark.parametrize("name", SETS)
def test_to_rgba_appends_alpha(request, name):
    frame, alpha, _ = frames(request, name)
    got = compositor.to_rgba(frame, alpha)
    assert got.shape == (*frame.shape[:2], 4) and got.dtype == np.uint8
    assert np.array_equal(got[..., :3], frame)
    assert np.array_equal(got[..., 3], alpha)


def test_warm_up_compiles_every_kernel():
    compositor.warm_up()
    kernels = [
        compositor._blend_kernel,
        compositor._blend_colour_kernel,
        compositor._to_rgba_kernel,
        compositor._weighted_box_sums,
        compositor._widen_rows,
        compositor._blend_wide_kernel,
    ]
    assert all(k.signatures for k in kernels)
