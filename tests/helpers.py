"""Helpers shared by the pipeline tests: settings, recorders, waiting and the thread check.

The ``red_model`` fixture's alpha is the frame's red channel, so the red box of the synthetic
frames is the "person": :func:`check_person_kept_background_replaced` knows which pixels must
be kept and which replaced.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from vcam.settings import Settings

GREEN = (0, 255, 0)


def base_settings(model, **changes) -> Settings:
    """Plain settings for the tests: a colour background, hard edges, no outputs."""
    plain = {
        "model": str(model),
        "background": "colour",
        "colour": "#00ff00",
        "threshold": 0.5,
        "feather": 0.0,
        "smoothing": "off",
        "skip_static": False,
        "output": "none",
    }
    plain.update(changes)
    return Settings(**plain)


def vcam_threads() -> list[threading.Thread]:
    """vcam's threads still alive (all are named "vcam-...")."""
    return [t for t in threading.enumerate() if t.name.startswith("vcam-") and t.is_alive()]


def wait_until(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Recorder:
    """A preview callback that keeps every frame."""

    def __init__(self) -> None:
        self.frames = []
        self.lock = threading.Lock()

    def __call__(self, frame) -> None:
        with self.lock:
            self.frames.append(frame)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        wait_until(lambda: len(self.frames) >= count, timeout, f"{count} frames")


class TimedRecorder:
    """A preview callback that keeps (time, frame) of everything sent."""

    def __init__(self) -> None:
        self.frames = []
        self.lock = threading.Lock()

    def __call__(self, frame) -> None:
        with self.lock:
            self.frames.append((time.monotonic(), frame))

    def since(self, start: float) -> list:
        with self.lock:
            return [frame for when, frame in self.frames if when >= start]

    def wait(self, test, timeout: float = 15.0) -> list:
        """Wait until ``test(frames)`` holds for the frames recorded so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                frames = [frame for _, frame in self.frames]
            if test(frames):
                return frames
            time.sleep(0.02)
        raise AssertionError(f"not reached in {timeout} s; {len(frames)} frames")


def expected_blend(original: np.ndarray, alpha: np.ndarray, background) -> np.ndarray:
    a = alpha.astype(np.float64)[..., None] / 255.0
    return a * original.astype(np.float64) + (1.0 - a) * np.asarray(background, np.float64)


def check_person_kept_background_replaced(frame, background=GREEN) -> None:
    """The red box (alpha from the model) is kept, the blue surroundings become ``background``,
    and the composite equals the blend of the alpha the pipeline used."""
    assert frame.alpha.dtype == np.uint8 and frame.alpha.shape == frame.original.shape[:2]
    height, width = frame.alpha.shape
    person = (slice(height // 4 + 6, height - 2), slice(width // 3 + 12, 2 * width // 3 - 4))
    scenery = (slice(20, height), slice(0, width // 3 - 12))
    assert frame.alpha[person].min() > 200, "the red box must be person"
    assert frame.alpha[scenery].max() < 50, "the blue surroundings must be background"
    np.testing.assert_allclose(
        frame.image, expected_blend(frame.original, frame.alpha, background), atol=1.01
    )
    assert np.abs(frame.image[person].astype(int) - frame.original[person]).max() <= 3
    assert np.abs(frame.image[scenery].astype(int) - GREEN).max() <= 3
