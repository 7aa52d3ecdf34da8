"""Mobile export (vcam.mobile, scripts/export_tflite.py, scripts/check_tflite.py).

Without the ``[mobile]`` extra only the PyTorch module, the operator checks and the scripts'
early one-line errors run; with it (litert-torch) an untrained MMNet(0.5) is exported at 64x96
to every variant once per session and checked against its ONNX export.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.errors import ModelError
from vcam.mobile.ops import (
    ALLOWED_OPS,
    EXPECTED_DILATIONS,
    ModelInfo,
    Operator,
    TensorInfo,
    check_ops,
)

torch = pytest.importorskip("torch")

from evaldata import make_data  # noqa: E402
from nets import random_net  # noqa: E402

from vcam.mobile.module import MobileMatting, load_mmnet  # noqa: E402
from vcam.nets.mmnet import AlphaHead, MMNet  # noqa: E402
from vcam.training.export import export_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_tflite  # noqa: E402
import export_tflite  # noqa: E402

HAVE_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
HAVE_CONVERTER = HAVE_LITERT and importlib.util.find_spec("litert_torch") is not None
needs_litert = pytest.mark.skipif(not HAVE_LITERT, reason="ai-edge-litert not installed")
needs_converter = pytest.mark.skipif(
    not HAVE_CONVERTER, reason="the [mobile] extra (litert-torch) is not installed"
)
SIZE = (64, 96)


def save_weights(net: MMNet, path: Path) -> Path:
    torch.save({"model": net.state_dict(), "config": {"width": net.width}}, path)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    """Weights, the ONNX model made from them, and photos with masks (64x96 model)."""
    root = tmp_path_factory.mktemp("mobile")
    net = random_net(0)
    data = make_data(root / "data", persons=6) / "portraits-shen2016" / "test"
    return {
        "root": root,
        "net": net,
        "weights": save_weights(net, root / "small.pt"),
        "onnx": export_onnx(net, root / "small.onnx", *SIZE),
        "data": data,
    }


# --- the PyTorch module ------------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 96), (144, 256)])
def test_mobile_module_computes_the_onnx_models_function(size):
    net = random_net(1)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        expected = AlphaHead(net)(x)
        ours = MobileMatting(net)(image=x.permute(0, 2, 3, 1))["alpha"]
    assert ours.shape == (2, *size, 1)
    np.testing.assert_allclose(ours.permute(0, 3, 1, 2).numpy(), expected.numpy(), atol=1e-5)


def test_load_mmnet_reads_checkpoints_and_says_what_is_wrong(tmp_path):
    net = random_net(2)
    loaded, state = load_mmnet(save_weights(net, tmp_path / "w.pt"))
    assert loaded.width == 0.5 and not loaded.training and state["config"]["width"] == 0.5
    cases = {
        tmp_path / "missing.pt": "not found",
        tmp_path / "text.pt": "not a PyTorch file",
        tmp_path / "list.pt": "expected a dict with 'model'",
        tmp_path / "wrong.pt": "do not fit MMNet",
    }
    (tmp_path / "text.pt").write_text("hello")
    torch.save([1, 2], tmp_path / "list.pt")
    torch.save({"model": net.state_dict(), "config": {"width": 1.0}}, tmp_path / "wrong.pt")
    for path, message in cases.items():
        with pytest.raises(ModelError, match=message) as info:
            load_mmnet(path)
        assert "\n" not in str(info.value)


# --- operator checks (no LiteRT needed) ----------------------------------------------------


def model_info(extra: tuple[Operator, ...] = (), dtype: str = "FLOAT32", rates=None) -> ModelInfo:
    rates = sorted(EXPECTED_DILATIONS) if rates is None else rates
    ops = [Operator("CONV_2D", dtype, (2, 2), (1, 1))]
    ops += [Operator("DEPTHWISE_CONV_2D", dtype, (1, 1), (r, r)) for r in [1, *rates]]
    ops += [Operator("CONCATENATION", dtype), Operator("LOGISTIC", dtype), *extra]
    tensor = TensorInfo("image", (1, 64, 96, 3), dtype)
    return ModelInfo(tuple(ops), (tensor,), (tensor,), 1, ())


def test_check_ops_accepts_what_the_export_writes():
    assert check_ops(model_info(), "fp32") == []
    fp16 = model_info((Operator("DEQUANTIZE", "FLOAT16"),) * 3)
    assert check_ops(fp16, "fp16") == []
    edges = (Operator("QUANTIZE", "UINT8"), Operator("QUANTIZE", "INT8"))
    assert check_ops(model_info(edges, dtype="INT8"), "int8") == []
    assert model_info().dilations() == {1: 1, 2: 1, 4: 1, 8: 1}


def test_check_ops_fails_on_space_to_batch_and_lost_dilations():
    # What a converter emits when it lowers a dilated depthwise conv the slow way.
    lowered = model_info(
        (Operator("SPACE_TO_BATCH_ND"), Operator("BATCH_TO_SPACE_ND")), rates=[2, 4]
    )
    problems = check_ops(lowered, "fp32")
    assert any("BATCH_TO_SPACE_ND x1, SPACE_TO_BATCH_ND x1" in p for p in problems)
    assert any("dilated DEPTHWISE_CONV_2D with rate [8]" in p for p in problems)
    assert any("CUSTOM:Foo" in p for p in check_ops(model_info((Operator("CUSTOM:Foo"),)), "fp32"))
    lopsided = model_info((Operator("DEPTHWISE_CONV_2D", "FLOAT32", (1, 1), (2, 1)),))
    assert any("unequal" in p for p in check_ops(lopsided, "fp32"))
    with pytest.raises(ValueError, match="precision"):
        check_ops(model_info(), "int4")


def test_check_ops_fails_on_float_inside_an_int8_model():
    mixed = model_info((Operator("CONV_2D", "FLOAT32"),), dtype="INT8")
    assert any("computes outside INT8: CONV_2D(FLOAT32) x1" in p for p in check_ops(mixed, "int8"))
    quantized_fp32 = model_info((Operator("QUANTIZE", "FLOAT32"),))
    assert any("unexpected (de)quantisation" in p for p in check_ops(quantized_fp32, "fp32"))


@needs_litert
def test_read_model_info_refuses_what_is_not_a_tflite_file(tmp_path):
    from vcam.mobile.ops import read_model_info

    (tmp_path / "fake.tflite").write_bytes(b"\x00" * 64)
    for path, message in (
        (tmp_path / "none.tflite", "no such"),
        (tmp_path / "fake.tflite", "TFL3"),
    ):
        with pytest.raises(ModelError, match=message) as info:
            read_model_info(path)
        assert "\n" not in str(info.value)


# --- the scripts' early errors (no conversion needed) --------------------------------------


def run_script(module, argv: list[str], capsys) -> tuple[int, str]:
    code = module.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def onnx_with_output_named(source: Path, name: str, path: Path) -> Path:
    import onnx

    model = onnx.load(str(source))
    old = model.graph.output[0].name
    model.graph.output[0].name = name
    for node in model.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
    onnx.save(model, str(path))
    return path


def test_export_errors_are_one_line(small, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--onnx", small["onnx"], "--out-dir", out, "--calibration", small["data"]]
    code, err = run_script(export_tflite, [tmp_path / "no.pt", *base], capsys)
    one_line_error(code, err, "no.pt", "not found")
    wrong = onnx_with_output_named(small["onnx"], "mask", tmp_path / "mask.onnx")
    argv = [small["weights"], "--onnx", wrong, "--out-dir", out]
    code, err = run_script(export_tflite, [*argv, "--calibration", small["data"]], capsys)
    one_line_error(code, err, "no 'alpha' output", "export_onnx.py")
    code, err = run_script(
        export_tflite, [small["weights"], "--onnx", tmp_path / "x.onnx", *base[2:]], capsys
    )
    one_line_error(code, err, "x.onnx", "not found")
    argv = [small["weights"], *base[:4], "--calibration", tmp_path / "nowhere"]
    code, err = run_script(export_tflite, argv, capsys)
    one_line_error(code, err, "nowhere", "--calibration")
    assert not out.exists()


def test_export_refuses_weights_that_are_not_the_onnx_models(small, tmp_path, capsys):
    other = save_weights(random_net(7), tmp_path / "other.pt")
    argv = [other, "--onnx", small["onnx"], "--out-dir", tmp_path / "out"]
    code, err = run_script(export_tflite, [*argv, "--calibration", small["data"]], capsys)
    one_line_error(code, err, "does not match", "exported from")
    assert not (tmp_path / "out").exists()


def test_check_errors_are_one_line(small, tmp_path, capsys):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\x00" * 64)
    argv = [fake, "--onnx", small["onnx"], "--data", tmp_path / "nodata"]
    code, err = run_script(check_tflite, argv, capsys)
    one_line_error(code, err, "nodata")
    with pytest.raises(SystemExit):
        check_tflite.main([str(fake), "--onnx", str(small["onnx"]), "--data", "x", "--limit", "0"])
    capsys.readouterr()


# --- conversion ([mobile] extra) -----------------------------------------------------------


@pytest.fixture(scope="module")
def exported(small) -> dict[str, Path]:
    """Every variant of the small model, written by scripts/export_tflite.py."""
    if not HAVE_CONVERTER:
        pytest.skip("the [mobile] extra (litert-torch) is not installed")
    out = small["root"] / "tflite"
    argv = [small["weights"], "--onnx", small["onnx"], "--out-dir", out, "--name", "small"]
    argv += ["--calibration", small["data"], "--variants", *export_tflite.VARIANTS]
    assert export_tflite.main([str(a) for a in argv]) == 0
    return {v: out / f"small-{v}.tflite" for v in export_tflite.VARIANTS}


@needs_converter
def test_every_variant_passes_the_operator_check(exported):
    from vcam.mobile.ops import read_model_info

    for variant, path in exported.items():
        info = read_model_info(path)
        assert check_ops(info, export_tflite.PRECISION[variant]) == [], variant
        # MMNet's dilated depthwise convolutions stay native: rates 2, 4 and 8 (and 1).
        assert set(info.dilations()) == {1, 2, 4, 8}
        assert "SPACE_TO_BATCH_ND" not in info.counts()
        assert info.inputs[0].shape == (1, *SIZE, 3) and info.outputs[0].shape == (1, *SIZE, 1)
        assert info.vcam["vcam.variant"] == variant
        assert info.vcam["vcam.input_height"] == str(SIZE[0])
        assert info.vcam["vcam.source_onnx"] == "small.onnx"


@needs_converter
def test_variants_match_the_onnx_model(exported, small):
    from vcam.evaluation.datasets import load_pairs, read_rgb
    from vcam.fitting import fit
    from vcam.mobile.reference import OnnxReference
    from vcam.mobile.runner import TfliteMatting

    reference = OnnxReference(small["onnx"])
    images = [fit(read_rgb(p.image), SIZE)[0] for p in load_pairs(small["data"])]
    limits = {"fp32": (1e-4, 1e-5), "fp16": (0.02, 2e-3), "int8": (0.3, 0.03)}
    limits["int8-uint8"] = limits["int8"]
    for variant, path in exported.items():
        model = TfliteMatting(path)
        diffs = [np.abs(model.run_small(im) - reference.run_small(im)) for im in images]
        worst, mean = max(d.max() for d in diffs), np.mean([d.mean() for d in diffs])
        assert worst <= limits[variant][0] and mean <= limits[variant][1], (variant, worst, mean)


@needs_converter
def test_uint8_file_takes_camera_bytes_and_gives_the_int8_alpha(exported, small):
    from ai_edge_litert.interpreter import Interpreter

    from vcam.mobile.runner import TfliteMatting

    u8 = Interpreter(model_path=str(exported["int8-uint8"]))
    u8.allocate_tensors()
    inp, out = u8.get_input_details()[0], u8.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and out["dtype"] == np.uint8
    scale, zero = inp["quantization"]
    assert zero == 0 and scale == pytest.approx(1 / 255, rel=1e-6)
    assert out["quantization"] == (pytest.approx(1 / 256), 0)
    frame = cv2.imread(str(next((small["data"] / "image").iterdir())))
    rgb = cv2.cvtColor(cv2.resize(frame, SIZE[::-1]), cv2.COLOR_BGR2RGB)
    u8.set_tensor(inp["index"], rgb[None])
    u8.invoke()
    alpha_bytes = u8.get_tensor(out["index"])[0, :, :, 0]
    float_io = TfliteMatting(exported["int8"]).run_small(rgb)
    # Same integer model, other ends: exactly the same alpha, in steps of 1/256.
    np.testing.assert_allclose(alpha_bytes / 256.0, float_io, atol=1e-6)


@needs_converter
def test_check_script_writes_its_table_into_the_guide(exported, small, tmp_path, capsys):
    guide = tmp_path / "MOBILE.md"
    guide.write_text(f"# Guide\n\n{check_tflite.BEGIN}\nold\n{check_tflite.END}\n\nend\n")
    argv = [*exported.values(), "--onnx", small["onnx"], "--data", small["data"], "--runs", "3"]
    assert check_tflite.main([str(a) for a in [*argv, "--write", guide]]) == 0
    text = guide.read_text()
    assert "old" not in text and text.endswith("\nend\n")
    rows = [line for line in text.splitlines() if line.startswith("| small-")]
    assert len(rows) == 4 and all("| ok |" in r for r in rows)
    assert "| small.onnx (onnxruntime) | float32 |" in text
    capsys.readouterr()
    # A file without the markers is refused in one line, and the model check still fails
    # loudly on a model from another ONNX file's size.
    bare = tmp_path / "bare.md"
    bare.write_text("# nothing\n")
    argv = [exported["fp16"], "--onnx", small["onnx"], "--data", small["data"], "--runs", "1"]
    code, err = run_script(check_tflite, [*argv, "--write", bare], capsys)
    one_line_error(code, err, "add the lines")
    other = export_onnx(random_net(3), tmp_path / "other.onnx", 96, 96)
    argv = [exported["fp16"], "--onnx", other, "--data", small["data"], "--runs", "1"]
    code, err = run_script(check_tflite, argv, capsys)
    one_line_error(code, err, "input (64, 96)")


@needs_converter
def test_failed_operator_check_writes_nothing(exported, small, tmp_path, monkeypatch, capsys):
    # Real files, a shrunk allow-list: the export must fail loudly and leave no file behind.
    from vcam.mobile.ops import read_model_info

    def export_again(args, reference, work):
        results = []
        for variant in args.variants:
            path = Path(shutil.copy(exported[variant], work))
            results.append((variant, path, read_model_info(path), 0.0, 0.0))
        return results

    allowed = ALLOWED_OPS - {"RESIZE_BILINEAR"}
    monkeypatch.setattr(export_tflite, "export", export_again)
    monkeypatch.setattr(
        export_tflite, "check_ops", lambda info, p: check_ops(info, p, allowed=allowed)
    )
    out = tmp_path / "out"
    argv = [small["weights"], "--onnx", small["onnx"], "--out-dir", out, "--variants", "fp16"]
    assert export_tflite.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "small-fp16.tflite: operators outside the allow-list: RESIZE_BILINEAR x4" in err
    assert "not written" in err
    assert not out.exists()
