"""vcam.images: one rule from any picture to BGR uint8, one image-file reader."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.errors import BackgroundError, InputError
from vcam.images import read_image, to_bgr


def test_to_bgr_converts_grey_16_bit_and_float():
    grey = np.full((4, 5), 77, np.uint8)
    assert to_bgr(grey).shape == (4, 5, 3) and (to_bgr(grey) == 77).all()
    assert to_bgr(grey[..., None]).shape == (4, 5, 3)
    deep = np.full((4, 5, 3), 65535, np.uint16)
    assert to_bgr(deep).dtype == np.uint8 and (to_bgr(deep) == 255).all()
    assert (to_bgr(np.full((4, 5, 3), 0.5, np.float32)) == 128).all()  # float is 0..1
    assert (to_bgr(np.full((4, 5, 3), 300, np.int32)) == 255).all()
    with pytest.raises(InputError, match="unsupported frame shape"):
        to_bgr(np.zeros((4, 5, 5), np.uint8))
    with pytest.raises(InputError, match="empty frame"):
        to_bgr(np.zeros((0, 5, 3), np.uint8))


def test_transparency_is_flattened_onto_black_everywhere(tmp_path):
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., :3] = (200, 100, 50)
    bgra[..., 3] = 128
    half = [100, 50, 25]
    assert to_bgr(bgra)[0, 0].tolist() == half
    grey_alpha = np.dstack([np.full((4, 5), 200, np.uint8), np.full((4, 5), 128, np.uint8)])
    assert to_bgr(grey_alpha)[0, 0].tolist() == [100, 100, 100]
    bgra[..., 3] = 0  # no alpha at all: a BGRX capture's padding, dropped
    assert to_bgr(bgra)[0, 0].tolist() == [200, 100, 50]
    bgra[..., 3] = 128
    path = tmp_path / "half.png"
    assert cv2.imwrite(str(path), bgra)
    assert read_image(path)[0, 0].tolist() == half  # an input image...
    assert read_image(path, "background image", BackgroundError)[0, 0].tolist() == half


def test_read_image_limits_and_errors(tmp_path):
    path = tmp_path / "wide.png"
    assert cv2.imwrite(str(path), np.zeros((10, 400, 3), np.uint8))
    assert read_image(path, max_side=100).shape == (2, 100, 3)
    with pytest.raises(BackgroundError, match=r"wide.png is 400x10 \(0 MP\)"):
        read_image(path, "background image", BackgroundError, max_pixels=1000)
    with pytest.raises(InputError, match="input image .*missing.png does not exist"):
        read_image(tmp_path / "missing.png")
