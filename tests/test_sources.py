"""Frame sources: real files, real capture threads, newest-frame-wins, clean release."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import frame_marker, synthetic_frame, write_video

from vcam.errors import CameraError, InputError
from vcam.sources import (
    CameraSource,
    Frame,
    ImageSource,
    LatestFrameBox,
    SampleSource,
    VideoSource,
    parse_camera,
    read_image,
)


def read_all(source, limit=500):
    frames = []
    while len(frames) < limit:
        frame = source.read(timeout=2.0)
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_latest_frame_box_keeps_only_the_newest():
    box = LatestFrameBox()
    for index in range(3):
        box.put(Frame(np.zeros((1, 1, 3), np.uint8), index, 0.0))
    assert box.get(0.1).index == 2
    assert box.dropped == 2
    assert box.get(0.01) is None  # nothing newer
    done = []
    waiter = threading.Thread(target=lambda: done.append(box.get(5.0)))
    waiter.start()
    box.close()
    waiter.join(1.0)
    assert done == [None] and not waiter.is_alive()


def test_parse_camera():
    assert parse_camera("0") == 0 and parse_camera(2) == 2
    assert parse_camera("/dev/video2") == "/dev/video2"


def test_offline_video_gives_every_frame_in_order(sample_video):
    with VideoSource(sample_video, live=False) as source:
        assert (source.width, source.height) == (192, 108)
        assert source.fps == pytest.approx(10.0)
        frames = read_all(source)
        assert source.ended and source.frames_dropped == 0
    assert [f.index for f in frames] == list(range(12))
    assert [frame_marker(f.image) for f in frames] == list(range(12))
    assert all(f.image.dtype == np.uint8 and f.image.shape == (108, 192, 3) for f in frames)
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)


def test_offline_video_loops(sample_video):
    with VideoSource(sample_video, loop=True, live=False) as source:
        frames = [source.read() for _ in range(30)]
    assert [frame_marker(f.image) for f in frames] == [i % 12 for i in range(30)]
    assert [f.index for f in frames] == list(range(30))


def test_live_video_drops_stale_frames_for_a_slow_reader(tmp_path):
    clip = write_video(tmp_path / "fast.avi", frames=40, fps=100.0)
    with VideoSource(clip, live=True) as source:
        first = source.read(timeout=2.0)
        time.sleep(0.2)  # about 20 frames arrive meanwhile; only the newest is kept
        second = source.read(timeout=2.0)
        assert second.index - first.index >= 5
        assert frame_marker(second.image) == second.index % 25
        rest = read_all(source)
        assert source.ended
        assert source.frames_dropped >= 5
        assert source.frames_dropped + 2 + len(rest) == source.frames_captured == 40
        thread = source._thread
    assert not thread.is_alive()
    assert not source.is_open


def test_live_source_close_stops_the_thread_quickly(sample_video):
    source = VideoSource(sample_video, loop=True, live=True)
    assert source.read(timeout=2.0) is not None and source.is_open
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.0
    assert not source._thread.is_alive()
    assert not source.is_open
    assert source.read(timeout=0.05) is None and source.ended
    source.close()  # idempotent


def test_missing_camera_is_a_one_line_camera_error():
    with pytest.raises(CameraError, match=r"^camera 9 not found: .*vcam devices") as info:
        CameraSource(9)
    assert "\n" not in str(info.value)
    with pytest.raises(CameraError, match=r"^camera /dev/video99 not found"):
        CameraSource("/dev/video99")


def test_camera_source_captures_in_its_own_thread_and_releases(sample_video):
    # OpenCV opens a video file like a device: the camera's thread, box and release run for real.
    source = CameraSource(str(sample_video), width=192, height=108, fps=10, fourcc="")
    assert (source.width, source.height) == (192, 108)
    frame = source.read(timeout=2.0)
    assert frame.image.shape == (108, 192, 3)
    assert frame_marker(frame.image) == frame.index
    source.close()
    assert not source._thread.is_alive() and not source.is_open


def test_a_camera_that_stops_delivering_reports_it(sample_video, monkeypatch):
    monkeypatch.setattr("vcam.sources.CAMERA_FAILURE_SECONDS", 0.1)
    with CameraSource(str(sample_video), fourcc="") as source:
        with pytest.raises(CameraError, match="stopped delivering frames"):
            read_all(source)
        assert source.ended and isinstance(source.error, CameraError)


def test_unreadable_video_and_image_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        VideoSource(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match=r"cannot read video .*junk.mp4"):
        VideoSource(junk)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match=r"fake.png is not an image OpenCV can read"):
        ImageSource(fake)
    with pytest.raises(InputError, match="nope.jpg does not exist"):
        read_image(tmp_path / "nope.jpg")


def test_image_source_converts_grey_and_bgra(tmp_path):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((30, 40), 90, np.uint8))
    bgra = tmp_path / "bgra.png"
    picture = np.zeros((30, 40, 4), np.uint8)
    picture[..., :3] = synthetic_frame(3, 40, 30)
    picture[..., 3] = 128
    cv2.imwrite(str(bgra), picture)
    with ImageSource(grey, live=False) as source:
        frames = read_all(source)
    assert len(frames) == 1 and frames[0].image.shape == (30, 40, 3)
    assert (frames[0].image == 90).all()
    with ImageSource(bgra, live=False, frames=3) as source:
        frames = read_all(source)
    assert len(frames) == 3
    flattened = (picture[..., :3].astype(np.uint16) * 128 + 127) // 255  # onto black
    assert np.array_equal(frames[2].image, flattened.astype(np.uint8))


def test_live_image_source_repeats_until_closed(tmp_path):
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), synthetic_frame(1))
    source = ImageSource(path, fps=50.0)
    frames = [source.read(timeout=2.0) for _ in range(3)]
    source.close()
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert all(np.array_equal(f.image, frames[0].image) for f in frames)
    assert not source._thread.is_alive()


def test_sample_source_moves_the_bundled_portrait():
    with SampleSource(320, 180, fps=30, frames=31, live=False) as source:
        frames = read_all(source)
    assert len(frames) == 31 and source.ended
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    difference = np.abs(frames[0].image.astype(int) - frames[30].image.astype(int)).mean()
    assert difference > 5  # it moves
    assert frames[0].image.std() > 20  # a real picture, not a flat fill
    tall = SampleSource(180, 320, frames=1, live=False).read()
    assert tall.image.shape == (320, 180, 3)


def test_every_source_says_whether_it_is_open(tmp_path):
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    for source in (ImageSource(image, live=False), SampleSource(64, 36, 10.0, live=False)):
        assert source.is_open
        source.close()
        assert not source.is_open
