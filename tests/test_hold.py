"""Holding the camera: the privacy pause and idling (real pipeline, real ONNX model, a video
file as the camera, the fake virtual camera and a recording preview).

While held the camera is released (the source is closed), the model stops, and the outputs
get a card once a second; when the hold ends the source opens again and live frames follow.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import FAKE_BACKEND, write_video
from helpers import TimedRecorder

from vcam.cards import message_card
from vcam.errors import InputError
from vcam.pipeline import HOLD_CARD_PERIOD, HOLD_LINES, Pipeline
from vcam.settings import Settings
from vcam.sinks import PreviewSink


def live_settings(red_model, clip, **changes) -> Settings:
    values = {
        "source": "video",
        "input_path": str(clip),
        "loop": True,
        "model": str(red_model),
        "background": "colour",
        "colour": "#00ff00",
        "skip_static": False,
        "output": "virtual",
        "virtual_backend": FAKE_BACKEND,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "camera.avi", frames=30, fps=30.0)


def card_of(reason: str, size: tuple[int, int]) -> np.ndarray:
    return message_card(size, HOLD_LINES[reason][1])


def test_pause_releases_the_camera_stops_the_model_and_sends_the_paused_card(
    red_model, clip, fake_vcam
):
    recorder = TimedRecorder()
    states = []
    pipeline = Pipeline(
        live_settings(red_model, clip),
        sinks=[PreviewSink(recorder)],
        on_status=lambda status: states.append((status.state, status.message)),
    )
    with pipeline:
        recorder.wait(lambda frames: sum(not f.placeholder for f in frames) >= 5)
        camera = pipeline.source
        pipeline.pause_camera()
        assert pipeline.camera_paused and pipeline.status.state == "paused"
        assert pipeline.status.message == "Camera paused"
        assert camera.ended and camera._released, "the camera must be released"
        inferences = pipeline.stats.total("inference")
        paused_at = time.monotonic()
        time.sleep(2.5)
        sent = recorder.since(paused_at)
        assert sent and all(frame.placeholder for frame in sent)
        assert 2 <= len(sent) <= 4, "a card once a second"  # not at the camera's 30 fps
        times = [frame.timestamp for frame in sent]
        assert min(np.diff(times)) > 0.8 * HOLD_CARD_PERIOD
        assert np.array_equal(sent[0].image, card_of("paused", (192, 108)))
        assert pipeline.stats.total("inference") == inferences, "the model must stop"
        (virtual,) = fake_vcam.instances
        assert not virtual.closed, "the virtual camera stays open, fed with the card"

        resumed_at = time.monotonic()
        pipeline.resume_camera()
        assert not pipeline.camera_paused and pipeline.status.state == "running"
        assert pipeline.source is not camera and not pipeline.source.ended
        recorder.wait(lambda frames: sum(not f.placeholder for f in frames[-3:]) == 3)
        assert pipeline.stats.total("inference") > inferences
        live = [frame for frame in recorder.since(resumed_at) if not frame.placeholder]
        assert live and live[0].alpha.max() == 255 and live[0].alpha.min() == 0
    assert [state for state, _ in states] == ["starting", "running", "paused", "running", "stopped"]


def test_idle_and_pause_stack_and_the_pause_is_shown_first(red_model, clip, fake_vcam):
    recorder = TimedRecorder()
    with Pipeline(live_settings(red_model, clip), sinks=[PreviewSink(recorder)]) as pipeline:
        recorder.wait(lambda frames: len(frames) >= 3)
        pipeline.set_idle(True)
        assert pipeline.idle and pipeline.status.state == "idle"
        assert pipeline.status.message == "idle: no app is using the camera"
        recorder.wait(lambda frames: frames[-1].placeholder)
        assert np.array_equal(recorder.frames[-1][1].image, card_of("idle", (192, 108)))
        pipeline.pause_camera()
        assert pipeline.status.state == "paused"
        recorder.wait(lambda f: np.array_equal(f[-1].image, card_of("paused", (192, 108))))
        pipeline.resume_camera()  # still idle: the camera stays off
        assert pipeline.status.state == "idle" and pipeline.source.ended
        pipeline.set_idle(False)
        assert pipeline.status.state == "running" and not pipeline.source.ended
        recorder.wait(lambda frames: not frames[-1].placeholder)


def test_a_pipeline_started_idle_never_opens_the_camera_until_it_wakes(red_model, clip, fake_vcam):
    recorder = TimedRecorder()
    pipeline = Pipeline(live_settings(red_model, clip), sinks=[PreviewSink(recorder)])
    pipeline.set_idle(True)  # before start: start() begins idle
    with pipeline:
        assert pipeline.status.state == "idle"
        assert pipeline.source.frames_captured == 0 and pipeline.source.ended
        recorder.wait(lambda frames: len(frames) >= 1)
        assert all(frame.placeholder for _, frame in recorder.frames)
        assert pipeline.stats.total("inference") == 0
        (virtual,) = fake_vcam.instances
        recorder.wait(lambda frames: len(virtual.frames) >= 1)  # the idle card too
        pipeline.set_idle(False)
        recorder.wait(lambda frames: not frames[-1].placeholder)
        assert pipeline.stats.total("inference") > 0


def test_a_source_changed_while_held_opens_when_the_hold_ends(red_model, clip, tmp_path, fake_vcam):
    other = write_video(tmp_path / "other.avi", frames=10, size=(160, 120), fps=30.0)
    recorder = TimedRecorder()
    with Pipeline(live_settings(red_model, clip), sinks=[PreviewSink(recorder)]) as pipeline:
        recorder.wait(lambda frames: len(frames) >= 2)
        pipeline.pause_camera()
        held = pipeline.source
        pipeline.update(pipeline.settings.replace(input_path=str(other)))
        assert pipeline.source is held and held.ended, "nothing opens while paused"
        assert pipeline.settings.input_path == str(other)
        pipeline.resume_camera()
        assert str(pipeline.source) == "video other.avi"
        recorder.wait(lambda f: not f[-1].placeholder and f[-1].original.shape == (120, 160, 3))


def test_a_file_gone_while_held_ends_the_run_with_its_error(red_model, tmp_path, fake_vcam):
    clip = write_video(tmp_path / "gone.avi", frames=10, fps=30.0)
    pipeline = Pipeline(live_settings(red_model, clip), sinks=[PreviewSink(TimedRecorder())])
    with pipeline:
        pipeline.pause_camera()
        clip.unlink()
        pipeline.resume_camera()
        assert pipeline.wait(10.0)
    assert pipeline.status.state == "error" and isinstance(pipeline.error, InputError)
    assert "gone.avi" in pipeline.status.message
    assert all(camera.closed for camera in fake_vcam.instances)


def test_a_camera_missing_when_the_hold_ends_is_waited_for(red_model, clip, fake_vcam):
    recorder = TimedRecorder()
    settings = live_settings(red_model, clip, source="camera", camera="/dev/vcam-test-missing")
    pipeline = Pipeline(settings, sinks=[PreviewSink(recorder)])
    pipeline.set_idle(True)
    with pipeline:
        pipeline.set_idle(False)
        assert pipeline.status.state == "reconnecting" and pipeline.running
        assert "/dev/vcam-test-missing" in pipeline.status.message
        recorder.wait(lambda frames: len(frames) >= 2)
        assert all(frame.placeholder for _, frame in recorder.frames)


def test_a_given_source_is_kept_open_while_held(red_model, clip, fake_vcam):
    from vcam.sources import VideoSource

    source = VideoSource(clip, loop=True, live=True)
    recorder = TimedRecorder()
    with Pipeline(
        live_settings(red_model, clip), sinks=[PreviewSink(recorder)], source=source
    ) as pipeline:
        recorder.wait(lambda frames: len(frames) >= 2)
        pipeline.pause_camera()
        assert not source.ended and pipeline.status.state == "paused"
        recorder.wait(lambda frames: frames[-1].placeholder)
        pipeline.resume_camera()
        assert pipeline.source is source and pipeline.status.state == "running"
        recorder.wait(lambda frames: not frames[-1].placeholder)
    assert source.ended


def test_holds_before_start_and_after_stop_are_only_recorded(red_model, clip, fake_vcam):
    pipeline = Pipeline(live_settings(red_model, clip), sinks=[PreviewSink(TimedRecorder())])
    pipeline.pause_camera()
    assert pipeline.camera_paused and pipeline.status.state == "stopped"
    pipeline.resume_camera()
    with pipeline:
        assert pipeline.status.state == "running"
    pipeline.set_idle(True)
    assert pipeline.idle and pipeline.status.state == "stopped"
