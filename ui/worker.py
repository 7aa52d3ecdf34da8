"""The engine's side of the panel: one ``vcam.Pipeline`` driven from a worker QThread.

Opening a camera, loading a model or a background video can take seconds, so every call
that may block (``Pipeline.start``, ``update``, ``stop``, ``find_cameras``) runs in the
worker thread, never in the UI thread. Requests are coalesced: the worker always applies the
newest settings it was given (one slot), so dragging a slider cannot build up a backlog.
Results, status changes and preview frames reach the UI thread as queued signals.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from ui.preview import FrameMailbox
from vcam import Pipeline, PreviewSink, Settings, Status, VcamError, find_cameras

log = logging.getLogger(__name__)


def one_line(error: BaseException) -> str:
    """An error as one line of text, worded for the panel (a VcamError's ``panel_message``:
    no command-line options)."""
    text = getattr(error, "panel_message", "") or str(error)
    return " ".join(text.split()) or type(error).__name__


def status_text(status: Status) -> str:
    """A status's message worded for the panel (its error and warning in the panel's
    words)."""
    message = status.message
    for error in (status.error, status.warning_error):
        if error is not None and error.panel_message != str(error):
            message = message.replace(str(error), error.panel_message)
    return message


def warning_text(status: Status) -> str:
    """A status's warning worded for the panel ("" when there is none)."""
    warning = status.warning_error
    return warning.panel_message if warning is not None else ""


@dataclass(frozen=True)
class ApplyResult:
    """What became of a request: the settings asked for, the settings the pipeline now holds
    (a rejected change leaves the previous value there), whether it runs, and the error."""

    requested: Settings
    applied: Settings
    running: bool
    error: str = ""
    error_kind: str = ""  # the error's class name, e.g. "BackgroundError"


class EngineWorker(QObject):
    """Lives in the worker thread and owns every blocking call on the pipeline."""

    resultReady = pyqtSignal(object)  # ApplyResult
    camerasFound = pyqtSignal(object)  # list of vcam.sources.CameraInfo
    _wake = pyqtSignal()
    _enumerate = pyqtSignal()
    _shutdown = pyqtSignal()
    _pause = pyqtSignal(bool)

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._pending: Settings | None = None
        self._good: Settings | None = None  # the last settings that ran
        self.closing = False
        self._wake.connect(self._take)
        self._enumerate.connect(self._find_cameras)
        self._shutdown.connect(self._stop)
        self._pause.connect(self._set_paused)

    # -- called from the UI thread --------------------------------------------------------

    def request(self, settings: Settings) -> None:
        """Apply ``settings`` soon (replaces a request not yet started)."""
        with self._lock:
            idle = self._pending is None
            self._pending = settings
        if idle:
            self._wake.emit()

    # -- in the worker thread -------------------------------------------------------------

    @pyqtSlot()
    def _take(self) -> None:
        with self._lock:
            target, self._pending = self._pending, None
        if target is None or self.closing:
            return
        try:
            result = self._apply(target)
        except Exception as error:  # noqa: BLE001 - never let the worker thread die
            log.exception("applying settings failed")
            result = self._result(target, RuntimeError(f"internal error: {error}"))
        self.resultReady.emit(result)

    def _apply(self, target: Settings) -> ApplyResult:
        """Change a running pipeline live, or (re)start a stopped one."""
        pipeline = self.pipeline
        if pipeline.running:
            try:
                pipeline.update(target)
            except VcamError as error:
                return self._result(target, error)
            self._good = pipeline.settings
            return ApplyResult(target, pipeline.settings, True)
        pipeline.update(target)  # not running: only kept
        try:
            pipeline.start()
        except VcamError as error:
            good = self._good
            if good is not None and good != target and not self.closing:
                # Go back to what last ran, so a bad change does not take the preview away.
                pipeline.update(good)
                try:
                    pipeline.start()
                except VcamError:
                    pipeline.update(target)  # that is broken too now: keep what was asked
            return self._result(target, error)
        self._good = pipeline.settings
        return ApplyResult(target, pipeline.settings, True)

    def _result(self, target: Settings, error: BaseException) -> ApplyResult:
        pipeline = self.pipeline
        return ApplyResult(
            target, pipeline.settings, pipeline.running, one_line(error), type(error).__name__
        )

    @pyqtSlot()
    def _find_cameras(self) -> None:
        try:
            cameras = find_cameras()
        except Exception:  # noqa: BLE001 - a driver problem must not kill the worker
            log.warning("looking for cameras failed", exc_info=True)
            cameras = []
        self.camerasFound.emit(cameras)

    @pyqtSlot(bool)
    def _set_paused(self, paused: bool) -> None:
        """The privacy pause (closing or reopening the camera can take a moment)."""
        try:
            if paused:
                self.pipeline.pause_camera()
            else:
                self.pipeline.resume_camera()
        except VcamError as error:  # it stopped meanwhile: nothing to pause
            log.info("pause: %s", error)

    @pyqtSlot()
    def _stop(self) -> None:
        self.closing = True
        try:
            self.pipeline.stop(timeout=2.0)
        finally:
            thread = QThread.currentThread()
            if thread is not None:
                thread.quit()


class Engine(QObject):
    """The UI thread's handle on the pipeline: ``apply(settings)``, ``find_cameras()``,
    ``shutdown()``; signals ``result``, ``status``, ``cameras`` and ``frame_ready``."""

    result = pyqtSignal(object)  # ApplyResult
    status = pyqtSignal(object)  # vcam.Status
    cameras = pyqtSignal(object)  # list of CameraInfo

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._shut = False
        self.mailbox = FrameMailbox(self)
        self.pipeline = Pipeline(
            settings, sinks=[PreviewSink(self.mailbox.put)], on_status=self._on_status
        )
        self.thread = QThread()
        self.thread.setObjectName("vcam-ui-engine")
        self.worker = EngineWorker(self.pipeline)
        self.worker.moveToThread(self.thread)
        self.worker.resultReady.connect(self.result)
        self.worker.camerasFound.connect(self.cameras)
        self.thread.start()

    def _on_status(self, status: Status) -> None:  # any thread
        if not self._shut:
            self.status.emit(status)

    def apply(self, settings: Settings) -> None:
        if not self._shut:
            self.worker.request(settings)

    def find_cameras(self) -> None:
        if not self._shut:
            self.worker._enumerate.emit()

    def set_camera_paused(self, paused: bool) -> None:
        """Pause (camera released, a "Camera paused" card) or resume, in the worker thread."""
        if not self._shut:
            self.worker._pause.emit(paused)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the pipeline (threads joined, camera released) and end the worker thread."""
        if self._shut:
            return
        self._shut = True
        self.worker.closing = True
        self.worker._shutdown.emit()
        if not self.thread.wait(int(timeout * 1000)):
            log.warning("the engine thread did not finish within %.0f s", timeout)
        self.pipeline.stop(timeout=2.0)  # idempotent: covers a worker that never got there
