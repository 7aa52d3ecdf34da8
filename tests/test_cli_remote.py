"""``vcam run --on-demand``, ``vcam ctl`` and ``vcam autostart`` as a user runs them:
subprocesses, the real socket, exit codes and one-line messages."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import test_cli
from conftest import REPO

env = test_cli.env  # the fixture: a fresh headless machine's environment
vcam = test_cli.vcam
assert_one_line_error = test_cli.assert_one_line_error
MEASURE = REPO / "scripts" / "measure_ondemand.py"
unix = pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets and /proc")


def start_run(env, *args, cwd=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vcam", "run", *map(str, args)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_it_answers(env, run: subprocess.Popen, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        result = vcam(env, "ctl", "status")
        if result.returncode == 0 and ": running" in result.stdout:
            return result.stdout
        time.sleep(0.2)
    raise AssertionError("vcam run did not answer vcam ctl")


@unix
def test_ctl_drives_a_running_vcam_run_and_a_second_run_is_refused(env, tmp_path):
    run = start_run(env, "--sample", "--output", "none", "--width", "320", "--height", "180")
    try:
        line = wait_until_it_answers(env, run)
        assert line.startswith(f"vcam run (pid {run.pid}): running: sample -> no output")
        result = vcam(env, "ctl", "blur", "30")
        assert result.returncode == 0 and "background blur 30" in result.stdout
        picture = tmp_path / "beach.jpg"
        result = vcam(env, "ctl", "background", picture.name, cwd=tmp_path)
        assert_one_line_error(result, 1, str(picture))  # named from the client's folder
        result = vcam(env, "ctl", "pause")
        assert result.returncode == 0 and ": paused: Camera paused" in result.stdout

        second = vcam(env, "run", "--sample", "--output", "none")
        assert_one_line_error(second, 1, "vcam run is already running", f"pid {run.pid}")

        result = vcam(env, "ctl", "--json", "model", "quality")
        assert result.returncode == 0 and '"model": "quality"' in result.stdout
        assert vcam(env, "ctl", "resume").returncode == 0
        result = vcam(env, "ctl", "stop")
        assert result.returncode == 0 and ": stopping" in result.stdout
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert "frames to no output" in out
    assert "vcam: paused: the camera is off until `vcam ctl resume`" in err
    assert "vcam: live: sample -> no output" in err
    assert "Traceback" not in err
    result = vcam(env, "ctl", "status")
    assert_one_line_error(result, 1, "vcam is not running")


def test_ctl_checks_its_request_before_sending_it(env):
    assert_one_line_error(vcam(env, "ctl", "blur", "lots"), 2, "not a whole number")
    assert_one_line_error(vcam(env, "ctl", "pause", "now"), 2, "takes no value")
    assert_one_line_error(vcam(env, "ctl", "model", "best"), 2, "fast, quality")
    assert_one_line_error(vcam(env, "ctl", "background"), 2, "give a value")
    result = vcam(env, "ctl", "fly")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@unix
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_run_on_demand_sends_only_the_idle_card_until_an_app_opens_the_device(env, tmp_path):
    device, log = tmp_path / "video10", tmp_path / "frames.log"
    device.touch()
    command = [
        sys.executable,
        str(MEASURE),
        "launch",
        str(log),
        "--",
        "run",
        "--on-demand",
        "--sample",
        "--width",
        "320",
        "--height",
        "180",
        "--backend",
        "file-device",
        "--device",
        str(device),
    ]
    sys.path.insert(0, str(MEASURE.parent))
    try:
        import measure_ondemand
    finally:
        sys.path.remove(str(MEASURE.parent))
    card = measure_ondemand.card_level(320, 180)

    def levels() -> list[float]:
        return [level for _, level in measure_ondemand.read_log(log)]

    def wait(test, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    run = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: len(levels()) >= 3, "three idle cards")
        assert all(abs(level - card) < 0.01 for level in levels()), "live frames, nobody reads"
        result = vcam(env, "ctl", "status")
        assert ": idle: idle: no app is using the camera" in result.stdout
        with open(device, "rb"):  # a video call opens the camera
            seen = len(levels())
            wait(lambda: any(abs(x - card) >= 0.01 for x in levels()[seen:]), "a live frame")
            assert ": running" in vcam(env, "ctl", "status").stdout
        wait(lambda: abs(levels()[-1] - card) < 0.01, "the idle card again")
    finally:
        run.terminate()
        _, err = run.communicate(timeout=60)
    assert err.count("vcam: idle: no app is using the camera") == 2, err
    assert "vcam: live: sample -> virtual camera" in err
    assert "Traceback" not in err


def test_on_demand_with_a_file_output_says_it_stays_on(env, tmp_path):
    result = vcam(
        env, "run", "--sample", "--on-demand", "--output", tmp_path / "a.mp4", "--duration", "1"
    )
    assert result.returncode == 0, result.stderr
    assert "vcam: --on-demand is for the virtual camera; this run stays on" in result.stderr


def test_autostart_on_status_off(env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(env, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    assert vcam(env, "autostart", "status").stdout == "vcam: autostart is off\n"
    result = vcam(env, "autostart", "on")
    desktop = home / ".config" / "autostart" / "vcam.desktop"
    if sys.platform.startswith("linux"):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"vcam: autostart on: XDG autostart entry {desktop} ")
        assert "vcam run --on-demand" in result.stdout and desktop.exists()
        assert "Traceback" not in result.stderr
        result = vcam(env, "autostart", "on", "--panel", "--systemd")
        unit = home / ".config" / "systemd" / "user" / "vcam.service"
        assert "systemd user unit" in result.stdout and "the panel in the tray" in result.stdout
        assert unit.exists() and not desktop.exists()
        assert vcam(env, "autostart", "status").stdout.startswith("vcam: autostart on: systemd")
    result = vcam(env, "autostart", "off")
    assert result.returncode == 0 and result.stdout.startswith("vcam: autostart off: removed ")
    assert vcam(env, "autostart", "off").stdout.startswith("vcam: autostart is off")
    leftovers = [p for p in home.rglob("*") if p.is_file() or p.is_symlink()]
    assert leftovers == []


def test_ui_tray_option_is_passed_to_the_panel(monkeypatch):
    import ui
    from vcam import cli

    seen = []
    monkeypatch.setattr(ui, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert cli.main(["ui", "--tray"]) == 0
    assert cli.main(["--settings", "x.json", "ui"]) == 0
    assert seen == [["--tray"], ["--settings", "x.json"]]
