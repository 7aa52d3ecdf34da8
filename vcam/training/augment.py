"""Batched data augmentation on torch tensors (CPU or GPU): one grid_sample per set.

Each sample is rendered into a canvas of the model's input size the way the runtime sees a frame:
a *frame* of some aspect ratio (16:9, 4:3, the photo's own, or the canvas's) is fitted into the
canvas with border-replicated padding, exactly like :func:`vcam.fitting.fit`. The frame shows
either the photo itself (zoomed, rotated, flipped: the reference augmentation) or the person cut
out by the soft target and composited onto a training background at a varied scale and position
(framing diversity), with colour matching, blur, noise and JPEG artefacts on the whole frame so
that pastes carry no shortcut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vcam.fitting import placement


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the augmentation."""

    composite_prob: float = 0.45
    # Frame aspect ratios (width / height); 0 = the photo's own aspect, -1 = the canvas's.
    frame_aspects: tuple[float, ...] = (-1.0, 16 / 9, 16 / 9, 4 / 3, 0.0, 0.0)
    zoom: tuple[float, float] = (1.0, 1.25)
    rotate_deg: float = 15.0
    portrait_height: tuple[float, float] = (
        0.45,
        1.25,
    )  # photo height / frame height, bottom-anchored
    fullbody_height: tuple[float, float] = (0.7, 2.4)  # photo height / frame height, head in frame
    colour_match: tuple[float, float] = (0.0, 0.35)
    background_blur_prob: float = 0.5
    brightness: tuple[float, float] = (0.65, 1.35)
    contrast: tuple[float, float] = (0.7, 1.3)
    saturation: tuple[float, float] = (0.6, 1.4)
    channel_gain: float = 0.1
    gamma: tuple[float, float] = (0.8, 1.25)
    noise_prob: float = 0.5
    noise_sigma: float = 0.04
    blur_prob: float = 0.15
    lowres_prob: float = 0.15
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (35, 90)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(lo_hi[0], lo_hi[1], n)


