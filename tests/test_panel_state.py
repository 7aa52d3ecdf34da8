"""ui.state.PanelState: the panel's decisions, without Qt or a display."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

from ui.state import PanelState, camera_key
from vcam.settings import Settings

RECORDING = Path("/videos/vcam-1.mp4")


def state(**fields) -> PanelState:
    return PanelState(Settings(**fields))


def test_qt_free():
    code = "import sys, ui.state; print('PyQt6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_target_keeps_the_output_off_until_started_and_names_the_recording():
    s = state(source="camera", output="file")
    assert s.target(lambda: RECORDING).output == "none"
    s.output_on = True
    target = s.target(lambda: RECORDING)
    assert target.output == "file" and target.output_path == str(RECORDING)
    s.settings = s.settings.replace(output="none")
    assert s.target(lambda: RECORDING).output == "virtual"  # started: something must run


def test_the_sample_stands_in_for_a_missing_camera_unless_waiting():
    s = state(source="camera", camera="0")
    assert s.take_cameras([], first=True) == (True, False)
    assert s.no_camera and s.sample_stands_in
    assert s.target(lambda: RECORDING).source == "sample"
    assert s.no_camera_note() == ": showing the bundled sample"
    s.settings = s.settings.replace(wait_for_camera=True)
    assert not s.sample_stands_in and s.no_camera_note() == ": waiting for camera 0"
    assert s.camera_is_back("camera") and not s.no_camera
    assert not s.camera_is_back("camera")


def test_cameras_found_use_another_camera_rather_than_nothing():
    s = state(source="camera", camera="3")
    assert s.take_cameras(["/dev/video0", "/dev/video2"], first=True) == (True, True)
    assert s.settings.camera == "/dev/video0" and not s.no_camera
    assert s.take_cameras(["/dev/video0"], first=False) == (False, False)  # nothing to do
    assert camera_key("/dev/video2") == camera_key(2) == "2"
    s = state(source="camera", camera="2")
    assert s.take_cameras(["/dev/video2"], first=True) == (True, False)


def test_refused_settings_go_back_unless_the_user_moved_on():
    s = state(blur_strength=10.0, background="blur")
    asked = s.settings.replace(blur_strength=20.0, background="image", background_path="x.png")
    s.settings = asked
    applied = asked.replace(background="blur", background_path="")
    assert s.take_result(asked, applied, "BackgroundError")
    assert s.settings.background == "blur" and s.settings.blur_strength == 20.0
    s.settings = s.settings.replace(threshold=0.7)  # the user moved on
    assert not s.take_result(asked.replace(threshold=0.6), s.settings.replace(threshold=0.5), "")
    assert s.settings.threshold == 0.7


def test_a_camera_that_fails_keeps_the_choice_and_the_sample_stands_in():
    s = state(source="camera", camera="1")
    asked = s.settings
    applied = asked.replace(source="sample")
    assert not s.take_result(asked, applied, "CameraError")
    assert s.no_camera and s.settings.source == "camera" and s.settings.camera == "1"
    assert s.choose(s.settings.replace(camera="2"), ["camera"]) and not s.no_camera
    assert not s.choose(s.settings, ["threshold"])
