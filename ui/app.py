"""Start the panel: parse its options, load the settings, style the app, show the window."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QWidget

from ui.main_window import MainWindow
from ui.style import apply_style
from vcam.settings import load_panel_settings, settings_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcam ui", description="vcam's control panel")
    parser.add_argument(
        "--settings", metavar="FILE", help="read and save settings in FILE instead of the default"
    )
    return parser


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
    if args.settings:
        settings_file = Path(args.settings).expanduser()
        settings = load_panel_settings(settings_file, strict=settings_file.exists())
    else:
        settings_file = settings_path()
        settings = load_panel_settings()
    app = create_app()
    window = MainWindow(settings, settings_file)
    window.show()
    close_on_signals(app, window)
    return app.exec()
