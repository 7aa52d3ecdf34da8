"""Light correction: the person's statistics, the curve (none for a well-exposed person, a lift
for a dark one, the cast pulled back), the kernel, and the smoothing over time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import REPO
from scenes import person_alpha, room

from vcam.light import (
    DARK_LUMA,
    IDENTITY,
    SMOOTHING_SECONDS,
    LightCorrector,
    ToneCurve,
    apply_curve,
    correction_curve,
    person_statistics,
)

HAIR = (40, 55, 80)  # BGR of brown hair
SKIN = (110, 140, 195)  # of a well-lit face
SHIRT = (150, 150, 150)
SHEN_TEST = REPO.parent / "shared" / "data" / "portraits-shen2016" / "test"


def lit_person(height: int = 360, width: int = 640, seed: int = 0):
    """(frame, alpha uint8): a well-exposed, naturally coloured person with shading and detail
    (brown hair, a face-coloured head, a grey shirt) on a room."""
    rng = np.random.default_rng(seed)
    alpha_f = person_alpha(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    person = np.empty((height, width, 3), np.float32)
    head = yy < 0.6 * height
    person[head] = SKIN
    person[~head] = SHIRT
    person[yy < 0.3 * height] = HAIR
    shade = 0.45 + 0.9 * (xx / width) + 0.2 * np.sin(yy / 7.0)  # light from the right
    person *= shade[..., None]
    person += rng.normal(0, 6, person.shape)
    frame = alpha_f[..., None] * person + (1 - alpha_f[..., None]) * room(height, width, seed)
    frame = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return frame, np.round(alpha_f * 255).astype(np.uint8)


def darker(frame: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def ratios(stats) -> np.ndarray:
    return np.array(stats.means) / stats.luma


def test_a_well_exposed_person_is_left_unchanged():
    frame, alpha = lit_person()
    stats = person_statistics(frame, alpha)
    assert stats.luma > DARK_LUMA and stats.share > 0.2
    assert correction_curve(stats, 1.0).identity
    corrector = LightCorrector(strength=1.0)
    for i in range(5):
        assert corrector(frame, alpha, i / 30) is frame  # nothing computed, nothing copied


def test_a_darkened_person_is_lifted_towards_its_own_light_and_the_background_kept():
    frame, alpha = lit_person()
    original = person_statistics(frame, alpha)
    dark = darker(frame, 0.4)
    before = person_statistics(dark, alpha)
    corrector = LightCorrector(strength=1.0)
    fixed = corrector(dark, alpha, 0.0)
    after = person_statistics(fixed, alpha)
    assert before.luma < after.luma < original.luma
    assert after.luma > DARK_LUMA  # up among the naturally lit portraits
    assert after.luma - before.luma > 0.15 * (original.luma - before.luma)
    assert np.abs(ratios(after) - ratios(original)).max() < 0.1  # the colours stay natural
    assert np.array_equal(fixed[alpha == 0], dark[alpha == 0])  # the background is untouched
    weaker = LightCorrector(strength=0.4)(dark, alpha, 0.0)
    assert before.luma < person_statistics(weaker, alpha).luma < after.luma


def test_a_colour_cast_is_pulled_back_towards_natural_colours():
    frame, alpha = lit_person()
    original = ratios(person_statistics(frame, alpha))
    cast = frame.astype(np.float32) * np.array(
        [1.5, 1.0, 0.65], np.float32
    )  # a blue screen's light
    cast = np.clip(cast + 0.5, 0, 255).astype(np.uint8)
    before = ratios(person_statistics(cast, alpha))
    fixed = LightCorrector(strength=1.0)(cast, alpha, 0.0)
    after = ratios(person_statistics(fixed, alpha))
    assert np.abs(after - original).sum() < 0.8 * np.abs(before - original).sum()
    assert after[0] < before[0] and after[2] > before[2]  # less blue, more red


def test_the_correction_follows_the_light_over_seconds_and_never_jumps():
    frame, alpha = lit_person()
    dim, dark = darker(frame, 0.7), darker(frame, 0.3)
    corrector = LightCorrector(strength=1.0)
    shown = [person_statistics(corrector(dim, alpha, 0.0), alpha).luma]
    for i in range(1, int(4 * SMOOTHING_SECONDS * 30)):
        out = corrector(dark, alpha, i / 30)  # the room got darker at once
        shown.append(person_statistics(out, alpha).luma)
    settled = person_statistics(LightCorrector(strength=1.0)(dark, alpha, 0.0), alpha).luma
    # The picture darkens with the room at once, then the correction catches up over seconds.
    recovery = settled - shown[1]
    change = np.diff(shown[1:])
    assert recovery > 0.05
    assert shown[4] - shown[1] < 0.1 * recovery  # a tenth of a second later: hardly moved
    assert change.max() < 0.05 * recovery  # in small steps (a level or so a frame)
    assert np.all(change > -0.002)  # always the same way (never back by half a level)
    assert abs(shown[-1] - settled) < 0.05 * recovery  # after a few seconds: there


def test_the_curve_is_applied_to_the_person_only_and_the_box_changes_nothing():
    frame, alpha = lit_person()
    dark = darker(frame, 0.4)
    stats = person_statistics(dark, alpha)
    curve = correction_curve(stats, 1.0)
    assert curve != IDENTITY and not curve.identity
    boxed = apply_curve(dark, alpha, curve, stats.box)
    whole = apply_curve(dark, alpha, curve)
    np.testing.assert_array_equal(boxed, whole)
    levels = curve.levels()
    a = alpha.astype(np.float64)[..., None] / 255.0
    mapped = np.stack([levels[c][dark[..., c]] for c in range(3)], axis=-1)
    expected = dark + a * (mapped - dark)
    assert np.abs(whole - np.clip(expected, 0, 255)).max() <= 1.0
    assert np.all(np.diff(levels, axis=1) >= 0)  # every channel's curve keeps the order of levels


def test_nobody_in_the_picture_means_no_correction():
    frame, _ = lit_person()
    empty = np.zeros(frame.shape[:2], np.uint8)
    stats = person_statistics(frame, empty)
    assert stats.share == 0.0 and correction_curve(stats, 1.0) == IDENTITY
    assert LightCorrector()(darker(frame, 0.3), empty, 0.0).shape == frame.shape
    with pytest.raises(ValueError):
        person_statistics(frame, empty[:10])
    assert ToneCurve().identity


@pytest.mark.data
def test_real_well_exposed_portraits_are_mostly_left_alone_and_darkened_ones_lifted():
    images = sorted((SHEN_TEST / "image").glob("*.jpg"))
    if not images:
        pytest.skip(f"no portraits in {SHEN_TEST}")
    unchanged = darkened = lifted = 0
    for path in images[::4]:
        frame = cv2.imread(str(path))
        mask = cv2.imread(str(SHEN_TEST / "mask" / (path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        alpha = np.where(mask > 127, 255, 0).astype(np.uint8)
        unchanged += correction_curve(person_statistics(frame, alpha), 0.8).identity
        dark = darker(frame, 0.4)
        before = person_statistics(dark, alpha).luma
        if before < DARK_LUMA:
            darkened += 1
            fixed = LightCorrector(strength=0.8)(dark, alpha, 0.0)
            lifted += person_statistics(fixed, alpha).luma > before
    count = len(images[::4])
    assert unchanged >= 0.8 * count  # the curve's bands hold most natural portraits
    assert darkened > 0.6 * count and lifted == darkened
