"""vcam: real-time background removal for video calls, on the CPU.

The public API is what ``__all__`` names; everything else is internal and may change::

    from vcam import Pipeline, Settings, PreviewSink

    with Pipeline(Settings(background="blur"), sinks=[PreviewSink(show)]) as pipeline:
        ...
        pipeline.update(pipeline.settings.replace(background="colour", colour="#00b140"))

- Settings and errors (``Settings``, ``load_settings``, ``save_settings``, ``settings_path``,
  ``VcamError`` and its kinds) come with ``import vcam``.
- The engine (``Pipeline``, ``convert_video``, the sources, sinks and backgrounds, the model)
  is imported when one of its names is first used: it loads numba, OpenCV, onnxruntime and
  pyvirtualcam (about 0.4 s and 120 MB), which ``vcam ctl`` (run from keyboard shortcuts) and
  a settings-only caller never need. Extension points: :class:`FrameSource`, :class:`Sink`
  and :class:`Background` say what a new source, output or backdrop must do.

Nothing here imports torch or Qt.
"""

from __future__ import annotations

from typing import Any

from vcam.errors import (
    BackgroundError,
    CameraError,
    InputError,
    ModelError,
    OutputError,
    SettingsError,
    VcamError,
    VirtualCameraError,
)
from vcam.settings import Settings, load_settings, save_settings, settings_path

__version__ = "0.1.0"

_ENGINE = (
    "Pipeline",
    "Status",
    "StatsSnapshot",
    "ConvertReport",
    "convert_video",
    "process",
    "Matter",
    "ModelInfo",
    "resolve_model",
    "Refiner",
    "Background",
    "make_background",
    "Frame",
    "FrameSource",
    "CameraSource",
    "VideoSource",
    "ImageSource",
    "SampleSource",
    "find_cameras",
    "OutputFrame",
    "Sink",
    "VirtualCameraSink",
    "VideoFileSink",
    "PngSink",
    "ImageFileSink",
    "PreviewSink",
)

__all__ = [
    "__version__",
    "Settings",
    "load_settings",
    "save_settings",
    "settings_path",
    "VcamError",
    "SettingsError",
    "CameraError",
    "InputError",
    "ModelError",
    "BackgroundError",
    "VirtualCameraError",
    "OutputError",
    *_ENGINE,
]


def _engine() -> dict[str, Any]:
    """The engine's public names (importing it: see the module notes)."""
    from vcam.backgrounds import Background, make_background
    from vcam.convert import ConvertReport, convert_video, process
    from vcam.matting import Matter, ModelInfo, resolve_model
    from vcam.pipeline import Pipeline, Status
    from vcam.refine import Refiner
    from vcam.sinks import (
        ImageFileSink,
        OutputFrame,
        PngSink,
        PreviewSink,
        Sink,
        VideoFileSink,
        VirtualCameraSink,
    )
    from vcam.sources import (
        CameraSource,
        Frame,
        FrameSource,
        ImageSource,
        SampleSource,
        VideoSource,
        find_cameras,
    )
    from vcam.stats import StatsSnapshot

    return dict(
        Pipeline=Pipeline,
        Status=Status,
        StatsSnapshot=StatsSnapshot,
        ConvertReport=ConvertReport,
        convert_video=convert_video,
        process=process,
        Matter=Matter,
        ModelInfo=ModelInfo,
        resolve_model=resolve_model,
        Refiner=Refiner,
        Background=Background,
        make_background=make_background,
        Frame=Frame,
        FrameSource=FrameSource,
        CameraSource=CameraSource,
        VideoSource=VideoSource,
        ImageSource=ImageSource,
        SampleSource=SampleSource,
        find_cameras=find_cameras,
        OutputFrame=OutputFrame,
        Sink=Sink,
        VirtualCameraSink=VirtualCameraSink,
        VideoFileSink=VideoFileSink,
        PngSink=PngSink,
        ImageFileSink=ImageFileSink,
        PreviewSink=PreviewSink,
    )


def __getattr__(name: str) -> Any:
    if name not in _ENGINE:
        raise AttributeError(f"module 'vcam' has no attribute {name!r}")
    globals().update(_engine())
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(__all__)
