"""The person effects end to end: auto-framing, main person only and light correction through
the offline conversion, the live pipeline, the command line, the settings file and the panel.

The ``red_model`` fixture's alpha is the frame's red channel, so red shapes are the "people":
the tests know where the main person and the bystander are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO
from helpers import base_settings

from vcam.cli import build_parser, effective_settings, overrides
from vcam.convert import convert_video, process
from vcam.errors import SettingsError
from vcam.pipeline import Pipeline
from vcam.settings import Settings, load_settings, save_settings, settings_path
from vcam.sinks import PreviewSink
from vcam.sources import VideoSource

BLUE_BGR = (200, 60, 20)
RED_BGR = (20, 20, 220)
MAIN = (slice(30, 108), slice(80, 130))  # the main person's box in the 192x108 clip
BYSTANDER = (slice(40, 75), slice(10, 34))  # a smaller person on the left


def two_people_frame(index: int) -> np.ndarray:
    frame = np.empty((108, 192, 3), np.uint8)
    frame[:] = BLUE_BGR
    frame[MAIN] = RED_BGR
    frame[BYSTANDER] = RED_BGR
    frame[:8, -8:] = index * 10 % 250  # the frame changes: every frame is inferred
    return frame


def write_clip(path: Path, make, frames: int, size: tuple[int, int], fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    for index in range(frames):
        writer.write(make(index))
    writer.release()
    return path


def small_person_frame(index: int) -> np.ndarray:
    """960x540: a small red head and shoulders left of the centre (room to zoom in)."""
    frame = np.empty((540, 960, 3), np.uint8)
    frame[:] = BLUE_BGR
    cv2.ellipse(frame, (400, 250), (42, 55), 0, 0, 360, RED_BGR, -1)  # head
    cv2.rectangle(frame, (385, 290), (415, 330), RED_BGR, -1)  # neck
    cv2.ellipse(frame, (400, 470), (150, 150), 0, 180, 360, RED_BGR, -1)  # shoulders
    frame[470:, 250:551] = RED_BGR
    frame[:8, :8] = index * 10 % 250
    return frame


def settings_for(model: Path, **changes) -> Settings:
    """helpers.base_settings with smoothing as a number (0.0), as these tests set it."""
    return base_settings(model, **{"smoothing": 0.0, **changes})


def run_offline(clip: Path, settings: Settings) -> list:
    frames: list = []
    process(VideoSource(clip, live=False), [PreviewSink(frames.append)], settings)
    return frames


def red_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha > 127)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


# ---------------------------------------------------------------------------------------------
# offline


def test_main_person_only_clears_the_bystander_and_keeps_the_main_person(red_model, tmp_path):
    clip = write_clip(tmp_path / "two.avi", two_people_frame, 6, (192, 108))
    plain = run_offline(clip, settings_for(red_model))
    assert plain[-1].alpha[50:65, 15:29].min() > 200  # without the option: two people
    frames = run_offline(clip, settings_for(red_model, main_person_only=True))
    assert len(frames) == 6
    for frame in frames:
        assert frame.alpha[BYSTANDER].max() == 0  # the bystander is background
        assert frame.alpha[40:100, 86:124].min() > 200  # the main person is whole
        assert np.abs(frame.image[50:65, 15:29].astype(int) - (0, 255, 0)).max() <= 3
        assert frame.raw is None  # the picture itself is untouched: no "before" needed


def test_auto_framing_zooms_picture_and_matte_together(red_model, tmp_path):
    clip = write_clip(tmp_path / "small.avi", small_person_frame, 24, (960, 540))  # 2.4 s
    frames = run_offline(clip, settings_for(red_model, auto_frame="tight"))
    camera = red_box(frames[0].camera[..., 2])
    widths = []
    for frame in frames:
        assert frame.image.shape == frame.camera.shape == (540, 960, 3)
        assert np.abs(frame.camera[20:30, 900:950].astype(int) - BLUE_BGR).max() <= 4
        person = frame.original[..., 2] > 127  # the framed picture's red is where the matte is
        assert np.mean(person == (frame.alpha > 127)) > 0.98
        left, top, right, bottom = red_box(frame.alpha)
        widths.append((right - left) / (camera[2] - camera[0]))
    assert widths[0] < 1.05  # it starts from the whole picture ...
    assert np.all(np.diff(widths) > -0.01)  # ... and zooms in smoothly ...
    assert 1.3 < widths[-1] <= 2.05  # ... to a closer view, never past 2x
    left, _, right, _ = red_box(frames[-1].alpha)
    assert abs((left + right) / 2 - 480) < 0.1 * 960  # the head is brought to the middle
    gentle = run_offline(clip, settings_for(red_model, auto_frame="gentle"))
    box = red_box(gentle[-1].alpha)
    assert 1.0 < (box[2] - box[0]) / (camera[2] - camera[0]) < widths[-1]  # less close


def test_light_correction_changes_the_person_only(red_model, tmp_path):
    def dim_person(index: int) -> np.ndarray:
        frame = np.empty((108, 192, 3), np.uint8)
        frame[:] = (60, 40, 10)  # a dim blue room
        frame[20:, 60:140] = (15, 20, 150)  # a dim person under red light (alpha ~0.6)
        frame[20:50, 80:120] = (8, 10, 140)
        return frame

    clip = write_clip(tmp_path / "dim.avi", dim_person, 5, (192, 108))
    frames = run_offline(clip, settings_for(red_model, light="auto", background="passthrough"))
    for frame in frames:
        person, room = frame.alpha > 200, frame.alpha == 0
        assert person.sum() > 3000 and room.sum() > 8000
        assert np.array_equal(frame.original[room], frame.raw[room])  # the room as it was
        assert np.array_equal(frame.image[room], frame.raw[room])
        change = frame.original[person].astype(int) - frame.raw[person]
        assert change[:, :2].mean() > 5  # more blue and green: less of a red cast, brighter
        assert change[:, 2].mean() < 0  # less red
    off = run_offline(clip, settings_for(red_model, light="off", background="passthrough"))
    assert off[-1].raw is None and np.array_equal(off[-1].original, off[-1].image)


def test_convert_video_writes_the_effects_into_the_file(red_model, tmp_path):
    clip = write_clip(tmp_path / "two.avi", two_people_frame, 4, (192, 108))
    out = tmp_path / "alpha.avi"
    settings = settings_for(red_model, main_person_only=True, auto_frame="gentle")
    report = convert_video(clip, out, settings, content="alpha")
    assert report.frames == 4
    ok, matte = cv2.VideoCapture(str(out)).read()
    assert ok and matte[BYSTANDER].max() < 30 and matte[60:100, 90:120].min() > 200


# ---------------------------------------------------------------------------------------------
# live


def test_the_live_pipeline_applies_and_drops_the_effects_between_frames(red_model, tmp_path):
    clip = write_clip(tmp_path / "loop.avi", two_people_frame, 10, (192, 108), fps=30.0)
    frames: list = []
    lock = threading.Lock()

    def keep(frame) -> None:
        with lock:
            frames.append(frame)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(frames) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(frames) >= count

    settings = settings_for(
        red_model, source="video", input_path=str(clip), loop=True, main_person_only=True
    )
    with Pipeline(settings, sinks=[PreviewSink(keep)]) as pipeline:
        wait_for(3)
        assert frames[-1].alpha[BYSTANDER].max() == 0
        assert "effects" in pipeline.snapshot().stage_ms
        pipeline.update(pipeline.settings.replace(main_person_only=False, light="auto"))
        count = len(frames)
        wait_for(count + 3)
        assert frames[-1].alpha[50:65, 15:29].min() > 200  # the bystander is back
        assert frames[-1].raw is not None  # light correction: the red "person" is corrected
        pipeline.update(pipeline.settings.replace(light="off"))
        count = len(frames)
        wait_for(count + 3)
        assert frames[-1].raw is None
        assert pipeline.error is None


# ---------------------------------------------------------------------------------------------
# command line and settings file


def test_the_options_map_to_settings_and_bad_values_are_refused(config_dir, tmp_path):
    parser = build_parser()
    args = parser.parse_args(
        ["run", "--auto-frame", "Tight", "--main-person-only", "--light", "auto"]
        + ["--light-strength", "0.4"]
    )
    assert overrides(args) == {
        "auto_frame": "tight",
        "main_person_only": True,
        "light": "auto",
        "light_strength": 0.4,
    }
    args = parser.parse_args(["matte", "in.mp4", "out.mp4", "--no-main-person-only"])
    assert overrides(args) == {"main_person_only": False}
    saved = tmp_path / "mine.json"
    save_settings(Settings(auto_frame="gentle", light="auto", light_strength=0.3), saved)
    args = parser.parse_args(["--settings", str(saved), "matte", "a.mp4", "b.mp4"])
    chosen = effective_settings(args)
    assert (chosen.auto_frame, chosen.light, chosen.light_strength) == ("gentle", "auto", 0.3)
    args = parser.parse_args(["--settings", str(saved), "run", "--light", "off"])
    assert effective_settings(args).light == "off"  # the command line wins over the file
    with pytest.raises(SettingsError, match="light_strength: 3.0 is out of range"):
        effective_settings(parser.parse_args(["run", "--light-strength", "3"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--auto-frame", "wide"])
    for bad, field in ((["auto_frame", "wide"], "auto_frame"), (["light", "on"], "light")):
        with pytest.raises(SettingsError, match=f"^{field}: "):
            Settings.from_dict(dict([bad]))
    assert Settings.from_dict({"light": 1}, strict=False).light == "off"  # a bad file value


def test_vcam_matte_and_run_take_the_options_and_save_them(red_model, tmp_path, config_dir):
    env = dict(os.environ)
    env.update(
        VCAM_CONFIG_DIR=str(config_dir),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
    )
    clip = write_clip(tmp_path / "two.avi", two_people_frame, 4, (192, 108))
    alpha = tmp_path / "alpha.avi"
    command = [sys.executable, "-m", "vcam", "matte", clip, alpha, "--alpha", "--model", red_model]
    result = subprocess.run(
        [*map(str, command), "--main-person-only", "--auto-frame", "gentle", "--light", "auto"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    ok, matte = cv2.VideoCapture(str(alpha)).read()
    assert ok and matte[BYSTANDER].max() < 30
    out = tmp_path / "run.avi"
    command = [sys.executable, "-m", "vcam", "run", "--input", clip, "--output", out]
    command += ["--model", red_model, "--duration", "1", "--auto-frame", "tight", "--save"]
    command += ["--light", "auto", "--light-strength", "0.5", "--main-person-only"]
    result = subprocess.run(
        [str(c) for c in command], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads(settings_path().read_text())
    assert saved["auto_frame"] == "tight" and saved["main_person_only"] is True
    assert saved["light"] == "auto" and saved["light_strength"] == 0.5
    assert out.exists() and out.stat().st_size > 0
    loaded = load_settings()
    assert (loaded.auto_frame, loaded.light_strength) == ("tight", 0.5)


# ---------------------------------------------------------------------------------------------
# the panel

WAIT_MS = 15000  # generous: the machine is shared; normally well under a second


@pytest.fixture
def panel(qtbot, monkeypatch, red_model, tmp_path):
    """``panel(clip, **changes)``: the control panel on ``clip`` with the red model, opened on
    a saved settings file as ``vcam ui`` does (real widgets, offscreen)."""
    pytest.importorskip("PyQt6.QtWidgets")
    import ui.worker
    from ui.main_window import MainWindow

    monkeypatch.setattr(ui.worker, "find_cameras", lambda: [])
    opened = []

    def make(clip: Path, **changes) -> MainWindow:
        save_settings(
            settings_for(red_model, source="video", input_path=str(clip), colour="#ff00ff")
            .replace(output="virtual")
            .replace(**changes)
        )
        window = MainWindow(tray=False)
        qtbot.addWidget(window)
        window.show()
        opened.append(window)
        qtbot.waitUntil(lambda: window.preview.frames_shown >= 3, timeout=WAIT_MS)
        return window

    yield make
    for window in opened:
        window.close()


def shown_rgb(window) -> np.ndarray:
    """The preview's picture as an RGB array (the QImage holds BGR bytes)."""
    image = window.preview.displayed_image()
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    bgr = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    return bgr[..., ::-1].copy()


