"""Where finished frames go: a virtual camera, a video file, a PNG sequence, an image, a preview.

Every sink has ``open(width, height, fps)`` (raises a one-line VcamError before any thread
starts), ``send(frame)`` with an ``OutputFrame`` and an idempotent ``close()``. Sinks know
nothing of matting: they get the composite, the original frame and the alpha.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyvirtualcam

from vcam import compositor, media
from vcam.errors import OutputError, VcamError, VirtualCameraError

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
LINUX_HINT = (
    "load v4l2loopback: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vcam"
)
FILE_INSTEAD = "or write a file: --output FILE"  # the command line's way around it
FILE_INSTEAD_PANEL = "or choose Video file under Output"  # the panel's


@dataclass(frozen=True)
class OutputFrame:
    """A finished frame: ``image`` the composite (BGR uint8), ``original`` the (mirrored)
    camera frame, ``alpha`` uint8 HxW (255 = person), the source ``index`` and ``timestamp``.
    ``placeholder``: a notice card sent while the camera is lost (``image`` and ``original``
    are the card, ``index`` is -1). With auto-framing or light correction, ``original`` is the
    framed, corrected picture that ``alpha`` fits, and ``raw`` the camera frame before them
    (None when no effect changed the picture)."""

    image: np.ndarray
    original: np.ndarray
    alpha: np.ndarray
    index: int
    timestamp: float
    placeholder: bool = False
    raw: np.ndarray | None = None

    @property
    def camera(self) -> np.ndarray:
        """The camera picture as it came (for a "Before" view)."""
        return self.raw if self.raw is not None else self.original


def fit_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (colour or grey) at ``size`` (width, height): resized when the aspect ratio
    matches (within 1%), else scaled to fit and centred on black bars (never squashed)."""
    height, width = image.shape[:2]
    out_w, out_h = size
    if (width, height) == (out_w, out_h):
        return image
    if abs(width * out_h - height * out_w) <= 0.01 * width * out_h:
        return cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    scale = min(out_w / width, out_h / height)
    new_w = min(out_w, max(1, round(width * scale)))
    new_h = min(out_h, max(1, round(height * scale)))
    canvas = np.zeros((out_h, out_w, *image.shape[2:]), image.dtype)
    top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    return canvas


class Sink:
    """Base of all sinks: ``open``, ``send``, ``close``; a context manager.

    The contract for a new sink (subclass and implement the three hooks):

    - ``_open(width, height, fps)``: acquire the device or file for frames of that size;
      raise a VcamError (``OutputError``, ``VirtualCameraError``) with a one-line message
      when it cannot. Called once, by ``open`` or by the first ``send``.
    - ``_send(frame)``: deliver one :class:`OutputFrame`, quickly: it runs on the pipeline's
      frame thread, once per frame. Use ``self._fitted(image)`` so a frame of another size
      (a camera switch) keeps the size opened with. Must not modify the frame's arrays. A
      failure raises a VcamError: the pipeline then drops this sink (or stops, when it is
      the only one).
    - ``_close()``: finish the file or free the device; called once, only after ``_open``.

    ``name`` names the sink in messages."""

    name = "sink"

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None  # (width, height) once open
        self.fps = 30.0
        self.frames_sent = 0
        self._closed = False

    @property
    def is_open(self) -> bool:
        return self.size is not None and not self._closed

    def open(self, width: int, height: int, fps: float) -> None:
        """Prepare for ``width`` x ``height`` frames at ``fps`` (raises a VcamError)."""
        if self.is_open:
            return
        self._closed = False
        self._open(width, height, fps)
        self.size, self.fps = (width, height), fps

    def send(self, frame: OutputFrame) -> None:
        """Deliver one frame (opens at the frame's size on first use)."""
        if self._closed:
            return
        if self.size is None:
            self.open(frame.image.shape[1], frame.image.shape[0], self.fps)
        self._send(frame)
        self.frames_sent += 1

    def close(self) -> None:
        """Finish and release (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.size is not None:
            self._close()

    def _fitted(self, image: np.ndarray) -> np.ndarray:
        """``image`` at the size the sink was opened with: after a camera switch or a
        resolution change the output keeps its size (letterboxed when the shape differs)."""
        if self.size is None:
            return image
        return fit_to(image, self.size)

    def _open(self, width: int, height: int, fps: float) -> None: ...

    def _send(self, frame: OutputFrame) -> None:
        raise NotImplementedError

    def _close(self) -> None: ...

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        return self.name


def virtual_camera_help(
    detail: str = "", device: str | None = None, for_panel: bool = False
) -> str:
    """A one-line explanation of why no virtual camera opened, with what to do about it.
    ``for_panel``: worded for the control panel (no command-line options)."""
    first = detail.strip().splitlines()[0] if detail.strip() else ""
    instead = FILE_INSTEAD_PANEL if for_panel else FILE_INSTEAD
    if device:
        return (
            f"virtual camera {device} cannot be opened ({first[:120]}): check the name, close "
            "other apps using it, or pick another device"
        )
    if sys.platform.startswith("linux"):
        return f"no virtual camera device found: {LINUX_HINT} ({instead})"
    if sys.platform == "win32":
        return (
            "no virtual camera found: install OBS Studio (OBS Virtual Camera) or Unity Capture, "
            f"then try again ({instead})"
        )
    if sys.platform == "darwin":
        return (
            "no virtual camera found: install OBS Studio and start its Virtual Camera once, "
            f"then try again ({instead})"
        )
    return f"no virtual camera backend for {sys.platform} ({instead})"


def virtual_camera_error(detail: str = "", device: str | None = None) -> VirtualCameraError:
    """The VirtualCameraError for ``virtual_camera_help``, with the panel's wording too."""
    return VirtualCameraError(
        virtual_camera_help(detail, device),
        panel_message=virtual_camera_help(detail, device, for_panel=True),
    )


