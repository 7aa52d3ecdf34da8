"""Evaluation reports: pair loading, evaluate_model/evaluate_clips, ONNX predictor, the CLI."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from evaldata import make_data

from vcam.errors import ModelError
from vcam.evaluation.datasets import DatasetError, load_pairs, read_pair
from vcam.evaluation.hardset import HardSetConfig, ensure_hardset
from vcam.evaluation.metrics import METRIC_NAMES
from vcam.evaluation.predictors import OnnxMatting
from vcam.evaluation.report import evaluate_clips, evaluate_model, markdown_table
from vcam.fitting import fit, unfit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "evaluate.py"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_data(tmp_path / "data")


def test_load_pairs_matches_stems(data):
    pairs = load_pairs(data / "portraits-shen2016" / "test")
    assert [p.name for p in pairs] == ["00000", "00001", "00002"]
    image, alpha = read_pair(pairs[0])
    assert image.shape == (160, 120, 3) and image.dtype == np.uint8
    assert alpha.dtype == np.float32 and set(np.unique(alpha)) <= {0.0, 1.0}


def test_load_pairs_names_the_broken_file(data):
    folder = data / "portraits-shen2016" / "test"
    (folder / "mask" / "00001.png").unlink()
    with pytest.raises(DatasetError, match=r"00001\.jpg has no mask"):
        load_pairs(folder)
    (folder / "image" / "00001.jpg").unlink()
    cv2.imwrite(str(folder / "mask" / "00007.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"mask .*00007\.png has no image"):
        load_pairs(folder)
    (folder / "mask" / "00007.png").unlink()
    cv2.imwrite(str(folder / "mask" / "00002.png"), np.zeros((10, 10), np.uint8))
    pair = load_pairs(folder)[1]
    with pytest.raises(
        DatasetError, match=r"00002\.png is 10x10 but image .*00002\.jpg is 120x160"
    ):
        read_pair(pair)
    with pytest.raises(DatasetError, match="is not a folder"):
        load_pairs(data / "nothing")


def oracle_for(pairs):
    """A predictor that knows the answers: alpha looked up by the image's bytes."""
    answers = {}
    for pair in pairs:
        image, alpha = read_pair(pair)
        answers[image.tobytes()] = alpha
    return lambda image: answers[image.tobytes()]


def test_evaluate_model_perfect_and_empty_predictions(data):
    pairs = load_pairs(data / "portraits-shen2016" / "test")
    perfect = evaluate_model(oracle_for(pairs), pairs)
    assert perfect["count"] == 3 and set(perfect["metrics"]) == set(METRIC_NAMES)
    assert perfect["metrics"]["iou"] == 1.0
    assert perfect["metrics"]["sad"] == 0.0 and perfect["metrics"]["conn"] == 0.0
    assert perfect["ms_per_frame"] >= 0 and len(perfect["worst_iou"]) == 3
    assert perfect["errors_by_distance"] == {"kept": [0.0] * 4, "lost": [0.0] * 4}

    def nothing(image):
        return np.zeros(image.shape[:2], np.float32)

    empty = evaluate_model(nothing, pairs, metrics=("sad", "iou", "mad"), limit=2)
    gts = [read_pair(p)[1] for p in pairs[:2]]
    assert empty["count"] == 2 and empty["metrics"]["iou"] == 0.0
    assert empty["metrics"]["sad"] == pytest.approx(np.mean([g.sum() / 1000 for g in gts]))
    assert empty["metrics"]["mad"] == pytest.approx(np.mean([g.mean() for g in gts]))
    # Everything missed is person lost: the bands add up to the share of person pixels.
    lost = sum(empty["errors_by_distance"]["lost"])
    assert lost == pytest.approx(np.mean([np.mean(g > 0.5) for g in gts]))
    assert sum(empty["errors_by_distance"]["kept"]) == 0.0
    assert sum(empty["errors_by_height"]["lost"]) == pytest.approx(lost)
    assert empty["errors_by_height"]["kept"] == [0.0] * 4
    with pytest.raises(ValueError, match="at the image's size"):
        evaluate_model(lambda image: np.zeros((8, 8), np.float32), pairs)
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_model(nothing, pairs, metrics=("psnr",))


def test_evaluate_clips_flicker_figures(data, tmp_path):
    config = HardSetConfig(width=160, height=96, clip_persons=1, clip_length=10)
    clips = ensure_hardset(data, tmp_path / "hs", config).clips
    frames = [f for clip in clips for f in clip.frames]
    perfect = evaluate_clips(oracle_for(frames), clips)
    assert perfect["count"] == 10 and perfect["clips"] == 1
    assert perfect["metrics"]["flicker"] == 0.0 and perfect["metrics"]["dtssd"] == 0.0

    # A predictor that never changes has no flicker, and its dtSSD is the truth's own change.
    frozen = evaluate_clips(lambda image: np.zeros(image.shape[:2], np.float32), clips)
    gts = [read_pair(f)[1] for f in frames]
    expected = np.mean(
        [np.sqrt(np.mean((b - a) ** 2)) * 100 for a, b in zip(gts, gts[1:], strict=False)]
    )
    assert frozen["metrics"]["flicker"] == 0.0
    assert frozen["metrics"]["dtssd"] == pytest.approx(expected, rel=1e-5)
    assert frozen["metrics"]["dtssd"] > 0

    # A jittery predictor flickers on the static frames.
    rng = np.random.default_rng(0)
    oracle = oracle_for(frames)
    shaky = evaluate_clips(lambda im: np.clip(oracle(im) + rng.normal(0, 0.05, im.shape[:2]), 0, 1),
                           clips)  # fmt: skip
    assert shaky["metrics"]["flicker"] > 0.01


