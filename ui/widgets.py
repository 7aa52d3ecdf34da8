"""Small reusable controls: segmented buttons, labelled sliders, switches, cards and tiles.

Every control has a ``set_value`` that changes what it shows without emitting its change
signal, so the window can show restored or rejected settings without feedback loops.

Sliders, spin boxes and combo boxes take the mouse wheel only once they have focus (clicked
or tabbed to): a wheel that merely passes over them scrolls the settings column, so scrolling
never changes a setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap
from PyQt6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui import style


class SegmentedControl(QWidget):
    """A row of mutually exclusive buttons ("Before | After | Split"). ``changed(key)``."""

    changed = pyqtSignal(str)

    def __init__(self, options: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmented")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        for key, label in options:
            button = QPushButton(label)
            button.setCheckable(True)
            button.setProperty("segment", True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            # As narrow as the label allows (a push button's own minimum is 80 px), so a row of
            # four fits the settings column.
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(label) + 18)
            self._group.addButton(button)
            layout.addWidget(button)
            self.buttons[key] = button
            button.clicked.connect(lambda _checked, k=key: self.changed.emit(k))

    def value(self) -> str:
        for key, button in self.buttons.items():
            if button.isChecked():
                return key
        return ""

    def set_value(self, key: str) -> None:
        """Check ``key`` silently (an unknown key checks nothing)."""
        button = self.buttons.get(key)
        if button is None:
            checked = self._group.checkedButton()
            if checked is not None:
                self._group.setExclusive(False)
                checked.setChecked(False)
                self._group.setExclusive(True)
            return
        button.setChecked(True)

    def select(self, key: str) -> None:
        """Click ``key`` as the user would (emits ``changed``)."""
        self.buttons[key].click()


def _chevron_painter(widget: QWidget, width: float) -> tuple[QPainter, float, float]:
    """A painter on ``widget`` with the round, muted pen of drawn chevrons, and the centre
    (x, y) of the chevron area at the widget's right edge."""
    painter = QPainter(widget)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(style.MUTED if widget.isEnabled() else style.FAINT), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    return painter, widget.width() - 16.0, widget.height() / 2.0


def _wheel_when_focused(widget: QWidget, event, take) -> None:
    """Give the wheel ``event`` to the control (``take``) only when it has focus; else to the
    scroll area it sits in (the settings column scrolls), or to its parent."""
    if widget.hasFocus():
        take(event)
        return
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    if parent is None:
        event.ignore()
        return
    QApplication.sendEvent(parent.verticalScrollBar(), event)
    event.accept()


