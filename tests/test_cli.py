"""The ``vcam`` command as a user runs it: subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, synthetic_frame, write_video

from vcam.cli import build_parser, overrides
from vcam.errors import SettingsError
from vcam.settings import Settings, save_settings

# A stop takes well under a second on a quiet machine; the bound is looser so that a loaded
# shared machine (2 cores, other work) cannot fail it, while a hang still does.
STOP_BOUND = 4.0


@pytest.fixture
def env(tmp_path, config_dir, model_path, monkeypatch):
    """Environment of a fresh headless machine: own config folder, the model as "fast"."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(model_path, models / "mmnet-fast.onnx")
    environ = dict(os.environ)
    environ.update(
        VCAM_CONFIG_DIR=str(config_dir),
        VCAM_MODELS_DIR=str(models),
        PYTHONPATH=os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")]),
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        environ.pop(name, None)
    return environ


def vcam(env, *args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vcam", *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result, code, *words) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vcam: error: ")
    for word in words:
        assert word in lines[0]


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_version_and_help(env):
    result = vcam(env, "--version")
    assert result.returncode == 0 and result.stdout.startswith("vcam ")
    result = vcam(env, "run", "--help")
    assert result.returncode == 0 and "--background" in result.stdout


def test_devices_on_a_headless_machine(env):
    result = vcam(env, "devices")
    assert result.returncode == 0, result.stderr
    assert "cameras:" in result.stdout and "virtual camera:" in result.stdout
    assert "fast: " in result.stdout and "mmnet-fast.onnx" in result.stdout
    if sys.platform.startswith("linux") and not list(Path("/dev").glob("video*")):
        assert "none found" in result.stdout
        assert "sudo modprobe v4l2loopback" in result.stdout


def test_run_without_camera_or_virtual_camera_falls_back_to_the_sample(env, tmp_path):
    result = vcam(env, "run", "--width", 320, "--height", 180, "--duration", 2, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    first = result.stdout.splitlines()[0]
    assert "no camera and no virtual camera" in first and "vcam-sample.mp4" in first
    out = tmp_path / "vcam-sample.mp4"
    assert frame_count(out) >= 10  # about 2 s at 30 fps; gaps are filled with repeats
    ok, frame = cv2.VideoCapture(str(out)).read()
    assert ok and frame.shape == (180, 320, 3)


def test_demo_writes_the_sample_to_a_file(env, tmp_path):
    out = tmp_path / "demo.avi"
    result = vcam(
        env, "demo", "--output", out, "--duration", 1.5, "--background", "#00ff00", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"into {out}" in result.stdout
    assert frame_count(out) >= 5


def test_matte_a_video_and_an_image(env, tmp_path, red_model):
    clip = write_video(tmp_path / "in.avi", frames=6)
    out = tmp_path / "out.mp4"
    result = vcam(env, "matte", clip, out, "--model", red_model, "--background", "#00ff00")
    assert result.returncode == 0, result.stderr
    assert "6 frames" in result.stdout and frame_count(out) == 6
    alpha = tmp_path / "alpha.avi"
    result = vcam(env, "matte", clip, alpha, "--model", red_model, "--alpha", "--frames", 3)
    assert result.returncode == 0 and frame_count(alpha) == 3
    ok, matte = cv2.VideoCapture(str(alpha)).read()
    assert ok and matte[80, 96].min() > 200 and matte[80, 10].max() < 50
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), synthetic_frame(0))
    cutout = tmp_path / "cutout.png"
    result = vcam(env, "matte", still, cutout, "--model", red_model, "--cutout")
    assert result.returncode == 0, result.stderr
    rgba = cv2.imread(str(cutout), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (108, 192, 4) and rgba[80, 96, 3] > 200 and rgba[80, 10, 3] < 50


def test_errors_are_one_line_with_a_nonzero_exit(env, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    bad_settings = tmp_path / "bad.json"
    bad_settings.write_text("{broken")
    cases = [
        (("run", "--camera", 9), 1, ["camera 9 not found"]),
        (("run", "--sample", "--output", "virtual"), 1, ["virtual camera"]),
        (("run", "--sample", "--model", corrupt, "--output", "none"), 1, ["corrupt.onnx"]),
        (
            ("run", "--sample", "--background", tmp_path / "none.png", "--output", "none"),
            1,
            ["none.png"],
        ),
        (("run", "--threshold", 5), 2, ["threshold: 5.0 is out of range"]),
        (("run", "--output", "out.txt"), 2, ["output:"]),
        (("--settings", bad_settings, "run"), 2, ["bad.json", "not valid JSON"]),
        (("matte", tmp_path / "missing.mp4", tmp_path / "o.mp4"), 1, ["missing.mp4 not found"]),
        (("ui",), 1, ["control panel"]),
    ]
    for args, code, words in cases:
        assert_one_line_error(vcam(env, *args, cwd=tmp_path), code, *words)
    if sys.platform.startswith("linux"):
        result = vcam(env, "run", "--sample", "--output", "virtual", cwd=tmp_path)
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vcam" in (
            result.stderr
        )


def test_a_corrupt_saved_config_is_moved_aside_with_a_warning(env, config_dir, tmp_path):
    (config_dir / "settings.json").write_text("{not json")
    result = vcam(env, "devices", cwd=tmp_path)
    assert result.returncode == 0 or "corrupt" in result.stderr
    result = vcam(env, "run", "--sample", "--output", "none", "--duration", 0.5, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "corrupt" in line]
    assert len(warnings) == 1 and "Traceback" not in result.stderr
    assert list(config_dir.glob("settings.json.corrupt-*"))


def test_save_keeps_options_for_the_next_run(env, config_dir, tmp_path):
    out = tmp_path / "saved.avi"
    result = vcam(
        env,
        "run",
        "--sample",
        "--output",
        out,
        "--mirror",
        "--duration",
        0.5,
        "--save",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    saved = (config_dir / "settings.json").read_text()
    assert '"mirror": true' in saved and '"source": "sample"' in saved
    out.unlink()
    result = vcam(env, "run", "--duration", 0.5, cwd=tmp_path)  # no options: the saved ones
    assert result.returncode == 0, result.stderr
    assert out.exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signals_stop_the_pipeline_cleanly(env, tmp_path, sig, code):
    out = tmp_path / "live.avi"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vcam",
            "run",
            "--sample",
            "--width",
            "320",
            "--height",
            "180",
            "--output",
            str(out),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A child must not inherit an ignored SIGINT (as from a non-interactive shell's "&").
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Generous limits: a cold numba cache on a loaded machine can take a minute to compile.
    deadline = time.monotonic() + 120
    while (not out.exists() or out.stat().st_size < 20000) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists() and out.stat().st_size >= 20000, "vcam run wrote no video in 120 s"
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert frame_count(out) > 0  # the file was finished properly
    if sig == signal.SIGTERM:
        assert "frames to" in stdout
    else:
        assert stderr.strip().splitlines()[-1] == "vcam: interrupted"


def test_overrides_map_options_to_settings():
    parser = build_parser()
    args = parser.parse_args(
        [
            "run",
            "--camera",
            "/dev/video2",
            "--background",
            "beach.jpg",
            "--blur",
            "9",
            "--no-mirror",
            "--output",
            "out.avi",
            "--device",
            "/dev/video10",
        ]
    )
    assert overrides(args) == {
        "source": "camera",
        "camera": "/dev/video2",
        "background": "image",
        "background_path": "beach.jpg",
        "blur_strength": 9,
        "mirror": False,
        "output": "file",
        "output_path": "out.avi",
        "virtual_device": "/dev/video10",
    }
    args = parser.parse_args(["run", "--input", "clip.mp4", "--background", "#112233"])
    assert overrides(args) == {
        "source": "video",
        "input_path": "clip.mp4",
        "background": "colour",
        "colour": "#112233",
    }
    args = parser.parse_args(["run", "--background", "preset:office"])
    assert overrides(args) == {"background": "image", "background_path": "preset:office"}
    for flag, wait in (("--wait-for-camera", True), ("--no-wait-for-camera", False)):
        assert overrides(parser.parse_args(["run", flag])) == {"wait_for_camera": wait}
    args = parser.parse_args(["run", "--background", "sparkles"])
    with pytest.raises(SettingsError, match="background: 'sparkles'"):
        overrides(args)
    assert np.dtype(np.uint8)  # numpy is importable next to the CLI


# -- issue 14: what a new user hit ---------------------------------------------------------


@pytest.fixture
def long_clip(tmp_path) -> Path:
    """600 small frames: long enough that `vcam matte` is still busy when a signal comes."""
    return write_video(tmp_path / "long.avi", frames=600, size=(320, 180), fps=30.0)


def start(env, cwd, *args) -> subprocess.Popen:
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


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_matte_stops_on_a_signal_and_keeps_what_it_did_as_partial(
    env, tmp_path, long_clip, name, code
):
    if not hasattr(signal, name):
        pytest.skip(f"no {name} here")
    out = tmp_path / "out.avi"
    partial = tmp_path / "out.partial.avi"
    process = start(env, tmp_path, "matte", long_clip, out, "--background", "#00ff00")
    deadline = time.monotonic() + 120  # a cold numba cache on a loaded machine: a minute
    while not partial.exists() or partial.stat().st_size < 60_000:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "vcam matte wrote nothing in 120 s"
        time.sleep(0.05)
    assert not out.exists(), "the final name is only used for a complete file"
    sent = time.monotonic()
    process.send_signal(getattr(signal, name))
    stdout, stderr = process.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert process.returncode == code, stderr
    assert elapsed < STOP_BOUND, f"{name}: {elapsed:.2f} s to stop"
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("vcam: interrupted after ") and last.endswith(f"kept them in {partial}")
    done = int(last.split("after ")[1].split(" ")[0])
    assert "of 600;" in last and 0 < done < 600
    assert not out.exists()
    assert frame_count(partial) == done  # finished properly: it plays


def test_matte_without_a_signal_renames_the_complete_file(env, tmp_path, red_model):
    clip = write_video(tmp_path / "in.avi", frames=5)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an older result")
    result = vcam(env, "matte", clip, out, "--model", red_model)
    assert result.returncode == 0, result.stderr
    assert frame_count(out) == 5 and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.avi",
        "models",
        "out.mp4",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("matte", "IN", "OUT", "--frames", 0),
        ("matte", "IN", "OUT", "--frames", -3),
        ("run", "--sample", "--output", "OUT", "--duration", 0),
        ("demo", "--output", "OUT", "--duration", -1),
    ],
)
def test_counts_and_durations_below_one_are_rejected(env, tmp_path, args):
    clip = write_video(tmp_path / "in.avi", frames=3)
    out = tmp_path / "out.mp4"
    args = [clip if a == "IN" else out if a == "OUT" else a for a in args]
    name = "frames" if "--frames" in args else "duration"
    assert_one_line_error(vcam(env, *args, cwd=tmp_path), 2, f"--{name}:", "above 0")
    assert not out.exists() and not (tmp_path / "out.partial.mp4").exists()


def test_matte_summary_gives_the_rate_and_counts_one_frame_right(env, tmp_path, red_model):
    clip = write_video(tmp_path / "in.avi", frames=4)
    result = vcam(env, "matte", clip, tmp_path / "out.avi", "--model", red_model)
    line = result.stdout.strip()
    assert line.startswith("vcam: 4 frames to ") and line.endswith(" fps)"), line
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), synthetic_frame(0))
    result = vcam(env, "matte", still, tmp_path / "cut.png", "--model", red_model, "--cutout")
    assert result.stdout.startswith("vcam: 1 frame to "), result.stdout


