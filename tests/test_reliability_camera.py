"""A camera that is missing at start, disappears mid-stream and comes back.

The "camera" is real OpenCV capture code: ``CameraSource`` opened on a video file (OpenCV opens
a file like a device). When the file runs out the camera "stops delivering"; renaming the file
away makes it "unplugged" (reopening fails), renaming it back "plugs it in" again.
``FlakyCamera`` is a camera whose driver raises mid-stream and whose reopening can hang.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame, write_video
from helpers import (
    Recorder,
    base_settings,
    check_person_kept_background_replaced,
    vcam_threads,
    wait_until,
)

from vcam.cards import message_card
from vcam.errors import CameraError
from vcam.pipeline import Pipeline
from vcam.sinks import PreviewSink, VideoFileSink
from vcam.sources import CameraSource, FrameSource


@pytest.fixture
def quick_reconnect(monkeypatch):
    """A camera silent for 0.2 s counts as lost; retries after 0.2 s, doubling up to 0.8 s."""
    monkeypatch.setattr("vcam.sources.CAMERA_FAILURE_SECONDS", 0.2)
    monkeypatch.setattr("vcam.pipeline.RECONNECT_FIRST_DELAY", 0.2)
    monkeypatch.setattr("vcam.pipeline.RECONNECT_MAX_DELAY", 0.8)


def real_frames(recorder: Recorder) -> list:
    with recorder.lock:
        return [f for f in recorder.frames if not f.placeholder]


def cards(recorder: Recorder) -> list:
    with recorder.lock:
        return [f for f in recorder.frames if f.placeholder]


def assert_is_a_card(frame, size=(192, 108)) -> None:
    """A notice card: the sink's size, dark, with bright text near the middle."""
    image = frame.image
    assert frame.placeholder and frame.index == -1
    assert image.shape == (size[1], size[0], 3)
    bright = np.argwhere(image.max(axis=2) > 150)
    assert len(bright) > 20, "no text on the card"
    centre_y, centre_x = bright.mean(axis=0)
    assert abs(centre_y - size[1] / 2) < size[1] * 0.15
    assert abs(centre_x - size[0] / 2) < size[0] * 0.15
    assert np.median(image) < 90, "a card is dark behind the text"
    assert (frame.alpha == 255).all()


def test_lost_camera_gets_a_card_retries_with_back_off_and_resumes(
    red_model, tmp_path, quick_reconnect
):
    clip = write_video(tmp_path / "camera.avi", frames=12)
    gone = tmp_path / "camera-unplugged.avi"
    statuses, stamps = [], []

    def on_status(status) -> None:
        statuses.append(status)
        stamps.append(time.monotonic())

    recorder = Recorder()
    out = tmp_path / "out.avi"
    camera = CameraSource(str(clip), fourcc="")
    pipeline = Pipeline(
        base_settings(red_model),
        sinks=[PreviewSink(recorder), VideoFileSink(out, constant_rate=True)],
        source=camera,
        on_status=on_status,
    )
    with pipeline:
        wait_until(lambda: real_frames(recorder), what="the first frame")
        clip.rename(gone)  # unplugged: the capture runs dry and reopening finds nothing
        wait_until(lambda: pipeline.status.state == "reconnecting", what="reconnecting")
        assert isinstance(pipeline.status.error, CameraError)
        assert "stopped delivering frames" in pipeline.status.message
        assert pipeline.error is None and pipeline.running  # not an error: it goes on
        assert not camera.is_open  # the lost camera is released at once
        wait_until(lambda: sum("still missing" in s.message for s in statuses) >= 3, what="tries")
        wait_until(lambda: len(cards(recorder)) >= 5, what="cards")
        assert_is_a_card(cards(recorder)[-1])

        # Back-off: each failed try says when the next comes, doubling up to the cap.
        failures = [(s, t) for s, t in zip(statuses, stamps, strict=True) if "still" in s.message]
        waits = [float(s.message.rsplit("next try in ", 1)[1].split()[0]) for s, _ in failures]
        assert waits[:3] == [0.4, 0.8, 0.8]
        gaps = [b - a for (_, a), (_, b) in zip(failures, failures[1:], strict=False)]
        assert gaps[0] >= 0.35 and gaps[1] >= 0.7  # it really waited (lower bounds only)
        assert all("camera" in s.message and "not found" in s.message for s, _ in failures)

        before = len(real_frames(recorder))
        gone.rename(clip)  # plugged back in
        wait_until(lambda: pipeline.status.state == "running", what="running again")
        assert "is back" in pipeline.status.message
        wait_until(lambda: len(real_frames(recorder)) >= before + 3, what="frames after return")
        check_person_kept_background_replaced(real_frames(recorder)[-1])
        assert pipeline.snapshot().placeholders >= 5
    assert pipeline.status.state == "stopped" and pipeline.error is None
    assert not vcam_threads()
    assert not pipeline.source.is_open
    # The file holds frames, then cards, then frames again, all at the camera's size.
    capture = cv2.VideoCapture(str(out))
    kinds = []
    while (read := capture.read())[0]:
        assert read[1].shape == (108, 192, 3)
        green_background = (read[1][..., 1] > 200).mean()  # cards are dark but for the text
        kinds.append("card" if green_background < 0.3 else "frame")
    capture.release()
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert runs[:3] == ["frame", "card", "frame"], runs


