"""Quantization-aware fine-tuning: the int8 file's activation rounding, simulated in training.

The fast model ships as a static int8 QDQ file (:mod:`vcam.training.quantize`): every
convolution's output is rounded to 256 levels of its calibrated range, and the alpha logit
to 256 levels of [-LOGIT_RANGE, LOGIT_RANGE]. Training in float never sees that rounding, so
the steadiness the consistency loss teaches is partly lost in the int8 file (most of its JPEG
sensitivity, docs/eval/fast-context.md). :func:`attach` hooks a fake quantizer onto each
``ConvBN`` output (unsigned 8-bit over a moving min/max range that always holds 0, as
onnxruntime's MinMax calibration does) and onto the alpha logit, and rounds each
convolution's weights to signed 8 bits per output channel (as onnxruntime does; per channel,
the rounding is the same before or after BatchNorm folds in). Gradients pass straight through
the rounding. The branch openings of an encoder block share one range, as they do once fused
for inference (:mod:`vcam.nets.deploy`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vcam.nets.mmnet import ConvBN, EncoderBlock, MMNet
from vcam.training.quantize import LOGIT_RANGE

LEVELS = 255  # unsigned 8-bit: codes 0..255
WEIGHT_LEVELS = 127  # signed 8-bit weights, symmetric: codes -127..127


def quantized_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded to signed 8 bits, one symmetric scale per output channel."""
    scale = weight.detach().abs().amax(dim=(1, 2, 3)).clamp(min=1e-8) / WEIGHT_LEVELS
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(
        weight, scale, zero, 0, -WEIGHT_LEVELS, WEIGHT_LEVELS
    )


def _conv_with_quantized_weight(conv: nn.Conv2d, inputs: tuple, _output: torch.Tensor):
    """Forward hook: the convolution again, with its weights rounded (the float output is
    dropped; only the rounded one takes part in the backward pass)."""
    return F.conv2d(
        inputs[0],
        quantized_weight(conv.weight),
        conv.bias,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )


class RangeQuantizer(nn.Module):
    """Fake-quantizes a tensor to 256 levels of a range that tracks its min and max (a
    moving average, extended to hold 0); ``fixed`` pins the range instead."""

    def __init__(self, momentum: float = 0.01, fixed: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.momentum = momentum
        self.fixed = fixed is not None
        low, high = fixed if fixed is not None else (0.0, 0.0)
        self.register_buffer("low", torch.tensor(float(low)))
        self.register_buffer("high", torch.tensor(float(high)))
        self.register_buffer("seen", torch.tensor(fixed is not None))

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        low, high = x.min().clamp(max=0.0), x.max().clamp(min=0.0)
        if not self.seen:
            self.low.copy_(low)
            self.high.copy_(high)
            self.seen.fill_(True)
            return
        self.low.lerp_(low, self.momentum)
        self.high.lerp_(high, self.momentum)

    def forward(self, x: torch.Tensor, observe: bool = False) -> torch.Tensor:
        """``x`` rounded to the range; ``observe``: move the range toward ``x``'s first."""
        if observe and not self.fixed:
            self.observe(x)
        if not self.seen:
            return x
        scale = float(max(self.high - self.low, 1e-6)) / LEVELS
        zero_point = int(round(-float(self.low) / scale))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0, LEVELS)


class AlphaLogitQuantizer(nn.Module):
    """Fake-quantizes the alpha logit (class 1 minus class 0) over a fixed symmetric range,
    as the int8 file's folded head does; class 0's logit becomes 0 (same softmax)."""

    def __init__(self, logit_range: float = LOGIT_RANGE) -> None:
        super().__init__()
        self.quantize = RangeQuantizer(fixed=(-logit_range, logit_range))

    def forward(self, logits: torch.Tensor, observe: bool = False) -> torch.Tensor:
        alpha_logit = self.quantize(logits[:, 1:2] - logits[:, 0:1])
        return torch.cat([torch.zeros_like(alpha_logit), alpha_logit], dim=1)


class FakeQuant(nn.Module):
    """The quantizers of one network and the hooks that apply them (:func:`attach`)."""

    def __init__(self) -> None:
        super().__init__()
        self.quantizers = nn.ModuleDict()
        self._handles: list = []

    def hook(self, module: nn.Module, name: str, quantizer: nn.Module) -> None:
        """Quantize ``module``'s output with the quantizer called ``name`` (``quantizer``
        unless one has that name already); ranges move only while ``module`` trains."""
        if name not in self.quantizers:
            self.quantizers[name] = quantizer
        shared = self.quantizers[name]
        self._handles.append(
            module.register_forward_hook(lambda m, _i, out: shared(out, observe=m.training))
        )

    def round_weights(self, conv: nn.Conv2d) -> None:
        """Run ``conv`` with its weights rounded to signed 8 bits per output channel."""
        self._handles.append(conv.register_forward_hook(_conv_with_quantized_weight))

    def detach(self) -> None:
        """Remove the hooks: the network computes in float again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def attach(net: MMNet, logit_range: float = LOGIT_RANGE) -> FakeQuant:
    """Hook fake quantizers onto ``net`` (in place); keep the returned module to save its
    ranges (``state_dict``) or to :meth:`~FakeQuant.detach` them."""
    fake = FakeQuant()
    for module in net.modules():  # first: the weights' hooks run before the outputs'
        if isinstance(module, nn.Conv2d) and module is not net.aux:
            fake.round_weights(module)
    opening_of: dict[int, str] = {}
    for name, module in net.named_modules():
        if isinstance(module, EncoderBlock):
            for depth in range(len(module.branches[0]) - 1):  # expand, and the strided conv
                for branch in module.branches:
                    opening_of[id(branch[depth])] = f"{name}.opening{depth}"
    for name, module in net.named_modules():
        if isinstance(module, ConvBN):
            key = opening_of.get(id(module), name).replace(".", "_")
            fake.hook(module, key, RangeQuantizer())
    fake.hook(net.final, "alpha_logit", AlphaLogitQuantizer(logit_range))
    return fake.to(next(net.parameters()).device)
