"""Idle while nobody watches: the real pipeline (a video file as the camera, a real ONNX model)
into the fake virtual camera, whose "device" is a plain file; readers are a fake process table
or real processes that open that file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
from conftest import FAKE_BACKEND, write_video
from helpers import TimedRecorder, wait_until

from vcam.ondemand import UNSUPPORTED, OnDemand
from vcam.pipeline import Pipeline
from vcam.settings import Settings
from vcam.sinks import PreviewSink

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "video10"
    path.touch()
    return path


@pytest.fixture
def pipeline(red_model, tmp_path, device, fake_vcam):
    clip = write_video(tmp_path / "camera.avi", frames=30, fps=30.0)
    settings = Settings(
        source="video",
        input_path=str(clip),
        model=str(red_model),
        background="colour",
        colour="#00ff00",
        skip_static=False,
        output="virtual",
        virtual_backend=FAKE_BACKEND,
        virtual_device=str(device),
    )
    recorder = TimedRecorder()
    made = Pipeline(settings, sinks=[PreviewSink(recorder)])
    made.recorder = recorder
    yield made
    made.stop()


@pytest.fixture
def process_table(tmp_path):
    """An empty fake /proc; ``open_by(pid, device)`` / ``close_by(pid)`` change it."""
    root = tmp_path / "proc"
    root.mkdir()

    class Table:
        path = root

        def open_by(self, pid: int, device) -> None:
            (root / str(pid) / "fd").mkdir(parents=True, exist_ok=True)
            os.symlink(str(device), root / str(pid) / "fd" / "5")

        def close_by(self, pid: int) -> None:
            (root / str(pid) / "fd" / "5").unlink()

    return Table()


@linux
def test_no_reader_idles_and_a_reader_in_the_process_table_wakes_it(
    pipeline, device, process_table
):
    ondemand = OnDemand(
        pipeline, proc=process_table.path, idle_after=0.3, recheck=0.05, poll=0.05, confirm=0
    )
    with pipeline:
        ondemand.start()
        try:
            wait_until(lambda: pipeline.status.state == "idle")  # nobody reads: after the grace
            assert pipeline.status.state == "idle"
            assert pipeline.status.message == "idle: no app is using the camera"
            assert pipeline.source.ended, "the camera is released"
            process_table.open_by(4321, device)  # a video call opens the virtual camera
            wait_until(lambda: pipeline.status.state == "running")
            assert ondemand.readers == 1 and pipeline.status.state == "running"
            pipeline.recorder.wait(lambda frames: not frames[-1].placeholder)
            process_table.close_by(4321)
            wait_until(lambda: pipeline.status.state == "idle")
            assert ondemand.readers == 0
        finally:
            ondemand.stop()


@linux
def test_a_real_reader_wakes_it_through_inotify_and_its_exit_idles_it(pipeline, device):
    # recheck=60: between events nothing is scanned, so only inotify can wake it in time.
    ondemand = OnDemand(pipeline, idle_after=0.3, recheck=60.0, poll=60.0)
    pipeline.set_idle(True)  # as `vcam run --on-demand` starts: the camera never opens
    with pipeline:
        ondemand.start()
        try:
            time.sleep(0.3)
            assert pipeline.idle and pipeline.source.frames_captured == 0
            opened_at = time.monotonic()
            reader = subprocess.Popen(
                [sys.executable, "-c", f"import sys; f = open({str(device)!r}); sys.stdin.read()"],
                stdin=subprocess.PIPE,
            )
            try:
                frames = pipeline.recorder.wait(lambda frames: not frames[-1].placeholder, 20.0)
                woke = time.monotonic() - opened_at
                assert not pipeline.idle and ondemand.readers == 1
                assert frames[-1].alpha.max() == 255
                logging.getLogger(__name__).info("first live frame %.3f s after the open", woke)
            finally:
                reader.communicate(b"", timeout=30)
            wait_until(lambda: pipeline.status.state == "idle")
            assert pipeline.status.state == "idle" and pipeline.source.ended
        finally:
            ondemand.stop()


@linux
def test_a_brief_open_by_an_app_listing_cameras_does_not_wake_it(pipeline, device, tmp_path):
    ondemand = OnDemand(pipeline, idle_after=0.3, confirm=0.5)
    pipeline.set_idle(True)
    with pipeline:
        ondemand.start()
        try:
            for _ in range(3):
                subprocess.run([sys.executable, "-c", f"open({str(device)!r}).close()"], check=True)
            time.sleep(1.0)
            assert pipeline.idle and pipeline.source.frames_captured == 0
        finally:
            ondemand.stop()


def test_where_readers_cannot_be_counted_it_says_so_once_and_stays_on(
    red_model, tmp_path, fake_vcam, caplog
):
    clip = write_video(tmp_path / "camera.avi", frames=10, fps=30.0)
    settings = Settings(
        source="video",
        input_path=str(clip),
        model=str(red_model),
        output="virtual",
        virtual_backend=FAKE_BACKEND,
        virtual_device="OBS Virtual Camera",
    )
    notes = []
    pipeline = Pipeline(settings)
    ondemand = OnDemand(pipeline, idle_after=0.1, poll=0.05, on_note=notes.append)
    pipeline.set_idle(True)
    with caplog.at_level(logging.WARNING, logger="vcam.ondemand"), pipeline:
        ondemand.start()
        try:
            wait_until(lambda: pipeline.status.state == "running")  # cannot tell: it comes on
            time.sleep(0.5)  # ten more looks
            assert not pipeline.idle and ondemand.readers is None
        finally:
            ondemand.stop()
    expected = UNSUPPORTED.format(device="OBS Virtual Camera")
    assert notes == [expected]
    assert [r.getMessage() for r in caplog.records if r.name == "vcam.ondemand"] == [expected]


@linux
def test_other_watchers_keep_it_on_and_switching_it_off_wakes_it(pipeline, process_table):
    shown = {"window": True}
    ondemand = OnDemand(
        pipeline, lambda: shown["window"], proc=process_table.path, idle_after=0.2, poll=0.05
    )
    with pipeline:
        ondemand.start()
        try:
            time.sleep(0.6)
            assert not pipeline.idle, "a visible preview is a watcher"
            shown["window"] = False
            ondemand.poke()
            wait_until(lambda: pipeline.status.state == "idle")
            ondemand.set_enabled(False)
            wait_until(lambda: pipeline.status.state == "running")
            time.sleep(0.5)
            assert not pipeline.idle
            ondemand.set_enabled(True)
            wait_until(lambda: pipeline.status.state == "idle")
        finally:
            ondemand.stop()
    assert not [t for t in __import__("threading").enumerate() if t.name == "vcam-ondemand"]
