"""The live pipeline (camera to virtual camera, in threads) and offline file conversion.

Live (``Pipeline``), three threads:

- the source's capture thread keeps only the newest frame (stale frames are dropped);
- the matting worker runs the model on the newest frame it is given and keeps the latest alpha;
- the frame worker takes each frame, hands it to the matting worker when inference is due,
  waits for that alpha only as long as the frame rate allows (so inference runs on every frame
  when it keeps up, every Nth otherwise), then refines the latest alpha against the current
  frame, composites and sends to every sink. The output keeps the camera's rate.

Settings change between frames with ``update()``; a new model, background or camera is built
first, so a failure raises and the running one stays. Offline (``convert_video``), every
frame of a file is processed in order in the calling thread: nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam import compositor, refine
from vcam.backgrounds import make_background
from vcam.errors import InputError, OutputError, SettingsError, VcamError
from vcam.matting import Matter
from vcam.refine import Refiner
from vcam.settings import Settings
from vcam.sinks import (
    IMAGE_SUFFIXES,
    VIDEO_CODECS,
    ImageFileSink,
    OutputFrame,
    PngSink,
    Sink,
    VideoFileSink,
    VirtualCameraSink,
)
from vcam.sources import (
    CameraSource,
    FrameSource,
    ImageSource,
    SampleSource,
    VideoSource,
)
from vcam.stats import RollingStats, StatsSnapshot

log = logging.getLogger(__name__)

MODEL_FIELDS = frozenset({"model", "threads", "provider"})
EDGE_FIELDS = frozenset({"threshold", "feather", "smoothing", "guided"})
BACKGROUND_FIELDS = frozenset({"background", "blur_strength", "background_path", "colour"})
SOURCE_FIELDS = frozenset(
    {"source", "camera", "input_path", "loop", "width", "height", "fps", "fourcc"}
)
OUTPUT_FIELDS = frozenset({"output", "output_path", "virtual_device", "virtual_backend"})
DEFAULT_VIDEO_OUTPUT = "vcam-output.mp4"
DEFAULT_PNG_OUTPUT = "vcam-frames"
FIRST_ALPHA_TIMEOUT = 10.0  # seconds the first frame may wait for its alpha
STATIC_THRESHOLD = 1.5  # mean grey-level change below which a frame counts as unchanged
STATIC_MAX_AGE = 0.5  # seconds: infer at least this often even when nothing moves


# ---------------------------------------------------------------------------------------------
# Building the stages from Settings


def open_source(settings: Settings, live: bool = True) -> FrameSource:
    """The frame source the settings describe (opened and checked; not started)."""
    kind = settings.source
    if kind == "camera":
        return CameraSource(
            settings.camera, settings.width, settings.height, settings.fps, settings.fourcc
        )
    if kind == "sample":
        return SampleSource(settings.width, settings.height, settings.fps, live=live)
    if not settings.input_path:
        raise SettingsError(f"input_path: give the {kind} file to read (source is {kind!r})")
    if kind == "video":
        return VideoSource(settings.input_path, loop=settings.loop, live=live)
    return ImageSource(settings.input_path, fps=settings.fps, live=live)


def make_sinks(settings: Settings, live: bool = True) -> list[Sink]:
    """The output sinks the settings describe (not yet open)."""
    kind = settings.output
    if kind == "virtual":
        return [VirtualCameraSink(settings.virtual_device, settings.virtual_backend)]
    if kind == "file":
        return [VideoFileSink(settings.output_path or DEFAULT_VIDEO_OUTPUT, constant_rate=live)]
    if kind == "png":
        return [PngSink(settings.output_path or DEFAULT_PNG_OUTPUT)]
    return []


def make_refiner(settings: Settings) -> Refiner:
    """The alpha refiner for the settings' edge options."""
    return Refiner(
        threshold=settings.threshold,
        feather=settings.feather,
        smoothing=settings.smoothing,
        guided=settings.guided,
    )


def make_matter(settings: Settings) -> Matter:
    """The model the settings name (loaded and checked)."""
    return Matter(settings.model, threads=settings.threads, provider=settings.provider)


def background_for(settings: Settings):
    """The background the settings describe (raises BackgroundError for a bad file)."""
    return make_background(
        settings.background,
        path=settings.background_path or None,
        colour=settings.colour_bgr,
        blur_strength=settings.blur_strength,
    )


def warm_up() -> None:
    """Compile (or load from numba's cache) the compositing and refining kernels."""
    compositor.warm_up()
    refine.warm_up()


