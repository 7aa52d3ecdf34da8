"""MMNet's architecture: parameter count, output shapes, width rounding."""

import pytest

torch = pytest.importorskip("torch")

from vcam.nets.mmnet import MMNet, count_parameters, scaled_depth  # noqa: E402


def test_parameter_count_matches_the_reference_architecture():
    # 190,652 for width 1.0 (the paper's "about 0.19 M"), aux head included.
    assert count_parameters(MMNet(1.0)) == 190_652
    assert count_parameters(MMNet(0.5)) < count_parameters(MMNet(0.75)) < 190_652


def test_width_rounding_follows_the_reference():
    assert scaled_depth(32, 1.0) == 32
    assert scaled_depth(16, 0.5) == 8
    assert scaled_depth(24, 0.5) == 16  # round(12) -> nearest multiple of 8 (half up) = 16
    assert scaled_depth(40, 0.75) == 32
    assert scaled_depth(8, 0.25) == 8  # at least 8


@pytest.mark.parametrize("size", [(256, 256), (144, 256), (64, 96)])
def test_output_shapes(size):
    net = MMNet(1.0)
    x = torch.rand(2, 3, *size)
    net.train()
    logits, aux = net(x)
    assert logits.shape == (2, 2, *size)
    assert aux.shape == (2, 2, size[0] // 16, size[1] // 16)
    net.eval()
    with torch.no_grad():
        assert net(x).shape == (2, 2, *size)


def test_encoder_projections_are_linear_except_the_last():
    net = MMNet(1.0)
    acts = [any(isinstance(m, torch.nn.ReLU6) for m in b.merge) for b in net.encoder]
    assert acts == [False] * 9 + [True]
    assert [len(b.branches) for b in net.encoder] == [4, 4, 4, 4, 3, 3, 3, 3, 2, 2]