def virtual_camera_status() -> list[str]:
    """Lines describing the virtual-camera backends and, on Linux, the loopback devices."""
    backends = sorted(pyvirtualcam.camera.BACKENDS)
    lines = [f"pyvirtualcam {pyvirtualcam.__version__}, backends: {', '.join(backends) or 'none'}"]
    if sys.platform.startswith("linux"):
        devices = loopback_devices()
        if devices:
            lines += [f"{path}: v4l2loopback device '{label}'" for path, label in devices]
        else:
            lines.append(f"no v4l2loopback device: {LINUX_HINT}")
    return lines


def loopback_devices() -> list[tuple[str, str]]:
    """(device path, label) of the Linux v4l2loopback devices (virtual, unlike cameras)."""
    found = []
    root = Path("/sys/class/video4linux")
    for entry in sorted(root.glob("video*")) if root.is_dir() else []:
        if "/virtual/" in os.path.realpath(entry):
            label = (entry / "name").read_text(errors="replace").strip() if entry.exists() else ""
            found.append((f"/dev/{entry.name}", label))
    return found


class VirtualCameraSink(Sink):
    """Frames to a virtual camera through pyvirtualcam (converted to RGB once per frame).
    ``device`` picks one ("" or None: any); ``backend`` forces a pyvirtualcam backend."""

    name = "virtual camera"

    def __init__(self, device: str | None = None, backend: str | None = None) -> None:
        super().__init__()
        self.device = device or None
        self.backend = backend or None
        self._camera: pyvirtualcam.Camera | None = None
        self._rgb: np.ndarray | None = None

    def _open(self, width: int, height: int, fps: float) -> None:
        if self.backend and self.backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise VirtualCameraError(
                f"virtual camera backend '{self.backend}' is not available here (available: "
                f"{known})"
            )
        if not pyvirtualcam.camera.BACKENDS:
            raise virtual_camera_error()
        try:
            self._camera = pyvirtualcam.Camera(
                width,
                height,
                fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=self.device,
                backend=self.backend,
            )
        except Exception as error:  # noqa: BLE001 - backends raise RuntimeError and others
            raise virtual_camera_error(str(error), self.device) from None
        self._rgb = np.empty((height, width, 3), np.uint8)
        log.info(
            "virtual camera %s (%s) at %dx%d",
            self._camera.device,
            self._camera.backend,
            width,
            height,
        )

    @property
    def device_name(self) -> str | None:
        """The device in use once open (e.g. /dev/video2 or "OBS Virtual Camera")."""
        return self._camera.device if self._camera is not None else None

    def _send(self, frame: OutputFrame) -> None:
        cv2.cvtColor(self._fitted(frame.image), cv2.COLOR_BGR2RGB, dst=self._rgb)
        try:
            self._camera.send(self._rgb)
        except Exception as error:  # noqa: BLE001
            raise VirtualCameraError(f"virtual camera stopped accepting frames: {error}") from None

    def _close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


def video_codec(path: Path) -> str:
    """The fourcc vcam writes for a video file name (mp4v for .mp4/.mov, MJPG for .avi/.mkv)."""
    try:
        return VIDEO_CODECS[path.suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot write video {path}: unknown type '{path.suffix}'; use .mp4 or .avi"
        ) from None


def _check_folder(path: Path) -> None:
    folder = path.parent if path.parent != Path("") else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")


