#!/usr/bin/env python
"""Open the real control panel on the bundled sample and save a screenshot of its window.

Run it on a display, or headless through ``scripts/screenshot_ui.sh`` (Xvfb). It uses a
throw-away settings folder (never your own settings), waits until the preview has shown
composited frames and the timings have settled, grabs the window from the screen and saves
it as a PNG (reduced to a 256-colour palette when that keeps it under ``--max-kb``).

  python scripts/screenshot_ui.py --out docs/screenshot.png
  python scripts/screenshot_ui.py --models-dir /tmp/models --background preset:office
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--models-dir", type=Path, help="use the models in this folder")
    parser.add_argument("--background", default="preset:office", help="kind, preset:NAME or file")
    parser.add_argument("--mode", choices=("before", "after", "split"), default="split")
    parser.add_argument("--size", default="1440x900", help="window size WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=45, help="preview frames to wait for")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait at most")
    parser.add_argument("--max-kb", type=int, default=480, help="size limit of the PNG")
    return parser.parse_args(argv)


def fallback_model(folder: Path) -> Path | None:
    """An UNTRAINED MMNet export (only for the look of the window) when no model resolves."""
    try:
        from vcam.nets.mmnet import MMNet
        from vcam.training.export import export_onnx
    except ImportError:
        return None
    print("screenshot: no trained model found; using an UNTRAINED export (the matte is noise)")
    return export_onnx(MMNet(0.5), folder / "mmnet-fast.onnx", 144, 256)


def save_png(image, path: Path, max_kb: int) -> int:
    """Save a QImage as PNG; if it is bigger than ``max_kb``, as a palette PNG (pngquant when
    installed, else Qt's dithered 256 colours). Returns the file's size in bytes."""
    import cv2
    import numpy as np
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    rows = np.frombuffer(bits, np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if path.stat().st_size <= max_kb * 1024:
        return path.stat().st_size
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--force", "--speed", "1", "--quality", "80-98", "--output", str(path)]
            + [str(path)],
            check=True,
        )
    else:
        dither = Qt.ImageConversionFlag.DiffuseDither | Qt.ImageConversionFlag.PreferDither
        image.convertToFormat(QImage.Format.Format_Indexed8, dither).save(str(path), "PNG", 0)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="vcam-screenshot-"))
    os.environ["VCAM_CONFIG_DIR"] = str(work / "config")
    if args.models_dir:
        os.environ["VCAM_MODELS_DIR"] = str(args.models_dir.resolve())

    from PyQt6.QtWidgets import QApplication

    from ui.app import create_app
    from ui.main_window import MainWindow
    from vcam import VcamError, media, resolve_model
    from vcam.settings import Settings

    try:
        resolve_model("fast")
    except VcamError:
        if fallback_model(work) is None:
            print("screenshot: no model and no torch to export one; see README", file=sys.stderr)
            return 1
        os.environ["VCAM_MODELS_DIR"] = str(work)

    background = {"background": args.background}
    if media.is_preset(args.background):
        background = {"background": "image", "background_path": args.background}
    elif media.suffix(args.background):
        kind = media.media_kind(args.background)
        background = {"background": kind, "background_path": args.background}
    settings = Settings(source="sample", model="fast", output="virtual", **background)
    app = create_app()
    window = MainWindow(settings, work / "config" / "settings.json", tray=False)
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    window.view_mode.select(args.mode)

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and window.preview.frames_shown < args.frames:
        app.processEvents()
        time.sleep(0.01)
    if window.preview.frames_shown < args.frames:
        print(f"screenshot: only {window.preview.frames_shown} frames shown", file=sys.stderr)
        print(f"screenshot: status: {window.status_message.text()}", file=sys.stderr)
        window.close()
        return 1
    settle = time.monotonic() + 1.0
    while time.monotonic() < settle:  # one more stats refresh with settled medians
        app.processEvents()
        time.sleep(0.01)
    window.repaint()
    app.processEvents()
    screen = window.screen() or QApplication.primaryScreen()
    frame = window.frameGeometry()
    shot = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()).toImage()
    if shot.isNull() or shot.width() < 10:
        shot = window.grab().toImage()
    size = save_png(shot, args.out, args.max_kb)
    print(
        f"screenshot: {args.out} ({shot.width()}x{shot.height()}, {size // 1024} KB) after "
        f"{window.preview.frames_shown} frames; {window.stats_label.text()}"
    )
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
