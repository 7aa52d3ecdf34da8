"""MMNet (Seo et al. 2019) in PyTorch: multi-branch dilated depthwise convolutions.

Follows the reference TF-slim code (hyperconnect/MMNet, ``matting_nets/mmnet.py``): every
convolution is followed by BatchNorm and ReLU6, except the encoder blocks' merging 1x1
projection (linear bottleneck; ReLU6 only on the last encoder block) and the final and
auxiliary heads (plain 1x1 convolutions with bias). Part of the ``[train]`` extra: the
runtime never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# (name, expanded, out, rates, stride) of the ten encoder blocks.
ENCODER_SPEC: tuple[tuple[int, int, tuple[int, ...], int], ...] = (
    (16, 16, (1, 2, 4, 8), 2),
    (16, 24, (1, 2, 4, 8), 1),
    (24, 24, (1, 2, 4, 8), 1),
    (24, 24, (1, 2, 4, 8), 1),
    (32, 40, (1, 2, 4), 2),
    (64, 40, (1, 2, 4), 1),
    (64, 40, (1, 2, 4), 1),
    (64, 40, (1, 2, 4), 1),
    (80, 80, (1, 2), 2),
    (120, 80, (1, 2), 1),
)
BN_MOMENTUM = 0.1  # PyTorch's usual; the reference's 0.001 lags behind short training runs.


def scaled_depth(depth: int, multiplier: float, min_depth: int = 8, divisor: int = 8) -> int:
    """Channel count scaled by the width multiplier, rounded as the reference does."""
    multiplied = round(depth * multiplier)
    divisible = (multiplied + divisor // 2) // divisor * divisor
    return max(min_depth, divisible)


class ConvBN(nn.Sequential):
    """Convolution without bias, BatchNorm, then ReLU6 (or nothing when ``act`` is False)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 1,
        stride: int = 1,
        dilation: int = 1,
        depthwise: bool = False,
        act: bool = True,
    ) -> None:
        padding = dilation * (kernel - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                cin,
                cout,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=cin if depthwise else 1,
                bias=False,
            ),
            nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class EncoderBlock(nn.Module):
    """Parallel branches (1x1 expand, optional strided 3x3 depthwise, dilated 3x3 depthwise),
    concatenated and projected by a linear 1x1 convolution."""

    def __init__(
        self,
        cin: int,
        expanded: int,
        cout: int,
        rates: Sequence[int],
        stride: int,
        final_act: bool = False,
    ) -> None:
        super().__init__()
        branches = []
        for rate in rates:
            layers: list[nn.Module] = [ConvBN(cin, expanded)]
            if stride > 1:
                layers.append(ConvBN(expanded, expanded, 3, stride=stride, depthwise=True))
            layers.append(ConvBN(expanded, expanded, 3, dilation=rate, depthwise=True))
            branches.append(nn.Sequential(*layers))
        self.branches = nn.ModuleList(branches)
        self.merge = ConvBN(expanded * len(rates), cout, act=final_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [branch(x) for branch in self.branches]
        return self.merge(torch.cat(branches, dim=1) if len(branches) > 1 else branches[0])


class DecoderBlock(nn.Module):
    """1x1 compression, bilinear x2 upsampling(s), then concat with a depthwise+1x1 shortcut."""

    def __init__(
        self,
        cin: int,
        compressed: int,
        upsamples: int,
        shortcut_in: int | None = None,
        shortcut_out: int | None = None,
    ) -> None:
        super().__init__()
        self.compress = ConvBN(cin, compressed)
        self.upsamples = upsamples
        self.shortcut = None
        if shortcut_in is not None and shortcut_out is not None:
            self.shortcut = nn.Sequential(
                ConvBN(shortcut_in, shortcut_in, 3, depthwise=True),
                ConvBN(shortcut_in, shortcut_out),
            )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.compress(x)
        for _ in range(self.upsamples):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if self.shortcut is not None and skip is not None:
            x = torch.cat([x, self.shortcut(skip)], dim=1)
        return x


class MMNet(nn.Module):
    """MMNet for two-class portrait matting.

    Input: float RGB in [0, 1], NCHW, height and width multiples of 16 (normalisation is inside).
    ``forward`` returns the two-class logits at input size and, in training mode, also the
    auxiliary logits at 1/16 scale.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.width = width
        self.normalize_input = True  # False once the stem folds it in (vcam.nets.deploy)

        def d(c: int) -> int:
            return scaled_depth(c, width)

        self.init_block = ConvBN(3, d(32), 3, stride=2)
        blocks = []
        cin = d(32)
        for i, (expanded, cout, rates, stride) in enumerate(ENCODER_SPEC):
            last = i == len(ENCODER_SPEC) - 1
            blocks.append(EncoderBlock(cin, d(expanded), d(cout), rates, stride, final_act=last))
            cin = d(cout)
        self.encoder = nn.ModuleList(blocks)
        enc0, enc4, enc9 = d(ENCODER_SPEC[0][1]), d(ENCODER_SPEC[4][1]), d(ENCODER_SPEC[9][1])
        self.dec0 = DecoderBlock(enc9, d(64), 1, enc4, d(64))
        self.dec1 = DecoderBlock(d(64) * 2, d(40), 1, enc0, d(40))
        self.dec2 = EncoderBlock(d(40) * 2, d(40), d(40), (1, 2, 4), 1)
        self.dec3 = EncoderBlock(d(40), d(40), d(40), (1, 2, 4), 1)
        self.dec4 = DecoderBlock(d(40), d(16), 2)
        self.final = nn.Conv2d(d(16), 2, 1)
        self.aux = nn.Conv2d(enc9, 2, 1)
        self.register_buffer(
            "mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.normalize_input:
            image = (image - self.mean) / self.std
        x = self.init_block(image)
        features = []
        for block in self.encoder:
            x = block(x)
            features.append(x)
        enc0, enc4, enc9 = features[0], features[4], features[9]
        x = self.dec0(enc9, enc4)
        x = self.dec1(x, enc0)
        x = self.dec3(self.dec2(x))
        logits = self.final(self.dec4(x))
        if self.training:
            return logits, self.aux(enc9)
        return logits


class AlphaHead(nn.Module):
    """Export wrapper: image in [0, 1] -> alpha in [0, 1] (softmax channel 1), N,1,H,W."""

    def __init__(self, net: MMNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.net(image)
        if isinstance(logits, tuple):
            logits = logits[0]
        return torch.softmax(logits, dim=1)[:, 1:2]


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
