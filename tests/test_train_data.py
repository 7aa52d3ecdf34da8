"""Training data: pair listing errors name the file; soft targets; the augmentation's geometry."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
from datasets import make_data_folder

from vcam.evaluation.datasets import DatasetError
from vcam.training.data import (
    build_set,
    list_backgrounds,
    list_pairs,
    soft_target,
)


def test_pairs_are_matched_by_stem(tmp_path):
    root = make_data_folder(tmp_path, {"portraits-shen2016": 3})
    pairs = list_pairs(root / "portraits-shen2016" / "train")
    assert [(p.image.stem, p.alpha.stem) for p in pairs] == [(f"0000{k}",) * 2 for k in range(3)]


def test_a_missing_mask_names_the_image(tmp_path):
    root = make_data_folder(tmp_path, {"portraits-shen2016": 3})
    (root / "portraits-shen2016/train/mask/00001.png").unlink()
    with pytest.raises(DatasetError, match="00001.jpg has no mask"):
        list_pairs(root / "portraits-shen2016" / "train")


def test_a_mask_without_image_and_a_size_mismatch_name_the_mask(tmp_path):
    root = make_data_folder(tmp_path, {"portraits-shen2016": 2})
    split = root / "portraits-shen2016" / "train"
    (split / "image/00000.jpg").unlink()
    with pytest.raises(DatasetError, match="00000.png has no image"):
        list_pairs(split)
    cv2.imwrite(str(split / "mask/00001.png"), np.zeros((10, 10), np.uint8))
    (split / "mask/00000.png").unlink()
    with pytest.raises(DatasetError, match="00001.png is 10x10"):
        build_set(split, (64, 48))


def test_soft_target_is_soft_only_in_the_band():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    teacher = np.full((40, 40), 0.25, np.float32)
    target = soft_target(mask, teacher, band=3)
    assert target[20, 20] == 255 and target[0, 0] == 0  # far from the edge: the mask
    assert target[10, 20] == 64 and target[8, 20] == 64  # on either side of the edge: teacher
    blurred = soft_target(mask, None, band=3)
    assert 0 < blurred[10, 20] < 255 and blurred[20, 20] == 255


def test_backgrounds_leave_out_the_evaluation_packages(tmp_path):
    root = make_data_folder(tmp_path, {"portraits-shen2016": 1})
    paths = list_backgrounds(root / "backgrounds")
    assert paths and all("ukui-wallpapers" not in str(p) for p in paths)


def test_letterboxed_frames_replicate_their_border(tmp_path):
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render

    root = make_data_folder(tmp_path, {"portraits-shen2016": 4})
    data = build_set(root / "portraits-shen2016" / "train", (96, 72))
    quiet = AugmentConfig(noise_prob=0, jpeg_prob=0, blur_prob=0, lowres_prob=0)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    alphas = torch.from_numpy(data.alphas)[:, None]
    backgrounds = torch.from_numpy(np.stack([data.images[0]] * 2)).permute(0, 3, 1, 2)
    rng = np.random.default_rng(0)
    cfg = replace(quiet, frame_aspects=(16 / 9,), composite_prob=0.0)
    image, alpha = render(images, alphas, backgrounds, (128, 128), rng, cfg)
    assert image.shape == (4, 3, 128, 128) and alpha.shape == (4, 1, 128, 128)
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    # A 16:9 frame in a square canvas occupies rows 28..99: the rows above copy its first row.
    assert torch.allclose(image[:, :, :28], image[:, :, 28:29].expand(-1, -1, 28, -1), atol=1e-6)
    assert torch.allclose(alpha[:, :, 100:], alpha[:, :, 99:100].expand(-1, -1, 28, -1), atol=1e-6)
    # Composites keep alpha 0 outside the pasted photo and real content inside.
    cfg = replace(quiet, composite_prob=1.0, portrait_height=(0.5, 0.5), frame_aspects=(-1.0,))
    image, alpha = render(images, alphas, backgrounds, (128, 128), rng, cfg)
    assert float(alpha[:, :, :20].max()) == 0.0  # a half-height photo anchored at the bottom
    assert float(alpha.max()) > 0.9


def test_cut_shoulders_are_continued_outward_in_composites():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render, shoulder_starts

    # A torso running off both sides from row 40 of 64 down; nothing on the sides above.
    alphas = np.zeros((1, 64, 48), np.uint8)
    alphas[0, 40:, :] = 255
    alphas[0, 10:40, 16:32] = 255
    starts = shoulder_starts(alphas)
    assert starts[0] == pytest.approx([(40.5 / 64) * 2 - 1] * 2)
    assert shoulder_starts(alphas[:, :, 8:40] * 0)[0].tolist() == [2.0, 2.0]  # no person

    images = np.full((1, 64, 48, 3), 200, np.uint8)
    cfg = AugmentConfig(
        composite_prob=1.0, frame_aspects=(-1.0,), portrait_height=(0.6, 0.6), rotate_deg=0,
        noise_prob=0, jpeg_prob=0, blur_prob=0, lowres_prob=0,
    )  # fmt: skip
    image = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    alpha = torch.from_numpy(alphas)[:, None]
    background = torch.zeros(1, 3, 32, 64, dtype=torch.uint8)
    plain = render(image, alpha, background, (64, 112), np.random.default_rng(1), cfg)[1]
    extended = render(
        image, alpha, background, (64, 112), np.random.default_rng(1), cfg, False,
        torch.from_numpy(starts),
    )[1]  # fmt: skip
    bottom = extended[0, 0, -1]
    # The photo covers a 0.6-height band; below the cut, the person now reaches further out.
    assert (bottom > 0.5).sum() > (plain[0, 0, -1] > 0.5).sum()
    assert torch.equal(extended[0, 0, :20], plain[0, 0, :20])  # nothing added above the cut
