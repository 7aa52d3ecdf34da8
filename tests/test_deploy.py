"""The fused inference form of MMNet (vcam.nets.deploy): same alpha, fewer and aligned ops,
through PyTorch, a real ONNX export, onnxruntime and the int8 quantizer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from nets import random_net  # noqa: E402
from test_quantize import op_types, run, write_photos  # noqa: E402

from vcam.matting import Matter  # noqa: E402
from vcam.nets.deploy import FoldedStem, FusedEncoderBlock, deploy, padded  # noqa: E402
from vcam.nets.mmnet import MMNet  # noqa: E402
from vcam.training.export import export_onnx  # noqa: E402
from vcam.training.quantize import CALIBRATION_SET, compare_outputs, quantize_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def logits(net: MMNet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x)


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the largest value."""
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_deploy_computes_the_same_alpha(width):
    net = random_net(0, width)
    fused = deploy(net)
    x = torch.rand(2, 3, 64, 96)
    reference = logits(net, x)
    assert reference.std() > 0.01 * reference.abs().max()  # varies with the input
    assert gap(logits(fused, x), reference) < 1e-5
    assert logits(net, x).equal(reference)  # the trained net itself is untouched


def test_deploy_merges_branches_and_pads_channels():
    fused = deploy(random_net(0, 1.0))
    assert isinstance(fused.init_block, FoldedStem) and not fused.normalize_input
    assert fused.init_block.conv.in_channels == 4
    blocks = [*fused.encoder, fused.dec2, fused.dec3]
    assert all(isinstance(b, FusedEncoderBlock) for b in blocks)
    for block in blocks:
        for conv in block.dilated:
            assert conv[0].in_channels % 16 == 0 and conv[0].groups == conv[0].in_channels
        assert block.expand[0].out_channels == block.width * len(block.dilated)
    # 24-channel branches (encoder blocks 2 and 3) become 32, the 40-channel decoder ones 48.
    assert fused.encoder[2].width == 32 and fused.dec2.width == 48
    assert padded(24, 16) == 32 and padded(48, 16) == 48 and padded(24, 1) == 24


def test_a_misplaced_channel_would_show():
    """The equality check above can fail: swapping two merge columns changes the alpha."""
    net = random_net(0, 1.0)
    fused = deploy(net)
    with torch.no_grad():
        weight = fused.dec3.merge[0].weight
        weight[:, [0, 1]] = weight[:, [1, 0]]
    x = torch.rand(1, 3, 64, 96)
    assert gap(logits(fused, x), logits(net, x)) > 1e-3


def test_deployed_export_is_smaller_and_exact(tmp_path):
    net = random_net(0, 0.5)
    plain = export_onnx(net, tmp_path / "plain.onnx", 64, 96)
    fused = export_onnx(deploy(net), tmp_path / "fused.onnx", 64, 96)
    ops, plain_ops = op_types(fused), op_types(plain)
    assert ops.count("Conv") < plain_ops.count("Conv") - 20
    assert "Sub" not in ops and "Div" not in ops and "Split" in ops
    x = np.random.default_rng(1).random((1, 3, 64, 96), dtype=np.float32)
    np.testing.assert_allclose(run(fused, x), run(plain, x), atol=1e-5)
    assert Matter(fused).input_size == (64, 96)  # the runtime contract holds


def test_quantized_deployed_model_keeps_the_input_pad_in_float(tmp_path):
    net = random_net(0, 0.5)
    fused = export_onnx(deploy(net), tmp_path / "fused.onnx", 64, 96)
    photos = write_photos(tmp_path / "data" / CALIBRATION_SET / "image", 10)
    int8 = quantize_model(fused, tmp_path / "fused-int8.onnx", photos[:6])
    graph = onnx.load(str(int8)).graph
    first = next(n for n in graph.node if graph.input[0].name in n.input)
    assert first.op_type == "Pad"  # float Pad, then one QuantizeLinear (no Q/DQ before it)
    result = compare_outputs(fused, int8, photos[6:])
    assert result["mean_abs_diff"] < 0.05 and result["mask_iou"] > 0.85


def test_export_script_deploy_flag_checks_parity(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import export_onnx as script

    checkpoint = tmp_path / "ckpt.pt"
    net = random_net(0, 0.5)
    torch.save({"model": net.state_dict(), "config": {"width": 0.5}, "step": 7}, checkpoint)
    out = tmp_path / "fast.onnx"
    code = script.main([str(checkpoint), "--size", "64x96", "--out", str(out), "--deploy"])
    assert code == 0
    assert "max |diff|" in capsys.readouterr().out
    meta = Matter(out).metadata
    assert meta["vcam.deploy"].startswith("fused branch openings, channels padded to x16")
    assert meta["vcam.training_step"] == "7"
