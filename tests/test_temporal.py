"""Temporal stabilisation gated by motion (vcam.temporal) and the temporal figures
(vcam.evaluation.temporal): real-looking frames with sensor noise, a jittery model alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scenes import person_scene

from vcam import temporal
from vcam.evaluation.temporal import TemporalMeter, drawn_person, motion_clip
from vcam.refine import Refiner, grey_guide, picture_at
from vcam.temporal import STEADINESS, Stabiliser, stabilise

LOW = (144, 256)  # the fast model's alpha for a 16:9 frame


def low_res(alpha: np.ndarray) -> np.ndarray:
    return cv2.resize(alpha.astype(np.float32), LOW[::-1], interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def wide_scene():
    """A person in a room, rendered wider than the frame so that it can move sideways."""
    frame, alpha, _ = person_scene(720, 1280 + 96, seed=4, soft=0.7)
    return frame, alpha


def view(scene, shift: int, rng: np.random.Generator, noise: float = 3.0):
    """(frame with fresh sensor noise, true alpha) with the scene moved ``shift`` px left."""
    frame, alpha = scene
    crop = (slice(None), slice(shift, shift + 1280))
    noisy = frame[crop].astype(np.float32) + rng.normal(0, noise, frame[crop].shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), alpha[crop]


def jittery(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A model's alpha of ``alpha``: noise everywhere, edge pixels that flip, a hole or two."""
    low = low_res(alpha) + rng.normal(0, 0.04, LOW)
    edge = (low > 0.2) & (low < 0.8)
    low[edge] += rng.normal(0, 0.3, int(edge.sum()))
    return np.clip(low, 0, 1).astype(np.float32)


def changes(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.abs(b.astype(int) - a) for a, b in zip(frames, frames[1:], strict=False)]


def test_a_still_clip_with_noise_gives_an_alpha_that_does_not_change(wide_scene):
    rng = np.random.default_rng(1)
    steady, off = Refiner(0.5, 2.0, "balanced"), Refiner(0.5, 2.0, "off")
    held, mattes, raw = [], [], []
    for _ in range(12):
        frame, alpha = view(wide_scene, 0, rng)
        low = jittery(alpha, rng)
        mattes.append(steady.refine(low, frame))
        held.append(steady.alpha.copy())
        raw.append(off.refine(low, frame))
    assert all(np.array_equal(held[0], h) for h in held[1:]), "the alpha must not change"
    # The matte itself moves only as much as the noise moves the picture's edges.
    # The matte itself moves only as much as the noise moves the picture's edges (the guided
    # upsampling follows the frame): a few pixels of 921,600 jump, against hundreds.
    still, flicker = changes(mattes), changes(raw)
    assert np.mean([c.mean() for c in still]) < 0.6 * np.mean([c.mean() for c in flicker])
    assert max((c > 64).sum() for c in still) <= 20 < 50 <= min((c > 64).sum() for c in flicker)


def test_a_moving_edge_is_followed_within_one_frame(wide_scene):
    rng = np.random.default_rng(2)
    refiner, plain = Refiner(0.5, 2.0, "balanced"), Refiner(0.5, 2.0, "off")
    previous_alpha = None
    for step, shift in enumerate([0, 0, 0, 12, 24, 48, 48, 60, 84]):
        frame, alpha = view(wide_scene, shift, rng)
        low = low_res(alpha)
        matte, truth = refiner.refine(low, frame), plain.refine(low, frame)
        if step in (3, 4, 5, 7, 8):  # the person moved in this very frame
            moved = np.abs(alpha - previous_alpha) > 0.5
            assert moved.sum() > 1000
            followed = np.abs(matte.astype(int) - truth)[moved] <= 64
            assert followed.mean() > 0.98, f"frame {step}: {followed.mean():.3f} followed"
            # At low resolution a few cells of low contrast follow only part of the way (the
            # alpha may change by ``gain`` times what the picture did); in the matte they do.
            cells = np.abs(low_res(alpha) - low_res(previous_alpha)) > 0.1
            assert (np.abs(refiner.alpha - low)[cells] < 0.05).mean() > 0.9
        previous_alpha = alpha


