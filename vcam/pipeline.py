"""The live pipeline: camera to virtual camera, in threads.

Live (``Pipeline``), three threads:

- the source's capture thread keeps only the newest frame (stale frames are dropped);
- the matting worker runs the model on the newest frame it is given and keeps the latest alpha;
- the frame worker takes each frame, hands it to the matting worker when inference is due,
  waits for that alpha only as long as the frame rate allows (so inference runs on every frame
  when it keeps up, every Nth otherwise), then refines the latest alpha against the current
  frame, composites and sends to every sink. The output keeps the camera's rate.

Settings change between frames with ``update()``; a new model, background or camera is built
first, so a failure raises and the running one stays. Offline conversion (every frame of a
file, in order, nothing dropped) is :mod:`vcam.convert`; it builds its stages with the same
:func:`build_stages`.

What real desktops do to it:

- the camera disappears (unplugged, taken by another app): the status turns "reconnecting",
  a fourth thread reopens it with back-off (0.5 s doubling to 5 s) while the sinks get a
  "camera lost" card at the camera's rate, and the stream resumes when the camera is back.
  ``wait_for_camera`` (a setting) does the same when there is no camera at start or after
  switching cameras;
- a sink fails (no virtual camera device, the device busy, a full disk): with other sinks
  left the pipeline runs on without it and says so in ``Status.warning``; alone, it is an error;
- the frame size changes mid-stream: the refiner's history is reset, the next frame waits for
  its own alpha, and the sinks keep their size (frames are fitted to it).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numba
import numpy as np

from vcam import compositor, light, media, refine
from vcam.backgrounds import Background, make_background
from vcam.cards import message_card
from vcam.effects import PersonEffects, effects_on
from vcam.errors import CameraError, SettingsError, VcamError
from vcam.images import to_bgr
from vcam.matting import Matter, ModelInfo
from vcam.refine import Refiner
from vcam.settings import Settings
from vcam.sinks import (
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
FIRST_ALPHA_TIMEOUT = 10.0  # seconds the first frame may wait for its alpha
# Skip-static: the 48x27 thumbnail (grey, and a quarter of the red-blue difference) is cut
# into 16x9 tiles of 3x3 thumbnail pixels; the picture counts as unchanged while no tile's mean
# change of either (since the last inference) exceeds STATIC_TILE_LEVEL. Sensor noise of 3
# grey levels per channel (with JPEG) moved the most-changed tile by at most 1.6 levels over 30
# frames at 360p to 1080p, of 4 levels by about 2 (an inference now and then); a hand moving
# in a tile by tens. On the talking-heads clips 2.0 keeps the live matte within 0.05% of the
# per-frame one (docs/benchmarks/skip-static.md).
STATIC_TILES = (9, 16)
STATIC_TILE_LEVEL = 2.0
STATIC_MAX_AGE = 0.5  # seconds: infer at least this often even when nothing moves
RECONNECT_FIRST_DELAY = 0.5  # seconds before the first try to reopen a lost camera
RECONNECT_MAX_DELAY = 5.0  # the back-off doubles up to this
HOLD_CARD_PERIOD = 1.0  # seconds between the cards sent while the camera is held
HOLD_LINES = {  # the card and status of each reason to hold the camera (the first one wins)
    "paused": ("Camera paused", ["Camera paused"]),
    "idle": ("idle: no app is using the camera", ["Camera off", "it starts when an app uses it"]),
}


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
        return [
            VideoFileSink(settings.output_path or media.DEFAULT_VIDEO_OUTPUT, constant_rate=live)
        ]
    if kind == "png":
        return [PngSink(settings.output_path or media.DEFAULT_PNG_OUTPUT)]
    return []


def make_refiner(settings: Settings) -> Refiner:
    """The alpha refiner for the settings' edge options."""
    return Refiner(
        threshold=settings.threshold,
        feather=settings.feather,
        smoothing=settings.smoothing,
        guided=settings.guided,
    )


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache
def _auto_frame_threads() -> int:
    """The frame kernels' automatic thread count: 1 on machines with 2 cores or fewer (the
    model has the other), else half the cores, at most 4."""
    cores = cpu_cores()
    return 1 if cores <= 2 else min(4, cores // 2)


def inference_threads(settings: Settings) -> int:
    """onnxruntime's intra-op threads: ``settings.threads``, or 1 when 0 (automatic).

    One thread on every machine: between camera frames onnxruntime's idle workers sleep, and
    waking them for each of MMNet's ~120 small operators costs more than the second thread
    gives. Paced like a camera, two threads were slower than one for both shipped models
    (mmnet-fast 4.98 vs 4.62 ms, mmnet-256 12.67 vs 12.09; docs/benchmarks/models-paced.md);
    keeping the workers spinning makes two threads 1.5x faster but burns a core between
    frames, and stopping the spin after each run was slower still (sessions-paced.md)."""
    return settings.threads or 1


def frame_threads(settings: Settings) -> int:
    """numba threads of the refine and compositing kernels: ``settings.frame_threads`` (at most
    numba's pool size), or automatic when 0."""
    wanted = settings.frame_threads or _auto_frame_threads()
    return max(1, min(wanted, numba.config.NUMBA_NUM_THREADS))


def make_matter(settings: Settings) -> Matter:
    """The model the settings name (loaded and checked)."""
    return Matter(settings.model, threads=inference_threads(settings), provider=settings.provider)


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
    light.warm_up()


def build_stages(settings: Settings, opened: list) -> tuple[Matter, Refiner, Background]:
    """The model, refiner and background the settings describe, with the kernels warmed up.
    The background is appended to ``opened`` as soon as it is open, for the caller to close
    (also when a later step fails)."""
    matter = make_matter(settings)
    refiner = make_refiner(settings)
    background = background_for(settings)
    opened.append(background)
    warm_up()
    return matter, refiner, background


def changed_fields(old: Settings, new: Settings) -> set[str]:
    """Names of the settings that differ."""
    return {
        f.name for f in dataclasses.fields(Settings) if getattr(old, f.name) != getattr(new, f.name)
    }


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny copy to tell whether the picture changed (cheap: strided, then area): float32
    (2, 27, 48), the grey levels and a quarter of the red-blue difference."""
    step = max(1, min(image.shape[0], image.shape[1]) // 90)
    small = image[::step, ::step].astype(np.float32)
    rows, cols = STATIC_TILES
    small = cv2.resize(small, (3 * cols, 3 * rows), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.stack([grey, (small[..., 2] - small[..., 0]) * np.float32(0.25)])


def changed_tiles(thumb: np.ndarray, reference: np.ndarray) -> int:
    """How many tiles of the thumbnail changed since ``reference`` by more than webcam noise
    (mean absolute change of grey or colour over the tile above STATIC_TILE_LEVEL)."""
    rows, cols = STATIC_TILES
    change = np.abs(thumb - reference).reshape(2, rows, 3, cols, 3).mean(axis=(2, 4)).max(axis=0)
    return int(np.count_nonzero(change > STATIC_TILE_LEVEL))


def prepare_image(image: np.ndarray, mirror: bool) -> np.ndarray | None:
    """A source's frame as the model and compositor take it: BGR uint8 (grey or BGRA from a
    caller's source converted), mirrored if asked; None for an empty frame (skipped)."""
    if image.size == 0:
        return None
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        image = to_bgr(image)
    return cv2.flip(image, 1) if mirror else image


# ---------------------------------------------------------------------------------------------
# Live pipeline


@dataclass(frozen=True)
class Status:
    """What the pipeline is doing: ``state`` is "stopped", "starting", "running",
    "paused" or "idle" (the camera is released, inference stopped and the sinks get a card:
    ``Pipeline.pause_camera``, ``Pipeline.set_idle``),
    "reconnecting" (the camera was lost: ``error`` says why, ``message`` when it tries next),
    "ended" (the source finished) or "error" (``message`` says why, ``error`` is the
    VcamError). ``warning_error``: a problem it runs on with, e.g. a virtual camera that
    would not open while the preview keeps going (its ``panel_message`` is worded for the
    control panel); ``warning`` is its one line ("" when there is none)."""

    state: str
    message: str = ""
    error: VcamError | None = None
    warning_error: VcamError | None = None

    @property
    def warning(self) -> str:
        return str(self.warning_error or "")


class _MattingWorker:
    """Runs the model in its own thread on the newest frame handed to it (one slot)."""

    def __init__(self, matter: Matter, stats: RollingStats) -> None:
        self.matter = matter
        self._stats = stats
        self._cond = threading.Condition()
        self._job: tuple[np.ndarray, int] | None = None
        self._result: tuple[np.ndarray, int, tuple[int, ...]] | None = None
        self._stop = False
        self.error: VcamError | None = None
        self._thread = threading.Thread(target=self._run, name="vcam-matting", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, image: np.ndarray, seq: int) -> None:
        """Infer ``image`` (the pipeline's frame number ``seq``) next; replaces a job not yet
        started."""
        with self._cond:
            self._job = (image, seq)
            self._cond.notify_all()

    def wait_for(self, seq: int, timeout: float) -> None:
        """Wait until the alpha of frame ``seq`` (or a later one) is ready, or ``timeout``."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._stop
                    or self.error is not None
                    or (self._result is not None and self._result[1] >= seq)
                ),
                max(0.0, timeout),
            )

    @property
    def latest(self) -> tuple[np.ndarray, int, tuple[int, ...]] | None:
        """(low-resolution alpha, frame number, frame shape) of the newest result."""
        with self._cond:
            return self._result

    @property
    def pending(self) -> int:
        """Jobs waiting (0 or 1)."""
        with self._cond:
            return 0 if self._job is None else 1

    def signal_stop(self) -> None:
        """Ask the thread to end (wakes whoever waits for an alpha)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def stop(self, timeout: float = 1.0) -> None:
        self.signal_stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._job is not None)
                if self._stop:
                    return
                (image, seq), self._job = self._job, None
            matter = self.matter
            try:
                with self._stats.timer("preprocess"):
                    blob, where = matter.preprocess(image)
                with self._stats.timer("inference"):
                    alpha = matter.infer(blob, where)
            except Exception as error:  # noqa: BLE001 - reported to the frame worker
                log.debug("matting failed", exc_info=True)
                if not isinstance(error, VcamError):  # neither a bad frame nor the model
                    error = VcamError(f"matting failed: {type(error).__name__}: {error}")
                with self._cond:
                    self.error = error  # InputError: a bad frame; ModelError: the model
                    self._cond.notify_all()
                return
            self._stats.count("inference")
            with self._cond:
                self._result = (alpha, seq, image.shape)
                self._cond.notify_all()


