"""Frame sources: a camera, a video file, a still image or the bundled sample portrait.

Every source gives BGR uint8 ``Frame``s with a sequence number and a capture timestamp.
A *live* source runs its own capture thread and keeps only the newest frame in a one-slot box:
a slow reader never falls behind, stale frames are dropped and counted. The camera is always
live; file sources are live (paced at their frame rate, like a camera) or offline (every frame,
as fast as the reader asks, nothing dropped).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import CameraError, InputError, VcamError
from vcam.images import read_image, to_bgr

log = logging.getLogger(__name__)

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no driver chatter on stderr
# Messages that bypass OpenCV's logging: FFmpeg's ("moov atom not found" for a broken file) and
# those of OpenCV's built-in MJPEG/AVI reader, a fallback that prints raw bytes of a truncated
# AVI ("Unexpected element...") and is not needed (FFmpeg reads and writes MJPG AVIs). A bad
# file becomes a one-line InputError/BackgroundError instead. OpenCV reads these on first use.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_VIDEOIO_PRIORITY_CV_MJPEG", "0")

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE_PORTRAIT = ASSETS / "sample-portrait.jpg"
CAMERA_FAILURE_SECONDS = 2.0  # a camera silent this long counts as lost


@dataclass(frozen=True)
class Frame:
    """One picture: ``image`` BGR uint8 HxWx3, ``index`` its sequence number at the source
    (gaps are dropped frames), ``timestamp`` ``time.monotonic()`` at capture."""

    image: np.ndarray
    index: int
    timestamp: float


class LatestFrameBox:
    """A one-slot mailbox: ``put`` replaces an unread frame (counted as dropped); ``get`` waits
    for a frame newer than the last one it returned."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest unread frame, or None after ``timeout`` or once closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        """Frames waiting (0 or 1)."""
        return 0 if self._frame is None else 1


class FrameSource:
    """Base of all sources. Use ``start()``, then ``read()`` until it returns None with
    ``ended`` set, then ``close()`` (or use it as a context manager).

    The contract for a new source (subclass, then implement two hooks):

    - ``__init__``: open the device or file and raise a VcamError (``CameraError``,
      ``InputError``) with a one-line message when it cannot; then call
      ``super().__init__(width, height, fps, live, paced)`` with the frames' size and rate.
      ``live``: a capture thread keeps only the newest frame (frames may be dropped);
      offline, ``read()`` returns every frame in order. ``paced``: the thread waits
      1/``fps`` between frames (for a file or a drawn sample; a camera paces itself).
    - ``_grab()``: the next picture (BGR, or grey/BGRA which is converted), or None at the
      end; raise a VcamError when the device fails. Live, it runs on the capture thread.
    - ``_release()``: free the device or file; called once.

    A source that can come back after failing sets ``reconnectable`` and implements
    ``reopen()``; ``name`` names it in messages."""

    name = "source"
    # A source that can be opened again after it failed (a camera unplugged and plugged back):
    # the pipeline then calls ``reopen()`` with back-off until it works.
    reconnectable = False

    def __init__(self, width: int, height: int, fps: float, live: bool, paced: bool) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.live = live
        self._paced = paced
        self._box = LatestFrameBox()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._released = False
        self._ended = False
        self._error: VcamError | None = None
        self._next_index = 0

    # Subclasses provide these two.
    def _grab(self) -> np.ndarray | None:
        """The next picture, or None at the end of the stream (may raise VcamError)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device or file (called once, from the thread that last used it)."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self.width, self.height

    @property
    def ended(self) -> bool:
        """True once the stream is over (end of file, closed, or failed: see ``error``)."""
        return self._ended

    @property
    def error(self) -> VcamError | None:
        """The error that ended a live source, if any."""
        return self._error

    @property
    def is_open(self) -> bool:
        """True until the device or file is released (by ``close()``, or when a live stream
        ends)."""
        return not self._released

    @property
    def frames_dropped(self) -> int:
        """Frames replaced in the box before anyone read them."""
        return self._box.dropped

    @property
    def frames_captured(self) -> int:
        return self._next_index

    @property
    def pending(self) -> int:
        """Frames captured and not yet read (a live source keeps at most one)."""
        return len(self._box)

    def reopen(self) -> FrameSource:
        """A new, open source for the same device (only when ``reconnectable``; raises the
        VcamError of the failed attempt)."""
        raise CameraError(f"{self} cannot be reopened")

    def start(self) -> None:
        """Start the capture thread of a live source (no-op when offline or started)."""
        if not self.live or self._thread is not None or self._ended:
            return
        self._thread = threading.Thread(target=self._run, name=f"vcam-{self.name}", daemon=True)
        self._thread.start()

    def read(self, timeout: float | None = 1.0) -> Frame | None:
        """The next frame (live: the newest one). None on timeout or at the end; raises the
        error that stopped a live source."""
        if self.live:
            self.start()
            frame = self._box.get(timeout)
            if frame is None and self._error is not None:
                raise self._error
            return frame
        if self._ended:
            return None
        image = self._grab()
        if image is None:
            self._ended = True
            return None
        return self._make_frame(image)

    def close(self) -> None:
        """Stop the thread (joined within a second) and release the device or file."""
        self._stop.set()
        self._box.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
            if thread.is_alive():
                log.warning("%s: capture thread still busy; it releases the device on exit", self)
                return
        self._ended = True
        self._release_once()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        return self.name

    def _make_frame(self, image: np.ndarray) -> Frame:
        frame = Frame(to_bgr(image), self._next_index, time.monotonic())
        self._next_index += 1
        return frame

    def _release_once(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._release()

    def _run(self) -> None:
        period = 1.0 / self.fps
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                image = self._grab()
                if image is None:
                    break
                if self._paced:
                    wait = due - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                    due = max(due + period, time.monotonic() - period)
                self._box.put(self._make_frame(image))
        except VcamError as error:
            self._error = error
            log.debug("%s stopped: %s", self, error)
        except Exception as error:  # noqa: BLE001 - a capture thread must never die silently
            self._error = CameraError(f"{self} failed: {error}")
            log.debug("%s crashed", self, exc_info=True)
        finally:
            self._ended = True
            self._box.close()
            self._release_once()


def parse_camera(camera: int | str) -> int | str:
    """A camera index as an int ("0" -> 0); a device path or URL stays text."""
    if isinstance(camera, int):
        return camera
    text = str(camera).strip()
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class CameraInfo:
    """A camera that opened and gave a picture."""

    device: int | str
    width: int
    height: int
    label: str = ""


def _probe(device: int | str, label: str = "") -> CameraInfo | None:
    capture = cv2.VideoCapture(device)
    try:
        if not capture.isOpened():
            return None
        ok, image = capture.read()
        if not ok or image is None:
            return None
        return CameraInfo(device, image.shape[1], image.shape[0], label)
    finally:
        capture.release()


def find_cameras(max_index: int = 8) -> list[CameraInfo]:
    """The cameras that open and deliver a picture. Linux: the /dev/video* capture devices
    (v4l2loopback virtual cameras left out); elsewhere: indices until two in a row fail."""
    found = []
    root = Path("/sys/class/video4linux")
    if sys.platform.startswith("linux"):
        for entry in sorted(root.glob("video*")) if root.is_dir() else []:
            if "/virtual/" in os.path.realpath(entry):
                continue
            label = (entry / "name").read_text(errors="replace").strip()
            info = _probe(f"/dev/{entry.name}", label)
            if info is not None:
                found.append(info)
        return found
    misses = 0
    for index in range(max_index):
        info = _probe(index)
        if info is None:
            misses += 1
            if misses >= 2:
                break
            continue
        misses = 0
        found.append(info)
    return found


class CameraSource(FrameSource):
    """A camera by index or device path, captured in its own thread. The requested size, rate
    and pixel format (e.g. MJPG) are hints: the camera may choose others (see ``width`` etc.)."""

    def __init__(
        self,
        device: int | str = 0,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        fourcc: str = "MJPG",
    ) -> None:
        self.device = parse_camera(device)
        self.name = f"camera {self.device}"
        self.requested = (width, height, fps, fourcc)
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            problem = f"camera {self.device} not found: check it is connected and not used by "
            raise CameraError(
                problem + "another app (`vcam devices` lists cameras)",
                panel_message=problem + "another app, then look for cameras again",
            )
        if fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*fourcc))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            problem = f"camera {self.device} opened but gave no picture: close other apps using it"
            raise CameraError(
                problem + " or try another --camera",
                panel_message=problem + " or pick another camera",
            )
        self._capture = capture
        self._first: np.ndarray | None = first
        actual_fps = capture.get(cv2.CAP_PROP_FPS)
        if not math.isfinite(actual_fps) or not 1 <= actual_fps <= 240:
            actual_fps = fps
        super().__init__(first.shape[1], first.shape[0], actual_fps, live=True, paced=False)
        log.info("%s: %dx%d at %.3g fps", self.name, self.width, self.height, self.fps)

    reconnectable = True

    def reopen(self) -> CameraSource:
        """The same camera opened again, with the same requests."""
        return CameraSource(self.device, *self.requested)

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        failed_since = None
        while not self._stop.is_set():
            ok, image = self._capture.read()
            if ok and image is not None:
                return image
            now = time.monotonic()
            failed_since = failed_since or now
            if now - failed_since > CAMERA_FAILURE_SECONDS:
                raise CameraError(
                    f"camera {self.device} stopped delivering frames: check its cable and that "
                    "no other app took it"
                )
            self._stop.wait(0.02)
        return None

    @property
    def is_open(self) -> bool:
        return self._capture.isOpened()

    def _release(self) -> None:
        self._capture.release()