def test_a_one_frame_hole_is_not_shown_and_a_lasting_change_is(wide_scene):
    rng = np.random.default_rng(3)
    frame, alpha = view(wide_scene, 0, rng)
    low = low_res(alpha)
    holed = low.copy()
    holed[100:120, 110:150] = 0.0  # a hole inside the person's body, the picture unchanged
    assert low[100:120, 110:150].min() > 0.99
    hole = (slice(510, 590), slice(560, 740))  # inside the same place at frame size
    refiner = Refiner(0.5, 2.0, "balanced")
    for model_alpha in [low, low, holed, low, low]:
        frame, _ = view(wide_scene, 0, rng)
        assert refiner.refine(model_alpha, frame)[hole].min() == 255
    persist = STEADINESS["balanced"].persist
    shown = []
    for _ in range(persist + 1):  # the model insists: a correction, taken in one step
        frame, _ = view(wide_scene, 0, rng)
        shown.append(refiner.refine(holed, frame)[hole].max())
    assert shown[: persist - 1] == [255] * (persist - 1) and shown[-1] == 0


def test_a_small_change_in_the_picture_cannot_flip_a_confident_pixel():
    steadiness = STEADINESS["balanced"]
    alpha = np.ones((20, 30), np.float32)
    grey = np.full((20, 30), 0.5, np.float32)
    state = stabilise(None, alpha, grey, steadiness)
    change = steadiness.threshold + 1.0 / 255  # just above the noise threshold
    brighter = grey + np.float32(change)
    state = stabilise(state, np.zeros_like(alpha), brighter, steadiness)
    assert np.allclose(state.alpha, 1.0 - steadiness.gain * change, atol=1e-5)
    state = stabilise(state, np.zeros_like(alpha), brighter, steadiness)
    assert np.allclose(state.alpha, 1.0 - steadiness.gain * change, atol=1e-5)  # spent
    state = stabilise(state, np.zeros_like(alpha), grey + np.float32(0.3), steadiness)
    assert state.alpha.max() == 0.0  # a clear change is followed in full