def test_no_camera_at_start_waits_for_it(red_model, tmp_path, quick_reconnect):
    """``wait_for_camera``: the pipeline starts with a "No camera" card at the settings' size
    and switches to the camera when it appears."""
    path = tmp_path / "later.avi"
    settings = base_settings(
        red_model, source="camera", camera=str(path), fourcc="", width=160, height=90
    )
    recorder = Recorder()
    with pytest.raises(CameraError, match="not found"):  # the default: a one-line error
        Pipeline(settings, sinks=[PreviewSink(recorder)]).start()
    assert not vcam_threads()
    statuses = []
    pipeline = Pipeline(
        settings, sinks=[PreviewSink(recorder)], on_status=statuses.append, wait_for_camera=True
    )
    with pipeline:
        assert pipeline.status.state == "reconnecting"
        assert "not found" in pipeline.status.message
        wait_until(lambda: len(cards(recorder)) >= 3, what="cards")
        card = cards(recorder)[0]
        assert_is_a_card(card, size=(160, 90))
        wait_until(lambda: any("still missing" in s.message for s in statuses), what="a retry")
        retry = next(s for s in statuses if "still missing" in s.message)
        assert retry.message.count("not found") == 1  # the same reason is not said twice
        write_video(tmp_path / "writing.avi", frames=30, size=(192, 108)).rename(path)
        wait_until(lambda: len(real_frames(recorder)) >= 3, what="camera frames")
        assert [s.state for s in statuses][:2] == ["starting", "reconnecting"]
        assert "running" in [s.state for s in statuses]
        frame = real_frames(recorder)[-1]
        assert frame.image.shape == (108, 192, 3)  # the camera's own size reaches the preview
        check_person_kept_background_replaced(frame)
    assert not vcam_threads()


class FlakyCamera(FrameSource):
    """A camera of synthetic frames at 30 fps whose driver raises after ``fail_after`` frames.
    ``reopen()`` fails while ``plugged`` is clear, may hang ``hang`` seconds (a slow driver),
    and gives a camera of ``next_size``."""

    reconnectable = True

    def __init__(self, size=(192, 108), fail_after=10, plugged=None, hang=0.0, next_size=None):
        self.name = "camera flaky"
        self.fail_after = fail_after
        self.plugged = plugged or threading.Event()
        self.hang = hang
        self.next_size = next_size or size
        self.reopened: list[FlakyCamera] = []
        self.reopening = threading.Event()  # set when reopen() is called
        self.closed = False
        self._count = 0
        super().__init__(size[0], size[1], 30.0, live=True, paced=True)

    def _grab(self):
        if self._count >= self.fail_after:
            raise CameraError("camera flaky was unplugged")
        self._count += 1
        return synthetic_frame(self._count, self.width, self.height)

    def _release(self) -> None:
        self.closed = True

    def reopen(self) -> FlakyCamera:
        self.reopening.set()
        if self.hang:
            time.sleep(self.hang)
        if not self.plugged.is_set():
            raise CameraError("camera flaky not found")
        camera = FlakyCamera(self.next_size, fail_after=10**9, plugged=self.plugged)
        self.reopened.append(camera)
        return camera


