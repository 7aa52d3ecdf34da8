"""The steadiness pair: a second view of a training canvas as the camera's next frame would
show it (shifted by up to a few pixels, slightly scaled and rotated, with fresh sensor noise and
JPEG), and the loss that asks the two alphas to agree once warped onto each other.

A share of the pairs can instead show a still camera and a moving person: one region around a
point of the person (a head turning, a hand) moves by a few pixels with a smooth falloff while
the rest of the frame stays where it was. Those pairs ask the alpha of the still pixels not to
change when something beside them moves, which is what the real-video flicker measures."""

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
        local_prob: float = 0.0,
        local_shift: float = 4.0,
        local_radius: tuple[float, float] = (0.1, 0.3),
    ) -> None:
        self.shift, self.scale, self.rotate = shift, scale, rotate
        self.noise, self.jpeg_prob, self.jpeg_quality = noise, jpeg_prob, jpeg_quality
        # Still camera, moving person: the share of pairs, the largest displacement in pixels,
        # the region's radius (Gaussian sigma) as a share of the frame's shorter side.
        self.local_prob, self.local_shift, self.local_radius = local_prob, local_shift, local_radius

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

    def local_grid(self, alpha: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """N,H,W,2 sampling grid of a still camera and one moving region, centred on a random
        pixel of the person (``alpha`` N,1,H,W > 0.5; the frame's centre where there is none)."""
        n, _, h, w = alpha.shape
        identity = torch.eye(2, 3, device=alpha.device).expand(n, 2, 3)
        grid = F.affine_grid(identity, [n, 1, h, w], align_corners=False).clone()
        ys = torch.arange(h, device=alpha.device, dtype=torch.float32).view(h, 1)
        xs = torch.arange(w, device=alpha.device, dtype=torch.float32).view(1, w)
        lengths = rng.uniform(0.5, self.local_shift, n)
        for j in range(n):
            person = torch.nonzero(alpha[j, 0] > 0.5)
            if len(person):
                cy, cx = (float(v) for v in person[int(rng.integers(len(person)))])
            else:
                cy, cx = (h - 1) / 2, (w - 1) / 2
            sigma = rng.uniform(*self.local_radius) * min(h, w)
            falloff = torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))
            direction = rng.uniform(0, 2 * math.pi)
            grid[j, :, :, 0] += falloff * (2 * lengths[j] * math.cos(direction) / w)
            grid[j, :, :, 1] += falloff * (2 * lengths[j] * math.sin(direction) / h)
        return grid

    def __call__(
        self, image: torch.Tensor, rng: np.random.Generator, alpha: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(second view N,3,H,W, grid) for canvases ``image`` (float in [0, 1]); with
        ``alpha`` (their targets) and ``local_prob`` > 0, that share of the pairs shows a still
        camera and a moving region of the person instead of a moved camera."""
        n, _, h, w = image.shape
        grid = self.grid(n, (h, w), rng, image.device)
        if alpha is not None and self.local_prob > 0:
            still = torch.from_numpy(rng.random(n) < self.local_prob).to(image.device)
            if bool(still.any()):
                grid[still] = self.local_grid(alpha[still], rng)
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
