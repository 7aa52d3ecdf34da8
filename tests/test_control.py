"""The remote control: a real Unix socket in a temporary folder, answering for a real running
pipeline (a video file as the camera, a real ONNX model), and the requests that go wrong."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO, write_video

from vcam import control
from vcam.control import (
    AlreadyRunning,
    ControlError,
    ControlServer,
    NotRunning,
    PipelineControl,
    parse_request,
    request,
    status_line,
)
from vcam.pipeline import Pipeline
from vcam.settings import Settings

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "run" / "control.sock")


@pytest.fixture
def running(red_model, tmp_path, path):
    """A running pipeline answering on ``path``: (server, pipeline, stop event)."""
    clip = write_video(tmp_path / "camera.avi", frames=20, fps=30.0)
    settings = Settings(
        source="video",
        input_path=str(clip),
        model=str(red_model),
        background="colour",
        skip_static=False,
        output="none",
    )
    stop = threading.Event()
    with Pipeline(settings) as pipeline, ControlServer("vcam run", path) as server:
        server.start(PipelineControl(pipeline, stop))
        yield server, pipeline, stop


def raw_exchange(path: str, *lines: bytes) -> list[dict]:
    """Send raw request lines on one connection; the replies, one per line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(path)
        replies = []
        for line in lines:
            client.sendall(line)
            data = b""
            while not data.endswith(b"\n"):
                chunk = client.recv(4096)
                assert chunk, "the server hung up"
                data += chunk
            replies.append(json.loads(data))
        return replies


def test_requests_change_the_running_pipeline(running, path):
    server, pipeline, stop = running
    reply = request("status", path=path)
    assert reply["ok"] and reply["app"] == "vcam run" and reply["pid"] == os.getpid()
    assert reply["state"] == "running" and reply["background"] == "colour"
    assert status_line(reply).startswith(f"vcam run (pid {os.getpid()}): running: video ")

    reply = request("blur", 30, path=path)
    assert reply["ok"] and reply["background"] == "blur" and reply["blur"] == 30
    assert pipeline.settings.background == "blur" and pipeline.settings.blur_strength == 30

    request("background", "preset:office", path=path)
    assert pipeline.settings.background_path == "preset:office"
    reply = request("next-background", path=path)
    assert reply["background"] == "preset:studio" == control.current_background(pipeline.settings)
    request("background", "#00b140", path=path)
    assert (pipeline.settings.background, pipeline.settings.colour) == ("colour", "#00b140")
    assert request("next-background", path=path)["background"] == "blur"  # colour is the last

    request("model", "quality", path=path)
    assert pipeline.settings.model == "quality" and pipeline.model_info.input_size == (256, 256)

    reply = request("pause", path=path)
    assert reply["paused"] and reply["state"] == "paused" and pipeline.source.ended
    reply = request("resume", path=path)
    assert not reply["paused"] and reply["state"] == "running"
    assert request("toggle-pause", path=path)["state"] == "paused"
    assert request("toggle-pause", path=path)["state"] == "running"

    reply = request("show", path=path)
    assert not reply["ok"] and "no window" in reply["error"]
    assert request("stop", path=path)["state"] == "stopping" and stop.is_set()


def test_malformed_requests_get_an_error_reply_and_the_run_goes_on(running, path):
    server, pipeline, stop = running
    replies = raw_exchange(
        path,
        b"hello\n",
        b"[1, 2]\n",
        b'{"cmd": "fly"}\n',
        b'{"cmd": "blur", "value": "lots"}\n',
        b'{"cmd": "blur", "value": 500}\n',
        b'{"cmd": "model", "value": "best"}\n',
        b'{"cmd": "background", "value": "/no/such/picture.jpg"}\n',
        b'{"cmd": "status"}\n',
    )
    errors = [reply.get("error", "") for reply in replies[:-1]]
    assert not any(reply["ok"] for reply in replies[:-1])
    assert errors[0].startswith("not JSON") and "cmd" in errors[1]
    assert "unknown command 'fly'" in errors[2] and "whole number" in errors[3]
    assert "blur_strength" in errors[4] and "fast, quality" in errors[5]
    assert "picture.jpg" in errors[6]
    assert all("\n" not in error and "Traceback" not in error for error in errors)
    assert replies[-1]["ok"] and replies[-1]["state"] == "running"
    assert pipeline.running and pipeline.settings.background == "colour"
    assert not stop.is_set()

    too_long = b'{"cmd": "status", "pad": "' + b"x" * (control.MAX_LINE + 10)
    (reply,) = raw_exchange(path, too_long)
    assert reply == {"ok": False, "error": "request too long"}
    assert request("status", path=path)["ok"]


