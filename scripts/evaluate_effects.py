"""How the person effects behave on real video (the targets of issue 16), with the real model.

    python scripts/evaluate_effects.py [--data ../shared/data] [--model models/mmnet-fast.onnx]
        [--out docs/benchmarks/effects]

Four measurements, all through ``vcam.convert.process`` (the offline path: model, person
effects, refiner, compositor), every frame:

- **framing while talking**: auto-framing (gentle and tight) on the talking-heads clips, where
  people only talk, and on synthetic 1280x720 clips of the same people smaller in the frame
  (cut out with the model's own soft matte, pasted on the bundled office backdrop and on a
  busy wallpaper of cups). How far the view moves per second after the first 2 s (in which
  it finds the person): the largest movement of its edges per frame, summed, in % of the
  frame width. The target: under 1% per second.
- **framing when the person moves**: the synthetic clips where at 3.5 s the person steps aside
  by 20% of the width, or leans in (1.3x larger), in 0.5 s. The settling time after the move
  (until the view stays within 1% of the frame width and 1% zoom of where it ends), the
  overshoot past that final view, and the steadiness before and after.
- **main person only**: synthetic clips of every ordered pair of the clips' people: the main
  person large (0.85 of the height) beside the middle and a second, smaller one (0.7) at one
  side, not touching, on the office backdrop. Per frame, the bystander counts as removed when
  less than 5% of their alpha is left, and the main person as kept when at least 97% of the
  pixels the matte gives them with the option off (away from the bystander) are still
  person. The model itself often leaves a second person out of its matte: the frames where
  it does not (the bystander's mean alpha above 0.25 with the option off) are the test that
  matters, and are counted apart. The target: both in at least 95% of frames.
- **light correction**: the talking-heads clips as filmed (how many frames it changed: none
  is the aim, they are well lit) and darkened to 0.45x (the person's mean luma, head and
  shoulders, as filmed, darkened and corrected, on the last frame).

Writes ``OUT.md`` and ``OUT.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vcam.convert import process  # noqa: E402
from vcam.effects import PersonEffects  # noqa: E402
from vcam.framing import View  # noqa: E402
from vcam.matting import Matter  # noqa: E402
from vcam.refine import Refiner  # noqa: E402
from vcam.settings import Settings  # noqa: E402
from vcam.sinks import PreviewSink  # noqa: E402
from vcam.sources import FrameSource  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_MODEL = REPO / "models" / "mmnet-fast.onnx"
DEFAULT_OUT = REPO / "docs" / "benchmarks" / "effects"
CANVAS = (1280, 720)
WALL = "ColorfulCups"  # the wallpaper the stages benchmark uses too
MOVE_AT, MOVE_FOR, CLIP_SECONDS = 3.5, 0.5, 8.0
STARTUP = 2.0  # seconds left out of the steadiness: the view finds the person first
SETTLE_TOLERANCE = 0.01  # of the frame width, and of the zoom


class ListSource(FrameSource):
    """Frames held in memory, read one by one (offline: nothing dropped)."""

    name = "frames"

    def __init__(self, frames: list[np.ndarray], fps: float) -> None:
        super().__init__(frames[0].shape[1], frames[0].shape[0], fps, live=False, paced=False)
        self._frames = iter(frames)

    def _grab(self) -> np.ndarray | None:
        return next(self._frames, None)


def run(frames: list[np.ndarray], fps: float, settings: Settings, views: bool = False) -> list:
    """Every frame through the offline pipeline: the output frames, or (with ``views``) each
    output frame with the framing's view of it."""
    out: list = []
    seen: list[View | None] = []
    effects = PersonEffects()
    process(
        ListSource(frames, fps),
        [PreviewSink(out.append)],
        settings,
        progress=lambda done, total: seen.append(effects.view),
        effects=effects,
    )
    return list(zip(out, seen, strict=True)) if views else out


def read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


def edges(view: View, size: tuple[int, int]) -> np.ndarray:
    left, top, width, height = view.rect(size)
    return np.array([left, top, left + width, top + height])


def speed(views: list[View], size: tuple[int, int], fps: float) -> float:
    """How far the view's edges move per second, in % of the frame width (the largest edge
    movement of each frame, summed)."""
    if len(views) < 2:
        return 0.0
    moves = [
        np.abs(edges(b, size) - edges(a, size)).max()
        for a, b in zip(views[:-1], views[1:], strict=True)
    ]
    return 100.0 * sum(moves) / (len(moves) / fps) / size[0]


# ---------------------------------------------------------------------------------------------
# talking


