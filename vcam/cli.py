"""The ``vcam`` command: run, devices, matte, demo, ui, ctl, autostart.

Options given on the command line override the saved settings (``--save`` keeps them).
Errors are one line on stderr with a non-zero exit code, never a traceback; Ctrl-C exits 130,
SIGTERM and SIGHUP stop the pipeline cleanly (``vcam matte``, left unfinished, exits 143 and
129 and keeps what it did as ``NAME.partial.SUFFIX``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from vcam import __version__, media
from vcam.errors import CameraError, SettingsError, VcamError, VirtualCameraError
from vcam.settings import (
    AUTO_FRAME_MODES,
    BACKGROUND_KINDS,
    LIGHT_MODES,
    PROVIDERS,
    SMOOTHING_LEVELS,
    Settings,
    background_changes,
    load_settings,
    save_settings,
    settings_path,
    shared_fields,
)

log = logging.getLogger("vcam")

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEMO_SECONDS = 10.0


KERNEL_NOTE_AFTER = 4.0  # seconds: numba loads cached kernels in 0.4-3 s, compiles in 6 s or more
KERNEL_NOTE = "vcam: preparing the fast kernels once, about 10 s (after installing or updating)"


class StopFlag(threading.Event):
    """Set by SIGTERM, SIGHUP or Ctrl-C; ``signum`` tells which (0 while unset)."""

    signum = 0

    def stop(self, signum: int) -> None:
        self.signum = self.signum or signum
        self.set()


# ---------------------------------------------------------------------------------------------
# Arguments


def _source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("source")
    pick = group.add_mutually_exclusive_group()
    pick.add_argument("--camera", help="camera index (0) or device path (/dev/video2)")
    pick.add_argument("--input", metavar="FILE", help="a video or image file instead of a camera")
    pick.add_argument("--sample", action="store_true", help="the bundled sample portrait")
    group.add_argument("--width", type=int, help="requested frame width (default 1280)")
    group.add_argument("--height", type=int, help="requested frame height (default 720)")
    group.add_argument("--fps", type=float, help="requested frame rate (default 30)")
    group.add_argument("--fourcc", help="camera pixel format, e.g. MJPG or YUYV")
    group.add_argument(
        "--mirror", action=argparse.BooleanOptionalAction, help="flip left-right like a mirror"
    )
    group.add_argument(
        "--loop", action=argparse.BooleanOptionalAction, help="loop an --input video"
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help='"fast" (default), "quality" or a path to an .onnx file')
    group.add_argument("--threads", type=int, help="inference threads (0: automatic, which is 1)")
    group.add_argument(
        "--frame-threads",
        type=int,
        metavar="N",
        help="threads of the edge and compositing kernels (0: automatic, 1 on 2-core machines)",
    )
    group.add_argument("--provider", choices=PROVIDERS, help="execution provider (default cpu)")
    group.add_argument(
        "--infer-every", type=int, metavar="N", help="run the model on at most every Nth frame"
    )
    group.add_argument(
        "--skip-static",
        action=argparse.BooleanOptionalAction,
        help="reuse the matte while the picture does not change",
    )


def _look_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("background and edges")
    group.add_argument(
        "--background",
        metavar="KIND|FILE|#RRGGBB",
        help=f"{', '.join(BACKGROUND_KINDS)}; an image or video file; preset:NAME; a colour",
    )
    group.add_argument("--blur", type=int, metavar="SIGMA", help="blur strength 1..101 (25)")
    group.add_argument("--colour", "--color", dest="colour", help="colour like '#2e3440'")
    group.add_argument("--threshold", type=float, help="edge threshold 0..1 (0: soft alpha)")
    group.add_argument("--feather", type=float, metavar="PX", help="edge feather in pixels")
    group.add_argument(
        "--smoothing",
        choices=SMOOTHING_LEVELS,
        help="temporal smoothing: steady (holds still parts longest), balanced (default), "
        "responsive, off. Moving parts follow at once at every level",
    )
    group.add_argument(
        "--guided", action=argparse.BooleanOptionalAction, help="edge-aware alpha upsampling"
    )
    _person_options(parser)


def _person_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("person effects")
    group.add_argument(
        "--auto-frame",
        choices=AUTO_FRAME_MODES,
        type=str.lower,
        help="crop and zoom to keep your head and shoulders framed (gentle: up to 1.5x, "
        "tight: closer, up to 2x)",
    )
    group.add_argument(
        "--main-person-only",
        action=argparse.BooleanOptionalAction,
        help="treat bystanders and people walking behind as background",
    )
    group.add_argument(
        "--light",
        choices=LIGHT_MODES,
        type=str.lower,
        help="auto: brighten a dark or colour-cast person (the background is left alone)",
    )
    group.add_argument(
        "--light-strength", type=float, metavar="S", help="how much light correction, 0..1 (0.8)"
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--output",
        metavar="virtual|none|FILE|FOLDER",
        help="the virtual camera (default), a video file (.mp4/.avi), a folder for PNGs, none",
    )
    group.add_argument("--device", help="virtual camera device (e.g. /dev/video10)")
    group.add_argument("--backend", help=argparse.SUPPRESS)  # pyvirtualcam backend (tests)
    group.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    group.add_argument(
        "--wait-for-camera",
        action=argparse.BooleanOptionalAction,
        help="no camera yet: wait for it (the output shows a notice) instead of exiting",
    )
    group.add_argument(
        "--on-demand",
        action=argparse.BooleanOptionalAction,
        help="idle (camera off, no inference) while no app uses the virtual camera",
    )
    group.add_argument("--stats", action="store_true", help="print fps and stage timings")
    group.add_argument("--save", action="store_true", help="keep these options as defaults")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcam",
        description="Real-time background removal for video calls, on the CPU. "
        "Without a command, opens the control panel.",
    )
    parser.add_argument("--version", action="version", version=f"vcam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--settings", metavar="FILE", help="read settings from FILE instead of the saved ones"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="camera to virtual camera, live")
    for add in (_source_options, _model_options, _look_options, _output_options):
        add(run)

    commands.add_parser("devices", help="list cameras, virtual cameras and models")

    matte = commands.add_parser("matte", help="matte a video or image file")
    matte.add_argument("input", metavar="IN", help="video or image file")
    matte.add_argument("output", metavar="OUT", help="video (.mp4/.avi), image or folder (PNGs)")
    what = matte.add_mutually_exclusive_group()
    what.add_argument("--alpha", action="store_true", help="write the matte instead")
    what.add_argument("--cutout", action="store_true", help="transparent PNG(s) of the person")
    matte.add_argument("--alpha-output", metavar="FILE", help="also write the matte here")
    matte.add_argument("--frames", type=int, metavar="N", help="only the first N frames")
    matte.add_argument("--mirror", action=argparse.BooleanOptionalAction, help="flip left-right")
    _model_options(matte)
    _look_options(matte)

    demo = commands.add_parser("demo", help="the bundled sample to the virtual camera or a file")
    demo.add_argument(
        "--output", metavar="FILE", help=f"write this video (default {media.SAMPLE_OUTPUT})"
    )
    demo.add_argument("--duration", type=float, metavar="S", help="seconds (default 10 to a file)")
    demo.add_argument("--stats", action="store_true", help="print fps and stage timings")
    demo.add_argument("--backend", help=argparse.SUPPRESS)
    _model_options(demo)
    _look_options(demo)

    panel = commands.add_parser("ui", help="the control panel (needs PyQt6 and a display)")
    panel.add_argument(
        "--tray", action="store_true", help="start in the tray with the virtual camera on"
    )
    _remote_commands(commands)
    return parser


def _remote_commands(commands) -> None:
    """``vcam ctl`` and ``vcam autostart``."""
    from vcam.control import COMMANDS

    ctl = commands.add_parser(
        "ctl",
        help="control a running `vcam run` or panel (for desktop hotkeys)",
        description="Send one request to the running vcam: status, pause, resume, "
        "toggle-pause, background SPEC, blur N, next-background, model fast|quality, stop, "
        "show.",
    )
    ctl.add_argument("request", choices=list(COMMANDS), metavar="REQUEST", help="what to do")
    ctl.add_argument("value", nargs="?", metavar="VALUE", help="background SPEC, blur N, model")
    ctl.add_argument("--json", action="store_true", help="print the reply as JSON")

    auto = commands.add_parser("autostart", help="start vcam at login: on, off or status")
    auto.add_argument("action", choices=("on", "off", "status"))
    auto.add_argument(
        "--panel",
        action="store_true",
        help="start the panel in the tray (default: `vcam run --on-demand`)",
    )
    auto.add_argument(
        "--systemd",
        action="store_true",
        help="Linux: a systemd user unit instead of an XDG autostart entry",
    )


def _check_positive(name: str, value: float | None) -> None:
    """``--frames``/``--duration``: absent, or more than 0 (SettingsError, exit 2, else)."""
    if value is not None and not value > 0:
        raise SettingsError(f"--{name}: {value:g} is not allowed: give a number above 0")


def _output_changes(value: str | None) -> dict[str, object]:
    if value is None:
        return {}
    if value.lower() in ("virtual", "none"):
        return {"output": value.lower()}
    kind = "file" if media.is_video(value) else "png"
    if media.suffix(value) and kind == "png":
        raise SettingsError(f"output: {value!r}: give a .mp4/.avi file, a folder, virtual or none")
    return {"output": kind, "output_path": value}


def overrides(args: argparse.Namespace) -> dict[str, object]:
    """The settings the command line sets explicitly."""
    names = {
        "width": "width",
        "height": "height",
        "fps": "fps",
        "fourcc": "fourcc",
        "mirror": "mirror",
        "wait_for_camera": "wait_for_camera",
        "loop": "loop",
        "model": "model",
        "threads": "threads",
        "frame_threads": "frame_threads",
        "provider": "provider",
        "infer_every": "infer_every",
        "skip_static": "skip_static",
        "blur": "blur_strength",
        "colour": "colour",
        "threshold": "threshold",
        "feather": "feather",
        "smoothing": "smoothing",
        "guided": "guided",
        "device": "virtual_device",
        "backend": "virtual_backend",
        "auto_frame": "auto_frame",
        "main_person_only": "main_person_only",
        "light": "light",
        "light_strength": "light_strength",
        "on_demand": "on_demand",
    }
    changes: dict[str, object] = {}
    for arg, field in names.items():
        value = getattr(args, arg, None)
        if value is not None:
            changes[field] = value
    if getattr(args, "camera", None) is not None:
        changes.update(source="camera", camera=args.camera)
    if getattr(args, "input", None) is not None and args.command == "run":
        changes.update(source=media.media_kind(args.input), input_path=args.input)
    if getattr(args, "sample", False):
        changes["source"] = "sample"
    changes.update(background_changes(getattr(args, "background", None)))
    if args.command == "run":
        changes.update(_output_changes(args.output))
    return changes


def effective_settings(args: argparse.Namespace) -> Settings:
    """Saved (or ``--settings FILE``) settings with the command line's on top."""
    base = load_settings(args.settings, strict=True) if args.settings else load_settings()
    return base.replace(**overrides(args))


