"""Start the panel: parse its options, claim the remote control's channel (a second panel
brings the first to the front instead), load the settings, style the app, show the window."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QWidget

from ui.main_window import MainWindow
from ui.remote import PanelRemote
from ui.style import apply_style
from vcam.control import AlreadyRunning, ControlError, ControlServer, request
from vcam.settings import load_panel_settings, settings_path

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcam ui", description="vcam's control panel")
    parser.add_argument(
        "--settings", metavar="FILE", help="read and save settings in FILE instead of the default"
    )
    parser.add_argument(
        "--tray", action="store_true", help="start in the tray with the virtual camera on"
    )
    return parser


def claim_remote() -> ControlServer | None:
    """The panel's remote-control channel; None (with a note) when it cannot be made.
    AlreadyRunning when another vcam holds it."""
    try:
        return ControlServer("panel").open()
    except AlreadyRunning:
        raise
    except ControlError as error:
        log.warning("no remote control: %s", error)
        return None


def bring_to_front() -> bool:
    """Ask the panel that is already open to show its window; False when it does not."""
    try:
        return bool(request("show", timeout=5.0).get("ok"))
    except ControlError:
        return False


def create_app() -> QApplication:
    """The running QApplication (made and styled if there is none yet)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("vcam")
    app.setApplicationDisplayName("vcam")
    app.setDesktopFileName("vcam")
    apply_style(app)
    return app


def close_on_signals(app: QApplication, window: QWidget) -> None:
    """Ctrl-C, SIGTERM and SIGHUP close the window the normal way (capture stopped, settings
    saved).

    Python runs signal handlers only between bytecodes, so a light timer gives it the chance
    while Qt's event loop runs in C++."""
    if threading.current_thread() is not threading.main_thread():
        return

    def close(signum: int, frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), close)
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(200)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window and run until it closes. Raises SettingsError (one line) for a bad
    ``--settings`` file, which the ``vcam`` command prints."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        remote = claim_remote()
    except AlreadyRunning as error:
        if error.app == "panel" and bring_to_front():  # a second panel: the first one shows
            print("vcam: the panel is already open; brought it to the front")
            return 0
        raise
    try:
        return _run(args, remote)
    finally:
        if remote is not None:
            remote.close()


def _run(args: argparse.Namespace, remote: ControlServer | None) -> int:
    if args.settings:
        settings_file = Path(args.settings).expanduser()
        settings = load_panel_settings(settings_file, strict=settings_file.exists())
    else:
        settings_file = settings_path()
        settings = load_panel_settings()
    app = create_app()
    window = MainWindow(settings, settings_file, in_tray=args.tray)
    # Closing a hidden window (Quit in the tray, `vcam ctl stop`) does not end Qt's loop by
    # itself, as closing the last visible one does (with a Quit event of its own).
    window.closed.connect(lambda: None if window.isVisible() else QTimer.singleShot(0, app.quit))
    if not args.tray:
        window.show()
    if remote is not None:
        remote.start(PanelRemote(window))
    close_on_signals(app, window)
    return app.exec()