def test_a_camera_that_raises_and_returns_at_another_size(red_model, tmp_path, quick_reconnect):
    """The driver raises mid-stream; the camera comes back at 4:3 instead of 16:9: the output
    keeps its size, letterboxed, and the alpha is the new frame's own."""
    plugged = threading.Event()
    camera = FlakyCamera(fail_after=10, plugged=plugged, next_size=(144, 108))
    recorder = Recorder()
    out = tmp_path / "out.avi"
    sinks = [PreviewSink(recorder), VideoFileSink(out)]
    with Pipeline(base_settings(red_model), sinks=sinks, source=camera) as pipeline:
        wait_until(lambda: pipeline.status.state == "reconnecting", what="reconnecting")
        assert pipeline.status.message.startswith("camera flaky was unplugged")
        assert camera.closed
        wait_until(lambda: len(cards(recorder)) >= 3, what="cards")
        assert_is_a_card(cards(recorder)[-1])
        plugged.set()
        wait_until(lambda: real_frames(recorder)[-1].image.shape == (108, 144, 3), what="4:3")
        wait_until(lambda: len(real_frames(recorder)) >= 15, what="frames at 4:3")
        check_person_kept_background_replaced(real_frames(recorder)[-1])
        assert pipeline.source is camera.reopened[0]
    assert camera.reopened[0].closed and not vcam_threads()
    capture = cv2.VideoCapture(str(out))
    last = None
    while (read := capture.read())[0]:
        last = read[1]
    capture.release()
    assert last.shape == (108, 192, 3)  # the file keeps its size
    assert last[:, :20].max() < 30 and last[:, -20:].max() < 30  # black bars left and right
    assert last[:, 30:-30].max() > 100


def test_stop_while_a_reopen_hangs_is_quick_and_leaks_nothing(red_model, quick_reconnect):
    plugged = threading.Event()
    plugged.set()  # the reopen works, but only after 1.5 s
    camera = FlakyCamera(fail_after=3, plugged=plugged, hang=1.5)
    pipeline = Pipeline(base_settings(red_model), source=camera)
    pipeline.start()
    wait_until(lambda: pipeline.status.state == "reconnecting", what="reconnecting")
    assert camera.reopening.wait(5.0), "the reopen never began"  # and hangs for 1.5 s
    started = time.monotonic()
    pipeline.stop()
    assert time.monotonic() - started < 1.2
    assert pipeline.status.state == "stopped" and not pipeline.running
    wait_until(lambda: camera.reopened, timeout=5, what="the hanging reopen to return")
    wait_until(lambda: not vcam_threads(), timeout=5, what="the threads to end")
    assert camera.reopened[0].closed  # opened after stop(): closed again, not leaked


def test_reconnect_off_and_sources_that_cannot_reopen_end_with_an_error(red_model, tmp_path):
    camera = FlakyCamera(fail_after=3)
    with Pipeline(base_settings(red_model), source=camera, reconnect=False) as pipeline:
        assert pipeline.wait(10.0)
    assert pipeline.status.state == "error" and isinstance(pipeline.error, CameraError)
    assert camera.closed and not vcam_threads()


