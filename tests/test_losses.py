"""MMNet's losses on inputs small enough to work out by hand."""

import math

import pytest

torch = pytest.importorskip("torch")

from vcam.training.losses import (  # noqa: E402
    LossWeights,
    alpha_loss,
    comp_loss,
    grad_loss,
    mmnet_loss,
    soft_cross_entropy,
)


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_alpha_loss_is_the_mean_absolute_difference():
    pred, target = t([[0.0, 1.0], [0.5, 0.5]]), t([[0.0, 0.0], [1.0, 0.5]])
    assert alpha_loss(pred, target).item() == pytest.approx((0 + 1 + 0.5 + 0) / 4)


def test_comp_loss_weights_the_difference_by_the_image():
    pred, target = t([[0.0, 1.0], [0.5, 0.5]]), t([[0.0, 0.0], [1.0, 0.5]])
    image = torch.full((1, 3, 2, 2), 0.5)
    assert comp_loss(pred, target, image).item() == pytest.approx(0.5 * 0.375)


def test_grad_loss_of_an_impulse():
    # A single 1 in a 3x3 zero field: each Sobel/8 response sums to |1|+|2|+|1| twice = 8/8;
    # two directions over 9 pixels -> 2 / 18.
    pred = t([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert grad_loss(pred, torch.zeros_like(pred)).item() == pytest.approx(2 / 18)
    assert grad_loss(pred, pred).item() == 0.0
    # A constant offset has no gradient inside; only the zero padding sees it.
    flat = torch.full((1, 1, 5, 5), 0.3)
    inner = grad_loss(flat, torch.zeros_like(flat))
    assert 0 < inner.item() < 0.3


def test_soft_cross_entropy():
    even = torch.zeros(1, 2, 1, 1)
    assert soft_cross_entropy(even, torch.ones(1, 1, 1, 1)).item() == pytest.approx(math.log(2))
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)  # p(person) = 0.75
    assert soft_cross_entropy(logits, torch.ones(1, 1, 1, 1)).item() == pytest.approx(
        -math.log(0.75)
    )
    half = torch.full((1, 1, 1, 1), 0.5)
    assert soft_cross_entropy(logits, half).item() == pytest.approx(
        -0.5 * (math.log(0.75) + math.log(0.25))
    )


def test_total_is_the_weighted_mean_of_the_terms():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 32, 32)
    aux = torch.randn(2, 2, 2, 2)
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    image = torch.rand(2, 3, 32, 32)
    weights = LossWeights(alpha=1, comp=2, grad=0, kd=1, aux=0.5)
    total, terms = mmnet_loss(logits, aux, target, image, weights)
    assert set(terms) == {"alpha", "comp", "kd", "aux"}
    expected = (terms["alpha"] + 2 * terms["comp"] + terms["kd"] + 0.5 * terms["aux"]) / 4.5
    assert total.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError):
        mmnet_loss(logits, aux, target, image, LossWeights(0, 0, 0, 0, 0))


def test_the_frame_mask_leaves_the_canvas_padding_out_of_every_term():
    torch.manual_seed(1)
    logits = torch.randn(2, 2, 32, 32)
    aux = torch.randn(2, 2, 2, 2)
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    image = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:24] = 1.0  # a letterboxed frame: rows 0-7 and 24-31 are padding
    total, terms = mmnet_loss(logits, aux, target, image, LossWeights(), mask)
    wild = logits.clone()
    wild[:, :, :6] = 50 * torch.randn(2, 2, 6, 32)  # anything in the padding, away from its edge
    wild[:, :, 26:] = -50.0
    changed, changed_terms = mmnet_loss(wild, aux, target, image, LossWeights(), mask)
    assert changed.item() == pytest.approx(total.item(), rel=1e-6)
    assert changed_terms == pytest.approx(terms, rel=1e-6)
    unmasked, _ = mmnet_loss(wild, aux, target, image, LossWeights())
    assert unmasked.item() > total.item() * 1.5  # without the mask the padding counts