def changed_fields(old: Settings, new: Settings) -> set[str]:
    """Names of the settings that differ."""
    return {
        f.name for f in dataclasses.fields(Settings) if getattr(old, f.name) != getattr(new, f.name)
    }


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny grey copy to tell whether the picture changed (cheap: strided, then area)."""
    step = max(1, min(image.shape[0], image.shape[1]) // 90)
    small = np.ascontiguousarray(image[::step, ::step])
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (48, 27), interpolation=cv2.INTER_AREA).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# Live pipeline


@dataclass(frozen=True)
class Status:
    """What the pipeline is doing: ``state`` is "stopped", "starting", "running", "ended"
    (the source finished) or "error" (``message`` says why, ``error`` is the VcamError)."""

    state: str
    message: str = ""
    error: VcamError | None = None


class _MattingWorker:
    """Runs the model in its own thread on the newest frame handed to it (one slot)."""

    def __init__(self, matter: Matter, stats: RollingStats) -> None:
        self.matter = matter
        self._stats = stats
        self._cond = threading.Condition()
        self._job: tuple[np.ndarray, int] | None = None
        self._result: tuple[np.ndarray, int] | None = None
        self._busy = False
        self._stop = False
        self.error: VcamError | None = None
        self._thread = threading.Thread(target=self._run, name="vcam-matting", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, image: np.ndarray, index: int) -> None:
        """Infer ``image`` next (replaces a job not yet started)."""
        with self._cond:
            self._job = (image, index)
            self._cond.notify_all()

    def wait_for(self, index: int, timeout: float) -> None:
        """Wait until the alpha of frame ``index`` (or a later one) is ready, or ``timeout``."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._stop
                    or self.error is not None
                    or (self._result is not None and self._result[1] >= index)
                ),
                max(0.0, timeout),
            )

    @property
    def latest(self) -> tuple[np.ndarray, int] | None:
        """(low-resolution alpha, frame index) of the newest result."""
        with self._cond:
            return self._result

    def stop(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._job is not None)
                if self._stop:
                    return
                (image, index), self._job = self._job, None
            matter = self.matter
            try:
                with self._stats.timer("preprocess"):
                    blob, where = matter.preprocess(image)
                with self._stats.timer("inference"):
                    alpha = matter.infer(blob, where)
            except Exception as error:  # noqa: BLE001 - reported to the frame worker
                log.debug("inference failed", exc_info=True)
                with self._cond:
                    self.error = VcamError(f"model {matter.name} failed while running: {error}")
                    self._cond.notify_all()
                return
            self._stats.count("inference")
            with self._cond:
                self._result = (alpha, index)
                self._cond.notify_all()


