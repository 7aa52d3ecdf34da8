"""The MediaPipe selfie peer on LiteRT, and scripts/fetch_peer.py's unpacking.

Tests that run the model skip when ``scripts/fetch_peer.py`` has not been run.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.errors import ModelError
from vcam.evaluation import peer
from vcam.evaluation.metrics import iou

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SHEN_TEST = DATA / "portraits-shen2016" / "test"


def _have_models() -> bool:
    try:
        return all(peer.default_model_path(v).is_file() for v in peer.VARIANTS)
    except ModelError:
        return False


needs_models = pytest.mark.skipif(
    not _have_models() or importlib.util.find_spec("ai_edge_litert") is None,
    reason="no peer models: run scripts/fetch_peer.py (and pip install -e .[peer])",
)


def load_fetch_script():
    spec = importlib.util.spec_from_file_location("fetch_peer", ROOT / "scripts" / "fetch_peer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_model_says_to_run_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv(peer.PEER_DIR_ENV, str(tmp_path))
    assert peer.peer_dir() == tmp_path
    with pytest.raises(ModelError, match="scripts/fetch_peer.py") as info:
        peer.default_model_path("general")
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="unknown MediaPipe selfie variant"):
        peer.default_model_path("portrait")
    with pytest.raises(ModelError, match="fetch_peer"):
        peer.MediaPipeSelfie(variant="landscape")


def test_squash_maps_corners_to_corners():
    # A 2x upscale of a horizontal ramp: MediaPipe's corner-to-corner mapping samples source
    # x = dst_x / 2 (no half-pixel shift), so even columns reproduce the source exactly.
    src = np.tile(np.arange(0, 256, 32, dtype=np.uint8)[None, :, None], (4, 1, 3))
    out = peer.squash_to_tensor(src, 8, 16)
    assert out.shape == (8, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0:14:2, 0], src[0, :7, 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 1:13:2, 0], (src[0, :6, 0] + 16) / 255.0, atol=1e-6)
    same = peer.squash_to_tensor(src, 4, 8)
    np.testing.assert_allclose(same, src / 255.0, atol=1e-6)


def test_fetch_extract_verifies_checksums(tmp_path):
    fetch = load_fetch_script()
    wheel = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in peer.MODEL_FILES.values():
            zf.writestr(fetch.MEMBER_DIR + name, b"not a model")
    with pytest.raises(RuntimeError, match="SHA-256"):
        fetch.extract(wheel, tmp_path / "out")
    assert not fetch.have_all(tmp_path / "out")


@needs_models
def test_fetch_extract_is_idempotent(tmp_path):
    fetch = load_fetch_script()
    wheel = tmp_path / "mediapipe-0.10.21-test.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for variant, name in peer.MODEL_FILES.items():
            zf.write(peer.default_model_path(variant), fetch.MEMBER_DIR + name)
    dest = tmp_path / "peers"
    first = [p.read_bytes() for p in fetch.extract(wheel, dest)]
    assert fetch.have_all(dest)
    assert fetch.main(["--dest", str(dest)]) == 0  # already present: no download
    assert [p.read_bytes() for p in fetch.extract(wheel, dest)] == first


def person_like_frame(height: int, width: int) -> np.ndarray:
    """A head-and-shoulders silhouette in skin and shirt colours on a grey wall."""
    img = np.full((height, width, 3), (150, 150, 145), np.uint8)
    cx = width // 2
    cv2.ellipse(
        img,
        (cx, height * 3 // 4 + height // 4),
        (width // 3, height // 3),
        0,
        180,
        360,
        (40, 60, 140),
        -1,
    )
    cv2.ellipse(
        img, (cx, height * 2 // 5), (width // 9, height // 6), 0, 0, 360, (140, 170, 220), -1
    )
    return img


@needs_models
@pytest.mark.parametrize("variant,shape", [("general", (256, 256)), ("landscape", (144, 256))])
def test_predict_shapes_and_range(variant, shape):
    model = peer.MediaPipeSelfie(variant=variant, threads=1)
    assert (model.input_height, model.input_width) == shape
    for h, w in [(720, 1280), (333, 251)]:
        frame = person_like_frame(h, w)
        alpha = model.predict(frame)
        assert alpha.shape == (h, w) and alpha.dtype == np.float32
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        small = model.predict_small(frame)
        assert small.shape == shape
    with pytest.raises(ValueError, match="uint8 RGB"):
        model.predict(np.zeros((10, 10), np.uint8))


@needs_models
@pytest.mark.data
@pytest.mark.skipif(not SHEN_TEST.is_dir(), reason="no portraits-shen2016/test")
def test_peer_segments_real_portraits():
    stems = sorted(p.stem for p in (SHEN_TEST / "image").glob("*.jpg"))[:6]
    model = peer.MediaPipeSelfie(variant="general")
    scores = []
    for stem in stems:
        rgb = cv2.cvtColor(cv2.imread(str(SHEN_TEST / "image" / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(SHEN_TEST / "mask" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) / 255.0
        scores.append(iou(model.predict(rgb), gt))
    assert np.mean(scores) > 0.9
