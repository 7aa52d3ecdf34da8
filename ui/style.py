"""The panel's look: one dark palette with a single accent colour, as a Qt style sheet."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import QApplication, QWidget

# The palette. Every colour the panel uses comes from here.
WINDOW = "#111318"
SURFACE = "#171a20"
CARD = "#1d2027"
CARD_BORDER = "#292d36"
FIELD = "#252932"
FIELD_BORDER = "#333844"
FIELD_HOVER = "#3c4250"
TEXT = "#e9ebef"
MUTED = "#9aa1ad"
FAINT = "#697080"
ACCENT = "#5b8cff"
ACCENT_HOVER = "#729cff"
ACCENT_PRESSED = "#4a78e6"
DANGER = "#f06262"
DANGER_HOVER = "#f47a7a"
WARNING = "#f0b955"
SUCCESS = "#4cc38a"

FONT_FAMILIES = ["Inter", "Segoe UI", "SF Pro Text", "Cantarell", "Noto Sans", "DejaVu Sans"]

STYLE_SHEET = f"""
* {{
    color: {TEXT};
    font-size: 13px;
}}
QMainWindow, QWidget#root {{
    background: {WINDOW};
}}
QWidget#sidebarBody, QScrollArea#sidebar, QScrollArea#sidebar > QWidget > QWidget {{
    background: transparent;
}}
QScrollArea {{
    border: none;
}}
QFrame#card {{
    background: {CARD};
    border: 1px solid {CARD_BORDER};
    border-radius: 12px;
}}
QFrame#card QLabel {{
    background: transparent;
}}
QLabel#appTitle {{
    font-size: 18px;
    font-weight: 600;
}}
QLabel#appSubtitle, QLabel#hint, QLabel#value {{
    color: {MUTED};
}}
QLabel#hint {{
    font-size: 12px;
}}
QLabel#hint[level="error"] {{
    color: {DANGER};
}}
QLabel#hint[level="warning"] {{
    color: {WARNING};
}}
QLabel#hint[level="ok"] {{
    color: {SUCCESS};
}}
QLabel#sectionTitle {{
    color: {MUTED};
    font-size: 11px;
    font-weight: 600;
}}
QComboBox, QSpinBox, QLineEdit {{
    background: {FIELD};
    border: 1px solid {FIELD_BORDER};
    border-radius: 8px;
    padding: 5px 10px;
    min-height: 20px;
    selection-background-color: {ACCENT};
}}
QComboBox:hover, QSpinBox:hover, QLineEdit:hover {{
    border-color: {FIELD_HOVER};
}}
QComboBox:focus, QSpinBox:focus, QLineEdit:focus, QComboBox:on {{
    border-color: {ACCENT};
}}
QComboBox:disabled, QSpinBox:disabled, QLineEdit:disabled {{
    color: {FAINT};
    background: {SURFACE};
}}
QComboBox::drop-down {{
    border: none;
    width: 26px;
}}
QComboBox::down-arrow {{
    image: none;
    width: 0px;
    height: 0px;
}}
QComboBox QAbstractItemView {{
    background: {CARD};
    border: 1px solid {FIELD_BORDER};
    border-radius: 8px;
    padding: 4px;
    outline: none;
    selection-background-color: {ACCENT};
    selection-color: white;
}}
QSpinBox {{
    padding-right: 28px;
}}
QSpinBox::up-button, QSpinBox::down-button {{
    subcontrol-origin: border;
    width: 28px;
    border: none;
    background: transparent;
}}
QSpinBox::up-button {{
    subcontrol-position: top right;
}}
QSpinBox::down-button {{
    subcontrol-position: bottom right;
}}
QSpinBox::up-arrow, QSpinBox::down-arrow {{
    image: none;
    width: 0px;
    height: 0px;
}}
QSlider {{
    min-height: 20px;
}}
QSlider::groove:horizontal {{
    height: 4px;
    background: {FIELD_BORDER};
    border-radius: 2px;
}}
QSlider::sub-page:horizontal {{
    background: {ACCENT};
    border-radius: 2px;
}}
QSlider::handle:horizontal {{
    background: #ffffff;
    width: 14px;
    height: 14px;
    margin: -5px 0;
    border-radius: 7px;
}}
QSlider::handle:horizontal:hover {{
    background: #dfe6ff;
}}
QSlider::sub-page:horizontal:disabled {{
    background: {FAINT};
}}
QWidget#segmented {{
    background: {FIELD};
    border: 1px solid {FIELD_BORDER};
    border-radius: 9px;
}}
QPushButton[segment="true"] {{
    background: transparent;
    border: none;
    border-radius: 7px;
    padding: 5px 14px;
    color: {MUTED};
    font-weight: 500;
}}
QPushButton[segment="true"]:hover {{
    color: {TEXT};
}}
QPushButton[segment="true"]:checked {{
    background: {ACCENT};
    color: #ffffff;
}}
QPushButton, QToolButton {{
    background: {FIELD};
    border: 1px solid {FIELD_BORDER};
    border-radius: 8px;
    padding: 5px 12px;
}}
QPushButton:hover, QToolButton:hover {{
    border-color: {FIELD_HOVER};
    background: #2b303a;
}}
QPushButton:pressed, QToolButton:pressed {{
    background: {SURFACE};
}}
QPushButton#primary {{
    background: {ACCENT};
    border: none;
    border-radius: 10px;
    padding: 11px 16px;
    font-size: 14px;
    font-weight: 600;
    color: #ffffff;
}}
QPushButton#primary:hover {{
    background: {ACCENT_HOVER};
}}
QPushButton#primary:pressed {{
    background: {ACCENT_PRESSED};
}}
QPushButton#primary[live="true"] {{
    background: {DANGER};
}}
QPushButton#primary[live="true"]:hover {{
    background: {DANGER_HOVER};
}}
QPushButton#primary:disabled {{
    background: {FIELD_BORDER};
    color: {FAINT};
}}
QWidget#footer {{
    background: {CARD};
    border: 1px solid {CARD_BORDER};
    border-radius: 12px;
}}
QStatusBar {{
    background: {SURFACE};
    border-top: 1px solid {CARD_BORDER};
    min-height: 26px;
}}
QStatusBar::item {{
    border: none;
}}
QStatusBar QLabel {{
    color: {MUTED};
    font-size: 12px;
    padding: 0 6px;
}}
QStatusBar QLabel#message[level="error"] {{
    color: {DANGER};
}}
QStatusBar QLabel#message[level="warning"] {{
    color: {WARNING};
}}
QScrollBar:vertical {{
    background: transparent;
    width: 8px;
    margin: 2px;
}}
QScrollBar::handle:vertical {{
    background: {FIELD_BORDER};
    border-radius: 3px;
    min-height: 32px;
}}
QScrollBar::add-line, QScrollBar::sub-line, QScrollBar::add-page, QScrollBar::sub-page {{
    height: 0px;
    background: none;
}}
QToolTip {{
    background: {CARD};
    color: {TEXT};
    border: 1px solid {FIELD_BORDER};
    border-radius: 6px;
    padding: 4px 8px;
}}
QMenu {{
    background: {CARD};
    border: 1px solid {FIELD_BORDER};
    border-radius: 8px;
    padding: 4px;
}}
QMenu::item {{
    padding: 6px 18px;
    border-radius: 6px;
}}
QMenu::item:selected {{
    background: {ACCENT};
    color: #ffffff;
}}
"""


def apply_style(app: QApplication) -> None:
    """Give the whole application the panel's palette, font and style sheet."""
    app.setStyle("Fusion")
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPixelSize(13)
    app.setFont(font)
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, WINDOW),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, FIELD),
        (QPalette.ColorRole.AlternateBase, CARD),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, FIELD),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, ACCENT),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, CARD),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.PlaceholderText, FAINT),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)


def set_level(widget: QWidget, level: str) -> None:
    """Set a label's ``level`` property ("", "ok", "warning", "error") and restyle it."""
    if widget.property("level") == level:
        return
    widget.setProperty("level", level)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
