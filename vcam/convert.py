"""Offline conversion: every frame of a video or image file, in order, in the calling thread
(nothing is dropped), through the same stages as the live :class:`vcam.pipeline.Pipeline`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba

from vcam import media
from vcam.effects import PersonEffects, effects_on
from vcam.errors import InputError, OutputError, SettingsError
from vcam.pipeline import build_stages, close_quietly, frame_threads, prepare_image
from vcam.settings import Settings
from vcam.sinks import VIDEO_CODECS, ImageFileSink, OutputFrame, PngSink, Sink, VideoFileSink
from vcam.sources import FrameSource, ImageSource, VideoSource
from vcam.stats import RollingStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConvertReport:
    """What ``convert_video`` did: frames written, wall time, outputs. ``interrupted``: the
    stop flag ended it early; ``outputs`` then holds what was written (the ``.partial`` files,
    or nothing before the first frame). ``total``: the frames asked for, when known."""

    frames: int
    seconds: float
    outputs: tuple[Path, ...]
    total: int | None = None
    interrupted: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def process(
    source: FrameSource,
    sinks: Sequence[Sink],
    settings: Settings | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    max_frames: int | None = None,
    stats: RollingStats | None = None,
    stop: threading.Event | None = None,
    effects: PersonEffects | None = None,
) -> int:
    """Run every frame of an offline ``source`` through model, refiner and background into
    ``sinks``, in this thread (no dropping), until it ends or ``stop`` is set (checked before
    each frame). Closes source and sinks. Returns frames done.
    ``effects``: the person effects' state to use (e.g. to read the framing's view of each
    frame from ``progress``); a fresh one by default.

    The refine and compositing kernels run on ``frame_threads(settings)`` numba threads, as
    in the live frame worker (numba's count is per calling thread: it is set here for the
    run and put back after)."""
    settings = settings or Settings()
    stats = stats or RollingStats()
    total = getattr(source, "frame_count", None)
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    opened: list = [source, *sinks]
    done = 0
    caller_threads = numba.get_num_threads()
    numba.set_num_threads(frame_threads(settings))
    try:
        effects = effects or PersonEffects()
        matter, refiner, background = build_stages(settings, opened)
        for sink in sinks:
            sink.open(source.width, source.height, source.fps)
        while max_frames is None or done < max_frames:
            if stop is not None and stop.is_set():
                break
            frame = source.read()
            if frame is None:
                break
            image = prepare_image(frame.image, settings.mirror)
            if image is None:  # as live: skipped
                continue
            with stats.timer("preprocess"):
                blob, where = matter.preprocess(image)
            with stats.timer("inference"):
                low = matter.infer(blob, where)
            seconds = frame.index / source.fps  # the file's own time, however fast it runs
            low, picture = effects.before_refine(settings, low, image, seconds)
            with stats.timer("refine"):
                alpha = refiner.refine(low, picture)
            picture = effects.after_refine(settings, picture, alpha, seconds)
            if effects_on(settings):
                stats.record("effects", effects.spent)
            with stats.timer("composite"):
                composite = background.composite(picture, alpha)
            raw = image if picture is not image else None
            output = OutputFrame(composite, picture, alpha, frame.index, frame.timestamp, raw=raw)
            with stats.timer("send"):
                for sink in sinks:
                    sink.send(output)
            stats.count("frame")
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        numba.set_num_threads(caller_threads)
        for thing in reversed(opened):
            close_quietly(thing)
    return done


def _output_sink(path: Path, content: str, single_image: bool) -> Sink:
    suffix = media.suffix(path)
    if media.is_image(path):
        if not single_image:
            raise OutputError(
                f"cannot write a video into image {path}: use .mp4, .avi or a folder for PNGs"
            )
        return ImageFileSink(path, content=content)
    if suffix in VIDEO_CODECS:
        if content == "rgba":
            raise OutputError(f"video {path} cannot hold transparency: give a folder for PNGs")
        return VideoFileSink(path, content=content)
    if suffix:
        raise OutputError(f"cannot write {path}: use .mp4, .avi, .png, .jpg or a folder")
    return PngSink(path)


def partial_path(path: str | Path) -> Path:
    """Where ``convert_video`` writes the file ``path`` until it is complete:
    ``NAME.partial.SUFFIX`` in the same folder (the suffix kept, so the format is the same)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def convert_video(
    input_path: str | Path,
    output_path: str | Path,
    settings: Settings | None = None,
    *,
    content: str = "composite",
    alpha_path: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    max_frames: int | None = None,
    stop: threading.Event | None = None,
) -> ConvertReport:
    """Matte a video or image file, every frame, into ``output_path``.

    The input is a video (.mp4, .avi, ...) or an image; the output a video file (.mp4 mp4v,
    .avi MJPG), an image file (for an image input) or a folder (RGBA PNG sequence).
    ``content`` is "composite" (the settings' background), "alpha" (the matte) or "rgba"
    (transparent PNG). ``alpha_path`` also writes the matte. ``progress(done, total)`` is called
    after each frame (``total`` None when unknown). ``max_frames`` (1 or more) stops early.

    Files are written as ``NAME.partial.SUFFIX`` (:func:`partial_path`) and renamed to their
    names when every frame is in, so an existing file is only replaced by a complete one.
    When ``stop`` is set the run ends after the current frame and the partial files are kept
    (``report.interrupted``; none when no frame was written); on an error they are removed.
    A folder of PNGs is written in place."""
    settings = settings or Settings()
    if content not in ("composite", "alpha", "rgba"):
        raise SettingsError(f"content: {content!r} is not one of composite, alpha, rgba")
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise SettingsError(f"frames: {max_frames!r} is not a frame count: give 1 or more")
    input_path, output_path = Path(input_path), Path(output_path)
    single = media.is_image(input_path)
    if output_path.resolve() == input_path.resolve():
        raise OutputError(f"output {output_path} would overwrite the input")
    wanted = [(output_path, content)]
    if alpha_path is not None:
        wanted.append((Path(alpha_path), "alpha"))
    sinks, writing = [], []
    for path, what in wanted:
        _output_sink(path, what, single)  # checks the kind, naming the user's own path
        target = partial_path(path) if path.suffix else path  # a folder is written in place
        sinks.append(_output_sink(target, what, single))
        writing.append(target)
    if single:
        source: FrameSource = ImageSource(input_path, live=False)
    elif input_path.exists():
        source = VideoSource(input_path, loop=False, live=False)
    else:
        raise InputError(f"input {input_path} not found")
    total = getattr(source, "frame_count", None) or (1 if single else None)
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    started = time.perf_counter()
    temporary = [t for t, (path, _) in zip(writing, wanted, strict=True) if t != path]
    try:
        frames = process(
            source, sinks, settings, progress=progress, max_frames=max_frames, stop=stop
        )
    except BaseException:  # an error or a second Ctrl-C: no half-written file is left
        for path in temporary:
            path.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    interrupted = stop is not None and stop.is_set() and frames != total
    if not interrupted:
        for target, (path, _) in zip(writing, wanted, strict=True):
            if target != path:
                os.replace(target, path)
        outputs = tuple(path for path, _ in wanted)
    elif frames == 0:  # nothing worth keeping
        for path in temporary:
            path.unlink(missing_ok=True)
        outputs = ()
    else:
        outputs = tuple(writing)
    return ConvertReport(frames, seconds, outputs, total, interrupted)
