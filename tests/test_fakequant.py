"""Quantization-aware fine-tuning: activations and the alpha logit rounded as the int8 file
rounds them, gradients straight through, ranges saved with the run."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_train_loop import tiny_config  # noqa: E402

from vcam.nets.mmnet import ConvBN, MMNet  # noqa: E402
from vcam.training.fakequant import (  # noqa: E402
    LEVELS,
    WEIGHT_LEVELS,
    RangeQuantizer,
    attach,
    quantized_weight,
)
from vcam.training.loop import Trainer  # noqa: E402
from vcam.training.quantize import LOGIT_RANGE  # noqa: E402


def hooked_net(seed: int = 0) -> tuple[MMNet, object, torch.Tensor]:
    torch.manual_seed(seed)
    net = MMNet(0.5).train()
    return net, attach(net), torch.rand(2, 3, 64, 96)


def capture_outputs(net: MMNet) -> dict[str, torch.Tensor]:
    """Every ConvBN's output (after the fake quantizer's hook) on the next forward pass."""
    seen: dict[str, torch.Tensor] = {}
    for name, module in net.named_modules():
        if isinstance(module, ConvBN):
            module.register_forward_hook(lambda _m, _i, out, n=name: seen.__setitem__(n, out))
    return seen


def test_every_convolution_output_is_rounded_to_256_levels_of_a_range_holding_zero():
    net, fake, image = hooked_net()
    seen = capture_outputs(net)  # registered after the quantizers: sees their output
    net(image)
    assert len(seen) > 50
    for name, out in seen.items():
        assert torch.unique(out).numel() <= LEVELS + 1, name
    for name, quantizer in fake.quantizers.items():
        if name != "alpha_logit":
            assert quantizer.low <= 0 <= quantizer.high and quantizer.high > quantizer.low, name


def test_weights_are_rounded_to_signed_8_bits_per_output_channel():
    torch.manual_seed(1)
    weight = torch.randn(6, 4, 3, 3) * torch.tensor([1e-3, 0.1, 1, 3, 10, 0.5]).view(6, 1, 1, 1)
    rounded = quantized_weight(weight)
    for w, r in zip(weight, rounded, strict=True):
        step = w.abs().max() / WEIGHT_LEVELS
        assert torch.allclose(r / step, (r / step).round(), atol=1e-3)  # on its channel's grid
        assert (r - w).abs().max() <= step / 2 + 1e-6
        assert torch.isclose(r.abs().max(), w.abs().max())
    net, _, image = hooked_net()
    conv = net.encoder[3].merge[0]
    seen = []
    conv.register_forward_hook(lambda _m, i, out: seen.append((i[0], out)))
    net(image)
    x, out = seen[0]
    expected = torch.nn.functional.conv2d(x, quantized_weight(conv.weight))
    assert torch.allclose(out, expected, atol=1e-5)
    assert not torch.allclose(out, conv._conv_forward(x, conv.weight, None), atol=1e-5)


def test_branch_openings_share_one_range_as_the_fused_block_does():
    net, fake, _ = hooked_net()
    names = set(fake.quantizers)
    # encoder 0 is strided with four branches: one expand range and one strided range.
    assert {"encoder_0_opening0", "encoder_0_opening1"} <= names
    assert not any(n.startswith("encoder_0_branches_") and n.endswith(("_0", "_1")) for n in names)
    assert {f"encoder_0_branches_{i}_2" for i in range(4)} <= names  # dilated: one each
    assert "encoder_1_opening1" not in names  # not strided: no strided opening


def test_the_alpha_logit_is_rounded_over_its_fixed_range():
    net, _, image = hooked_net()
    logits = net(image)[0]
    assert torch.all(logits[:, 0] == 0)
    step = 2 * LOGIT_RANGE / LEVELS
    codes = logits[:, 1] / step  # (code - zero point) x step
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert logits[:, 1].abs().max() <= LOGIT_RANGE + step
    far = RangeQuantizer(fixed=(-LOGIT_RANGE, LOGIT_RANGE))
    assert far(torch.tensor([50.0, -50.0])).abs().max() <= LOGIT_RANGE + step


def test_gradients_pass_through_the_rounding():
    net, _, image = hooked_net()
    logits, aux = net(image)
    (logits[:, 1].mean() + aux.mean()).backward()
    first = net.init_block[0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_ranges_move_only_while_training_and_detach_restores_float():
    net, fake, image = hooked_net()
    net(image)

    def ranges() -> dict[str, tuple[float, float]]:
        return {
            n: (float(q.low), float(q.high))
            for n, q in fake.named_modules()
            if isinstance(q, RangeQuantizer)
        }

    before = ranges()
    net.eval()
    rounded = net(image * 0.5)
    assert ranges() == before
    fake.detach()
    plain = net(image * 0.5)
    assert not torch.equal(rounded, plain)
    # Float again: the same as a copy of the weights that never had quantizers.
    twin = MMNet(0.5).eval()
    twin.load_state_dict(net.state_dict())
    assert torch.allclose(twin(image * 0.5), plain, atol=1e-6)
    fake = attach(net.train())
    net(image)
    trained = ranges()
    net(image * 0.5)
    assert ranges() != trained  # a training pass moves them


def test_a_fake_quant_run_trains_saves_its_ranges_and_resumes_them(tmp_path: Path):
    cfg = tiny_config(tmp_path, fake_quant=True, ema_decay=0.9, max_steps=1, epochs=2)
    first = Trainer(cfg)
    first.fit()
    assert not first.ema._forward_hooks and all(
        not m._forward_hooks for m in first.ema.modules()
    )  # the moving average (what exports prefer) stays float
    state = torch.load(tmp_path / "run/last.pt", weights_only=False)
    saved = state["fake_quant"]
    assert any(k.endswith(".high") and float(v) > 0 for k, v in saved.items())
    assert set(state["model"]) == set(MMNet(0.5).state_dict())  # exports read plain weights
    resumed = Trainer(tiny_config(tmp_path, fake_quant=True, ema_decay=0.9, epochs=2))
    resumed.resume(tmp_path / "run/last.pt")
    for name, value in resumed.fake_quant.state_dict().items():
        assert torch.equal(value, saved[name]), name
    final = resumed.fit()
    assert final.name == "final.pt" and resumed.step == resumed.total_steps
