"""Every background kind on real frames and real files, and every bad input's error."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from scenes import person_scene, room

from vcam import compositor
from vcam.backgrounds import (
    MAX_IMAGE_SIDE,
    Background,
    ImageBackground,
    VideoBackground,
    fit_image,
    load_image,
    make_background,
    presets,
)
from vcam.errors import BackgroundError
from vcam.images import image_size

H, W = 360, 640


@pytest.fixture(scope="module")
def scene():
    """A frame and an alpha with solid person (255), solid background (0) and soft edges."""
    frame, alpha, _ = person_scene(H, W, seed=11, soft=3.0)
    alpha8 = np.round(alpha * 255).astype(np.uint8)
    return frame, alpha8, alpha8 == 255, alpha8 == 0


def check_composite(background: Background, scene, expected_backdrop: np.ndarray) -> np.ndarray:
    frame, alpha, person, empty = scene
    out = background.composite(frame, alpha)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out[person], frame[person])
    assert np.array_equal(out[empty], expected_backdrop[empty])
    reused = np.empty_like(frame)
    assert background.composite(frame, alpha, out=reused) is reused
    return out


def write_image(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image), path
    return path


def write_levels_video(path: Path, levels, size=(96, 64), fps=10.0) -> Path:
    """A clip whose frame i is a flat grey of ``levels[i]`` (readable back within a few
    levels after compression)."""
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for level in levels:
        writer.write(np.full((size[1], size[0], 3), level, np.uint8))
    writer.release()
    return path


# ---------------------------------------------------------------------------------------------
# kinds


def test_blur_background(scene):
    frame, alpha, _, _ = scene
    background = make_background("blur", blur_strength=20)
    expected = compositor.blend_blur(frame, alpha, 20)
    out = check_composite(background, scene, expected)
    assert np.array_equal(out, expected)
    assert isinstance(background, Background)


def test_colour_and_green_backgrounds(scene):
    plate = np.empty((H, W, 3), np.uint8)
    plate[...] = (0x40, 0x34, 0x2E)
    check_composite(make_background("colour", colour="#2e3440"), scene, plate)
    check_composite(make_background("colour", colour=(0x40, 0x34, 0x2E)), scene, plate)
    plate[...] = (0, 255, 0)
    check_composite(make_background("green"), scene, plate)
    check_composite(make_background("green", colour="#2e3440"), scene, plate)


def test_passthrough_returns_the_frame(scene):
    frame, alpha, _, _ = scene
    out = make_background("passthrough").composite(frame, alpha)
    assert np.array_equal(out, frame) and out is not frame
    assert make_background("none").kind == "passthrough"


def test_image_background_cover(scene, tmp_path):
    picture = room(720, 1280, seed=3)  # same aspect as the frame: plain downscale
    path = write_image(tmp_path / "room.png", picture)
    background = make_background("image", path=path)
    expected = cv2.resize(picture, (W, H), interpolation=cv2.INTER_AREA)
    check_composite(background, scene, expected)


def test_image_fitted_copy_is_cached_per_frame_size(tmp_path):
    path = write_image(tmp_path / "room.jpg", room(300, 400))
    background = ImageBackground(path)
    first = background.backdrop((H, W))
    assert background.backdrop((H, W)) is first
    other = background.backdrop((120, 160))
    assert other.shape == (120, 160, 3) and other is not first


def test_fit_cover_crops_and_contain_letterboxes():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :50] = 50
    image[:, 50:150] = 150  # the middle half
    image[:, 150:] = 250
    cover = fit_image(image, (100, 100), "cover")
    assert cover.shape == (100, 100, 3) and (cover == 150).all()  # the centre, uncropped
    contain = fit_image(image, (100, 100), "contain")
    assert (contain[:25] == 0).all() and (contain[75:] == 0).all()  # black bars
    assert (contain[25:75, :20] == 50).all() and (contain[25:75, 30:70] == 150).all()
    tall = fit_image(image, (300, 100), "cover")
    assert tall.shape == (300, 100, 3) and (tall == 150).all()


def test_image_formats_are_converted(tmp_path, scene):
    picture = room(H, W, seed=5)
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    cases = {
        "grey.png": (grey, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)),
        "deep.png": (picture.astype(np.uint16) * 257, picture),
        "opaque.png": (np.dstack([picture, np.full((H, W), 255, np.uint8)]), picture),
        "half.png": (
            np.dstack([picture, np.full((H, W), 128, np.uint8)]),
            ((picture.astype(np.uint16) * 128 + 127) // 255).astype(np.uint8),
        ),
    }
    for name, (stored, expected) in cases.items():
        path = write_image(tmp_path / name, stored)
        loaded = load_image(path)
        assert loaded.dtype == np.uint8 and loaded.shape == (H, W, 3), name
        assert np.abs(loaded.astype(int) - expected).max() <= 1, name
        check_composite(make_background("image", path=path), scene, loaded)


def test_large_image_is_downscaled_on_load(tmp_path):
    wide = cv2.resize(room(120, 800), (8000, 1200))  # 9.6 MP, 8000 wide
    path = write_image(tmp_path / "wide.jpg", wide)
    image = load_image(path)
    assert image.shape[1] == MAX_IMAGE_SIDE and image.shape[0] == 576


def test_image_size_reads_headers(tmp_path):
    picture = room(90, 160)
    for ext in (".png", ".jpg", ".bmp", ".webp"):
        path = write_image(tmp_path / f"p{ext}", picture)
        assert image_size(path) == (160, 90), ext
    assert image_size(write_image(tmp_path / "p.tiff", picture)) is None  # decoded instead


def test_presets_load():
    found = presets()
    assert {"office", "studio", "night", "teal"} <= set(found)
    background = make_background("image", path="preset:office")
    assert background.backdrop((720, 1280)).shape == (720, 1280, 3)


# ---------------------------------------------------------------------------------------------
# video


LEVELS = [20, 60, 100, 140, 180]


def shown_levels(background: VideoBackground, count: int, size=(64, 96)) -> list[int]:
    return [int(round(background.backdrop(size).mean())) for _ in range(count)]


def assert_cycle(levels: list[int], count: int) -> None:
    expected = [LEVELS[i % len(LEVELS)] for i in range(count)]
    assert all(abs(a - b) <= 4 for a, b in zip(levels, expected, strict=True)), levels


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_loops_from_memory(tmp_path, suffix):
    path = write_levels_video(tmp_path / f"clip{suffix}", LEVELS)
    background = make_background("video", path=path)
    assert_cycle(shown_levels(background, 13), 13)
    assert background.loops >= 2
    assert background._capture is None  # the whole clip is cached: the file is closed
    background.close()


def test_video_without_cache_rewinds_the_file(tmp_path):
    path = write_levels_video(tmp_path / "clip.avi", LEVELS)
    background = VideoBackground(path, cache_mb=0)
    assert_cycle(shown_levels(background, 12), 12)
    assert background.loops == 2 and background._capture is not None
    background.close()
    background.close()  # twice is fine


def test_video_restarts_when_the_frame_size_changes(tmp_path, scene):
    path = write_levels_video(tmp_path / "clip.avi", LEVELS)
    background = VideoBackground(path)
    shown_levels(background, 7)  # cached and closed by now
    assert_cycle(shown_levels(background, 6, size=(32, 48)), 6)
    frame, alpha, _, _ = scene
    out = background.composite(frame, alpha)  # the frame size changes again
    assert out.shape == frame.shape
    background.close()


def test_video_background_composites(tmp_path, scene):
    path = write_levels_video(tmp_path / "clip.avi", LEVELS, size=(W, H))
    background = make_background("video", path=path)
    first = cv2.VideoCapture(str(path)).read()[1]
    check_composite(background, scene, first)
    background.close()


# ---------------------------------------------------------------------------------------------
# bad inputs


def huge_png(path: Path, width: int, height: int) -> Path:
    """A real, valid grey PNG of width x height, written row by row (little memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    compressor = zlib.compressobj(1)
    row = b"\x00" * (width + 1)
    parts = [compressor.compress(row * 500) for _ in range(height // 500)]
    parts.append(compressor.compress(row * (height % 500)) + compressor.flush())
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header))
        f.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def test_huge_image_is_refused_before_decoding(tmp_path):
    path = huge_png(tmp_path / "huge.png", 12000, 12000)
    assert image_size(path) == (12000, 12000)
    with pytest.raises(BackgroundError, match=r"huge.png is 12000x12000 \(144 MP\).*50 megap"):
        make_background("image", path=path)


def test_missing_empty_and_wrong_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cases = [
        ("image", tmp_path / "missing.png", "missing.png does not exist"),
        ("video", tmp_path / "missing.mp4", "missing.mp4 does not exist"),
        ("image", tmp_path, "is not a file"),
        ("image", text, "notes.png is not an image OpenCV can read"),
        ("image", empty, "empty.jpg is empty"),
        ("video", text, "notes.png"),
    ]
    for kind, path, message in cases:
        with pytest.raises(BackgroundError, match=message):
            make_background(kind, path=path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write_image(tmp_path / "secret.png", room(20, 20))
    path.chmod(0)
    with pytest.raises(BackgroundError, match="cannot be read"):
        make_background("image", path=path)


def test_bad_settings_values():
    cases = [
        ({"kind": "sparkles"}, "not a kind"),
        ({"kind": "image"}, "needs a file"),
        ({"kind": "video", "path": "  "}, "needs a file"),
        ({"kind": "image", "path": "preset:nowhere"}, "no preset background 'nowhere'"),
        ({"kind": "colour", "colour": "#12345"}, "not a colour"),
        ({"kind": "colour", "colour": (0, 300, 0)}, "three values"),
        ({"kind": "blur", "blur_strength": 0}, "positive number"),
        ({"kind": "blur", "blur_strength": "lots"}, "positive number"),
    ]
    for kwargs, message in cases:
        kind = kwargs.pop("kind")
        with pytest.raises(BackgroundError, match=message):
            make_background(kind, **kwargs)


def test_bad_fit(tmp_path):
    path = write_image(tmp_path / "room.png", room(20, 20))
    with pytest.raises(BackgroundError, match="fit 'stretch'"):
        make_background("image", path=path, fit="stretch")


def test_every_error_is_one_line(tmp_path):
    for kind, kwargs in [("image", {"path": tmp_path / "x.png"}), ("nope", {})]:
        with pytest.raises(BackgroundError) as info:
            make_background(kind, **kwargs)
        assert "\n" not in str(info.value)