class _Reconnector:
    """Reopens a lost source in its own thread: tries after 0.5 s, then doubles the wait up
    to 5 s. ``take()`` hands over the new source once one opened."""

    def __init__(
        self,
        reopen: Callable[[], FrameSource],
        on_failure: Callable[[int, float, VcamError], None],
    ) -> None:
        self._reopen = reopen
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._found: FrameSource | None = None
        self.attempts = 0
        self.delay = RECONNECT_FIRST_DELAY
        self._thread = threading.Thread(target=self._run, name="vcam-reconnect", daemon=True)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def take(self) -> FrameSource | None:
        """The reopened source (once), or None while it is still missing."""
        with self._lock:
            found, self._found = self._found, None
            return found

    def stop(self, timeout: float = 1.0) -> None:
        """End the retries; a source that opens after this is closed again."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._lock:
            found, self._found = self._found, None
        if found is not None:
            close_quietly(found)

    def _run(self) -> None:
        while not self._stop.wait(self.delay):
            self.attempts += 1
            try:
                source = self._reopen()
            except Exception as error:  # noqa: BLE001 - a driver may raise anything
                if not isinstance(error, VcamError):
                    log.debug("reopening failed", exc_info=True)
                    error = CameraError(f"reopening failed: {error}")
                self.delay = min(self.delay * 2, RECONNECT_MAX_DELAY)
                if not self._stop.is_set():
                    self._on_failure(self.attempts, self.delay, error)
                continue
            with self._lock:
                if not self._stop.is_set():
                    self._found = source
                    return
            close_quietly(source)
            return


class _MissingCamera(FrameSource):
    """Stands in for a camera that was not there at start or on a switch
    (``wait_for_camera``)."""

    reconnectable = True

    def __init__(self, settings: Settings) -> None:
        self.name = f"camera {settings.camera}"
        self._settings = settings
        super().__init__(settings.width, settings.height, settings.fps, live=False, paced=False)
        self._ended = True

    def _grab(self) -> np.ndarray | None:
        return None

    def reopen(self) -> FrameSource:
        return open_source(self._settings, live=True)


@dataclass
class _Track:
    """The frame worker's memory of the current source (reset when the source changes)."""

    source: FrameSource | None = None
    shape: tuple[int, ...] | None = None
    last_infer_seq: int = -(10**9)
    last_infer_time: float = 0.0
    reference: np.ndarray | None = None  # thumbnail of the last frame given to the model
    refined_seq: int = -1  # frame number of the alpha the refiner has taken
    submitted: tuple[int, np.ndarray | None] | None = None  # (frame number, its picture)


