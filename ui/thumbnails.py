"""Pictures for the background tiles: preset and file thumbnails, and drawn kind tiles."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QRadialGradient

from ui import style
from vcam import media

log = logging.getLogger(__name__)

TILE_SIZE = (144, 92)  # width, height in pixels (drawn at twice the tile's size)


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A BGR uint8 array as a QImage that owns its pixels."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888).copy()


def cover(image: np.ndarray, size: tuple[int, int] = TILE_SIZE) -> np.ndarray:
    """``image`` scaled to fill ``size`` (width, height) and centre-cropped."""
    width, height = size
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(
        image, (max(width, round(w * scale)), max(height, round(h * scale))), cv2.INTER_AREA
    )
    top = (resized.shape[0] - height) // 2
    left = (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


def file_thumbnail(path: str | Path, size: tuple[int, int] = TILE_SIZE) -> QPixmap | None:
    """A thumbnail of an image file, or of a video's first frame; None when unreadable."""
    path = Path(path)
    image = None
    try:
        if media.media_kind(path) == "video":
            capture = cv2.VideoCapture(str(path))
            try:
                ok, frame = capture.read()
                image = frame if ok else None
            finally:
                capture.release()
        else:
            data = np.fromfile(str(path), dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except (OSError, cv2.error):
        log.debug("no thumbnail for %s", path, exc_info=True)
    if image is None:
        return None
    return QPixmap.fromImage(bgr_to_qimage(cover(image, size)))


def _canvas(draw, size: tuple[int, int] = TILE_SIZE, fill: str = style.FIELD) -> QPixmap:
    pixmap = QPixmap(*size)
    pixmap.fill(QColor(fill))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    draw(painter, QRectF(0, 0, *size))
    painter.end()
    return pixmap


def none_tile() -> QPixmap:
    """A crossed-out circle: no background replacement."""

    def draw(painter: QPainter, rect: QRectF) -> None:
        pen = QPen(QColor(style.MUTED), 5)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        r = rect.height() * 0.26
        c = rect.center()
        painter.drawEllipse(c, r, r)
        painter.drawLine(
            QPointF(c.x() - r * 0.7, c.y() + r * 0.7), QPointF(c.x() + r * 0.7, c.y() - r * 0.7)
        )

    return _canvas(draw)


def blur_tile() -> QPixmap:
    """Soft overlapping discs: a blurred backdrop."""

    def draw(painter: QPainter, rect: QRectF) -> None:
        for fx, fy, fr, colour in (
            (0.3, 0.4, 0.5, "#7aa2ff"),
            (0.7, 0.6, 0.55, "#c58cff"),
            (0.55, 0.25, 0.35, "#6fe0c8"),
        ):
            centre = QPointF(rect.width() * fx, rect.height() * fy)
            radius = rect.height() * fr
            gradient = QRadialGradient(centre, radius)
            inner, outer = QColor(colour), QColor(colour)
            inner.setAlpha(170)
            outer.setAlpha(0)
            gradient.setColorAt(0.0, inner)
            gradient.setColorAt(1.0, outer)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(gradient)
            painter.drawEllipse(centre, radius, radius)

    return _canvas(draw, fill="#2a2f3a")


def colour_tile(colour: str) -> QPixmap:
    """A swatch of ``colour`` with a small palette mark."""

    def draw(painter: QPainter, rect: QRectF) -> None:
        painter.setPen(QPen(QColor(255, 255, 255, 60), 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        dots = [(0.38, 0.42), (0.5, 0.3), (0.62, 0.42)]
        for fx, fy in dots:
            painter.drawEllipse(QPointF(rect.width() * fx, rect.height() * fy), 6, 6)
        painter.drawArc(
            QRectF(
                rect.width() * 0.3, rect.height() * 0.18, rect.width() * 0.4, rect.height() * 0.68
            ),
            200 * 16,
            140 * 16,
        )

    return _canvas(draw, fill=colour)


def green_tile() -> QPixmap:
    """Pure chroma green."""

    def draw(painter: QPainter, rect: QRectF) -> None:
        painter.setPen(QColor(0, 0, 0, 110))
        font = painter.font()
        font.setPixelSize(22)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "KEY")

    return _canvas(draw, fill="#00ff00")


def add_file_tile() -> QPixmap:
    """A plus sign: choose an image or video file."""

    def draw(painter: QPainter, rect: QRectF) -> None:
        pen = QPen(QColor(style.MUTED), 5)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        c, r = rect.center(), rect.height() * 0.18
        painter.drawLine(QPointF(c.x() - r, c.y()), QPointF(c.x() + r, c.y()))
        painter.drawLine(QPointF(c.x(), c.y() - r), QPointF(c.x(), c.y() + r))

    return _canvas(draw)
