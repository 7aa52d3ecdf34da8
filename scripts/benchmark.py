"""Benchmarks of vcam's per-frame work on this machine: medians over many repetitions.

    python scripts/benchmark.py stages [--sizes 1280x720,1920x1080] [--threads 1,2]
        [--model models/mmnet-fast.onnx] [--repeat 40] [--warmup 5] [--out stages.json]

``stages`` times each stage of one frame's walk on a realistic frame (a real portrait from
``--data`` pasted on a real wallpaper when the data folder is there, else a synthetic scene):
preprocess (fit + NCHW float), inference (onnxruntime through ``vcam.matting.Matter``),
refine (bilinear, guided, the full Refiner), composite for every background kind, and in the
same run baselines: the numba blend against cv2 and numpy, the reduced-resolution weighted
blur against cv2's full-resolution GaussianBlur. It prints a Markdown table and can write the
numbers as JSON.

Without ``--model`` it uses ``models/mmnet-fast.onnx``; when that is missing it exports an
UNTRAINED MMNet to a temporary file (needs torch) and labels every row with it: its speed is
the real model's, its alpha is meaningless.

New modes go in as subcommands: add a ``cmd_NAME(args)`` and register it in ``build_parser``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numba
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vcam import compositor, refine  # noqa: E402
from vcam.backgrounds import make_background  # noqa: E402
from vcam.fitting import placement  # noqa: E402

DEFAULT_MODEL = REPO / "models" / "mmnet-fast.onnx"
DEFAULT_DATA = REPO.parent / "shared" / "data"
BLUR_STRENGTH = 25  # the settings' default
PREFERRED_WALL = "ColorfulCups"  # a photo with detail everywhere (plasma-workspace-wallpapers)


# ---------------------------------------------------------------------------------------------
# timing


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    n: int


def measure(fn: Callable[[], object], repeat: int, warmup: int) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times timed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(times), min(times), max(times), len(times))


def set_threads(threads: int) -> None:
    """Threads for numba (this thread's parallel kernels) and OpenCV."""
    numba.set_num_threads(threads)
    cv2.setNumThreads(threads)


# ---------------------------------------------------------------------------------------------
# inputs


def realistic_frame(width: int, height: int, data: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(frame BGR uint8, alpha float32 [0,1], description): a real portrait and its mask
    pasted on a real wallpaper when ``data`` has them, else a synthetic person in a room."""
    portraits = sorted((data / "portraits-shen2016" / "test" / "image").glob("*.jpg"))
    walls = sorted((data / "backgrounds").rglob("*.jpg")) + sorted(
        (data / "backgrounds").rglob("*.png")
    )
    if portraits and walls:
        person = cv2.imread(str(portraits[0]))
        mask_path = portraits[0].parent.parent / "mask" / (portraits[0].stem + ".png")
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        preferred = [w for w in walls if w.stem == PREFERRED_WALL]
        wall_path = preferred[0] if preferred else walls[len(walls) // 2]
        wall = cv2.imread(str(wall_path))
        if person is not None and mask is not None and wall is not None:
            from vcam.backgrounds import fit_image

            room = fit_image(wall, (height, width), "cover").astype(np.float32)
            scale = height / person.shape[0]
            size = (round(person.shape[1] * scale), height)
            person = cv2.resize(person, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
            alpha = np.zeros((height, width), np.float32)
            left = (width - size[0]) // 2
            alpha[:, left : left + size[0]] = cv2.GaussianBlur(mask, (0, 0), 1.0) / 255.0
            canvas = room.copy()
            canvas[:, left : left + size[0]] = person
            frame = alpha[..., None] * canvas + (1 - alpha[..., None]) * room
            label = f"{portraits[0].name} on {wall_path.name}"
            return np.clip(frame + 0.5, 0, 255).astype(np.uint8), alpha, label
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    room = np.stack([90 + 60 * yy / height, 120 + 40 * xx / width, 170 - 50 * yy / height], 2)
    room = cv2.GaussianBlur(room + rng.normal(0, 25, room.shape).astype(np.float32), (0, 0), 3)
    head = ((xx - width / 2) / (0.12 * width)) ** 2 + ((yy - 0.38 * height) / (0.2 * height)) ** 2
    body = ((xx - width / 2) / (0.3 * width)) ** 2 + ((yy - 1.05 * height) / (0.45 * height)) ** 2
    alpha = cv2.GaussianBlur(((head < 1) | (body < 1)).astype(np.float32), (0, 0), 1.5)
    person = np.array([60, 80, 200], np.float32) + rng.normal(0, 12, room.shape)
    frame = alpha[..., None] * person + (1 - alpha[..., None]) * room
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), alpha, "synthetic scene"


def untrained_model(folder: Path, height: int = 144, width: int = 256) -> tuple[Path, str]:
    """An UNTRAINED MMNet(1.0) exported at ``height`` x ``width`` (only its speed is real)."""
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx

    path = export_onnx(MMNet(1.0), folder / "untrained.onnx", height, width)
    return path, f"UNTRAINED MMNet(1.0) {height}x{width} (timing only)"


def write_clip(path: Path, frames: int = 60, size: tuple[int, int] = (640, 360)) -> Path:
    """A short MJPG clip panning across the office preset."""
    base = cv2.imread(str(REPO / "vcam" / "assets" / "backgrounds" / "office.jpg"))
    if base is None:
        base = np.full((720, 1280, 3), 120, np.uint8)
    wide = cv2.resize(base, (size[0] * 2, size[1]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, size)
    for i in range(frames):
        left = int(i * size[0] / frames)
        writer.write(np.ascontiguousarray(wide[:, left : left + size[0]]))
    writer.release()
    return path


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
    refiner = refine.Refiner(threshold=0.5, feather=2.0, smoothing=0.3, guided=True)
    add(
        "refine",
        "Refiner (guided, threshold .5, feather 2, smooth .3)",
        lambda: refiner.refine(low, frame),
    )

    clip = write_clip(tmp / f"clip-{width}x{height}.avi")
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


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| size | threads | stage | variant | median ms | min | max | n |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['threads']} | {r['stage']} | {r['variant']} | "
            f"{r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['max_ms']:.2f} | {r['n']} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "numba": numba.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numba_threading_layer": numba.config.THREADING_LAYER,
    }


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, height = item.lower().split("x")
        sizes.append((int(width), int(height)))
    return sizes


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stages = commands.add_parser("stages", help="per-stage timings of one frame's walk")
    stages.add_argument("--sizes", default="1280x720,1920x1080", help="WxH,WxH,...")
    stages.add_argument("--threads", default="1,2", help="thread counts to run, e.g. 1,2")
    stages.add_argument("--model", type=Path, default=None, help="an MMNet .onnx file")
    stages.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    stages.add_argument("--repeat", type=int, default=40)
    stages.add_argument("--warmup", type=int, default=5)
    stages.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    stages.set_defaults(run=cmd_stages)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