class Pipeline:
    """Camera (or file, or sample) to virtual camera (or files, or preview), live.

    ``sinks`` are used in addition to the one ``settings.output`` names (``output="none"`` for
    only yours); ``source`` replaces the one the settings name. The pipeline owns both: it
    closes them on ``stop()``. ``on_status`` is called (from a worker thread) on every state
    change. Use ``start()``/``stop()`` or ``with Pipeline(...) as p:``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        sinks: Sequence[Sink] = (),
        source: FrameSource | None = None,
        on_status: Callable[[Status], None] | None = None,
        stats_window: float = 3.0,
    ) -> None:
        self.settings = settings or Settings()
        self.stats = RollingStats(stats_window)
        self.on_status = on_status
        self._extra_sinks = list(sinks)
        self._given_source = source
        self._status = Status("stopped")
        self._source: FrameSource | None = None
        self._settings_sinks: list[Sink] = []
        self._matting: _MattingWorker | None = None
        self._refiner: Refiner | None = None
        self._background = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._dropped_before = 0  # drops counted by sources replaced during the run
        # Pausing the frame worker between frames while update() swaps stages.
        self._cond = threading.Condition()
        self._pause_requests = 0
        self._paused = False
        self._update_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()

    # -- state ----------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def error(self) -> VcamError | None:
        return self._status.error

    @property
    def source(self) -> FrameSource | None:
        return self._source

    @property
    def sinks(self) -> list[Sink]:
        return self._extra_sinks + self._settings_sinks

    def snapshot(self) -> StatsSnapshot:
        """Rolling fps, per-stage medians (ms) and counters."""
        dropped = self._dropped_before + (self._source.frames_dropped if self._source else 0)
        return self.stats.snapshot(dropped=dropped)

    def _set_status(self, state: str, message: str = "", error: VcamError | None = None) -> None:
        self._status = Status(state, message, error)
        # INFO, not ERROR: errors also reach the caller (raised or via on_status); no repeats.
        log.info("pipeline %s%s", state, f": {message}" if message else "")
        if self.on_status is not None:
            try:
                self.on_status(self._status)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the pipeline
                log.warning("status callback failed", exc_info=True)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Open everything (model, background, source, sinks: errors raise here, before any
        thread starts), then start the threads. Does nothing when already running."""
        with self._lifecycle_lock:
            if self.running:
                return self
            self._set_status("starting")
            settings = self.settings
            opened: list = []
            try:
                matter = make_matter(settings)
                refiner = make_refiner(settings)
                background = background_for(settings)
                opened.append(background)
                warm_up()
                source = self._given_source or open_source(settings, live=True)
                opened.append(source)
                settings_sinks = make_sinks(settings, live=True)
                for sink in self._extra_sinks + settings_sinks:
                    sink.open(source.width, source.height, source.fps)
                    opened.append(sink)
            except BaseException as error:
                for thing in reversed(opened):
                    _close_quietly(thing)
                if isinstance(error, VcamError):
                    self._set_status("error", str(error), error)
                else:
                    self._set_status("stopped")
                raise
            self._source, self._settings_sinks = source, settings_sinks
            self._refiner, self._background = refiner, background
            self._matting = _MattingWorker(matter, self.stats)
            self._stop_event.clear()
            self._done.clear()
            self._matting.start()
            source.start()
            self._thread = threading.Thread(target=self._run, name="vcam-frames", daemon=True)
            self._thread.start()
            self._set_status("running", f"{source} -> " + ", ".join(map(str, self.sinks)))
            return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the threads (joined within ``timeout``), release the camera and the sinks.
        Safe to call more than once, and from any thread."""
        with self._lifecycle_lock:
            self._stop_event.set()
            with self._cond:
                self._cond.notify_all()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("frame worker did not stop within %.1f s", timeout)
            if self._matting is not None:
                self._matting.stop(timeout)
            self._release()
            self._thread = None
            self._done.set()
            if self._status.state in ("running", "starting"):
                self._set_status("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (source finished, error or stop); True if it ended."""
        return self._done.wait(timeout)

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _release(self) -> None:
        for sink in self.sinks:
            _close_quietly(sink)
        if self._source is not None:
            _close_quietly(self._source)
        if self._background is not None:
            _close_quietly(self._background)
            self._background = None

    # -- live changes ---------------------------------------------------------------------

    def update(self, settings: Settings) -> None:
        """Apply new settings between frames. What changed is built first (model, background,
        refiner, camera, outputs): if that fails the error is raised and the running stage
        stays. Not running: the settings are kept for the next ``start()``."""
        with self._update_lock:
            changed = changed_fields(self.settings, settings)
            if not changed:
                return
            if not self.running:
                self.settings = settings
                return
            matter = make_matter(settings) if changed & MODEL_FIELDS else None
            background = background_for(settings) if changed & BACKGROUND_FIELDS else None
            try:
                with self._paused_worker():
                    self._swap(settings, changed, matter, background)
                    self.settings = settings
            except BaseException:
                if background is not None:
                    _close_quietly(background)
                raise
            log.info("settings changed: %s", ", ".join(sorted(changed)))

    def _swap(self, settings: Settings, changed: set[str], matter, background) -> None:
        """Replace stages while the frame worker is paused (source and outputs first: they
        are the ones that can still fail; ``self.settings`` follows each step that worked)."""
        if changed & SOURCE_FIELDS and self._given_source is None:
            self._swap_source(settings)
            self.settings = _adopt(self.settings, settings, SOURCE_FIELDS)
        if changed & OUTPUT_FIELDS:
            self._swap_sinks(settings)
            self.settings = _adopt(self.settings, settings, OUTPUT_FIELDS)
        if matter is not None:
            self._matting.matter = matter
        if changed & EDGE_FIELDS:
            self._refiner.configure(
                threshold=settings.threshold,
                feather=settings.feather,
                smoothing=settings.smoothing,
                guided=settings.guided,
            )
        if background is not None:
            old, self._background = self._background, background
            _close_quietly(old)

    def _swap_source(self, settings: Settings) -> None:
        """Close the camera, open the new one; on failure reopen the old one and raise."""
        old = self._source
        self._dropped_before += old.frames_dropped
        old.close()
        try:
            new = open_source(settings, live=True)
        except VcamError as error:
            try:
                self._source = open_source(self.settings, live=True)
                self._source.start()
            except VcamError as again:  # the old camera is gone too: the run cannot go on
                self._stop_event.set()
                self._set_status("error", str(again), again)
            raise error from None
        self._source = new
        new.start()
        self._refiner.reset()

    def _swap_sinks(self, settings: Settings) -> None:
        """Close the outputs the settings made, open the new ones; on failure reopen the old."""
        size, fps = self._source.size, self._source.fps
        for sink in self._settings_sinks:
            _close_quietly(sink)
        try:
            sinks = make_sinks(settings, live=True)
            for sink in sinks:
                sink.open(*size, fps)
        except VcamError:
            self._settings_sinks = make_sinks(self.settings, live=True)
            for sink in self._settings_sinks:
                sink.open(*size, fps)
            raise
        self._settings_sinks = sinks

    class _Pause:
        def __init__(self, pipeline: Pipeline) -> None:
            self.p = pipeline

        def __enter__(self) -> None:
            p = self.p
            with p._cond:
                p._pause_requests += 1
                p._cond.notify_all()
                p._cond.wait_for(lambda: p._paused or p._done.is_set(), timeout=5.0)
            if not p._paused:
                self.__exit__()
                raise VcamError("the pipeline is not running; settings not applied")

        def __exit__(self, *exc: object) -> None:
            p = self.p
            with p._cond:
                p._pause_requests -= 1
                p._cond.notify_all()

    def _paused_worker(self) -> Pipeline._Pause:
        return Pipeline._Pause(self)

    def _pause_point(self) -> None:
        """Where the frame worker lets update() swap stages (between frames)."""
        with self._cond:
            if not self._pause_requests:
                return
            self._paused = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._pause_requests or self._stop_event.is_set())
            self._paused = False

    # -- the frame worker -----------------------------------------------------------------

    def _run(self) -> None:
        last_infer_index = -(10**9)
        last_infer_time = 0.0
        reference: np.ndarray | None = None
        ended_normally = False
        try:
            while not self._stop_event.is_set():
                self._pause_point()
                source = self._source
                frame = source.read(timeout=0.1)
                if frame is None:
                    if source.ended and source is self._source:
                        ended_normally = True
                        break
                    continue
                now = time.monotonic()
                self.stats.count("input")
                self.stats.record("capture", now - frame.timestamp)
                settings = self.settings
                image = cv2.flip(frame.image, 1) if settings.mirror else frame.image

                # Hand the frame to the model when due; wait for its alpha as long as the frame
                # rate allows, else use the newest alpha there is.
                matting = self._matting
                due = frame.index - last_infer_index >= settings.infer_every
                thumb = _thumbnail(image) if settings.skip_static else None
                if due and thumb is not None and reference is not None:
                    still = float(np.abs(thumb - reference).mean()) < STATIC_THRESHOLD
                    if still and now - last_infer_time < STATIC_MAX_AGE:
                        due = False
                        self.stats.count("skipped")
                if due:
                    matting.submit(image, frame.index)
                    last_infer_index, last_infer_time, reference = frame.index, now, thumb
                    if matting.latest is None:
                        matting.wait_for(frame.index, FIRST_ALPHA_TIMEOUT)
                    else:
                        matting.wait_for(frame.index, self._alpha_budget(source.fps))
                if matting.error is not None:
                    raise matting.error
                latest = matting.latest
                if latest is None:
                    continue  # the model has not answered yet (only at the very start)
                with self.stats.timer("refine"):
                    alpha = self._refiner.refine(latest[0], image)
                with self.stats.timer("composite"):
                    composite = self._background.composite(image, alpha)
                output = OutputFrame(composite, image, alpha, frame.index, frame.timestamp)
                with self.stats.timer("send"):
                    for sink in self.sinks:
                        sink.send(output)
                self.stats.record("latency", time.monotonic() - frame.timestamp)
                self.stats.count("frame")
        except VcamError as error:
            self._finish("error", str(error), error)
            return
        except Exception as error:  # noqa: BLE001 - any crash becomes a reported error
            log.debug("frame worker crashed", exc_info=True)
            wrapped = VcamError(f"internal error: {type(error).__name__}: {error}")
            self._finish("error", str(wrapped), wrapped)
            return
        if ended_normally:
            self._finish("ended", f"{self._source} finished")
        else:
            self._done.set()

    def _alpha_budget(self, fps: float) -> float:
        """How long a frame may wait for its own alpha and still leave on time."""
        rest = sum(self.stats.median_ms(s) or 0.0 for s in ("refine", "composite", "send"))
        return max(0.002, 1.0 / fps - rest / 1000.0 - 0.002)

    def _finish(self, state: str, message: str, error: VcamError | None = None) -> None:
        """The worker ends by itself: release everything, report, wake waiters."""
        if self._matting is not None:
            self._matting.stop()
        self._release()
        self._set_status(state, message, error)
        self._done.set()