class VideoFileSink(Sink):
    """Frames to a video file (mp4v in .mp4, MJPG in .avi). ``content``: "composite" or
    "alpha" (the matte as grey). ``constant_rate`` repeats frames to fill the gaps a live run
    leaves, so the file plays at real speed; offline conversion writes each frame once."""

    def __init__(
        self, path: str | Path, content: str = "composite", constant_rate: bool = False
    ) -> None:
        super().__init__()
        if content not in ("composite", "alpha"):
            raise ValueError(f"content must be composite or alpha, not {content!r}")
        self.path = Path(path)
        self.name = f"video file {self.path.name}"
        self.content = content
        self.constant_rate = constant_rate
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._start: float | None = None
        self._codec = video_codec(self.path)

    def open(self, width: int, height: int, fps: float) -> None:
        # The codecs store even sizes only (odd ones are cut): the frames are fitted instead.
        super().open(max(2, width - width % 2), max(2, height - height % 2), fps)

    def _open(self, width: int, height: int, fps: float) -> None:
        _check_folder(self.path)
        writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter.fourcc(*self._codec), fps, (width, height)
        )
        if not writer.isOpened():
            raise OutputError(
                f"cannot write video {self.path} ({self._codec}, {width}x{height}): check the "
                "folder is writable, or try .avi"
            )
        self._writer = writer

    def _send(self, frame: OutputFrame) -> None:
        if self.content == "alpha":
            image = cv2.cvtColor(self._fitted(frame.alpha), cv2.COLOR_GRAY2BGR)
        else:
            image = self._fitted(frame.image)
        copies = 1
        if self.constant_rate:
            if self._start is None:
                self._start = frame.timestamp
            slot = round((frame.timestamp - self._start) * self.fps)
            copies = min(max(1, slot - self.frames_written + 1), int(2 * self.fps))
        for _ in range(copies):
            self._writer.write(image)
        self.frames_written += copies

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        log.info("wrote %d frames to %s", self.frames_written, self.path)


class PngSink(Sink):
    """A numbered sequence of RGBA PNGs in ``folder``: the original frame with the alpha as
    transparency (``frame-000000.png``, ...)."""

    def __init__(self, folder: str | Path, pattern: str = "frame-{:06d}.png") -> None:
        super().__init__()
        self.folder = Path(folder)
        self.pattern = pattern
        self.name = f"PNG sequence {self.folder}"

    def _open(self, width: int, height: int, fps: float) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create folder {self.folder}: {error.strerror}") from None

    def _send(self, frame: OutputFrame) -> None:
        rgba = compositor.to_rgba(self._fitted(frame.original), self._fitted(frame.alpha))
        path = self.folder / self.pattern.format(self.frames_sent)
        if not cv2.imwrite(str(path), rgba):
            raise OutputError(f"cannot write {path}: check the disk and permissions")


class ImageFileSink(Sink):
    """One image file, rewritten with each frame (the last one stays). ``content``:
    "composite", "alpha" (grey matte) or "rgba" (transparent PNG cut-out)."""

    def __init__(self, path: str | Path, content: str = "composite") -> None:
        super().__init__()
        self.path = Path(path)
        self.name = f"image {self.path.name}"
        if content not in ("composite", "alpha", "rgba"):
            raise ValueError(f"content must be composite, alpha or rgba, not {content!r}")
        if not media.is_image(self.path):
            raise OutputError(f"cannot write image {self.path}: use .png or .jpg")
        if content == "rgba" and media.suffix(self.path) not in media.ALPHA_IMAGE_SUFFIXES:
            raise OutputError(f"cannot write transparency to {self.path}: use a .png file")
        self.content = content

    def _open(self, width: int, height: int, fps: float) -> None:
        _check_folder(self.path)

    def _send(self, frame: OutputFrame) -> None:
        if self.content == "alpha":
            image = frame.alpha
        elif self.content == "rgba":
            image = compositor.to_rgba(frame.original, frame.alpha)
        else:
            image = frame.image
        if not cv2.imwrite(str(self.path), image):
            raise OutputError(f"cannot write {self.path}: check the disk and permissions")


class PreviewSink(Sink):
    """Hands each frame to ``callback`` (the panel's preview). The callback should be quick
    (e.g. emit a Qt signal); its errors are logged, never fatal."""

    name = "preview"

    def __init__(self, callback: Callable[[OutputFrame], None]) -> None:
        super().__init__()
        self.callback = callback
        self._warned = False

    def _send(self, frame: OutputFrame) -> None:
        try:
            self.callback(frame)
        except VcamError:
            raise
        except Exception:  # noqa: BLE001 - a broken preview must not stop the camera
            if not self._warned:
                log.warning("preview callback failed; frames keep flowing", exc_info=True)
                self._warned = True