class Pipeline:
    """Camera (or file, or sample) to virtual camera (or files, or preview), live.

    ``sinks`` are used in addition to the one ``settings.output`` names (``output="none"`` for
    only yours); ``source`` replaces the one the settings name. The pipeline owns both: it
    closes them on ``stop()``. ``on_status`` is called (from a worker thread) on every state
    change. Use ``start()``/``stop()`` or ``with Pipeline(...) as p:``.

    ``reconnect``: a camera that disappears is reopened with back-off while the sinks get a
    "camera lost" card (else the run ends with an error). ``wait_for_camera`` (default: the
    setting of that name): no camera at start, or after a switch to another camera, is not
    an error either; the sinks get a "No camera" card until it appears.
    ``pipeline.settings`` is what runs: a virtual camera that could not open while other
    sinks run is dropped, and ``output`` becomes "none" (update() to try again).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        sinks: Sequence[Sink] = (),
        source: FrameSource | None = None,
        on_status: Callable[[Status], None] | None = None,
        stats_window: float = 3.0,
        reconnect: bool = True,
        wait_for_camera: bool | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.stats = RollingStats(stats_window)
        self.on_status = on_status
        self.reconnect = reconnect
        self.wait_for_camera = wait_for_camera
        self._extra_sinks = list(sinks)
        self._given_source = source
        self._status = Status("stopped")
        self._warning: VcamError | None = None
        self._source: FrameSource | None = None
        self._settings_sinks: list[Sink] = []
        self._matting: _MattingWorker | None = None
        self._refiner: Refiner | None = None
        self._effects = PersonEffects()
        self._background = None
        self._reconnector: _Reconnector | None = None
        self._lost_error: VcamError | None = None
        self._card: OutputFrame | None = None
        self._last_output: OutputFrame | None = None
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
        # Holding the camera (released, no inference, a card at 1 fps): why, and whether the
        # frame worker is held now; a camera that will not reopen when the hold ends.
        self._holds: frozenset[str] = frozenset()
        self._held = False
        self._hold_card: OutputFrame | None = None
        self._hold_failure: VcamError | None = None

    # -- state ----------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def error(self) -> VcamError | None:
        """The error that ended the run (None while it runs or reconnects)."""
        status = self._status
        return status.error if status.state == "error" else None

    @property
    def source(self) -> FrameSource | None:
        return self._source

    @property
    def model_info(self) -> ModelInfo | None:
        """The model of the current (or last) run: file, input size, the providers
        onnxruntime actually uses and the precision (``info.line()``: "mmnet-fast · 144x256 ·
        int8 · CPU"); None before the first start. Follows a model changed by update()."""
        matting = self._matting
        return matting.matter.info if matting is not None else None

    @property
    def sinks(self) -> list[Sink]:
        return self._extra_sinks + self._settings_sinks

    def snapshot(self) -> StatsSnapshot:
        """Rolling fps, per-stage medians (ms) and counters."""
        source = self._source
        dropped = self._dropped_before + (source.frames_dropped if source else 0)
        return self.stats.snapshot(dropped=dropped)

    def queue_lengths(self) -> dict[str, int]:
        """What waits in each buffer right now: the source's newest-frame box (0 or 1), the
        matting job slot (0 or 1) and the stats samples (bounded): all must stay small."""
        source, matting = self._source, self._matting
        return {
            "source": source.pending if source is not None else 0,
            "matting": matting.pending if matting is not None else 0,
            "stats": self.stats.held(),
        }

    def _set_status(
        self, state: str, message: str = "", error: VcamError | None = None, done: bool = False
    ) -> None:
        """Record and announce a state; ``done`` marks the run over first, so that whoever
        reacts to an "ended" or "error" status (or wakes from ``wait()``) sees it stopped."""
        self._status = Status(state, message, error, self._warning)
        if done:
            self._done.set()
        # INFO, not ERROR: errors also reach the caller (raised or via on_status).
        log.info("pipeline %s%s", state, f": {message}" if message else "")
        if self.on_status is not None:
            try:
                self.on_status(self._status)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the pipeline
                log.warning("status callback failed", exc_info=True)

    def _announce_running(self, note: str = "") -> None:
        flow = f"{self._source} -> " + (", ".join(map(str, self.sinks)) or "no output")
        message = f"{note}: {flow}" if note else flow
        if self._warning:
            message += f" ({self._warning})"
        self._set_status("running", message)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Open everything (model, background, source, sinks: errors raise here, before any
        thread starts), then start the threads. Does nothing when already running."""
        with self._lifecycle_lock:
            if self.running:
                return self
            self._warning = None
            self._set_status("starting")
            settings = self.settings
            opened: list = []
            missing: CameraError | None = None
            try:
                matter, refiner, background = build_stages(settings, opened)
                try:
                    if self._holds and self._given_source is None:
                        source = _MissingCamera(settings)  # opened when the hold ends
                    else:
                        source = self._given_source or open_source(settings, live=True)
                except CameraError as error:
                    if self._given_source is not None or not self._waits_for_camera(settings):
                        raise
                    source, missing = _MissingCamera(settings), error
                opened.append(source)
                settings_sinks = self._open_sinks(source, make_sinks(settings, live=True), opened)
            except BaseException as error:
                for thing in reversed(opened):
                    close_quietly(thing)
                if isinstance(error, VcamError):
                    self._set_status("error", str(error), error)
                else:
                    self._set_status("stopped")
                raise
            self._source, self._settings_sinks = source, settings_sinks
            self._refiner, self._background = refiner, background
            self._matting = _MattingWorker(matter, self.stats)
            self._reconnector, self._card, self._last_output = None, None, None
            self._held, self._hold_card, self._hold_failure = bool(self._holds), None, None
            self._stop_event.clear()
            self._done.clear()
            self._matting.start()
            if missing is not None:
                self._lose_source(source, missing)
            elif not self._held:
                source.start()
            self._thread = threading.Thread(target=self._run, name="vcam-frames", daemon=True)
            self._thread.start()
            if self._held:
                self._announce_hold()
            elif missing is None:
                self._announce_running()
            return self

    def _waits_for_camera(self, settings: Settings) -> bool:
        """Whether a camera that cannot be opened is waited for (rather than an error)."""
        wanted = self.wait_for_camera
        if wanted is None:
            wanted = settings.wait_for_camera
        return bool(wanted) and self.reconnect and settings.source == "camera"

    def _open_sinks(self, source: FrameSource, settings_sinks: list[Sink], opened: list):
        """Open the caller's sinks and the settings' ones; a virtual camera that fails while
        other sinks work is left out with a warning (the run goes on without it)."""
        size, fps = source.size, source.fps
        for sink in self._extra_sinks:
            sink.open(*size, fps)
            opened.append(sink)
        kept = []
        for sink in settings_sinks:
            try:
                sink.open(*size, fps)
            except VcamError as error:
                if not (isinstance(sink, VirtualCameraSink) and self._extra_sinks):
                    raise
                self._note_dropped(sink, error, from_settings=True)
                continue
            opened.append(sink)
            kept.append(sink)
        return kept

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the threads (joined within ``timeout``), release the camera and the sinks.
        Safe to call more than once, and from any thread (also from a sink's callback)."""
        with self._lifecycle_lock:
            self._stop_event.set()
            with self._cond:
                self._cond.notify_all()
            if self._matting is not None:
                self._matting.signal_stop()  # wakes a frame worker waiting for an alpha
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("frame worker did not stop within %.1f s", timeout)
            if self._matting is not None:
                self._matting.stop(timeout)
            self._end_reconnect()
            self._release()
            self._thread = None
            self._done.set()
            if self._status.state in ("running", "starting", "reconnecting", "idle", "paused"):
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
            close_quietly(sink)
        if self._source is not None:
            close_quietly(self._source)
        if self._background is not None:
            close_quietly(self._background)
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
                    self._swap(settings, matter, background)
                    self.settings = settings
            except BaseException:
                if background is not None:
                    close_quietly(background)
                raise
            log.info("settings changed: %s", ", ".join(sorted(changed)))

    def _swap(self, settings: Settings, matter, background) -> None:
        """Replace stages while the frame worker is paused (source and outputs first: they
        are the ones that can still fail; ``self.settings`` follows each step that worked)."""
        changed = changed_fields(self.settings, settings)  # the worker may have dropped a sink
        if changed & SOURCE_FIELDS and self._given_source is None and not self._held:
            self._swap_source(settings)  # (while held, the new source opens when it ends)
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
            close_quietly(old)

    def _swap_source(self, settings: Settings) -> None:
        """Close the camera, open the new one; on failure reopen the old one (or go on
        reconnecting to it) and raise. A missing camera with ``wait_for_camera`` is waited
        for instead (status "reconnecting", the "No camera" card)."""
        old = self._source
        self._dropped_before += old.frames_dropped
        old.close()
        try:
            new = open_source(settings, live=True)
        except VcamError as error:
            if isinstance(error, CameraError) and self._waits_for_camera(settings):
                self._end_reconnect()  # from now on it is the new camera that is awaited
                self._lose_source(_MissingCamera(settings), error)
                return
            if self._reconnector is None:
                try:
                    self._source = open_source(self.settings, live=True)
                    self._source.start()
                except VcamError as again:  # the old camera is gone too
                    if not self._lose_source(_MissingCamera(self.settings), again):
                        self._stop_event.set()
                        self._set_status("error", str(again), again)
            raise error from None
        was_lost = self._end_reconnect()
        self._source = new
        new.start()
        if was_lost:
            self._announce_running(f"{new} is on")

    def _swap_sinks(self, settings: Settings) -> None:
        """Close the outputs the settings made, open the new ones; on failure reopen the old."""
        size, fps = self._source.size, self._source.fps
        for sink in self._settings_sinks:
            close_quietly(sink)
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
        if self._warning:  # the new outputs work: forget an old output problem
            self._warning = None
            self._announce_state()

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

    # -- lost camera ----------------------------------------------------------------------

    def _lose_source(self, source: FrameSource, error: VcamError) -> bool:
        """Start reconnecting to ``source`` (closed here) when it can be reopened; False
        when it cannot (the caller then ends the run)."""
        if not (self.reconnect and source.reconnectable):
            return False
        close_quietly(source)
        self._source = source
        self._lost_error, self._card = error, None
        reconnector = _Reconnector(source.reopen, self._on_reconnect_failure)
        self._reconnector = reconnector
        reconnector.start()
        log.warning("%s; reconnecting", error)
        self._set_status("reconnecting", f"{error}; reconnecting", error)
        return True

    def _on_reconnect_failure(self, attempt: int, delay: float, error: VcamError) -> None:
        """From the reconnect thread: one more try failed."""
        if self._stop_event.is_set() or self._reconnector is None or self._reconnector.stopped:
            return
        log.debug("reconnect try %d failed: %s", attempt, error)
        lost = self._lost_error or error
        message = f"{lost}; still missing after {attempt} tries"
        if str(error) != str(lost):  # why the last try failed, when it says something new
            message += f" ({error})"
        self._set_status("reconnecting", f"{message}; next try in {delay:.1f} s", error)

    def _end_reconnect(self) -> bool:
        """Stop reconnecting; True when it was."""
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is None:
            return False
        reconnector.stop(timeout=0.5)
        self._lost_error = self._card = None
        return True

    def _while_lost(self) -> None:
        """One step of the frame worker while the camera is lost: adopt the reopened camera,
        or send the "camera lost" card and wait a frame's time."""
        reconnector = self._reconnector
        new = reconnector.take()
        if new is None:
            period = 1.0 / max(1.0, self._source.fps)
            self._send_card()
            self._stop_event.wait(period)
            return
        self._reconnector = None
        self._lost_error = self._card = None
        self._dropped_before += self._source.frames_dropped
        self._source = new
        new.start()
        log.warning("%s is back", new)
        self._announce_running(f"{new} is back")

    def _send_card(self) -> None:
        if self._card is None:
            last = self._last_output.image if self._last_output is not None else None
            width, height = self._source.size
            lines = (
                ["No camera", "waiting for it..."]
                if last is None
                else ["Camera lost", "reconnecting..."]
            )
            image = message_card((width, height), lines, last)
            alpha = np.full((height, width), 255, np.uint8)
            self._card = OutputFrame(image, image, alpha, -1, 0.0, placeholder=True)
        self._send_placeholder(self._card)

    def _send_placeholder(self, card: OutputFrame) -> None:
        card = dataclasses.replace(card, timestamp=time.monotonic())
        with self.stats.timer("send"):
            self._send_all(card)
        self.stats.count("frame")
        self.stats.count("placeholder")

    # -- holding the camera: paused (privacy) and idle (nobody watches) --------------------

    def pause_camera(self) -> None:
        """Privacy pause: release the camera, stop inference and send a "Camera paused" card
        (once a second) until :meth:`resume_camera`. Blocks while the camera closes."""
        self._set_hold("paused", True)

    def resume_camera(self) -> None:
        """End the privacy pause (the camera opens again unless the pipeline is idle)."""
        self._set_hold("paused", False)

    def set_idle(self, idle: bool) -> None:
        """Idle while nobody watches the outputs (vcam.ondemand decides): the same hold as a
        pause, with the status "idle: no app is using the camera"."""
        self._set_hold("idle", idle)

    @property
    def camera_paused(self) -> bool:
        return "paused" in self._holds

    @property
    def idle(self) -> bool:
        return "idle" in self._holds

    def _set_hold(self, reason: str, on: bool) -> None:
        """Add or remove a reason to hold the camera; the first reason held closes the source
        (the frame worker sends cards instead), the last one removed opens it again. Not
        running: ``start()`` begins held. A source given to the pipeline is kept open."""
        with self._lifecycle_lock, self._update_lock:
            holds = self._holds | {reason} if on else self._holds - {reason}
            if holds == self._holds:
                return
            self._holds = frozenset(holds)
            if not self.running:
                return
            try:
                with self._paused_worker():
                    if holds and not self._held:
                        self._enter_hold()
                    elif not holds and self._held:
                        self._leave_hold()
                    self._hold_card = None  # the next card tells the reason held now
            except VcamError:
                if self.running:
                    raise
                return  # it ended meanwhile
            if self._held and self._hold_failure is None:
                self._announce_hold()
        log.info("camera %s: %s", "held" if holds else "back", ", ".join(sorted(holds)) or "-")

    def _enter_hold(self) -> None:
        """(Frame worker paused) stop reconnecting and release the camera."""
        self._end_reconnect()
        if self._given_source is None:
            close_quietly(self._source)
        self._held = True

    def _leave_hold(self) -> None:
        """(Frame worker paused) open the source again. A camera that will not open is
        reconnected to (its card shows meanwhile); any other failure ends the run (the frame
        worker raises it)."""
        if self._given_source is not None:
            self._held = False
            self._announce_running()
            return
        old = self._source
        self._dropped_before += old.frames_dropped
        try:
            new = open_source(self.settings, live=True)
        except VcamError as error:
            if isinstance(error, CameraError) and self._lose_source(
                _MissingCamera(self.settings), error
            ):
                self._held = False
            else:
                self._hold_failure = error
            return
        self._source = new
        new.start()
        self._held = False
        self._announce_running()

    def _while_held(self) -> None:
        """One step of the frame worker while the camera is held: send the card, then wait a
        second (woken at once by a change or a stop)."""
        if self._hold_failure is not None:
            error, self._hold_failure = self._hold_failure, None
            raise error
        if self._hold_card is None:
            width, height = self._source.size
            image = message_card((width, height), HOLD_LINES[self._hold_reason()][1])
            alpha = np.full((height, width), 255, np.uint8)
            self._hold_card = OutputFrame(image, image, alpha, -1, 0.0, placeholder=True)
        self._send_placeholder(self._hold_card)
        with self._cond:
            self._cond.wait_for(
                lambda: self._pause_requests > 0 or self._stop_event.is_set(), HOLD_CARD_PERIOD
            )

    def _hold_reason(self) -> str:
        """The reason shown while held: paused before idle."""
        return next((r for r in HOLD_LINES if r in self._holds), "idle")

    def _announce_hold(self) -> None:
        reason = self._hold_reason()
        self._set_status(reason, HOLD_LINES[reason][0])

    def _announce_state(self) -> None:
        """Say what runs again (after an output change): held, or the flow of frames."""
        if self._held:
            self._announce_hold()
        elif self._reconnector is None:
            self._announce_running()

    # -- failing sinks --------------------------------------------------------------------

    def _send_all(self, output: OutputFrame) -> None:
        for sink in self.sinks:
            try:
                sink.send(output)
            except VcamError as error:
                self._drop_sink(sink, error)

    def _drop_sink(self, sink: Sink, error: VcamError) -> None:
        """A sink failed while sending: go on without it when others are left."""
        close_quietly(sink)
        from_settings = any(s is sink for s in self._settings_sinks)
        self._extra_sinks = [s for s in self._extra_sinks if s is not sink]
        self._settings_sinks = [s for s in self._settings_sinks if s is not sink]
        if not self.sinks:
            raise error
        self._note_dropped(sink, error, from_settings)
        self._announce_state()

    def _note_dropped(self, sink: Sink, error: VcamError, from_settings: bool) -> None:
        if from_settings:  # ``settings`` tells what runs: update(output=...) tries again
            self.settings = self.settings.replace(output="none")
        self._warning = VcamError(
            f"{sink} off: {error}", panel_message=f"{sink} off: {error.panel_message}"
        )
        log.warning("%s; going on without it", self._warning)

    # -- the frame worker -----------------------------------------------------------------

    def _run(self) -> None:
        applied_threads = 0
        track = _Track()
        seq = 0
        ended_normally = False
        try:
            while not self._stop_event.is_set():
                self._pause_point()
                wanted = frame_threads(self.settings)
                if wanted != applied_threads:  # numba's thread count is per calling thread
                    numba.set_num_threads(wanted)
                    applied_threads = wanted
                if self._held:
                    self._while_held()
                    continue
                if self._reconnector is not None:
                    self._while_lost()
                    continue
                source = self._source
                try:
                    frame = source.read(timeout=0.1)
                except VcamError as error:
                    if source is self._source and not self._lose_source(source, error):
                        raise
                    continue
                if frame is None:
                    if source.ended and source is self._source:
                        ended_normally = True
                        break
                    continue
                seq += 1
                self._process(frame, seq, source, track)
            if ended_normally:
                self._finish("ended", f"{self._source} finished")
            else:
                self._done.set()
        except VcamError as error:
            self._finish("error", str(error), error)
        except Exception as error:  # noqa: BLE001 - any crash becomes a reported error
            log.debug("frame worker crashed", exc_info=True)
            wrapped = VcamError(f"internal error: {type(error).__name__}: {error}")
            self._finish("error", str(wrapped), wrapped)
        finally:
            with self._cond:
                self._cond.notify_all()  # an update() waiting for a pause point gives up

    def _process(self, frame, seq: int, source: FrameSource, track: _Track) -> None:
        """Matte, composite and send one frame."""
        now = time.monotonic()
        self.stats.count("input")
        self.stats.record("capture", now - frame.timestamp)
        settings = self.settings
        image = prepare_image(frame.image, settings.mirror)
        if image is None:  # a driver hiccup: nothing to show, nothing to fail on
            log.debug("%s gave an empty frame; skipped", source)
            return
        if source is not track.source or image.shape != track.shape:
            if track.source is source:
                log.info("frame size changed from %s to %s", track.shape, image.shape)
            self._refiner.reset()  # new camera or size: the old alpha history does not fit
            self._effects.reset()
            track.source, track.shape = source, image.shape
            track.last_infer_seq, track.reference = -(10**9), None
            track.refined_seq, track.submitted = -1, None

        # Hand the frame to the model when due (not while no tile of the picture changed);
        # wait for its alpha as long as the frame rate allows, else use the newest alpha there
        # is (only if it was made at this frame size).
        matting = self._matting
        due = seq - track.last_infer_seq >= settings.infer_every
        thumb = _thumbnail(image) if settings.skip_static else None
        if due and thumb is not None and track.reference is not None:
            still = changed_tiles(thumb, track.reference) == 0
            if still and now - track.last_infer_time < STATIC_MAX_AGE:
                due = False
                self.stats.count("skipped")
        if due:
            matting.submit(image, seq)
            first = track.last_infer_seq < 0
            track.last_infer_seq, track.last_infer_time, track.reference = seq, now, thumb
            budget = FIRST_ALPHA_TIMEOUT if first else self._alpha_budget(source.fps)
            matting.wait_for(seq, budget)
        if matting.error is not None:
            raise matting.error
        latest = matting.latest
        if latest is None or latest[2] != image.shape:
            return  # no alpha for this frame size yet (the start, or a size change)
        effects, seconds = self._effects, frame.timestamp
        low, picture = effects.before_refine(settings, latest[0], image, seconds)
        with self.stats.timer("refine"):
            alpha = self._matte(low, latest[1], picture, seq, due, track)
        picture = effects.after_refine(settings, picture, alpha, seconds)
        if effects_on(settings):
            self.stats.record("effects", effects.spent)
        with self.stats.timer("composite"):
            composite = self._background.composite(picture, alpha)
        raw = image if picture is not image else None  # the camera picture for "Before"
        output = OutputFrame(composite, picture, alpha, frame.index, frame.timestamp, raw=raw)
        with self.stats.timer("send"):
            self._send_all(output)
        self._last_output = output
        self.stats.record("latency", time.monotonic() - frame.timestamp)
        self.stats.count("frame")

    def _matte(self, low, low_seq: int, image, seq: int, submitted: bool, track: _Track):
        """The matte of frame ``seq`` from the newest alpha (made from frame ``low_seq``). A new
        alpha is stabilised with the picture of the frame it was made from, so that the live
        matte is the offline one (``process``) whenever inference keeps up."""
        refiner = self._refiner
        picture = refiner.picture(image, low.shape)
        if low_seq != track.refined_seq:
            made_from = picture
            if low_seq != seq and track.submitted is not None and track.submitted[0] == low_seq:
                made_from = track.submitted[1]
            refiner.update(low, made_from)
            track.refined_seq = low_seq
        if submitted:
            track.submitted = (seq, picture)
        return refiner.render(image, picture=picture)

    def _alpha_budget(self, fps: float) -> float:
        """How long a frame may wait for its own alpha and still leave on time."""
        stages = ("refine", "effects", "composite", "send")
        rest = sum(self.stats.median_ms(s) or 0.0 for s in stages)
        return max(0.002, 1.0 / fps - rest / 1000.0 - 0.002)

    def _finish(self, state: str, message: str, error: VcamError | None = None) -> None:
        """The worker ends by itself: release everything, report, wake waiters."""
        if self._matting is not None:
            self._matting.stop()
        self._end_reconnect()
        self._release()
        self._set_status(state, message, error, done=True)


def _adopt(current: Settings, new: Settings, names: frozenset[str]) -> Settings:
    """``current`` with the fields ``names`` taken from ``new``."""
    return current.replace(**{name: getattr(new, name) for name in names})


def close_quietly(thing) -> None:
    """``thing.close()``, any failure logged and dropped (it must not mask the real error)."""
    try:
        thing.close()
    except Exception:  # noqa: BLE001 - closing must never mask the real problem
        log.debug("closing %s failed", thing, exc_info=True)
