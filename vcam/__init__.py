"""vcam: real-time background removal for video calls, on the CPU.

The public API (imported on first use, so ``import vcam`` stays light)::

    from vcam import Pipeline, Settings, PreviewSink

    with Pipeline(Settings(background="blur"), sinks=[PreviewSink(show)]) as pipeline:
        ...
        pipeline.update(pipeline.settings.replace(background="colour", colour="#00b140"))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "vcam.settings",
    "load_settings": "vcam.settings",
    "save_settings": "vcam.settings",
    "settings_path": "vcam.settings",
    "Pipeline": "vcam.pipeline",
    "Status": "vcam.pipeline",
    "ConvertReport": "vcam.convert",
    "convert_video": "vcam.convert",
    "process": "vcam.convert",
    "Matter": "vcam.matting",
    "ModelInfo": "vcam.matting",
    "resolve_model": "vcam.matting",
    "Refiner": "vcam.refine",
    "make_background": "vcam.backgrounds",
    "Frame": "vcam.sources",
    "FrameSource": "vcam.sources",
    "CameraSource": "vcam.sources",
    "VideoSource": "vcam.sources",
    "ImageSource": "vcam.sources",
    "SampleSource": "vcam.sources",
    "find_cameras": "vcam.sources",
    "OutputFrame": "vcam.sinks",
    "Sink": "vcam.sinks",
    "VirtualCameraSink": "vcam.sinks",
    "VideoFileSink": "vcam.sinks",
    "PngSink": "vcam.sinks",
    "ImageFileSink": "vcam.sinks",
    "PreviewSink": "vcam.sinks",
    "StatsSnapshot": "vcam.stats",
    "VcamError": "vcam.errors",
    "SettingsError": "vcam.errors",
    "CameraError": "vcam.errors",
    "InputError": "vcam.errors",
    "ModelError": "vcam.errors",
    "BackgroundError": "vcam.errors",
    "VirtualCameraError": "vcam.errors",
    "OutputError": "vcam.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vcam' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
