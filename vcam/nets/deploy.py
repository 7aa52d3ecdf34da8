"""The inference form of a trained MMNet: the same function, in fewer and cheaper operators.

Exact changes, made before the ONNX export (``scripts/export_onnx.py --deploy``):

- The input normalisation ``(x - mean) / std`` folds into the first convolution, whose input
  is padded by one pixel of value ``mean`` (what the normalised input's zero padding was) and
  by a fourth channel with zero weights: onnxruntime's int8 convolution is about 1.7x faster
  on four input channels than on three, and the Sub and Div disappear.
- The branches of an encoder block all begin with a 1x1 convolution of the same input (and,
  in the strided blocks, a strided 3x3 depthwise convolution with the same rate). These merge
  into one wide convolution followed by a channel split, so onnxruntime dispatches one kernel
  instead of three or four, and a second thread gets work large enough to share.
- Each branch's channels are padded with zero channels to a multiple of ``channel_multiple``.
  onnxruntime's int8 depthwise kernel works in blocks of 16 channels: on 24 or 40 channels it
  is about twice as slow as on 32 or 48 (docs/benchmarks/ops.md). A padded channel has zero
  weights and a BatchNorm that gives 0, and the block's projection gives it zero weight, so
  the output is unchanged.

Part of the ``[train]`` extra (torch), like :mod:`vcam.nets.mmnet`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from vcam.nets.mmnet import ConvBN, EncoderBlock, MMNet

NOTE = "fused branch openings, channels padded to x{multiple}, normalisation in the stem"


def padded(channels: int, multiple: int) -> int:
    """``channels`` rounded up to a multiple of ``multiple`` (unchanged when ``multiple`` < 2)."""
    if multiple < 2:
        return channels
    return -(-channels // multiple) * multiple


def _has_act(module: ConvBN) -> bool:
    """Whether a ConvBN ends with its ReLU6 (its modules: Conv2d, BatchNorm2d[, ReLU6])."""
    return len(module) > 2


def _zero_bn(bn: nn.BatchNorm2d) -> None:
    """A BatchNorm that maps every input to 0 (filled in where real channels are copied)."""
    bn.weight.zero_()
    bn.bias.zero_()
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)


def _copy_bn(dst: nn.BatchNorm2d, at: slice, src: nn.BatchNorm2d) -> None:
    dst.weight[at] = src.weight
    dst.bias[at] = src.bias
    dst.running_mean[at] = src.running_mean
    dst.running_var[at] = src.running_var


class FoldedStem(nn.Module):
    """The input normalisation and the first (strided 3x3) convolution as one convolution
    without padding, on the input padded with ``mean`` (one pixel) and one extra channel."""

    def __init__(self, stem: ConvBN, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        conv, bn, act = stem[0], stem[1], _has_act(stem)
        mean, std = mean.reshape(-1), std.reshape(-1)
        if not torch.all(mean == mean[0]):
            raise ValueError("the folded stem pads with one value: the mean must be uniform")
        self.pad_value = float(mean[0])
        out = conv.out_channels
        self.conv = nn.Conv2d(conv.in_channels + 1, out, 3, stride=conv.stride, bias=False)
        self.bn = nn.BatchNorm2d(out)
        self.act = nn.ReLU6() if act else nn.Identity()
        with torch.no_grad():
            scaled = conv.weight / std.view(1, -1, 1, 1)
            self.conv.weight.zero_()
            self.conv.weight[:, : conv.in_channels] = scaled
            # conv(w, (x - m) / s) = conv(w / s, x) - sum(w * m / s): BatchNorm takes the offset.
            offset = (scaled * mean.view(1, -1, 1, 1)).sum((1, 2, 3))
            self.bn.load_state_dict(bn.state_dict())
            self.bn.running_mean += offset

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.pad(image, (1, 1, 1, 1, 0, 1), value=self.pad_value)
        return self.act(self.bn(self.conv(x)))


class FusedEncoderBlock(nn.Module):
    """An :class:`~vcam.nets.mmnet.EncoderBlock` with its branch openings merged and its
    branch channels padded (same output, see the module docstring)."""

    def __init__(self, block: EncoderBlock, channel_multiple: int = 16) -> None:
        super().__init__()
        branches = list(block.branches)
        expand, merge_conv = branches[0][0][0], block.merge[0]
        cin, width = expand.in_channels, expand.out_channels
        self.width = padded(width, channel_multiple)
        total = self.width * len(branches)
        strided = len(branches[0]) == 3
        stride = branches[0][1][0].stride[0] if strided else 1
        self.expand = ConvBN(cin, total)
        self.stride = ConvBN(total, total, 3, stride=stride, depthwise=True) if strided else None
        self.dilated = nn.ModuleList(
            ConvBN(self.width, self.width, 3, dilation=b[-1][0].dilation[0], depthwise=True)
            for b in branches
        )
        self.merge = ConvBN(total, merge_conv.out_channels, act=_has_act(block.merge))
        with torch.no_grad():
            for fused in (self.expand, self.stride, *self.dilated):
                if fused is not None:
                    fused[0].weight.zero_()
                    _zero_bn(fused[1])
            self.merge[0].weight.zero_()
            self.merge[1].load_state_dict(block.merge[1].state_dict())
            for i, branch in enumerate(branches):
                at = slice(i * self.width, i * self.width + width)
                real = slice(0, width)
                self.expand[0].weight[at] = branch[0][0].weight
                _copy_bn(self.expand[1], at, branch[0][1])
                if self.stride is not None:
                    self.stride[0].weight[at] = branch[1][0].weight
                    _copy_bn(self.stride[1], at, branch[1][1])
                self.dilated[i][0].weight[real] = branch[-1][0].weight
                _copy_bn(self.dilated[i][1], real, branch[-1][1])
                self.merge[0].weight[:, at] = merge_conv.weight[:, i * width : (i + 1) * width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(x)
        if self.stride is not None:
            x = self.stride(x)
        parts = torch.split(x, self.width, dim=1)
        return self.merge(
            torch.cat([conv(p) for conv, p in zip(self.dilated, parts, strict=True)], dim=1)
        )


def deploy(net: MMNet, channel_multiple: int = 16) -> MMNet:
    """A copy of ``net`` (in eval mode) whose encoder blocks are fused for inference; the
    alpha it computes is the same up to float rounding. ``channel_multiple`` < 2: no padding."""
    fused = copy.deepcopy(net).eval()
    fused.init_block = FoldedStem(net.init_block, net.mean, net.std)
    fused.normalize_input = False
    fused.deploy_note = NOTE.format(multiple=channel_multiple)  # vcam.deploy in the metadata
    fused.encoder = nn.ModuleList(
        FusedEncoderBlock(block, channel_multiple) for block in fused.encoder
    )
    fused.dec2 = FusedEncoderBlock(fused.dec2, channel_multiple)
    fused.dec3 = FusedEncoderBlock(fused.dec3, channel_multiple)
    return fused.eval()
