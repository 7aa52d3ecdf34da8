"""vcam's control panel (PyQt6): a live preview and every setting, applied live.

``ui.main(argv)`` opens the panel (``vcam`` with no command, or ``vcam ui``). The panel uses
only vcam's public API; ``vcam`` never imports ``ui``.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Open the panel; returns the exit code when its window closes."""
    from ui.app import main as run

    return run(argv)
