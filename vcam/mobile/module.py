"""The PyTorch module that becomes the .tflite model, and loading MMNet weights for it.

:class:`MobileMatting` computes exactly what :class:`vcam.nets.mmnet.AlphaHead` computes (the
ONNX model), rearranged for LiteRT and integer quantisation:

- NHWC in and out (TFLite's layout): ``image`` [1,H,W,3] RGB in [0, 1] -> ``alpha`` [1,H,W,1];
- the input normalisation ``(x - 0.5) / 0.5`` is a per-channel 1x1 convolution, so a quantiser
  covers it (a float SUB/MUL would stay in float in front of the first QUANTIZE);
- softmax channel 1 of the two-class head is ``sigmoid(l1 - l0)``: the final 1x1 convolution's
  two rows become their difference, one output channel and one LOGISTIC op (quantised with
  TFLite's fixed output scale 1/256), with no SOFTMAX and no SLICE.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from vcam.errors import ModelError
from vcam.nets.mmnet import MMNet

INPUT_NAME = "image"
OUTPUT_NAME = "alpha"


class MobileMatting(nn.Module):
    """MMNet as an NHWC alpha model: ``forward(image)`` -> ``{"alpha": alpha}``."""

    def __init__(self, net: MMNet) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).eval()
        mean = self.net.mean.reshape(3)
        std = self.net.std.reshape(3)
        self.normalize = nn.Conv2d(3, 3, 1, groups=3)
        final = self.net.final
        self.head = nn.Conv2d(final.in_channels, 1, 1)
        with torch.no_grad():
            self.normalize.weight.copy_((1.0 / std).reshape(3, 1, 1, 1))
            self.normalize.bias.copy_(-mean / std)
            self.head.weight.copy_(final.weight[1:2] - final.weight[0:1])
            self.head.bias.copy_(final.bias[1:2] - final.bias[0:1])
        self.eval()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        net = self.net
        x = net.init_block(self.normalize(image.permute(0, 3, 1, 2)))
        features = []
        for block in net.encoder:
            x = block(x)
            features.append(x)
        x = net.dec0(features[9], features[4])
        x = net.dec1(x, features[0])
        x = net.dec3(net.dec2(x))
        alpha = torch.sigmoid(self.head(net.dec4(x)))
        return {OUTPUT_NAME: alpha.permute(0, 2, 3, 1)}


def load_mmnet(path: str | Path) -> tuple[MMNet, dict]:
    """MMNet (eval mode) from a ``torch.save`` dict with ``model`` (a state_dict) and
    ``config`` (``width``): a training checkpoint or a weights-only file. One-line ModelError
    when the file is missing or is not such a dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found (a training checkpoint or mmnet.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ModelError(f"{path}: not a PyTorch file ({reason})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ModelError(f"{path}: expected a dict with 'model' (state_dict) and 'config' (width)")
    config = state.get("config") or {}
    try:
        net = MMNet(float(config.get("width", 1.0)))
        net.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - shape or key mismatches, bad width
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ModelError(f"{path}: weights do not fit MMNet ({reason})") from None
    return net.eval(), state
