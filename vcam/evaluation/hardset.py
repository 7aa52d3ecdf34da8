"""The harder evaluation set: Shen test portraits composited into 16:9 webcam-like frames.

Built deterministically (fixed seed, same bytes every build) from ``portraits-shen2016/test``
only, over backgrounds that training never uses (:data:`EVAL_BACKGROUND_SETS`):

- ``hard16x9``: 1280x720 frames. Each person is cut out by their binary mask (lightly
  anti-aliased), scaled so that their height fills from the whole frame down to about a third
  of it, placed left, centre or right and anchored at the bottom edge (a torso seen by a
  webcam), with colours pulled a little toward the background's, mild optical blur, sensor
  noise and JPEG. The ground-truth alpha is the placed mask. About 2.3 frames per person.
- ``flicker``: a 30-frame clip for 48 of the persons: small smooth sway and zoom, then segments
  where only the sensor noise changes (``Clip.static``), fresh noise and JPEG every frame.

The set is cached under ``.cache/hardset/`` (JPEG frames, PNG alphas, ``manifest.json``) and
rebuilt when missing, when its recipe changed, or on request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vcam.evaluation.datasets import Clip, DatasetError, Pair, load_pairs, read_alpha, read_rgb

log = logging.getLogger(__name__)

# Background folders (under ``<data>/backgrounds``) reserved for evaluation: training must not
# composite onto these (``from vcam.evaluation.hardset import EVAL_BACKGROUND_SETS``).
EVAL_BACKGROUND_SETS = ("ukui-wallpapers", "lomiri-wallpapers-20.04")
SOURCE_SET = ("portraits-shen2016", "test")
BUILD_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "hardset"

# Person height as a fraction of the frame height: head-and-shoulders filling the frame down to
# about a third of it. Positions are the person's centre as a fraction of the frame width.
HEIGHT_BINS = ((0.86, 0.97), (0.68, 0.82), (0.5, 0.64), (0.33, 0.47))
POSITIONS = {"left": 0.27, "centre": 0.5, "right": 0.73}


@dataclass(frozen=True)
class HardSetConfig:
    """The recipe of the hard set; any change makes the cache rebuild."""

    width: int = 1280
    height: int = 720
    frames_per_person: float = 2.3
    clip_persons: int = 48
    clip_length: int = 30
    seed: int = 20261126


@dataclass(frozen=True)
class HardSet:
    """The built set: still frames and clips, as files under ``root``."""

    root: Path
    frames: list[Pair]
    clips: list[Clip]


def background_files(data_root: Path) -> list[Path]:
    """The evaluation-only background images, sorted."""
    files = []
    for name in EVAL_BACKGROUND_SETS:
        folder = Path(data_root) / "backgrounds" / name
        if folder.is_dir():
            files += [p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".jpg", ".png")]
    if not files:
        raise DatasetError(
            f"no evaluation backgrounds in {Path(data_root) / 'backgrounds'} "
            f"({', '.join(EVAL_BACKGROUND_SETS)}): check --data"
        )
    return files


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cutout:
    """A person cropped around their mask: float RGB, float mask, and the mask's bounding box
    inside the crop (top, bottom, left, right; bottom/right exclusive)."""

    rgb: np.ndarray
    mask: np.ndarray
    box: tuple[int, int, int, int]


MAX_SHOULDER_SLOPE = 1.5  # a cut shoulder goes on outward at most this many px per px downward


def _extend_shoulders(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the torso runs off the photo's side down to its bottom edge, continue it outward as
    a straight falling shoulder line down to the bottom edge (edge colours replicated), so a
    person placed small in a wide frame shows no vertical cut along the photo's side."""
    h, w = mask.shape
    pads = {}
    for side, column in (("left", mask[:, 0] > 0.5), ("right", mask[:, -1] > 0.5)):
        if column[-1]:
            start = h - int(np.argmin(column[::-1])) if not column.all() else 0
            pads[side] = (start, round(min(0.35 * w, MAX_SHOULDER_SLOPE * (h - start))))
    if not pads:
        return rgb, mask
    pl, pr = pads.get("left", (0, 0))[1], pads.get("right", (0, 0))[1]
    rgb = cv2.copyMakeBorder(rgb, 0, 0, pl, pr, cv2.BORDER_REPLICATE)
    # Smooth the replicated edge columns vertically so the extension reads as cloth, not streaks.
    for lo, hi in ((0, pl), (pl + w, pl + w + pr)):
        if hi > lo:
            band = np.ascontiguousarray(rgb[:, lo:hi])
            rgb[:, lo:hi] = cv2.GaussianBlur(band, (1, 0), 0, sigmaY=12)
    out = np.zeros((h, w + pl + pr), np.float32)
    out[:, pl : pl + w] = mask
    for side, (start, pad) in pads.items():
        for r in range(start, h):
            reach = round(pad * (r - start + 1) / (h - start))
            if side == "left":
                out[r, pl - reach : pl] = 1.0
            else:
                out[r, pl + w : pl + w + reach] = 1.0
    return rgb, out