def _adopt(current: Settings, new: Settings, names: frozenset[str]) -> Settings:
    """``current`` with the fields ``names`` taken from ``new``."""
    return current.replace(**{name: getattr(new, name) for name in names})


def _close_quietly(thing) -> None:
    try:
        thing.close()
    except Exception:  # noqa: BLE001 - closing must never mask the real problem
        log.debug("closing %s failed", thing, exc_info=True)


# ---------------------------------------------------------------------------------------------
# Offline conversion


@dataclass(frozen=True)
class ConvertReport:
    """What ``convert_video`` did: frames written, wall time, outputs."""

    frames: int
    seconds: float
    outputs: tuple[Path, ...]

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
) -> int:
    """Run every frame of an offline ``source`` through model, refiner and background into
    ``sinks``, in this thread (no dropping). Closes source and sinks. Returns frames done."""
    settings = settings or Settings()
    stats = stats or RollingStats()
    total = getattr(source, "frame_count", None) if max_frames is None else max_frames
    opened: list = [source, *sinks]
    done = 0
    try:
        matter = make_matter(settings)
        refiner = make_refiner(settings)
        background = background_for(settings)
        opened.append(background)
        warm_up()
        for sink in sinks:
            sink.open(source.width, source.height, source.fps)
        while max_frames is None or done < max_frames:
            frame = source.read()
            if frame is None:
                break
            image = cv2.flip(frame.image, 1) if settings.mirror else frame.image
            with stats.timer("preprocess"):
                blob, where = matter.preprocess(image)
            with stats.timer("inference"):
                low = matter.infer(blob, where)
            with stats.timer("refine"):
                alpha = refiner.refine(low, image)
            with stats.timer("composite"):
                composite = background.composite(image, alpha)
            output = OutputFrame(composite, image, alpha, frame.index, frame.timestamp)
            with stats.timer("send"):
                for sink in sinks:
                    sink.send(output)
            stats.count("frame")
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        for thing in reversed(opened):
            _close_quietly(thing)
    return done


