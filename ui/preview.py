"""The live preview: frames from the pipeline thread to the UI thread, and the widget showing
them before, after or split.

The pipeline's ``PreviewSink`` calls ``FrameMailbox.put`` from its worker thread. The mailbox
keeps only the newest frame and queues at most one ``ready`` signal at a time, so a UI that
falls behind skips frames instead of growing a queue.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PyQt6.QtCore import QObject, QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from ui import style

MODES = ("before", "after", "split")


class FrameMailbox(QObject):
    """A one-slot box for preview frames: ``put`` from any thread, ``take`` in the UI thread."""

    ready = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._frame = None
        self.received = 0
        self.dropped = 0  # frames replaced before the UI took them

    def put(self, frame) -> None:
        """Keep ``frame`` (replacing an unread one); signal only when the box was empty."""
        with self._lock:
            pending = self._frame is not None
            if pending:
                self.dropped += 1
            self._frame = frame
            self.received += 1
        if not pending:
            self.ready.emit()

    def take(self):
        """The newest frame not yet taken, or None."""
        with self._lock:
            frame, self._frame = self._frame, None
            return frame


def fitted_rect(source: QSize, area: QRectF) -> QRectF:
    """The largest rectangle of ``source``'s aspect ratio centred in ``area``."""
    if source.width() <= 0 or source.height() <= 0:
        return QRectF(area)
    scale = min(area.width() / source.width(), area.height() / source.height())
    w, h = source.width() * scale, source.height() * scale
    return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)


def compose(before: np.ndarray, after: np.ndarray, mode: str, split: float) -> np.ndarray:
    """The picture a mode shows: the camera frame, the result, or the frame left of
    ``split`` (a fraction of the width) and the result right of it."""
    if mode == "before":
        return before
    if mode == "after" or before.shape != after.shape:
        return after
    column = int(round(split * after.shape[1]))
    picture = after.copy()
    picture[:, :column] = before[:, :column]
    return picture