def wait_applied(qtbot, window, **expected) -> None:
    def applied() -> None:
        held = window.engine.pipeline.settings
        for name, value in expected.items():
            assert getattr(held, name) == value, f"{name}: {getattr(held, name)!r}"

    qtbot.waitUntil(applied, timeout=WAIT_MS)


def wait_picture(qtbot, window, check) -> None:
    def shown() -> None:
        assert check(shown_rgb(window))

    qtbot.waitUntil(shown, timeout=WAIT_MS)


def test_the_panel_controls_switch_the_effects_and_before_after_shows_them(qtbot, panel, tmp_path):
    clip = write_clip(tmp_path / "two.avi", two_people_frame, 10, (192, 108), fps=30.0)
    window = panel(clip)
    assert window.auto_frame.value() == "off" and not window.light_slider.isVisible()

    def bystander(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        return rgb[int(0.45 * h) : int(0.6 * h), int(0.08 * w) : int(0.15 * w)].reshape(-1, 3)

    def red(pixels: np.ndarray) -> bool:
        return bool(np.all(np.abs(pixels.astype(int).mean(0) - (220, 20, 20)) < 40))

    window.view_mode.select("after")
    wait_picture(qtbot, window, lambda rgb: red(bystander(rgb)))  # two people
    window.main_person.click()
    wait_applied(qtbot, window, main_person_only=True)
    magenta = lambda pixels: bool(np.all(np.abs(pixels.mean(0) - (255, 0, 255)) < 40))  # noqa: E731
    wait_picture(qtbot, window, lambda rgb: magenta(bystander(rgb)))  # after: one person
    window.view_mode.select("before")
    wait_picture(qtbot, window, lambda rgb: red(bystander(rgb)))  # before: the camera's two

    window.light.click()
    wait_applied(qtbot, window, light="auto")
    assert window.light_slider.isVisible()
    window.light_slider.slider.setValue(10)  # 5 % steps
    wait_applied(qtbot, window, light_strength=0.5)
    window.auto_frame.select("tight")
    wait_applied(qtbot, window, auto_frame="tight")
    window.close()
    saved = load_settings(settings_path(), strict=True)
    assert (saved.main_person_only, saved.light, saved.light_strength, saved.auto_frame) == (
        True,
        "auto",
        0.5,
        "tight",
    )


def test_the_panel_shows_the_framed_picture_after_and_the_camera_before(qtbot, panel, tmp_path):
    clip = write_clip(tmp_path / "small.avi", small_person_frame, 10, (960, 540), fps=30.0)
    window = panel(clip, auto_frame="tight")
    assert window.auto_frame.value() == "tight"  # the saved setting is shown

    def red_share(rgb: np.ndarray) -> float:
        return float(np.mean((rgb[..., 0] > 150) & (rgb[..., 2] < 100)))

    window.view_mode.select("before")
    wait_picture(qtbot, window, lambda rgb: 0.05 < red_share(rgb) < 0.2)
    camera = red_share(shown_rgb(window))
    window.view_mode.select("after")
    wait_picture(qtbot, window, lambda rgb: red_share(rgb) > 1.4 * camera)  # zoomed in
    window.auto_frame.select("off")
    wait_applied(qtbot, window, auto_frame="off")
    wait_picture(qtbot, window, lambda rgb: abs(red_share(rgb) - camera) < 0.02)
