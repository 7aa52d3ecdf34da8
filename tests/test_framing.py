"""Auto-framing: finding the head, the target view, the controller (dead zone, critically damped
motion, frame edges) and the crop itself, on synthetic mattes and frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scenes import person_alpha

from vcam.framing import (
    DEAD_ZONE,
    EYE_LINE,
    HEADROOM,
    LOST_AFTER,
    MIN_VIEW_ROWS,
    PATIENCE,
    STYLES,
    FramingController,
    View,
    clamp_view,
    crop_to_view,
    full_view,
    head_of,
    max_zoom,
    target_view,
)
from vcam.settings import AUTO_FRAME_MODES

SIZE = (1280, 720)
FPS = 30.0


def person_mask(
    width: int, height: int, scale: float = 1.0, shift: float = 0.0, drop: float = 0.0
) -> np.ndarray:
    """A head-and-shoulders mask (bool) like the matte's: the scenes' person ``scale`` times
    as large, its shoulders still cut by the bottom edge, moved right by ``shift`` and down by
    ``drop`` (shares of the width and height)."""
    alpha = person_alpha(height, width, soft=1.0).astype(np.float32)
    dx = (1 - scale) * width / 2 + shift * width
    dy = (1 - scale) * height + drop * height
    matrix = np.float32([[scale, 0, dx], [0, scale, dy]])
    return cv2.warpAffine(alpha, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE) > 0.5


def run(controller: FramingController, targets, seconds: float) -> list[View]:
    """Feed ``targets`` (a function of time, or a fixed view) at 30 fps for ``seconds``."""
    views = []
    for i in range(round(seconds * FPS)):
        target = targets(i / FPS) if callable(targets) else targets
        views.append(controller.update(target, 1.0 / FPS))
    return views


def settled_on(controller: FramingController, view: View) -> FramingController:
    """``controller`` after it has come to rest on ``view``."""
    run(controller, view, 3.0)
    assert controller.view == view and controller.settled
    return controller


def test_the_styles_are_the_settings_choices():
    assert set(STYLES) == set(AUTO_FRAME_MODES) - {"off"}


def test_the_head_of_a_person_is_found_at_its_top_and_centre():
    mask = person_mask(256, 144, scale=0.6, shift=0.1)
    head = head_of(mask, SIZE)
    ys, xs = np.nonzero(mask)
    assert head.top == pytest.approx(ys.min() * 5, abs=15)  # three low-resolution rows
    # The synthetic head is an ellipse 0.24 wide (of the frame width) times the scale.
    head_width = 0.24 * 1280 * 0.6
    assert head.height == pytest.approx(1.3 * head_width, rel=0.15)
    assert head.cx == pytest.approx(640 + 0.1 * 1280, abs=10)


def test_a_raised_arm_is_not_taken_for_the_head():
    mask = person_mask(256, 144, scale=0.7)
    mask[5:60, 60:64] = True  # a thin arm up to near the top of the frame
    assert head_of(mask, SIZE) is None
    assert head_of(np.zeros((144, 256), bool), SIZE) is None


@pytest.mark.parametrize("style", ["gentle", "tight"])
def test_the_target_puts_the_eyes_on_the_upper_third_with_headroom(style):
    mask = person_mask(256, 144, scale=0.4, drop=-0.3)
    head = head_of(mask, SIZE)
    view = target_view(head, SIZE, STYLES[style])
    left, top, width, height = view.rect(SIZE)
    assert 1.0 < view.zoom <= STYLES[style].max_zoom
    assert head.height / height == pytest.approx(STYLES[style].head_share, rel=0.01)
    assert (head.eyes - top) / height == pytest.approx(EYE_LINE, abs=0.03)
    assert (head.top - top) / height >= HEADROOM - 1e-9
    assert left >= 0 and top >= 0 and left + width <= 1280 and top + height <= 720
    assert view.cx == pytest.approx(head.cx)


def test_zoom_never_passes_the_style_or_the_cameras_rows():
    tiny = head_of(person_mask(256, 144, scale=0.2), SIZE)
    assert target_view(tiny, SIZE, STYLES["tight"]).zoom == 2.0
    assert target_view(tiny, SIZE, STYLES["gentle"]).zoom == 1.5
    small_camera = (640, 480)  # never fewer than MIN_VIEW_ROWS camera rows enlarged
    assert max_zoom(small_camera, STYLES["tight"]) == pytest.approx(480 / MIN_VIEW_ROWS)
    assert max_zoom((320, 240), STYLES["tight"]) == 1.0


def test_the_controller_settles_on_a_step_without_overshoot():
    style = STYLES["tight"]
    start = View(600.0, 300.0, 1.6)
    controller = settled_on(FramingController(SIZE, style), start)
    goal = View(800.0, 330.0, 1.8)
    views = run(controller, goal, 3.0)
    xs = np.array([v.cx for v in views])
    zooms = np.array([v.zoom for v in views])
    assert np.all(np.diff(xs) >= 0) and xs.max() <= goal.cx  # monotonic, never past the goal
    assert np.all(np.diff(zooms) >= 0) and zooms.max() <= goal.zoom
    within = np.flatnonzero(np.abs(xs - goal.cx) > 0.02 * (goal.cx - start.cx))
    settle = (within[-1] + 1) / FPS
    assert PATIENCE < settle <= 1.1  # about a second from the step to settled
    assert views[-1] == goal and controller.settled


def test_at_the_start_the_view_moves_smoothly_from_the_whole_frame_to_the_person():
    controller = FramingController(SIZE, STYLES["tight"])
    assert controller.view == full_view(SIZE)
    person = View(500.0, 280.0, 1.8)
    views = run(controller, person, 2.0)
    pairs = zip(views[:-1], views[1:], strict=True)
    steps = [abs(b.cx - a.cx) + abs(b.cy - a.cy) for a, b in pairs]
    assert max(steps) < 0.05 * SIZE[0]  # no cut: at most 5% of the width per frame
    near = [abs(v.cx - person.cx) + abs(v.cy - person.cy) < 0.01 * SIZE[0] for v in views]
    assert all(near[int(1.2 * FPS) :]) and views[-1] == person  # there after about a second


def test_jitter_inside_the_dead_zone_never_moves_the_view():
    start = View(640.0, 400.0, 1.4)
    controller = settled_on(FramingController(SIZE, STYLES["gentle"]), start)
    rng = np.random.default_rng(0)
    width, height = SIZE[0] / start.zoom, SIZE[1] / start.zoom

    def jitter(t: float) -> View:
        dx, dy = rng.uniform(-0.9, 0.9, 2) * DEAD_ZONE
        return View(
            start.cx + dx * width, start.cy + dy * height, start.zoom * rng.uniform(0.93, 1.07)
        )

    assert all(view == start for view in run(controller, jitter, 5.0))

    def blip(t: float) -> View:  # far outside, but shorter than the patience
        return View(start.cx + 200, start.cy, start.zoom) if t % 1.0 < PATIENCE * 0.6 else start

    assert all(view == start for view in run(controller, blip, 3.0))


def test_the_view_is_clamped_at_the_frame_edges():
    style = STYLES["tight"]
    view = clamp_view(View(-500.0, 9999.0, 5.0), SIZE, max_zoom(SIZE, style))
    assert (view.cx, view.cy, view.zoom) == (320.0, 540.0, 2.0)
    assert clamp_view(View(100.0, 100.0, 0.5), SIZE, 2.0) == full_view(SIZE)
    # A person at the left edge: the view stops at the edge while it moves there.
    controller = settled_on(FramingController(SIZE, style), View(640.0, 360.0, 2.0))
    views = run(controller, View(0.0, 0.0, 2.0), 2.0)
    for v in views:
        left, top, width, height = v.rect(SIZE)
        assert left >= -1e-9 and top >= -1e-9
        assert left + width <= SIZE[0] + 1e-9 and top + height <= SIZE[1] + 1e-9
    assert views[-1] == View(320.0, 180.0, 2.0)


def test_nobody_for_a_while_zooms_back_out():
    framed = View(500.0, 250.0, 2.0)
    controller = settled_on(FramingController(SIZE, STYLES["tight"]), framed)
    absent = int(LOST_AFTER * FPS) - 1
    views = [controller.update(None, 1 / FPS, present=False) for _ in range(absent)]
    assert all(v == framed for v in views)  # a short absence changes nothing
    for _ in range(int(2 * FPS)):
        view = controller.update(None, 1 / FPS, present=False)
    assert view == full_view(SIZE)


def test_the_crop_enlarges_the_view_of_picture_and_matte_alike():
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 2)
    assert crop_to_view(frame, full_view(SIZE), SIZE) is frame
    view = View(500.0, 300.0, 2.0)  # the view is x 180..820, y 120..480
    cropped = crop_to_view(frame, view, SIZE)
    reference = cv2.resize(frame[120:480, 180:820], SIZE, interpolation=cv2.INTER_LINEAR)
    assert cropped.shape == frame.shape and cropped.dtype == np.uint8
    assert np.abs(cropped.astype(int) - reference).mean() < 1.0
    low = rng.random((144, 256), dtype=np.float32)  # the matte at low resolution, same view
    low_cropped = crop_to_view(low, view, SIZE)
    low_reference = cv2.resize(low[24:96, 36:164], (256, 144), interpolation=cv2.INTER_LINEAR)
    assert low_cropped.shape == low.shape and low_cropped.dtype == np.float32
    assert np.abs(low_cropped - low_reference).mean() < 0.01


def test_a_moving_person_is_followed_and_a_talking_one_is_not():
    style = STYLES["gentle"]
    controller = FramingController(SIZE, style)

    def target(t: float) -> View:
        shift = 0.0 if t < 2.0 else 0.15  # the person steps aside at 2 s
        wobble = 0.01 * math.sin(2 * math.pi * 1.7 * t)  # and talks, nodding a little
        mask = person_mask(256, 144, scale=0.6, shift=shift + wobble)
        return target_view(head_of(mask, SIZE), SIZE, style)

    views = run(controller, target, 4.0)
    xs = np.array([v.cx for v in views])
    assert np.ptp(xs[: int(2 * FPS)]) == 0.0  # talking: the view stays put
    assert xs[-1] == pytest.approx(target(3.9).cx, abs=0.06 * SIZE[0] / views[-1].zoom)
    assert np.ptp(xs[int(3.3 * FPS) :]) == 0.0  # settled within about a second, then still
