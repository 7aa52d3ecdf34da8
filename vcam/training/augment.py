"""Batched data augmentation on torch tensors (CPU or GPU): one grid_sample per set.

Each sample is rendered into a canvas of the model's input size the way the runtime sees a frame:
a *frame* of some aspect ratio (16:9, 4:3, the photo's own, or the canvas's) is fitted into the
canvas with border-replicated padding, exactly like :func:`vcam.fitting.fit`; ``render`` also
returns which canvas pixels belong to the frame, so the loss can leave the padding out. The frame
shows either the photo itself (zoomed, rotated, flipped: the reference augmentation; zoomed out a
little at most, mirrored beyond the photo) or the person cut out by the soft target and
composited onto a background at a varied scale and position.

Composites avoid the shortcuts a paste can teach: a side of the photo that cuts the person (a
torso running off the bottom, a shoulder off a side, a head off the top) is always placed at or
beyond the frame's edge, so no straight cut shows inside the frame; the cut-out's edge colours
are re-estimated from the person (no fringe of the old background); most backgrounds are
person-free crops of the training photos themselves (real rooms and streets), the rest
wallpapers; blur is rare and falls on the background, the person or the whole frame alike;
backgrounds can have their hue turned (``background_hue_prob``), so warm, skin-like colour
fields appear behind people too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vcam.fitting import Placement, placement


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the augmentation."""

    composite_prob: float = 0.4
    scene_prob: float = 0.65  # composites over a person-free crop of a real photo, else wallpaper
    # Frame aspect ratios (width / height); 0 = the photo's own aspect, -1 = the canvas's.
    frame_aspects: tuple[float, ...] = (-1.0, 16 / 9, 16 / 9, 4 / 3, 0.0, 0.0)
    # Real photos: zoom relative to covering the frame (below 1: the photo's sides show inside
    # the frame, mirrored beyond; never zoomed out vertically).
    zoom: tuple[float, float] = (0.8, 1.25)
    rotate_deg: float = 15.0
    portrait_height: tuple[float, float] = (
        0.45,
        1.25,
    )  # photo height / frame height, bottom-anchored
    fullbody_height: tuple[float, float] = (0.7, 2.4)  # photo height / frame height, head in frame
    colour_match: tuple[float, float] = (0.0, 0.35)
    background_blur_prob: float = 0.15
    person_blur_prob: float = 0.1
    # Composite backgrounds with their hue turned at random (warm, skin-like colour fields
    # behind the person, so colour alone never means person); 0 leaves them as they are.
    background_hue_prob: float = 0.0
    defringe_sigma: float = 2.0  # canvas pixels: reach of the edge-colour estimate
    # Real photos: zoom a view in (about the frame's centre) until no frame corner lies beyond a
    # photo side that cuts the person, where the mirror would show a second, reflected torso
    # (wider shoulders, person in the bottom corners); off keeps older configs' views.
    cover_cut_sides: bool = False
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


SIDES = ("left", "right", "top", "bottom")


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


def _frames(n: int, canvas_hw, src_aspect: float, rng, cfg: AugmentConfig) -> list[Placement]:
    frames = []
    ch, cw = canvas_hw
    for _ in range(n):
        a = float(rng.choice(cfg.frame_aspects))
        if a < 0:
            frames.append(placement((ch, cw), (ch, cw)))
        else:
            a = a or src_aspect
            frames.append(placement((1000, round(1000 * a)), (ch, cw)))
    return frames


def frame_mask(frames: list[Placement], canvas_hw, device) -> torch.Tensor:
    """N,1,H,W float: 1 on the canvas pixels inside each sample's frame, 0 on the padding."""
    ch, cw = canvas_hw
    mask = torch.zeros(len(frames), 1, ch, cw, device=device)
    for i, f in enumerate(frames):
        mask[i, :, f.top : f.top + f.height, f.left : f.left + f.width] = 1.0
    return mask


