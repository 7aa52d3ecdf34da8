"""The harder 16:9 evaluation set, built from a tiny synthetic data folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from evaldata import TRAINING_ONLY_GREEN, make_data

from vcam.evaluation import hardset
from vcam.evaluation.datasets import DatasetError, read_alpha, read_rgb
from vcam.evaluation.hardset import EVAL_BACKGROUND_SETS, HardSetConfig, ensure_hardset

CONFIG = HardSetConfig(
    width=192, height=108, frames_per_person=2.5, clip_persons=2, clip_length=12, seed=7
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_data(tmp_path / "data")


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_building_twice_gives_identical_files(data, tmp_path):
    first = ensure_hardset(data, tmp_path / "a", CONFIG)
    second = ensure_hardset(data, tmp_path / "b", CONFIG, rebuild=True)
    a, b = tree_bytes(first.root), tree_bytes(second.root)
    assert len(a) == 1 + 2 * (7 + 2 * 12)  # manifest, 7 frames and 2 clips of 12, jpg + png
    assert a == b


def test_frames_are_16x9_with_placed_soft_alpha(data, tmp_path):
    built = ensure_hardset(data, tmp_path / "hs", CONFIG)
    # 3 persons x 2.5 frames: 2, 3, 2
    assert [p.name for p in built.frames] == [
        "00000-0", "00000-1", "00001-0", "00001-1", "00001-2", "00002-0", "00002-1"
    ]  # fmt: skip
    manifest = json.loads((built.root / "manifest.json").read_text())
    for pair, entry in zip(built.frames, manifest["frames"], strict=True):
        image, alpha = read_rgb(pair.image), read_alpha(pair.alpha)
        assert image.shape == (108, 192, 3) and alpha.shape == (108, 192)
        assert pair.image.suffix == ".jpg" and pair.alpha.suffix == ".png"
        rows = np.nonzero((alpha > 0.5).any(axis=1))[0]
        assert rows[-1] == 107  # anchored at the bottom edge
        height = (rows[-1] - rows[0] + 1) / 108
        assert height == pytest.approx(entry["height_fraction"], abs=0.06)
        assert np.any((alpha > 0.05) & (alpha < 0.95))  # anti-aliased edge
        # The person is where the alpha says: the person's shirt/face colours differ from the
        # background's, so the image differs between inside and outside.
        assert entry["background"].split("/")[0] in EVAL_BACKGROUND_SETS
        assert entry["position"] in hardset.POSITIONS
    # Left, centre and right placements put the person's centre in the matching third.
    for pair, entry in zip(built.frames, manifest["frames"], strict=True):
        cols = np.nonzero(read_alpha(pair.alpha).max(axis=0) > 0.5)[0]
        centre = (cols[0] + cols[-1]) / 2 / 192
        expected = hardset.POSITIONS[entry["position"]]
        assert abs(centre - expected) < 0.2, (pair.name, centre, expected)


def test_training_backgrounds_are_never_used(data, tmp_path):
    built = ensure_hardset(data, tmp_path / "hs", CONFIG)
    green = np.array(TRAINING_ONLY_GREEN[::-1])  # RGB
    for pair in built.frames + [f for clip in built.clips for f in clip.frames]:
        image, alpha = read_rgb(pair.image), read_alpha(pair.alpha)
        background = image[alpha < 0.01].astype(int)
        near_green = np.all(np.abs(background - green) < 40, axis=1)
        assert near_green.mean() < 0.01, pair.name


def test_clips_hold_still_where_marked_static(data, tmp_path):
    built = ensure_hardset(data, tmp_path / "hs", CONFIG)
    assert [c.name for c in built.clips] == ["00000", "00002"]
    for clip in built.clips:
        assert len(clip.frames) == 12 and len(clip.static) == 12
        assert clip.static == tuple(t > 0 and (t // 5) % 2 == 1 for t in range(12))
        alphas = [read_alpha(p.alpha) for p in clip.frames]
        images = [read_rgb(p.image).astype(int) for p in clip.frames]
        moved = 0
        for t in range(1, 12):
            same_alpha = np.array_equal(alphas[t], alphas[t - 1])
            if clip.static[t]:
                assert same_alpha, (clip.name, t)
                # only noise changed: small but non-zero image differences
                diff = np.abs(images[t] - images[t - 1]).mean()
                assert 0.1 < diff < 6, (clip.name, t, diff)
            else:
                moved += not same_alpha
        assert moved >= 4


def test_cache_is_reused_and_rebuilt_when_needed(data, tmp_path):
    out = tmp_path / "hs"
    ensure_hardset(data, out, CONFIG)
    manifest = out / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    ensure_hardset(data, out, CONFIG)
    assert manifest.stat().st_mtime_ns == stamp  # reused
    first_frame = out / "frames" / "00000-0.jpg"
    first_frame.unlink()
    rebuilt = ensure_hardset(data, out, CONFIG)
    assert rebuilt.frames[0].image.is_file()  # a missing file triggers a rebuild
    other = HardSetConfig(**{**CONFIG.__dict__, "clip_length": 6})
    changed = ensure_hardset(data, out, other)
    assert len(changed.clips[0].frames) == 6  # a new recipe triggers a rebuild
    assert not (tmp_path / "hs.partial").exists()


def test_bad_inputs_are_one_line_errors(data, tmp_path):
    not_a_cache = tmp_path / "photos"
    not_a_cache.mkdir()
    (not_a_cache / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a hard-set cache"):
        ensure_hardset(data, not_a_cache, CONFIG)
    assert (not_a_cache / "holiday.jpg").exists()
    for name in EVAL_BACKGROUND_SETS:
        for path in (data / "backgrounds" / name).iterdir():
            path.unlink()
    with pytest.raises(DatasetError, match="no evaluation backgrounds") as info:
        ensure_hardset(data, tmp_path / "hs", CONFIG)
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match="is not a folder"):
        ensure_hardset(tmp_path / "nowhere", tmp_path / "hs2", CONFIG)


def test_shoulders_cut_by_the_photo_continue_outward():
    rgb = np.zeros((40, 20, 3), np.float32)
    mask = np.zeros((40, 20), np.float32)
    mask[30:, :] = 1.0  # a torso that runs off both sides over the last 10 rows
    mask[10:30, 6:14] = 1.0
    ext_rgb, ext = hardset._extend_shoulders(rgb, mask)
    pad = round(min(0.35 * 20, 1.5 * 10))  # 7 px each side
    assert ext.shape == (40, 20 + 2 * pad) and ext_rgb.shape[:2] == ext.shape
    np.testing.assert_array_equal(ext[:, pad : pad + 20], mask)
    reach = [int(ext[r, :pad].sum()) for r in range(30, 40)]
    assert reach == sorted(reach) and reach[-1] == pad and reach[0] >= 1  # a falling line
    assert ext[:30, :pad].sum() == 0 and ext[:30, pad + 20 :].sum() == 0
    # Nothing to extend when the person does not reach the sides.
    inner = np.zeros((40, 20), np.float32)
    inner[10:, 4:16] = 1.0
    same_rgb, same = hardset._extend_shoulders(rgb, inner)
    assert same is inner and same_rgb is rgb


def test_jpeg_frames_decode_with_opencv(data, tmp_path):
    built = ensure_hardset(data, tmp_path / "hs", CONFIG)
    image = cv2.imread(str(built.frames[0].image))
    assert image is not None and image.dtype == np.uint8
