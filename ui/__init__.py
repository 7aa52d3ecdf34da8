"""vcam's control panel (PyQt6): a live preview and every setting, applied live.

``ui.main(argv)`` opens the panel (``vcam`` with no command, or ``vcam ui``). ``vcam`` never
imports ``ui``. The panel runs the engine through vcam's public API (``vcam.__all__``); it
also uses what it shares with the command line, which is not public API: the panel's
settings files and choices (``vcam.settings``), the remote control (``vcam.control``), the
media kinds and names (``vcam.media``), the preset backgrounds (``vcam.backgrounds``), the
execution providers (``vcam.matting``), the loopback devices (``vcam.sinks``), on-demand
idling (``vcam.ondemand``) and login start (``vcam.autostart``).

Layout and wiring live in ``ui.main_window``; the panel's decisions (what runs, which refused
settings go back, the sample standing in for a missing camera) in the Qt-free ``ui.state``.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Open the panel; returns the exit code when its window closes."""
    from ui.app import main as run

    return run(argv)
