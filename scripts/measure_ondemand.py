"""Measure ``vcam run --on-demand``: CPU while no app reads the virtual camera, and the time
from an app opening it to the first live frame.

There is no v4l2loopback here, so the virtual camera is a pyvirtualcam backend whose "device"
is a plain file (``FileDevice``): a reader is any other process that opens that file, which
/proc and inotify see exactly as they see a v4l2loopback node. The backend logs each frame it
is sent (time and mean level), so the idle card and live frames can be told apart.

    python scripts/measure_ondemand.py                 # measure, write docs/benchmarks/ondemand.md
    python scripts/measure_ondemand.py launch LOG -- run --on-demand --sample ...   # one run

``launch`` runs the real ``vcam`` command line (``vcam.cli.main``) with the backend
registered as ``file-device``; the measurement starts it as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKEND = "file-device"
LOG_ENV = "VCAM_FILE_DEVICE_LOG"


class FileDevice:
    """A pyvirtualcam backend writing nothing but a log line per frame: ``monotonic mean``."""

    def __init__(self, *, width, height, fps, fourcc, device=None, **kw) -> None:
        self.width, self.height, self.path = width, height, device or "/tmp/vcam-file-device"
        self.log = open(os.environ[LOG_ENV], "a", buffering=1)  # noqa: SIM115 - closed in close()

    def send(self, frame) -> None:
        level = float(frame.reshape(self.height, self.width, 3)[::16, ::16].mean())
        self.log.write(f"{time.monotonic():.6f} {level:.4f}\n")

    def close(self) -> None:
        self.log.close()

    def device(self) -> str:
        return self.path

    def native_fourcc(self) -> None:
        return None


def launch(log: str, argv: list[str]) -> int:
    """Run the vcam command line with the file device registered, logging to ``log``."""
    import pyvirtualcam

    os.environ[LOG_ENV] = log
    pyvirtualcam.register_backend(BACKEND, FileDevice)
    from vcam.cli import main

    return main(argv)


def card_level(width: int, height: int) -> float:
    """The mean level the idle card has in the log (as FileDevice measures it)."""
    import cv2

    from vcam.cards import message_card
    from vcam.pipeline import HOLD_LINES

    card = cv2.cvtColor(message_card((width, height), HOLD_LINES["idle"][1]), cv2.COLOR_BGR2RGB)
    return float(card[::16, ::16].mean())


def read_log(path: Path) -> list[tuple[float, float]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [(float(t), float(m)) for t, m in (line.split() for line in lines if line.count(" "))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(test, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise SystemExit(f"measure_ondemand: {what} did not happen within {timeout:g} s")
        time.sleep(0.01)


def measure(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="vcam-ondemand-"))
    device, log = work / "video10", work / "frames.log"
    device.touch()
    width, height = 1280, 720
    card = card_level(width, height)
    env = dict(os.environ, VCAM_CONFIG_DIR=str(work / "config"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    source = ["--input", args.input] if args.input else ["--sample"]
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "launch",
        str(log),
        "--",
        "run",
        "--on-demand",
        *source,
        "--width",
        str(width),
        "--height",
        str(height),
        "--backend",
        BACKEND,
        "--device",
        str(device),
    ]
    run = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(read_log(log)) >= 2, 120, "the first idle cards")
        time.sleep(args.settle)
        frames = read_log(log)
        assert all(abs(level - card) < 0.01 for _, level in frames), "live frames with no reader"
        start_cpu, start = cpu_seconds(run.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(run.pid) - start_cpu) / (time.monotonic() - start)
        idle_cards = [t for t, level in read_log(log) if t >= start and abs(level - card) < 0.01]

        wakes, active = [], []
        for _ in range(args.repeats):
            seen = len(read_log(log))

            def live_since(seen: int = seen) -> list[float]:
                return [t for t, m in read_log(log)[seen:] if abs(m - card) >= 0.01]

            opened = time.monotonic()
            with open(device, "rb"):  # this process is the app that reads the camera
                wait_for(live_since, 30, "a live frame after the open")
                first = live_since()[0]
                wakes.append(first - opened)
                time.sleep(2.0)
                start_cpu, start = cpu_seconds(run.pid), time.monotonic()
                time.sleep(args.active_seconds)
                active.append((cpu_seconds(run.pid) - start_cpu) / (time.monotonic() - start))
            wait_for(lambda: abs(read_log(log)[-1][1] - card) < 0.01, 30, "idle after the close")
            time.sleep(1.0)
    finally:
        run.terminate()
        _, stderr = run.communicate(timeout=30)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "source": args.input or "the bundled sample portrait (vcam run --sample)",
        "size": f"{width}x{height}",
        "idle_seconds": args.idle_seconds,
        "idle_cpu_cores": idle_cpu,
        "idle_cards_per_second": len(idle_cards) / args.idle_seconds,
        "active_cpu_cores": statistics.median(active),
        "wake_seconds": wakes,
        "wake_median": statistics.median(wakes),
        "wake_max": max(wakes),
        "run_stderr": stderr.strip().splitlines(),
    }


def report(result: dict, machine: str) -> str:
    wakes = ", ".join(f"{w * 1000:.0f}" for w in result["wake_seconds"])
    return "\n".join(
        [
            "# `vcam run --on-demand`: idle CPU and the time to wake",
            "",
            f"Measured {result['date']} with `python scripts/measure_ondemand.py` ({machine}).",
            "",
            "No v4l2loopback can load on this machine, so the virtual camera is a pyvirtualcam",
            'backend whose device is a plain file; the "app" is the measuring process opening',
            "that file, which /proc and inotify report as they report a v4l2loopback node.",
            f"Source: {result['source']} at {result['size']}, 30 fps; model mmnet-fast, blur.",
            "CPU is the `vcam run` process's user + system time from /proc over the window.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| CPU with no reader ({result['idle_seconds']:g} s) | "
            f"{result['idle_cpu_cores'] * 100:.2f}% of a core |",
            f"| idle cards sent per second | {result['idle_cards_per_second']:.2f} |",
            f"| CPU while an app reads (median) | {result['active_cpu_cores'] * 100:.1f}% "
            "of a core |",
            f"| open to first live frame, median | {result['wake_median'] * 1000:.0f} ms |",
            f"| open to first live frame, slowest | {result['wake_max'] * 1000:.0f} ms |",
            "",
            f"Each open to first live frame (ms): {wakes}.",
            "",
            "What the run printed:",
            "",
            "```",
            *result["run_stderr"],
            "```",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"]:
        rest = argv[2:]
        return launch(argv[1], rest[1:] if rest[:1] == ["--"] else rest)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", help="a video file as the camera (default: the sample)")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--active-seconds", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument("--repeats", type=int, default=5, help="opens to time")
    parser.add_argument("--machine", default="", help="what else ran on the machine")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks" / "ondemand.md"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(args)
    machine = f"{os.cpu_count()} cores" + (f", {args.machine}" if args.machine else "")
    Path(args.out).write_text(report(result, machine))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(report(result, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
