"""Pictures as vcam takes them: one rule turns any decoded image or frame into BGR uint8, and
one reader opens image files (backgrounds and still-image inputs alike).

The rule (:func:`to_bgr`):

- 16-bit pixels keep their high byte; float pixels are 0..1 (OpenCV's convention for float
  images) and are scaled to 0..255; other integer types are clipped to 0..255;
- grey becomes BGR;
- transparency (BGRA, grey + alpha) is flattened onto black, as a viewer shows the picture on
  a black page; an alpha channel that is 0 everywhere carries nothing (the padding byte of a
  BGRX capture) and is dropped instead.

The reader (:func:`read_image`) decodes PNG, JPEG, BMP, WebP, TIFF... as OpenCV does, with
JPEG's EXIF orientation applied. Given ``max_pixels`` it reads the size from the file header
first and refuses a larger picture before decoding it (so a huge file cannot stall the
camera); given ``max_side`` it decodes big JPEGs at a reduced size and downscales the result
so its longer side is at most that.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import InputError, VcamError

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000  # a background picture larger than this is refused


def to_bgr(
    image: np.ndarray, what: str = "frame", error: type[VcamError] = InputError
) -> np.ndarray:
    """``image`` (grey, grey + alpha, BGR or BGRA; 8 or 16-bit, float or other integers) as a
    contiguous BGR uint8 array by the module's rule; ``error`` (naming ``what``) otherwise."""
    if image is None or image.size == 0:
        shape = None if image is None else image.shape
        raise error(f"empty {what} {shape}: the source gave no picture")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = np.clip(np.nan_to_num(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return np.ascontiguousarray(image)
    if channels in (2, 4):
        colour, alpha = image[..., :-1], image[..., -1:]
        if alpha.any():  # flatten onto black
            colour = ((colour.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
        if channels == 2:
            return cv2.cvtColor(np.ascontiguousarray(colour[..., 0]), cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(colour)
    raise error(f"unsupported {what} shape {image.shape}: expected grey, grey + alpha, BGR or BGRA")


def check_file(path: Path, what: str, error: type[VcamError] = InputError) -> None:
    """``error`` (a one-line message naming ``what`` and ``path``) unless ``path`` is a
    readable, non-empty file."""
    if not path.exists():
        raise error(f"{what} {path} does not exist: check the path")
    if not path.is_file():
        raise error(f"{what} {path} is not a file: choose a file")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as problem:
        raise error(
            f"{what} {path} cannot be read ({problem.strerror}): check its permissions"
        ) from None
    if path.stat().st_size == 0:
        raise error(f"{what} {path} is empty: choose another file")


def read_image(
    path: str | Path,
    what: str = "input image",
    error: type[VcamError] = InputError,
    max_pixels: int | None = None,
    max_side: int | None = None,
) -> np.ndarray:
    """The image file ``path`` as BGR uint8 (see the module notes), or ``error`` naming
    ``what`` and the file."""
    path = Path(path)
    check_file(path, what, error)
    size = image_size(path)
    if size is not None and max_pixels is not None:
        _check_pixels(path, *size, what, error, max_pixels)
    try:
        data = np.fromfile(str(path), np.uint8)  # also works with non-ASCII Windows paths
    except OSError as problem:
        raise error(f"{what} {path} cannot be read ({problem.strerror})") from None
    image = cv2.imdecode(data, _decode_flags(data, size, max_side)) if data.size else None
    if image is None or image.size == 0:
        raise error(f"{what} {path} is not an image OpenCV can read: use a PNG or JPEG file")
    if max_pixels is not None:
        _check_pixels(path, image.shape[1], image.shape[0], what, error, max_pixels)
    image = to_bgr(image, f"{what} {path}", error)
    longest = max(image.shape[:2])
    if max_side is not None and longest > max_side:
        scale = max_side / longest
        size_wh = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
        log.info("%s %s downscaled to %dx%d", what, path, *size_wh)
    return np.ascontiguousarray(image)


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, BMP, GIF or WebP header, without decoding; None when
    the format is not one of these or the header is unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:2] == b"BM" and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return abs(width), abs(height)
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp_size(head)
            if head[:2] == b"\xff\xd8":
                return _jpeg_size(f)
    except (OSError, struct.error):
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(head[24:27], "little")
        height = 1 + int.from_bytes(head[27:30], "little")
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk the JPEG markers to the frame header (SOFn) and read its size."""
    f.seek(2)
    for _ in range(1000):
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">xHH", f.read(5))
            return width, height
        f.seek(length - 2, 1)
    return None


def _decode_flags(data: np.ndarray, size: tuple[int, int] | None, max_side: int | None) -> int:
    """JPEG: colour with its EXIF orientation applied, decoded at 1/2, 1/4 or 1/8 when it is
    that many times larger than ``max_side`` (much faster). Others: as stored (16-bit,
    alpha)."""
    if not (data.size > 2 and data[0] == 0xFF and data[1] == 0xD8):
        return cv2.IMREAD_UNCHANGED
    reduce = max(size) // max_side if size and max_side else 1
    if reduce >= 8:
        return cv2.IMREAD_REDUCED_COLOR_8
    if reduce >= 4:
        return cv2.IMREAD_REDUCED_COLOR_4
    if reduce >= 2:
        return cv2.IMREAD_REDUCED_COLOR_2
    return cv2.IMREAD_COLOR


def _check_pixels(
    path: Path, width: int, height: int, what: str, error: type[VcamError], limit: int
) -> None:
    if width * height > limit:
        raise error(
            f"{what} {path} is {width}x{height} ({width * height / 1e6:.0f} MP): "
            f"use one of at most {limit // 1_000_000} megapixels, e.g. resized to 3840x2160"
        )
