"""Idle while nobody watches: ``vcam run --on-demand`` and the panel's virtual camera.

:class:`OnDemand` watches the pipeline's virtual camera device in its own thread. With no
other process reading it (:mod:`vcam.readers`) and nobody else watching (the panel's window
hidden, say), it makes the pipeline idle after ``idle_after`` seconds: the camera is released
(its light goes off), the model stops and the virtual camera gets a still card once a second.
The first reader wakes it at once (inotify on the device), and live frames follow within a
second. Where the platform cannot tell who reads (OBS Virtual Camera, Unity Capture) it says
so once and keeps the camera on.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vcam.errors import VcamError
from vcam.readers import PROC, DeviceWatch, can_watch
from vcam.sinks import VirtualCameraSink

log = logging.getLogger(__name__)

IDLE_AFTER = 3.0  # seconds without a reader before idling (an app reopening its camera keeps it)
WAKE_CONFIRM = 0.1  # seconds a new reader must stay (apps listing cameras open each briefly)
RECHECK = 5.0  # seconds between scans while inotify reports every open and close
POLL = 0.5  # seconds between scans without inotify, or before the virtual camera is open
UNSUPPORTED = (
    "cannot tell whether an app uses the virtual camera {device} on this platform: "
    "the camera stays on"
)
IDLE_MESSAGE = "idle: no app is using the camera"


class OnDemand:
    """Keeps ``pipeline`` idle while nobody watches it.

    ``watching()`` (any thread) tells of watchers other than the virtual camera's readers,
    e.g. the panel's visible preview; call :meth:`poke` when its answer changes. ``proc`` is
    the process table to read (tests give a fake one). ``on_note`` gets the one-line notice
    when the platform cannot tell who reads (it is also logged, once)."""

    def __init__(
        self,
        pipeline,
        watching: Callable[[], bool] | None = None,
        *,
        idle_after: float = IDLE_AFTER,
        proc: str | Path = PROC,
        recheck: float = RECHECK,
        poll: float = POLL,
        confirm: float = WAKE_CONFIRM,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.watching = watching or (lambda: False)
        self.idle_after = idle_after
        self.proc = proc
        self.recheck, self.poll, self.confirm = recheck, poll, confirm
        self.on_note = on_note
        self.enabled = True
        self.readers: int | None = 0  # the last count; None: this platform cannot tell
        self.note = ""
        self._noted: set[str] = set()
        self._device: str | None = None
        self._watch: DeviceWatch | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pipe = os.pipe() if os.name == "posix" else None
        if self._pipe is not None:
            os.set_blocking(self._pipe[0], False)
            os.set_blocking(self._pipe[1], False)
        self._thread = threading.Thread(target=self._run, name="vcam-ondemand", daemon=True)

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> OnDemand:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread (the pipeline stays as it is)."""
        self._stop.set()
        self.poke()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def set_enabled(self, enabled: bool) -> None:
        """Switch idling on or off (off: the pipeline wakes up and stays on)."""
        self.enabled = enabled
        self.poke()

    def poke(self) -> None:
        """Look again now (something ``watching()`` depends on changed)."""
        self._wake.set()
        pipe = self._pipe
        if pipe is not None:
            try:
                os.write(pipe[1], b"!")
            except OSError:  # full (already poked) or closed
                pass

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        last_watched = time.monotonic()
        while not self._stop.is_set():
            watched = not self.enabled or self._watched()
            now = time.monotonic()
            if watched:
                last_watched = now
            # Idle stays idle while nobody watches; a watched camera idles after a grace.
            idle = not watched and (self.pipeline.idle or now - last_watched >= self.idle_after)
            if watched and self.pipeline.idle and self._only_readers():
                watched = self._still_read()  # a brief open (an app listing cameras) is not
                if not watched:
                    idle = True
            if idle != self.pipeline.idle:
                self._set_idle(idle)
            timeout = self.recheck if self._event_driven() else self.poll
            if not watched and not idle:
                timeout = min(timeout, max(0.01, last_watched + self.idle_after - now))
            self._wait(timeout)

    def _watched(self) -> bool:
        """Whether anyone watches now: a reader of the virtual camera, or ``watching()``."""
        self.readers = self._count_readers()
        try:
            others = bool(self.watching())
        except Exception:  # noqa: BLE001 - a broken callback must not idle a watched camera
            log.warning("on-demand: the watching() callback failed", exc_info=True)
            others = True
        return others or self.readers is None or self.readers > 0

    def _only_readers(self) -> bool:
        """Whether readers alone keep it awake (``watching()`` says no)."""
        return bool(self.readers) and self.enabled and not self.watching()

    def _still_read(self) -> bool:
        """A reader appeared while idle: still there after ``confirm`` seconds?"""
        if self.confirm <= 0 or self._stop.wait(self.confirm):
            return True
        self.readers = self._count_readers()
        return self.readers is None or self.readers > 0

    def _count_readers(self) -> int | None:
        """Readers of the open virtual camera (0 when none is open; None: cannot tell)."""
        device = self._virtual_device()
        if device != self._device:
            self._follow(device)
        if device is None:
            return 0
        if self._watch is None:
            return None
        self._watch.drain()
        return self._watch.count()

    def _virtual_device(self) -> str | None:
        for sink in list(self.pipeline.sinks):
            if isinstance(sink, VirtualCameraSink) and sink.is_open and sink.device_name:
                return str(sink.device_name)
        return None

    def _follow(self, device: str | None) -> None:
        """The virtual camera changed (opened, closed, another device): watch the new one."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self._device = device
        if device is None:
            return
        if can_watch(device, self.proc):
            self._watch = DeviceWatch(device, self.proc)
            how = "inotify" if self._watch.event_driven else f"a scan every {self.poll:g} s"
            log.info("on-demand: watching %s for readers (%s)", device, how)
            return
        self.note = UNSUPPORTED.format(device=device)
        if device not in self._noted:  # once per device
            self._noted.add(device)
            log.warning(self.note)
            if self.on_note is not None:
                self.on_note(self.note)

    def _event_driven(self) -> bool:
        return self._watch is not None and self._watch.event_driven

    def _set_idle(self, idle: bool) -> None:
        try:
            self.pipeline.set_idle(idle)
        except VcamError as error:
            log.warning("on-demand: could not %s: %s", "idle" if idle else "wake up", error)

    def _wait(self, timeout: float) -> None:
        """Sleep until ``timeout``, a poke, a stop, or an open/close of the device."""
        fd = self._watch.fileno() if self._event_driven() else None
        pipe = self._pipe
        if fd is None or pipe is None:
            self._wake.wait(timeout)
        else:
            try:
                select.select([fd, pipe[0]], [], [], timeout)
            except (OSError, ValueError):  # closed by stop() meanwhile
                self._wake.wait(timeout)
        self._wake.clear()
        if self._pipe is not None:
            try:
                while os.read(self._pipe[0], 64):
                    pass
            except OSError:  # empty (BlockingIOError) or closed
                pass