def test_stabilise_is_a_pure_function():
    rng = np.random.default_rng(5)
    alpha, grey = rng.random((30, 40), np.float32), rng.random((30, 40), np.float32)
    state = stabilise(None, alpha, grey, STEADINESS["steady"])
    before = [a.copy() for a in state]
    new_alpha, new_grey = rng.random((30, 40), np.float32), rng.random((30, 40), np.float32)
    one = stabilise(state, new_alpha, new_grey, STEADINESS["steady"])
    two = stabilise(state, new_alpha, new_grey, STEADINESS["steady"])
    assert all(np.array_equal(a, b) for a, b in zip(state, before, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    with pytest.raises(ValueError, match="differ"):
        stabilise(state, new_alpha, new_grey[:10], STEADINESS["steady"])


def test_levels_reset_and_size_change():
    stabiliser = Stabiliser("off")
    noisy = np.random.default_rng(6).random((10, 12), np.float32)
    assert np.array_equal(stabiliser(noisy, None), noisy)  # off: the alpha as it is
    stabiliser.level = "steady"
    grey = np.full((10, 12), 0.4, np.float32)
    stabiliser(noisy, grey)
    assert np.array_equal(stabiliser(1 - noisy, grey), noisy)  # still picture: held
    stabiliser.reset()
    assert np.array_equal(stabiliser(1 - noisy, grey), 1 - noisy)
    bigger = np.zeros((20, 30), np.float32)
    assert np.array_equal(stabiliser(bigger, np.zeros_like(bigger)), bigger)
    with pytest.raises(ValueError, match="needs the frame's picture"):
        stabiliser(bigger, None)
    with pytest.raises(ValueError, match="one of off, responsive, balanced, steady"):
        stabiliser.level = "wobbly"


def test_steadier_levels_need_a_larger_change_in_the_picture():
    alpha = np.ones((8, 8), np.float32)
    grey = np.full((8, 8), 0.5, np.float32)
    moved = grey + np.float32(7.0 / 255)
    held = {}
    for level in ("responsive", "balanced", "steady"):
        state = stabilise(None, alpha, grey, STEADINESS[level])
        held[level] = float(stabilise(state, alpha * 0, moved, STEADINESS[level]).alpha.mean())
    assert held["responsive"] < held["balanced"] < held["steady"] == 1.0


def test_warm_up_compiles_the_kernel():
    temporal.warm_up()
    assert temporal._stabilise_kernel.signatures


def test_the_picture_at_the_alphas_size_is_what_the_refiner_shares():
    frame, _, _ = person_scene(180, 320, seed=1)
    refiner = Refiner(guided=False, smoothing="off")
    assert refiner.picture(frame, (36, 64)) is None  # nothing needs it
    refiner.configure(guided=True)
    assert np.allclose(refiner.picture(frame, (36, 64)), grey_guide(frame, (36, 64))[None])
    refiner.configure(smoothing="balanced")
    picture = refiner.picture(frame, (1, 1, 36, 64))
    assert np.array_equal(picture, picture_at(frame, (36, 64)))
    assert np.allclose(picture[0], grey_guide(frame, (36, 64)), atol=1e-6)
    expected = cv2.resize(frame.astype(np.float32), (64, 36), interpolation=cv2.INTER_AREA)
    assert np.allclose(picture[1], (expected[..., 2] - expected[..., 0]) / 1020, atol=1e-4)
    assert refiner.picture(frame, (360, 640)).shape == (2, 360, 640)  # alpha larger than frame


def test_a_moving_edge_of_the_same_brightness_is_seen_by_its_colour():
    grey = np.full((1, 10, 10), 0.5, np.float32)
    before = np.concatenate([grey, np.full((1, 10, 10), -0.1, np.float32)])
    after = before.copy()
    after[1, :, 5:] = 0.1  # a red jumper where a blue wall was, both as bright
    state = stabilise(None, np.zeros((10, 10), np.float32), before, STEADINESS["balanced"])
    person = np.zeros((10, 10), np.float32)
    person[:, 5:] = 1.0
    assert np.array_equal(stabilise(state, person, after, STEADINESS["balanced"]).alpha, person)
    grey_only = stabilise(None, np.zeros((10, 10), np.float32), before[:1], STEADINESS["balanced"])
    assert stabilise(grey_only, person, after[:1], STEADINESS["balanced"]).alpha.max() == 0.0


# ---------------------------------------------------------------------------------------------
# the figures


def test_meter_flicker_jumps_and_lag_on_known_sequences():
    rng = np.random.default_rng(7)
    frames = [np.full((40, 60, 3), 100, np.uint8) for _ in range(8)]
    for i, frame in enumerate(frames):  # a bright bar moving 4 px a frame
        frame[:, 4 * i : 4 * i + 10] = 220
    truth = [(f[..., 0] > 150).astype(np.uint8) * 255 for f in frames]
    exact, late, shaky = TemporalMeter(), TemporalMeter(), TemporalMeter()
    for i, frame in enumerate(frames):
        exact.add(frame, truth[i], truth[i])
        late.add(frame, truth[max(0, i - 1)], truth[i])
        noise = rng.integers(0, 40, truth[i].shape).astype(np.uint8)
        shaky.add(frame, np.maximum(truth[i], noise), truth[i])
    exact, late, shaky = exact.result(), late.result(), shaky.result()
    assert exact["flicker"] == 0.0 and exact["still_jumps"] == 0.0
    assert exact["lag"] == 0 and exact["followed"] == 100.0 and exact["lag_samples"] == 5
    assert late["lag"] == 1 and late["followed"] == 0.0
    assert shaky["flicker"] > 30 and shaky["lag"] == 0
    assert exact["jumps"] == pytest.approx(100 * 8 / 60)  # the bar's two 4-px edges
    with pytest.raises(ValueError, match="does not fit"):
        TemporalMeter().add(frames[0], truth[0][:10])


@pytest.mark.parametrize("kind", ["still", "sway", "steps", "head", "hand"])
def test_motion_clips_move_as_named(kind):
    clip = list(motion_clip(kind, drawn_person(), np.full((90, 160, 3), 0.5, np.float32), 16))
    assert len(clip) == 16 and clip[0][0].shape == (90, 160, 3) and clip[0][1].shape == (90, 160)
    truth_change = [
        np.abs(b[1].astype(int) - a[1]).max() for a, b in zip(clip, clip[1:], strict=False)
    ]
    if kind == "still":
        assert max(truth_change) == 0 and np.abs(clip[1][0].astype(int) - clip[0][0]).max() > 0
    else:
        assert max(truth_change) > 128
    moved = np.abs(clip[4][1].astype(int) - clip[0][1]) > 0
    if kind == "hand":  # only the small figure moves: about 5% of the frame
        assert 0.005 < moved.mean() < 0.05
    if kind == "head":  # only the top of the person moves
        assert moved[:30].any() and not moved[60:].any()
    with pytest.raises(ValueError, match="unknown motion"):
        next(motion_clip("dance", drawn_person(), np.zeros((9, 16, 3), np.float32)))
