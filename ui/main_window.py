"""The control panel window: a large live preview on the left, grouped settings on the right.

Every control edits one ``vcam.Settings`` (``self.settings``) and the change is applied live
to the running ``vcam.Pipeline`` through the worker thread. The look and the model (the
Background, Edges and Model cards) are saved to the settings file the command line uses; the
camera and the output (the Source and Output cards) are the panel's own, saved beside it
(``vcam.settings.save_panel_settings``): choosing them here never changes ``vcam run``.
A change the engine rejects (a bad background file, a missing model, no virtual camera)
leaves the running stage as it was, puts the control back and shows the engine's one-line
message in the status line, until its cause is gone. Recordings go to the Videos folder
(``recordings_folder``) unless a file is chosen; the panel shows the full path.

Everyday use: "Pause camera" (footer and tray) releases the camera and sends a "Camera
paused" card; "Idle when unused" (``vcam.ondemand``) does the same while the window is hidden
and no app reads the virtual camera; "Start at login" writes the panel's login entry
(``vcam.autostart``); ``remote()`` carries out ``vcam ctl`` requests (``ui.remote``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PyQt6.QtCore import QEvent, QSignalBlocker, QStandardPaths, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QColor
from PyQt6.QtWidgets import (
    QColorDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import icons, thumbnails
from ui.preview import PreviewWidget
from ui.state import PanelState, camera_key
from ui.stats_view import StatsStrip
from ui.style import set_level
from ui.widgets import (
    ComboBox,
    ElidedLabel,
    Section,
    SegmentedControl,
    SpinBox,
    TileGrid,
    Toggle,
    ValueSlider,
)
from ui.worker import ApplyResult, Engine, one_line, status_text, warning_text
from vcam import (
    BackgroundError,
    Settings,
    SettingsError,
    VcamError,
    autostart,
    media,
    resolve_model,
)
from vcam.backgrounds import presets, resolve_path
from vcam.control import setting_changes, status_fields
from vcam.matting import available_providers
from vcam.ondemand import OnDemand
from vcam.settings import (
    PROVIDERS,
    load_panel_settings,
    save_panel_settings,
    settings_path,
)
from vcam.sinks import VirtualCameraSink, loopback_devices

log = logging.getLogger(__name__)

RESOLUTIONS = ((640, 360), (640, 480), (960, 540), (1280, 720), (1920, 1080))
FRAME_RATES = (15.0, 24.0, 30.0, 60.0)
KIND_TILES = (("passthrough", "None"), ("blur", "Blur"), ("colour", "Colour"), ("green", "Green"))
FILE_TILE = "file"
OUTPUT_ERRORS = ("VirtualCameraError", "OutputError")
SMOOTHING_HINTS = {
    "steady": "Still parts hold longest (the model must insist for 4 s); moving parts follow.",
    "balanced": "Still parts hold; moving parts follow at once.",
    "responsive": "Follows slight movement too and corrects still parts within half a second.",
    "off": "Each frame's matte as the model gives it; may flicker.",
}
SAVE_DELAY_MS = 400
STATS_INTERVAL_MS = 500
ERROR_HOLD_S = 8.0  # an error stays in the status line at least this long
SIDEBAR_WIDTH = 372
NAME_WIDTH = 190  # pixels: a longer file name in a list is shortened in the middle
RECORDING_NAME = "vcam-%Y%m%d-%H%M%S"  # a new recording's name (time.strftime) without suffix
RECORDING_HINT = "vcam-<date>-<time>.mp4"  # the same, as the panel names it before it exists

IMAGE_FILTER = "Images and videos (*.png *.jpg *.jpeg *.bmp *.webp *.mp4 *.mov *.avi *.mkv *.webm)"
INPUT_FILTER = "Videos and images (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.png *.jpg *.jpeg)"


def recordings_folder() -> Path:
    """Where the panel's recordings go unless the user chose a file: the Videos folder
    (QStandardPaths' movies folder) when it exists, else the home folder."""
    videos = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    if videos and Path(videos).is_dir():
        return Path(videos)
    return Path.home()


def new_recording_path(kind: str = "file") -> Path:
    """A fresh, dated file (or PNG folder, for ``kind`` "png") in the recordings folder."""
    name = time.strftime(RECORDING_NAME)
    return recordings_folder() / (f"{name}.mp4" if kind == "file" else f"{name}-frames")


def _set_items(combo: ComboBox, items: list[tuple[str, str]], selected: str) -> None:
    """Show ``items`` (text, data) in ``combo`` and select ``selected``, silently. The list is
    only rebuilt when it changed (an open popup is left alone). Data "-" is a separator,
    data "" a disabled note."""
    current = [(combo.itemText(i), combo.itemData(i) or "") for i in range(combo.count())]
    wanted = [(text if data != "-" else "", data if data != "-" else "") for text, data in items]
    with QSignalBlocker(combo):
        if current != wanted:
            combo.clear()
            for text, data in items:
                if data == "-":
                    combo.insertSeparator(combo.count())
                    continue
                combo.addItem(text, data)
                if not data:
                    combo.model().item(combo.count() - 1).setEnabled(False)
        index = combo.findData(selected) if selected else -1
        combo.setCurrentIndex(max(0, index))


class MainWindow(QMainWindow):
    """vcam's control panel."""

    demandNote = pyqtSignal(str)  # from vcam.ondemand's thread: it cannot tell who reads
    closed = pyqtSignal()  # the panel closed (also when hidden in the tray: see ui.app)

    def __init__(
        self,
        settings: Settings | None = None,
        settings_file: str | Path | None = None,
        tray: bool = True,
        in_tray: bool = False,
    ) -> None:
        """``in_tray``: start as at login (``start_in_tray``), never showing the window and,
        when it idles while unused, never opening the camera before an app asks."""
        super().__init__()
        self.settings_file = Path(settings_file) if settings_file else settings_path()
        if settings is None:
            settings = load_panel_settings(self.settings_file)
        self.state = PanelState(settings)  # the decisions; this class lays out and wires
        self._output_pending = False
        self._output_error = ""
        self._cameras: list = []
        self._cameras_known = False
        self._error_until = 0.0
        self._message_cause = ""  # what the error or warning in the status line is about
        self._news = ""  # the latest ordinary message (shown again when an error is cleared)
        self._recording: Path | None = None  # the file being recorded (a dated one by default)
        self._saved_recording: Path | None = None  # the last finished recording
        self._may_restart = False  # one automatic restart after a run fails
        self._last_file_background = ""
        self.tray: QSystemTrayIcon | None = None
        self.engine: Engine | None = None
        self.ondemand: OnDemand | None = None
        self.camera_paused = False  # the privacy pause
        self._shown = False  # the window is on screen (read by the on-demand thread)
        self._recording_live = False  # a file is being recorded: never idle

        self.setWindowTitle("vcam")
        self.setWindowIcon(icons.app_icon())
        self.resize(1320, 820)
        self.setMinimumSize(980, 620)

        self._build()
        self._sync_controls()

        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_now)
        self._stats_timer = QTimer(self, interval=STATS_INTERVAL_MS)
        self._stats_timer.timeout.connect(self._show_stats)
        self._clear_timer = QTimer(self, singleShot=True)  # see _clear_message(later=True)
        self._clear_timer.timeout.connect(lambda: self._clear_message("run", later=True))

        self.engine = Engine(self._target(), self)
        self.engine.mailbox.ready.connect(self._show_frame)
        self.engine.result.connect(self._on_result)
        self.engine.status.connect(self._on_status)
        self.engine.cameras.connect(self._on_cameras)
        if in_tray and self.settings.on_demand:
            self.engine.pipeline.set_idle(True)  # not started yet: it starts idle
        self.tray = self._make_tray() if tray else None
        self.ondemand = OnDemand(self.engine.pipeline, self._watching, on_note=self.demandNote.emit)
        self.demandNote.connect(self._on_demand_note)
        self.ondemand.set_enabled(self.settings.on_demand)
        self.ondemand.start()
        self._stats_timer.start()
        self.engine.find_cameras()
        if self.settings.source != "camera":
            self._push()  # a camera source waits for the camera list (see _on_cameras)
        self._refresh_output()
        if in_tray:
            self.start_in_tray()

    @property
    def settings(self) -> Settings:
        """The settings the user chose (``state.settings``)."""
        return self.state.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.state.settings = value

    @property
    def output_on(self) -> bool:
        """The user wants the virtual camera (or file) running (``state.output_on``)."""
        return self.state.output_on

    @output_on.setter
    def output_on(self, value: bool) -> None:
        self.state.output_on = value

    # =========================================================================================
    # Building the window

    def _build(self) -> None:
        root = QWidget()
        root.setObjectName("root")
        self.setCentralWidget(root)
        layout = QHBoxLayout(root)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(18)
        layout.addLayout(self._build_preview_column(), 1)
        layout.addLayout(self._build_sidebar())
        self._build_status_bar()

    def _build_preview_column(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(12)
        header = QHBoxLayout()
        header.setSpacing(10)
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(32, 32))
        header.addWidget(logo)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel("vcam")
        title.setObjectName("appTitle")
        subtitle = ElidedLabel("Background replacement for video calls")
        subtitle.setObjectName("appSubtitle")  # shortened with "…" rather than overlapped
        titles.addWidget(title)
        titles.addWidget(subtitle)
        header.addLayout(titles, 1)
        self.view_mode = SegmentedControl(
            [("before", "Before"), ("after", "After"), ("split", "Split")]
        )
        self.view_mode.setFixedWidth(240)
        self.view_mode.changed.connect(self._set_view_mode)
        header.addWidget(self.view_mode)
        column.addLayout(header)
        self.preview = PreviewWidget()
        self.view_mode.set_value(self.preview.mode)  # the preview opens split
        column.addWidget(self.preview, 1)
        self.stats_strip = StatsStrip()
        column.addWidget(self.stats_strip)
        return column

    def _build_sidebar(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(12)
        body = QWidget()
        body.setObjectName("sidebarBody")
        sections = QVBoxLayout(body)
        sections.setContentsMargins(0, 0, 8, 0)
        sections.setSpacing(12)
        for build in (
            self._build_source,
            self._build_background,
            self._build_person,
            self._build_edges,
            self._build_model,
            self._build_output,
        ):
            sections.addWidget(build())
        sections.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("sidebar")
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(SIDEBAR_WIDTH)
        column.addWidget(scroll, 1)
        column.addWidget(self._build_footer())
        return column

    def _build_source(self) -> Section:
        section = Section("Source")
        self.camera_combo = ComboBox()
        self.camera_combo.activated.connect(self._on_camera_chosen)
        self.refresh_cameras = QToolButton()
        self.refresh_cameras.setIcon(icons.refresh_icon())
        self.refresh_cameras.setToolTip("Look for cameras again")
        self.refresh_cameras.clicked.connect(self._refresh_cameras)
        section.add_row("Camera", self.camera_combo, self.refresh_cameras)
        self.resolution_combo = ComboBox()
        self.resolution_combo.activated.connect(self._on_resolution_chosen)
        section.add_row("Resolution", self.resolution_combo)
        self.fps_combo = ComboBox()
        for fps in FRAME_RATES:
            self.fps_combo.addItem(f"{fps:g} fps", fps)
        self.fps_combo.activated.connect(
            lambda _i: self._change(fps=float(self.fps_combo.currentData()))
        )
        section.add_row("Frame rate", self.fps_combo)
        self.mirror = Toggle()
        self.mirror.toggled.connect(lambda on: self._change(mirror=on))
        section.add_row("Mirror", self.mirror, expand=False)
        self.wait_camera = Toggle()
        self.wait_camera.toggled.connect(lambda on: self._change(wait_for_camera=on))
        tip = (
            "When the camera is missing, send a “No camera” notice and start as soon as it is "
            "plugged in, instead of showing the bundled sample"
        )
        self.wait_camera.setToolTip(tip)
        section.add_row("Wait for camera", self.wait_camera, expand=False).setToolTip(tip)
        return section

    def _build_background(self) -> Section:
        section = Section("Background")
        self.background_tiles = TileGrid(columns=4)
        self.background_tiles.add("passthrough", "None", thumbnails.none_tile())
        self.background_tiles.add("blur", "Blur", thumbnails.blur_tile())
        self.background_tiles.add("colour", "Colour", thumbnails.colour_tile(self.settings.colour))
        self.background_tiles.add("green", "Green", thumbnails.green_tile())
        for name, path in presets().items():
            self.background_tiles.add(
                media.PRESET_PREFIX + name, name.capitalize(), thumbnails.file_thumbnail(path)
            )
        self.background_tiles.add(FILE_TILE, "Your file…", thumbnails.add_file_tile())
        self.background_tiles.clicked.connect(self._on_background_tile)
        section.add(self.background_tiles)

        self.blur_slider = ValueSlider("Blur strength", 1, 101, 1, lambda v: f"{v:.0f} px")
        self.blur_slider.valueChanged.connect(lambda v: self._change(blur_strength=int(v)))
        section.add(self.blur_slider)

        self.colour_button = QPushButton()
        self.colour_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.colour_button.clicked.connect(self._choose_colour)
        self.colour_row = section.add_row("Colour", self.colour_button)

        # A long file name is shortened in the middle; it never widens the column.
        self.background_file = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.background_file.setObjectName("hint")
        change = QPushButton("Change…")
        change.clicked.connect(self._choose_background_file)
        self.background_file_row = section.add_row("File", self.background_file, change)
        return section

    def _build_person(self) -> Section:
        section = Section("Person")
        self.auto_frame = SegmentedControl(
            [("off", "Off"), ("gentle", "Gentle"), ("tight", "Tight")]
        )
        self.auto_frame.changed.connect(lambda mode: self._change(auto_frame=mode))
        self.auto_frame.setToolTip(
            "Crop and zoom the camera picture to keep your head and shoulders framed"
        )
        section.add_row("Auto-framing", self.auto_frame)
        self.main_person = Toggle()
        self.main_person.toggled.connect(lambda on: self._change(main_person_only=on))
        tip = "Treat bystanders and people walking behind you as background"
        self.main_person.setToolTip(tip)
        section.add_row("Main person only", self.main_person, expand=False).setToolTip(tip)
        self.light = Toggle()
        self.light.toggled.connect(lambda on: self._change(light="auto" if on else "off"))
        tip = "Brighten a dark or colour-cast picture of you; the background is left alone"
        self.light.setToolTip(tip)
        section.add_row("Light correction", self.light, expand=False).setToolTip(tip)
        self.light_slider = ValueSlider(
            "Light strength", 0.0, 1.0, 0.05, lambda v: "off" if v == 0 else f"{v * 100:.0f} %"
        )
        self.light_slider.valueChanged.connect(lambda v: self._change(light_strength=v))
        section.add(self.light_slider)
        return section

    def _build_edges(self) -> Section:
        section = Section("Edges")
        self.threshold_slider = ValueSlider(
            "Threshold", 0.0, 1.0, 0.01, lambda v: "soft" if v == 0 else f"{v:.2f}"
        )
        self.threshold_slider.valueChanged.connect(lambda v: self._change(threshold=v))
        self.threshold_slider.setToolTip("How sure the model must be that a pixel is you (0: soft)")
        section.add(self.threshold_slider)
        self.feather_slider = ValueSlider(
            "Feather", 0.0, 20.0, 0.5, lambda v: "off" if v == 0 else f"{v:.1f} px"
        )
        self.feather_slider.valueChanged.connect(lambda v: self._change(feather=v))
        self.feather_slider.setToolTip("Softens the edge of the matte by this many pixels")
        section.add(self.feather_slider)
        section.add(QLabel("Temporal smoothing"))
        self.smoothing_choice = SegmentedControl(
            [
                ("steady", "Steady"),
                ("balanced", "Balanced"),
                ("responsive", "Responsive"),
                ("off", "Off"),
            ]
        )
        self.smoothing_choice.changed.connect(lambda level: self._change(smoothing=level))
        self.smoothing_choice.setToolTip(
            "Where the picture does not change the matte holds still; where you move it "
            "follows at once"
        )
        section.add(self.smoothing_choice)
        self.smoothing_hint = QLabel()
        self.smoothing_hint.setObjectName("hint")
        self.smoothing_hint.setWordWrap(True)
        section.add(self.smoothing_hint)
        self.guided = Toggle()
        self.guided.toggled.connect(lambda on: self._change(guided=on))
        self.guided.setToolTip("Follow the picture's edges when enlarging the matte")
        section.add_row("Edge-aware upscaling", self.guided, expand=False)
        return section

    def _build_model(self) -> Section:
        section = Section("Model")
        self.model_choice = SegmentedControl(
            [("fast", "Fast"), ("quality", "Quality"), ("custom", "Custom…")]
        )
        self.model_choice.changed.connect(self._on_model_chosen)
        section.add(self.model_choice)
        self.model_hint = QLabel()
        self.model_hint.setObjectName("hint")
        self.model_hint.setWordWrap(True)
        policy = self.model_hint.sizePolicy()  # a long model file name is cut, not widening
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.model_hint.setSizePolicy(policy)
        section.add(self.model_hint)
        self.threads_spin = SpinBox()
        self.threads_spin.setRange(0, max(16, os.cpu_count() or 1))
        self.threads_spin.setSpecialValueText("Automatic")
        self.threads_spin.setSuffix(" threads")
        self.threads_spin.setToolTip("Threads for running the model")
        self.threads_spin.valueChanged.connect(lambda n: self._change(threads=n))
        section.add_row("Model threads", self.threads_spin)
        self.frame_threads_spin = SpinBox()
        self.frame_threads_spin.setRange(0, max(16, os.cpu_count() or 1))
        self.frame_threads_spin.setSpecialValueText("Automatic")
        self.frame_threads_spin.setSuffix(" threads")
        self.frame_threads_spin.setToolTip("Threads for refining the matte and compositing")
        self.frame_threads_spin.valueChanged.connect(lambda n: self._change(frame_threads=n))
        section.add_row("Frame threads", self.frame_threads_spin)
        self.provider_combo = ComboBox()
        usable = {"auto", *available_providers()}
        for name in PROVIDERS:
            label = media.PROVIDER_LABELS.get(name, name)
            self.provider_combo.addItem(label if name in usable else f"{label} (not here)", name)
        self.provider_combo.activated.connect(
            lambda _i: self._change(provider=self.provider_combo.currentData())
        )
        section.add_row("Runs on", self.provider_combo)
        self.infer_spin = SpinBox()
        self.infer_spin.setRange(1, 30)
        self.infer_spin.setSpecialValueText("every frame")
        self.infer_spin.setPrefix("every ")
        self.infer_spin.setSuffix(" frames")
        self.infer_spin.valueChanged.connect(lambda n: self._change(infer_every=n))
        section.add_row("Run model", self.infer_spin)
        self.skip_static = Toggle()
        self.skip_static.toggled.connect(lambda on: self._change(skip_static=on))
        self.skip_static.setToolTip("Reuse the matte while the picture does not change")
        section.add_row("Skip still frames", self.skip_static, expand=False)
        return section

    def _build_output(self) -> Section:
        section = Section("Output")
        self.output_choice = SegmentedControl(
            [("virtual", "Virtual camera"), ("file", "Video file")]
        )
        self.output_choice.changed.connect(lambda kind: self._change(output=kind))
        section.add(self.output_choice)
        self.device_combo = ComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.lineEdit().setPlaceholderText("Automatic")
        self.device_combo.addItem("Automatic", "")
        for path, label in loopback_devices():
            self.device_combo.addItem(f"{path} ({label})" if label else path, path)
        self.device_combo.activated.connect(self._on_device_chosen)
        self.device_combo.lineEdit().editingFinished.connect(self._on_device_typed)
        self.device_row = section.add_row("Device", self.device_combo)
        self.output_path = QLineEdit()
        self.output_path.setPlaceholderText(str(recordings_folder() / RECORDING_HINT))
        self.output_path.setToolTip("Empty: each recording gets a new dated file here")
        self.output_path.editingFinished.connect(self._on_output_path_typed)
        browse = QToolButton()
        browse.setIcon(icons.folder_icon())
        browse.setToolTip("Choose where to save the video")
        browse.clicked.connect(self._choose_output_file)
        self.output_file_row = section.add_row("Save to", self.output_path, browse)
        self.on_demand = Toggle()
        self.on_demand.toggled.connect(lambda on: self._change(on_demand=on))
        tip = (
            "While this window is hidden and no app uses the virtual camera, release the camera "
            "and stop the model; they start again when an app opens the camera"
        )
        self.on_demand.setToolTip(tip)
        section.add_row("Idle when unused", self.on_demand, expand=False).setToolTip(tip)
        self.autostart_toggle = Toggle()
        self.autostart_toggle.set_value(bool(autostart.status()))
        self.autostart_toggle.toggled.connect(self._set_autostart)
        tip = "Start vcam in the tray when you log in, with the virtual camera on"
        self.autostart_toggle.setToolTip(tip)
        section.add_row("Start at login", self.autostart_toggle, expand=False).setToolTip(tip)
        return section

    def _build_footer(self) -> QWidget:
        footer = QWidget()
        footer.setObjectName("footer")
        footer.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        footer.setFixedWidth(SIDEBAR_WIDTH - 8)
        layout = QVBoxLayout(footer)
        layout.setContentsMargins(14, 14, 14, 12)
        layout.setSpacing(8)
        self.start_button = QPushButton()
        self.start_button.setObjectName("primary")
        self.start_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.start_button.clicked.connect(self.toggle_output)
        layout.addWidget(self.start_button)
        self.pause_button = QPushButton("Pause camera")
        self.pause_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.pause_button.setToolTip("Turn the camera off; the video shows “Camera paused”")
        self.pause_button.clicked.connect(self.toggle_pause)
        layout.addWidget(self.pause_button)
        self.output_status = QLabel()
        self.output_status.setObjectName("hint")
        self.output_status.setWordWrap(True)
        self.output_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.output_status)
        return footer

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.status_message = ElidedLabel()
        self.status_message.setObjectName("message")
        self.source_info = QLabel()
        self.stats_label = QLabel("—")
        bar.addWidget(self.status_message, 1)
        bar.addPermanentWidget(self.source_info)
        bar.addPermanentWidget(self.stats_label)

    def _make_tray(self) -> QSystemTrayIcon | None:
        """A tray icon with start/stop, when the desktop has a tray (else None)."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            log.info("no system tray here: the panel runs without a tray icon")
            return None
        tray = QSystemTrayIcon(icons.app_icon(), self)
        menu = QMenu(self)
        show = QAction("Show vcam", menu)
        show.triggered.connect(self._show_window)
        self.tray_toggle = QAction("Start virtual camera", menu)
        self.tray_toggle.triggered.connect(self.toggle_output)
        self.tray_pause = QAction("Pause camera", menu)
        self.tray_pause.triggered.connect(self.toggle_pause)
        quit_action = QAction("Quit", menu)
        quit_action.triggered.connect(self.close)
        menu.addAction(show)
        menu.addAction(self.tray_toggle)
        menu.addAction(self.tray_pause)
        menu.addSeparator()
        menu.addAction(quit_action)
        tray.setContextMenu(menu)
        tray.setToolTip("vcam")
        tray.activated.connect(
            lambda reason: (
                self._show_window() if reason == QSystemTrayIcon.ActivationReason.Trigger else None
            )
        )
        tray.show()
        return tray

    def _show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # =========================================================================================
    # Dialogs (methods, so tests can answer them)

    def ask_open_file(self, title: str, filters: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, title, "", filters)
        return path

    def ask_save_file(self, title: str, filters: str) -> str:
        suggested = str(new_recording_path())
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, filters)
        return path

    def ask_colour(self, initial: str) -> str:
        colour = QColorDialog.getColor(QColor(initial), self, "Background colour")
        return colour.name() if colour.isValid() else ""

    # =========================================================================================
    # Settings: change, apply, save

    def _change(self, **changes: object) -> None:
        """Apply ``changes`` to the settings (validated), save them and send them live."""
        try:
            new = self.settings.replace(**changes)
        except SettingsError as error:
            self.show_message(str(error), "error", cause="settings")
            self._sync_controls()
            return
        before = self._target()
        if {"output", "output_path", "virtual_device"} & set(changes):
            self._output_error = ""  # a new output choice: the old output's problem is moot
            self._saved_recording = None
            self._clear_message("output")
        if self.state.choose(new, list(changes)):
            self._schedule_save()
        if "on_demand" in changes and self.ondemand is not None:
            self.ondemand.set_enabled(self.settings.on_demand)
        self._sync_controls()
        if self._target() != before:
            self._push()
        self._refresh_output()

    def _target(self) -> Settings:
        """What the pipeline should run (see ``PanelState.target``)."""
        return self.state.target(self._recording_path)

    def _recording_path(self) -> Path:
        """The file (or PNG folder) the recording goes to: the one chosen, else a dated one in
        the recordings folder, fixed when the recording starts."""
        if self.settings.output_path:
            return Path(self.settings.output_path)
        if self._recording is None:
            self._recording = new_recording_path(self.settings.output)
        return self._recording

    def _on_output_path_typed(self) -> None:
        """A typed file name or relative path goes into the recordings folder."""
        text = self.output_path.text().strip()
        if text:
            path = Path(text).expanduser()
            text = str(path if path.is_absolute() else recordings_folder() / path)
        self._change(output_path=text)

    def _push(self) -> None:
        if self.engine is not None:
            self.engine.apply(self._target())

    def _schedule_save(self) -> None:
        self._save_timer.start()

    def save_now(self) -> None:
        """Write the settings file now (it is also written shortly after every change)."""
        self._save_timer.stop()
        try:
            save_panel_settings(self.settings, self.settings_file)
        except SettingsError as error:
            self.show_message(str(error), "error", cause="save")
        else:
            self._clear_message("save")

    def _on_result(self, result: ApplyResult) -> None:
        """The worker applied (or refused) a request: show what actually runs."""
        if self.state.take_result(result.requested, result.applied, result.error_kind):
            self._schedule_save()
        wanted_output = result.requested.output != "none"
        error = result.error
        if wanted_output and (not result.running or result.applied.output == "none"):
            self.output_on = False  # the output could not start
            # A virtual camera that will not open leaves the preview running, with a warning.
            warning = warning_text(self.engine.pipeline.status)
            error = error or warning or "the output did not start"
        self._output_pending = False
        if error:
            about_output = result.error_kind in OUTPUT_ERRORS or (
                wanted_output and not self.output_on
            )
            self.show_message(error, "error", cause="output" if about_output else "settings")
            if about_output:
                self._output_error = error
            if not result.running:
                self.preview.clear(result.error)
        else:  # what was asked runs: an earlier refusal or output problem is over
            self._clear_message("settings")
            if self.output_on:
                self._output_error = ""
                self._clear_message("output")
        self._sync_controls()
        self._refresh_output()

    def _on_status(self, status) -> None:
        if status.state == "starting":
            self.preview.set_placeholder("Starting…")
            self.show_message("Starting…")
        elif status.state == "running":
            self._may_restart = True
            self._show_model_hint()  # the loaded model's size, precision and device
            if self.state.camera_is_back(self.engine.pipeline.settings.source):
                self._sync_controls()
            self.show_message("Live: " + status_text(status).replace(" -> ", " → "))
            self._clear_message("camera")
            self._clear_message("run", later=True)  # a restart: keep the why for a while
            if status.warning:
                self._output_dropped(warning_text(status))
        elif status.state in ("idle", "paused"):
            self.show_message(status.message)  # "idle: no app is using the camera"
        elif status.state == "reconnecting":
            self.show_message(status_text(status), "warning", cause="camera")
        elif status.state == "error":
            message = status_text(status)
            self.show_message(message, "error", cause="run")
            if not self.engine.pipeline.running:
                self._recover(message)
        elif status.state == "ended":
            self.show_message(f"{status.message}: choose a source to continue", "warning")
        if self.tray is not None:
            self.tray.setToolTip(f"vcam · {status.message or status.state}")
        self._refresh_output()

    def _output_dropped(self, warning: str) -> None:
        """The engine ran on without an output that failed (e.g. the virtual camera was
        unplugged): show why and turn the Start button back."""
        pipeline = self.engine.pipeline
        if self.output_on and not self._output_pending and pipeline.settings.output == "none":
            self.output_on = False
            self._output_error = warning
        self.show_message(warning, "warning", cause="output")

    def _recover(self, message: str) -> None:
        """The run stopped on an error (an output or the camera failed): turn the output off
        and start the preview again, once per successful run (so a failing start cannot
        loop)."""
        self.preview.clear(message)
        if self.output_on:
            self.output_on = False
            self._output_error = message
        if self._may_restart:
            self._may_restart = False
            self._push()

    # =========================================================================================
    # Controls -> settings

    def _set_view_mode(self, mode: str) -> None:
        self.preview.set_mode(mode)

    def _on_camera_chosen(self, index: int) -> None:
        kind, _, value = str(self.camera_combo.itemData(index) or "").partition(":")
        if kind == "camera":
            self._change(source="camera", camera=str(value))
        elif kind == "sample":
            self._change(source="sample")
        elif kind == "input":
            self._change(source=media.media_kind(value), input_path=value)
        elif kind == "open":
            path = self.ask_open_file("Open a video or image", INPUT_FILTER)
            if path:
                self._change(source=media.media_kind(path), input_path=path)
            else:
                self._sync_controls()
        else:
            self._sync_controls()

    def _on_resolution_chosen(self, index: int) -> None:
        width, height = (int(n) for n in self.resolution_combo.itemData(index).split("x"))
        self._change(width=width, height=height)

    def _refresh_cameras(self) -> None:
        self.refresh_cameras.setEnabled(False)
        self.show_message("Looking for cameras…")
        self.engine.find_cameras()

    def _on_cameras(self, cameras: list) -> None:
        """The camera list arrived: fill the combo; with no camera, show the sample."""
        first = not self._cameras_known
        self._cameras, self._cameras_known = list(cameras), True
        self.refresh_cameras.setEnabled(True)
        changed, saved = self.state.take_cameras([c.device for c in self._cameras], first)
        if saved:
            self._schedule_save()
        if not self._cameras:
            note = self.state.no_camera_note()
            self.show_message("No camera found" + note, "warning" if note else "", cause="cameras")
        else:
            self._clear_message("cameras")
            self.show_message(f"Cameras found: {len(self._cameras)}")
        self._sync_controls()
        if changed:
            self._push()

    def _on_background_tile(self, key: str) -> None:
        if key == FILE_TILE:
            self._choose_background_file()
        elif media.is_preset(key):
            self._change(background="image", background_path=key)
        else:
            self._change(background=key)

    def _choose_background_file(self) -> None:
        path = self.ask_open_file("Choose a background image or video", IMAGE_FILTER)
        if path:
            self._change(background=media.media_kind(path), background_path=path)

    def _choose_colour(self) -> None:
        colour = self.ask_colour(self.settings.colour)
        if colour:
            self._change(background="colour", colour=colour)

    def _on_model_chosen(self, key: str) -> None:
        if key != "custom":
            self._change(model=key)
            return
        path = self.ask_open_file("Choose an MMNet model", "ONNX models (*.onnx)")
        if path:
            self._change(model=path)
        else:
            self._sync_controls()

    def _on_device_chosen(self, index: int) -> None:
        self._change(virtual_device=self.device_combo.itemData(index) or "")

    def _on_device_typed(self) -> None:
        text = self.device_combo.currentText().strip()
        if text == "Automatic":
            text = ""
        for index in range(self.device_combo.count()):
            if self.device_combo.itemText(index) == text:
                text = self.device_combo.itemData(index) or ""
        self._change(virtual_device=text)

    def _choose_output_file(self) -> None:
        path = self.ask_save_file("Save the video as", "Videos (*.mp4 *.avi)")
        if path:
            self._change(output="file", output_path=path)

    def toggle_output(self) -> None:
        """Start or stop the virtual camera (or the file recording)."""
        if self.output_on:
            self.output_on = False
            if self.settings.output in ("file", "png"):
                self._saved_recording = self._recording_path()
        else:
            if self.settings.output not in ("virtual", "file", "png"):
                self.settings = self.settings.replace(output="virtual")
                self._schedule_save()
            self.output_on = True
            self._output_error = ""
            self._recording = self._saved_recording = None  # a new dated file each time
        self._output_pending = True
        self._push()
        self._refresh_output()

    # =========================================================================================
    # Settings -> controls

    def _sync_controls(self) -> None:
        """Show ``self.settings`` in every control (without triggering changes)."""
        s = self.settings
        self._fill_camera_combo()
        self._fill_resolution_combo()
        blockers = [
            QSignalBlocker(w)
            for w in (
                self.fps_combo,
                self.threads_spin,
                self.frame_threads_spin,
                self.infer_spin,
                self.provider_combo,
                self.device_combo,
                self.output_path,
            )
        ]
        index = self.fps_combo.findData(s.fps)
        if index < 0:
            self.fps_combo.addItem(f"{s.fps:g} fps", s.fps)
            index = self.fps_combo.count() - 1
        self.fps_combo.setCurrentIndex(index)
        file_source = s.source in ("video", "image") and not self.state.no_camera
        self.resolution_combo.setEnabled(not file_source)
        self.fps_combo.setEnabled(s.source != "video" or self.state.no_camera)
        self.mirror.set_value(s.mirror)
        self.wait_camera.set_value(s.wait_for_camera)
        self.on_demand.set_value(s.on_demand)

        self.background_tiles.set_value(self._background_key())
        self.background_tiles.tiles["colour"].set_picture(thumbnails.colour_tile(s.colour))
        self.blur_slider.set_value(s.blur_strength)
        self.blur_slider.setVisible(s.background == "blur")
        self.colour_button.setText(s.colour.upper())
        self.colour_button.setIcon(icons.swatch_icon(s.colour))
        self.colour_row.setVisible(s.background == "colour")
        custom = self._background_key() == FILE_TILE
        self.background_file_row.setVisible(custom)
        if custom:
            self.background_file.setText(Path(s.background_path).name)
            self.background_file.setToolTip(s.background_path)
            if s.background_path != self._last_file_background:
                self._last_file_background = s.background_path
                picture = thumbnails.file_thumbnail(s.background_path)
                self.background_tiles.tiles[FILE_TILE].set_picture(
                    picture or thumbnails.add_file_tile()
                )

        self._sync_person()
        self.threshold_slider.set_value(s.threshold)
        self.feather_slider.set_value(s.feather)
        self.smoothing_choice.set_value(s.smoothing)
        self.smoothing_hint.setText(SMOOTHING_HINTS[s.smoothing])
        self.guided.set_value(s.guided)

        model_key = s.model if s.model in media.MODEL_NAMES else "custom"
        self.model_choice.set_value(model_key)
        self._show_model_hint()
        self.threads_spin.setValue(s.threads)
        self.frame_threads_spin.setValue(s.frame_threads)
        self.infer_spin.setValue(s.infer_every)
        self.provider_combo.setCurrentIndex(max(0, self.provider_combo.findData(s.provider)))
        self.skip_static.set_value(s.skip_static)

        self.output_choice.set_value("file" if s.output in ("file", "png") else "virtual")
        index = self.device_combo.findData(s.virtual_device)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        else:
            self.device_combo.setEditText(s.virtual_device)
        self.output_path.setText(s.output_path)
        is_file = s.output in ("file", "png")
        self.device_row.setVisible(not is_file)
        self.output_file_row.setVisible(is_file)
        del blockers

    def _sync_person(self) -> None:
        s = self.settings
        self.auto_frame.set_value(s.auto_frame)
        self.main_person.set_value(s.main_person_only)
        self.light.set_value(s.light != "off")
        self.light_slider.set_value(s.light_strength)
        self.light_slider.setVisible(s.light != "off")

    def _background_key(self) -> str:
        s = self.settings
        if s.background in ("image", "video"):
            name = media.preset_name(s.background_path)
            if name is not None:
                return media.PRESET_PREFIX + name
            return FILE_TILE
        return s.background

    def _fill_camera_combo(self) -> None:
        """Cameras found, the sample, the chosen file and "Open…"; the source selected."""
        s = self.settings
        items: list[tuple[str, str]] = []  # (text, data); data "" marks a disabled note
        if not self._cameras_known:
            items.append(("Looking for cameras…", ""))
        elif not self._cameras:
            items.append(("No camera found", ""))
        selected = ""
        for camera in self._cameras:
            label = camera.label or f"Camera {camera_key(camera.device)}"
            items.append((f"{label} · {camera.width}×{camera.height}", f"camera:{camera.device}"))
            if s.source == "camera" and camera_key(camera.device) == camera_key(s.camera):
                selected = f"camera:{camera.device}"
        stand_in = self.state.sample_stands_in
        if s.source == "camera" and not selected and not stand_in:
            selected = f"camera:{s.camera}"
            waiting = " · waiting" if self.state.no_camera else ""
            items.append((f"Camera {s.camera}{waiting}", selected))
        items.append(("-", "-"))
        items.append(("Bundled sample", "sample:"))
        if s.source == "sample" or stand_in:
            selected = "sample:"
        if s.source in ("video", "image") and s.input_path:
            selected = f"input:{s.input_path}"
            name = self.camera_combo.fontMetrics().elidedText(
                Path(s.input_path).name, Qt.TextElideMode.ElideMiddle, NAME_WIDTH
            )
            items.append((f"File · {name}", selected))
        items.append(("Open video or image…", "open:"))
        _set_items(self.camera_combo, items, selected)
        index = self.camera_combo.findData(selected) if selected.startswith("input:") else -1
        if index >= 0:  # the whole path on hovering
            self.camera_combo.setItemData(index, s.input_path, Qt.ItemDataRole.ToolTipRole)
        self.camera_combo.setToolTip(s.input_path if index >= 0 else "")

    def _fill_resolution_combo(self) -> None:
        s = self.settings
        sizes = list(RESOLUTIONS)
        if (s.width, s.height) not in sizes:
            sizes.append((s.width, s.height))
        items = [(f"{width} × {height}", f"{width}x{height}") for width, height in sizes]
        _set_items(self.resolution_combo, items, f"{s.width}x{s.height}")

    def _show_model_hint(self) -> None:
        model = self.settings.model
        try:
            path = resolve_model(model)
        except VcamError as error:
            self.model_hint.setText(one_line(error))
            set_level(self.model_hint, "warning")
            return
        detail = "quick, for slower laptops" if model == "fast" else "sharper edges, more CPU"
        if model not in media.MODEL_NAMES:
            detail = "your own model file"
        info = self.engine.pipeline.model_info if self.engine is not None else None
        if info is not None and info.path == path:  # what runs: size, precision, device
            height, width = info.input_size
            self.model_hint.setText(f"{info.line()}\n{detail}")
            self.model_hint.setToolTip(
                f"{path}\ninput {width} wide × {height} high, {info.precision}, "
                f"runs on {', '.join(info.providers)}"
            )
        else:
            self.model_hint.setText(f"{path.name} · {detail}")
            self.model_hint.setToolTip(str(path))
        set_level(self.model_hint, "")

    def _refresh_output(self) -> None:
        """The Start/Stop button, the output status line and the tray's menu."""
        s = self.settings
        is_file = s.output in ("file", "png")
        running = self.engine is not None and self.engine.pipeline.running
        live = self.output_on and running and not self._output_pending
        if self._output_pending:
            text = "Stopping…" if not self.output_on else "Starting…"
        elif self.output_on:
            text = "Stop recording" if is_file else "Stop virtual camera"
        else:
            text = "Start recording" if is_file else "Start virtual camera"
        self.start_button.setText(text)
        self.start_button.setIcon(icons.camera_icon(recording=self.output_on))
        self.start_button.setEnabled(not self._output_pending)
        self.start_button.setProperty("live", self.output_on)
        self.start_button.style().unpolish(self.start_button)
        self.start_button.style().polish(self.start_button)
        if self._output_error and not self.output_on:
            self.output_status.setText(self._output_error)
            set_level(self.output_status, "error")
        elif live:
            where = self._output_name()
            self.output_status.setText(f"● Live — {where}")
            set_level(self.output_status, "ok")
        elif is_file and self._saved_recording is not None and not self.output_on:
            self.output_status.setText(f"Saved {self._saved_recording}")
            set_level(self.output_status, "ok")
        elif is_file:
            where = s.output_path or str(recordings_folder() / RECORDING_HINT)
            self.output_status.setText(f"Recording is off · it will be saved to {where}")
            set_level(self.output_status, "")
        else:
            self.output_status.setText("Virtual camera is off")
            set_level(self.output_status, "")
        self.preview.set_badge("LIVE" if live and not is_file else "REC" if live else "")
        recording = self.output_on and is_file
        if recording != self._recording_live:
            self._recording_live = recording  # a recording is watched: never idle
            if self.ondemand is not None:
                self.ondemand.poke()
        if self.tray is not None:
            self.tray_toggle.setText(text)
            self.tray.setIcon(icons.app_icon(live=live))

    def _output_name(self) -> str:
        s = self.settings
        if s.output in ("file", "png"):
            return f"recording to {self._recording_path()}"
        for sink in self.engine.pipeline.sinks:
            if isinstance(sink, VirtualCameraSink) and sink.device_name:
                return f"sending to {sink.device_name}"
        return "sending to the virtual camera"

    # =========================================================================================
    # Preview, status line and stats

    def _show_frame(self) -> None:
        frame = self.engine.mailbox.take()
        if frame is not None:
            self.preview.show_frame(frame)

    def show_message(self, text: str, level: str = "", cause: str = "") -> None:
        """A message in the status line; an error or warning is not hidden by ordinary news for
        a while. ``cause`` names what an error or warning is about ("output", "settings",
        "camera" lost, no "cameras" found, "run", "save"): it goes as soon as that is fixed
        (``_clear_message``)."""
        now = time.monotonic()
        problem = level in ("error", "warning")
        if not problem:
            self._news = text
            if now < self._error_until:
                return
        self._error_until = now + ERROR_HOLD_S if problem else 0.0
        self._message_cause = cause if problem else ""
        self.status_message.setText(text)
        set_level(self.status_message, level)

    def _clear_message(self, *causes: str, later: bool = False) -> None:
        """The problem the status line shows (if it is about one of ``causes``) is over: show
        the latest news instead, at once, or with ``later`` once it has been shown for
        ``ERROR_HOLD_S`` (a restart after a failure: the why stays readable)."""
        if not self._message_cause or self._message_cause not in causes:
            return
        wait = self._error_until - time.monotonic()
        if later and wait > 0:
            self._clear_timer.start(int(wait * 1000) + 50)
            return
        self._error_until, self._message_cause = 0.0, ""
        self.status_message.setText(self._news)
        set_level(self.status_message, "")

    def _show_stats(self) -> None:
        pipeline = self.engine.pipeline
        if not pipeline.running:
            self.stats_label.setText("—")
            self.source_info.setText("")
            self.stats_strip.set_snapshot(None, self.settings.fps)
            return
        snap = pipeline.snapshot()
        source = pipeline.source
        self.stats_strip.set_snapshot(snap, source.fps if source is not None else self.settings.fps)
        ms = snap.stage_ms
        model = (ms.get("preprocess") or 0.0) + (ms.get("inference") or 0.0)
        parts = [f"{snap.fps:.0f} fps"]
        if "inference" in ms:
            parts.append(f"model {model:.0f} ms")
        for stage in ("refine", "composite"):
            if stage in ms:
                parts.append(f"{stage} {ms[stage]:.0f} ms")
        if "latency" in ms:
            parts.append(f"latency {ms['latency']:.0f} ms")
        self.stats_label.setText("  ·  ".join(parts))
        if pipeline.status.state == "reconnecting":
            self.source_info.setText(f"{source} · waiting")
        elif source is not None:
            self.source_info.setText(f"{source} · {source.width}×{source.height}")

    # =========================================================================================
    # Everyday use: pause, idle, start at login, the remote control

    def toggle_pause(self) -> None:
        self.set_camera_paused(not self.camera_paused)

    def set_camera_paused(self, paused: bool) -> None:
        """The privacy pause: the camera is released and the preview and the virtual camera
        show "Camera paused" until resumed."""
        if paused != self.camera_paused:
            self.camera_paused = paused
            self.engine.set_camera_paused(paused)
        text = "Resume camera" if paused else "Pause camera"
        self.pause_button.setText(text)
        self.pause_button.setProperty("live", paused)
        self.pause_button.style().unpolish(self.pause_button)
        self.pause_button.style().polish(self.pause_button)
        if self.tray is not None:
            self.tray_pause.setText(text)

    def start_in_tray(self) -> None:
        """As at login (``vcam ui --tray``): the virtual camera on (unless the output is a
        file) and the window hidden in the tray, or minimised where there is no tray."""
        if not self.output_on and self.settings.output not in ("file", "png"):
            self.toggle_output()
        if self.tray is not None:
            self.hide()
        else:
            self.showMinimized()

    def _watching(self) -> bool:
        """(Any thread) whether someone watches besides the virtual camera's apps: the window
        on screen, or a recording."""
        return self._shown or self._recording_live

    def _note_shown(self) -> None:
        shown = self.isVisible() and not self.isMinimized()
        if shown != self._shown:
            self._shown = shown
            if self.ondemand is not None:
                self.ondemand.poke()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._note_shown()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        self._note_shown()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            self._note_shown()

    def _on_demand_note(self, note: str) -> None:
        """The platform cannot tell who reads the virtual camera: it stays on."""
        self.on_demand.setToolTip(note)
        self.show_message(note)

    def _set_autostart(self, on: bool) -> None:
        """The "Start at login" switch: write or remove the panel's login entry."""
        named = self.settings_file if self.settings_file != settings_path() else None
        try:
            if on:
                entry = autostart.enable("panel", settings_file=named)
                self.show_message(f"Starts at login: {entry.where}")
            else:
                removed = autostart.disable()
                if removed:
                    self.show_message("No longer starts at login")
        except VcamError as error:
            self.show_message(one_line(error), "error", cause="settings")
        self.autostart_toggle.set_value(bool(autostart.status()))

    def remote(self, request: dict) -> dict:
        """Carry out a ``vcam ctl`` request (in the UI thread; ``ui.remote`` calls it) and
        return the reply's fields. A change that cannot work raises its one-line error."""
        command = request["cmd"]
        if command == "toggle-pause":
            command = "resume" if self.camera_paused else "pause"
        if command in ("pause", "resume"):
            self.set_camera_paused(command == "pause")
        elif command == "show":
            self._show_window()
        elif command == "stop":
            QTimer.singleShot(0, self.close)
        else:
            changes = setting_changes(request, self.settings)
            new = self.settings.replace(**changes)  # SettingsError names the field
            if new.background in ("image", "video"):
                path = resolve_path(new.background_path)  # an unknown preset is an error
                if not path.is_file():
                    raise BackgroundError(f"background {path} not found")
            self._change(**changes)
        return self.remote_status(stopping=command == "stop")

    def remote_status(self, stopping: bool = False) -> dict:
        """The panel's state for ``vcam ctl status``."""
        pipeline = self.engine.pipeline
        status = pipeline.status
        state = "stopping" if stopping else "paused" if self.camera_paused else status.state
        message = "Camera paused" if state == "paused" else status_text(status)
        return {
            "app": "panel",
            "pid": os.getpid(),
            "state": state,
            "message": message,
            "paused": self.camera_paused,
            "idle": pipeline.idle,
            "virtual_camera": self.output_on,
            "fps": round(pipeline.snapshot().fps, 1),
            **status_fields(self.settings),
        }

    # =========================================================================================
    # Closing

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Save, stop capture (threads joined, camera released), then close."""
        self._stats_timer.stop()
        self.save_now()
        if self.ondemand is not None:
            self.ondemand.stop()
        self.engine.shutdown()
        if self.tray is not None:
            self.tray.hide()
        event.accept()
        self.closed.emit()