def _frame_grid(
    n: int, canvas_hw: tuple[int, int], frames: list, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample frame coordinates of each canvas pixel: X in [-aspect, aspect], Y in [-1, 1],
    clamped to the frame (so the padding replicates its border). Returns X, Y (N,H,W), aspects."""
    ch, cw = canvas_hw
    ys = torch.arange(ch, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(cw, device=device, dtype=torch.float32) + 0.5
    top = torch.tensor([f.top for f in frames], device=device, dtype=torch.float32)
    left = torch.tensor([f.left for f in frames], device=device, dtype=torch.float32)
    fh = torch.tensor([f.height for f in frames], device=device, dtype=torch.float32)
    fw = torch.tensor([f.width for f in frames], device=device, dtype=torch.float32)
    fy = ((ys[None, :] - top[:, None]) / fh[:, None]) * 2 - 1
    fx = ((xs[None, :] - left[:, None]) / fw[:, None]) * 2 - 1
    fy = torch.maximum(torch.minimum(fy, 1 - 1 / fh[:, None]), -1 + 1 / fh[:, None])
    fx = torch.maximum(torch.minimum(fx, 1 - 1 / fw[:, None]), -1 + 1 / fw[:, None])
    aspect = fw / fh
    X = (fx * aspect[:, None])[:, None, :].expand(n, ch, cw)
    Y = fy[:, :, None].expand(n, ch, cw)
    return X, Y, aspect


def _source_points(M: torch.Tensor, t: torch.Tensor, X, Y) -> tuple[torch.Tensor, torch.Tensor]:
    """Where frame points (X, Y) land in the source: M @ (X, Y) + t, in source units."""
    xp = M[:, 0, 0, None, None] * X + M[:, 0, 1, None, None] * Y + t[:, 0, None, None]
    yp = M[:, 1, 0, None, None] * X + M[:, 1, 1, None, None] * Y + t[:, 1, None, None]
    return xp, yp


def _sample(source: torch.Tensor, M: torch.Tensor, t: torch.Tensor, X, Y, aspect_src, padding):
    """Sample ``source`` (N,C,H,W float) where frame point (X,Y) maps to M @ (X,Y) + t in
    source units (half-height 1, half-width ``aspect_src``)."""
    xp, yp = _source_points(M, t, X, Y)
    grid = torch.stack([xp / aspect_src, yp], dim=-1)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=False)


MAX_SHOULDER_SLOPE = 1.5  # as the evaluation's composite set (vcam.evaluation.hardset)


def shoulder_starts(alphas: np.ndarray) -> np.ndarray:
    """Per image (N,H,W uint8 targets) and side (left, right): the height (source units, -1 top
    .. 1 bottom) from which the person runs off that side down to the bottom edge; 2 = never."""
    n, h, _ = alphas.shape
    starts = np.full((n, 2), 2.0, np.float32)
    for side, column in enumerate((alphas[:, :, 0] > 127, alphas[:, :, -1] > 127)):
        for i in np.flatnonzero(column[:, -1]):
            off = np.flatnonzero(~column[i])
            row = off[-1] + 1 if off.size else 0
            starts[i, side] = (row + 0.5) / h * 2 - 1
    return starts


def _shoulder_extension(xp, yp, aspect_src: float, starts: torch.Tensor) -> torch.Tensor:
    """1 where a frame point lies beyond a photo side that the torso runs off, under a straight
    shoulder line falling outward from where the cut starts (as the evaluation set continues
    cut shoulders), else 0. ``starts`` N,2 from :func:`shoulder_starts`."""
    out = torch.zeros_like(xp)
    for side, sign in ((0, -1.0), (1, 1.0)):
        start = starts[:, side, None, None]
        beyond = sign * xp - aspect_src  # distance outside that side
        pad = torch.clamp(MAX_SHOULDER_SLOPE * (1 - start), min=0.0, max=0.7 * aspect_src)
        reach = pad * (yp - start) / (1 - start).clamp_min(1e-3)
        inside = (beyond > 0) & (beyond <= reach) & (yp <= 1) & (start < 1.5)
        out = torch.where(inside, torch.ones_like(out), out)
    return out


def _rotation(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(
        F.pad(x, (radius, radius, 0, 0), mode="replicate"),
        k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
        groups=c,
    )
    return F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode="replicate"),
        k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
        groups=c,
    )


def render(
    images: torch.Tensor,
    alphas: torch.Tensor,
    backgrounds: torch.Tensor,
    canvas_hw: tuple[int, int],
    rng: np.random.Generator,
    cfg: AugmentConfig,
    fullbody: bool = False,
    shoulders: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented canvases from one set's samples.

    ``images`` N,3,H,W uint8 RGB; ``alphas`` N,1,H,W uint8; ``backgrounds`` M,3,Hb,Wb uint8.
    ``shoulders`` (N,2, from :func:`shoulder_starts`) continues cut-off shoulders outward in
    composites, where the photo's border is replicated into the frame.
    Returns image N,3,h,w float in [0,1] and target alpha N,1,h,w float in [0,1].
    """
    n, device = images.shape[0], images.device
    src_aspect = images.shape[3] / images.shape[2]
    ch, cw = canvas_hw
    frames = []
    for _ in range(n):
        a = float(rng.choice(cfg.frame_aspects))
        if a < 0:
            frames.append(placement((ch, cw), (ch, cw)))
        else:
            a = a or src_aspect
            frames.append(placement((1000, round(1000 * a)), (ch, cw)))
    X, Y, frame_aspect = _frame_grid(n, canvas_hw, frames, device)
    fa = frame_aspect.cpu().numpy()

    composite = rng.random(n) < cfg.composite_prob
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    M = np.zeros((n, 2, 2))
    t = np.zeros((n, 2))
    # Real photo: the frame is a zoomed, rotated crop of the photo (reference augmentation).
    cover = np.maximum(1.0, fa / src_aspect)
    s = cover * _uniform(rng, cfg.zoom, n)
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, n))
    M_real = _rotation(theta) / s[:, None, None]
    tx_max = np.maximum(0.0, src_aspect - fa / s)
    ty_max = np.maximum(0.0, 1.0 - 1.0 / s)
    # Full-body photos: keep wide crops mostly on the upper body, as a webcam frames a person.
    ty = rng.uniform(-1, 0.3, n) if fullbody else rng.uniform(-1, 1, n)
    t_real = np.stack([rng.uniform(-1, 1, n) * tx_max, ty * ty_max], -1)
    # Composite: the photo placed in the frame at height hp (photo half-height / frame half-height).
    if fullbody:
        hp = _uniform(rng, cfg.fullbody_height, n)
        top = rng.uniform(-1.0 - 0.15 * hp, -0.75)
        cy = top + hp
    else:
        hp = _uniform(rng, cfg.portrait_height, n)
        cy = 1.0 - hp + rng.uniform(0.0, 0.12, n) * hp
    cx_max = np.maximum(0.0, fa - 0.5 * hp * src_aspect)
    cx = rng.uniform(-1, 1, n) * cx_max
    theta_c = np.deg2rad(rng.uniform(-cfg.rotate_deg / 2, cfg.rotate_deg / 2, n))
    M_comp = _rotation(-theta_c) / hp[:, None, None]
    t_comp = -np.einsum("nij,nj->ni", M_comp, np.stack([cx, cy], -1))
    M[:] = np.where(composite[:, None, None], M_comp, M_real)
    t[:] = np.where(composite[:, None], t_comp, t_real)
    M[:, 0, :] *= flip[:, None]
    t[:, 0] *= flip

    Mt = torch.from_numpy(M).float().to(device)
    tt = torch.from_numpy(t).float().to(device)
    fg = _sample(images.float() / 255, Mt, tt, X, Y, src_aspect, "border")
    alpha = _sample(alphas.float() / 255, Mt, tt, X, Y, src_aspect, "border")
    if composite.any():
        alpha_zero = _sample(alphas.float() / 255, Mt, tt, X, Y, src_aspect, "zeros")
        if shoulders is not None:
            xp, yp = _source_points(Mt, tt, X, Y)
            # (xp, yp) are in the source photo's own coordinates, flipped or not.
            extension = _shoulder_extension(xp, yp, src_aspect, shoulders.to(device))[:, None]
            alpha_zero = torch.maximum(alpha_zero, extension * alpha)
        sel = torch.from_numpy(composite).to(device)[:, None, None, None]
        alpha = torch.where(sel, alpha_zero, alpha)
        fg = _composite(fg, alpha, backgrounds, composite, X, Y, frame_aspect, rng, cfg)
    image = _photometric(fg, rng, cfg)
    return image, alpha.clamp(0, 1)


