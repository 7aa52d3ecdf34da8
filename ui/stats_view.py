"""A strip under the preview with the output rate and the per-stage timings of the engine."""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath
from PyQt6.QtWidgets import QSizePolicy, QWidget

from ui import style
from vcam import StatsSnapshot

# (label, stages summed): what one cell shows.
CELLS = (
    ("Model", ("preprocess", "inference")),
    ("Refine", ("refine",)),
    ("Compose", ("effects", "composite")),
    ("Output", ("send",)),
)


def stage_ms(snapshot: StatsSnapshot, stages: tuple[str, ...]) -> float | None:
    """The summed medians of ``stages`` (None when none of them has samples yet)."""
    values = [snapshot.stage_ms[s] for s in stages if s in snapshot.stage_ms]
    return sum(values) if values else None


class StatsStrip(QWidget):
    """Frames per second against the target rate, then each stage's median time with a bar
    showing its share of one frame's time budget (amber when a stage alone overruns it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.snapshot: StatsSnapshot | None = None
        self.target_fps = 30.0

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(640, 66)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(320, 66)

    def set_snapshot(self, snapshot: StatsSnapshot | None, target_fps: float) -> None:
        """Show ``snapshot`` (None: not running)."""
        self.snapshot, self.target_fps = snapshot, max(1.0, target_fps)
        self.update()

    def cells(self) -> list[tuple[str, str, float | None]]:
        """(label, value text, bar fraction or None) per cell, as painted."""
        snap = self.snapshot
        budget = 1000.0 / self.target_fps
        if snap is None:
            rows = [("FPS", "—", None)]
            rows += [(label, "—", None) for label, _ in CELLS]
            return rows + [("Latency", "—", None)]
        rows = [("FPS", f"{snap.fps:.0f}", snap.fps / self.target_fps)]
        for label, stages in CELLS:
            ms = stage_ms(snap, stages)
            rows.append(
                (label, "—" if ms is None else f"{ms:.0f} ms", None if ms is None else ms / budget)
            )
        latency = snap.stage_ms.get("latency")
        rows.append(("Latency", "—" if latency is None else f"{latency:.0f} ms", None))
        return rows

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        card = QPainterPath()
        card.addRoundedRect(area, 12, 12)
        painter.fillPath(card, QColor(style.CARD))
        painter.setPen(QColor(style.CARD_BORDER))
        painter.drawPath(card)
        cells = self.cells()
        width = area.width() / len(cells)
        label_font = QFont(self.font())
        label_font.setPixelSize(11)
        label_font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 0.5)
        value_font = QFont(self.font())
        value_font.setPixelSize(16)
        value_font.setWeight(QFont.Weight.DemiBold)
        for index, (label, value, fraction) in enumerate(cells):
            box = QRectF(area.left() + index * width, area.top(), width, area.height())
            inner = box.adjusted(14, 11, -12, -11)
            if index:
                painter.setPen(QColor(style.CARD_BORDER))
                painter.drawLine(box.topLeft() + QPointF(0, 14), box.bottomLeft() - QPointF(0, 14))
            painter.setFont(label_font)
            painter.setPen(QColor(style.MUTED))
            caption = painter.fontMetrics().elidedText(
                label.upper(), Qt.TextElideMode.ElideRight, int(inner.width())
            )
            painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, caption)
            painter.setFont(value_font)
            painter.setPen(QColor(style.TEXT))
            painter.drawText(
                inner.adjusted(0, 14, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                value,
            )
            if fraction is None:
                continue
            track = QRectF(inner.left(), inner.bottom() - 3, inner.width(), 3)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(style.FIELD_BORDER))
            painter.drawRoundedRect(track, 1.5, 1.5)
            over = fraction > 1.0 and index > 0
            fill = QRectF(
                track.left(), track.top(), track.width() * min(1.0, max(0.0, fraction)), 3
            )
            painter.setBrush(QColor(style.WARNING if over else style.ACCENT))
            painter.drawRoundedRect(fill, 1.5, 1.5)