def _output_sink(path: Path, content: str, single_image: bool) -> Sink:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
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


def convert_video(
    input_path: str | Path,
    output_path: str | Path,
    settings: Settings | None = None,
    *,
    content: str = "composite",
    alpha_path: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    max_frames: int | None = None,
) -> ConvertReport:
    """Matte a video or image file, every frame, into ``output_path``.

    The input is a video (.mp4, .avi, ...) or an image; the output a video file (.mp4 mp4v,
    .avi MJPG), an image file (for an image input) or a folder (RGBA PNG sequence).
    ``content`` is "composite" (the settings' background), "alpha" (the matte) or "rgba"
    (transparent PNG). ``alpha_path`` also writes the matte. ``progress(done, total)`` is called
    after each frame (``total`` None when unknown)."""
    settings = settings or Settings()
    if content not in ("composite", "alpha", "rgba"):
        raise SettingsError(f"content: {content!r} is not one of composite, alpha, rgba")
    input_path, output_path = Path(input_path), Path(output_path)
    single = input_path.suffix.lower() in IMAGE_SUFFIXES
    if output_path.resolve() == input_path.resolve():
        raise OutputError(f"output {output_path} would overwrite the input")
    sinks = [_output_sink(output_path, content, single)]
    outputs = [output_path]
    if alpha_path is not None:
        sinks.append(_output_sink(Path(alpha_path), "alpha", single))
        outputs.append(Path(alpha_path))
    if single:
        source: FrameSource = ImageSource(input_path, live=False)
    elif input_path.exists():
        source = VideoSource(input_path, loop=False, live=False)
    else:
        raise InputError(f"input {input_path} not found")
    started = time.perf_counter()
    frames = process(source, sinks, settings, progress=progress, max_frames=max_frames)
    return ConvertReport(frames, time.perf_counter() - started, tuple(outputs))