def _composite(fg, alpha, backgrounds, composite, X, Y, frame_aspect, rng, cfg):
    """Paste the selected samples onto random training backgrounds."""
    idx = np.flatnonzero(composite)
    k, device = len(idx), fg.device
    bg_src = backgrounds[torch.from_numpy(rng.integers(0, len(backgrounds), k)).to(device)]
    bg_aspect = backgrounds.shape[3] / backgrounds.shape[2]
    fa = frame_aspect[idx].cpu().numpy()
    s = np.maximum(1.0, fa / bg_aspect) * rng.uniform(1.0, 1.8, k)
    M = np.eye(2)[None].repeat(k, 0) / s[:, None, None]
    M[:, 0, :] *= np.where(rng.random(k) < 0.5, -1.0, 1.0)[:, None]
    t = np.stack(
        [
            rng.uniform(-1, 1, k) * np.maximum(0, bg_aspect - fa / s),
            rng.uniform(-1, 1, k) * np.maximum(0, 1 - 1 / s),
        ],
        -1,
    )
    sel = torch.from_numpy(idx).to(device)
    bg = _sample(
        bg_src.float() / 255,
        torch.from_numpy(M).float().to(device),
        torch.from_numpy(t).float().to(device),
        X[sel],
        Y[sel],
        bg_aspect,
        "border",
    )
    for j in range(k):
        if rng.random() < cfg.background_blur_prob:
            bg[j : j + 1] = _gaussian_blur(bg[j : j + 1], float(rng.uniform(1.0, 4.0)))
    a = alpha[sel]
    person = fg[sel]
    # Nudge the person's colours toward the background's (harmonisation).
    weight = a.sum((2, 3), keepdim=True).clamp_min(1.0)
    mean_fg = (person * a).sum((2, 3), keepdim=True) / weight
    mean_bg = bg.mean((2, 3), keepdim=True)
    match = torch.from_numpy(_uniform(rng, cfg.colour_match, k)).float().to(device)
    person = (person + match[:, None, None, None] * (mean_bg - mean_fg)).clamp(0, 1)
    out = fg.clone()
    out[sel] = a * person + (1 - a) * bg
    return out


def _photometric(x: torch.Tensor, rng: np.random.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Camera-like colour, exposure, noise, blur, low resolution and JPEG artefacts."""
    n, device = x.shape[0], x.device

    def per_sample(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values).float().to(device).view(n, -1, 1, 1)

    x = x * per_sample(_uniform(rng, cfg.brightness, n))
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * per_sample(_uniform(rng, cfg.contrast, n)) + mean
    grey = x.mean(1, keepdim=True)
    x = (x - grey) * per_sample(_uniform(rng, cfg.saturation, n)) + grey
    gains = 1 + rng.uniform(-cfg.channel_gain, cfg.channel_gain, (n, 3))
    x = (x * per_sample(gains)).clamp(0, 1)
    x = x ** per_sample(_uniform(rng, cfg.gamma, n))
    for j in range(n):
        if rng.random() < cfg.blur_prob:
            x[j : j + 1] = _gaussian_blur(x[j : j + 1], float(rng.uniform(0.5, 1.5)))
        if rng.random() < cfg.lowres_prob:
            h, w = x.shape[2:]
            f = float(rng.uniform(1.5, 3.0))
            small = F.interpolate(
                x[j : j + 1], size=(max(8, int(h / f)), max(8, int(w / f))), mode="area"
            )
            x[j : j + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    noisy = rng.random(n) < cfg.noise_prob
    sigma = per_sample(np.where(noisy, rng.uniform(0, cfg.noise_sigma, n), 0.0))
    x = (x + torch.randn_like(x) * sigma).clamp(0, 1)
    for j in np.flatnonzero(rng.random(n) < cfg.jpeg_prob):
        x[j] = _jpeg(x[j], int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return x


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of one C,H,W float image (on the CPU, with OpenCV)."""
    array = (image.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return image
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return torch.from_numpy(decoded).to(image.device).permute(2, 0, 1).float() / 255