def saved_note(args: argparse.Namespace, settings: Settings) -> str:
    """One line naming the saved look and model settings this command applies (those the
    panel shares, not at their defaults and not given as options); "" when there are none."""
    explicit, defaults = overrides(args), Settings()
    parts = []
    for name in shared_fields():
        value = getattr(settings, name)
        if name in explicit or value == getattr(defaults, name):
            continue
        if name in ("background_path", "model") and ("/" in value or "\\" in value):
            value = Path(value).name
        parts.append(f"{name} {value}")
    if not parts:
        return ""
    where = args.settings or settings_path()
    return f"vcam: saved settings from {where}: {', '.join(parts)} (options override them)"


def _prepare(args: argparse.Namespace, settings: Settings) -> None:
    """Say which saved settings apply, then compile numba's kernels (or load them from its
    cache, about 0.4 s) before any frame is read, so no frame waits for them; a first run
    after installing compiles them, which takes a while: say so in one line then."""
    from vcam.pipeline import warm_up

    note = saved_note(args, settings)
    if note:
        print(note, file=sys.stderr)
    slow = threading.Timer(KERNEL_NOTE_AFTER, lambda: print(KERNEL_NOTE, file=sys.stderr))
    slow.daemon = True
    slow.start()
    try:
        warm_up()
    finally:
        slow.cancel()


