"""Sinks: a fake pyvirtualcam backend, real video files, real PNGs, one-line errors."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from conftest import FAKE_BACKEND, synthetic_frame

from vcam.errors import OutputError, VirtualCameraError
from vcam.sinks import (
    ImageFileSink,
    OutputFrame,
    PngSink,
    PreviewSink,
    VideoFileSink,
    VirtualCameraSink,
    virtual_camera_help,
    virtual_camera_status,
)


def output_frame(index: int, width: int = 192, height: int = 108, t: float = 0.0) -> OutputFrame:
    original = synthetic_frame(index, width, height)
    alpha = np.zeros((height, width), np.uint8)
    alpha[:, width // 2 :] = 255
    alpha[:, width // 2 - 1] = 100
    composite = original.copy()
    composite[alpha == 0] = (0, 255, 0)
    return OutputFrame(composite, original, alpha, index, t)


def test_virtual_camera_gets_rgb_frames(fake_vcam):
    sink = VirtualCameraSink(backend=FAKE_BACKEND)
    sink.open(192, 108, 30.0)
    assert sink.device_name == "/dev/fake-vcam"
    frames = [output_frame(i) for i in range(3)]
    for frame in frames:
        sink.send(frame)
    sink.close()
    sink.close()
    (camera,) = fake_vcam.instances
    assert (camera.width, camera.height, camera.fps) == (192, 108, 30.0)
    assert camera.closed and len(camera.frames) == 3
    for sent, frame in zip(camera.frames, frames, strict=True):
        assert np.array_equal(sent, cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB))
    assert sink.frames_sent == 3


def test_virtual_camera_resizes_frames_to_its_size(fake_vcam):
    with VirtualCameraSink(backend=FAKE_BACKEND) as sink:
        sink.open(96, 54, 30.0)
        sink.send(output_frame(0))
    assert fake_vcam.instances[0].frames[0].shape == (54, 96, 3)


def test_no_virtual_camera_is_a_one_line_error_with_the_fix(monkeypatch):
    monkeypatch.setattr("pyvirtualcam.camera.BACKENDS", {})
    with pytest.raises(VirtualCameraError) as info:
        VirtualCameraSink().open(64, 48, 30)
    message = str(info.value)
    assert "\n" not in message
    if sys.platform.startswith("linux"):
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vcam" in message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux only")
def test_real_linux_backend_without_a_device_explains_modprobe():
    # This machine has no /dev/video*: pyvirtualcam's real v4l2loopback backend refuses.
    with pytest.raises(VirtualCameraError, match=r"^no virtual camera device found: load v4l2"):
        VirtualCameraSink(backend="v4l2loopback").open(64, 48, 30)


def test_named_busy_device_and_unknown_backend(fake_vcam):
    with pytest.raises(VirtualCameraError, match=r"^virtual camera busy cannot be opened"):
        VirtualCameraSink(device="busy", backend=FAKE_BACKEND).open(64, 48, 30)
    with pytest.raises(VirtualCameraError, match="backend 'nope' is not available"):
        VirtualCameraSink(backend="nope").open(64, 48, 30)


def test_help_per_platform(monkeypatch):
    for platform, words in (
        ("win32", "Unity Capture"),
        ("darwin", "OBS"),
        ("linux", "modprobe"),
        ("sunos5", "no virtual camera backend"),
    ):
        monkeypatch.setattr("sys.platform", platform)
        cli, panel = virtual_camera_help("x"), virtual_camera_help("x", for_panel=True)
        assert words in cli and words in panel
        assert cli.endswith("(or write a file: --output FILE)")  # the command line's way
        assert panel.endswith("(or choose Video file under Output)") and "--" not in panel
    assert any("backends" in line for line in virtual_camera_status())


def test_virtual_camera_errors_carry_the_panels_wording(fake_vcam, monkeypatch):
    monkeypatch.setattr("pyvirtualcam.camera.BACKENDS", {})  # no backend at all
    with pytest.raises(VirtualCameraError) as info:
        VirtualCameraSink().open(64, 48, 30)
    monkeypatch.undo()
    assert "--output FILE" in str(info.value)
    assert info.value.panel_message == virtual_camera_help(for_panel=True)
    with pytest.raises(VirtualCameraError) as info:  # nothing command-line in it: the same
        VirtualCameraSink(device="busy", backend=FAKE_BACKEND).open(64, 48, 30)
    assert info.value.panel_message == str(info.value)


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_file_sink_writes_readable_video(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with VideoFileSink(path) as sink:
        sink.open(192, 108, 10.0)
        for index in range(6):
            sink.send(output_frame(index))
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (ok_image := capture.read())[0]:
        frames.append(ok_image[1])
    capture.release()
    assert len(frames) == 6 == sink.frames_written
    assert frames[0].shape == (108, 192, 3)
    # The background was replaced by green in the composite; the person half is the original.
    assert frames[3][50, 10].tolist() == pytest.approx([0, 255, 0], abs=12)
    person = output_frame(3).original[50, 150].tolist()
    assert frames[3][50, 150].tolist() == pytest.approx(person, abs=12)


def test_video_file_sink_alpha_content(tmp_path):
    path = tmp_path / "alpha.avi"
    with VideoFileSink(path, content="alpha") as sink:
        sink.send(output_frame(0))
    ok, image = cv2.VideoCapture(str(path)).read()
    assert ok and image[10, 10].max() < 10 and image[10, 150].min() > 240


def test_constant_rate_fills_gaps_by_timestamp(tmp_path):
    sink = VideoFileSink(tmp_path / "live.avi", constant_rate=True)
    sink.open(192, 108, 10.0)
    for t in (100.0, 100.1, 100.5, 100.55, 100.6):  # a 0.4 s stall after the second frame
        sink.send(output_frame(0, t=t))
    sink.close()
    # Slots 0 and 1; the frame at slot 5 fills 2-5 (4 copies); late frames are written once.
    assert sink.frames_written == 1 + 1 + 4 + 1 + 1
    assert int(cv2.VideoCapture(str(sink.path)).get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_video_file_errors_are_one_line(tmp_path):
    with pytest.raises(OutputError, match=r"unknown type '\.xyz'; use \.mp4 or \.avi"):
        VideoFileSink(tmp_path / "out.xyz")
    with pytest.raises(OutputError, match=r"folder .*missing does not exist"):
        VideoFileSink(tmp_path / "missing" / "out.mp4").open(64, 48, 30)


def test_png_sink_writes_rgba_with_the_alpha(tmp_path):
    folder = tmp_path / "frames"
    with PngSink(folder) as sink:
        for index in range(3):
            sink.send(output_frame(index))
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"frame-{i:06d}.png" for i in range(3)]
    rgba = cv2.imread(str(files[1]), cv2.IMREAD_UNCHANGED)
    frame = output_frame(1)
    assert rgba.shape == (108, 192, 4)
    assert np.array_equal(rgba[..., :3], frame.original)
    assert np.array_equal(rgba[..., 3], frame.alpha)


def test_png_sink_cannot_create_its_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create folder"):
        PngSink(blocker / "frames").open(64, 48, 30)


def test_image_file_sink_contents(tmp_path):
    frame = output_frame(2)
    for content in ("composite", "alpha", "rgba"):
        path = tmp_path / f"{content}.png"
        with ImageFileSink(path, content=content) as sink:
            sink.send(frame)
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        expected = {"composite": frame.image, "alpha": frame.alpha}.get(content)
        if content == "rgba":
            expected = np.dstack([frame.original, frame.alpha])
        assert np.array_equal(image, expected)
    with pytest.raises(OutputError, match="use a .png"):
        ImageFileSink(tmp_path / "x.jpg", content="rgba")
    with pytest.raises(OutputError, match="use .png or .jpg"):
        ImageFileSink(tmp_path / "x.txt")


def test_preview_sink_calls_back_and_survives_a_broken_callback(caplog):
    got = []
    sink = PreviewSink(got.append)
    frame = output_frame(0)
    sink.send(frame)
    assert got == [frame]

    def broken(_frame):
        raise RuntimeError("widget gone")

    sink = PreviewSink(broken)
    sink.send(frame)
    sink.send(frame)
    assert sink.frames_sent == 2
    assert caplog.text.count("preview callback failed") == 1


def test_closed_sink_ignores_frames(tmp_path):
    sink = VideoFileSink(tmp_path / "x.avi")
    sink.send(output_frame(0))
    sink.close()
    sink.send(output_frame(1))
    assert sink.frames_written == 1
