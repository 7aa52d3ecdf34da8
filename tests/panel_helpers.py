"""Helpers of the panel tests (test_ui, test_ui_everyday): waiting on a real window and reading
its preview's colours. The window fixtures (``no_cameras``, ``base_settings``, ``open_window``)
are in conftest.py."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.main_window import MainWindow

WAIT_MS = 15000  # generous: the machine is shared with training; normally well under a second
BLUE = (20, 60, 200)  # RGB of the synthetic clip's background
RED = (220, 20, 20)  # RGB of its "person" box
MAGENTA = "#ff00ff"
CLOSING_SIGNALS = [
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
]


def rgb_at(window: MainWindow, fx: float, fy: float) -> tuple[int, int, int]:
    """The preview's colour at a fraction of its picture's width and height."""
    image = window.preview.displayed_image()
    assert image is not None, "the preview shows no picture"
    colour = image.pixelColor(int(fx * (image.width() - 1)), int(fy * (image.height() - 1)))
    return colour.red(), colour.green(), colour.blue()


def near(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


BACKGROUND_SPOT = (0.9, 0.5)  # right of the box, in the blue
PERSON_SPOT = (0.5, 0.75)  # inside the red box
LEFT_BACKGROUND_SPOT = (0.2, 0.5)


def wait_settings(qtbot, window: MainWindow, **expected: object) -> None:
    """Wait until the pipeline runs with ``expected`` values."""

    def applied() -> None:
        held = window.engine.pipeline.settings
        for name, value in expected.items():
            assert getattr(held, name) == value, f"{name}: {getattr(held, name)!r} != {value!r}"

    qtbot.waitUntil(applied, timeout=WAIT_MS)


def wait_frames(qtbot, window: MainWindow, count: int = 3) -> None:
    start = window.preview.frames_shown
    qtbot.waitUntil(lambda: window.preview.frames_shown >= start + count, timeout=WAIT_MS)


def wait_running(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.engine.pipeline.running, timeout=WAIT_MS)
    wait_frames(qtbot, window)


def wait_message(qtbot, window: MainWindow, *words: str) -> str:
    def shown() -> None:
        text = window.status_message.text()
        assert all(word in text for word in words), text

    qtbot.waitUntil(shown, timeout=WAIT_MS)
    return window.status_message.text()


def choose(combo, data: object) -> None:
    """Pick the item holding ``data`` as a user would (emits ``activated``)."""
    index = combo.findData(data)
    assert index >= 0, f"{data!r} not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