def test_message_card_draws_centred_text_on_any_size():
    last = np.full((108, 192, 3), 200, np.uint8)
    card = message_card((192, 108), ["Camera lost", "reconnecting..."], last)
    assert card.shape == (108, 192, 3) and card.dtype == np.uint8
    assert np.median(card) == 60  # the last picture, dimmed to 30%
    bright = np.argwhere(card.max(axis=2) > 150)
    assert len(bright) > 50
    assert abs(bright[:, 0].mean() - 54) < 12 and abs(bright[:, 1].mean() - 96) < 15
    assert bright[:, 1].min() > 10 and bright[:, 1].max() < 182  # it fits the width
    plain = message_card((1280, 720), ["No camera"])
    assert plain.shape == (720, 1280, 3) and (plain[0, 0] == (40, 34, 30)).all()
    for width, height in ((1, 1), (16, 9), (9, 16), (3000, 20)):
        assert message_card((width, height), ["Camera lost"], last).shape == (height, width, 3)


def test_choosing_another_source_while_reconnecting(red_model, tmp_path, quick_reconnect):
    """The user picks a video file while the camera is missing: it plays at once."""
    clip = write_video(tmp_path / "clip.avi", frames=10, fps=30.0)
    settings = base_settings(red_model, source="camera", camera=str(tmp_path / "none.avi"))
    recorder = Recorder()
    pipeline = Pipeline(settings, sinks=[PreviewSink(recorder)], wait_for_camera=True)
    with pipeline:
        wait_until(lambda: len(cards(recorder)) >= 2, what="cards")
        pipeline.update(pipeline.settings.replace(camera="9"))  # missing too: waited for
        assert pipeline.status.state == "reconnecting" and pipeline.running
        assert "camera 9 not found" in pipeline.status.message
        assert pipeline.settings.camera == "9"
        pipeline.update(pipeline.settings.replace(source="video", input_path=str(clip), loop=True))
        assert (
            pipeline.status.state == "running" and "video clip.avi is on" in pipeline.status.message
        )
        wait_until(lambda: len(real_frames(recorder)) >= 3, what="video frames")
        check_person_kept_background_replaced(real_frames(recorder)[-1])
        cards_then = len(cards(recorder))
        time.sleep(0.3)
        assert len(cards(recorder)) == cards_then  # no more cards
    assert not vcam_threads()


def test_wait_for_camera_is_a_setting_also_for_a_switch(red_model, tmp_path, quick_reconnect):
    """``Settings.wait_for_camera``: switching to a camera that is not there yet shows the card
    until it appears; without it the switch is refused and the running source stays. The
    Pipeline argument overrides the setting."""
    clip = write_video(tmp_path / "clip.avi", frames=10, fps=30.0)
    later = tmp_path / "later.avi"
    settings = base_settings(red_model, source="video", input_path=str(clip), loop=True)
    camera = {"source": "camera", "camera": str(later), "fourcc": "", "width": 160, "height": 90}
    with pytest.raises(CameraError, match="later.avi not found"):  # the argument wins
        Pipeline(settings.replace(wait_for_camera=True, **camera), wait_for_camera=False).start()
    recorder = Recorder()
    with Pipeline(settings, sinks=[PreviewSink(recorder)]) as pipeline:
        wait_until(lambda: len(real_frames(recorder)) >= 2, what="video frames")
        with pytest.raises(CameraError, match="later.avi not found"):
            pipeline.update(pipeline.settings.replace(**camera))
        assert pipeline.status.state == "running" and pipeline.settings.source == "video"
        pipeline.update(pipeline.settings.replace(wait_for_camera=True, **camera))
        assert pipeline.status.state == "reconnecting" and pipeline.settings.source == "camera"
        wait_until(lambda: len(cards(recorder)) >= 2, what="cards")
        assert_is_a_card(cards(recorder)[-1], size=(160, 90))  # the settings' size
        write_video(tmp_path / "writing.avi", frames=30, size=(192, 108)).rename(later)
        wait_until(lambda: pipeline.status.state == "running", what="the camera")
        count = len(real_frames(recorder))
        wait_until(lambda: len(real_frames(recorder)) >= count + 3, what="camera frames")
        check_person_kept_background_replaced(real_frames(recorder)[-1])
    assert not vcam_threads()
