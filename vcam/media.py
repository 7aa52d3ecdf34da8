"""Media kinds and the fixed names vcam uses, each decided here once.

A file is an image when its extension is a known image one (:data:`IMAGE_SUFFIXES`) and a
video otherwise: OpenCV's video reader opens many more formats than the listed ones and says
clearly when it cannot. Light on purpose (no OpenCV, numpy or onnxruntime): the command line
and the panel import it to decide before anything is opened.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
ALPHA_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".webp")  # image files that keep transparency

PRESET_PREFIX = "preset:"  # "preset:NAME" names a bundled background picture
MODEL_NAMES = ("fast", "quality")  # the bundled models; any other model is a file path
PROVIDER_LABELS = {  # execution providers (vcam.settings.PROVIDERS) as people read them
    "cpu": "CPU",
    "auto": "Automatic",
    "cuda": "CUDA",
    "directml": "DirectML",
    "coreml": "Core ML",
}

DEFAULT_VIDEO_OUTPUT = "vcam-output.mp4"  # the "file" output when no path is given
DEFAULT_PNG_OUTPUT = "vcam-frames"  # the "png" output's folder when no path is given
SAMPLE_OUTPUT = "vcam-sample.mp4"  # what ``vcam sample`` writes by default


def suffix(path: str | Path) -> str:
    """The file extension of ``path``, lower case with its dot ("" when none)."""
    return Path(path).suffix.lower()


def is_image(path: str | Path) -> bool:
    """Whether ``path`` has a known image extension."""
    return suffix(path) in IMAGE_SUFFIXES


def is_video(path: str | Path) -> bool:
    """Whether ``path`` has a known video extension."""
    return suffix(path) in VIDEO_SUFFIXES


def media_kind(path: str | Path) -> str:
    """ "image" for a known image extension, else "video" (see the module notes)."""
    return "image" if is_image(path) else "video"


def preset_name(text: str) -> str | None:
    """The NAME of a ``"preset:NAME"`` reference (any case, spaces trimmed), else None."""
    text = str(text).strip()
    if not text.lower().startswith(PRESET_PREFIX):
        return None
    return text[len(PRESET_PREFIX) :].strip()


def is_preset(text: str) -> bool:
    """Whether ``text`` names a bundled background (``"preset:NAME"``)."""
    return preset_name(text) is not None
