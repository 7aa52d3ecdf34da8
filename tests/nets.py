"""Untrained MMNets that behave like trained ones, for tests that compare two forms of a net."""

from __future__ import annotations

import torch

from vcam.nets.mmnet import MMNet


def random_net(seed: int, width: float = 0.5) -> MMNet:
    """An untrained MMNet with random BatchNorm statistics and scales: its alpha spans about
    0.08..0.76 on an image (a freshly initialised one gives 0.5 +- 0.001 everywhere), so a
    misplaced channel or a wrong conversion shows."""
    torch.manual_seed(seed)
    net = MMNet(width)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(2.0, 3.0)
                module.bias.uniform_(-0.5, 0.5)
    return net.eval()
