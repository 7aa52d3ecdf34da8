"""MMNet's losses (reference: hyperconnect/MMNet ``factory/losses_funcs.py``).

alpha (L1), compositional (L1 of image * alpha), gradient (L1 of Sobel gradients), the
soft-label cross-entropy ("KD") on the logits, and the same cross-entropy on the auxiliary
1/16-scale head. The total is the weighted sum divided by the sum of the weights, as in the
reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_SOBEL = torch.tensor(
    [
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
        [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
    ]
).div(8.0)


@dataclass
class LossWeights:
    """Weights of the five loss terms (the reference uses 1 for each)."""

    alpha: float = 1.0
    comp: float = 1.0
    grad: float = 1.0
    kd: float = 1.0
    aux: float = 1.0


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` (N,C,H,W) over the pixels where ``mask`` (N,1,H,W, 0/1) is 1; the
    plain mean without a mask."""
    if mask is None:
        return values.mean()
    total = (values * mask).sum()
    return total / (mask.sum() * values.shape[1]).clamp_min(1.0)


def alpha_loss(
    alpha: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute difference of the alphas."""
    return masked_mean((alpha - target).abs(), mask)


def comp_loss(
    alpha: torch.Tensor, target: torch.Tensor, image: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute difference of the image multiplied by each alpha (image in [0, 1])."""
    return masked_mean((image * alpha - image * target).abs(), mask)


def grad_loss(
    alpha: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute difference of the Sobel gradients (x and y, zero padding as TF's SAME).

    Convolution is linear, so one convolution of the difference gives both gradients' difference.
    """
    kernel = _SOBEL.to(alpha.dtype).to(alpha.device).unsqueeze(1)
    diff = F.conv2d((alpha - target).contiguous(), kernel, padding=1)
    return masked_mean(diff.abs(), mask)


def soft_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of two-class logits N,2,H,W against soft labels [1 - t, t] (t: N,1,H,W)."""
    log_p = F.log_softmax(logits, dim=1)
    return masked_mean(-(target * log_p[:, 1:2] + (1 - target) * log_p[:, 0:1]), mask)


def aux_target(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The target at the auxiliary head's scale (area average keeps soft edges)."""
    return F.adaptive_avg_pool2d(target, size)


def mmnet_loss(
    logits: torch.Tensor,
    aux_logits: torch.Tensor | None,
    target: torch.Tensor,
    image: torch.Tensor,
    weights: LossWeights,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and each term's value; ``mask`` (N,1,H,W) limits every term to the frame
    (the canvas padding, which the runtime throws away, is left out)."""
    alpha = torch.softmax(logits, dim=1)[:, 1:2]
    terms: dict[str, tuple[float, torch.Tensor]] = {}
    if weights.alpha:
        terms["alpha"] = (weights.alpha, alpha_loss(alpha, target, mask))
    if weights.comp:
        terms["comp"] = (weights.comp, comp_loss(alpha, target, image, mask))
    if weights.grad:
        terms["grad"] = (weights.grad, grad_loss(alpha, target, mask))
    if weights.kd:
        terms["kd"] = (weights.kd, soft_cross_entropy(logits, target, mask))
    if weights.aux and aux_logits is not None:
        size = tuple(aux_logits.shape[2:])
        small = aux_target(target, size)
        small_mask = None if mask is None else (aux_target(mask, size) > 0.5).float()
        terms["aux"] = (weights.aux, soft_cross_entropy(aux_logits, small, small_mask))
    if not terms:
        raise ValueError("every loss weight is zero")
    total = sum(w * v for w, v in terms.values()) / sum(w for w, _ in terms.values())
    return total, {name: float(v.detach()) for name, (_, v) in terms.items()}
