"""The steadiness pair: a second view of a training canvas as the camera's next frame would
show it (shifted by up to a few pixels, slightly scaled and rotated, with fresh sensor noise and
JPEG), and the loss that asks the two alphas to agree once warped onto each other."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vcam.training.augment import _jpeg
from vcam.training.losses import masked_mean


class ViewJitter:
    """Makes the second view; ``shift`` in pixels, ``scale`` relative, ``rotate`` in degrees."""

    def __init__(
        self,
        shift: float = 3.0,
        scale: float = 0.03,
        rotate: float = 2.0,
        noise: float = 0.02,
        jpeg_prob: float = 0.5,
        jpeg_quality: tuple[int, int] = (60, 95),
    ) -> None:
        self.shift, self.scale, self.rotate = shift, scale, rotate
        self.noise, self.jpeg_prob, self.jpeg_quality = noise, jpeg_prob, jpeg_quality

    def grid(self, n: int, hw: tuple[int, int], rng: np.random.Generator, device) -> torch.Tensor:
        """N,H,W,2 sampling grid: where each pixel of the second view lies in the first."""
        h, w = hw
        angle = np.deg2rad(rng.uniform(-self.rotate, self.rotate, n))
        zoom = 1.0 + rng.uniform(-self.scale, self.scale, n)
        direction = rng.uniform(0, 2 * math.pi, n)
        length = rng.uniform(0.3, self.shift, n) if self.shift > 0.3 else np.zeros(n)
        theta = np.zeros((n, 2, 3))
        # In pixels: p_first = zoom * R p_second + shift; normalised coordinates scale x by
        # 2/w and y by 2/h, so the rotation's off-diagonal terms carry the aspect ratio.
        c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
        theta[:, 0, 0], theta[:, 0, 1] = c, -s * h / w
        theta[:, 1, 0], theta[:, 1, 1] = s * w / h, c
        theta[:, 0, 2] = 2 * length * np.cos(direction) / w
        theta[:, 1, 2] = 2 * length * np.sin(direction) / h
        theta_t = torch.from_numpy(theta).float().to(device)
        return F.affine_grid(theta_t, [n, 1, h, w], align_corners=False)

    def __call__(
        self, image: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(second view N,3,H,W, grid) for canvases ``image`` (float in [0, 1])."""
        n, _, h, w = image.shape
        grid = self.grid(n, (h, w), rng, image.device)
        view = F.grid_sample(
            image.contiguous(), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        sigma = torch.from_numpy(rng.uniform(0, self.noise, n)).float().to(image.device)
        view = (view + torch.randn_like(view) * sigma.view(n, 1, 1, 1)).clamp(0, 1)
        low, high = self.jpeg_quality
        for j in np.flatnonzero(rng.random(n) < self.jpeg_prob):
            view[j] = _jpeg(view[j], int(rng.integers(low, high + 1)))
        return view, grid


def steadiness_loss(
    first: torch.Tensor,
    second: torch.Tensor,
    grid: torch.Tensor,
    frame: torch.Tensor | None = None,
    margin: int = 4,
) -> torch.Tensor:
    """Mean |alpha of the first view warped by ``grid`` - alpha of the second| (N,1,H,W), over
    pixels whose warped position lies inside the first view's frame, ``margin`` pixels in."""
    warped = F.grid_sample(first, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = torch.ones_like(first) if frame is None else frame
    inside = F.grid_sample(inside, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if margin:
        inside = -F.max_pool2d(-inside, 2 * margin + 1, stride=1, padding=margin)
    return masked_mean((warped - second).abs(), inside)
