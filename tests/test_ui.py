"""The control panel with real widgets (offscreen) driving the real engine on small files.

Every test opens a real ``MainWindow`` whose pipeline reads a short synthetic video (a red box,
the "person", on blue) through a tiny ONNX model whose alpha is the red channel: the box is
kept, the blue is replaced. Controls are used as a person would (clicks, slider moves, combo
choices); the assertions read the Settings the pipeline holds and the saved settings file.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAKE_BACKEND, frame_marker, write_video
from helpers import vcam_threads

pytest.importorskip("PyQt6.QtWidgets")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from panel_helpers import (  # noqa: E402
    BACKGROUND_SPOT,
    BLUE,
    CLOSING_SIGNALS,
    LEFT_BACKGROUND_SPOT,
    MAGENTA,
    PERSON_SPOT,
    RED,
    WAIT_MS,
    choose,
    near,
    rgb_at,
    wait_frames,
    wait_message,
    wait_running,
    wait_settings,
)
from PyQt6.QtCore import QPoint, QRectF, Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QLabel, QScrollArea, QSystemTrayIcon  # noqa: E402

import ui.worker  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.preview import FrameMailbox, compose, fitted_rect  # noqa: E402
from vcam.settings import (  # noqa: E402
    Settings,
    load_panel_settings,
    load_settings,
    save_settings,
    settings_path,
)
from vcam.sinks import OutputFrame, loopback_devices  # noqa: E402

# ---------------------------------------------------------------------------------------------
# preview


def test_mailbox_keeps_only_the_newest_frame_and_signals_once(qtbot):
    box = FrameMailbox()
    signals = []
    box.ready.connect(lambda: signals.append(box.take()))
    # The pipeline thread puts 100 frames while the UI thread is busy (no events processed).
    worker = threading.Thread(target=lambda: [box.put(index) for index in range(100)])
    worker.start()
    worker.join()
    assert signals == []
    assert box.dropped == 99 and box.received == 100
    qtbot.waitUntil(lambda: len(signals) == 1)
    assert signals == [99]
    QApplication.processEvents()
    assert signals == [99] and box.take() is None  # one signal, no backlog


def test_compose_split_takes_the_left_from_the_camera_frame():
    before = np.zeros((4, 10, 3), np.uint8)
    after = np.full((4, 10, 3), 255, np.uint8)
    split = compose(before, after, "split", 0.3)
    assert (split[:, :3] == 0).all() and (split[:, 3:] == 255).all()
    assert compose(before, after, "before", 0.3) is before
    assert compose(before, after, "after", 0.3) is after


def test_stats_strip_shows_the_rate_and_each_stage_against_the_frame_budget(qtbot):
    from ui.stats_view import StatsStrip
    from vcam import StatsSnapshot

    strip = StatsStrip()
    qtbot.addWidget(strip)
    stages = {"preprocess": 2.0, "inference": 10.0, "refine": 3.0, "composite": 40.0}
    strip.set_snapshot(StatsSnapshot(fps=15.0, stage_ms={**stages, "latency": 80.0}), 30.0)
    cells = {label: (value, share) for label, value, share in strip.cells()}
    assert cells["FPS"] == ("15", 0.5)
    assert cells["Model"][0] == "12 ms" and cells["Model"][1] == pytest.approx(0.36)
    assert cells["Compose"] == ("40 ms", pytest.approx(1.2))  # over one frame's 33 ms
    assert cells["Output"] == ("—", None) and cells["Latency"] == ("80 ms", None)
    assert not strip.grab().isNull()
    strip.set_snapshot(None, 30.0)
    assert {value for _, value, _ in strip.cells()} == {"—"}


def test_preview_shows_the_video_before_after_and_split(qtbot, open_window):
    window = open_window()
    wait_running(qtbot, window)
    window.view_mode.select("after")
    wait_frames(qtbot, window)
    assert near(rgb_at(window, *BACKGROUND_SPOT), (255, 0, 255))  # replaced by the colour
    assert near(rgb_at(window, *PERSON_SPOT), RED)  # the person stays
    window.view_mode.select("before")
    wait_frames(qtbot, window)
    assert near(rgb_at(window, *BACKGROUND_SPOT), BLUE)
    assert near(rgb_at(window, *PERSON_SPOT), RED)
    window.view_mode.select("split")
    wait_frames(qtbot, window)
    assert near(rgb_at(window, *LEFT_BACKGROUND_SPOT), BLUE)  # left of the divider: camera
    assert near(rgb_at(window, *BACKGROUND_SPOT), (255, 0, 255))  # right: the result
    image = window.preview.displayed_image()
    assert (image.width(), image.height()) == (192, 108)  # the clip's own size, never squashed


def test_preview_follows_the_video_frame_by_frame(qtbot, open_window):
    window = open_window()
    wait_running(qtbot, window)
    window.view_mode.select("before")
    seen = set()

    def marker() -> None:
        image = window.preview.displayed_image()
        ptr = image.constBits()
        ptr.setsize(image.sizeInBytes())
        pixels = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
        rgb = pixels[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
        seen.add(frame_marker(rgb))
        assert len(seen) >= 4

    qtbot.waitUntil(marker, timeout=WAIT_MS)  # the picture changes with the clip's frames


def test_the_layout_is_tidy_at_the_smallest_size(qtbot, open_window):
    window = open_window()
    window.resize(window.minimumSize())
    wait_running(qtbot, window)
    assert window.view_mode.value() == window.preview.mode == "split"  # shown from the start
    subtitle = window.findChild(QLabel, "appSubtitle")
    subtitle.setText(subtitle.text() * 3)  # longer than any font makes it: shortened, not over
    qtbot.waitUntil(lambda: QLabel.text(subtitle).endswith("…"))  # as drawn
    right_end = subtitle.mapTo(window, QPoint(subtitle.width(), 0)).x()
    assert right_end <= window.view_mode.mapTo(window, QPoint(0, 0)).x(), "title overlaps"
    # The fields of a card start in one column, after its widest label.
    fields = (window.threads_spin, window.frame_threads_spin, window.provider_combo)
    columns = {w.mapTo(window, QPoint(0, 0)).x() for w in (*fields, window.infer_spin)}
    assert len(columns) == 1, columns


def test_spin_box_arrows_step_the_value(qtbot, open_window):
    window = open_window()
    wait_running(qtbot, window)
    spin = window.threads_spin
    assert spin.value() == 0 and spin.text() == "Automatic"
    qtbot.mouseClick(spin, Qt.MouseButton.LeftButton, pos=QPoint(spin.width() - 12, 6))
    assert spin.value() == 1
    wait_settings(qtbot, window, threads=1)
    qtbot.mouseClick(
        spin, Qt.MouseButton.LeftButton, pos=QPoint(spin.width() - 12, spin.height() - 6)
    )
    wait_settings(qtbot, window, threads=0)


def test_preview_is_fitted_inside_the_widget(qtbot, open_window):
    window = open_window()
    wait_running(qtbot, window)
    grab = window.preview.grab().toImage()
    centre = grab.pixelColor(int(grab.width() * 0.58), int(grab.height() * 0.75))
    assert near((centre.red(), centre.green(), centre.blue()), RED, 60)


# ---------------------------------------------------------------------------------------------
# controls -> engine settings -> settings file


def test_source_controls_change_the_engine_settings(qtbot, open_window, tmp_path, sample_video):
    window = open_window()
    wait_running(qtbot, window)
    window.mirror.click()
    wait_settings(qtbot, window, mirror=True)
    choose(window.camera_combo, "sample:")
    wait_settings(qtbot, window, source="sample")
    choose(window.resolution_combo, "640x360")
    wait_settings(qtbot, window, width=640, height=360)
    qtbot.waitUntil(lambda: window.engine.pipeline.source.size == (640, 360), timeout=WAIT_MS)
    choose(window.fps_combo, 15.0)
    wait_settings(qtbot, window, fps=15.0)
    other = write_video(tmp_path / "other.avi", frames=6)
    window.ask_open_file = lambda *args: str(other)
    choose(window.camera_combo, "open:")
    wait_settings(qtbot, window, source="video", input_path=str(other))
    wait_frames(qtbot, window)
    window.save_now()
    saved = load_panel_settings()  # the Source card is the panel's own
    assert (saved.mirror, saved.width, saved.height, saved.fps) == (True, 640, 360, 15.0)
    assert (saved.source, saved.input_path) == ("video", str(other))
    shared = load_settings(settings_path(), strict=True)  # what `vcam run` reads: as it was
    assert (shared.mirror, shared.width, shared.input_path) == (False, 1280, str(sample_video))


def test_background_controls_change_the_engine_settings(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    tiles = window.background_tiles.tiles
    tiles["blur"].click()
    wait_settings(qtbot, window, background="blur")
    assert window.blur_slider.isVisible() and not window.colour_row.isVisible()
    window.blur_slider.slider.setValue(window.blur_slider.slider.value() + 15)
    wait_settings(qtbot, window, blur_strength=40)
    assert window.blur_slider.value_label.text() == "40 px"
    tiles["green"].click()
    wait_settings(qtbot, window, background="green")
    window.view_mode.select("after")
    wait_frames(qtbot, window, 4)
    assert near(rgb_at(window, *BACKGROUND_SPOT), (0, 255, 0))
    tiles["passthrough"].click()
    wait_settings(qtbot, window, background="passthrough")
    presets = [key for key in tiles if key.startswith("preset:")]
    assert presets, "the engine's preset backgrounds are offered as tiles"
    tiles[presets[0]].click()
    wait_settings(qtbot, window, background="image", background_path=presets[0])
    assert window.background_tiles.value() == presets[0]
    picture = tmp_path / "beach.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), (0, 200, 255), np.uint8))
    window.ask_open_file = lambda *args: str(picture)
    tiles["file"].click()
    wait_settings(qtbot, window, background="image", background_path=str(picture))
    assert window.background_file_row.isVisible() and "beach.png" in window.background_file.text()
    wait_frames(qtbot, window, 4)
    assert near(rgb_at(window, *BACKGROUND_SPOT), (255, 200, 0))  # the picture, in RGB
    clip = write_video(tmp_path / "moving.avi", frames=4)
    window.ask_open_file = lambda *args: str(clip)
    tiles["file"].click()
    wait_settings(qtbot, window, background="video", background_path=str(clip))
    window.ask_colour = lambda initial: "#123456"
    tiles["colour"].click()
    wait_settings(qtbot, window, background="colour")
    window.colour_button.click()
    wait_settings(qtbot, window, background="colour", colour="#123456")
    assert window.colour_button.text() == "#123456"
    window.save_now()
    saved = load_settings(settings_path(), strict=True)
    assert (saved.background, saved.colour, saved.blur_strength) == ("colour", "#123456", 40)


def test_edge_and_model_controls_change_the_engine_settings(
    qtbot, open_window, model_path, tmp_path
):
    window = open_window()
    wait_running(qtbot, window)
    # The model section names what runs: file, input size (H x W), precision, device.
    qtbot.waitUntil(lambda: window.model_hint.text().startswith("red · 64x96 · fp32 · CPU\n"))
    window.threshold_slider.slider.setValue(30)
    wait_settings(qtbot, window, threshold=0.3)
    window.feather_slider.slider.setValue(8)  # 0.5 px steps
    wait_settings(qtbot, window, feather=4.0)
    assert window.smoothing_choice.value() == "off"
    window.smoothing_choice.select("steady")
    wait_settings(qtbot, window, smoothing="steady")
    assert window.engine.pipeline._refiner.smoothing == "steady"  # applied live
    assert "hold longest" in window.smoothing_hint.text()
    window.guided.click()
    wait_settings(qtbot, window, guided=False)
    window.threads_spin.setValue(2)
    wait_settings(qtbot, window, threads=2)
    window.frame_threads_spin.setValue(1)
    wait_settings(qtbot, window, frame_threads=1)
    choose(window.provider_combo, "auto")
    wait_settings(qtbot, window, provider="auto")
    window.infer_spin.setValue(2)
    wait_settings(qtbot, window, infer_every=2)
    window.skip_static.click()
    wait_settings(qtbot, window, skip_static=False)
    window.ask_open_file = lambda *args: str(model_path)
    window.model_choice.select("custom")
    wait_settings(qtbot, window, model=str(model_path))
    assert window.model_choice.value() == "custom"
    info = window.engine.pipeline.model_info
    assert info.path == model_path and info.providers[-1] == "cpu"
    qtbot.waitUntil(lambda: window.model_hint.text().startswith(info.line()))  # updated async
    assert model_path.stem in info.line() and str(model_path) in window.model_hint.toolTip()
    wait_frames(qtbot, window)  # the new model runs
    window.close()
    saved = load_settings(settings_path(), strict=True)
    assert (saved.threshold, saved.feather, saved.smoothing, saved.guided) == (
        0.3,
        4.0,
        "steady",
        False,
    )
    assert (saved.threads, saved.provider, saved.infer_every, saved.skip_static) == (
        2,
        "auto",
        2,
        False,
    )
    assert saved.model == str(model_path) and saved.frame_threads == 1


def test_output_controls_are_saved(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    window.output_choice.select("file")
    assert window.output_file_row.isVisible() and not window.device_row.isVisible()
    assert window.start_button.text() == "Start recording"
    target = tmp_path / "call.avi"
    window.output_path.setText(str(target))
    window.output_path.editingFinished.emit()
    window.output_choice.select("virtual")
    window.device_combo.setEditText("/dev/video9")
    window.device_combo.lineEdit().editingFinished.emit()
    window.save_now()
    saved = load_panel_settings()
    assert (saved.output, saved.output_path, saved.virtual_device) == (
        "virtual",
        str(target),
        "/dev/video9",
    )
    shared = load_settings(settings_path(), strict=True)
    assert (shared.output_path, shared.virtual_device) == ("", "")
    # Not started: the pipeline runs the preview only, with the other settings.
    assert window.engine.pipeline.settings.output == "none"
    wait_settings(qtbot, window, virtual_device="/dev/video9", output_path=str(target))


# ---------------------------------------------------------------------------------------------
# output start/stop


def test_virtual_camera_starts_and_stops_live(qtbot, open_window, fake_vcam):
    window = open_window(virtual_backend=FAKE_BACKEND)
    wait_running(qtbot, window)
    assert window.start_button.text() == "Start virtual camera"
    window.start_button.click()
    qtbot.waitUntil(
        lambda: bool(fake_vcam.instances) and len(fake_vcam.instances[0].frames) >= 3,
        timeout=WAIT_MS,
    )
    qtbot.waitUntil(lambda: window.start_button.text() == "Stop virtual camera", timeout=WAIT_MS)
    assert "/dev/fake-vcam" in window.output_status.text()
    assert window.preview.badge == "LIVE"
    sent = fake_vcam.instances[0].frames[-1]  # RGB: the composite, box kept, background replaced
    assert near(tuple(int(v) for v in sent[54, 172]), (255, 0, 255))
    assert near(tuple(int(v) for v in sent[80, 96]), RED)
    window.start_button.click()
    qtbot.waitUntil(lambda: fake_vcam.instances[0].closed, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.start_button.text() == "Start virtual camera", timeout=WAIT_MS)
    wait_frames(qtbot, window)  # the preview goes on without the virtual camera
    assert window.engine.pipeline.settings.output == "none"


def test_missing_virtual_camera_shows_the_fix_and_keeps_the_preview(qtbot, open_window):
    if loopback_devices():
        pytest.skip("this machine has a v4l2loopback device")
    window = open_window()
    wait_running(qtbot, window)
    window.start_button.click()
    text = wait_message(qtbot, window, "virtual camera")
    if sys.platform.startswith("linux"):
        assert "modprobe v4l2loopback" in text
    assert text.endswith("(or choose Video file under Output)")  # the panel's words,
    assert "--output" not in text  # not the command line's
    qtbot.waitUntil(lambda: window.start_button.text() == "Start virtual camera", timeout=WAIT_MS)
    assert window.output_status.text() == text  # the fix-it line under the button, too
    assert not window.output_on and window.engine.pipeline.running
    wait_frames(qtbot, window)  # never frozen: frames keep coming


def test_a_virtual_camera_failing_mid_run_is_reported_and_the_preview_goes_on(
    qtbot, open_window, fake_vcam, monkeypatch
):
    window = open_window(virtual_backend=FAKE_BACKEND)
    wait_running(qtbot, window)
    real_send = fake_vcam.send

    def send_then_fail(self, frame):
        if len(self.frames) >= 3:
            raise RuntimeError("device unplugged")
        real_send(self, frame)

    monkeypatch.setattr(fake_vcam, "send", send_then_fail)
    window.start_button.click()
    wait_message(qtbot, window, "stopped accepting frames", "device unplugged")
    qtbot.waitUntil(lambda: window.start_button.text() == "Start virtual camera", timeout=WAIT_MS)
    assert "device unplugged" in window.output_status.text()
    assert window.engine.pipeline.running and window.engine.pipeline.settings.output == "none"
    wait_frames(qtbot, window)  # the preview goes on without the virtual camera
    window.start_button.click()  # and it can be started again
    qtbot.waitUntil(lambda: len(fake_vcam.instances) == 2, timeout=WAIT_MS)


def test_a_run_that_fails_mid_way_is_reported_and_restarted_once(qtbot, open_window, monkeypatch):
    from vcam.backgrounds import ColourBackground

    window = open_window()
    wait_running(qtbot, window)
    real = ColourBackground.composite
    calls = {"n": 0}

    def fail_once(self, frame, alpha, out=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("kernel exploded")
        return real(self, frame, alpha, out)

    monkeypatch.setattr(ColourBackground, "composite", fail_once)
    wait_message(qtbot, window, "kernel exploded")
    assert window.status_message.property("level") == "error"
    qtbot.waitUntil(lambda: window.engine.pipeline.running, timeout=WAIT_MS)  # restarted
    wait_frames(qtbot, window)
    assert calls["n"] > 3


def test_recording_to_a_file_starts_and_stops(qtbot, open_window, tmp_path):
    target = tmp_path / "recorded.avi"
    window = open_window(output="file", output_path=str(target))
    wait_running(qtbot, window)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.start_button.text() == "Stop recording", timeout=WAIT_MS)
    assert window.preview.badge == "REC"
    wait_frames(qtbot, window, 5)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.start_button.text() == "Start recording", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.engine.pipeline.settings.output == "none", timeout=WAIT_MS)
    capture = cv2.VideoCapture(str(target))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (108, 192, 3)
    assert near(tuple(int(v) for v in frame[54, 172][::-1]), (255, 0, 255), 50)


# ---------------------------------------------------------------------------------------------
# errors: shown, never a crash; nothing configured is lost


def test_a_bad_background_file_keeps_the_previous_background(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    window.ask_open_file = lambda *args: str(broken)
    window.background_tiles.tiles["file"].click()
    wait_message(qtbot, window, "broken.png")
    assert window.status_message.property("level") == "error"
    assert window.engine.pipeline.settings.background == "colour"
    qtbot.waitUntil(lambda: window.settings.background == "colour", timeout=WAIT_MS)
    assert window.background_tiles.value() == "colour"
    assert window.settings.colour == MAGENTA
    window.view_mode.select("after")
    wait_frames(qtbot, window, 3)  # still running, still the colour
    assert near(rgb_at(window, *BACKGROUND_SPOT), (255, 0, 255))
    window.save_now()
    assert load_settings(settings_path(), strict=True).background == "colour"


def test_a_missing_model_is_reported_and_the_running_one_stays(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    running_model = window.engine.pipeline.settings.model
    window.ask_open_file = lambda *args: str(tmp_path / "missing.onnx")
    window.model_choice.select("custom")
    wait_message(qtbot, window, "missing.onnx")
    qtbot.waitUntil(lambda: window.settings.model == running_model, timeout=WAIT_MS)
    assert window.engine.pipeline.settings.model == running_model
    wait_frames(qtbot, window)


def test_a_panel_that_cannot_start_shows_why_and_recovers(qtbot, open_window, red_model, tmp_path):
    window = open_window(model=str(tmp_path / "gone.onnx"))
    wait_message(qtbot, window, "gone.onnx")
    assert not window.engine.pipeline.running
    assert "gone.onnx" in window.preview.placeholder
    assert "gone.onnx" in window.model_hint.text()  # the model section says so too
    window.view_mode.select("after")  # the window still answers
    window.ask_open_file = lambda *args: str(red_model)
    window.model_choice.select("custom")
    wait_running(qtbot, window)
    assert window.settings.model == str(red_model)


def test_an_unreadable_source_file_keeps_the_running_source(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    previous = window.engine.pipeline.settings.input_path
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00" * 100)
    window.ask_open_file = lambda *args: str(bad)
    choose(window.camera_combo, "open:")
    wait_message(qtbot, window, "bad.avi")
    qtbot.waitUntil(lambda: window.settings.input_path == previous, timeout=WAIT_MS)
    assert window.engine.pipeline.settings.input_path == previous
    wait_frames(qtbot, window)


# ---------------------------------------------------------------------------------------------
# cameras, persistence, closing


def test_no_camera_found_offers_the_sample_and_files(qtbot, open_window, sample_video):
    window = open_window(source="camera", camera="0")
    wait_running(qtbot, window)
    combo = window.camera_combo
    assert combo.itemText(0) == "No camera found"
    assert not combo.model().item(0).isEnabled()
    assert combo.currentData() == "sample:"
    assert window.engine.pipeline.settings.source == "sample"
    wait_message(qtbot, window, "No camera found")
    window.save_now()
    assert load_panel_settings().source == "camera"  # not overwritten by the stand-in
    window.ask_open_file = lambda *args: str(sample_video)
    choose(combo, "open:")
    wait_settings(qtbot, window, source="video", input_path=str(sample_video))


def test_a_camera_plugged_in_later_replaces_the_sample(qtbot, open_window, monkeypatch):
    from vcam.sources import CameraInfo

    window = open_window(source="camera", camera="0")
    wait_running(qtbot, window)
    assert window.engine.pipeline.settings.source == "sample"
    # A camera appears; opening it fails here (there is none), which the panel must report.
    monkeypatch.setattr(ui.worker, "find_cameras", lambda: [CameraInfo(0, 640, 480, "Late Cam")])
    window.refresh_cameras.click()
    qtbot.waitUntil(lambda: window.camera_combo.findData("camera:0") >= 0, timeout=WAIT_MS)
    choose(window.camera_combo, "camera:0")
    text = wait_message(qtbot, window, "camera 0")
    assert window.status_message.property("level") == "error"
    assert "look for cameras again" in text and "vcam devices" not in text  # panel's words
    wait_frames(qtbot, window)  # the sample goes on meanwhile
    assert window.engine.pipeline.settings.source == "sample"
    assert window.settings.source == "camera"  # the choice is kept for when it works
    assert window.camera_combo.currentData() == "sample:"


def test_wait_for_camera_shows_a_notice_until_the_camera_is_plugged_in(
    qtbot, open_window, tmp_path, monkeypatch
):
    monkeypatch.setattr("vcam.pipeline.RECONNECT_FIRST_DELAY", 0.2)
    monkeypatch.setattr("vcam.pipeline.RECONNECT_MAX_DELAY", 0.4)
    camera = tmp_path / "camera.avi"  # OpenCV opens a file like a camera; not there yet
    window = open_window(source="camera", camera=str(camera), fourcc="", width=192, height=108)
    wait_running(qtbot, window)
    assert window.engine.pipeline.settings.source == "sample"  # stands in: not waiting
    assert not window.wait_camera.isChecked()
    states: list[str] = []
    window.engine.status.connect(lambda status: states.append(status.state))
    window.wait_camera.click()
    wait_settings(qtbot, window, source="camera", camera=str(camera), wait_for_camera=True)
    text = wait_message(qtbot, window, "camera.avi not found")
    assert window.status_message.property("level") == "warning"
    assert "vcam devices" not in text  # the panel's words
    assert window.camera_combo.currentText() == f"Camera {camera} · waiting"
    qtbot.waitUntil(lambda: window.source_info.text().endswith("· waiting"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.preview.frame.placeholder, timeout=WAIT_MS)  # the card
    card = window.preview.frame.image
    assert np.median(card) < 90 and card.max() > 150  # dark, with the notice's text
    assert window.preview.mode == "split"  # but a card is shown whole: no divider on it
    shown = window.preview.grab().toImage()
    target = fitted_rect(window.preview.displayed_image().size(), QRectF(shown.rect()))
    divider = shown.pixelColor(int(target.center().x()), int(target.top() + 6))
    assert divider.lightness() < 100, "the split divider is drawn over the card"
    window.save_now()
    assert load_panel_settings().wait_for_camera  # kept for next time

    write_video(tmp_path / "plugging.avi", frames=60).rename(camera)  # plugged in
    qtbot.waitUntil(lambda: "running" in states, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.camera_combo.currentText() == f"Camera {camera}")
    assert window.engine.pipeline.settings.source == "camera"
    window.wait_camera.click()  # off again: a camera that works stays
    wait_settings(qtbot, window, wait_for_camera=False, source="camera")


def test_cameras_are_listed_by_the_engine(qtbot, open_window, monkeypatch):
    from vcam.sources import CameraInfo

    found = [CameraInfo("/dev/video4", 1280, 720, "Test Cam")]
    monkeypatch.setattr(ui.worker, "find_cameras", lambda: found)
    window = open_window()
    wait_running(qtbot, window)
    window.refresh_cameras.click()
    qtbot.waitUntil(lambda: window.camera_combo.findData("camera:/dev/video4") >= 0)
    index = window.camera_combo.findData("camera:/dev/video4")
    assert window.camera_combo.itemText(index) == "Test Cam · 1280×720"


def test_settings_are_restored_in_a_second_window(qtbot, open_window):
    first = open_window()
    wait_running(qtbot, first)
    first.background_tiles.tiles["blur"].click()
    first.blur_slider.slider.setValue(60)
    first.threshold_slider.slider.setValue(70)
    first.mirror.click()
    first.output_choice.select("file")
    wait_settings(qtbot, first, background="blur", blur_strength=61, threshold=0.7, mirror=True)
    first.close()
    second = open_window(save=False)
    wait_running(qtbot, second)
    assert second.background_tiles.value() == "blur"
    assert second.blur_slider.value() == 61 and second.threshold_slider.value() == 0.7
    assert second.mirror.isChecked() and second.output_choice.value() == "file"
    held = second.engine.pipeline.settings
    assert (held.background, held.blur_strength, held.threshold, held.mirror) == (
        "blur",
        61,
        0.7,
        True,
    )


def test_closing_stops_the_threads_and_releases_the_source(qtbot, open_window, fake_vcam):
    window = open_window(virtual_backend=FAKE_BACKEND)
    wait_running(qtbot, window)
    window.start_button.click()
    qtbot.waitUntil(
        lambda: bool(fake_vcam.instances) and bool(fake_vcam.instances[0].frames), timeout=WAIT_MS
    )
    source = window.engine.pipeline.source
    assert vcam_threads()
    window.close()
    assert not window.engine.pipeline.running
    assert window.engine.thread.isFinished()
    assert vcam_threads() == []
    assert source.ended and source.read(timeout=0.1) is None
    assert fake_vcam.instances[0].closed


def test_the_window_works_without_a_system_tray(qtbot, no_cameras):
    if QSystemTrayIcon.isSystemTrayAvailable():
        pytest.skip("this desktop has a tray")
    save_settings(Settings(source="sample", model="fast"))
    window = MainWindow()  # asks for a tray; there is none: no icon, no error
    qtbot.addWidget(window)
    assert window.tray is None
    window.close()


def test_the_tray_menu_starts_and_stops_the_virtual_camera(
    qtbot, no_cameras, red_model, fake_vcam, monkeypatch
):
    # The offscreen platform has no tray; pretend one exists to drive the real tray menu.
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    settings = Settings(source="sample", model=str(red_model), virtual_backend=FAKE_BACKEND)
    window = MainWindow(settings.replace(width=320, height=180), settings_path())
    qtbot.addWidget(window)
    assert window.tray is not None and window.tray.contextMenu() is not None
    wait_running(qtbot, window)
    assert window.tray_toggle.text() == "Start virtual camera"
    window.tray_toggle.trigger()
    qtbot.waitUntil(lambda: bool(fake_vcam.instances) and bool(fake_vcam.instances[0].frames))
    qtbot.waitUntil(lambda: window.tray_toggle.text() == "Stop virtual camera", timeout=WAIT_MS)
    window.tray_toggle.trigger()
    qtbot.waitUntil(lambda: fake_vcam.instances[0].closed, timeout=WAIT_MS)
    window.close()
    assert vcam_threads() == []


def test_vcam_without_a_command_opens_the_panel(qtbot, no_cameras, base_settings, monkeypatch):
    from vcam import cli

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    save_settings(base_settings)
    seen = {}

    def close_when_live() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        live = [w for w in windows if w.isVisible() and w.preview.frames_shown > 2]
        if live:
            seen["title"] = live[0].windowTitle()
            live[0].close()
        else:
            QTimer.singleShot(50, close_when_live)

    QTimer.singleShot(50, close_when_live)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    signals = {sig: signal.getsignal(sig) for sig in CLOSING_SIGNALS}
    try:
        assert cli.main([]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
        for sig, handler in signals.items():
            signal.signal(sig, handler)
    assert seen["title"] == "vcam"
    assert vcam_threads() == []


def test_sigterm_closes_the_panel_cleanly_and_saves_its_settings_file(
    qtbot, no_cameras, base_settings, tmp_path
):
    import os

    import ui

    panel_file = tmp_path / "panel.json"
    save_settings(base_settings.replace(threshold=0.25), panel_file)
    handlers = {sig: signal.getsignal(sig) for sig in CLOSING_SIGNALS}

    def terminate_when_live() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if any(w.isVisible() and w.preview.frames_shown > 2 for w in windows):
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            QTimer.singleShot(50, terminate_when_live)

    QTimer.singleShot(50, terminate_when_live)
    try:
        assert ui.main(["--settings", str(panel_file)]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert vcam_threads() == []
    assert load_settings(panel_file, strict=True).threshold == 0.25
    assert not settings_path().exists()  # the default file was never touched


def test_output_frame_shapes_are_respected_by_the_preview(qtbot):
    """A frame whose camera picture and result differ in size (a camera switch) still shows."""
    from ui.preview import PreviewWidget

    widget = PreviewWidget()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.set_mode("after")
    before = np.zeros((60, 80, 3), np.uint8)
    after = np.full((90, 160, 3), 255, np.uint8)
    widget.show_frame(OutputFrame(after, before, np.zeros((90, 160), np.uint8), 0, 0.0))
    image = widget.displayed_image()
    assert image is not None and image.width() == 160 and image.height() == 90
    assert widget.grab().toImage().pixelColor(200, 150).red() == 255


# ---------------------------------------------------------------------------------------------
# issue 14: what a new user hit


def wheel(widget, notches: int = -1) -> None:
    """Turn the mouse wheel over the middle of ``widget`` (negative: towards the user)."""
    from PyQt6.QtCore import QPointF
    from PyQt6.QtGui import QWheelEvent

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_column_and_changes_no_setting_it_passes(qtbot, open_window):
    window = open_window()
    window.resize(window.minimumSize())
    wait_running(qtbot, window)
    column = window.findChild(QScrollArea, "sidebar").verticalScrollBar()
    assert column.maximum() > 0, "the settings column does not scroll at this size"
    controls = {
        "feather": window.feather_slider.slider,
        "light strength": window.light_slider.slider,
        "threads": window.threads_spin,
        "provider": window.provider_combo,
        "camera": window.camera_combo,
        "device": window.device_combo,
    }
    before = {
        name: control.value() if hasattr(control, "value") else control.currentIndex()
        for name, control in controls.items()
    }
    held = window.settings
    for control in controls.values():
        column.setValue(0)
        wheel(control, -2)
        assert column.value() > 0, f"{type(control).__name__}: the column did not scroll"
    after = {
        name: control.value() if hasattr(control, "value") else control.currentIndex()
        for name, control in controls.items()
    }
    assert after == before and window.settings == held
    window.save_now()
    assert load_settings(settings_path(), strict=True).feather == held.feather
    # Clicked (focused), a control takes the wheel as usual.
    slider = window.feather_slider.slider
    window.activateWindow()
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus, timeout=WAIT_MS)
    column.setValue(0)
    wheel(slider, 1)
    assert slider.value() != before["feather"] and column.value() == 0
    wait_settings(qtbot, window, feather=window.feather_slider.value())


def test_long_file_names_never_widen_the_settings_column(qtbot, open_window, tmp_path):
    window = open_window()
    wait_running(qtbot, window)
    scroll = window.findChild(QScrollArea, "sidebar")
    width = scroll.viewport().width()
    picture = tmp_path / ("lake-and-mountains-53941_1280" + "-and-a-very-long-name" * 3 + ".jpg")
    cv2.imwrite(str(picture), np.full((90, 160, 3), (0, 200, 255), np.uint8))
    clip = write_video(tmp_path / ("a-talk-recorded-in-the-office" + "-long" * 12 + ".avi"), 6)
    window.ask_open_file = lambda *args: str(picture)
    window.background_tiles.tiles["file"].click()
    wait_settings(qtbot, window, background="image", background_path=str(picture))
    window.ask_open_file = lambda *args: str(clip)
    choose(window.camera_combo, "open:")
    wait_settings(qtbot, window, source="video", input_path=str(clip))
    wait_frames(qtbot, window)
    QApplication.processEvents()
    body = scroll.widget()
    assert body.minimumSizeHint().width() <= width and body.width() <= width
    for label in (window.feather_slider.value_label, window.threshold_slider.value_label):
        right = label.mapTo(scroll.viewport(), QPoint(label.width(), 0)).x()
        assert right <= width, "a slider's value is cut off"
    shown = QLabel.text(window.background_file)  # as drawn: shortened in the middle
    assert "…" in shown and shown.startswith("lake-and") and shown.endswith(".jpg")
    assert window.background_file.toolTip() == str(picture)
    index = window.camera_combo.currentIndex()
    assert "…" in window.camera_combo.itemText(index)
    assert window.camera_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == str(clip)


def test_the_panels_camera_and_output_stay_out_of_the_command_line(
    qtbot, open_window, sample_video
):
    """The Source and Output cards are the panel's own; the look and the model (Background,
    Edges, Model) are shared with `vcam run` and `vcam matte` (README: Settings)."""
    from vcam.cli import build_parser, effective_settings

    window = open_window()  # settings.json: a video file into the virtual camera
    wait_running(qtbot, window)
    window.output_choice.select("file")
    choose(window.camera_combo, "sample:")
    window.mirror.click()
    window.background_tiles.tiles["blur"].click()
    window.feather_slider.slider.setValue(6)
    wait_settings(qtbot, window, source="sample", mirror=True, background="blur", feather=3.0)
    window.close()
    run = effective_settings(build_parser().parse_args(["run"]))
    assert (run.source, run.input_path, run.output, run.mirror) == (
        "video",
        str(sample_video),
        "virtual",
        False,
    )
    assert (run.background, run.feather) == ("blur", 3.0)
    matte = effective_settings(build_parser().parse_args(["matte", "in.mp4", "out.mp4"]))
    assert (matte.background, matte.feather, matte.mirror) == ("blur", 3.0, False)
    second = open_window(save=False)  # the panel finds its own choices again
    wait_running(qtbot, second)
    assert second.output_choice.value() == "file" and second.mirror.isChecked()
    assert second.camera_combo.currentData() == "sample:"
    assert second.background_tiles.value() == "blur"


def test_recordings_go_to_the_videos_folder_and_a_fixed_output_error_goes(
    qtbot, open_window, tmp_path, monkeypatch
):
    if loopback_devices():
        pytest.skip("this machine has a v4l2loopback device")
    home = tmp_path / "home"
    videos = home / "Videos"
    videos.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    window = open_window()
    wait_running(qtbot, window)
    window.start_button.click()  # no virtual camera here: a red error
    wait_message(qtbot, window, "virtual camera")
    assert window.status_message.property("level") == "error"
    window.output_choice.select("file")  # its cause is gone: so is the error
    assert "virtual camera" not in window.status_message.text()
    assert window.status_message.property("level") == ""
    assert window.output_status.property("level") == ""
    assert f"it will be saved to {videos}/vcam-<date>-<time>.mp4" in window.output_status.text()
    window.start_button.click()
    qtbot.waitUntil(lambda: window.start_button.text() == "Stop recording", timeout=WAIT_MS)
    wait_frames(qtbot, window, 5)
    (recording,) = videos.glob("vcam-*.mp4")
    assert window.output_status.text() == f"● Live — recording to {recording}"
    assert window.status_message.property("level") == ""
    window.start_button.click()
    qtbot.waitUntil(lambda: window.start_button.text() == "Start recording", timeout=WAIT_MS)
    assert window.output_status.text() == f"Saved {recording}"
    capture = cv2.VideoCapture(str(recording))
    assert capture.read()[0]
    capture.release()
    recording.unlink()
    videos.rmdir()  # no Videos folder: the home folder; a typed name goes there too
    window.output_path.setText("talk.mp4")
    window.output_path.editingFinished.emit()
    assert window.settings.output_path == str(home / "talk.mp4")
    assert window.output_path.text() == str(home / "talk.mp4")
    assert not list(Path.cwd().glob("vcam-*.mp4"))  # never the launch folder