def test_onnx_predictor_follows_fit_and_unfit(red_model):
    model = OnnxMatting(red_model)
    assert model.input_size == (64, 96) and model.name == "red"
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (75, 200, 3), dtype=np.uint8)
    alpha = model.predict(image)
    small, where = fit(image, (64, 96))
    expected = unfit(small[:, :, 0].astype(np.float32) / 255.0, where, (75, 200))
    assert alpha.shape == (75, 200)
    np.testing.assert_allclose(alpha, expected, atol=1e-6)


def test_onnx_predictor_bad_models(tmp_path):
    from conftest import make_onnx

    with pytest.raises(ModelError, match="not found"):
        OnnxMatting(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="cannot be loaded"):
        OnnxMatting(junk)
    dynamic = make_onnx(tmp_path / "dynamic.onnx", dynamic=True)
    with pytest.raises(ModelError, match="dynamic input size"):
        OnnxMatting(dynamic)
    sized = make_onnx(
        tmp_path / "sized.onnx",
        dynamic=True,
        metadata={"vcam.input_height": "32", "vcam.input_width": "48"},
    )
    assert OnnxMatting(sized).input_size == (32, 48)


def test_markdown_table_formats_and_dashes():
    rows = [
        {"set": "s", "model": "m", "count": 2, "metrics": {"sad": 1.234, "iou": 0.5},
         "ms_per_frame": 3.21},
        {"set": "f", "model": "m", "count": 4, "metrics": {"mad": 0.0123, "flicker": float("nan")},
         "ms_per_frame": 1.0},
    ]  # fmt: skip
    table = markdown_table(rows).splitlines()
    assert len(table) == 4
    assert table[2].startswith("| s | m | 2 | 1.23 | - | - | - | - | - | 0.5000 | - | - | 3.2 |")
    assert "| 1.23 |" in table[3]  # MAD shown in 1e-2 units
    assert table[3] == "| f | m | 4 | - | - | - | - | 1.23 | - | - | - | - | 1.0 |"


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx

    return export_onnx(MMNet(0.5), tmp_path_factory.mktemp("m") / "untrained.onnx", 64, 64)


def have_peer() -> bool:
    from vcam.evaluation import peer

    try:
        return importlib.util.find_spec("ai_edge_litert") is not None and bool(
            peer.default_model_path("general")
        )
    except ModelError:
        return False


@pytest.mark.slow
def test_evaluate_script_end_to_end(data, tmp_path, untrained_model):
    spec = importlib.util.spec_from_file_location("evaluate_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "report"
    clips = data / "talking-heads"
    clips.mkdir()
    image = cv2.imread(str(load_pairs(data / "portraits-shen2016" / "test")[0].image))
    for name in ("clip-1", "clip-2"):  # real-video stand-ins: a photo drifting by a pixel
        writer = cv2.VideoWriter(str(clips / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                                 (image.shape[1], image.shape[0]))  # fmt: skip
        for t in range(6):
            writer.write(np.roll(image, t % 2, axis=1))
        writer.release()
    peers = ["--peer", "general"] if have_peer() else []
    argv = ["--data", str(data), "--models", str(untrained_model), *peers, "--out", str(out),
            "--hardset-dir", str(tmp_path / "hs"), "--hard-frame", "192x108",
            "--clip-length", "8"]  # fmt: skip
    assert script.main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    models = ["untrained"] + (["mediapipe-selfie-general"] if peers else [])
    sets = ("shen-test", "talking-heads", "blur-probe", "shift-probe", "hard16x9", "flicker")
    assert [(r["set"], r["model"]) for r in rows] == [(s, m) for s in sets for m in models]
    counts = {r["set"]: r["count"] for r in rows}
    assert counts == {"shen-test": 3, "talking-heads": 12, "blur-probe": 3, "shift-probe": 4,
                      "hard16x9": 6, "flicker": 3 * 8}  # fmt: skip
    for row in rows:
        if row["set"] == "flicker":
            assert row["metrics"]["flicker"] >= 0 and row["metrics"]["dtssd"] >= 0
        if row["set"] in ("shen-test", "hard16x9"):
            assert set(row["metrics"]) == set(METRIC_NAMES)
            assert 0.0 <= row["metrics"]["iou"] <= 1.0 and row["ms_per_frame"] > 0
    talking = next(r for r in rows if r["set"] == "talking-heads")
    assert set(talking["clips"]) == {"clip-1", "clip-2"} and talking["metrics"]["flicker"] >= 0
    blur = next(r for r in rows if r["set"] == "blur-probe")["metrics"]
    assert 0.0 <= blur["person_blurred"] <= 1.0
    shift = next(r for r in rows if r["set"] == "shift-probe")["metrics"]
    assert all(shift[k] >= 0 for k in ("shift_1px", "shift_3px", "jpeg_80"))
    table = (out / "results.md").read_text()
    # shen-test three times: all photos, without the duplicates, where the errors are
    assert table.count("| untrained |") == 9 and "Where the errors are" in table
    assert "quarter of the image height" in table
    assert table.index("Real photos") < table.index("Real video") < table.index("Diagnostics")
    if peers:
        peer_row = next(r for r in rows if r["model"] == "mediapipe-selfie-general")
        assert peer_row["metrics"]["iou"] > 0.2  # it finds the drawn person, more or less


def test_evaluate_script_errors_are_one_line(data, tmp_path):
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "none"), "--models",
         str(tmp_path / "no.onnx"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "not found" in missing.stderr
    nothing = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert nothing.returncode == 2 and "nothing to evaluate" in nothing.stderr
