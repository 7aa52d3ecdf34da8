"""Backdrops behind the person: blur, image, looping video, solid colour, green screen, none.

Every kind has one method, ``composite(frame, alpha, out=None)``, that puts the frame's person
(``alpha`` uint8, 255 = person) over the backdrop with the right compositor kernel, and
``close()`` (only the video holds a resource). Build them with :func:`make_background`: it
checks everything and loads the file before it returns, so a runtime that swaps backgrounds
keeps the old one when the new one raises :class:`~vcam.errors.BackgroundError`.

Images are read by :func:`vcam.images.read_image` (PNG, JPEG, BMP, WebP, TIFF...; grey,
16-bit, float and transparent pictures made BGR uint8 by one rule). Images larger than
``MAX_IMAGE_PIXELS`` (50 megapixels) are refused before they are decoded (their size is read
from the file header), so a huge file cannot stall the camera; images whose longer side is
over ``MAX_IMAGE_SIDE`` (3840) are downscaled once on load. Fitted copies are cached per
frame size.

Videos loop: one video frame per camera frame, back to the start at the end. Resized frames
are kept in memory (up to ``cache_mb``) so a short clip is decoded only once.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vcam import compositor, images, media
from vcam.errors import BackgroundError, SettingsError
from vcam.images import MAX_IMAGE_PIXELS
from vcam.settings import parse_colour

log = logging.getLogger(__name__)

KINDS = ("blur", "image", "video", "colour", "green", "passthrough")
ALIASES = {
    "color": "colour",
    "none": "passthrough",
    "greenscreen": "green",
    "green-screen": "green",
}
FITS = ("cover", "contain")
GREEN_BGR = (0, 255, 0)
DEFAULT_COLOUR_BGR = (64, 52, 46)  # "#2e3440", the settings' default
DEFAULT_BLUR_STRENGTH = 25.0
MAX_IMAGE_SIDE = 3840
PRESETS_DIR = Path(__file__).resolve().parent / "assets" / "backgrounds"


@runtime_checkable
class Background(Protocol):
    """What the pipeline needs from a backdrop (the contract for a new one).

    ``kind`` is the settings' name for it ("blur", "image", ...). ``composite`` runs on the
    pipeline's frame thread once per frame, so it must be quick; it must not modify
    ``frame`` or ``alpha``, and returns a new BGR uint8 array of the frame's shape (written
    into ``out`` when given). A backdrop of its own size (a picture, a video) is fitted to
    whatever frame size it is given, which may change between calls. ``close`` frees files
    and may be called more than once."""

    kind: str

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The frame (BGR uint8) over this backdrop with ``alpha`` (uint8 HxW)."""
        ...

    def close(self) -> None:
        """Release what the backdrop holds (safe to call twice)."""
        ...


# ---------------------------------------------------------------------------------------------
# kinds


class BlurBackground:
    """The frame's own surroundings, blurred (see :func:`vcam.compositor.blend_blur`)."""

    kind = "blur"

    def __init__(self, strength: float = DEFAULT_BLUR_STRENGTH) -> None:
        self.strength = _check_strength(strength)

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return compositor.blend_blur(frame, alpha, self.strength, out)

    def close(self) -> None:
        pass


class ColourBackground:
    """A solid colour, given as (blue, green, red)."""

    kind = "colour"

    def __init__(self, bgr: tuple[int, int, int] = DEFAULT_COLOUR_BGR) -> None:
        try:
            self.bgr = parse_colour(bgr)
        except SettingsError as error:
            raise BackgroundError(str(error)) from None

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return compositor.blend_colour(frame, alpha, self.bgr, out)

    def close(self) -> None:
        pass


class GreenScreen(ColourBackground):
    """Pure green (0, 255, 0) for chroma keying in other software."""

    kind = "green"

    def __init__(self, bgr: tuple[int, int, int] = GREEN_BGR) -> None:
        super().__init__(bgr)


class Passthrough:
    """No replacement: the frame as it came (a copy, or written into ``out``)."""

    kind = "passthrough"

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        if out is None:
            return frame.copy()
        out[...] = frame
        return out

    def close(self) -> None:
        pass