class PreviewWidget(QWidget):
    """Shows the newest frame fitted into a rounded dark panel; in split mode a draggable
    divider separates the camera frame (left) from the result (right)."""

    RADIUS = 14.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.aspect = 9 / 16  # height / width of the frames shown
        self.mode = "split"
        self.split = 0.5
        self.frames_shown = 0
        self.placeholder = "Starting…"
        self.badge = ""
        self._frame = None  # the last OutputFrame
        self._image: QImage | None = None
        self._dragging = False

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(960, round(960 * self.aspect))

    # -- what to show ---------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.setCursor(
            Qt.CursorShape.SplitHCursor if mode == "split" else Qt.CursorShape.ArrowCursor
        )
        self._render()

    def show_frame(self, frame) -> None:
        """Show an ``OutputFrame`` (UI thread)."""
        self._frame = frame
        self.frames_shown += 1
        height, width = frame.image.shape[:2]
        self.aspect = height / width
        self._render()

    def clear(self, message: str) -> None:
        """Drop the picture and show ``message`` instead."""
        self._frame = None
        self._image = None
        self.placeholder = message
        self.update()

    def set_placeholder(self, message: str) -> None:
        self.placeholder = message
        if self._image is None:
            self.update()

    def set_badge(self, text: str) -> None:
        """A small label in the picture's corner (e.g. "LIVE"); "" hides it."""
        self.badge = text
        self.update()

    @property
    def frame(self):
        """The ``OutputFrame`` shown (None when cleared)."""
        return self._frame

    def displayed_image(self) -> QImage | None:
        """The picture as last drawn (before scaling to the widget)."""
        return self._image

    # -- rendering ------------------------------------------------------------------------

    def _splitting(self) -> bool:
        """Split mode, on a camera picture (a "Camera lost" card is shown whole)."""
        frame = self._frame
        return self.mode == "split" and not (frame is not None and frame.placeholder)

    def _area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(1, 1, -1, -1)

    def _render(self) -> None:
        frame = self._frame
        if frame is None:
            return
        before, after = frame.camera, frame.image
        if before.shape != after.shape:  # the camera changed size between frames
            before = cv2.resize(before, (after.shape[1], after.shape[0]))
        # Scale to the pixels actually shown first: composing and converting get cheaper.
        target = fitted_rect(QSize(after.shape[1], after.shape[0]), self._area())
        ratio = self.devicePixelRatioF()
        width = max(2, min(after.shape[1], round(target.width() * ratio)))
        height = max(2, min(after.shape[0], round(target.height() * ratio)))
        if (width, height) != (after.shape[1], after.shape[0]):
            interpolation = cv2.INTER_AREA if width * 2 < after.shape[1] else cv2.INTER_LINEAR
            before = cv2.resize(before, (width, height), interpolation=interpolation)
            after = cv2.resize(after, (width, height), interpolation=interpolation)
        picture = np.ascontiguousarray(compose(before, after, self.mode, self.split))
        h, w = picture.shape[:2]
        self._image = QImage(
            picture.data, w, h, picture.strides[0], QImage.Format.Format_BGR888
        ).copy()
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._render()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self._area()
        panel = QPainterPath()
        panel.addRoundedRect(area, self.RADIUS, self.RADIUS)
        painter.fillPath(panel, QColor("#0b0d11"))
        painter.setPen(QPen(QColor(style.CARD_BORDER), 1))
        painter.drawPath(panel)
        if self._image is None:
            self._paint_placeholder(painter, area)
            return
        target = fitted_rect(self._image.size(), area)
        clip = QPainterPath()
        clip.addRoundedRect(target, self.RADIUS, self.RADIUS)
        painter.save()
        painter.setClipPath(clip)
        painter.drawImage(target, self._image)
        painter.restore()
        if self._splitting():
            self._paint_divider(painter, target)
        if self.badge:
            self._paint_pill(
                painter,
                QPointF(target.left() + 14, target.bottom() - 14),
                self.badge,
                QColor(style.DANGER),
                anchor="bottom-left",
            )

    def _paint_placeholder(self, painter: QPainter, area: QRectF) -> None:
        painter.setPen(QColor(style.MUTED))
        font = QFont(self.font())
        font.setPixelSize(15)
        painter.setFont(font)
        text_box = area.adjusted(area.width() * 0.15, 0, -area.width() * 0.15, 0)
        painter.drawText(
            text_box,
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            self.placeholder,
        )

    def _paint_divider(self, painter: QPainter, target: QRectF) -> None:
        x = target.left() + self.split * target.width()
        painter.setPen(QPen(QColor(255, 255, 255, 230), 2))
        painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        knob = QPointF(x, target.center().y())
        painter.setBrush(QColor("#ffffff"))
        painter.setPen(QPen(QColor(0, 0, 0, 60), 1))
        painter.drawEllipse(knob, 14, 14)
        painter.setPen(QPen(QColor(style.WINDOW), 2))
        for sign in (-1, 1):
            tip = QPointF(knob.x() + sign * 7, knob.y())
            painter.drawLine(tip, QPointF(knob.x() + sign * 3, knob.y() - 4))
            painter.drawLine(tip, QPointF(knob.x() + sign * 3, knob.y() + 4))
        dark = QColor(12, 14, 18, 170)
        self._paint_pill(painter, QPointF(target.left() + 14, target.top() + 14), "BEFORE", dark)
        self._paint_pill(
            painter, QPointF(target.right() - 14, target.top() + 14), "AFTER", dark, "top-right"
        )

    def _paint_pill(
        self, painter: QPainter, at: QPointF, text: str, fill: QColor, anchor: str = "top-left"
    ) -> None:
        font = QFont(self.font())
        font.setPixelSize(11)
        font.setBold(True)
        font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 1.0)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 20, metrics.height() + 8
        x = at.x() - w if anchor.endswith("right") else at.x()
        y = at.y() - h if anchor.startswith("bottom") else at.y()
        box = QRectF(x, y, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(box, h / 2, h / 2)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    # -- dragging the divider -------------------------------------------------------------

    def _split_at(self, x: float) -> None:
        if self._image is None:
            return
        target = fitted_rect(self._image.size(), self._area())
        if target.width() <= 0:
            return
        self.split = min(1.0, max(0.0, (x - target.left()) / target.width()))
        self._render()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._splitting() and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._split_at(event.position().x())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._dragging:
            self._split_at(event.position().x())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._dragging = False