def _cut_out(pair: Pair) -> _Cutout:
    image, alpha = read_rgb(pair.image), read_alpha(pair.alpha)
    if image.shape[:2] != alpha.shape:
        raise DatasetError(f"mask {pair.alpha} and image {pair.image} differ in size")
    mask = (alpha > 0.5).astype(np.float32)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        raise DatasetError(f"mask {pair.alpha} is empty: no person to cut out")
    h, w = mask.shape
    top, left = max(0, rows[0] - 8), max(0, cols[0] - 8)
    bottom, right = min(h, rows[-1] + 9), min(w, cols[-1] + 9)
    rgb = image[top:bottom, left:right].astype(np.float32) / 255.0
    rgb, mask = _extend_shoulders(rgb, mask[top:bottom, left:right])
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return _Cutout(rgb, mask, (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1))


def _background(path: Path, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of a background, zoomed 1-1.4x, defocused half the time (float RGB)."""
    image = read_rgb(path).astype(np.float32) / 255.0
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.4)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, size[1] - height + 1))
    x = int(rng.integers(0, size[0] - width + 1))
    image = np.ascontiguousarray(image[y : y + height, x : x + width])
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 3.0))
    return image


def _match_colours(
    rgb: np.ndarray, mask: np.ndarray, background: np.ndarray, strength: float
) -> np.ndarray:
    """Move the person's Lab mean and spread ``strength`` of the way toward the background's."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    h, w = background.shape[:2]
    small = cv2.resize(background, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    mu_b, sd_b = cv2.meanStdDev(cv2.cvtColor(small, cv2.COLOR_RGB2Lab))
    mu_f, sd_f = cv2.meanStdDev(lab, mask=(mask > 0.5).astype(np.uint8))
    mu_b, sd_b, mu_f, sd_f = (v.ravel().astype(np.float32) for v in (mu_b, sd_b, mu_f, sd_f))
    sd_f, sd_b = sd_f + 1e-3, sd_b + 1e-3
    mu = mu_f + strength * (mu_b - mu_f)
    sd = sd_f + strength * (sd_b - sd_f)
    lab = (lab - mu_f) * (sd / sd_f) + mu
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)


@dataclass(frozen=True)
class _Placed:
    """A cutout pre-scaled for a placement, with its anchor (bottom centre of the mask's box)."""

    rgb: np.ndarray
    mask: np.ndarray
    anchor_x: float
    anchor_y: float
    person_width: float


def _prescale(cut: _Cutout, scale: float) -> _Placed:
    h, w = cut.mask.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    inter = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    sx, sy = size[0] / w, size[1] / h
    top, bottom, left, right = cut.box
    return _Placed(
        cv2.resize(cut.rgb, size, interpolation=inter),
        cv2.resize(cut.mask, size, interpolation=inter),
        anchor_x=(left + right) / 2 * sx,
        anchor_y=bottom * sy,
        person_width=(right - left) * sx,
    )


def _recolour(placed: _Placed, background: np.ndarray, strength: float) -> _Placed:
    """The placed person with colours pulled toward the background's (see _match_colours)."""
    return replace(placed, rgb=_match_colours(placed.rgb, placed.mask, background, strength))


def _centre_x(placed: _Placed, fraction: float, width: int) -> float:
    """The person's centre for a width ``fraction``, kept inside the frame when it fits."""
    half = placed.person_width / 2
    return float(np.clip(fraction * width, min(half, width / 2), max(width - half, width / 2)))


def _render(
    placed: _Placed,
    background: np.ndarray,
    centre_x: float,
    zoom: float,
    shift: tuple[float, float],
    look: dict,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite one frame: RGB uint8 image (with blur and noise) and its uint8 alpha."""
    height, width = background.shape[:2]
    # Zoom about the anchor, which lands on the frame's bottom edge at centre_x (+ shift).
    tx = centre_x + shift[0] - zoom * placed.anchor_x
    ty = height + shift[1] - zoom * placed.anchor_y
    matrix = np.array([[zoom, 0.0, tx], [0.0, zoom, ty]])
    fg = cv2.warpAffine(
        placed.rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mask = cv2.warpAffine(
        placed.mask, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    mask = cv2.GaussianBlur(mask, (0, 0), 0.5)  # a light anti-aliased edge
    gt = np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)
    alpha = (gt.astype(np.float32) / 255.0)[..., None]
    frame = alpha * fg + (1.0 - alpha) * background
    frame = cv2.GaussianBlur(frame, (0, 0), look["blur"])
    noise = rng.standard_normal(frame.shape, dtype=np.float32) * look["noise"]
    noise += rng.standard_normal(frame.shape[:2], dtype=np.float32)[..., None] * look["luma_noise"]
    image = np.clip(np.rint(frame * 255.0 + noise), 0, 255).astype(np.uint8)
    return image, gt


def _camera_look(rng: np.random.Generator) -> dict:
    return {
        "blur": float(rng.uniform(0.3, 0.9)),
        "noise": float(rng.uniform(1.0, 3.5)),
        "luma_noise": float(rng.uniform(0.5, 2.0)),
        "jpeg": int(rng.integers(72, 93)),
    }


def _write(image: np.ndarray, gt: np.ndarray, quality: int, image_path: Path, alpha_path: Path):
    ok1, jpg = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    ok2, png = cv2.imencode(".png", gt)
    if not (ok1 and ok2):
        raise DatasetError(f"cannot encode {image_path.name}")
    image_path.parent.mkdir(parents=True, exist_ok=True)
    image_path.write_bytes(jpg.tobytes())
    alpha_path.write_bytes(png.tobytes())


# --- building --------------------------------------------------------------------------------


def _frame_counts(persons: int, per_person: float) -> list[int]:
    """Spread ``round(persons * per_person)`` frames evenly: 2 or 3 each for 2.3."""
    edges = np.floor(np.arange(persons + 1) * per_person + 1e-9).astype(int)
    return np.diff(edges).tolist()


def _clip_persons(persons: int, wanted: int) -> list[int]:
    return sorted(set(np.linspace(0, persons - 1, num=min(wanted, persons)).round().astype(int)))


def _static_frames(length: int) -> list[bool]:
    """Blocks of 5 moving frames then 5 frames where only the noise changes."""
    return [t > 0 and (t // 5) % 2 == 1 for t in range(length)]


def _recipe(data_root: Path, config: HardSetConfig) -> dict:
    pairs = load_pairs(Path(data_root).joinpath(*SOURCE_SET))
    backgrounds = background_files(data_root)
    source = "\n".join(p.name for p in pairs) + "\n" + "\n".join(b.name for b in backgrounds)
    return {
        "version": BUILD_VERSION,
        "config": asdict(config),
        "source": "/".join(SOURCE_SET),
        "backgrounds": list(EVAL_BACKGROUND_SETS),
        "source_digest": hashlib.sha256(source.encode()).hexdigest()[:16],
    }


def build_hardset(data_root: str | Path, out_dir: str | Path, config: HardSetConfig) -> Path:
    """Build the set into ``out_dir`` (replaced atomically); returns the manifest's path."""
    data_root, out_dir = Path(data_root), Path(out_dir)
    pairs = load_pairs(data_root.joinpath(*SOURCE_SET))
    backgrounds = background_files(data_root)
    recipe = _recipe(data_root, config)
    work = out_dir.with_name(out_dir.name + ".partial")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    w, h = config.width, config.height
    frames = []
    counts = _frame_counts(len(pairs), config.frames_per_person)
    log.info("building %d hard frames from %d persons", sum(counts), len(pairs))
    combos = [(b, p) for b in range(len(HEIGHT_BINS)) for p in POSITIONS]
    for index, (pair, count) in enumerate(zip(pairs, counts, strict=True)):
        if count == 0:
            continue
        rng = np.random.default_rng([config.seed, 0, index])
        cut = _cut_out(pair)
        for slot, k in enumerate(rng.permutation(len(combos))[:count]):
            bin_index, position = combos[k]
            fraction = float(rng.uniform(*HEIGHT_BINS[bin_index]))
            bg_path = backgrounds[int(rng.integers(len(backgrounds)))]
            background = _background(bg_path, w, h, rng)
            strength = float(rng.uniform(0.1, 0.3))
            placed = _prescale(cut, fraction * h / (cut.box[1] - cut.box[0]))
            placed = _recolour(placed, background, strength)
            jitter = rng.uniform(-0.04, 0.04)
            centre = round(_centre_x(placed, POSITIONS[position] + jitter, w))
            look = _camera_look(rng)
            image, gt = _render(placed, background, centre, 1.0, (0.0, 0.0), look, rng)
            name = f"{pair.name}-{slot}"
            stem = work / "frames" / name
            _write(image, gt, look["jpeg"], stem.with_suffix(".jpg"), stem.with_suffix(".png"))
            frames.append(
                {
                    "name": name,
                    "person": pair.name,
                    "image": f"frames/{name}.jpg",
                    "alpha": f"frames/{name}.png",
                    "height_fraction": round(fraction, 4),
                    "position": position,
                    "background": f"{bg_path.parent.name}/{bg_path.name}",
                }
            )
    clips = []
    static = _static_frames(config.clip_length)
    moving_steps = max(1, sum(1 for t in range(1, config.clip_length) if not static[t]))
    for index in _clip_persons(len(pairs), config.clip_persons):
        pair = pairs[index]
        rng = np.random.default_rng([config.seed, 1, index])
        cut = _cut_out(pair)
        bg_path = backgrounds[int(rng.integers(len(backgrounds)))]
        background = _background(bg_path, w, h, rng)
        strength = float(rng.uniform(0.1, 0.3))
        fraction = float(rng.uniform(0.45, 0.9))
        placed = _prescale(cut, fraction * h / (cut.box[1] - cut.box[0]))
        placed = _recolour(placed, background, strength)
        centre = _centre_x(placed, float(rng.uniform(0.3, 0.7)), w)
        sway, zoom_amp = rng.uniform(0.01, 0.03), rng.uniform(0.02, 0.06)
        drop = rng.uniform(0.0, 0.02)
        look = _camera_look(rng)
        entries, progress = [], 0
        for t in range(config.clip_length):
            if t > 0 and not static[t]:
                progress += 1
            phase = 2 * np.pi * progress / moving_steps
            zoom = 1.0 + zoom_amp * (1 - np.cos(phase)) / 2
            shift = (sway * np.sin(phase) * w, drop * (1 - np.cos(phase)) / 2 * h)
            frame_rng = np.random.default_rng([config.seed, 2, index, t])
            image, gt = _render(placed, background, centre, zoom, shift, look, frame_rng)
            stem = f"clips/{pair.name}/{t:02d}"
            _write(image, gt, look["jpeg"], work / f"{stem}.jpg", work / f"{stem}.png")
            entries.append({"image": f"{stem}.jpg", "alpha": f"{stem}.png", "static": static[t]})
        clips.append(
            {
                "name": pair.name,
                "background": f"{bg_path.parent.name}/{bg_path.name}",
                "frames": entries,
            }
        )
    manifest = dict(recipe, frames=frames, clips=clips)
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    if out_dir.exists():
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
            shutil.rmtree(work)
            raise DatasetError(f"{out_dir} is not a hard-set cache (no {MANIFEST}); not replacing")
        shutil.rmtree(out_dir)
    work.rename(out_dir)
    log.info("hard set: %d frames, %d clips in %s", len(frames), len(clips), out_dir)
    return out_dir / MANIFEST


def load_hardset(out_dir: str | Path) -> HardSet:
    """Read a built set's manifest; every file it names must exist."""
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {out_dir / MANIFEST}: rebuild with --rebuild") from exc

    def pair(name: str, entry: dict) -> Pair:
        image, alpha = out_dir / entry["image"], out_dir / entry["alpha"]
        for path in (image, alpha):
            if not path.is_file():
                raise DatasetError(f"hard set file {path} is missing: rebuild with --rebuild")
        return Pair(name, image, alpha)

    frames = [pair(f["name"], f) for f in manifest["frames"]]
    clips = [
        Clip(
            c["name"],
            tuple(pair(f"{c['name']}/{t:02d}", f) for t, f in enumerate(c["frames"])),
            tuple(bool(f["static"]) for f in c["frames"]),
        )
        for c in manifest["clips"]
    ]
    return HardSet(out_dir, frames, clips)


def ensure_hardset(
    data_root: str | Path,
    out_dir: str | Path | None = None,
    config: HardSetConfig | None = None,
    rebuild: bool = False,
) -> HardSet:
    """The cached hard set, built first when missing, outdated or ``rebuild`` is set."""
    out_dir = Path(out_dir) if out_dir else DEFAULT_CACHE
    config = config or HardSetConfig()
    if not rebuild and (out_dir / MANIFEST).is_file():
        recipe = _recipe(Path(data_root), config)
        try:
            manifest = json.loads((out_dir / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = {}
        if all(manifest.get(key) == value for key, value in recipe.items()):
            try:
                return load_hardset(out_dir)
            except DatasetError as exc:
                log.warning("%s; rebuilding", exc)
        else:
            log.info("hard set in %s is outdated; rebuilding", out_dir)
    build_hardset(data_root, out_dir, config)
    return load_hardset(out_dir)