def _real_geometry(n, fa, src_aspect, fullbody, rng, cfg):
    """Affine (M, t) of real-photo samples: a zoomed, rotated crop of the photo."""
    cover = np.maximum(1.0, fa / src_aspect)
    # Zooming out (below cover) widens the view sideways only; vertically the photo still covers.
    s = np.maximum(1.0, cover * _uniform(rng, cfg.zoom, n))
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, n))
    M = _rotation(theta) / s[:, None, None]
    tx_max = np.maximum(0.0, src_aspect - fa / s)
    ty_max = np.maximum(0.0, 1.0 - 1.0 / s)
    # Full-body photos: keep wide crops mostly on the upper body, as a webcam frames a person.
    ty = rng.uniform(-1, 0.3, n) if fullbody else rng.uniform(-1, 1, n)
    t = np.stack([rng.uniform(-1, 1, n) * tx_max, ty * ty_max], -1)
    return M, t


def cover_cut_sides(
    M: np.ndarray, t: np.ndarray, fa: np.ndarray, src_aspect: float, cuts: np.ndarray
) -> np.ndarray:
    """``M`` (N,2,2) scaled down (the view zoomed in about the frame's centre, which maps to
    ``t``) until the frame's corners (X in [-fa, fa], Y in [-1, 1]) land inside every photo side
    that ``cuts`` (N,4 bool: left, right, top, bottom) marks as cutting the person."""
    ones = np.ones_like(fa)
    corners = np.stack([np.stack([x * fa, y * ones], -1) for x in (-1, 1) for y in (-1, 1)], 1)
    d = np.einsum("nij,nkj->nki", M, corners)  # corner offsets from the centre, source units
    dx, dy = d[..., 0], d[..., 1]
    tx, ty = t[:, 0, None], t[:, 1, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.stack(
            [
                np.where(cuts[:, 0, None] & (dx < 0), dx / (-src_aspect - tx), 1.0),
                np.where(cuts[:, 1, None] & (dx > 0), dx / (src_aspect - tx), 1.0),
                np.where(cuts[:, 2, None] & (dy < 0), dy / (-1.0 - ty), 1.0),
                np.where(cuts[:, 3, None] & (dy > 0), dy / (1.0 - ty), 1.0),
            ]
        )
    k = np.maximum(1.0, need.max(axis=(0, 2)))
    return M / k[:, None, None]


def _composite_geometry(n, fa, src_aspect, fullbody, cuts, flip, rng, cfg):
    """Affine (M, t) of composites: the photo at height ``hp`` (photo half-height / frame
    half-height) with every side that cuts the person at or beyond the frame's edge."""
    if fullbody:
        hp = _uniform(rng, cfg.fullbody_height, n)
    else:
        hp = _uniform(rng, cfg.portrait_height, n)
    # Sides in the frame's orientation (a flipped photo's left side lands on the right).
    left = np.where(flip < 0, cuts[:, 1], cuts[:, 0])
    right = np.where(flip < 0, cuts[:, 0], cuts[:, 1])
    top_cut, bottom_cut = cuts[:, 2], cuts[:, 3]
    both = left & right
    hp = np.where(both, np.maximum(hp, fa / src_aspect * rng.uniform(1.0, 1.1, n)), hp)
    if fullbody:
        top = rng.uniform(-1.0 - 0.15 * hp, -0.75)
        top = np.where(top_cut, np.minimum(top, -1.0 - 0.02 * hp), top)
        hp = np.where(bottom_cut, np.maximum(hp, (1.0 - top) / 2 + 0.02), hp)
        cy = top + hp
    else:
        drop = rng.uniform(0.0, 0.12, n)
        hp = np.where(top_cut, np.maximum(hp, 2.0 / (2.0 - drop) + 0.02), hp)
        cy = 1.0 - hp + drop * hp  # the bottom at or below the frame's bottom
    hw = hp * src_aspect
    free = rng.uniform(-1, 1, n) * np.maximum(0.0, fa - 0.5 * hw)
    inset = rng.uniform(0.0, 0.15, n) * hw
    cx = np.select(
        [both, left, right],
        [rng.uniform(-1, 1, n) * np.maximum(0.0, hw - fa), hw - fa - inset, fa - hw + inset],
        free,
    )
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg / 2, cfg.rotate_deg / 2, n))
    M = _rotation(-theta) / hp[:, None, None]
    t = -np.einsum("nij,nj->ni", M, np.stack([cx, cy], -1))
    return M, t