class ImageBackground:
    """A still picture, fitted to the frame ("cover": fill and crop the overflow; "contain":
    all of it, letterboxed on black). The fitted copy is cached for the frame size."""

    kind = "image"

    def __init__(self, path: str | Path, fit: str = "cover") -> None:
        self.path = Path(path)
        self.fit = _check_fit(fit)
        self.image = load_image(self.path)
        self._fitted: tuple[tuple[int, int], np.ndarray] | None = None

    def backdrop(self, size_hw: tuple[int, int]) -> np.ndarray:
        """The image fitted to ``size_hw`` (cached; do not modify it)."""
        size_hw = (int(size_hw[0]), int(size_hw[1]))
        if self._fitted is None or self._fitted[0] != size_hw:
            self._fitted = (size_hw, fit_image(self.image, size_hw, self.fit))
        return self._fitted[1]

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return compositor.blend(frame, alpha, self.backdrop(frame.shape[:2]), out)

    def close(self) -> None:
        self._fitted = None


class VideoBackground:
    """A video that loops: each ``composite`` shows its next frame, fitted like an image.

    Fitted frames are cached (up to ``cache_mb`` megabytes) during the first pass; when the
    whole clip fits, later loops play from memory without decoding. Otherwise it rewinds the
    file at the end. A frame size change empties the cache and starts the clip again."""

    kind = "video"

    def __init__(self, path: str | Path, fit: str = "cover", cache_mb: float = 256) -> None:
        self.path = Path(path)
        self.fit = _check_fit(fit)
        self.cache_bytes = max(0.0, float(cache_mb)) * 1e6
        images.check_file(self.path, "background video", BackgroundError)
        self._capture = _open_video(self.path)
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise BackgroundError(
                f"background video {self.path} has no frames OpenCV can decode: "
                "use an MP4 (mp4v/H.264) or MJPG AVI file"
            )
        self._first = images.to_bgr(first, f"background video {self.path}", BackgroundError)
        self._pending: np.ndarray | None = self._first
        self._size: tuple[int, int] | None = None
        self._cache: list[np.ndarray] = []
        self._cached_bytes = 0
        self._cache_complete = False
        self._caching = True
        self._position = 0
        self._last: np.ndarray | None = None
        self._failed = False
        self.loops = 0

    def backdrop(self, size_hw: tuple[int, int]) -> np.ndarray:
        """The clip's next frame fitted to ``size_hw`` (do not modify it)."""
        size_hw = (int(size_hw[0]), int(size_hw[1]))
        if size_hw != self._size:
            self._restart(size_hw)
        if self._cache_complete:
            return self._from_cache()
        raw = self._read()
        if raw is None:  # the end of the clip
            self.loops += 1
            if self._caching and self._cache:
                self._cache_complete = True  # all of it is in memory: no more decoding
                if self._capture is not None:
                    self._capture.release()
                    self._capture = None
                self._position = 0
                return self._from_cache()
            self._caching = False
            raw = self._first if not self._failed and self._rewind() else None
        if raw is None:  # nothing readable even after a rewind: hold the last picture
            if self._last is None:
                self._last = fit_image(self._first, size_hw, self.fit)
            return self._last
        fitted = fit_image(raw, size_hw, self.fit)
        if self._caching:
            if self._cached_bytes + fitted.nbytes <= self.cache_bytes:
                self._cache.append(fitted)
                self._cached_bytes += fitted.nbytes
            else:
                self._caching = False
                self._cache, self._cached_bytes = [], 0
                log.info("background video %s is too long to keep in memory", self.path)
        self._last = fitted
        return fitted

    def _from_cache(self) -> np.ndarray:
        index = self._position % len(self._cache)
        if index == 0 and self._position > 0:
            self.loops += 1
        self._position += 1
        self._last = self._cache[index]
        return self._last

    def composite(
        self, frame: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return compositor.blend(frame, alpha, self.backdrop(frame.shape[:2]), out)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._cache = []

    def _restart(self, size_hw: tuple[int, int]) -> None:
        self._size = size_hw
        self._cache, self._cached_bytes = [], 0
        self._cache_complete, self._caching = False, True
        self._position = 0
        self._last = None
        if self._pending is None:  # frames were read already: start the clip again
            self._pending = self._first if self._rewind() else None

    def _read(self) -> np.ndarray | None:
        """The next decoded frame, or None at the end of the clip."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._capture is None:
            return None
        ok, frame = self._capture.read()
        return (
            images.to_bgr(frame, f"background video {self.path}", BackgroundError)
            if ok and frame is not None
            else None
        )

    def _rewind(self) -> bool:
        """Back to the start: seek to frame 0 and skip it (it is kept decoded as the first
        frame), or reopen the file when seeking does not work."""
        for reopen in (False, True):
            if reopen or self._capture is None:
                if self._capture is not None:
                    self._capture.release()
                try:
                    self._capture = _open_video(self.path)
                except BackgroundError as error:
                    log.warning("%s; keeping its last frame", error)
                    self._capture = None
                    self._failed = True  # do not retry every frame
                    return False
            elif not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
                continue
            ok, _ = self._capture.read()  # frame 0, which self._first holds
            if ok:
                return True
        return False


# ---------------------------------------------------------------------------------------------
# factory


def make_background(
    kind: str,
    *,
    path: str | Path | None = None,
    colour: str | tuple[int, int, int] | None = None,
    blur_strength: float | None = None,
    fit: str = "cover",
) -> Background:
    """A ready background of ``kind`` ("blur", "image", "video", "colour", "green",
    "passthrough"; "none" and "color" also work).

    ``path``: the image or video file (or ``"preset:NAME"``, see :func:`presets`).
    ``colour``: ``"#rrggbb"`` or a (blue, green, red) tuple, for "colour" ("green" is always
    pure green, whatever ``colour`` says; ``path`` and ``colour`` are ignored by the kinds
    that do not use them). ``blur_strength``: sigma in px at 720p (default 25).
    ``fit``: "cover" or "contain" for images and videos.
    Raises :class:`BackgroundError` (one line: what is wrong and what to do); nothing is
    half-built when it does."""
    name = str(kind).strip().lower()
    name = ALIASES.get(name, name)
    if name not in KINDS:
        raise BackgroundError(f"background {kind!r} is not a kind: use one of {', '.join(KINDS)}")
    if name == "blur":
        return BlurBackground(DEFAULT_BLUR_STRENGTH if blur_strength is None else blur_strength)
    if name == "colour":
        return ColourBackground(DEFAULT_COLOUR_BGR if colour is None else colour)
    if name == "green":
        return GreenScreen()
    if name == "passthrough":
        return Passthrough()
    if path is None or not str(path).strip():
        raise BackgroundError(f"the {name} background needs a file: give the path of one")
    resolved = resolve_path(path)
    if name == "image":
        return ImageBackground(resolved, fit)
    return VideoBackground(resolved, fit)


def presets() -> dict[str, Path]:
    """The bundled background images, by name (e.g. "office" -> .../office.jpg)."""
    if not PRESETS_DIR.is_dir():
        return {}
    return {
        p.stem: p for p in sorted(PRESETS_DIR.iterdir()) if p.suffix.lower() in (".jpg", ".png")
    }


def resolve_path(path: str | Path) -> Path:
    """``path`` as a file path; ``"preset:NAME"`` names a bundled image."""
    text = str(path).strip()
    name = media.preset_name(text)
    if name is not None:
        found = presets().get(name)
        if found is None:
            raise BackgroundError(
                f"no preset background {name!r}: choose one of {', '.join(presets()) or 'none'}"
            )
        return found
    return Path(text).expanduser()


# ---------------------------------------------------------------------------------------------
# images


def load_image(path: str | Path) -> np.ndarray:
    """A background picture as BGR uint8, checked and converted (see :mod:`vcam.images`):
    at most ``MAX_IMAGE_PIXELS``, its longer side downscaled to ``MAX_IMAGE_SIDE``."""
    return images.read_image(
        path, "background image", BackgroundError, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
    )


def fit_image(image: np.ndarray, size_hw: tuple[int, int], fit: str = "cover") -> np.ndarray:
    """``image`` scaled to ``size_hw`` without distortion: "cover" fills the frame and crops
    the overflow (centred), "contain" shows all of it, centred on black."""
    height, width = size_hw
    ih, iw = image.shape[:2]
    scale = max(height / ih, width / iw) if fit == "cover" else min(height / ih, width / iw)
    sw, sh = max(1, round(iw * scale)), max(1, round(ih * scale))
    if fit == "cover":
        sw, sh = max(sw, width), max(sh, height)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = (
        image if (sw, sh) == (iw, ih) else cv2.resize(image, (sw, sh), interpolation=interpolation)
    )
    if fit == "cover":
        top, left = (sh - height) // 2, (sw - width) // 2
        return np.ascontiguousarray(scaled[top : top + height, left : left + width])
    sw, sh = min(sw, width), min(sh, height)
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - sh) // 2, (width - sw) // 2
    out[top : top + sh, left : left + sw] = scaled[:sh, :sw]
    return out


# ---------------------------------------------------------------------------------------------
# checks


def _open_video(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise BackgroundError(
            f"background video {path} cannot be opened as a video: use an MP4 or AVI file"
        )
    return capture


def _check_fit(fit: str) -> str:
    if fit not in FITS:
        raise BackgroundError(f"background fit {fit!r} is not one of {', '.join(FITS)}")
    return fit


def _check_strength(strength: float) -> float:
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value < math.inf:
        raise BackgroundError(
            f"blur strength {strength!r} must be a positive number (sigma in px at 720p)"
        )
    return value