# ---------------------------------------------------------------------------------------------
# Commands


def _virtual_camera_available(settings: Settings) -> bool:
    from vcam.sinks import VirtualCameraSink

    sink = VirtualCameraSink(settings.virtual_device, settings.virtual_backend)
    try:
        sink.open(64, 48, 30.0)
    except VirtualCameraError:
        return False
    finally:
        sink.close()
    return True


def _drive(
    pipeline,
    duration: float | None,
    stats: bool,
    stop: threading.Event,
    remote=None,
    on_demand: bool = False,
) -> float:
    """Run until the source ends, ``duration`` passes, SIGTERM, Ctrl-C or ``vcam ctl stop``;
    then stop. ``remote`` (a ControlServer) answers ``vcam ctl`` meanwhile; ``on_demand``
    idles while no app uses the virtual camera. Returns the seconds it ran."""
    from vcam.control import PipelineControl
    from vcam.ondemand import OnDemand

    started = time.monotonic()
    deadline = started + duration if duration else None
    next_report = time.monotonic() + 2.0
    watcher = None
    try:
        pipeline.start()
        if remote is not None:
            remote.start(PipelineControl(pipeline, stop))
        if on_demand:
            watcher = OnDemand(pipeline).start()
        while not pipeline.wait(0.2):
            now = time.monotonic()
            if stop.is_set() or (deadline is not None and now >= deadline):
                break
            if stats and now >= next_report:
                line, status = pipeline.snapshot().line(), pipeline.status
                if status.state in ("idle", "paused"):
                    line = f"{status.message} · {line}"
                print(line, file=sys.stderr)
                next_report = now + 2.0
    finally:
        if watcher is not None:
            watcher.stop()
        pipeline.stop()
    if pipeline.error is not None:
        raise pipeline.error
    return time.monotonic() - started