def render(
    images: torch.Tensor,
    alphas: torch.Tensor,
    backgrounds: torch.Tensor,
    canvas_hw: tuple[int, int],
    rng: np.random.Generator,
    cfg: AugmentConfig,
    fullbody: bool = False,
    cuts: np.ndarray | None = None,
    scenes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Augmented canvases from one set's samples.

    ``images`` N,3,H,W uint8 RGB; ``alphas`` N,1,H,W uint8; ``backgrounds`` (wallpapers) and
    ``scenes`` (person-free crops of real photos) M,3,Hb,Wb uint8. ``cuts`` (N,4 bool, from
    :func:`vcam.training.data.cut_sides`) says which photo sides cut the person.
    Returns image N,3,h,w float in [0,1], target alpha N,1,h,w float in [0,1] and the frame
    mask N,1,h,w (1 inside the frame, 0 on the canvas padding).
    """
    n, device = images.shape[0], images.device
    src_aspect = images.shape[3] / images.shape[2]
    frames = _frames(n, canvas_hw, src_aspect, rng, cfg)
    X, Y, frame_aspect = _frame_grid(n, canvas_hw, frames, device)
    fa = frame_aspect.cpu().numpy()
    if cuts is None:
        cuts = np.zeros((n, 4), bool)

    composite = rng.random(n) < cfg.composite_prob
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    M_real, t_real = _real_geometry(n, fa, src_aspect, fullbody, rng, cfg)
    M_comp, t_comp = _composite_geometry(n, fa, src_aspect, fullbody, cuts, flip, rng, cfg)
    M = np.where(composite[:, None, None], M_comp, M_real)
    t = np.where(composite[:, None], t_comp, t_real)
    M[:, 0, :] *= flip[:, None]
    t[:, 0] *= flip

    real = ~composite
    if cfg.cover_cut_sides and real.any():
        M[real] = cover_cut_sides(M[real], t[real], fa[real], src_aspect, cuts[real])

    Mt = torch.from_numpy(M).float().to(device)
    tt = torch.from_numpy(t).float().to(device)
    # Beyond the photo the view is mirrored (textures continue; image and target agree).
    fg = _sample(images.float() / 255, Mt, tt, X, Y, src_aspect, "reflection")
    alpha = _sample(alphas.float() / 255, Mt, tt, X, Y, src_aspect, "reflection")
    if composite.any():
        # Beyond a side that does not cut the person there is background, not a mirror image.
        xp, yp = _source_points(Mt, tt, X, Y)
        cut = torch.from_numpy(cuts).to(device)[:, :, None, None]
        keep = (
            ((xp >= -src_aspect) | cut[:, 0])
            & ((xp <= src_aspect) | cut[:, 1])
            & ((yp >= -1) | cut[:, 2])
            & ((yp <= 1) | cut[:, 3])
        )
        sel = torch.from_numpy(composite).to(device)[:, None, None, None]
        alpha = torch.where(sel, alpha * keep[:, None].float(), alpha)
        fg = _composite(fg, alpha, backgrounds, scenes, composite, X, Y, frame_aspect, rng, cfg)
    image = _photometric(fg, rng, cfg)
    return image, alpha.clamp(0, 1), frame_mask(frames, canvas_hw, device)


def _background_views(source, count, X, Y, frame_aspect, rng):
    """``count`` random views of ``source`` (M,3,Hb,Wb uint8) covering frames (X, Y)."""
    device = X.device
    picks = source[torch.from_numpy(rng.integers(0, len(source), count)).to(device)]
    aspect = source.shape[3] / source.shape[2]
    fa = frame_aspect.cpu().numpy()
    s = np.maximum(1.0, fa / aspect) * rng.uniform(1.0, 1.8, count)
    M = np.eye(2)[None].repeat(count, 0) / s[:, None, None]
    M[:, 0, :] *= np.where(rng.random(count) < 0.5, -1.0, 1.0)[:, None]
    t = np.stack(
        [
            rng.uniform(-1, 1, count) * np.maximum(0, aspect - fa / s),
            rng.uniform(-1, 1, count) * np.maximum(0, 1 - 1 / s),
        ],
        -1,
    )
    return _sample(
        picks.float() / 255,
        torch.from_numpy(M).float().to(device),
        torch.from_numpy(t).float().to(device),
        X,
        Y,
        aspect,
        "border",
    )


def rotate_hue(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """RGB images (N,3,H,W in [0, 1]) with their hue turned by ``degrees`` (N) about the grey
    axis: greys stay grey, brightness is kept, a turn of 120 degrees sends red to green."""
    theta = degrees.to(x.dtype) * (math.pi / 180.0)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    k = torch.full((3,), 1 / math.sqrt(3.0), dtype=x.dtype, device=x.device)
    cross = torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=x.dtype, device=x.device)
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    rot = c * eye + s * cross * k[0] + (1 - c) * torch.outer(k, k)  # Rodrigues, N x 3 x 3
    return torch.einsum("nij,njhw->nihw", rot, x).clamp(0, 1)


def defringe(fg: torch.Tensor, alpha: torch.Tensor, sigma: float) -> torch.Tensor:
    """Foreground colours with the soft band's colours re-estimated from the confident person
    nearby (a normalised blur), so a cut-out carries no fringe of its old background;
    ``sigma`` 0 leaves the colours as they are."""
    if sigma <= 0:
        return fg
    inner = (alpha > 0.95).float()
    weight = _gaussian_blur(inner, sigma)
    spread = _gaussian_blur(fg * inner, sigma) / weight.clamp_min(1e-4)
    band = (alpha <= 0.95) & (weight > 1e-3)
    return torch.where(band, spread, fg)


def _composite(fg, alpha, wallpapers, scenes, composite, X, Y, frame_aspect, rng, cfg):
    """Paste the selected samples onto person-free scenes or wallpapers."""
    idx = np.flatnonzero(composite)
    k, device = len(idx), fg.device
    use_scene = rng.random(k) < (cfg.scene_prob if scenes is not None and len(scenes) else 0.0)
    sel = torch.from_numpy(idx).to(device)
    Xs, Ys, fas = X[sel], Y[sel], frame_aspect[sel]
    bg = torch.empty_like(fg[sel])
    for source, chosen in ((scenes, use_scene), (wallpapers, ~use_scene)):
        where = np.flatnonzero(chosen)
        if len(where):
            w = torch.from_numpy(where).to(device)
            bg[w] = _background_views(source, len(where), Xs[w], Ys[w], fas[w], rng)
    # Drawn only when asked for, so the random stream of older configs is unchanged.
    turn = (
        np.flatnonzero(rng.random(k) < cfg.background_hue_prob) if cfg.background_hue_prob else []
    )
    if len(turn):
        w = torch.from_numpy(turn).to(device)
        degrees = torch.from_numpy(rng.uniform(30.0, 330.0, len(turn))).to(device)
        bg[w] = rotate_hue(bg[w], degrees)
    a = alpha[sel]
    person = defringe(fg[sel], a, cfg.defringe_sigma)
    for j in range(k):
        draw = rng.random()
        if draw < cfg.background_blur_prob:
            bg[j : j + 1] = _gaussian_blur(bg[j : j + 1], float(rng.uniform(1.0, 4.0)))
        elif draw < cfg.background_blur_prob + cfg.person_blur_prob:
            person[j : j + 1] = _gaussian_blur(person[j : j + 1], float(rng.uniform(1.0, 2.5)))
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
    """JPEG round trip of one C,H,W float RGB image (on the CPU, with OpenCV, which encodes
    BGR: the channels are swapped around it so chroma artefacts land where a camera puts them)."""
    rgb = (image.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        return image
    decoded = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(decoded).to(image.device).permute(2, 0, 1).float() / 255