class ComboBox(QComboBox):
    """A combo box with a drawn chevron (style sheets cannot draw one without image files).
    A long item never widens it (and the column it is in); the wheel needs focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        _wheel_when_focused(self, event, super().wheelEvent)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        painter, x, y = _chevron_painter(self, 1.6)
        painter.drawPolyline(QPointF(x - 4, y - 2), QPointF(x, y + 2), QPointF(x + 4, y - 2))


class SpinBox(QSpinBox):
    """A spin box with drawn up and down chevrons on its right (clickable, like the combo
    boxes' chevron; style sheets cannot draw arrows without image files). The wheel needs
    focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        _wheel_when_focused(self, event, super().wheelEvent)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        painter, x, y = _chevron_painter(self, 1.4)
        painter.drawPolyline(QPointF(x - 3.5, y - 2), QPointF(x, y - 5.5), QPointF(x + 3.5, y - 2))
        painter.drawPolyline(QPointF(x - 3.5, y + 2), QPointF(x, y + 5.5), QPointF(x + 3.5, y + 2))


class Slider(QSlider):
    """A horizontal slider that takes the wheel only when it has focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        _wheel_when_focused(self, event, super().wheelEvent)


class ElidedLabel(QLabel):
    """A one-line label that is shortened with "…" (at the end, or in the ``mode``'s place)
    when its text is wider than the label, and never widens its column (the whole text stays
    in ``full_text()`` and the tooltip)."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(parent)
        self._mode = mode
        self._full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        shown = self.fontMetrics().elidedText(self._full, self._mode, width)
        super().setText(shown)


class ValueSlider(QWidget):
    """A slider with its name on the left and its value (with unit) on the right.

    The slider works in integer steps: ``value = minimum + step * position``.
    ``valueChanged(float)`` fires while dragging."""

    valueChanged = pyqtSignal(float)

    def __init__(
        self,
        title: str,
        minimum: float,
        maximum: float,
        step: float,
        fmt: Callable[[float], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.step, self._fmt = minimum, maximum, step, fmt
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        top = QHBoxLayout()
        self.title = QLabel(title)
        self.value_label = QLabel()
        self.value_label.setObjectName("value")
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.value_label)
        layout.addLayout(top)
        self.slider = Slider()
        self.slider.setRange(0, round((maximum - minimum) / step))
        self.slider.setCursor(Qt.CursorShape.PointingHandCursor)
        self.slider.valueChanged.connect(self._moved)
        layout.addWidget(self.slider)
        self._show(minimum)

    def value(self) -> float:
        return self._to_value(self.slider.value())

    def set_value(self, value: float) -> None:
        """Show ``value`` (clamped to the range) without emitting."""
        self.slider.blockSignals(True)
        self.slider.setValue(
            round((min(max(value, self.minimum), self.maximum) - self.minimum) / self.step)
        )
        self.slider.blockSignals(False)
        self._show(value)

    def _to_value(self, position: int) -> float:
        return round(self.minimum + position * self.step, 6)

    def _moved(self, position: int) -> None:
        value = self._to_value(position)
        self._show(value)
        self.valueChanged.emit(value)

    def _show(self, value: float) -> None:
        self.value_label.setText(self._fmt(value))


class Toggle(QAbstractButton):
    """An on/off switch (a checkable button drawn as a pill with a knob)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(38, 22)

    def set_value(self, on: bool) -> None:
        self.blockSignals(True)
        self.setChecked(on)
        self.blockSignals(False)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(1, 2, self.width() - 2, self.height() - 4)
        on = self.isChecked()
        track = QColor(style.ACCENT if on else style.FIELD_BORDER)
        if not self.isEnabled():
            track = QColor(style.FIELD)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        knob = rect.height() - 4
        x = rect.right() - knob - 2 if on else rect.left() + 2
        painter.setBrush(QColor("#ffffff" if self.isEnabled() else style.FAINT))
        painter.drawEllipse(QRectF(x, rect.top() + 2, knob, knob))


class Section(QFrame):
    """A card with a small uppercase title and a vertical body (``add``/``add_row``)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(16, 14, 16, 16)
        self.body.setSpacing(12)
        heading = QLabel(title.upper())
        heading.setObjectName("sectionTitle")
        font = heading.font()
        font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 1.2)
        heading.setFont(font)
        self.body.addWidget(heading)
        self._field_labels: list[QLabel] = []  # labels of rows whose fields line up

    def add(self, widget: QWidget) -> QWidget:
        self.body.addWidget(widget)
        return widget

    def add_row(self, label: str, *widgets: QWidget, expand: bool = True) -> QWidget:
        """A row: ``label`` on the left, ``widgets`` after it. With ``expand`` the first widget
        takes the free width; else the widgets sit at the right. Returns the row widget."""
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        name = QLabel(label)
        name.setMinimumWidth(84)
        layout.addWidget(name)
        if not expand:
            layout.addStretch(1)
        else:  # the fields of a card start at one column, after its widest label
            name.ensurePolished()  # the style sheet's font decides the width
            self._field_labels.append(name)
            width = max(84, *(label.sizeHint().width() for label in self._field_labels))
            for other in self._field_labels:
                other.setMinimumWidth(width)
        for index, widget in enumerate(widgets):
            layout.addWidget(widget, 1 if expand and index == 0 else 0)
        self.body.addWidget(row)
        return row


class Tile(QAbstractButton):
    """A clickable picture with a caption below; a ring in the accent colour when checked."""

    IMAGE_HEIGHT = 46
    CAPTION_HEIGHT = 18

    def __init__(self, key: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.caption = caption
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(caption)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._picture: QPixmap | None = None
        self._hover = False

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(68, self.IMAGE_HEIGHT + self.CAPTION_HEIGHT + 6)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(52, self.IMAGE_HEIGHT + self.CAPTION_HEIGHT + 6)

    def set_picture(self, pixmap: QPixmap | None) -> None:
        self._picture = pixmap
        self.update()

    def enterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._hover = True
        self.update()

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._hover = False
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        box = QRectF(2, 2, self.width() - 4, self.IMAGE_HEIGHT)
        path = QPainterPath()
        path.addRoundedRect(box, 8, 8)
        painter.fillPath(path, QColor(style.FIELD))
        if self._picture is not None and not self._picture.isNull():
            painter.save()
            painter.setClipPath(path)
            picture = self._picture
            scale = max(box.width() / picture.width(), box.height() / picture.height())
            w, h = picture.width() * scale, picture.height() * scale
            target = QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h)
            painter.drawPixmap(target, picture, QRectF(picture.rect()))
            painter.restore()
        ring = None
        if self.isChecked():
            ring = QPen(QColor(style.ACCENT), 2.5)
        elif self._hover:
            ring = QPen(QColor(style.FIELD_HOVER), 1.5)
        else:
            ring = QPen(QColor(255, 255, 255, 18), 1)
        painter.setPen(ring)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(box.adjusted(-0.5, -0.5, 0.5, 0.5), 8.5, 8.5)
        painter.setPen(QColor(style.TEXT if self.isChecked() else style.MUTED))
        font = painter.font()
        font.setPixelSize(11)
        painter.setFont(font)
        caption = QRectF(0, box.bottom() + 3, self.width(), self.CAPTION_HEIGHT)
        text = painter.fontMetrics().elidedText(
            self.caption, Qt.TextElideMode.ElideRight, int(caption.width())
        )
        painter.drawText(caption, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)


class TileGrid(QWidget):
    """Tiles in a grid of ``columns``; at most one checked. ``clicked(key)``."""

    clicked = pyqtSignal(str)

    def __init__(self, columns: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(6)
        self.tiles: dict[str, Tile] = {}

    def add(self, key: str, caption: str, picture: QPixmap | None = None) -> Tile:
        tile = Tile(key, caption)
        tile.set_picture(picture)
        # Clicking never unchecks by itself: the window decides what is selected.
        tile.clicked.connect(lambda _checked, k=key: self._on_click(k))
        count = len(self.tiles)
        self._grid.addWidget(tile, count // self.columns, count % self.columns)
        self.tiles[key] = tile
        return tile

    def _on_click(self, key: str) -> None:
        self.set_value(self.value())  # undo the click's own toggle until the window decides
        self.clicked.emit(key)

    def value(self) -> str:
        for key, tile in self.tiles.items():
            if tile.property("selected"):
                return key
        return ""

    def set_value(self, key: str) -> None:
        """Mark ``key`` as the selected tile (none when unknown)."""
        for name, tile in self.tiles.items():
            tile.setProperty("selected", name == key)
            tile.blockSignals(True)
            tile.setChecked(name == key)
            tile.blockSignals(False)
            tile.update()
