"""vcam never touches the network at run time (no downloads, no telemetry).

Three nets, from coarse to fine: Python's socket API is booby-trapped while the runtime runs
in this process (pipeline, offline conversion, the command line); a fresh interpreter is
trapped before ``import vcam``; and, where strace works, the kernel's view of a whole
``vcam run`` process must show no socket at all (this also covers C++ libraries such as
onnxruntime and OpenCV, which do not use Python's sockets).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import FAKE_BACKEND, REPO, write_video
from helpers import Recorder, base_settings, check_person_kept_background_replaced

from vcam import cli
from vcam.convert import convert_video
from vcam.pipeline import Pipeline
from vcam.sinks import PngSink, PreviewSink, VideoFileSink
from vcam.sources import VideoSource

# Installed in a fresh interpreter before anything else: every attempt is recorded (a library
# could swallow the exception) and refused. Unix-domain sockets are local, not the network:
# vcam's remote control listens on one (vcam.control), so those pass.
GUARD = """
import json, socket, sys
attempts = []
def refuse(name, real=None):
    def trap(*args, **kwargs):
        if real is not None and getattr(args[0], "family", None) == socket.AF_UNIX:
            return real(*args, **kwargs)
        attempts.append([name, repr(args[1:] if args else ())[:80]])
        raise OSError(f"network access: {name}")
    return trap
for name in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
    setattr(socket.socket, name, refuse("socket." + name, getattr(socket.socket, name)))
for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
    setattr(socket, name, refuse(name))
_init = socket.socket.__init__
def guarded_init(self, family=-1, *args, **kwargs):
    if family in (socket.AF_INET, socket.AF_INET6):
        attempts.append(["socket", str(family)])
        raise OSError("network access: socket")
    _init(self, family, *args, **kwargs)
socket.socket.__init__ = guarded_init
"""


class Trap:
    """The same guard in this process, through monkeypatch (undone after the test)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        for name in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
            real = getattr(socket.socket, name)
            monkeypatch.setattr(socket.socket, name, self._refuse(f"socket.{name}", real))
        for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
            monkeypatch.setattr(socket, name, self._refuse(name))
        real_init = socket.socket.__init__

        def guarded_init(sock, family=-1, *args, **kwargs):
            if family in (socket.AF_INET, socket.AF_INET6):
                self.attempts.append("socket")
                raise OSError("network access: socket")
            real_init(sock, family, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "__init__", guarded_init)

    def _refuse(self, name: str, real=None):
        def trap(*args, **kwargs):
            if real is not None and getattr(args[0], "family", None) == socket.AF_UNIX:
                return real(*args, **kwargs)  # local: the remote control's socket
            self.attempts.append(name)
            raise OSError(f"network access: {name}")

        return trap


@pytest.fixture
def trap(monkeypatch) -> Trap:
    trap = Trap(monkeypatch)
    with pytest.raises(OSError, match="network access"):  # the trap works
        socket.create_connection(("example.org", 80))
    with pytest.raises(OSError, match="network access"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(OSError, match="network access"):
        socket.socket.connect(object(), ("example.org", 80))  # no family: refused
    trap.attempts.clear()
    return trap


@pytest.fixture
def quiet_root_logger():
    """``cli.main`` sets up logging for a process; put the test process's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_pipeline_and_conversion_use_no_network(trap, red_model, tmp_path, fake_vcam):
    clip = write_video(tmp_path / "in.avi", frames=12)
    recorder = Recorder()
    settings = base_settings(red_model, output="virtual", virtual_backend=FAKE_BACKEND)
    sinks = [PreviewSink(recorder), VideoFileSink(tmp_path / "out.avi"), PngSink(tmp_path / "png")]
    source = VideoSource(clip, live=True)
    with Pipeline(settings, sinks=sinks, source=source) as pipeline:
        assert pipeline.wait(30.0)
    assert pipeline.status.state == "ended" and len(recorder.frames) >= 3
    check_person_kept_background_replaced(recorder.frames[-1])
    assert fake_vcam.instances[0].frames
    report = convert_video(clip, tmp_path / "converted.mp4", base_settings(red_model))
    assert report.frames == 12
    assert trap.attempts == []


def test_the_command_line_in_process_uses_no_network(
    trap, red_model, tmp_path, monkeypatch, quiet_root_logger, capsys
):
    clip = write_video(tmp_path / "in.avi", frames=12)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(red_model, models / "mmnet-fast.onnx")
    monkeypatch.setenv("VCAM_MODELS_DIR", str(models))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run.avi"
    assert cli.main(["run", "--input", str(clip), "--output", str(out), "--duration", "1.5"]) == 0
    assert cli.main(["matte", str(clip), "matte.mp4", "--background", "#00ff00"]) == 0
    assert cli.main(["devices"]) == 0
    assert cli.main(["run", "--input", str(clip), "--output", "virtual"]) == 1  # no device here
    output = capsys.readouterr()
    assert "frames to video file run.avi" in output.out and "12 frames" in output.out
    assert cv2.VideoCapture(str(out)).read()[0]
    assert trap.attempts == []


def test_a_fresh_interpreter_imports_and_runs_vcam_without_network(red_model, tmp_path):
    clip = write_video(tmp_path / "in.avi", frames=12)
    script = (
        GUARD
        + f"""
import vcam
for name in vcam.__all__:
    getattr(vcam, name)  # every lazy import of the public API
from vcam import cli
code = cli.main(["run", "--input", {str(clip)!r}, "--model", {str(red_model)!r},
                 "--output", "out.avi", "--duration", "1"])
print(json.dumps({{"code": code, "attempts": attempts, "torch": "torch" in sys.modules}}))
"""
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), VCAM_CONFIG_DIR=str(tmp_path / "config"))
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "attempts": [], "torch": False}
    assert (tmp_path / "out.avi").stat().st_size > 0


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_the_kernel_sees_no_socket_from_vcam_run(red_model, tmp_path):
    clip = write_video(tmp_path / "in.avi", frames=12)
    trace = tmp_path / "trace.txt"
    env = dict(os.environ, PYTHONPATH=str(REPO), VCAM_CONFIG_DIR=str(tmp_path / "config"))
    command = [sys.executable, "-m", "vcam", "run", "--input", str(clip), "--model"]
    command += [str(red_model), "--output", "out.avi", "--duration", "1"]
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=socket,connect,bind,sendto", "-o", str(trace)]
        + command,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if "ptrace" in result.stderr and result.returncode != 0:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:100]}")
    assert result.returncode == 0, result.stderr
    calls = [line for line in Path(trace).read_text().splitlines() if line.strip()]
    network = [line for line in calls if "AF_INET" in line or "sin_addr" in line]
    assert network == [], network[:5]
    assert (tmp_path / "out.avi").stat().st_size > 0
