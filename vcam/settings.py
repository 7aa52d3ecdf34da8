"""One typed, validated ``Settings`` object shared by the command line, the panel and files.

Settings are immutable: change them with ``settings.replace(field=value)``, which validates
again. They are saved as JSON in the user's config folder (``$VCAM_CONFIG_DIR`` overrides it),
written atomically; a corrupt file is moved aside with a warning, never silently overwritten.

One rule says what the panel and the command line share: the panel's camera and output
(``PANEL_FIELDS``: its Source and Output cards) are the panel's own, kept in
``settings.panel.json`` (:func:`panel_settings_path`); the look and the model (the Background,
Edges and Model cards) live in ``settings.json`` for both.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import reprlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcam import media
from vcam.errors import SettingsError

log = logging.getLogger(__name__)

SOURCE_KINDS = ("camera", "video", "image", "sample")
BACKGROUND_KINDS = ("blur", "image", "video", "colour", "green", "passthrough")
OUTPUT_KINDS = ("virtual", "file", "png", "none")
PROVIDERS = ("cpu", "auto", "cuda", "directml", "coreml")
AUTO_FRAME_MODES = ("off", "gentle", "tight")  # vcam.framing.STYLES has the last two
LIGHT_MODES = ("off", "auto")
SMOOTHING_LEVELS = ("off", "responsive", "balanced", "steady")  # as vcam.temporal.LEVELS
SETTINGS_FILE = "settings.json"
# The panel's own choices (its Source and Output cards), never shared with the command line.
PANEL_FIELDS = (
    "source",
    "camera",
    "input_path",
    "loop",
    "width",
    "height",
    "fps",
    "fourcc",
    "mirror",
    "wait_for_camera",
    "output",
    "output_path",
    "virtual_device",
    "virtual_backend",
    "on_demand",
)
# The panel's own defaults where they differ from the command line's: its virtual camera
# idles while no app uses it unless told otherwise.
PANEL_DEFAULTS = {"on_demand": True}

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxlong, _SHOWN.maxother = 40, 20, 40


def _shown(value: Any) -> str:
    """``value`` for an error message: short, even for a 10 kB string from a broken file."""
    return _SHOWN.repr(value)


_FOURCC = re.compile(r"^[0-9A-Za-z ]{4}$")


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


def _choices(options: tuple[str, ...]) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class Settings:
    """Everything vcam can be told. Each field is checked on construction (``SettingsError``
    names the field)."""

    # Source: where frames come from.
    source: str = field(default="camera", metadata=_choices(SOURCE_KINDS))
    camera: str = "0"  # camera index ("0") or device path ("/dev/video2")
    input_path: str = ""  # the video or image file when source is "video" or "image"
    loop: bool = True  # loop a video file source
    width: int = field(default=1280, metadata=_range(16, 7680))
    height: int = field(default=720, metadata=_range(16, 4320))
    fps: float = field(default=30.0, metadata=_range(1, 240))
    fourcc: str = "MJPG"  # camera pixel format; "" lets the driver choose
    mirror: bool = False
    # No camera when starting or switching: wait for it (the outputs get a "No camera" card)
    # instead of failing. Read by Pipeline at start and on a camera switch.
    wait_for_camera: bool = False

    # Matting: the model and how it runs.
    model: str = "fast"  # "fast", "quality" or a path to an MMNet .onnx file
    # Inference threads (onnxruntime); 0: auto, which is 1 (a second one made MMNet slower when
    # paced like a camera: vcam.pipeline.inference_threads).
    threads: int = field(default=0, metadata=_range(0, 64))
    # Threads of the refine and compositing kernels (numba); 0: auto. Auto is 1 on machines
    # with 2 cores or fewer (two parallel kernels fighting inference for 2 cores ran 5-50x
    # slower), else half the cores, at most 4.
    frame_threads: int = field(default=0, metadata=_range(0, 64))
    provider: str = field(default="cpu", metadata=_choices(PROVIDERS))
    infer_every: int = field(default=1, metadata=_range(1, 30))  # at most every Nth frame
    skip_static: bool = True  # reuse the alpha while the picture barely changes

    # Edges: how the low-resolution alpha becomes the frame's matte.
    threshold: float = field(default=0.5, metadata=_range(0.0, 1.0))
    feather: float = field(default=2.0, metadata=_range(0.0, 50.0))
    # Temporal smoothing: "steady", "balanced", "responsive" or "off" (vcam.temporal). Older
    # settings files hold a number 0..0.95 here; it is read as the nearest level.
    smoothing: str = field(default="balanced", metadata=_choices(SMOOTHING_LEVELS))
    guided: bool = True

    # Background: what replaces the person's surroundings.
    background: str = field(default="blur", metadata=_choices(BACKGROUND_KINDS))
    blur_strength: int = field(default=25, metadata=_range(1, 101))  # sigma px at 720p
    background_path: str = ""  # image or video file for "image" / "video"
    colour: str = "#2e3440"  # "#rrggbb" for the "colour" background

    # Person: effects from the matte (vcam.effects). Auto-framing crops and zooms the camera
    # picture to the main person's head and shoulders; main person only clears bystanders
    # from the matte; light correction lifts a dark or colour-cast person, by light_strength.
    auto_frame: str = field(default="off", metadata=_choices(AUTO_FRAME_MODES))
    main_person_only: bool = False
    light: str = field(default="off", metadata=_choices(LIGHT_MODES))
    light_strength: float = field(default=0.8, metadata=_range(0.0, 1.0))

    # Output: where the result goes.
    output: str = field(default="virtual", metadata=_choices(OUTPUT_KINDS))
    output_path: str = ""  # video file ("file") or folder ("png")
    virtual_device: str = ""  # "" picks any virtual camera device
    virtual_backend: str = ""  # pyvirtualcam backend name; "" tries them all
    # Idle while no app reads the virtual camera: camera released, no inference, a still card
    # (vcam.ondemand; `vcam run --on-demand`, on by default in the panel: PANEL_DEFAULTS).
    on_demand: bool = False

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = _check_field(spec, getattr(self, spec.name))
            object.__setattr__(self, spec.name, value)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (validated; unknown names raise SettingsError)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], strict: bool = True) -> Settings:
        """Settings from ``data``. Unknown keys are ignored with a warning. An invalid value
        raises SettingsError when ``strict``, else is replaced by its default with a warning."""
        if not isinstance(data, dict):
            raise SettingsError("settings must be a JSON object of name: value pairs")
        known = set(field_names())
        for key in sorted(set(data) - known):
            log.warning("ignoring unknown setting %r", key)
        values = {key: value for key, value in data.items() if key in known}
        if strict:
            return cls(**values)
        kept = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in values:
                continue
            try:
                kept[spec.name] = _check_field(spec, values[spec.name])
            except SettingsError as error:
                log.warning("%s; using the default %r", error, spec.default)
        return cls(**kept)

    @property
    def colour_bgr(self) -> tuple[int, int, int]:
        """``colour`` as a (blue, green, red) tuple for OpenCV."""
        return parse_colour(self.colour)


def field_names() -> tuple[str, ...]:
    """The names of all settings, in declaration order."""
    return tuple(spec.name for spec in dataclasses.fields(Settings))


def parse_colour(colour: str | tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """``"#rrggbb"`` (spaces around it allowed) or a (blue, green, red) sequence of 0..255 as
    a (blue, green, red) tuple; SettingsError otherwise."""
    if isinstance(colour, str):
        text = colour.strip()
        if not _HEX_COLOUR.match(text):
            raise SettingsError(f"colour: {_shown(colour)} is not a colour like '#00b140'")
        red, green, blue = (int(text[i : i + 2], 16) for i in (1, 3, 5))
        return blue, green, red
    try:
        values = tuple(int(v) for v in colour)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise SettingsError(
            f"colour: {_shown(colour)} must be '#rrggbb' or three values 0..255 (blue, green, red)"
        )
    return values  # type: ignore[return-value]


def _check_field(spec: dataclasses.Field, value: Any) -> Any:
    """``value`` checked against the field's type and limits (normalised), or SettingsError."""
    name, kind = spec.name, spec.type
    if name == "smoothing" and isinstance(value, int | float) and not isinstance(value, bool):
        value = smoothing_level(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise SettingsError(f"{name}: expected true or false, got {_shown(value)}")
    elif kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{name}: expected a number, got {_shown(value)}")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise SettingsError(f"{name}: expected a whole number, got {_shown(value)}")
            value = int(value)
        else:
            value = float(value)
            if value != value:  # NaN
                raise SettingsError(f"{name}: expected a number, got NaN")
        lo, hi = spec.metadata.get("range", (None, None))
        if lo is not None and not lo <= value <= hi:
            raise SettingsError(f"{name}: {_shown(value)} is out of range {lo}..{hi}")
    elif kind == "str":
        if name == "camera" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise SettingsError(f"{name}: expected text, got {_shown(value)}")
        choices = spec.metadata.get("choices")
        if choices is not None:
            value = value.strip().lower()
            if value not in choices:
                raise SettingsError(f"{name}: {_shown(value)} is not one of {', '.join(choices)}")
        if name == "colour":
            parse_colour(value)
            value = value.strip()
        if name == "fourcc" and value and not _FOURCC.match(value):
            raise SettingsError(
                f"{name}: {_shown(value)} must be four letters or digits, like MJPG"
            )
        if name == "camera" and not value.strip():
            raise SettingsError("camera: give a camera index like 0 or a device path")
    return value


def smoothing_level(strength: float) -> str:
    """The smoothing level nearest to an older settings file's strength (0..1): 0 is "off",
    below 0.25 "responsive", below 0.5 "balanced" (the old default was 0.3), else "steady"."""
    if strength != strength or not 0.0 <= strength <= 1.0:  # NaN or out of range
        raise SettingsError(
            f"smoothing: {_shown(strength)} is not one of {', '.join(SMOOTHING_LEVELS)}"
        )
    if strength == 0.0:
        return "off"
    return "responsive" if strength < 0.25 else "balanced" if strength < 0.5 else "steady"


def config_dir() -> Path:
    """The folder of vcam's settings: $VCAM_CONFIG_DIR, else the platform's config folder."""
    override = os.environ.get("VCAM_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "vcam"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "vcam"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vcam"


def settings_path() -> Path:
    """The default settings file."""
    return config_dir() / SETTINGS_FILE


def load_settings(path: str | Path | None = None, strict: bool = False) -> Settings:
    """Settings from ``path`` (default: the user's settings file).

    Lenient (the default): a missing file gives the defaults; a corrupt file is moved aside
    as ``<name>.corrupt-<timestamp>`` with a warning; invalid values fall back to their
    defaults with a warning. Strict (a file the user named): any problem is a SettingsError.
    """
    path = Path(path).expanduser() if path is not None else settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if strict:
            raise SettingsError(f"settings file {path} does not exist") from None
        return Settings()
    except OSError as error:
        raise SettingsError(f"cannot read settings file {path}: {error.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as error:  # also UnicodeDecodeError, JSONDecodeError
        if strict:
            raise SettingsError(f"settings file {path} is not valid JSON: {error}") from None
        aside = _move_aside(path)
        log.warning("settings file %s was corrupt; moved it to %s and used defaults", path, aside)
        return Settings()
    try:
        return Settings.from_dict(data, strict=strict)
    except SettingsError as error:
        raise SettingsError(f"settings file {path}: {error}") from None


def save_settings(settings: Settings, path: str | Path | None = None) -> Path:
    """Write ``settings`` as JSON atomically (temporary file, then ``os.replace``)."""
    path = Path(path).expanduser() if path is not None else settings_path()
    return _write_json(settings.to_dict(), path)


def shared_fields() -> tuple[str, ...]:
    """The settings the panel shares with the command line: the look and the model."""
    return tuple(name for name in field_names() if name not in PANEL_FIELDS)


def panel_settings_path(path: str | Path | None = None) -> Path:
    """The panel's own camera and output, next to the settings file ``path`` (default: the
    user's): ``settings.panel.json`` beside ``settings.json``."""
    path = Path(path).expanduser() if path is not None else settings_path()
    return path.with_name(f"{path.stem}.panel.json")


def load_panel_settings(path: str | Path | None = None, strict: bool = False) -> Settings:
    """The panel's settings: the shared look and model from the settings file ``path``, its
    own camera and output (``PANEL_FIELDS``) from :func:`panel_settings_path` (from ``path``
    too until the panel has saved once)."""
    shared = load_settings(path, strict=strict)
    own_path = panel_settings_path(path)
    if not own_path.exists():
        return shared.replace(**PANEL_DEFAULTS)
    own = load_settings(own_path)  # lenient: a broken file of the panel's is moved aside
    kept = {name: getattr(own, name) for name in PANEL_FIELDS}
    saved = _saved_names(own_path)  # a file from before a field existed: the panel's default
    kept.update({name: value for name, value in PANEL_DEFAULTS.items() if name not in saved})
    return shared.replace(**kept)


def _saved_names(path: Path) -> set[str]:
    """The names a settings file holds (none when it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def save_panel_settings(settings: Settings, path: str | Path | None = None) -> Path:
    """Save the panel's ``settings``: the look and model into the settings file ``path``
    (its camera and output, the command line's own, kept as they are there), the camera and
    output into :func:`panel_settings_path`. Returns the settings file."""
    path = Path(path).expanduser() if path is not None else settings_path()
    base = load_settings(path) if path.exists() else Settings()
    merged = base.replace(**{name: getattr(settings, name) for name in shared_fields()})
    _write_json({name: getattr(settings, name) for name in PANEL_FIELDS}, panel_settings_path(path))
    return save_settings(merged, path)


def _write_json(data: dict[str, Any], path: Path) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=path.name + ".", delete=False
        ) as handle:
            temp_name = handle.name
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
        temp_name = None
    except OSError as error:
        raise SettingsError(f"cannot save settings to {path}: {error.strerror or error}") from None
    finally:  # also on Ctrl-C: never leave a half-written temporary file behind
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
    return path


def _move_aside(path: Path) -> Path:
    """Rename a corrupt settings file so the next save cannot overwrite it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    try:
        os.replace(path, aside)
    except OSError as error:
        raise SettingsError(f"settings file {path} is corrupt; cannot move it: {error}") from None
    return aside


def background_changes(value: str | None) -> dict[str, object]:
    """A background spec (``--background``, ``vcam ctl background``) as settings: a kind,
    a colour, a preset or a file."""
    if value is None:
        return {}
    if value.lower() in BACKGROUND_KINDS:
        return {"background": value.lower()}
    if value.startswith("#"):
        return {"background": "colour", "colour": value}
    if media.is_preset(value):
        return {"background": "image", "background_path": value}
    if media.is_video(value) or media.is_image(value):
        return {"background": media.media_kind(value), "background_path": value}
    raise SettingsError(
        f"background: {value!r} is not a kind ({', '.join(BACKGROUND_KINDS)}), a colour like "
        "'#00b140' or an image/video file"
    )
