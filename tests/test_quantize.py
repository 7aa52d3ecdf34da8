"""Graph rewrites (vcam.training.optimize), static int8 quantization (vcam.training.quantize)
and scripts/quantize.py, on real ONNX files and real onnxruntime sessions.

Two kinds of model: an untrained MMNet(0.5) export (the real graph; its alpha is nearly flat)
and a small MMNet-shaped graph with random weights whose alpha varies strongly with the
input, so closeness checks can fail."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from vcam.matting import Matter  # noqa: E402
from vcam.training.optimize import (  # noqa: E402
    fold_alpha_head,
    optimize_file,
    optimize_model,
    split_concat_convs,
)
from vcam.training.quantize import (  # noqa: E402
    CALIBRATION_SET,
    QuantizeError,
    alpha_head_nodes,
    calibration_and_check,
    compare_outputs,
    quantize_model,
)

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def op_types(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def mmnet_like(path: Path, height: int = 32, width: int = 48, seed: int = 0) -> Path:
    """An MMNet-shaped graph with random weights: normalise, strided conv, two branches
    (1x1 expand + dilated depthwise, 8 and 12 channels), concat + linear 1x1 merge, 1x1
    compress, bilinear x2 twice, 1x1 conv to two logits, softmax, slice channel 1."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def weight(name: str, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> str:
        w = rng.normal(0, gain * np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name))
        return name

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv(x: str, name: str, cin: int, cout: int, k: int = 1, stride=1, dil=1, dw=False):
        shape = (cout, 1 if dw else cin, k, k)
        w = weight(f"{name}.w", shape, (1 if dw else cin) * k * k)
        b = const(f"{name}.b", rng.normal(0, 0.1, cout).astype(np.float32))
        pad = dil * (k - 1) // 2
        nodes.append(
            helper.make_node(
                "Conv",
                [x, w, b],
                [name],
                kernel_shape=[k, k],
                strides=[stride, stride],
                dilations=[dil, dil],
                pads=[pad] * 4,
                group=cin if dw else 1,
            )
        )
        return name

    def relu6(x: str) -> str:
        nodes.append(helper.make_node("Clip", [x, "zero", "six"], [x + ".act"]))
        return x + ".act"

    const("zero", np.float32(0))
    const("six", np.float32(6))
    const("half", np.full((1, 3, 1, 1), 0.5, np.float32))
    nodes.append(helper.make_node("Sub", ["image", "half"], ["centred"]))
    nodes.append(helper.make_node("Div", ["centred", "half"], ["normed"]))
    x = relu6(conv("normed", "stem", 3, 16, 3, stride=2))
    branches = []
    for i, (ch, dil) in enumerate(((8, 1), (12, 2))):
        b = relu6(conv(x, f"expand{i}", 16, ch))
        branches.append(relu6(conv(b, f"dw{i}", ch, ch, 3, dil=dil, dw=True)))
    nodes.append(helper.make_node("Concat", branches, ["cat"], axis=1))
    x = conv("cat", "merge", 20, 16)
    x = relu6(conv(x, "compress", 16, 8))
    const("roi", np.zeros(0, np.float32))
    const("scale1", np.array([1, 1, 1, 1], np.float32))
    const("scale2", np.array([1, 1, 2, 2], np.float32))
    nodes.append(
        helper.make_node(
            "Resize",
            [x, "roi", "scale2"],
            ["up"],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
        )
    )
    nodes.append(
        helper.make_node(
            "Resize",
            ["up", "roi", "scale1"],
            ["up2"],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
        )
    )
    w = weight("final.w", (2, 8, 1, 1), 8, gain=3.0)
    b = const("final.b", np.array([0.3, -0.3], np.float32))
    nodes.append(helper.make_node("Conv", ["up2", w, b], ["logits"], kernel_shape=[1, 1]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], axis=1))
    const("s", np.array([1], np.int64))
    const("e", np.array([2], np.int64))
    const("a", np.array([1], np.int64))
    nodes.append(helper.make_node("Slice", ["prob", "s", "e", "a"], ["alpha"]))
    graph = helper.make_graph(
        nodes,
        "mmnet_like",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, height, width])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {
        "vcam.input_height": str(height),
        "vcam.input_width": str(width),
        "vcam.color_order": "RGB",
        "vcam.architecture": "MMNet-like test graph",
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_photos(folder: Path, count: int, size: tuple[int, int] = (150, 200)) -> list[Path]:
    """Portrait-shaped crops of the bundled sample and synthetic frames, as training photos."""
    sample = cv2.imread(str(ROOT / "vcam" / "assets" / "sample-portrait.jpg"))
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        if i % 3 == 2:
            image = cv2.resize(synthetic_frame(i, 192, 108), size)
        else:
            y, x = rng.integers(0, sample.shape[0] - 256, 2)
            image = cv2.resize(sample[y : y + 256, x : x + 192], size)
            image = image[:, ::-1] if i % 2 else image
        path = folder / f"photo-{i:03d}.jpg"
        cv2.imwrite(str(path), np.ascontiguousarray(image))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def untrained_mmnet(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx

    return export_onnx(MMNet(0.5), tmp_path_factory.mktemp("mmnet") / "mmnet.onnx", 64, 96)


@pytest.fixture
def photos(tmp_path) -> list[Path]:
    return write_photos(tmp_path / "data" / CALIBRATION_SET / "image", 12)


def test_fold_alpha_head_is_exact_on_mmnet(untrained_mmnet, tmp_path):
    out = tmp_path / "folded.onnx"
    done = optimize_file(untrained_mmnet, out, split=False)
    assert done == {"head": 1, "split": 0}
    ops = op_types(out)
    assert "Softmax" not in ops and "Slice" not in ops and ops[-1] == "Sigmoid"
    assert ops.count("Resize") == op_types(untrained_mmnet).count("Resize")
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    np.testing.assert_allclose(run(out, x), run(untrained_mmnet, x), atol=1e-5)
    assert Matter(out).input_size == (64, 96)


def test_split_concat_convs_is_exact_on_mmnet(untrained_mmnet, tmp_path):
    model = onnx.load(str(untrained_mmnet))
    concats = sum(n.op_type == "Concat" for n in model.graph.node)
    assert split_concat_convs(model) == concats - 1  # dec1's concat feeds three branches
    assert sum(n.op_type == "Concat" for n in model.graph.node) == 1
    onnx.checker.check_model(model)
    out = tmp_path / "split.onnx"
    onnx.save(model, str(out))
    x = np.random.default_rng(1).random((1, 3, 64, 96), dtype=np.float32)
    np.testing.assert_allclose(run(out, x), run(untrained_mmnet, x), atol=1e-5)


def test_rewrites_are_exact_on_a_graph_whose_alpha_varies(tmp_path):
    src = mmnet_like(tmp_path / "like.onnx")
    x = np.random.default_rng(2).random((4, 3, 32, 48), dtype=np.float32)
    xs = [x[i : i + 1] for i in range(4)]
    reference = np.concatenate([run(src, v) for v in xs])
    assert reference.std() > 0.1  # a real spread: a wrong rewrite cannot hide
    for i, options in enumerate(({"split": False}, {"head": False}, {"block": 8}, {})):
        out = tmp_path / f"opt-{i}.onnx"
        done = optimize_file(src, out, **options)
        assert done["head"] == (0 if options.get("head") is False else 1)
        # block 8: the 12-channel branch is misaligned, so the concat is still split
        assert done["split"] == (0 if options.get("split") is False else 1)
        ours = np.concatenate([run(out, v) for v in xs])
        np.testing.assert_allclose(ours, reference, atol=1e-5)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["vcam.graph_rewrites"] == "head,split" and meta["vcam.input_height"] == "32"


def test_split_leaves_aligned_concats_alone_when_asked(tmp_path):
    model = onnx.load(str(mmnet_like(tmp_path / "like.onnx")))
    assert split_concat_convs(model, block=4) == 0  # 8 and 12 are multiples of 4
    assert any(n.op_type == "Concat" for n in model.graph.node)


def test_rewrites_leave_other_graphs_alone(red_model):
    model = onnx.load(str(red_model))
    before = model.SerializeToString()
    assert fold_alpha_head(model) is False
    assert split_concat_convs(model) == 0
    assert model.SerializeToString() == before
    assert optimize_model(model) == {"head": 0, "split": 0}


def test_quantize_gives_a_qdq_model_close_to_fp32(tmp_path, photos):
    src = mmnet_like(tmp_path / "like.onnx", 64, 96)
    dst = quantize_model(src, tmp_path / "like-int8.onnx", photos[:8])
    ops = op_types(dst)
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "Softmax" not in ops
    meta = {p.key: p.value for p in onnx.load(str(dst)).metadata_props}
    assert meta["vcam.precision"] == "int8" and meta["vcam.input_width"] == "96"
    assert "8 fitted training images" in meta["vcam.quantization"]
    matter = Matter(dst)  # the runtime takes it as any model of the contract
    assert matter.input_size == (64, 96)
    frame = cv2.imread(str(photos[9]))
    alpha, reference = matter.matte(frame), Matter(src).matte(frame)
    assert alpha.shape == frame.shape[:2] and reference.std() > 0.1
    result = compare_outputs(src, dst, photos[8:])
    assert result["images"] == 4
    assert result["mean_abs_diff"] < 0.03 and result["mask_iou"] > 0.9
    assert 0 < result["max_abs_diff"] < 0.3  # quantized: not identical, but close
    with pytest.raises(QuantizeError, match="already quantized"):
        quantize_model(dst, tmp_path / "twice.onnx", photos[:8])


def test_alpha_head_nodes_are_the_folded_head_only(tmp_path):
    src = mmnet_like(tmp_path / "like.onnx", 64, 96)
    model = onnx.load(str(src))
    assert alpha_head_nodes(model) == []  # not folded: Softmax -> Slice
    assert fold_alpha_head(model)
    head = alpha_head_nodes(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert [ops[name] for name in head] == ["Conv", "Resize", "Resize", "Sigmoid"]


def quantize_scales(path: Path) -> dict[str, float]:
    """The scale of each QuantizeLinear, by the name of the tensor it quantizes."""
    model = onnx.load(str(path))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {
        n.input[0]: float(consts[n.input[1]])
        for n in model.graph.node
        if n.op_type == "QuantizeLinear"
    }


def test_quantize_clamps_the_alpha_logits_to_their_range(tmp_path, photos):
    src = mmnet_like(tmp_path / "like.onnx", 64, 96)
    clamped = quantize_model(src, tmp_path / "clamped.onnx", photos[:8], logit_range=4.0)
    calibrated = quantize_model(src, tmp_path / "calibrated.onnx", photos[:8], logit_range=None)
    folded = onnx.load(str(src))
    fold_alpha_head(folded)
    head = alpha_head_nodes(folded)
    logits = [o for n in folded.graph.node if n.name in head[:-1] for o in n.output]
    assert len(logits) == 3  # the one-channel logit and its two resizes
    scales, wide = quantize_scales(clamped), quantize_scales(calibrated)
    for name in logits:
        assert scales[name] == pytest.approx(8.0 / 255, rel=1e-6)  # [-4, 4] in 256 levels
        assert wide[name] != pytest.approx(scales[name], rel=1e-3)
    others = [name for name in scales if name not in logits]
    assert others and all(scales[name] == wide[name] for name in others)
    meta = {p.key: p.value for p in onnx.load(str(clamped)).metadata_props}
    assert meta["vcam.quantization"].endswith("alpha logits over +-4")
    result = compare_outputs(src, clamped, photos[8:])
    assert result["mean_abs_diff"] < 0.03 and result["mask_iou"] > 0.9


def test_quantize_mmnet_export_runs_in_the_runtime(untrained_mmnet, tmp_path, photos):
    dst = quantize_model(untrained_mmnet, tmp_path / "mmnet-int8.onnx", photos[:4])
    assert op_types(dst).count("QuantizeLinear") > 50
    matter = Matter(dst)
    alpha = matter.predict(synthetic_frame(3, 192, 108))
    assert alpha.dtype == np.float32 and 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert compare_outputs(untrained_mmnet, dst, photos[4:6])["mean_abs_diff"] < 0.05


def test_calibration_and_check_images_do_not_overlap(tmp_path, photos):
    folder = tmp_path / "data" / CALIBRATION_SET
    calibration, check = calibration_and_check(folder, 5, 4)
    assert len(calibration) == 5 and len(check) == 4
    assert not set(calibration) & set(check)
    assert calibration_and_check(folder, 100, 4) == (sorted(photos), [])
    with pytest.raises(QuantizeError, match="not found"):
        calibration_and_check(tmp_path / "nowhere", 5, 0)


def load_script():
    spec = importlib.util.spec_from_file_location("quantize_script", ROOT / "scripts/quantize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_fp32_and_int8_models(tmp_path, photos, capsys):
    script = load_script()
    src = mmnet_like(tmp_path / "like.onnx", 64, 96)
    fp32 = tmp_path / "like-opt.onnx"
    assert script.main([str(src), "--out", str(fp32), "--precision", "fp32"]) == 0
    assert "head folded True, 1 concat+conv split" in capsys.readouterr().out
    int8 = tmp_path / "like-int8.onnx"
    args = [str(src), "--out", str(int8), "--data", str(tmp_path / "data"), "--count", "6"]
    assert script.main(args + ["--check", "3"]) == 0
    out = capsys.readouterr().out
    assert "6 calibration images" in out and "int8 vs fp32 on 3 other training photos" in out
    assert "QuantizeLinear" in op_types(int8)


def test_script_errors_are_one_line(tmp_path, capsys):
    script = load_script()
    src = mmnet_like(tmp_path / "like.onnx")
    code = script.main([str(src), "--out", str(tmp_path / "q.onnx"), "--data", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: calibration folder") and "\n" not in err
    with pytest.raises(SystemExit) as info:
        script.main([str(tmp_path / "absent.onnx"), "--out", str(tmp_path / "q.onnx")])
    assert info.value.code == 2
    assert "model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        script.main([str(src), "--out", str(tmp_path / "q.onnx"), "--logit-range", "-2"])
    assert info.value.code == 2
    assert "--logit-range must be positive" in capsys.readouterr().err