def talking(clips: list[Path], model: str) -> list[dict]:
    rows = []
    for path in clips:
        frames, fps = read_clip(path)
        size = (frames[0].shape[1], frames[0].shape[0])
        for style in ("gentle", "tight"):
            settings = Settings(model=model, auto_frame=style, background="green", output="none")
            views = [view for _, view in run(frames, fps, settings, views=True)]
            steady = views[int(STARTUP * fps) :]
            zooms = [v.zoom for v in views]
            rows.append(
                {
                    "clip": path.name,
                    "size": f"{size[0]}x{size[1]}",
                    "seconds": round(len(frames) / fps, 2),
                    "style": style,
                    "startup_s": round(settled_after(views, views[-1], fps, size[0]), 2),
                    "talking_pct_width_per_s": round(speed(steady, size, fps), 3),
                    "moved_frames_after_startup": sum(
                        1 for a, b in zip(steady[:-1], steady[1:], strict=True) if a != b
                    ),
                    "zoom_min": round(min(zooms), 3),
                    "zoom_max": round(max(zooms), 3),
                }
            )
            print(f"  talking {rows[-1]}", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# synthetic clips: a talking person cut out and moved on a wallpaper


def cut_out(frames: list[np.ndarray], model: str) -> list[np.ndarray]:
    """The soft matte (float32 0..1) of every frame, as the refiner makes it."""
    matter = Matter(model, threads=1)
    refiner = Refiner(threshold=0.0, feather=0.0, smoothing=0.3, guided=True)
    return [refiner.refine(matter.predict(f), f).astype(np.float32) / 255.0 for f in frames]


def wallpaper(data: Path) -> np.ndarray:
    from vcam.backgrounds import fit_image

    walls = sorted((data / "backgrounds").rglob("*.jpg")) + sorted(
        (data / "backgrounds").rglob("*.png")
    )
    chosen = [w for w in walls if w.stem == WALL] or walls[len(walls) // 2 : len(walls) // 2 + 1]
    if not chosen:
        return np.full((CANVAS[1], CANVAS[0], 3), 120, np.uint8)
    return fit_image(cv2.imread(str(chosen[0])), (CANVAS[1], CANVAS[0]), "cover")


def paste(
    canvas: np.ndarray, picture: np.ndarray, alpha: np.ndarray, centre_x: float, height: int
) -> np.ndarray:
    """``picture`` (square) scaled to ``height`` rows, its bottom on the canvas's bottom and
    centred at ``centre_x`` (share of the width), blended in by ``alpha``; returns the pasted
    alpha at canvas size."""
    size = max(2, int(round(height)))
    picture = cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_AREA)
    rows, cols = canvas.shape[:2]
    left = int(round(centre_x * cols - size / 2))
    top = rows - size
    full = np.zeros((rows, cols), np.float32)
    x0, x1 = max(0, left), min(cols, left + size)
    y0 = max(0, top)
    full[y0:rows, x0:x1] = alpha[y0 - top :, x0 - left : x1 - left]
    placed = np.zeros_like(canvas, dtype=np.float32)
    placed[y0:rows, x0:x1] = picture[y0 - top :, x0 - left : x1 - left]
    a = full[..., None]
    canvas[:] = np.clip(a * placed + (1 - a) * canvas + 0.5, 0, 255).astype(np.uint8)
    return full


def ping_pong(count: int, length: int) -> list[int]:
    """Indices 0..length-1 forth and back, ``count`` of them (no jump when a clip loops)."""
    cycle = list(range(length)) + list(range(length - 2, 0, -1))
    return [cycle[i % len(cycle)] for i in range(count)]


def smooth_step(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def moving_clip(frames, alphas, fps, wall, plan) -> list[np.ndarray]:
    """The talking person on ``wall`` following ``plan(t) -> (centre_x, height share)``."""
    out = []
    for i, k in enumerate(ping_pong(int(CLIP_SECONDS * fps), len(frames))):
        centre, share = plan(i / fps)
        canvas = wall.copy()
        paste(canvas, frames[k], alphas[k], centre, share * CANVAS[1])
        out.append(canvas)
    return out


def settled_after(views: list[View], final: View, fps: float, width: int = CANVAS[0]) -> float:
    """The time (s) from which on every view stays within SETTLE_TOLERANCE of ``final``."""
    outside = [
        i
        for i, v in enumerate(views)
        if abs(v.cx - final.cx) > SETTLE_TOLERANCE * width
        or abs(v.cy - final.cy) > SETTLE_TOLERANCE * width
        or abs(v.zoom / final.zoom - 1) > SETTLE_TOLERANCE
    ]
    return (max(outside) + 1) / fps if outside else 0.0


def behaviour(views: list[View], fps: float, direction: str | None) -> dict:
    """Start-up, steadiness while talking, and for a move at MOVE_AT its settling time and
    overshoot."""
    if direction is None:  # talking only
        steady = views[int(STARTUP * fps) :]
        return {
            "startup_s": round(settled_after(views, views[-1], fps), 2),
            "talking_pct_width_per_s": round(speed(steady, CANVAS, fps), 3),
            "view": [round(views[-1].cx), round(views[-1].cy), round(views[-1].zoom, 3)],
        }
    start = int(MOVE_AT * fps)
    before, final = views[start - 1], views[-1]
    settled = settled_after(views, final, fps)
    if direction == "x":
        sign = math.copysign(1.0, final.cx - before.cx)
        overshoot = 100.0 * max(sign * (v.cx - final.cx) for v in views[start:]) / CANVAS[0]
    else:
        sign = math.copysign(1.0, final.zoom - before.zoom)
        overshoot = 100.0 * max(sign * (v.zoom - final.zoom) for v in views[start:]) / final.zoom
    after = int((MOVE_AT + MOVE_FOR + 2.0) * fps)
    return {
        "settle_s_after_move": round(max(0.0, settled - MOVE_AT - MOVE_FOR), 2),
        "overshoot_pct": round(max(0.0, overshoot), 3),
        "talking_before_pct_width_per_s": round(
            speed(views[int(STARTUP * fps) : start], CANVAS, fps), 3
        ),
        "talking_after_pct_width_per_s": round(speed(views[after:], CANVAS, fps), 3),
        "view_before": [round(before.cx), round(before.cy), round(before.zoom, 3)],
        "view_after": [round(final.cx), round(final.cy), round(final.zoom, 3)],
    }


def scenes(data: Path) -> dict[str, np.ndarray]:
    """Backdrops: a calm room (the bundled office preset) and a busy wallpaper on which the
    model's matte often takes in a piece of the wall above the head."""
    from vcam.backgrounds import make_background

    office = make_background("image", path="preset:office")
    try:
        room = office.backdrop((CANVAS[1], CANVAS[0])).copy()
    finally:
        office.close()
    return {"office": room, "cups": wallpaper(data)}


PLANS = {
    "talks": (None, lambda t: (0.45, 0.6)),
    "steps aside": ("x", lambda t: (0.4 + 0.2 * smooth_step((t - MOVE_AT) / MOVE_FOR), 0.6)),
    "leans in": ("zoom", lambda t: (0.5, 0.5 * (1 + 0.3 * smooth_step((t - MOVE_AT) / MOVE_FOR)))),
}


def synthetic(clips, model: str, data: Path) -> tuple[list[dict], list[dict]]:
    """(talking rows, move rows) on the synthetic clips."""
    talks, moved = [], []
    backdrops = scenes(data)
    for path in clips:
        frames, fps = read_clip(path)
        alphas = cut_out(frames, model)
        for scene, wall in backdrops.items():
            for name, (direction, plan) in PLANS.items():
                clip = moving_clip(frames, alphas, fps, wall, plan)
                for style in ("gentle", "tight"):
                    settings = Settings(model=model, auto_frame=style, background="green")
                    views = [view for _, view in run(clip, fps, settings, views=True)]
                    row = {"clip": path.name, "scene": scene, "style": style}
                    if direction is not None:
                        row["move"] = name
                    row |= behaviour(views, fps, direction)
                    (talks if direction is None else moved).append(row)
                    print(f"  {name} {row}", file=sys.stderr, flush=True)
    return talks, moved


# ---------------------------------------------------------------------------------------------
# main person only


def bystanders(clips, model: str, data: Path) -> list[dict]:
    """Every ordered pair of clips: the first as the main person, the second as the
    bystander, on the office backdrop."""
    cut = {}
    for path in clips:
        frames, fps = read_clip(path)
        cut[path] = (frames, fps, cut_out(frames, model))
    wall = scenes(data)["office"]
    rows = []
    for n, path in enumerate(clips):
        for m, other in enumerate(clips):
            if other == path:
                continue
            side = "left" if (n + m) % 2 == 0 else "right"
            row = {"clip": path.name, "bystander": other.name, "side": side}
            rows.append(row | bystander_row(cut[path], cut[other], wall, side, model))
            print(f"  bystander {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def bystander_row(main, other, wall: np.ndarray, side: str, model: str) -> dict:
    """The main person (0.85 of the height) beside the middle, the other (0.7) at one side.
    Removed: under 5% of the bystander's alpha left. Kept: at least 97% of the main person's
    pixels in the same clip without the option (away from the bystander) still person."""
    frames, fps, alphas = main
    o_frames, _, o_alphas = other
    count = int(6.0 * fps)
    clip, extra = [], []
    for k, j in zip(ping_pong(count, len(frames)), ping_pong(count, len(o_frames)), strict=True):
        canvas = wall.copy()
        paste(canvas, frames[k], alphas[k], 0.62 if side == "left" else 0.38, 0.85 * CANVAS[1])
        centre = 0.14 if side == "left" else 0.86
        extra.append(paste(canvas, o_frames[j], o_alphas[j], centre, 0.7 * CANVAS[1]))
        clip.append(canvas)
    base = Settings(model=model, background="green", output="none")
    plain = run(clip, fps, base)
    chosen = run(clip, fps, base.replace(main_person_only=True))
    near = np.ones((31, 31), np.uint8)
    counts = {"seen": 0, "removed": 0, "kept": 0, "both": 0, "seen_both": 0}
    for pl, ch, bystander in zip(plain, chosen, extra, strict=True):
        region = bystander > 0.5
        around = cv2.dilate(region.astype(np.uint8), near) > 0
        mine = (pl.alpha > 127) & ~around
        removed = ch.alpha[region].mean() / 255.0 < 0.05
        kept = np.mean(ch.alpha[mine] > 127) >= 0.97
        seen = pl.alpha[region].mean() / 255.0 > 0.25
        counts["seen"] += int(seen)
        counts["removed"] += int(removed)
        counts["kept"] += int(kept)
        counts["both"] += int(removed and kept)
        counts["seen_both"] += int(seen and removed and kept)
    total = len(plain)
    return {
        "frames": total,
        "bystander_in_matte_frames": counts["seen"],
        "removed_pct": round(100 * counts["removed"] / total, 1),
        "main_kept_pct": round(100 * counts["kept"] / total, 1),
        "both_pct": round(100 * counts["both"] / total, 1),
        "both_where_in_matte_pct": round(100 * counts["seen_both"] / max(1, counts["seen"]), 1),
    }


# ---------------------------------------------------------------------------------------------
# light correction


def lighting(clips, model: str) -> list[dict]:
    """Light correction (default strength) on the talking-heads clips as they are (frames it
    changed) and darkened to 0.45x (the person's mean luma, head and shoulders, before and
    after, against the clip's own)."""
    from vcam.light import person_statistics

    rows = []
    for path in clips:
        frames, fps = read_clip(path)
        settings = Settings(model=model, light="auto", background="green", output="none")
        plain = run(frames, fps, settings)
        dark = [np.clip(f * np.float32(0.45) + 0.5, 0, 255).astype(np.uint8) for f in frames]
        lifted = run(dark, fps, settings)
        last = len(frames) - 1  # after the 2 s smoothing has caught up

        def luma(image: np.ndarray, alpha: np.ndarray) -> float:
            return round(person_statistics(image, alpha).luma, 3)

        rows.append(
            {
                "clip": path.name,
                "frames": len(frames),
                "frames_changed_as_filmed": sum(o.raw is not None for o in plain),
                "luma_as_filmed": luma(plain[last].original, plain[last].alpha),
                "luma_darkened": luma(lifted[last].camera, lifted[last].alpha),
                "luma_corrected": luma(lifted[last].original, lifted[last].alpha),
            }
        )
        print(f"  light {rows[-1]}", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# report


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="OUT.md and OUT.json")
    parser.add_argument(
        "--parts",
        default="talking,moves,bystanders,light",
        help="what to measure; the other parts are kept from an existing OUT.json",
    )
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    clips = sorted((args.data / "talking-heads").glob("clip-*.mp4"))
    if not clips:
        print(f"error: no talking-heads clips in {args.data}", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"error: model {args.model} not found", file=sys.stderr)
        return 2
    model = str(args.model)
    started = time.time()
    path = args.out.with_suffix(".json")
    report = json.loads(path.read_text()) if path.exists() else {}
    report["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    report["model"] = str(
        args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else model
    )
    if "talking" in parts:
        report["talking"] = talking(clips, model)
    if "moves" in parts:
        report["talking_16x9"], report["moves"] = synthetic(clips, model, args.data)
    if "bystanders" in parts:
        report["bystanders"] = bystanders(clips, model, args.data)
    if "light" in parts:
        report["light"] = lighting(clips, model)
    report["seconds"] = round(time.time() - started, 1)
    report = json.loads(json.dumps(report, default=lambda value: value.item()))  # numpy numbers
    text = "\n\n".join(
        [
            f"# Person effects on real video ({report['date']}, {report['model']})",
            "Made with `python scripts/evaluate_effects.py`; see its docstring for the method.",
            "## Auto-framing while people only talk (talking-heads clips)",
            table(report["talking"]),
            "## Auto-framing while people only talk, smaller in a 16:9 frame (synthetic)",
            table(report["talking_16x9"]),
            "## Auto-framing when the person moves (synthetic 1280x720 clips)",
            table(report["moves"]),
            "## Main person only: a second, smaller person beside the main one",
            table(report["bystanders"]),
            "## Light correction on the talking-heads clips, as filmed and darkened to 0.45x",
            table(report["light"]),
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
