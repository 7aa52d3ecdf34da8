#!/usr/bin/env bash
# Screenshot of the control panel in a virtual X display (Xvfb) on the bundled sample:
#   scripts/screenshot_ui.sh [--out docs/screenshot.png] [--models-dir DIR] [...]
# The arguments go to scripts/screenshot_ui.py. Needs (Debian/Ubuntu):
#   apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 \
#     libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 fonts-inter pngquant
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v xvfb-run >/dev/null; then
    echo "screenshot_ui.sh: xvfb-run not found: apt-get install -y xvfb (see the header)" >&2
    exit 1
fi
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
unset QT_QPA_PLATFORM
export QT_QPA_PLATFORM=xcb
exec xvfb-run -a -s "-screen 0 1600x1000x24 -dpi 96" "$PYTHON" scripts/screenshot_ui.py "$@"
