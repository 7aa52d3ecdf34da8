"""The panel's side of the remote control: requests from ``vcam ctl`` (answered in the
control server's thread) are carried out in the UI thread, where the window owns the
settings, and their reply is handed back."""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal, pyqtSlot

from vcam.control import ControlError

log = logging.getLogger(__name__)

ANSWER_WITHIN = 10.0  # seconds the UI thread has to carry out a request


class PanelRemote(QObject):
    """A ``ControlServer`` handler for ``window`` (its ``remote(request)`` makes the reply)."""

    _asked = pyqtSignal(object, object)  # request, Future

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.moveToThread(window.thread())
        self._asked.connect(self._answer)

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        """From the server's thread: wait for the UI thread's answer."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._asked.emit(request, future)
        try:
            return future.result(timeout=ANSWER_WITHIN)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ControlError("the panel is busy; try again") from None

    @pyqtSlot(object, object)
    def _answer(self, request: dict[str, Any], future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self.window.remote(request))
        except Exception as error:  # noqa: BLE001 - the server turns it into the error reply
            future.set_exception(error)
