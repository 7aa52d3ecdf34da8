"""No virtual camera device, the device busy, a sink that fails mid-stream: the preview and
the files keep working, with a one-line fix-it message.

The virtual cameras are pyvirtualcam's real Linux backend (no /dev/video* on this machine, so
it refuses exactly as on a desktop without v4l2loopback) and fake backends that record frames,
refuse to open ("busy") or stop accepting frames after a few.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import pyvirtualcam
from conftest import FAKE_BACKEND, FakeVirtualCamera, write_video
from helpers import Recorder, base_settings, check_person_kept_background_replaced, vcam_threads

from vcam.errors import OutputError, VirtualCameraError
from vcam.pipeline import Pipeline
from vcam.sinks import PngSink, PreviewSink, VideoFileSink, fit_to
from vcam.sources import VideoSource

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback")
FAILING_BACKEND = "vcam-test-failing"


class FailingVirtualCamera(FakeVirtualCamera):
    """A virtual camera that stops accepting frames after 5 (the device was removed)."""

    def send(self, frame: np.ndarray) -> None:
        if len(self.frames) >= 5:
            raise RuntimeError("device removed")
        super().send(frame)


@pytest.fixture
def failing_vcam(fake_vcam):
    pyvirtualcam.register_backend(FAILING_BACKEND, FailingVirtualCamera)
    yield FailingVirtualCamera
    pyvirtualcam.camera.BACKENDS.pop(FAILING_BACKEND, None)


def live_clip(tmp_path):
    return write_video(tmp_path / "loop.avi", frames=10, fps=30.0)


def frames_in(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


@linux_only
def test_no_virtual_camera_device_the_preview_and_the_file_keep_working(red_model, tmp_path):
    statuses = []
    recorder = Recorder()
    out = tmp_path / "out.avi"
    settings = base_settings(red_model, output="virtual", virtual_backend="v4l2loopback")
    pipeline = Pipeline(
        settings,
        sinks=[PreviewSink(recorder), VideoFileSink(out)],
        source=VideoSource(live_clip(tmp_path), loop=True, live=True),
        on_status=statuses.append,
    )
    with pipeline:
        recorder.wait_for(10)
        status = pipeline.status
        assert status.state == "running" and pipeline.error is None
        assert status.warning.startswith("virtual camera off: no virtual camera device found")
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in status.warning
        assert "\n" not in status.warning and status.warning in status.message
        assert "--output FILE" in status.warning  # the command line's wording
        assert str(status.warning_error) == status.warning  # and the panel's, without flags:
        assert status.warning_error.panel_message == status.warning.replace(
            "or write a file: --output FILE", "or choose Video file under Output"
        )
        assert pipeline.settings.output == "none"  # what runs: update(output=...) retries
        assert [type(s).__name__ for s in pipeline.sinks] == ["PreviewSink", "VideoFileSink"]
        check_person_kept_background_replaced(recorder.frames[-1])
    assert [s.state for s in statuses] == ["starting", "running", "stopped"]
    assert len(frames_in(out)) >= 10
    assert not vcam_threads()


def test_no_backend_at_all_and_a_busy_device(red_model, tmp_path, fake_vcam, monkeypatch):
    recorder = Recorder()
    busy = base_settings(red_model, output="virtual", virtual_backend=FAKE_BACKEND)
    busy = busy.replace(virtual_device="busy")
    clip = live_clip(tmp_path)
    with Pipeline(
        busy, sinks=[PreviewSink(recorder)], source=VideoSource(clip, live=True)
    ) as pipeline:
        recorder.wait_for(3)
        assert pipeline.status.warning.startswith("virtual camera off: virtual camera busy ")
        assert "close other apps using it" in pipeline.status.warning
    assert not fake_vcam.instances and not vcam_threads()

    monkeypatch.setattr("pyvirtualcam.camera.BACKENDS", {})
    recorder = Recorder()
    none = base_settings(red_model, output="virtual")
    with Pipeline(none, sinks=[PreviewSink(recorder)], source=VideoSource(clip)) as pipeline:
        recorder.wait_for(3)
        assert "virtual camera" in pipeline.status.warning and pipeline.running
    # Alone, with nothing else to feed, it is an error before any thread starts.
    with pytest.raises(VirtualCameraError):
        Pipeline(none, source=VideoSource(clip)).start()
    assert not vcam_threads()


def test_virtual_camera_that_fails_mid_stream_is_dropped_and_can_come_back(
    red_model, tmp_path, failing_vcam
):
    recorder = Recorder()
    statuses = []
    settings = base_settings(red_model, output="virtual", virtual_backend=FAILING_BACKEND)
    pipeline = Pipeline(
        settings,
        sinks=[PreviewSink(recorder)],
        source=VideoSource(live_clip(tmp_path), loop=True, live=True),
        on_status=statuses.append,
    )
    with pipeline:
        recorder.wait_for(15)
        first = failing_vcam.instances[0]
        assert first.closed and len(first.frames) == 5
        status = pipeline.status
        assert status.state == "running" and pipeline.error is None
        assert status.warning == (
            "virtual camera off: virtual camera stopped accepting frames: device removed"
        )
        assert pipeline.settings.output == "none"
        # Asking for the virtual camera again opens a new one (here a working backend).
        pipeline.update(pipeline.settings.replace(output="virtual", virtual_backend=FAKE_BACKEND))
        count = len(recorder.frames)
        recorder.wait_for(count + 5)
        second = failing_vcam.instances[-1]
        assert second is not first and len(second.frames) >= 4
        assert pipeline.status.warning == "" and pipeline.settings.output == "virtual"
    assert second.closed and not vcam_threads()
    assert sum("virtual camera off" in s.message for s in statuses) == 1


def test_the_only_sink_failing_mid_stream_is_an_error(red_model, tmp_path, failing_vcam):
    settings = base_settings(red_model, output="virtual", virtual_backend=FAILING_BACKEND)
    source = VideoSource(live_clip(tmp_path), loop=True, live=True)
    with Pipeline(settings, source=source) as pipeline:
        assert pipeline.wait(20.0)
    assert pipeline.status.state == "error"
    assert isinstance(pipeline.error, VirtualCameraError)
    assert str(pipeline.error) == "virtual camera stopped accepting frames: device removed"
    assert failing_vcam.instances[0].closed
    assert not source.is_open and not vcam_threads()


def test_a_png_folder_that_disappears_does_not_stop_the_preview(red_model, tmp_path):
    folder = tmp_path / "frames"
    recorder = Recorder()
    pngs = PngSink(folder)
    source = VideoSource(live_clip(tmp_path), loop=True, live=True)
    pipeline = Pipeline(
        base_settings(red_model), sinks=[pngs, PreviewSink(recorder)], source=source
    )
    with pipeline:
        recorder.wait_for(3)
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
        folder.write_text("a file where the folder was")  # now nothing can be written there
        count = len(recorder.frames)
        recorder.wait_for(count + 5)
        assert pipeline.running and pipeline.error is None
        assert pipeline.status.warning.startswith(f"PNG sequence {folder} off: cannot write")
        assert pipeline.sinks == [pipeline.sinks[0]] and isinstance(pipeline.sinks[0], PreviewSink)
    assert not vcam_threads()


def test_output_errors_at_start_stay_errors(red_model, tmp_path):
    """A file the user asked for that cannot be written is not silently skipped."""
    recorder = Recorder()
    settings = base_settings(red_model, output="file", output_path=str(tmp_path / "no" / "o.avi"))
    source = VideoSource(live_clip(tmp_path))
    with pytest.raises(OutputError, match="does not exist"):
        Pipeline(settings, sinks=[PreviewSink(recorder)], source=source).start()
    assert not source.is_open and not vcam_threads()


def test_fit_to_keeps_the_shape_with_bars():
    image = np.full((90, 120, 3), 200, np.uint8)  # 4:3
    wide = fit_to(image, (160, 90))
    assert wide.shape == (90, 160, 3)
    assert (
        (wide[:, :20] == 0).all() and (wide[:, -20:] == 0).all() and (wide[:, 20:140] == 200).all()
    )
    tall = fit_to(np.full((90, 160), 255, np.uint8), (120, 90))  # grey, 16:9 into 4:3
    assert tall.shape == (90, 120) and tall[0].max() == 0 and tall[45].min() == 255
    same = fit_to(image, (60, 45))
    assert same.shape == (45, 60, 3) and (same == 200).all()
    assert fit_to(image, (120, 90)) is image
    assert fit_to(np.zeros((1, 1, 3), np.uint8), (64, 48)).shape == (48, 64, 3)
