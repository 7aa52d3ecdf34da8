"""Ctrl-C, SIGTERM, SIGHUP and closing the panel: every thread ends, the camera and the
virtual camera are released, files are finished, within a second or two.

The signals go to a real ``vcam run`` process reading a video file into a video file; the
panel is the real ``ui.worker.Engine`` (offscreen Qt) when PyQt6 is installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import FAKE_BACKEND, REPO
from helpers import base_settings, vcam_threads

from vcam.errors import VcamError
from vcam.pipeline import Pipeline
from vcam.sinks import PreviewSink
from vcam.sources import VideoSource

SIGNALS = [("SIGINT", 130), ("SIGTERM", 0), ("SIGHUP", 0)]

# A stop takes well under a second on a quiet machine; the bound is looser so that a loaded
# shared machine (2 cores, other work) cannot fail it, while a hang still does.
STOP_BOUND = 4.0


def textured_clip(path, frames: int = 20, size=(640, 360), fps: float = 30.0):
    """Noisy frames: big MJPG frames, so the output file grows visibly while it runs."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        frame = rng.integers(0, 120, (size[1], size[0], 3), dtype=np.uint8)
        frame[size[1] // 4 :, size[0] // 3 : 2 * size[0] // 3, 2] = 230
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def cli_env(config_dir) -> dict[str, str]:
    environ = dict(os.environ)
    environ.update(
        VCAM_CONFIG_DIR=str(config_dir),
        PYTHONPATH=os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")]),
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        environ.pop(name, None)
    return environ


def start_vcam(env, cwd, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vcam", *map(str, args)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A child must not inherit an ignored SIGINT (as from a non-interactive shell's "&").
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_output(process: subprocess.Popen, path, size: int = 150_000) -> None:
    deadline = time.monotonic() + 90
    while not path.exists() or path.stat().st_size < size:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the output did not grow"
        time.sleep(0.05)


def stop_with(process: subprocess.Popen, name: str) -> tuple[float, str, str]:
    """Send the signal; (seconds until the process ended, stdout, stderr)."""
    sent = time.monotonic()
    process.send_signal(getattr(signal, name))
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    elapsed = time.monotonic() - sent
    stdout, stderr = process.communicate()
    return elapsed, stdout, stderr


def video_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


@pytest.mark.parametrize(("name", "code"), SIGNALS)
def test_signals_end_vcam_run_quickly_and_cleanly(cli_env, tmp_path, red_model, name, code):
    if not hasattr(signal, name):
        pytest.skip(f"no {name} here")
    clip = textured_clip(tmp_path / "in.avi")
    out = tmp_path / "out.avi"
    process = start_vcam(
        cli_env, tmp_path, "run", "--input", clip, "--model", red_model, "--output", out
    )
    wait_for_output(process, out)
    elapsed, stdout, stderr = stop_with(process, name)
    assert process.returncode == code, stderr
    assert elapsed < STOP_BOUND, f"{name}: {elapsed:.2f} s to exit"
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    if name == "SIGINT":
        assert stderr.strip().splitlines() == ["vcam: interrupted"]
    else:
        assert stderr.strip() == ""
        assert "frames to video file out.avi" in stdout
    frames = video_frames(out)  # finished properly: every frame decodes
    assert len(frames) >= 5 and {f.shape for f in frames} == {(360, 640, 3)}


def test_sigterm_while_waiting_for_a_camera(cli_env, tmp_path, red_model):
    out = tmp_path / "cards.avi"
    process = start_vcam(
        cli_env,
        tmp_path,
        "run",
        "--camera",
        tmp_path / "no-camera.avi",
        "--wait-for-camera",
        "--model",
        red_model,
        "--width",
        "640",
        "--height",
        "360",
        "--output",
        out,
    )
    wait_for_output(process, out, size=50_000)
    elapsed, stdout, stderr = stop_with(process, "SIGTERM")
    assert process.returncode == 0, stderr
    assert elapsed < STOP_BOUND
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "no-camera.avi not found" in lines[0], lines
    assert lines[0].startswith("vcam: WARNING: camera") and lines[0].endswith("; reconnecting")
    frames = video_frames(out)
    assert frames and frames[-1].shape == (360, 640, 3)
    assert np.median(frames[-1]) < 60 and frames[-1].max() > 150  # the "No camera" card


def test_stop_from_inside_a_preview_callback(red_model, tmp_path):
    """The panel may close from a callback on the frame worker itself."""
    clip = textured_clip(tmp_path / "in.avi", size=(192, 108))
    stopped = threading.Event()
    pipeline: Pipeline | None = None

    def on_frame(frame) -> None:
        if frame.index >= 3 and not stopped.is_set():
            pipeline.stop()
            stopped.set()

    source = VideoSource(clip, loop=True, live=True)
    pipeline = Pipeline(base_settings(red_model), sinks=[PreviewSink(on_frame)], source=source)
    pipeline.start()
    assert stopped.wait(20.0)
    deadline = time.monotonic() + 2.0
    while vcam_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not vcam_threads() and not pipeline.running
    assert pipeline.status.state == "stopped"
    assert not source.is_open


def test_stop_while_the_model_is_slow_and_an_update_waits(red_model, tmp_path, monkeypatch):
    """Inference hangs for 2 s (a slow first run) while the worker waits for its first alpha
    and update() waits for the worker: stop() still returns within about a second."""
    from vcam.matting import Matter

    real_infer = Matter.infer
    inferring = threading.Event()

    def slow_infer(self, blob, where):
        inferring.set()
        time.sleep(2.0)
        return real_infer(self, blob, where)

    monkeypatch.setattr(Matter, "infer", slow_infer)
    clip = textured_clip(tmp_path / "in.avi", size=(192, 108))
    source = VideoSource(clip, loop=True, live=True)
    pipeline = Pipeline(base_settings(red_model), source=source)
    pipeline.start()
    assert inferring.wait(10.0), "the first inference never began"
    outcome = []

    def change() -> None:
        try:
            pipeline.update(pipeline.settings.replace(colour="#0000ff"))
            outcome.append("applied")
        except VcamError as error:
            outcome.append(str(error))

    updater = threading.Thread(target=change)
    updater.start()
    time.sleep(0.2)
    started = time.monotonic()
    pipeline.stop()
    assert time.monotonic() - started < 1.5
    updater.join(2.0)
    assert not updater.is_alive() and outcome
    assert pipeline.status.state == "stopped" and not source.is_open
    deadline = time.monotonic() + 5.0
    while vcam_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not vcam_threads()  # the hung inference returned and its thread ended


def test_closing_the_panel_releases_everything_within_a_second(
    qtbot, red_model, tmp_path, fake_vcam
):
    pytest.importorskip("PyQt6")
    worker = pytest.importorskip("ui.worker")
    clip = textured_clip(tmp_path / "in.avi", size=(192, 108))
    settings = base_settings(
        red_model,
        source="video",
        input_path=str(clip),
        output="virtual",
        virtual_backend=FAKE_BACKEND,
    )
    engine = worker.Engine(settings)
    engine.apply(settings)
    qtbot.waitUntil(lambda: engine.mailbox.received >= 5, timeout=30_000)
    pipeline = engine.pipeline
    source = pipeline.source
    started = time.monotonic()
    engine.shutdown()
    assert time.monotonic() - started < 1.0
    assert not pipeline.running and pipeline.status.state == "stopped"
    assert not vcam_threads()
    assert not source.is_open
    (camera,) = fake_vcam.instances
    assert camera.closed and len(camera.frames) >= 5