def test_the_socket_is_the_users_alone(running, path):
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_the_channel_is_in_the_runtime_folder_or_the_settings_folder(
    tmp_path, config_dir, monkeypatch
):
    assert control.control_path() == str(config_dir / "control.sock")  # VCAM_CONFIG_DIR set
    monkeypatch.delenv("VCAM_CONFIG_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert control.control_path() == str(tmp_path / "vcam" / "control.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert control.control_path() == str(tmp_path / "cfg" / "vcam" / "control.sock")


def test_a_second_instance_is_told_the_first_runs(running, path):
    with pytest.raises(AlreadyRunning) as caught:
        ControlServer("panel", path).open()
    assert caught.value.app == "vcam run" and caught.value.pid == os.getpid()
    assert "vcam run is already running" in str(caught.value)
    assert request("status", path=path)["ok"], "the first one still answers"


def test_nothing_listening_is_reported_as_not_running(path):
    with pytest.raises(NotRunning, match="vcam is not running"):
        request("status", path=path)


def test_closing_removes_the_socket_and_frees_the_channel(path):
    server = ControlServer("vcam run", path).start(lambda request: {"state": "x"})
    assert request("status", path=path)["state"] == "x"
    server.close()
    assert not os.path.exists(path)
    with ControlServer("vcam run", path) as again:
        again.start(lambda request: {"state": "y"})
        assert request("status", path=path)["state"] == "y"


def test_a_stale_socket_from_a_crashed_run_is_replaced(tmp_path, path):
    # A real run that dies without cleaning up (SIGKILL): its socket file stays behind.
    code = (
        "import sys, time; from vcam.control import ControlServer; "
        f"ControlServer('vcam run', {path!r}).open(); print('up', flush=True); time.sleep(60)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    crashed = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert crashed.stdout.readline().strip() == b"up"
        with pytest.raises(AlreadyRunning):  # while it lives, it holds the channel
            ControlServer("vcam run", path).open()
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(30)
    assert stat.S_ISSOCK(os.lstat(path).st_mode), "the crashed run left its socket"
    with pytest.raises(ControlError):
        request("status", path=path)  # nobody answers on it
    with ControlServer("vcam run", path) as server:
        server.start(lambda request: {"state": "fresh"})
        assert request("status", path=path)["state"] == "fresh"


def test_a_file_in_the_way_is_not_deleted(tmp_path, path):
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("my notes")
    with pytest.raises(ControlError, match="in the way"):
        ControlServer("vcam run", path).open()
    with open(path) as handle:
        assert handle.read() == "my notes"
    ControlServer("vcam run", path + "2").open().close()  # and the lock was let go


def test_parse_request_normalises_and_names_the_problem():
    assert parse_request('{"cmd": "blur", "value": 30.0}') == {"cmd": "blur", "value": 30}
    assert parse_request(b'{"cmd": "status", "value": 1}') == {"cmd": "status"}
    assert parse_request('{"cmd": "background", "value": " blur "}')["value"] == "blur"
    for bad, words in [
        ("", "not JSON"),
        ('{"cmd": 3}', '"cmd"'),
        ('{"cmd": "blur", "value": true}', "whole number"),
        ('{"cmd": "background", "value": ""}', "give a value"),
        ('{"cmd": "model"}', "fast, quality"),
    ]:
        with pytest.raises(ControlError, match=words):
            parse_request(bad)


def test_a_slow_handler_does_not_make_a_client_wait_forever(path):
    started = threading.Event()

    def slow(request):
        started.set()
        time.sleep(2.0)
        return {"state": "late"}

    with ControlServer("vcam run", path) as server:
        server.start(slow)
        with pytest.raises(ControlError, match="did not answer in time"):
            request("status", path=path, timeout=0.3)
        assert started.is_set()