class VideoSource(FrameSource):
    """Frames of a video file. ``live``: paced at the file's rate in a thread, newest frame
    wins (like a camera); else every frame in order, as fast as read. ``loop`` restarts it."""

    def __init__(self, path: str | Path, loop: bool = False, live: bool = True) -> None:
        self.path = Path(path)
        self.name = f"video {self.path.name}"
        if not self.path.is_file():
            raise InputError(f"input video {self.path} not found")
        capture = cv2.VideoCapture(str(self.path))
        ok, first = capture.read() if capture.isOpened() else (False, None)
        if not ok or first is None:
            capture.release()
            raise InputError(f"cannot read video {self.path}: not a video OpenCV can decode")
        self._capture = capture
        self._first: np.ndarray | None = first
        self.loop = loop
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not math.isfinite(fps) or not 1 <= fps <= 240:
            fps = 30.0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 else None
        super().__init__(first.shape[1], first.shape[0], fps, live=live, paced=live)

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        ok, image = self._capture.read()
        if ok:
            return image
        if not self.loop:
            return None
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image = self._capture.read()
        if not ok:  # some containers cannot seek: reopen
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            ok, image = self._capture.read()
        return image if ok else None

    @property
    def is_open(self) -> bool:
        return self._capture.isOpened()

    def _release(self) -> None:
        self._capture.release()


