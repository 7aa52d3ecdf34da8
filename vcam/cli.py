"""The ``vcam`` command: run, devices, matte, demo, ui.

Options given on the command line override the saved settings (``--save`` keeps them).
Errors are one line on stderr with a non-zero exit code, never a traceback; Ctrl-C exits 130,
SIGTERM stops the pipeline cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from vcam import __version__
from vcam.errors import CameraError, SettingsError, VcamError, VirtualCameraError
from vcam.settings import (
    BACKGROUND_KINDS,
    PROVIDERS,
    SMOOTHING_LEVELS,
    Settings,
    load_settings,
    save_settings,
)

log = logging.getLogger("vcam")

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEMO_SECONDS = 10.0
SAMPLE_OUTPUT = "vcam-sample.mp4"
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class Interrupted(Exception):
    """SIGTERM arrived."""


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
        "--output", metavar="FILE", help=f"write this video (default {SAMPLE_OUTPUT})"
    )
    demo.add_argument("--duration", type=float, metavar="S", help="seconds (default 10 to a file)")
    demo.add_argument("--stats", action="store_true", help="print fps and stage timings")
    demo.add_argument("--backend", help=argparse.SUPPRESS)
    _model_options(demo)
    _look_options(demo)

    commands.add_parser("ui", help="the control panel (needs PyQt6 and a display)")
    return parser


def _background_changes(value: str | None) -> dict[str, object]:
    """``--background`` as settings: a kind, a colour or a file."""
    if value is None:
        return {}
    if value.lower() in BACKGROUND_KINDS:
        return {"background": value.lower()}
    if value.startswith("#"):
        return {"background": "colour", "colour": value}
    if value.lower().startswith("preset:"):
        return {"background": "image", "background_path": value}
    suffix = Path(value).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return {"background": "video", "background_path": value}
    if suffix in IMAGE_SUFFIXES:
        return {"background": "image", "background_path": value}
    raise SettingsError(
        f"background: {value!r} is not a kind ({', '.join(BACKGROUND_KINDS)}), a colour like "
        "'#00b140' or an image/video file"
    )


def _output_changes(value: str | None) -> dict[str, object]:
    if value is None:
        return {}
    if value.lower() in ("virtual", "none"):
        return {"output": value.lower()}
    kind = "file" if Path(value).suffix.lower() in VIDEO_SUFFIXES else "png"
    if Path(value).suffix and kind == "png":
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
    }
    changes: dict[str, object] = {}
    for arg, field in names.items():
        value = getattr(args, arg, None)
        if value is not None:
            changes[field] = value
    if getattr(args, "camera", None) is not None:
        changes.update(source="camera", camera=args.camera)
    if getattr(args, "input", None) is not None and args.command == "run":
        kind = "image" if Path(args.input).suffix.lower() in IMAGE_SUFFIXES else "video"
        changes.update(source=kind, input_path=args.input)
    if getattr(args, "sample", False):
        changes["source"] = "sample"
    changes.update(_background_changes(getattr(args, "background", None)))
    if args.command == "run":
        changes.update(_output_changes(args.output))
    return changes


def effective_settings(args: argparse.Namespace) -> Settings:
    """Saved (or ``--settings FILE``) settings with the command line's on top."""
    base = load_settings(args.settings, strict=True) if args.settings else load_settings()
    return base.replace(**overrides(args))


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


def _drive(pipeline, duration: float | None, stats: bool, stop: threading.Event) -> float:
    """Run until the source ends, ``duration`` passes, SIGTERM or Ctrl-C; then stop.
    Returns the seconds it ran."""
    started = time.monotonic()
    deadline = started + duration if duration else None
    next_report = time.monotonic() + 2.0
    try:
        pipeline.start()
        while not pipeline.wait(0.2):
            now = time.monotonic()
            if stop.is_set() or (deadline is not None and now >= deadline):
                break
            if stats and now >= next_report:
                print(pipeline.snapshot().line(), file=sys.stderr)
                next_report = now + 2.0
    finally:
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


def cmd_run(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.pipeline import Pipeline

    settings = effective_settings(args)
    if args.save:
        print(f"vcam: saved settings to {save_settings(settings)}")
    explicit = overrides(args)
    pipeline = Pipeline(settings)  # waits for a missing camera if settings.wait_for_camera
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
        output = settings.output_path if settings.output == "file" else SAMPLE_OUTPUT
        seconds = args.duration or DEMO_SECONDS
        settings = settings.replace(source="sample", output="file", output_path=output)
        print(
            f"vcam: no camera and no virtual camera here: running the bundled sample for "
            f"{seconds:g} s into {output} (see `vcam devices`)"
        )
        pipeline = Pipeline(settings)
        print(_summary(pipeline, _drive(pipeline, seconds, args.stats, stop)))
        return 0
    print(_summary(pipeline, _drive(pipeline, args.duration, args.stats, stop)))
    return 0


def cmd_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.pipeline import Pipeline

    settings = effective_settings(args).replace(source="sample")
    if args.output is None and _virtual_camera_available(settings):
        settings = settings.replace(output="virtual")
        print("vcam: the sample portrait is on the virtual camera; Ctrl-C stops")
        duration = args.duration
    else:
        output = args.output or SAMPLE_OUTPUT
        changes = _output_changes(output)
        if changes.get("output") != "file":
            raise SettingsError(f"output: {output!r}: give a .mp4 or .avi file for the demo")
        settings = settings.replace(**changes)
        duration = args.duration or DEMO_SECONDS
        print(f"vcam: running the bundled sample for {duration:g} s into {output}")
    pipeline = Pipeline(settings)
    print(_summary(pipeline, _drive(pipeline, duration, args.stats, stop)))
    return 0


class _ProgressBar:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and done != total):
            return
        self.last = now
        if total:
            filled = int(30 * min(done, total) / total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"\r[{bar}] {done}/{total} frames"
        else:
            text = f"\r{done} frames"
        sys.stderr.write(text)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def cmd_matte(args: argparse.Namespace, stop: threading.Event) -> int:
    from vcam.pipeline import convert_video

    settings = effective_settings(args)
    content = "alpha" if args.alpha else "rgba" if args.cutout else "composite"
    bar = _ProgressBar()
    try:
        report = convert_video(
            args.input,
            args.output,
            settings,
            content=content,
            alpha_path=args.alpha_output,
            progress=bar,
            max_frames=args.frames,
        )
    finally:
        bar.close()
    outputs = ", ".join(str(p) for p in report.outputs)
    print(f"vcam: {report.frames} frames to {outputs} in {report.seconds:.1f} s")
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
    return int(ui.main(["--settings", args.settings] if args.settings else []) or 0)


COMMANDS = {
    "run": cmd_run,
    "devices": cmd_devices,
    "matte": cmd_matte,
    "demo": cmd_demo,
    "ui": cmd_ui,
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
    stop = threading.Event()
    interrupted = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        stop.set()
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
        if name in ("run", "demo") and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            # Ctrl-C too, through the same flag, so that every stop takes the same clean path
            # (a KeyboardInterrupt could land inside a join or while a file is being finished).
            signal.signal(signal.SIGINT, on_sigint)
    try:
        code = command(args, stop)
        if interrupted.is_set():
            print("vcam: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return code
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