def _summary(pipeline, seconds: float) -> str:
    snap = pipeline.snapshot()
    outputs = ", ".join(str(s) for s in pipeline.sinks) or "no output"
    rate = snap.frames / seconds if seconds > 0 else 0.0
    return (
        f"vcam: {snap.frames} frames to {outputs} in {seconds:.1f} s ({rate:.1f} fps, "
        f"{snap.dropped} dropped by the source)"
    )


def _claim_remote():
    """The remote control's channel for this run (a ControlServer), or None with a one-line
    note when it cannot be made; a vcam already running is an error (AlreadyRunning)."""
    from vcam.control import AlreadyRunning, ControlError, ControlServer

    try:
        return ControlServer("vcam run").open()
    except AlreadyRunning:
        raise
    except ControlError as error:
        print(f"vcam: no remote control: {error}", file=sys.stderr)
        return None


def _status_printer():
    """An ``on_status`` callback saying in one line when the run idles, pauses and resumes."""
    last = {"state": ""}

    def show(status) -> None:
        previous, last["state"] = last["state"], status.state
        if status.state == "idle" and previous != "idle":
            print(f"vcam: {status.message} (camera off until an app opens it)", file=sys.stderr)
        elif status.state == "paused" and previous != "paused":
            print("vcam: paused: the camera is off until `vcam ctl resume`", file=sys.stderr)
        elif status.state == "running" and previous in ("idle", "paused"):
            print(f"vcam: live: {status.message}", file=sys.stderr)

    return show


def cmd_run(args: argparse.Namespace, stop: threading.Event) -> int:
    _check_positive("duration", args.duration)
    settings = effective_settings(args)
    if args.save:
        print(f"vcam: saved settings to {save_settings(settings)}")
    remote = _claim_remote()  # before the camera: a second vcam says so and leaves it alone
    try:
        return _run(args, settings, stop, remote)
    finally:
        if remote is not None:
            remote.close()


def _run(args: argparse.Namespace, settings: Settings, stop: threading.Event, remote) -> int:
    from vcam.pipeline import Pipeline

    explicit = overrides(args)
    on_demand = settings.on_demand and settings.output == "virtual"
    if args.on_demand and not on_demand:
        print("vcam: --on-demand is for the virtual camera; this run stays on", file=sys.stderr)
    _prepare(args, settings)
    # Waits for a missing camera if settings.wait_for_camera.
    pipeline = Pipeline(settings, on_status=_status_printer())
    if on_demand and sys.platform.startswith("linux"):
        pipeline.set_idle(True)  # no camera light before an app asks (vcam.ondemand wakes it)
    try:
        pipeline.start()
    except CameraError:
        fallback = (
            "source" not in explicit
            and "output" not in explicit
            and settings.output == "virtual"
            and not _virtual_camera_available(settings)
        )
        if not fallback:
            raise
        output = settings.output_path if settings.output == "file" else media.SAMPLE_OUTPUT
        seconds = args.duration or DEMO_SECONDS
        settings = settings.replace(source="sample", output="file", output_path=output)
        print(
            f"vcam: no camera and no virtual camera here: running the bundled sample for "
            f"{seconds:g} s into {output} (see `vcam devices`)"
        )
        pipeline = Pipeline(settings)
        print(_summary(pipeline, _drive(pipeline, seconds, args.stats, stop, remote)))
        return 0
    seconds = _drive(pipeline, args.duration, args.stats, stop, remote, on_demand)
    print(_summary(pipeline, seconds))
    return 0


