"""``stages``: each stage of one frame's walk timed on a realistic frame, with baselines."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from bench.common import (
    BLUR_STRENGTH,
    DEFAULT_MODEL,
    machine,
    markdown_table,
    measure,
    parse_sizes,
    realistic_frame,
    set_threads,
    untrained_model,
    write_sample_clip,
)
from vcam import compositor, light, refine, temporal
from vcam.backgrounds import make_background
from vcam.fitting import placement

# ---------------------------------------------------------------------------------------------
# baselines


def cv2_blend(frame: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The usual OpenCV blend: two saturating multiplies with 1/255 scale and an add."""
    a3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    fg = cv2.multiply(frame, a3, scale=1 / 255)
    bg = cv2.multiply(background, cv2.bitwise_not(a3), scale=1 / 255)
    return cv2.add(fg, bg)


def cv2_blend_linear(frame: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """cv2.blendLinear with float weights made from the alpha."""
    weight = alpha.astype(np.float32) * np.float32(1 / 255)
    return cv2.blendLinear(frame, background, weight, 1 - weight)


def numpy_blend(frame: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Plain numpy in float32."""
    a = alpha[..., None].astype(np.float32) / 255
    return (a * frame + (1 - a) * background + 0.5).astype(np.uint8)


def cv2_full_blur(frame: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Full-resolution GaussianBlur of the whole frame, then the cv2 blend (halo included)."""
    return cv2_blend(frame, alpha, cv2.GaussianBlur(frame, (0, 0), sigma))


def cv2_small_blur(frame: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """The same blur at 1/8 resolution with cv2 (unweighted: the person still bleeds)."""
    h, w = alpha.shape
    small = cv2.resize(frame, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 8)
    return cv2_blend(frame, alpha, cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


# ---------------------------------------------------------------------------------------------
# stages


def stage_rows(
    width: int, height: int, threads: int, model: Path, args: argparse.Namespace, tmp: Path
) -> list[dict]:
    """Every stage and baseline at one frame size and thread count."""
    from vcam.matting import Matter

    set_threads(threads)
    frame, alpha_f, _ = realistic_frame(width, height, args.data)
    alpha = np.round(alpha_f * 255).astype(np.uint8)
    out = np.empty_like(frame)
    rows: list[dict] = []

    def add(stage: str, variant: str, fn: Callable[[], object], repeat: int | None = None):
        timing = measure(fn, repeat or args.repeat, args.warmup)
        rows.append(
            {"size": f"{width}x{height}", "threads": threads, "stage": stage, "variant": variant}
            | asdict(timing)
        )
        print(
            f"  {width}x{height} t={threads} {stage:<10} {variant:<44} {timing.median_ms:8.2f} ms",
            file=sys.stderr,
            flush=True,
        )

    matter = Matter(model, threads=threads)
    blob, where = matter.preprocess(frame)
    add(
        "preprocess",
        f"fit to {matter.input_size[0]}x{matter.input_size[1]} + NCHW float",
        lambda: matter.preprocess(frame),
    )
    add("inference", f"onnxruntime {model.name}", lambda: matter.infer(blob, where))

    spot = placement((height, width), matter.input_size)
    low = cv2.resize(alpha_f, (spot.width, spot.height), interpolation=cv2.INTER_AREA)
    low = np.ascontiguousarray(low, dtype=np.float32)
    matte = np.empty((height, width), np.uint8)
    add(
        "refine",
        f"bilinear {spot.height}x{spot.width} -> frame",
        lambda: refine.upsample_alpha(low, frame, guided=False, out=matte),
    )
    add(
        "refine",
        f"guided {spot.height}x{spot.width} -> frame",
        lambda: refine.upsample_alpha(low, frame, guided=True, out=matte),
    )
    add(
        "refine",
        f"grey guide {spot.height}x{spot.width} (grey_guide)",
        lambda: refine.grey_guide(frame, low.shape),
    )
    add(
        "refine",
        f"grey + colour {spot.height}x{spot.width} (picture_at)",
        lambda: refine.picture_at(frame, low.shape),
    )
    picture = refine.picture_at(frame, low.shape)
    state = temporal.stabilise(None, low, picture, temporal.STEADINESS["balanced"])
    jittered = np.clip(
        low + np.float32(0.05) * np.sin(np.arange(low.size)).reshape(low.shape), 0, 1
    )
    add(
        "stabilise",
        f"vcam.temporal.stabilise, balanced, {spot.height}x{spot.width}",
        lambda: temporal.stabilise(state, jittered, picture, temporal.STEADINESS["balanced"]),
    )
    for level in ("off", "balanced"):
        refiner = refine.Refiner(threshold=0.5, feather=2.0, smoothing=level, guided=True)
        add(
            "refine",
            f"Refiner (guided, threshold .5, feather 2, smoothing {level})",
            lambda r=refiner: r.refine(low, frame),
        )

    effect_rows(frame, alpha, low, add)

    clip = write_sample_clip(tmp / f"clip-{width}x{height}.avi")
    kinds = [
        ("blur", {"blur_strength": BLUR_STRENGTH}, f"blur (strength {BLUR_STRENGTH})"),
        ("image", {"path": "preset:office"}, "image (office preset, cover)"),
        ("video", {"path": clip}, "video (640x360 MJPG, 60 frames)"),
        ("colour", {"colour": "#2e3440"}, "colour"),
        ("green", {}, "green"),
        ("passthrough", {}, "passthrough"),
    ]
    for kind, options, label in kinds:
        background = make_background(kind, **options)
        add("composite", label, lambda b=background: b.composite(frame, alpha, out=out))
        if kind == "video":
            cached = "cached in memory" if background._cache_complete else "decoded each frame"
            rows[-1]["variant"] += f", {cached}"
        background.close()

    backdrop = make_background("image", path="preset:office").backdrop((height, width))
    add(
        "blend",
        "numba (vcam.compositor.blend)",
        lambda: compositor.blend(frame, alpha, backdrop, out=out),
    )
    add("blend", "cv2 multiply/add", lambda: cv2_blend(frame, alpha, backdrop))
    add(
        "blend", "cv2 blendLinear (float weights)", lambda: cv2_blend_linear(frame, alpha, backdrop)
    )
    add("blend", "numpy float32", lambda: numpy_blend(frame, alpha, backdrop))
    sigma = compositor.blur_sigma(BLUR_STRENGTH, height)
    add(
        "blur",
        f"numba weighted, 1/{compositor.blur_factor(sigma)} res (blend_blur)",
        lambda: compositor.blend_blur(frame, alpha, BLUR_STRENGTH, out=out),
    )
    add(
        "blur",
        "cv2 1/8 res blur + cv2 blend (unweighted)",
        lambda: cv2_small_blur(frame, alpha, sigma),
    )
    add(
        "blur",
        f"cv2 full-res GaussianBlur sigma {sigma:.1f} + blend",
        lambda: cv2_full_blur(frame, alpha, sigma),
        repeat=max(5, args.repeat // 4),
    )
    return rows


def effect_rows(frame: np.ndarray, alpha: np.ndarray, low: np.ndarray, add) -> None:
    """The person effects (vcam.person, vcam.framing, vcam.light), each on its own: what
    each adds to a frame when it is on."""
    from vcam import framing, light, person

    height, width = alpha.shape
    size = (width, height)

    def main_person_only():
        labels, regions = person.find_people(low)
        return person.keep_person(low, labels, person.MainPersonTracker().choose(regions))

    add("effects", f"main person only ({low.shape[0]}x{low.shape[1]} alpha)", main_person_only)
    controller = framing.FramingController(size, framing.STYLES["tight"])
    labels, regions = person.find_people(low)
    main = max(regions, key=lambda r: r.area)
    for zoom in (1.1, 2.0):
        view = framing.clamp_view(framing.View(width / 2, height / 2, zoom), size, zoom)

        def frame_it(view=view):
            head = framing.head_of(labels == main.label, size)
            if head is not None:
                framing.target_view(head, size, controller.style)
            controller.update(view, 1 / 30)
            framing.crop_to_view(low, view, size)
            return framing.crop_to_view(frame, view, size)

        add("effects", f"auto-framing (head, controller, crop at {zoom:g}x)", frame_it)
    dark = np.clip(frame * np.float32(0.4) + 0.5, 0, 255).astype(np.uint8)
    lift = light.LightCorrector(strength=0.8)
    add(
        "effects",
        "light correction (statistics + curve on the person, 0.4x dark)",
        lambda: lift(dark, alpha, 0.0),
    )
    well_lit = light.LightCorrector(strength=0.8)
    add(
        "effects",
        "light correction, well exposed (statistics only)",
        lambda: well_lit(frame, alpha, 0.0),
    )


def cmd_stages(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        model_label = None
        model = args.model
        if model is None:
            if DEFAULT_MODEL.is_file():
                model = DEFAULT_MODEL
            else:
                model, model_label = untrained_model(tmp)
        model_label = model_label or str(model)
        print(f"model: {model_label}", file=sys.stderr)
        compositor.warm_up()
        refine.warm_up()
        light.warm_up()
        temporal.warm_up()
        load_before = os.getloadavg()
        started = time.time()
        rows = []
        for threads in [int(t) for t in args.threads.split(",")]:
            for width, height in parse_sizes(args.sizes):
                rows += stage_rows(width, height, threads, Path(model), args, tmp)
        load_after = os.getloadavg()
        frame_label = realistic_frame(64, 36, args.data)[2]
    print(
        f"\nModel: {model_label}. Frame: {frame_label}. Load average before/after: "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} cores.\n"
    )
    print(markdown_table(rows))
    if args.out:
        report = {
            "command": "stages",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "seconds": round(time.time() - started, 1),
            "model": model_label,
            "frame": frame_label,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "machine": machine(),
            "rows": rows,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.out}")
    return 0
