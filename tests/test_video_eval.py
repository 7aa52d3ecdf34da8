"""Real-video steadiness metrics and the shortcut probes, on hand-made clips and photos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_video
from evaldata import make_data

from vcam.evaluation.datasets import DatasetError, load_pairs
from vcam.evaluation.probes import blur_probe, manipulate, probe_frames, shift_probe
from vcam.evaluation.video import (
    evaluate_video,
    flicker_map,
    list_clips,
    read_clip,
    steadiness,
)


def _frames(count: int, moving: bool = False) -> list[np.ndarray]:
    """A textured still scene; with ``moving``, a bright square slides 4 px per frame."""
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, (48, 64, 3)).astype(np.uint8)
    frames = []
    for t in range(count):
        frame = base.copy()
        if moving:
            frame[10:20, 4 * t : 4 * t + 10] = 255
        frames.append(frame)
    return frames


def test_a_steady_alpha_on_a_still_scene_has_no_flicker_and_no_jumps():
    frames = _frames(5)
    alpha = np.zeros((48, 64), np.float32)
    alpha[:, 20:40] = 1.0
    result = steadiness(frames, [alpha] * 5)
    undecided = result.pop("flicker_uncertain")
    assert result == {"flicker": 0.0, "jump_share": 0.0, "jump_frames": 0.0, "uncertain": 0.0}
    assert np.isnan(undecided)  # no flicker to split


def _following_alphas(count: int) -> list[np.ndarray]:
    """Alphas that follow the moving square of ``_frames(count, moving=True)``: not flicker."""
    alphas = []
    for t in range(count):
        alpha = np.zeros((48, 64), np.float32)
        alpha[10:20, 4 * t : 4 * t + 10] = 1.0
        alphas.append(alpha)
    return alphas


def test_flicker_counts_alpha_changes_only_where_the_picture_stood_still():
    frames = _frames(4, moving=True)
    alphas = _following_alphas(4)
    followed = steadiness(frames, alphas)
    assert followed["flicker"] == 0.0 and followed["jump_share"] > 0  # motion, not flicker
    # The same alphas plus a blinking patch where the picture is still: flicker.
    for t in (1, 3):
        alphas[t][30:40, 40:60] = 0.5
    blinking = steadiness(frames, alphas)
    expected = 0.5 * 200 / (48 * 64 - 2 * 10 * 10)  # mean over still pixels of one change
    assert blinking["flicker"] == pytest.approx(expected, rel=0.15)
    assert blinking["jump_frames"] == 1.0  # every frame pair changed > 0.5% visibly
    assert blinking["uncertain"] == pytest.approx(2 * 200 / (4 * 48 * 64))  # the 0.5 patch
    # Every change on a still pixel touches the half-transparent patch in one of the frames.
    assert blinking["flicker_uncertain"] == pytest.approx(1.0)


def test_flicker_of_decided_pixels_is_not_counted_as_undecided():
    frames = _frames(3)
    alphas = [np.zeros((48, 64), np.float32) for _ in range(3)]
    alphas[1][5:15, 5:15] = 1.0  # a hard blink: decided in both frames
    alphas[2][30:40, 30:40] = 0.3  # a soft patch appears: undecided in the new frame
    result = steadiness(frames, alphas)
    hard, soft = 2 * 100 * 1.0, 100 * 0.3
    assert result["flicker_uncertain"] == pytest.approx(soft / (hard + soft))
    assert result["uncertain"] == pytest.approx(100 / (48 * 64) / 3)


def test_the_flicker_map_lights_where_a_still_pixel_blinked_and_nowhere_else():
    frames = _frames(5, moving=True)
    alphas = _following_alphas(5)
    for t in (1, 3):
        alphas[t][30:40, 40:60] = 0.5  # blinks where the picture is still
    heat = flicker_map(frames, alphas)
    assert heat.shape == (48, 64) and heat.dtype == np.float32
    assert np.allclose(heat[30:40, 40:60], 0.5)  # changed by 0.5 in each of the 4 pairs
    outside = np.ones((48, 64), bool)
    outside[30:40, 40:60] = False
    assert heat[outside].max() == 0.0  # the followed motion adds nothing
    with pytest.raises(ValueError, match="two or more frames"):
        flicker_map(frames[:1], alphas[:1])


def test_clips_are_read_from_video_files_and_evaluated_per_clip(tmp_path):
    folder = tmp_path / "talking-heads"
    folder.mkdir()
    for name in ("clip-1", "clip-2"):
        writer = cv2.VideoWriter(str(folder / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                                 25, (64, 48))  # fmt: skip
        for frame in _frames(6):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    clips = list_clips(folder)
    assert [c.stem for c in clips] == ["clip-1", "clip-2"]
    assert len(read_clip(clips[0], max_frames=4)) == 4

    def noisy(frame: np.ndarray) -> np.ndarray:  # a predictor that flickers on a still scene
        return np.random.default_rng(int(frame.sum()) % 7 + noisy.calls.pop()).random(
            frame.shape[:2], dtype=np.float32
        )

    noisy.calls = list(range(100))
    result = evaluate_video(noisy, clips)
    assert set(result["clips"]) == {"clip-1", "clip-2"} and result["count"] == 12
    assert result["metrics"]["flicker"] > 0.2  # uniform noise: mean change about 1/3
    steady = evaluate_video(lambda f: np.ones(f.shape[:2], np.float32), clips)
    assert steady["metrics"]["flicker"] == 0.0
    with pytest.raises(DatasetError, match="no video files"):
        list_clips(tmp_path)


def test_blur_probe_manipulates_only_the_named_region(tmp_path):
    data = make_data(tmp_path / "data")
    pair = load_pairs(data / "portraits-shen2016" / "test")[0]
    image = cv2.cvtColor(cv2.imread(str(pair.image)), cv2.COLOR_BGR2RGB)
    gt = (cv2.imread(str(pair.alpha), cv2.IMREAD_GRAYSCALE) > 127).astype(np.float32)
    inner = cv2.erode(gt, np.ones((15, 15), np.uint8)) > 0
    outer = cv2.dilate(gt, np.ones((15, 15), np.uint8)) == 0
    blurred_bg = manipulate(image, gt, "background_blurred").astype(int)
    assert np.abs(blurred_bg - image)[inner].mean() < 1.0 < np.abs(blurred_bg - image)[outer].mean()
    blurred_person = manipulate(image, gt, "person_blurred").astype(int)
    assert np.abs(blurred_person - image)[outer].mean() < 1.0
    # A predictor that answers the truth whatever the picture: no change in any case.
    truth = {id(None): gt}
    result = blur_probe(lambda img: truth[id(None)], [pair])
    assert result["none"] == 1.0 and result["background_blurred_change"] == 0.0


def test_shift_probe_is_zero_for_a_predictor_that_follows_the_picture_and_not_otherwise():
    yy, xx = np.mgrid[:48, :64]
    smooth = np.stack([128 + 100 * np.sin(xx / 9.0 + t) * np.cos(yy / 11.0) for t in range(20)])
    clip = [np.repeat(f[..., None], 3, axis=2).astype(np.uint8) for f in smooth]
    frames = probe_frames([clip], every=5, first=20)
    assert len(frames) == 4

    def follows(frame):  # the alpha is a function of the picture: it moves with it
        return (frame[..., 0].astype(np.float32) / 255.0) ** 2

    def fixed(frame):  # the alpha ignores the picture: a shift back moves it
        return np.tile(np.linspace(0, 1, frame.shape[1], dtype=np.float32), (frame.shape[0], 1))

    following = shift_probe(follows, frames)
    assert following["shift_1px"] < 0.01 and following["jpeg_80"] < 0.03
    assert shift_probe(fixed, frames)["shift_3px"] > 0.005


def _flicker_maps_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "flicker_maps.py"
    spec = importlib.util.spec_from_file_location("flicker_maps", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flicker_maps_script_draws_the_frame_and_a_row_per_model(tmp_path, red_model, capsys):
    clip = write_video(tmp_path / "clip.avi", frames=6)
    out = tmp_path / "maps.png"
    script = _flicker_maps_script()
    assert (
        script.main([str(clip), str(red_model), str(red_model), "--out", str(out), "--scale", "1"])
        == 0
    )
    image = cv2.imread(str(out))
    assert image.shape == (3 * 108, 2 * 192, 3)  # the frame, then two models: alpha | map
    alpha = image[108:216, :192, 2]
    assert alpha.max() > 200 and alpha.min() < 50  # the red model's alpha: the red box
    assert capsys.readouterr().out.count("mean of the map") == 2
    assert script.main([str(tmp_path / "none.mp4"), str(red_model), "--out", str(out)]) == 2
    assert "cannot open the video" in capsys.readouterr().err
