"""Training data: pair listing errors name the file; soft targets; the augmentation's geometry."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
from datasets import make_data_folder

from vcam.evaluation.datasets import DatasetError
from vcam.training.data import (
    build_set,
    cut_sides,
    list_backgrounds,
    list_pairs,
    scene_crop,
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


def test_soft_target_is_the_mask_away_from_the_edge_and_trusts_an_agreeing_teacher():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    teacher = np.full((40, 40), 0.25, np.float32)
    target = soft_target(mask, teacher, band=3)
    assert target[20, 20] == 255 and target[0, 0] == 0  # far from the edge: the mask
    assert target[9, 20] == 64  # next to the edge, background side: the teacher agrees (< 0.5)
    assert target[10, 20] == 128  # person side: a teacher saying 0.25 is held at 0.5
    assert target[5, 20] == 0 and target[15, 20] == 255  # the band ends in the mask
    blurred = soft_target(mask, None, band=3)
    assert 0 < blurred[10, 20] < 255 and blurred[20, 20] == 255


def _profile_is_monotone(values: np.ndarray) -> bool:
    return bool(np.all(np.diff(values.astype(int)) >= 0))


def test_soft_target_is_monotone_across_the_band_without_steps():
    # A straight edge at column 30 and a teacher that leans outward (its 0.5 at column 27).
    mask = np.zeros((20, 60), np.uint8)
    mask[:, 30:] = 255
    columns = np.arange(60, dtype=np.float32)
    teacher = np.broadcast_to(1 / (1 + np.exp(-(columns - 27) / 2.0)), (20, 60)).copy()
    for band in (3, 5, 8):
        row = soft_target(mask, teacher, band=band)[10]
        assert _profile_is_monotone(row)
        assert row[29] <= 128 <= row[30]  # the teacher never crosses the mask's edge
        # The band fades into the mask: no jump from the teacher's value back to 0 or 255.
        first_soft, last_soft = np.flatnonzero(row > 0)[0], np.flatnonzero(row < 255)[-1]
        assert row[first_soft] <= 35 and row[last_soft] >= 220
    # A disc: the mean over rings of equal distance rises from outside to inside.
    yy, xx = np.mgrid[:80, :80]
    radius = np.hypot(yy - 40, xx - 40)
    disc = np.where(radius < 25, 255, 0).astype(np.uint8)
    smooth = (1 / (1 + np.exp((radius - 26) / 1.5))).astype(np.float32)
    target = soft_target(disc, smooth, band=5)
    rings = [target[(radius >= r) & (radius < r + 1)].mean() for r in range(35, 15, -1)]
    assert _profile_is_monotone(np.round(rings))


def test_cut_sides_are_where_the_person_meets_the_border():
    alphas = np.zeros((2, 40, 30), np.uint8)
    alphas[0, 20:, :] = 255  # a torso running off the left, right and bottom
    alphas[1, :, :10] = 255  # a person cut by the left side, the top and the bottom
    assert cut_sides(alphas).tolist() == [
        [True, True, False, True],
        [True, False, True, True],
    ]


def test_scene_crops_keep_away_from_the_person():
    image = np.random.default_rng(0).integers(0, 255, (400, 600, 3), dtype=np.uint8)
    mask = np.zeros((400, 600), np.uint8)
    mask[100:, 200:400] = 255  # a person in the middle: free space on both sides
    crop = scene_crop(image, mask, (64, 64), min_side=100)
    assert crop is not None and crop.shape == (64, 64, 3)
    mask[:, :] = 255
    assert scene_crop(image, mask, (64, 64)) is None  # no free space
    mask[:] = 0
    mask[:, 20:580] = 255
    assert scene_crop(image, mask, (64, 64), min_side=100) is None  # only thin strips


def test_backgrounds_leave_out_the_evaluation_packages(tmp_path):
    root = make_data_folder(tmp_path, {"portraits-shen2016": 1})
    paths = list_backgrounds(root / "backgrounds")
    assert paths and all("ukui-wallpapers" not in str(p) for p in paths)


QUIET = dict(noise_prob=0, jpeg_prob=0, blur_prob=0, lowres_prob=0)


def _floating_head():
    """One grey 64x48 photo whose person (a 24x20 block) touches none of its sides."""
    alphas = np.zeros((1, 64, 48), np.uint8)
    alphas[0, 16:40, 14:34] = 255
    return _tensors(np.full((1, 64, 48, 3), 200, np.uint8), alphas)


def _tensors(images: np.ndarray, alphas: np.ndarray):
    import torch

    return (
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(alphas)[:, None].contiguous(),
    )


def test_letterboxed_frames_replicate_their_border_and_the_mask_leaves_padding_out(tmp_path):
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render

    root = make_data_folder(tmp_path, {"portraits-shen2016": 4})
    data = build_set(root / "portraits-shen2016" / "train", (96, 72))
    quiet = AugmentConfig(**QUIET)
    images, alphas = _tensors(data.images, data.alphas)
    backgrounds = torch.from_numpy(np.stack([data.images[0]] * 2)).permute(0, 3, 1, 2)
    rng = np.random.default_rng(0)
    cfg = replace(quiet, frame_aspects=(16 / 9,), composite_prob=0.0)
    image, alpha, mask = render(images, alphas, backgrounds, (128, 128), rng, cfg)
    assert image.shape == (4, 3, 128, 128) and alpha.shape == mask.shape == (4, 1, 128, 128)
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    # A 16:9 frame in a square canvas occupies rows 28..99: the rows above copy its first row.
    assert torch.allclose(image[:, :, :28], image[:, :, 28:29].expand(-1, -1, 28, -1), atol=1e-6)
    assert torch.allclose(alpha[:, :, 100:], alpha[:, :, 99:100].expand(-1, -1, 28, -1), atol=1e-6)
    assert float(mask[:, :, :28].max()) == 0 and float(mask[:, :, 100:].max()) == 0
    assert float(mask[:, :, 28:100].min()) == 1


def test_composites_never_show_a_cut_edge_inside_the_frame():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render
    from vcam.training.data import cut_sides

    # Photo 0: a person cut by the left side, the top and the bottom (left 60% of the photo).
    # Photo 1: a torso running off both sides and the bottom, a head above it.
    alphas = np.zeros((2, 64, 48), np.uint8)
    alphas[0, :, :29] = 255
    alphas[1, 40:, :] = 255
    alphas[1, 12:40, 16:32] = 255
    images = np.full((2, 64, 48, 3), 180, np.uint8)
    image_t, alpha_t = _tensors(images, alphas)
    backgrounds = torch.zeros(2, 3, 36, 64, dtype=torch.uint8)
    cfg = AugmentConfig(
        composite_prob=1.0, rotate_deg=0, portrait_height=(0.3, 0.9), scene_prob=0, **QUIET
    )
    rng = np.random.default_rng(3)
    for aspect in (-1.0, 16 / 9, 4 / 3):
        frame_cfg = replace(cfg, frame_aspects=(aspect,))
        for _ in range(10):
            _, alpha, mask = render(
                image_t, alpha_t, backgrounds, (64, 112), rng, frame_cfg, False, cut_sides(alphas)
            )
            for i in range(2):
                rows = mask[i, 0].any(1).nonzero().flatten()
                cols = mask[i, 0].any(0).nonzero().flatten()
                inside = alpha[i, 0, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] > 0.5
                # The bottom cut is at or below the frame's bottom: the person reaches it.
                assert bool(inside[-1].any())
                if i == 0:
                    # Cut by a side and the top: every row reaches one side of the frame.
                    assert bool(inside[0].any())
                    assert bool((inside[:, 0] | inside[:, -1]).all())
                else:
                    # Cut by both sides: the torso spans the frame's whole bottom row.
                    assert bool(inside[-1].all())


def test_real_views_can_keep_every_cut_side_outside_the_frame():
    pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, _real_geometry, cover_cut_sides

    rng = np.random.default_rng(7)
    n, src_aspect = 600, 0.75  # 3:4 portraits in 16:9, 4:3 and their own frames, flipped or not
    fa = rng.choice([16 / 9, 4 / 3, src_aspect], n)
    M, t = _real_geometry(n, fa, src_aspect, False, rng, AugmentConfig())
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    M[:, 0, :] *= flip[:, None]
    t[:, 0] *= flip
    cuts = rng.random((n, 4)) < 0.6

    def corners(M):
        xy = np.array([[x, y] for x in (-1, 1) for y in (-1, 1)], float)
        pts = np.einsum("nij,nkj->nki", M, xy[None] * np.stack([fa, np.ones(n)], -1)[:, None])
        return pts + t[:, None, :]

    def beyond(p):  # N,4 bool: some frame corner lies beyond the left, right, top, bottom side
        x, y = p[..., 0], p[..., 1]
        return np.stack([(x < -src_aspect - 1e-9).any(1), (x > src_aspect + 1e-9).any(1),
                         (y < -1 - 1e-9).any(1), (y > 1 + 1e-9).any(1)], 1)  # fmt: skip

    before = beyond(corners(M)) & cuts
    assert before.any()  # zoomed out or rotated views do reach past cut sides
    covered = cover_cut_sides(M, t, fa, src_aspect, cuts)
    assert not (beyond(corners(covered)) & cuts).any()
    untouched = ~before.any(1)
    assert np.allclose(covered[untouched], M[untouched])  # views already inside stay as drawn


def test_real_views_with_cut_sides_covered_show_no_mirror_image():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render
    from vcam.training.data import cut_sides

    # The person fills the photo (every side cuts it); red rises to the right, green downwards,
    # so a mirrored strip shows as a fold: a row along which red or green turns back.
    ramp = np.arange(48, dtype=np.uint8) * 5
    images = np.zeros((1, 64, 48, 3), np.uint8)
    images[0, :, :, 0] = ramp[None, :]
    images[0, :, :, 1] = (np.arange(64, dtype=np.uint8) * 4)[:, None]
    alphas = np.full((1, 64, 48), 255, np.uint8)
    image_t, alpha_t = _tensors(images, alphas)
    plain = dict(brightness=(1, 1), contrast=(1, 1), saturation=(1, 1), channel_gain=0,
                 gamma=(1, 1), **QUIET)  # fmt: skip
    base = AugmentConfig(composite_prob=0.0, frame_aspects=(16 / 9,), rotate_deg=15, **plain)
    backgrounds = torch.zeros(1, 3, 36, 64, dtype=torch.uint8)

    def folds(cfg) -> int:
        rng, count = np.random.default_rng(5), 0
        for _ in range(30):
            image, _, mask = render(
                image_t, alpha_t, backgrounds, (64, 112), rng, cfg, False, cut_sides(alphas)
            )
            rows = mask[0, 0].any(1).nonzero().flatten()
            cols = mask[0, 0].any(0).nonzero().flatten()
            frame = image[0, :2, rows[1] : rows[-1], cols[1] : cols[-1]] * 255
            steps = frame[:, 2:-2].diff(dim=2)  # along each row, away from the frame's edge
            turns = (steps.amax(dim=2) > 1.0) & (steps.amin(dim=2) < -1.0)
            count += int(turns.any())
        return count

    assert folds(base) > 0  # zoomed out or rotated views mirror the person beyond cut sides
    assert folds(replace(base, cover_cut_sides=True)) == 0


def test_composites_keep_background_beyond_sides_that_cut_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render

    # A head floating in the photo: no side cuts it, so the small paste has background around.
    image_t, alpha_t = _floating_head()
    background = torch.zeros(1, 3, 32, 64, dtype=torch.uint8)
    cfg = AugmentConfig(
        composite_prob=1.0, frame_aspects=(-1.0,), portrait_height=(0.5, 0.5), **QUIET
    )
    _, alpha, _ = render(image_t, alpha_t, background, (64, 112), np.random.default_rng(1), cfg,
                         False, np.zeros((1, 4), bool))  # fmt: skip
    assert float(alpha[0, 0, :20].max()) == 0.0  # nothing mirrored above the paste
    assert 0.9 < float(alpha.max()) and float(alpha.mean()) < 0.2


def test_defringe_replaces_the_band_colour_with_the_persons():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import defringe

    fg = torch.zeros(1, 3, 32, 32)
    fg[:, 0] = 1.0  # red everywhere...
    alpha = torch.zeros(1, 1, 32, 32)
    alpha[..., 8:24, 8:24] = 1.0
    alpha[..., 7, 8:24] = 0.5  # a soft band row above the person
    fg[..., 7, :] = torch.tensor([1.0, 1.0, 1.0])[:, None]  # ... but white (old background) there
    out = defringe(fg, alpha, 2.0)
    assert torch.allclose(out[0, :, 7, 10:22], torch.tensor([1.0, 0.0, 0.0])[:, None], atol=1e-3)
    assert torch.equal(out[..., 8:24, 8:24], fg[..., 8:24, 8:24])  # the person itself unchanged
    assert torch.equal(defringe(fg, alpha, 0.0), fg)  # sigma 0: defringing off (an ablation)


def test_jpeg_keeps_colours():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import _jpeg

    image = torch.zeros(3, 64, 64)
    image[0, 16:48, 16:48] = 1.0  # a red square on black
    out = _jpeg(image, 80)
    centre = out[:, 24:40, 24:40].mean((1, 2)) * 255
    assert centre[0] > 245 and centre[1] < 10 and centre[2] < 10


def test_rotate_hue_keeps_grey_and_turns_red_to_green():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import rotate_hue

    image = torch.zeros(2, 3, 4, 4)
    image[:, :, :2] = 0.5  # grey top half
    image[:, 0, 2:] = 1.0  # red bottom half
    out = rotate_hue(image, torch.tensor([120.0, 0.0]))
    assert torch.allclose(out[:, :, :2], image[:, :, :2], atol=1e-6)  # grey stays grey
    assert torch.allclose(out[0, :, 2:].mean((1, 2)), torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)
    assert torch.allclose(out[1], image[1], atol=1e-6)  # no turn, no change


def test_composites_turn_the_background_hue_when_asked():
    torch = pytest.importorskip("torch")
    from vcam.training.augment import AugmentConfig, render

    image_t, alpha_t = _floating_head()
    background = torch.zeros(1, 3, 32, 64, dtype=torch.uint8)
    background[:, 0] = 255  # a red wallpaper
    base = dict(composite_prob=1.0, frame_aspects=(-1.0,), portrait_height=(0.5, 0.5),
                colour_match=(0.0, 0.0), brightness=(1.0, 1.0), contrast=(1.0, 1.0),
                saturation=(1.0, 1.0), channel_gain=0.0, gamma=(1.0, 1.0), **QUIET)  # fmt: skip
    means = {}
    for prob in (0.0, 1.0):
        cfg = AugmentConfig(background_hue_prob=prob, **base)
        rng = np.random.default_rng(1)
        cuts = np.zeros((1, 4), bool)
        image, alpha, _ = render(image_t, alpha_t, background, (64, 112), rng, cfg, False, cuts)
        means[prob] = image[0][:, alpha[0, 0] == 0].mean(1)  # the background's mean colour
    assert means[0.0][0] > 0.95 and means[0.0][1:].max() < 0.05  # red as given
    assert means[1.0][0] < 0.9 and means[1.0][1:].max() > 0.1  # turned away from red
