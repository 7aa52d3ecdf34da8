"""Icons drawn with QPainter (no image files to ship): the app and tray icon and small glyphs."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QIcon, QLinearGradient, QPainter, QPainterPath, QPen, QPixmap

from ui import style


def _pixmap(size: int, draw: Callable[[QPainter, float], None], ratio: float = 2.0) -> QPixmap:
    """A transparent ``size`` x ``size`` pixmap (drawn at ``ratio`` for sharp HiDPI)."""
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    draw(painter, float(size))
    painter.end()
    return pixmap


def _person(painter: QPainter, box: QRectF, colour: QColor) -> None:
    """A head-and-shoulders silhouette filling ``box``."""
    w, h = box.width(), box.height()
    head = QRectF(box.left() + w * 0.32, box.top() + h * 0.08, w * 0.36, w * 0.36)
    shoulders = QPainterPath()
    shoulders.moveTo(box.left() + w * 0.08, box.bottom())
    shoulders.cubicTo(
        QPointF(box.left() + w * 0.1, box.top() + h * 0.55),
        QPointF(box.right() - w * 0.1, box.top() + h * 0.55),
        QPointF(box.right() - w * 0.08, box.bottom()),
    )
    shoulders.closeSubpath()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(head)
    painter.drawPath(shoulders)


def draw_logo(painter: QPainter, rect: QRectF, live: bool = False) -> None:
    """vcam's mark: a person on an accent tile (a red dot in the corner while live)."""
    gradient = QLinearGradient(rect.topLeft(), rect.bottomRight())
    gradient.setColorAt(0.0, QColor(style.ACCENT_HOVER))
    gradient.setColorAt(1.0, QColor(style.ACCENT_PRESSED))
    radius = rect.width() * 0.24
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(gradient)
    painter.drawRoundedRect(rect, radius, radius)
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    painter.save()
    painter.setClipPath(path)
    inner = rect.adjusted(rect.width() * 0.2, rect.height() * 0.2, -rect.width() * 0.2, 0)
    _person(painter, inner, QColor("#ffffff"))
    painter.restore()
    if live:
        dot = rect.width() * 0.3
        painter.setBrush(QColor(style.DANGER))
        painter.setPen(QPen(QColor(style.WINDOW), rect.width() * 0.05))
        painter.drawEllipse(QRectF(rect.right() - dot, rect.top(), dot, dot))


def app_icon(live: bool = False) -> QIcon:
    """The window and tray icon (with a red dot while the virtual camera is on)."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128):
        icon.addPixmap(
            _pixmap(size, lambda p, s: draw_logo(p, QRectF(1, 1, s - 2, s - 2), live), 1.0)
        )
    return icon


def refresh_icon(colour: str = style.MUTED) -> QIcon:
    """A circular arrow."""

    def draw(painter: QPainter, size: float) -> None:
        pen = QPen(QColor(colour), size * 0.11)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        box = QRectF(size * 0.2, size * 0.2, size * 0.6, size * 0.6)
        painter.drawArc(box, 60 * 16, 280 * 16)
        tip = QPainterPath()
        tip.moveTo(size * 0.62, size * 0.12)
        tip.lineTo(size * 0.68, size * 0.3)
        tip.lineTo(size * 0.5, size * 0.33)
        painter.drawPath(tip)

    return QIcon(_pixmap(16, draw))


def folder_icon(colour: str = style.MUTED) -> QIcon:
    """An outlined folder."""

    def draw(painter: QPainter, size: float) -> None:
        pen = QPen(QColor(colour), size * 0.09)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        path = QPainterPath()
        path.moveTo(size * 0.12, size * 0.78)
        path.lineTo(size * 0.12, size * 0.24)
        path.lineTo(size * 0.4, size * 0.24)
        path.lineTo(size * 0.48, size * 0.34)
        path.lineTo(size * 0.88, size * 0.34)
        path.lineTo(size * 0.88, size * 0.78)
        path.closeSubpath()
        painter.drawPath(path)

    return QIcon(_pixmap(16, draw))


def camera_icon(colour: str = "#ffffff", recording: bool = False) -> QIcon:
    """A video camera (or a filled record dot when ``recording``)."""

    def draw(painter: QPainter, size: float) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        if recording:
            painter.drawRoundedRect(
                QRectF(size * 0.25, size * 0.25, size * 0.5, size * 0.5), size * 0.08, size * 0.08
            )
            return
        painter.drawRoundedRect(
            QRectF(size * 0.08, size * 0.26, size * 0.58, size * 0.48), size * 0.1, size * 0.1
        )
        lens = QPainterPath()
        lens.moveTo(size * 0.68, size * 0.45)
        lens.lineTo(size * 0.92, size * 0.3)
        lens.lineTo(size * 0.92, size * 0.7)
        lens.lineTo(size * 0.68, size * 0.55)
        lens.closeSubpath()
        painter.drawPath(lens)

    return QIcon(_pixmap(18, draw))


def swatch_icon(colour: str) -> QIcon:
    """A small rounded square of ``colour``."""

    def draw(painter: QPainter, size: float) -> None:
        painter.setBrush(QColor(colour))
        painter.setPen(QPen(QColor(255, 255, 255, 90), 1))
        painter.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), 4, 4)

    return QIcon(_pixmap(16, draw))
