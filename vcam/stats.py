"""Rolling per-stage timings (medians over the last few seconds), rates and counters.

Thread-safe: the pipeline's threads record into one ``RollingStats``; the panel or the command
line reads a ``StatsSnapshot``. Every buffer is bounded.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# The stages of one frame, in order. "capture" is how long a frame waited between the camera and
# the worker; "latency" is from capture until every sink had it.
STAGES = (
    "capture",
    "preprocess",
    "inference",
    "refine",
    "effects",
    "composite",
    "send",
    "latency",
)
MAX_SAMPLES = 2000  # per stage or event: a hard bound even at absurd frame rates


@dataclass(frozen=True)
class StatsSnapshot:
    """A moment's view: rates per second, stage medians in milliseconds, running totals."""

    fps: float = 0.0  # frames sent to the sinks
    input_fps: float = 0.0  # frames taken from the source
    inference_fps: float = 0.0  # model runs
    stage_ms: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    inferences: int = 0
    skipped: int = 0  # inferences skipped because the picture barely changed
    dropped: int = 0  # frames the source replaced before the worker took them
    placeholders: int = 0  # notice cards sent while the camera was lost

    def line(self) -> str:
        """A one-line summary for logs and the command line."""
        stages = " ".join(
            f"{name} {self.stage_ms[name]:.1f}" for name in STAGES if name in self.stage_ms
        )
        return (
            f"{self.fps:.1f} fps out, {self.input_fps:.1f} in, {self.inference_fps:.1f} "
            f"inferences/s, {self.dropped} dropped | ms: {stages}"
        )


class RollingStats:
    """Timings and events kept for the last ``window`` seconds."""

    def __init__(self, window: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._events: dict[str, deque[float]] = {}
        self._totals: dict[str, int] = {}

    def record(self, stage: str, seconds: float) -> None:
        """One duration of ``stage``."""
        now = self._clock()
        with self._lock:
            samples = self._samples.setdefault(stage, deque(maxlen=MAX_SAMPLES))
            samples.append((now, seconds))
            self._prune(samples, now)

    def count(self, event: str, n: int = 1) -> None:
        """``n`` occurrences of ``event`` (e.g. "frame", "input", "inference", "skipped")."""
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(event, deque(maxlen=MAX_SAMPLES))
            events.append(now)
            while events and events[0] < now - self.window:
                events.popleft()
            self._totals[event] = self._totals.get(event, 0) + n

    @contextmanager
    def timer(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block as one sample of ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(stage, time.perf_counter() - start)

    def median_ms(self, stage: str) -> float | None:
        """The median of ``stage`` over the window, in milliseconds (None without samples)."""
        now = self._clock()
        with self._lock:
            samples = self._samples.get(stage)
            if samples:
                self._prune(samples, now)
            if not samples:
                return None
            return 1000.0 * statistics.median(s for _, s in samples)

    def rate(self, event: str) -> float:
        """Occurrences of ``event`` per second over the window."""
        now = self._clock()
        with self._lock:
            events = self._events.get(event)
            while events and events[0] < now - self.window:
                events.popleft()
            if not events or len(events) < 2:
                return 0.0
            span = events[-1] - events[0]
            return (len(events) - 1) / span if span > 0 else 0.0

    def total(self, event: str) -> int:
        with self._lock:
            return self._totals.get(event, 0)

    def snapshot(self, dropped: int = 0) -> StatsSnapshot:
        """Everything at once; ``dropped`` comes from the source."""
        stage_ms = {}
        for name in STAGES:
            value = self.median_ms(name)
            if value is not None:
                stage_ms[name] = value
        return StatsSnapshot(
            fps=self.rate("frame"),
            input_fps=self.rate("input"),
            inference_fps=self.rate("inference"),
            stage_ms=stage_ms,
            frames=self.total("frame"),
            inferences=self.total("inference"),
            skipped=self.total("skipped"),
            dropped=dropped,
            placeholders=self.total("placeholder"),
        )

    def held(self) -> int:
        """Samples and events held in memory right now (bounded: for leak checks)."""
        with self._lock:
            return sum(map(len, self._samples.values())) + sum(map(len, self._events.values()))

    def _prune(self, samples: deque[tuple[float, float]], now: float) -> None:
        while samples and samples[0][0] < now - self.window:
            samples.popleft()
