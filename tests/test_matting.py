"""Matter: real onnxruntime sessions on real ONNX files; every bad file is a ModelError."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import make_onnx, synthetic_frame

from vcam.errors import InputError, ModelError, SettingsError
from vcam.fitting import placement
from vcam.matting import (
    Matter,
    available_providers,
    choose_providers,
    model_dirs,
    resolve_model,
    session_options,
)


def test_untrained_mmnet_runs_at_its_own_input_size(model_path):
    matter = Matter(model_path, threads=1)
    assert matter.input_size == (144, 256) or model_path.name == "mmnet-fast.onnx"
    assert matter.providers == ["CPUExecutionProvider"]
    frame = synthetic_frame(0, 1280, 720)
    alpha = matter.predict(frame)
    where = placement((720, 1280), matter.input_size)
    assert alpha.shape == (where.height, where.width)
    assert alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_known_alpha_comes_back_cropped_without_squashing(red_model):
    matter = Matter(red_model)
    assert matter.input_size == (64, 96)
    frame = np.zeros((300, 200, 3), np.uint8)  # portrait frame in a landscape model: pillarbox
    frame[:, 100:] = (0, 0, 255)  # right half red: alpha 1 there
    alpha = matter.predict(frame)
    where = placement((300, 200), (64, 96))
    assert alpha.shape == (where.height, where.width) == (64, 43)
    assert alpha[:, :19].max() < 0.05 and alpha[:, 24:].min() > 0.95
    full = matter.matte(frame)
    assert full.shape == (300, 200)
    assert full[:, :90].max() < 0.05 and full[:, 110:].min() > 0.95


def test_grey_frames_and_colour_order(red_model, tmp_path):
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    assert Matter(red_model).predict(frame).max() < 0.01
    bgr_model = make_onnx(tmp_path / "bgr.onnx", metadata={"vcam.color_order": "BGR"})
    assert Matter(bgr_model).predict(frame).min() > 0.99


def test_dynamic_model_takes_its_size_from_metadata(tmp_path):
    path = make_onnx(
        tmp_path / "dyn.onnx",
        dynamic=True,
        metadata={"vcam.input_height": "48", "vcam.input_width": "80"},
    )
    matter = Matter(path)
    assert matter.input_size == (48, 80)
    where = placement((108, 192), (48, 80))
    assert matter.predict(synthetic_frame(1)).shape == (where.height, where.width)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 1}, r"expected float32 \[N,3,H,W\]"),
        ({"out_channels": 3}, r"expected \[N,1,H,W\]"),
        ({"dynamic": True}, "no vcam.input_height"),
    ],
)
def test_models_breaking_the_contract_are_refused(tmp_path, kwargs, message):
    path = make_onnx(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelError, match=message) as info:
        Matter(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def nan_model(path):
    """A 64x96 model whose alpha is sqrt(-red): NaN on every picture that is not black."""
    pytest.importorskip("onnx")
    import onnx
    from onnx import helper

    model = onnx.load(str(make_onnx(path)))
    graph = model.graph
    graph.node[0].output[0] = "red"
    graph.node.extend(
        [
            helper.make_node("Neg", ["red"], ["minus"]),
            helper.make_node("Sqrt", ["minus"], ["alpha"]),
        ]
    )
    onnx.save(model, str(path))
    return path


def test_a_model_giving_nan_says_so(tmp_path):
    path = nan_model(tmp_path / "nan.onnx")
    with pytest.raises(ModelError, match="output has NaN or infinite values") as info:
        Matter(path)
    assert str(path) in str(info.value) and "shape" not in str(info.value)


@pytest.mark.parametrize(("height", "width"), [(72, 96), (64, 100)])
def test_input_sizes_off_the_multiple_of_16_are_refused(tmp_path, height, width):
    path = make_onnx(tmp_path / "odd.onnx", height=height, width=width)
    with pytest.raises(ModelError, match=f"input size {height}x{width}.*multiple of 16") as info:
        Matter(path)
    assert str(path) in str(info.value)
    dynamic = make_onnx(
        tmp_path / "odd-dyn.onnx",
        dynamic=True,
        metadata={"vcam.input_height": str(height), "vcam.input_width": str(width)},
    )
    with pytest.raises(ModelError, match="multiple of 16"):
        Matter(dynamic)


def test_a_folder_is_not_a_model_file(tmp_path, monkeypatch):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    with pytest.raises(ModelError, match=r"model .*model.onnx is a folder, not a model file"):
        Matter(folder)
    monkeypatch.setenv("VCAM_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="is a folder"):
        resolve_model("model.onnx")  # found by name in the models folder
    (tmp_path / "mmnet-256.onnx").mkdir()
    monkeypatch.setattr("vcam.matting.model_dirs", lambda: [tmp_path])
    with pytest.raises(ModelError, match="mmnet-256.onnx is a folder"):
        resolve_model("quality")


def test_bad_frames_are_the_frames_fault_not_the_models(red_model):
    matter = Matter(red_model)
    for frame in (
        np.zeros((64, 96), np.uint8),  # grey: no colour channels
        np.zeros((64, 96, 4), np.uint8),
        np.zeros((0, 96, 3), np.uint8),
        np.zeros((64, 96, 3), np.float32),
        "not a picture",
    ):
        with pytest.raises(InputError, match="^bad frame") as info:
            matter.preprocess(frame)
        assert "model" not in str(info.value).split(":")[0]
    where = placement((1, 1), (64, 96))
    assert matter.predict(np.zeros((1, 1, 3), np.uint8)).shape == (where.height, where.width)


def test_a_model_failing_on_an_input_is_a_model_error(red_model):
    matter = Matter(red_model)
    blob, where = matter.preprocess(synthetic_frame(0))
    wrong = np.ascontiguousarray(blob[:, :, :32])  # onnxruntime refuses the size
    with pytest.raises(ModelError, match=r"^model red.onnx failed while running: ") as info:
        matter.infer(wrong, where)
    assert "\n" not in str(info.value)


def test_model_info_names_file_size_precision_and_providers(red_model, tmp_path):
    info = Matter(red_model).info
    assert (info.path, info.input_size, info.providers) == (red_model, (64, 96), ("cpu",))
    assert info.precision == "fp32" and info.name == "red"
    assert info.line() == "red · 64x96 · fp32 · CPU"
    tagged = make_onnx(tmp_path / "tagged.onnx", metadata={"vcam.precision": "fp16"})
    assert Matter(tagged).info.precision == "fp16"


def test_missing_corrupt_and_truncated_files(tmp_path, model_path):
    with pytest.raises(ModelError, match=r"model file .*absent.onnx not found"):
        Matter(tmp_path / "absent.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"definitely not protobuf \x00\xff" * 50)
    with pytest.raises(ModelError, match=r"garbage.onnx cannot be loaded"):
        Matter(garbage)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[: model_path.stat().st_size // 3])
    with pytest.raises(ModelError, match=r"truncated.onnx cannot be loaded") as info:
        Matter(truncated)
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty.onnx"):
        Matter(empty)


def test_model_names_resolve_through_the_models_dir(tmp_path, monkeypatch, red_model):
    monkeypatch.setenv("VCAM_MODELS_DIR", str(tmp_path))
    assert model_dirs()[0] == tmp_path
    (tmp_path / "mmnet-fast.onnx").write_bytes(red_model.read_bytes())
    (tmp_path / "mine.onnx").write_bytes(red_model.read_bytes())
    assert resolve_model("fast") == tmp_path / "mmnet-fast.onnx"
    assert resolve_model("mine.onnx") == tmp_path / "mine.onnx"
    assert resolve_model(str(red_model)) == red_model
    assert Matter("fast").input_size == (64, 96)
    # Only the empty folder: the checkout's models/ may hold the shipped files.
    monkeypatch.setattr("vcam.matting.model_dirs", lambda: [tmp_path / "none", tmp_path])
    with pytest.raises(ModelError, match=r"model 'quality' \(mmnet-256.onnx\) not found"):
        resolve_model("quality")


def test_providers():
    import onnxruntime as ort

    names = available_providers()
    assert names[0] == "cpu" and set(names) <= {"cpu", "cuda", "directml", "coreml"}
    assert ("cuda" in names) == ("CUDAExecutionProvider" in ort.get_available_providers())
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    assert choose_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(SettingsError, match="^provider: 'tpu'"):
        choose_providers("tpu")


def test_an_unavailable_provider_is_a_settings_error(monkeypatch):
    monkeypatch.setattr("onnxruntime.get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(SettingsError, match=r"'cuda' is not available .*\(available: cpu\)"):
        choose_providers("cuda")
    assert choose_providers("auto") == ["CPUExecutionProvider"]
    monkeypatch.setattr(
        "onnxruntime.get_available_providers",
        lambda: ["DmlExecutionProvider", "AzureExecutionProvider", "CPUExecutionProvider"],
    )
    assert available_providers() == ["cpu", "directml"]  # vcam's names; others left out


def test_preprocess_matches_the_contract(red_model):
    matter = Matter(red_model)
    frame = synthetic_frame(2, 96, 64)
    blob, where = matter.preprocess(frame)
    assert blob.shape == (1, 3, 64, 96) and blob.dtype == np.float32
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    np.testing.assert_allclose(blob[0].transpose(1, 2, 0), rgb, atol=1e-6)
    assert (where.top, where.left, where.height, where.width) == (0, 0, 64, 96)


def test_session_options_are_the_measured_ones():
    import onnxruntime as ort

    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options().intra_op_num_threads == 0  # onnxruntime's default


def test_rewritten_and_int8_models_run_like_any_other(untrained_model_path, tmp_path):
    pytest.importorskip("onnx")
    model_path = untrained_model_path  # a plain fp32 export (the shipped fast model is int8)
    from vcam.training.optimize import optimize_file
    from vcam.training.quantize import quantize_model

    frame = synthetic_frame(4, 1280, 720)
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = []
    for i in range(3):
        photos.append(folder / f"{i}.png")
        cv2.imwrite(str(photos[-1]), synthetic_frame(i, 320, 180))
    fast = tmp_path / "opt.onnx"
    optimize_file(model_path, fast)
    int8 = quantize_model(model_path, tmp_path / "int8.onnx", photos)
    reference = Matter(model_path, threads=1).predict(frame)
    assert Matter(int8).info.precision == "int8"  # a QDQ graph, told from the file
    assert Matter(fast).info.precision == "fp32"
    for path in (fast, int8):
        matter = Matter(path, threads=1)
        assert matter.input_size == Matter(model_path).input_size
        alpha = matter.predict(frame)
        assert alpha.shape == reference.shape and alpha.dtype == np.float32
        assert np.abs(alpha - reference).mean() < 0.05