class ImageSource(FrameSource):
    """A still image. Live: repeated at ``fps`` until closed; offline: ``frames`` copies
    (one by default)."""

    def __init__(
        self, path: str | Path, fps: float = 30.0, live: bool = True, frames: int = 1
    ) -> None:
        self.path = Path(path)
        self.name = f"image {self.path.name}"
        self._image = read_image(self.path)
        self._remaining = None if live else frames
        height, width = self._image.shape[:2]
        super().__init__(width, height, fps, live=live, paced=True)

    def _grab(self) -> np.ndarray | None:
        if self._remaining is not None:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
        return self._image.copy()


class SampleSource(FrameSource):
    """The bundled public-domain portrait, framed like a webcam and moved gently (sway, bob
    and zoom), so vcam can run without a camera. ``frames`` limits the clip (None: endless)."""

    name = "sample"

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        frames: int | None = None,
        live: bool = True,
    ) -> None:
        self._portrait = read_image(SAMPLE_PORTRAIT)
        self._frames = frames
        self._count = 0
        super().__init__(width, height, fps, live=live, paced=True)

    def _grab(self) -> np.ndarray | None:
        if self._frames is not None and self._count >= self._frames:
            return None
        t = self._count / self.fps
        self._count += 1
        return self.render(t)

    def render(self, t: float) -> np.ndarray:
        """The sample frame at time ``t`` seconds."""
        ph, pw = self._portrait.shape[:2]
        zoom = 1.08 + 0.06 * math.sin(2 * math.pi * t / 6.0)
        view_w = pw / zoom
        view_h = view_w * self.height / self.width
        if view_h > ph / zoom:  # taller than wide output: fit the height instead
            view_h = ph / zoom
            view_w = view_h * self.width / self.height
        cx = pw / 2 + (pw - view_w) / 2 * 0.8 * math.sin(2 * math.pi * t / 4.0)
        top = max(0.0, min(ph - view_h, 0.02 * ph + 0.015 * ph * math.sin(2 * math.pi * t / 3)))
        left = max(0.0, min(pw - view_w, cx - view_w / 2))
        scale = self.width / view_w
        matrix = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]], np.float32)
        return cv2.warpAffine(
            self._portrait,
            matrix,
            (self.width, self.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