def cmd_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.pipeline import Pipeline

    _check_positive("duration", args.duration)
    settings = effective_settings(args).replace(source="sample")
    _prepare(args, settings)
    if args.output is None and _virtual_camera_available(settings):
        settings = settings.replace(output="virtual")
        print("vcam: the sample portrait is on the virtual camera; Ctrl-C stops")
        duration = args.duration
    else:
        output = args.output or media.SAMPLE_OUTPUT
        changes = _output_changes(output)
        if changes.get("output") != "file":
            raise SettingsError(f"output: {output!r}: give a .mp4 or .avi file for the demo")
        settings = settings.replace(**changes)
        duration = args.duration or DEMO_SECONDS
        print(f"vcam: running the bundled sample for {duration:g} s into {output}")
    pipeline = Pipeline(settings)
    print(_summary(pipeline, _drive(pipeline, duration, args.stats, stop)))
    return 0


class ProgressBar:
    """A one-line progress bar with the rate and the time left, on ``stream`` (stderr) when
    that is a terminal."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.last = 0.0
        self._first: tuple[float, int] | None = None  # (time, frames) of the first call

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
        if not self.enabled or (now - self.last < 0.1 and done != total):
            return
        self.last = now
        self.stream.write("\r" + self.line(done, total, now) + "\033[K")
        self.stream.flush()

    def line(self, done: int, total: int | None, now: float) -> str:
        """The bar's text after ``done`` of ``total`` frames, at ``now`` (time.monotonic)."""
        since, first = self._first if self._first is not None else (now, done)
        rate = (done - first) / (now - since) if now > since and done > first else 0.0
        speed = f" · {rate:.1f} fps" if rate else ""
        if not total:
            return f"{done} frames{speed}"
        filled = int(30 * min(done, total) / total)
        bar = "#" * filled + "." * (30 - filled)
        left = f" · {_duration(max(0, total - done) / rate)} left" if rate else ""
        return f"[{bar}] {done}/{total} frames{speed}{left}"

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def _duration(seconds: float) -> str:
    """``seconds`` as "42 s", "3 min 05 s" or "1 h 02 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def cmd_matte(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.convert import convert_video

    _check_positive("frames", args.frames)
    settings = effective_settings(args)
    content = "alpha" if args.alpha else "rgba" if args.cutout else "composite"
    _prepare(args, settings)
    bar = ProgressBar()
    try:
        report = convert_video(
            args.input,
            args.output,
            settings,
            content=content,
            alpha_path=args.alpha_output,
            progress=bar,
            max_frames=args.frames,
            stop=stop,
        )
    finally:
        bar.close()
    outputs = ", ".join(str(p) for p in report.outputs)
    if report.interrupted:
        if report.frames:
            of = f" of {report.total}" if report.total else ""
            done = f"after {_frames(report.frames)}{of}; kept them in {outputs}"
        else:
            done = "before the first frame; nothing written"
        print(f"vcam: interrupted {done}", file=sys.stderr)
        return 128 + (getattr(stop, "signum", 0) or signal.SIGINT)
    print(
        f"vcam: {_frames(report.frames)} to {outputs} in {report.seconds:.1f} s "
        f"({report.fps:.1f} fps)"
    )
    return 0


def cmd_devices(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.matting import MODEL_FILES, resolve_model
    from vcam.sinks import virtual_camera_status
    from vcam.sources import find_cameras

    cameras = find_cameras()
    print("cameras:")
    for camera in cameras:
        label = f" ({camera.label})" if camera.label else ""
        print(f"  {camera.device}{label}: {camera.width}x{camera.height}")
    if not cameras:
        print("  none found")
    print("virtual camera:")
    for line in virtual_camera_status():
        print(f"  {line}")
    print("models:")
    for name in MODEL_FILES:
        try:
            print(f"  {name}: {resolve_model(name)}")
        except VcamError as error:
            print(f"  {name}: missing ({error})")
    return 0


def cmd_ui(args: argparse.Namespace, stop: threading.Event) -> int:
    try:
        import PyQt6.QtWidgets  # noqa: F401
    except ImportError:
        raise VcamError(
            "the control panel needs PyQt6: pip install PyQt6 (or use `vcam run`)"
        ) from None
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless and not os.environ.get("QT_QPA_PLATFORM"):
        raise VcamError(
            "no display for the control panel: run it on a desktop, or use `vcam run` / "
            "`vcam demo` here"
        )
    try:
        import ui
    except ImportError:
        raise VcamError("the control panel (ui package) is not installed; use `vcam run`") from None
    options = ["--settings", args.settings] if args.settings else []
    if getattr(args, "tray", False):
        options.append("--tray")
    return int(ui.main(options) or 0)


def _absolute_background(spec: str) -> str:
    """A background spec for another process: a file named relative to here made absolute."""
    try:
        background_changes(spec)
    except SettingsError:
        return spec  # the running vcam says what is wrong with it
    if spec.lower() in BACKGROUND_KINDS or spec.startswith("#") or media.is_preset(spec):
        return spec
    return str(Path(spec).expanduser().resolve())


def cmd_ctl(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.control import ControlError, parse_request, request, status_line

    wanted = {"cmd": args.request}
    if args.value is not None:
        wanted["value"] = args.value
        if args.request == "blur":
            try:
                wanted["value"] = int(args.value)
            except ValueError:
                raise SettingsError(f"ctl blur: {args.value!r} is not a whole number") from None
        elif args.request == "background":
            wanted["value"] = _absolute_background(args.value)
    try:
        checked = parse_request(json.dumps(wanted))
    except ControlError as error:
        raise SettingsError(f"ctl {error}") from None
    if args.value is not None and "value" not in checked:
        raise SettingsError(f"ctl {args.request} takes no value")
    reply = request(checked["cmd"], checked.get("value"))
    if args.json:
        print(json.dumps(reply))
        return 0 if reply.get("ok") else EXIT_ERROR
    if not reply.get("ok"):
        raise VcamError(str(reply.get("error") or "the request failed"))
    print(status_line(reply))
    return 0


def cmd_autostart(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam import autostart

    if args.action == "on":
        target = "panel" if args.panel else "run"
        method = "systemd" if args.systemd else None
        entry = autostart.enable(target, method, settings_file=args.settings)
        print(f"vcam: autostart on: {entry.line()}")
        if args.systemd:
            print("vcam: `systemctl --user daemon-reload && systemctl --user start vcam` starts it")
        note = autostart.installed_note()
        if note:
            print(f"vcam: warning: {note}", file=sys.stderr)
    elif args.action == "off":
        removed = autostart.disable()
        if removed:
            print(f"vcam: autostart off: removed {', '.join(e.where for e in removed)}")
        else:
            print("vcam: autostart is off (vcam wrote no login entry here)")
    else:
        entries = autostart.status()
        for entry in entries:
            print(f"vcam: autostart on: {entry.line()}")
        if not entries:
            print("vcam: autostart is off")
    return 0


COMMANDS = {
    "run": cmd_run,
    "devices": cmd_devices,
    "matte": cmd_matte,
    "demo": cmd_demo,
    "ui": cmd_ui,
    "ctl": cmd_ctl,
    "autostart": cmd_autostart,
}


# ---------------------------------------------------------------------------------------------
# Entry point


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vcam: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        logging.getLogger("numba").setLevel(logging.WARNING)


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used by ``python -m vcam``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    name = args.command or "ui"
    command = COMMANDS[name]
    stop = StopFlag()
    interrupted = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        stop.stop(signum)
        log.debug("signal %d: stopping", signum)

    def on_sigint(signum: int, frame: object) -> None:
        if interrupted.is_set():  # a second Ctrl-C stops whatever is still waiting
            raise KeyboardInterrupt
        interrupted.set()
        on_sigterm(signum, frame)

    if threading.current_thread() is threading.main_thread():
        # SIGTERM (kill, a service manager) and SIGHUP (the terminal closed) stop cleanly:
        # threads joined, camera and virtual camera released, files finished.
        for signame in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, signame):
                signal.signal(getattr(signal, signame), on_sigterm)
        wired = ("run", "demo", "matte")
        if name in wired and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            # Ctrl-C too, through the same flag, so that every stop takes the same clean path
            # (a KeyboardInterrupt could land inside a join or while a file is being finished).
            signal.signal(signal.SIGINT, on_sigint)
    try:
        code = command(args, stop)
        if interrupted.is_set() and code == 0:
            print("vcam: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return code  # an unfinished `vcam matte` said what it kept: 128 + the signal
    except KeyboardInterrupt:
        print("vcam: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SettingsError as error:
        print(f"vcam: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except VcamError as error:
        print(f"vcam: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"vcam: error: {_one_line(error.strerror or error)}{where}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as error:
        print(f"vcam: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