def test_the_progress_bar_shows_the_rate_and_the_time_left():
    from vcam.cli import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = ProgressBar(terminal)
    bar(1, 100)
    bar.last = 0.0  # not held back by the 0.1 s refresh limit
    start_time, _ = bar._first
    assert bar.line(41, 100, start_time + 2.0) == (
        "[############..................] 41/100 frames · 20.0 fps · 3 s left"
    )
    assert bar.line(41, None, start_time + 2.0) == "41 frames · 20.0 fps"
    bar(100, 100)  # the last frame is always drawn
    bar.close()
    drawn = terminal.getvalue()
    assert "\r[##############################] 100/100 frames" in drawn and " left" in drawn
    assert drawn.endswith("\n")


def test_saved_look_settings_are_named_in_one_line(env, config_dir, tmp_path, red_model):
    save_settings(Settings(blur_strength=40, feather=6.0, output="none"))
    clip = write_video(tmp_path / "in.avi", frames=2)
    result = vcam(env, "matte", clip, tmp_path / "o.avi", "--model", red_model)
    notes = [line for line in result.stderr.splitlines() if "saved settings" in line]
    assert notes == [
        f"vcam: saved settings from {config_dir / 'settings.json'}: feather 6.0, "
        "blur_strength 40 (options override them)"
    ]
    result = vcam(env, "matte", clip, tmp_path / "o.avi", "--model", red_model, "--blur", 40)
    assert "blur_strength" not in result.stderr and "feather 6.0" in result.stderr


def test_the_first_run_says_it_prepares_the_kernels_once(env, tmp_path, red_model):
    """A fresh numba cache (as after installing): one line says why the start takes seconds;
    the next run loads the cache and says nothing."""
    env = dict(env, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), synthetic_frame(0))
    first = vcam(env, "matte", still, tmp_path / "a.png", "--model", red_model, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        "vcam: preparing the fast kernels once, about 10 s (after installing or updating)"
    ]
    second = vcam(env, "matte", still, tmp_path / "b.png", "--model", red_model)
    assert second.returncode == 0 and second.stderr == ""


def test_the_files_the_run_command_leaves_are_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("vcam-sample.mp4", "vcam-output.mp4"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", name], cwd=REPO, capture_output=True, timeout=30
        )
        assert result.returncode == 0, f"{name} is not ignored by git"


def test_smoothing_is_a_named_level_on_the_command_line(capsys):
    parser = build_parser()
    assert overrides(parser.parse_args(["run", "--smoothing", "steady"])) == {"smoothing": "steady"}
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["run", "--smoothing", "0.5"])
    assert exit_info.value.code == 2
    assert "invalid choice: '0.5'" in capsys.readouterr().err
