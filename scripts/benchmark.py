"""Benchmarks of vcam's per-frame work on this machine: medians over many repetitions.

    python scripts/benchmark.py stages [--sizes 1280x720,1920x1080] [--threads 1,2]
        [--model models/mmnet-fast.onnx] [--repeat 40] [--warmup 5] [--out stages.json]

``stages`` times each stage of one frame's walk on a realistic frame (a real portrait from
``--data`` pasted on a real wallpaper when the data folder is there, else a synthetic scene):
preprocess (fit + NCHW float), inference (onnxruntime through ``vcam.matting.Matter``),
refine (bilinear, guided, the full Refiner), the person effects (main person only, auto-framing
at 1.1x and 2x, light correction of a darkened and of a well-exposed person), composite for
every background kind, and in the
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
import math
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

from vcam import compositor, light, refine, temporal  # noqa: E402
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


# ---------------------------------------------------------------------------------------------
# side by side: vcam's models and the MediaPipe peer on the same frames (models, variants)

PEER_VARIANTS = ("general", "landscape")
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
SPEED_CACHE = REPO / ".cache" / "speed"


def shown(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (for reports)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse_hw(text: str) -> tuple[int, int]:
    """``"144x256"`` (height x width, the model convention) as (144, 256)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: size {text!r}: use HEIGHTxWIDTH, e.g. 144x256") from None
    return height, width


def parse_list(text: str, kind: type = str) -> list:
    """Comma-separated values (empty items dropped)."""
    return [kind(item.strip()) for item in text.split(",") if item.strip()]


def portrait_frames(
    data: Path, count: int, width: int = 1280, height: int = 720
) -> tuple[list[np.ndarray], str]:
    """``count`` real photos of portraits-shen2016/test, each scaled to the frame height and
    centred in a ``width`` x ``height`` BGR frame (sides mirrored from the photo), or the
    bundled sample portrait framed like a webcam when the data is missing."""
    photos = sorted((data / "portraits-shen2016" / "test" / "image").glob("*.jpg"))
    frames = []
    if photos:
        picks = np.linspace(0, len(photos) - 1, min(count, len(photos))).round().astype(int)
        for i in picks:
            photo = cv2.imread(str(photos[i]))
            if photo is None:
                continue
            scale = height / photo.shape[0]
            size = (min(width, round(photo.shape[1] * scale)), height)
            photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
            left = (width - size[0]) // 2
            frames.append(
                cv2.copyMakeBorder(
                    photo, 0, 0, left, width - size[0] - left, cv2.BORDER_REFLECT_101
                )
            )
    if frames:
        return frames, f"{len(frames)} photos of portraits-shen2016/test in {width}x{height} frames"
    from vcam.sources import SampleSource

    sample = SampleSource(width, height, fps=30.0, live=False)
    frames = [sample.render(t) for t in np.linspace(0.0, 6.0, max(1, count), endpoint=False)]
    sample.close()
    return frames, f"the bundled sample portrait, {len(frames)} {width}x{height} frames"


@dataclass
class Candidate:
    """One way of turning a BGR frame into a frame-size float alpha, with what it is."""

    name: str  # the name scripts/evaluate.py reports (file stem, mediapipe-selfie-VARIANT)
    kind: str  # "vcam" or "mediapipe"
    input_size: str  # model input, HEIGHTxWIDTH
    precision: str  # fp32 or int8
    label: str  # a one-line description
    run: Callable[[np.ndarray], np.ndarray]
    trained: bool = True
    width: float | None = None  # MMNet width multiplier
    path: str = ""
    rewrites: str = ""  # exact graph rewrites applied (vcam.training.optimize)


def mmnet_candidate(path: Path, threads: int, trained: bool | None = None) -> Candidate:
    """An MMNet .onnx file through ``vcam.matting.Matter`` (vcam's session options):
    ``matte`` = ``fit`` + NCHW float + inference + ``unfit`` to the frame size."""
    from vcam.matting import Matter

    matter = Matter(path, threads=threads)
    meta = matter.metadata
    height, width = matter.input_size
    precision = meta.get("vcam.precision", "fp32")
    rewrites = meta.get("vcam.graph_rewrites", "")
    if meta.get("vcam.deploy"):  # the fused inference form (vcam.nets.deploy)
        rewrites = ",".join(filter(None, [rewrites, "fused"]))
    if trained is None:
        trained = "untrained" not in path.stem
    multiplier = meta.get("vcam.width_multiplier")
    label = f"MMNet({multiplier or '?'}) {height}x{width} {precision}"
    label += f", rewrites: {rewrites}" if rewrites else ""
    label += "" if trained else " (UNTRAINED: latency only)"
    return Candidate(
        name=path.stem,
        kind="vcam",
        input_size=f"{height}x{width}",
        precision=precision,
        label=label,
        run=matter.matte,
        trained=trained,
        width=float(multiplier) if multiplier else None,
        path=shown(path),
        rewrites=rewrites,
    )


class PeerRunner:
    """MediaPipe selfie segmentation's whole per-frame cost from a BGR frame: its own squash to
    the model size (``vcam.evaluation.peer.squash_to_tensor``; channels swapped on the small
    tensor with cv2, the cheapest place: numpy's reversed copy costs 10x more), LiteRT
    inference, and the bilinear resize back to the frame.
    Gives the same alpha as ``MediaPipeSelfie.predict`` on the RGB frame."""

    def __init__(self, variant: str, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from vcam.evaluation.peer import default_model_path, squash_to_tensor

        self._squash = squash_to_tensor
        self.path = default_model_path(variant)
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        self._interpreter.allocate_tensors()
        details = self._interpreter.get_input_details()[0]
        self._input = details["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        _, self.height, self.width, _ = (int(v) for v in details["shape"])

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        tensor = self._squash(frame_bgr, self.height, self.width)
        tensor = cv2.cvtColor(tensor, cv2.COLOR_BGR2RGB)  # on the small float tensor: ~20 us
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()
        small = self._interpreter.get_tensor(self._output)[0, :, :, 0]
        h, w = frame_bgr.shape[:2]
        alpha = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(alpha, 0.0, 1.0, out=alpha)


def peer_candidate(variant: str, threads: int) -> Candidate:
    runner = PeerRunner(variant, threads)
    return Candidate(
        name=f"mediapipe-selfie-{variant}",
        kind="mediapipe",
        input_size=f"{runner.height}x{runner.width}",
        precision="fp32",
        label=f"MediaPipe selfie {variant} {runner.height}x{runner.width} (LiteRT, XNNPACK)",
        run=runner,
        path=str(runner.path),
    )


def peer_candidates(variants: list[str], threads: int) -> list[Candidate]:
    """The MediaPipe peers that can run here; a one-line note for each that cannot."""
    from vcam.errors import ModelError

    found = []
    for variant in variants:
        if variant not in PEER_VARIANTS:
            raise SystemExit(f"error: unknown peer {variant!r}: use {', '.join(PEER_VARIANTS)}")
        try:
            found.append(peer_candidate(variant, threads))
        except (ModelError, ImportError) as error:
            print(f"note: MediaPipe {variant} skipped: {error}", file=sys.stderr)
    return found


def race(
    candidates: list[Candidate],
    frames: list[np.ndarray],
    repeat: int,
    warmup: int,
    references: list[str] | None = None,
    seed: int = 0,
    idle_ms: float = 0.0,
) -> list[dict]:
    """Time every candidate on the same frames, interleaved: repetition ``r`` runs each of them
    once on frame ``r % len(frames)``, in a fresh random order (seeded), so background load,
    caches and whatever the previous candidate left behind (e.g. thread pools still spinning)
    hit all alike; a fixed rotation would give each candidate the same predecessor every time.
    Rows carry medians, min, max and paired ratios: for each reference (default: the MediaPipe
    peers), the median over repetitions of (this candidate's time / the reference's time in
    the same repetition). ``idle_ms``: a pause before each timed run, as between camera frames
    (thread pools and caches go cold as they do in the live pipeline)."""
    for candidate in candidates:
        for i in range(warmup):
            candidate.run(frames[i % len(frames)])
    times: dict[str, list[float]] = {c.name: [] for c in candidates}
    rng = np.random.default_rng(seed)
    for rep in range(repeat):
        frame = frames[rep % len(frames)]
        for k in rng.permutation(len(candidates)):
            candidate = candidates[k]
            if idle_ms:
                time.sleep(idle_ms / 1e3)
            start = time.perf_counter()
            candidate.run(frame)
            times[candidate.name].append((time.perf_counter() - start) * 1e3)
    if references is None:
        references = [c.name for c in candidates if c.kind == "mediapipe"]
    rows = []
    for c in candidates:
        t = np.array(times[c.name])
        row = {
            "name": c.name,
            "kind": c.kind,
            "label": c.label,
            "input_size": c.input_size,
            "precision": c.precision,
            "trained": c.trained,
            "width": c.width,
            "path": c.path,
            "rewrites": c.rewrites,
            "median_ms": float(np.median(t)),
            "min_ms": float(t.min()),
            "max_ms": float(t.max()),
            "mean_ms": float(t.mean()),
            "p90_ms": float(np.percentile(t, 90)),
            "n": int(t.size),
            "ratio": {},
        }
        for ref in references:
            paired = t / np.array(times[ref])
            row["ratio"][ref] = float(np.median(paired))
        rows.append(row)
    return rows


def race_report(rows_by_threads: dict[int, list[dict]], title: str, notes: list[str]) -> str:
    """Markdown: one table per thread count, ratios against each MediaPipe peer."""
    lines = [f"# {title}", ""]
    for note in notes:
        lines += [note, ""]
    for threads, rows in rows_by_threads.items():
        peers = list(rows[0]["ratio"]) if rows else []
        short = {p: p.replace("mediapipe-selfie-", "MP ") for p in peers}
        lines += [f"## {threads} thread{'s' if threads > 1 else ''}", ""]
        header = ["model", "input", "precision", "median ms", "min", "max", "n"]
        header += [f"x {short[p]}" for p in peers]
        lines += ["| " + " | ".join(header) + " |", "|---|---|---|" + "---:|" * (len(header) - 3)]
        for r in sorted(rows, key=lambda r: r["median_ms"]):
            name = r["name"] + ("" if r["trained"] else " (untrained)")
            cells = [
                f"**{name}**" if r["kind"] == "mediapipe" else name,
                r["input_size"],
                r["precision"],
                f"{r['median_ms']:.2f}",
                f"{r['min_ms']:.2f}",
                f"{r['max_ms']:.2f}",
                str(r["n"]),
            ]
            cells += [f"{r['ratio'][p]:.2f}" for p in peers]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def print_ratios(rows: list[dict], threads: int) -> None:
    """vcam / MediaPipe ratios, one line per vcam model."""
    peers = list(rows[0]["ratio"]) if rows else []
    if not peers:
        return
    for r in sorted(rows, key=lambda r: r["median_ms"]):
        if r["name"] in peers:
            continue
        ratios = ", ".join(
            f"{r['ratio'][p]:.2f}x {p.replace('mediapipe-selfie-', '')}" for p in peers
        )
        print(f"  t={threads} {r['name']:<44} {r['median_ms']:7.2f} ms  = {ratios}")


def write_reports(out: Path, report: dict, markdown: str) -> tuple[Path, Path]:
    """``out``.json and ``out``.md (``out`` is a path without suffix)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix(".json"), out.with_suffix(".md")
    js.write_text(json.dumps(report, indent=1) + "\n")
    md.write_text(markdown + "\n")
    return js, md


def run_race(
    args: argparse.Namespace,
    build: Callable[[int], list[Candidate]],
    command: str,
    title: str,
    notes: list[str],
    references: list[str] | None = None,
    what: str = "",
) -> dict:
    """Build candidates per thread count, race them, print and write the reports."""
    width, height = parse_sizes(args.frame_size)[0]
    frames, frame_label = portrait_frames(args.data, args.frames, width, height)
    load_before = os.getloadavg()
    started = time.time()
    rows_by_threads: dict[int, list[dict]] = {}
    for threads in parse_list(args.threads, int):
        set_threads(threads)
        candidates = build(threads)
        if not candidates:
            raise SystemExit("error: nothing to time")
        print(f"timing {len(candidates)} candidates, {threads} thread(s)...", file=sys.stderr)
        rows_by_threads[threads] = race(
            candidates, frames, args.repeat, args.warmup, references, idle_ms=args.idle_ms
        )
        print_ratios(rows_by_threads[threads], threads)
        del candidates
    load_after = os.getloadavg()
    cores = os.cpu_count()
    what = what or (
        f"Per-frame cost from a {width}x{height} BGR frame to a frame-size float alpha: for "
        "vcam, `vcam.fitting.fit` + NCHW float + onnxruntime (`vcam.matting.Matter`'s session "
        "options) + `unfit`; for MediaPipe, its own squash + LiteRT (XNNPACK) + bilinear "
        "resize back."
    )
    notes = [
        f"{what} Frames: {frame_label}.",
        f"Candidates interleaved (each runs once per repetition, in a fresh random order), "
        f"{args.repeat} repetitions each after "
        f"{args.warmup} warm-up runs; an `x NAME` column is the median over repetitions of "
        "this row's time / NAME's time in the same repetition (below 1: faster).",
        *(
            [f"Paced: {args.idle_ms:g} ms idle before every run, as between camera frames."]
            if args.idle_ms
            else []
        ),
        f"Load average before/after: {load_before[0]:.2f}/{load_after[0]:.2f} on {cores} cores "
        f"(shared with other work: compare ratios, not absolute figures). "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {machine()['cpu']}, onnxruntime "
        f"{machine()['onnxruntime']}.",
        *notes,
    ]
    markdown = race_report(rows_by_threads, title, notes)
    report = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - started, 1),
        "frame": frame_label,
        "frame_size": [width, height],
        "repeat": args.repeat,
        "warmup": args.warmup,
        "idle_ms": args.idle_ms,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": machine(),
        "notes": notes,
        "results": {str(t): rows for t, rows in rows_by_threads.items()},
    }
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    else:
        print(markdown)
    return report


def cmd_models(args: argparse.Namespace) -> int:
    paths = args.models or sorted((REPO / "models").glob("*.onnx"))
    if not paths:
        raise SystemExit("error: no models in models/: give --models FILE.onnx ...")
    for path in paths:
        if not Path(path).is_file():
            raise SystemExit(f"error: model {path} not found")

    def build(threads: int) -> list[Candidate]:
        return [mmnet_candidate(Path(p), threads) for p in paths] + peer_candidates(
            parse_list(args.peers), threads
        )

    run_race(args, build, "models", "vcam models vs MediaPipe selfie: latency per frame", [])
    return 0


# ---------------------------------------------------------------------------------------------
# variants: input sizes, widths and precisions from one checkpoint


def variant_name(width: float, height: int, size_w: int, precision: str, trained: bool) -> str:
    tag = "" if trained else "-untrained"
    return f"mmnet-w{width:g}{tag}-{height}x{size_w}-{precision}"


def build_variants(args: argparse.Namespace) -> list[Path]:
    """Export the checkpoint at every size (and untrained nets at other widths), then the
    rewritten fp32 ("opt"), int8, and int8 of the fused inference form ("int8-fused",
    ``vcam.nets.deploy``) copies. Returns the files, in a stable order."""
    import torch

    from vcam.nets.deploy import deploy
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx
    from vcam.training.optimize import optimize_file
    from vcam.training.quantize import CALIBRATION_SET, calibration_images, quantize_model

    if not args.checkpoint.is_file():
        raise SystemExit(f"error: checkpoint {args.checkpoint} not found")
    try:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        trained_width = float(state.get("config", {}).get("width", 1.0))
        net = MMNet(trained_width)
        net.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise SystemExit(f"error: {args.checkpoint}: not a vcam checkpoint ({exc})") from None
    net.eval()
    precisions = parse_list(args.precisions)
    known = ("fp32", "opt", "int8", "int8-fused")
    unknown = set(precisions) - set(known)
    if unknown:
        raise SystemExit(f"error: --precisions: {sorted(unknown)} not in {', '.join(known)}")
    calibration: list[Path] = []
    if {"int8", "int8-fused"} & set(precisions):
        calibration = calibration_images(args.data / CALIBRATION_SET, args.count)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    meta = {
        "vcam.checkpoint": args.checkpoint.name,
        "vcam.training_step": str(state.get("step", "")),
    }
    jobs = [(net, trained_width, hw, True) for hw in map(parse_hw, parse_list(args.sizes))]
    for width in parse_list(args.widths, float):
        if width != trained_width:
            jobs += [(None, width, hw, False) for hw in map(parse_hw, parse_list(args.width_sizes))]
    built = []

    def fresh(path: Path) -> bool:
        """Reusable: --reuse, and written after the checkpoint."""
        return (
            args.reuse and path.is_file() and path.stat().st_mtime > args.checkpoint.stat().st_mtime
        )

    for model, width, (height, size_w), trained in jobs:
        named = {
            p: work / (variant_name(width, height, size_w, p, trained) + ".onnx")
            for p in ("fp32", "opt", "int8", "fp32-fused", "int8-fused")
        }
        base = named["fp32"]
        model = model if model is not None else MMNet(width).eval()
        # untrained nets: a few images are enough for a speed-only int8 file
        images = calibration if trained else calibration[: max(1, min(16, len(calibration)))]
        if not fresh(base):
            print(f"building {base.stem} ...", file=sys.stderr, flush=True)
            export_onnx(model, base, height, size_w, metadata=meta)
        if "fp32" in precisions:
            built.append(base)
        if "opt" in precisions:
            if not fresh(named["opt"]):
                optimize_file(base, named["opt"])
            built.append(named["opt"])
        if "int8" in precisions:
            if not fresh(named["int8"]):
                quantize_model(base, named["int8"], images)
            built.append(named["int8"])
        if "int8-fused" in precisions:
            if not fresh(named["int8-fused"]):
                export_onnx(deploy(model), named["fp32-fused"], height, size_w, metadata=meta)
                quantize_model(named["fp32-fused"], named["int8-fused"], images)
            built.append(named["int8-fused"])
    return built


def cmd_variants(args: argparse.Namespace) -> int:
    built = build_variants(args)
    extra = [Path(p) for p in args.models]

    def build(threads: int) -> list[Candidate]:
        mine = [mmnet_candidate(p, threads) for p in built + extra]
        return mine + peer_candidates(parse_list(args.peers), threads)

    notes = [
        f"Variants of `{shown(args.checkpoint)}` (step "
        f"{mmnet_step(built[0]) if built else '?'}) built in `{shown(args.work)}`: `fp32` = the "
        "plain export, `opt` = fp32 with the exact graph rewrites "
        "(`vcam.training.optimize`), `int8` = static QDQ int8 (`scripts/quantize.py`), "
        "`int8-fused` = int8 of the fused inference form (`vcam.nets.deploy`). "
        "Untrained widths are timed only: their speed is real, their alpha is not."
    ]
    run_race(args, build, "variants", "MMNet variants vs MediaPipe selfie: latency", notes)
    trained = [shown(p) for p in built + extra if "untrained" not in p.stem]
    if trained:
        print(
            "\nquality of the trained variants:\n  python scripts/evaluate.py --data "
            f"{args.data} --sets shen-test --out docs/benchmarks/quality "
            "--models " + " ".join(trained)
        )
    return 0


def mmnet_step(path: Path) -> str:
    """The training step recorded in an exported model (empty when unknown)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map.get("vcam.training_step", "")


# ---------------------------------------------------------------------------------------------
# sessions: onnxruntime options on one model, inference only


def session_variants() -> dict[str, dict]:
    """Changes to ``vcam.matting.session_options`` worth measuring."""
    import onnxruntime as ort

    level = ort.GraphOptimizationLevel
    return {
        "vcam": {},
        "no graph optimisation": {"level": level.ORT_DISABLE_ALL},
        "basic optimisation": {"level": level.ORT_ENABLE_BASIC},
        "extended (no layout)": {"level": level.ORT_ENABLE_EXTENDED},
        "layout (NCHWc)": {"level": level.ORT_ENABLE_LAYOUT},
        "spinning on": {"config": {"session.intra_op.allow_spinning": "1"}},
        "spinning stopped after each run": {
            "config": {
                "session.intra_op.allow_spinning": "1",
                "session.force_spinning_stop": "1",
            }
        },
        "dynamic block base 4": {"config": {"session.dynamic_block_base": "4"}},
        "parallel executor (2 inter-op)": {
            "parallel": True,
            "config": {"session.inter_op.allow_spinning": "0"},
        },
        "no memory pattern": {"mem_pattern": False},
        "no CPU arena": {"arena": False},
        "denormals as zero": {"config": {"session.set_denormal_as_zero": "1"}},
    }


def session_candidate(path: Path, threads: int, variant: str, change: dict, blob: np.ndarray):
    import onnxruntime as ort

    from vcam.matting import session_options

    options = session_options(threads)
    if "level" in change:
        options.graph_optimization_level = change["level"]
    for key, value in change.get("config", {}).items():
        options.add_session_config_entry(key, value)
    if change.get("parallel"):
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = 2
    if "mem_pattern" in change:
        options.enable_mem_pattern = change["mem_pattern"]
    if "arena" in change:
        options.enable_cpu_mem_arena = change["arena"]
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: blob}
    return Candidate(
        name=f"{path.stem}: {variant}",
        kind="session",
        input_size="x".join(str(d) for d in blob.shape[2:]),
        precision=session.get_modelmeta().custom_metadata_map.get("vcam.precision", "fp32"),
        label=variant,
        run=lambda frame: session.run(None, feed),
        path=str(path),
    )


def cmd_sessions(args: argparse.Namespace) -> int:
    from vcam.matting import Matter

    paths = [Path(p) for p in args.models] or [DEFAULT_MODEL]
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"error: model {path} not found: give --models FILE.onnx")
    width, height = parse_sizes(args.frame_size)[0]
    frame = portrait_frames(args.data, 1, width, height)[0][0]
    blobs = {p: Matter(p, threads=1).preprocess(frame)[0] for p in paths}
    variants = session_variants()
    if args.variants:
        wanted = parse_list(args.variants)
        missing = [v for v in wanted if v not in variants]
        if missing:
            raise SystemExit(f"error: unknown session variant {missing[0]!r}: {list(variants)}")
        variants = {k: v for k, v in variants.items() if k in wanted or k == "vcam"}

    def build(threads: int) -> list[Candidate]:
        return [
            session_candidate(p, threads, name, change, blobs[p])
            for p in paths
            for name, change in variants.items()
        ]

    what = (
        "onnxruntime inference only (one fitted input), `vcam.matting.session_options` with "
        "one change per row; `vcam` is those options unchanged."
    )
    references = [f"{p.stem}: vcam" for p in paths]
    title = "onnxruntime session options: inference latency"
    run_race(args, build, "sessions", title, [], references, what)
    return 0


# ---------------------------------------------------------------------------------------------
# ops: where onnxruntime spends a model's time, and its int8 depthwise kernel by channel count


def op_profile(path: Path, threads: int, runs: int) -> tuple[float, dict[str, dict]]:
    """onnxruntime's own profile of ``runs`` inferences: (median run ms, per kind of node: ms
    per run and nodes per run). Depthwise convolutions are told apart from the others."""
    import onnx
    import onnxruntime as ort

    from vcam.matting import session_options

    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "ops")
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed_info = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in feed_info.shape]
        feed = {feed_info.name: np.random.default_rng(0).random(shape, dtype=np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
        groups = {}
        for node in onnx.load(options.optimized_model_filepath).graph.node:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            groups[node.name] = group
    totals: dict[str, list[float]] = {}
    run_times = [e["dur"] / 1e3 for e in events if e.get("name") == "model_run"]
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        kind = e["args"]["op_name"]
        if kind in ("QLinearConv", "Conv", "NchwcConv", "FusedConv"):
            depthwise = groups.get(e["name"].removesuffix("_kernel_time"), 1) > 1
            kind += " depthwise" if depthwise else ""
        totals.setdefault(kind, [0.0, 0])
        totals[kind][0] += e["dur"] / 1e3
        totals[kind][1] += 1
    count = max(1, len(run_times))
    kinds = {
        k: {"ms": v[0] / count, "nodes": v[1] / count}
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1][0])
    }
    return float(np.median(run_times)), kinds


def depthwise_model(channels: int, height: int, width: int, dilation: int):
    """One int8 (U8S8, per-channel) 3x3 depthwise QLinearConv, as the quantizer writes it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(channels)
    weight = rng.integers(-100, 100, (channels, 1, 3, 3)).astype(np.int8)
    constants = {
        "w": weight,
        "w_scale": np.full(channels, 0.01, np.float32),
        "w_zero": np.zeros(channels, np.int8),
        "x_scale": np.array(0.02, np.float32),
        "x_zero": np.array(128, np.uint8),
        "y_scale": np.array(0.03, np.float32),
        "y_zero": np.array(128, np.uint8),
        "bias": np.zeros(channels, np.int32),
    }
    inputs = ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero", "bias"]
    node = helper.make_node(
        "QLinearConv",
        inputs,
        ["y"],
        group=channels,
        kernel_shape=[3, 3],
        dilations=[dilation, dilation],
        pads=[dilation] * 4,
    )
    shape = [1, channels, height, width]
    graph = helper.make_graph(
        [node],
        "depthwise",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, shape)],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, shape)],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def cmd_ops(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from vcam.matting import session_options

    paths = [Path(p) for p in args.models] or [DEFAULT_MODEL]
    report: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    lines = [
        "# onnxruntime per-node profile and the int8 depthwise kernel",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {machine()['cpu']}, onnxruntime "
        f"{machine()['onnxruntime']}, {args.threads} thread(s), load average "
        f"{os.getloadavg()[0]:.2f}. Profiling adds a little to every node.",
        "",
    ]
    report["models"] = {}
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"error: model {path} not found")
        median, kinds = op_profile(path, args.threads, args.repeat)
        report["models"][shown(path)] = {"median_run_ms": median, "kinds": kinds}
        lines += [f"## {shown(path)}: median run {median:.2f} ms (profiled)", ""]
        lines += ["| node kind | ms per run | nodes |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['ms']:.3f} | {v['nodes']:g} |" for k, v in kinds.items()]
        lines.append("")
    height, width = parse_hw(args.depthwise_size)
    rows = []
    for channels in parse_list(args.channels, int):
        for dilation in (1, 4):
            model = depthwise_model(channels, height, width, dilation)
            session = ort.InferenceSession(
                model.SerializeToString(), session_options(args.threads), ["CPUExecutionProvider"]
            )
            x = np.random.default_rng(1).integers(0, 255, (1, channels, height, width), np.uint8)
            timing = measure(lambda s=session, x=x: s.run(None, {"x": x}), args.repeat, 20)
            rows.append({"channels": channels, "dilation": dilation, **asdict(timing)})
    report["depthwise"] = {"size": [height, width], "rows": rows}
    lines += [
        f"## One int8 3x3 depthwise QLinearConv on {height}x{width}, by channel count",
        "",
        "| channels | dilation | median us | us per channel |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['channels']} | {r['dilation']} | {r['median_ms'] * 1e3:.0f} | "
        f"{r['median_ms'] * 1e3 / r['channels']:.2f} |"
        for r in rows
    ]
    markdown = "\n".join(lines)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    else:
        print(markdown)
    return 0


# ---------------------------------------------------------------------------------------------
# pareto: quality against latency, from the JSON results


def load_latency(paths: list[Path], threads: int) -> tuple[dict[str, dict], dict]:
    """Latency rows by model name at ``threads`` (the first file naming a model wins) and the
    first file's header (machine, load)."""
    rows: dict[str, dict] = {}
    header: dict = {}
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
            results = report["results"][str(threads)]
        except (OSError, ValueError, KeyError) as exc:
            raise SystemExit(
                f"error: {path}: no latency results for {threads} thread(s) ({exc}): "
                "give a JSON written by `benchmark.py models` or `variants`"
            ) from None
        header = header or report
        for row in results:
            rows.setdefault(row["name"], row)
    return rows, header


def load_quality(paths: list[Path], set_name: str) -> dict[str, dict]:
    """Metrics by model name for ``set_name`` from scripts/evaluate.py's results.json files."""
    found: dict[str, dict] = {}
    for path in paths:
        try:
            rows = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path}: not an evaluate.py results.json ({exc})") from None
        for row in rows:
            if row.get("set") == set_name:
                found.setdefault(row["model"], row["metrics"])
    return found


def pareto_front(points: list[tuple[float, float]], lower_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both latency and quality, by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], None
    for i in order:
        q = points[i][1] if lower_is_better else -points[i][1]
        if best is None or q < best:
            front.append(i)
            best = q
    return front


COLOURS = {
    "fp32": "#4c72b0",
    "opt": "#55a868",
    "int8": "#dd8452",
    "fused": "#8172b3",
    "mediapipe": "#c44e52",
}
MARKERS = {"fp32": "o", "opt": "s", "int8": "^", "fused": "D", "mediapipe": "*"}
STYLE_LABELS = {
    "fp32": "MMNet fp32 (plain export)",
    "opt": "MMNet fp32, exact graph rewrites",
    "int8": "MMNet int8 (QDQ)",
    "fused": "MMNet int8, fused inference form",
    "mediapipe": "MediaPipe selfie",
}


def _style(row: dict) -> str:
    if row["kind"] == "mediapipe":
        return "mediapipe"
    if "fused" in row.get("rewrites", "").split(","):
        return "fused"
    if row["precision"] == "fp32" and row.get("rewrites"):
        return "opt"
    return row["precision"] if row["precision"] in COLOURS else "fp32"


def _group(row: dict) -> str:
    """The net a row is a form of: its name without the precision suffix (the fp32, opt and
    int8 files of one export share it), shortened for the chart."""
    if row["kind"] == "mediapipe":
        return row["name"].replace("mediapipe-selfie-", "MediaPipe ")
    name = row["name"]
    for suffix in ("-int8-fused", "-fp32", "-opt", "-int8"):
        name = name.removesuffix(suffix)
    if name.startswith("mmnet-w"):  # a variant: mmnet-w1-144x256[-untrained]
        name = name.removeprefix("mmnet-").replace("-untrained", "").replace("-", " ")
        name += "" if row.get("trained", True) else " (untrained)"
    return name


def _order(row: dict) -> tuple:
    """MediaPipe first, then variants by width (trained before untrained) and input pixels,
    then other files (e.g. the shipped models)."""
    height, width = (int(v) for v in row["input_size"].split("x"))
    return (
        row["kind"] != "mediapipe",
        not row["name"].startswith("mmnet-w"),
        row.get("width") or 0.0,
        not row.get("trained", True),
        height * width,
        row["name"],
    )


def _errorbar(ax, row: dict, x: float, y: float) -> None:
    style = _style(row)
    ax.errorbar(
        x,
        y,
        xerr=[[x - row["min_ms"]], [max(0.0, row["p90_ms"] - x)]],
        fmt=MARKERS[style],
        ms=13 if style == "mediapipe" else 7,
        color=COLOURS[style],
        ecolor=COLOURS[style],
        elinewidth=0.7,
        alpha=0.85,
        zorder=3,
    )


def plot_pareto(
    latency: dict[str, dict], quality: dict[str, dict], header: dict, args: argparse.Namespace
) -> list[dict]:
    """Quality (SAD, IoU) against median latency for every trained model with both results,
    precisions of one net joined by a line, and below, the latency of every variant (untrained
    widths included: latency only). Returns the plotted points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for name, row in latency.items():
        if name in quality and row.get("trained", True):
            points.append({**row, "sad": quality[name]["sad"], "iou": quality[name]["iou"]})
    if not points:
        raise SystemExit(
            "error: no model has both a latency and a quality result: the names in the latency "
            "JSON must match the model names of evaluate.py (file stems)"
        )
    fig = plt.figure(figsize=(14, 10))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1])
    frame = header.get("frame_size", ["?", "?"])
    xlabel = (
        f"ms per {frame[0]}x{frame[1]} frame, median (bars: min..p90), {args.threads} thread(s)"
    )
    for col, metric, lower in ((0, "sad", True), (1, "iou", False)):
        ax = fig.add_subplot(grid[0, col])
        groups: dict[str, list[dict]] = {}
        for p in points:
            groups.setdefault(_group(p), []).append(p)
        for label, members in groups.items():
            members.sort(key=lambda p: p["median_ms"])
            ax.plot(
                [p["median_ms"] for p in members],
                [p[metric] for p in members],
                color="0.75",
                lw=0.8,
                zorder=1,
            )
            for p in members:
                _errorbar(ax, p, p["median_ms"], p[metric])
            ax.annotate(
                label,
                (members[0]["median_ms"], members[0][metric]),
                fontsize=7,
                xytext=(-4, 5),
                textcoords="offset points",
                ha="right",
            )
        xs = [p["median_ms"] for p in points]
        ys = [p[metric] for p in points]
        front = pareto_front(list(zip(xs, ys, strict=True)), lower)
        ax.plot(
            [xs[i] for i in front], [ys[i] for i in front], color="0.45", lw=1, ls="--", zorder=2
        )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(
            f"{args.set} SAD (lower is better)" if lower else f"{args.set} IoU (higher is better)"
        )
        ax.grid(alpha=0.3, which="both")
    # Latency of every variant, trained or not, one row per net.
    ax = fig.add_subplot(grid[1, :])
    rows = sorted(latency.values(), key=_order)
    labels: list[str] = []
    for r in rows:
        label = _group(r)
        if label not in labels:
            labels.append(label)
        _errorbar(ax, r, r["median_ms"], labels.index(label))
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(xlabel + "; untrained nets: latency only", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    handles = [
        plt.Line2D([], [], color=COLOURS[k], marker=MARKERS[k], ls="", label=v)
        for k, v in STYLE_LABELS.items()
    ]
    handles.append(plt.Line2D([], [], color="0.45", ls="--", label="Pareto front"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    load = header.get("load_average_before", [float("nan")])[0]
    fig.suptitle(
        f"Quality vs latency: MMNet variants and MediaPipe selfie "
        f"({header.get('machine', {}).get('cpu', '?')}, load {load:.1f}, "
        f"{header.get('date', '')[:16]})",
        fontsize=11,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    return points


def cmd_pareto(args: argparse.Namespace) -> int:
    latency, header = load_latency(args.latency, args.threads)
    quality = load_quality(args.quality, args.set)
    points = plot_pareto(latency, quality, header, args)
    peers = {p["name"]: p for p in points if p["kind"] == "mediapipe"}
    print(f"wrote {shown(args.out)} ({len(points)} models)")
    print("| model | ms | SAD | IoU | " + " | ".join(f"x {n}" for n in peers) + " |")
    for p in sorted(points, key=lambda p: p["median_ms"]):
        ratios = " | ".join(f"{p['ratio'].get(n, float('nan')):.2f}" for n in peers)
        cells = f"{p['name']} | {p['median_ms']:.2f} | {p['sad']:.2f} | {p['iou']:.4f}"
        print(f"| {cells} | {ratios} |")
    return 0


# ---------------------------------------------------------------------------------------------
# pipeline: the live Pipeline on a 1080p 30 fps file into a null (or file) sink


def write_video(path: Path, width: int, height: int, fps: float, frames: int) -> Path:
    """A moving portrait clip (the bundled sample, swaying and zooming) as MJPG."""
    from vcam.sources import SampleSource

    sample = SampleSource(width, height, fps=fps, live=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"error: cannot write the test video {path}")
    for i in range(frames):
        writer.write(sample.render(i / fps))
    writer.release()
    sample.close()
    return path


def effective_threads(settings, name: str) -> int | None:
    """What ``vcam.pipeline.<name>(settings)`` picks (None if the pipeline has no such rule)."""
    from vcam import pipeline

    rule = getattr(pipeline, name, None)
    return int(rule(settings)) if callable(rule) else None


def cmd_pipeline(args: argparse.Namespace) -> int:
    from vcam.pipeline import Pipeline
    from vcam.settings import Settings
    from vcam.sinks import PreviewSink, VideoFileSink

    width, height = parse_sizes(args.size)[0]
    model = args.model or DEFAULT_MODEL
    if not Path(model).is_file():
        raise SystemExit(f"error: model {model} not found: give --model FILE.onnx")
    sent: list[tuple[float, int]] = []  # (capture-to-send seconds, source index)

    def record(frame) -> None:
        if frame.index >= 0:
            sent.append((time.monotonic() - frame.timestamp, frame.index))

    with tempfile.TemporaryDirectory() as folder:
        clip = write_video(
            Path(folder) / "clip.avi", width, height, args.fps, round(args.clip_seconds * args.fps)
        )
        settings = Settings(
            source="video",
            input_path=str(clip),
            loop=True,
            output="none",
            model=str(model),
            threads=args.threads,
            background=args.background,
        )
        sinks = [PreviewSink(record)]
        if args.sink == "file":
            sinks.append(VideoFileSink(Path(folder) / "out.avi"))
        load_before = os.getloadavg()
        pipeline = Pipeline(settings, sinks=sinks, stats_window=args.seconds)
        pipeline.start()
        try:
            time.sleep(args.warmup_seconds)
            first_sent, first_dropped = len(sent), pipeline.snapshot().dropped
            first_captured = pipeline.source.frames_captured
            start, cpu_start = time.monotonic(), os.times()
            pipeline.wait(args.seconds)
            elapsed, cpu_end = time.monotonic() - start, os.times()
            snapshot = pipeline.snapshot()
            # Sent and captured counted at the same moment (frames keep flowing until stop()).
            last_sent = len(sent)
            captured = pipeline.source.frames_captured - first_captured
            status = pipeline.status
        finally:
            pipeline.stop()
        load_after = os.getloadavg()
    window = sent[first_sent:last_sent]
    latencies = np.array([s for s, _ in window]) * 1e3
    indices = [i for _, i in window]
    gaps = sum(max(0, b - a - 1) for a, b in zip(indices, indices[1:], strict=False))
    report = {
        "command": "pipeline",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": shown(model),
        "source": f"{width}x{height} MJPG file at {args.fps:g} fps (looped, paced live)",
        "background": args.background,
        "threads": args.threads,
        "inference_threads": effective_threads(settings, "inference_threads"),
        "frame_threads": effective_threads(settings, "frame_threads"),
        "sinks": [str(s) for s in sinks],
        "seconds": round(elapsed, 2),
        "status": status.state,
        "frames_sent": len(window),
        "output_fps": len(window) / elapsed if elapsed > 0 else 0.0,
        "frames_captured": captured,
        "dropped_by_source": snapshot.dropped - first_dropped,
        "source_index_gaps": gaps,
        "cpu_cores_used": (
            (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) / elapsed
            if elapsed > 0
            else 0.0
        ),
        "inferences": snapshot.inferences,
        "inference_fps_last_window": snapshot.inference_fps,
        "stage_median_ms": snapshot.stage_ms,
        "latency_ms": {
            "median": float(np.median(latencies)) if latencies.size else None,
            "p90": float(np.percentile(latencies, 90)) if latencies.size else None,
            "p99": float(np.percentile(latencies, 99)) if latencies.size else None,
            "max": float(latencies.max()) if latencies.size else None,
        },
        "frame_period_ms": 1000.0 / args.fps,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": machine(),
    }
    lat = report["latency_ms"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in snapshot.stage_ms.items())
    markdown = "\n".join(
        [
            f"# Pipeline at {width}x{height}, {args.fps:g} fps",
            "",
            f"`{shown(model)}`, background {args.background}, threads {args.threads} (inference "
            f"{report['inference_threads']}, frame kernels {report['frame_threads']}), sinks: "
            f"{', '.join(report['sinks'])}; {elapsed:.1f} s measured after "
            f"{args.warmup_seconds:g} s of warm-up. Load average before/after "
            f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} cores. "
            f"{report['date']}.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| output fps | {report['output_fps']:.1f} |",
            f"| frames sent / captured | {len(window)} / {captured} |",
            f"| dropped (source replaced an unread frame) | {report['dropped_by_source']} |",
            f"| gaps in the sent frame indices | {gaps} |",
            f"| inferences (whole run) | {snapshot.inferences} |",
            f"| capture-to-send latency median ms | {lat['median'] or float('nan'):.1f} |",
            f"| capture-to-send latency p90 / p99 / max ms | {lat['p90'] or float('nan'):.1f} / "
            f"{lat['p99'] or float('nan'):.1f} / {lat['max'] or float('nan'):.1f} |",
            f"| frame period ms | {report['frame_period_ms']:.1f} |",
            f"| CPU used by vcam (cores) | {report['cpu_cores_used']:.2f} of {os.cpu_count()} |",
            "",
            f"Per-stage medians (ms): {stages}.",
        ]
    )
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    return 0


# ---------------------------------------------------------------------------------------------
# temporal: how steady the live matte stage is on video, beside MediaPipe (issue 13)

TEMPORAL_LEVELS = ("off", "responsive", "balanced", "steady")
DEFAULT_LEVEL = "balanced"  # the settings' default
TALKING_HEADS = DEFAULT_DATA / "talking-heads"


def video_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Every frame of a video file (BGR), at most ``limit``."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"error: cannot read video {path}")
    return frames


class MatteStage:
    """The live path's matte stage as ``vcam run`` and ``vcam matte`` build it from Settings
    (``make_matter`` + ``make_refiner``: model, guided refinement, threshold, feather,
    temporal smoothing), one Refiner per smoothing level fed the same model alpha; or the
    MediaPipe peer, raw (its own bilinear upsampling) and through vcam's Refiner."""

    def __init__(self, name: str, levels: tuple[str, ...], model: Path | None = None) -> None:
        from vcam.pipeline import make_matter, make_refiner
        from vcam.settings import Settings

        self.name = name
        if model is not None:
            self.matter = make_matter(Settings(model=str(model)))
            self.peer = None
        else:
            from vcam.evaluation.peer import MediaPipeSelfie

            self.matter, self.peer = None, MediaPipeSelfie(variant="general")
        self.levels = levels
        self.refiners = {level: make_refiner(Settings(smoothing=level)) for level in levels}

    def reset(self) -> None:
        for refiner in self.refiners.values():
            refiner.reset()

    def mattes(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """Method name -> uint8 matte of ``frame``."""
        if self.matter is not None:
            low = self.matter.infer(*self.matter.preprocess(frame))
            out = {}
        else:
            low = self.peer.predict_small(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            h, w = frame.shape[:2]
            raw = np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
            out = {f"{self.name} raw": np.rint(raw * 255).astype(np.uint8)}
        for level, refiner in self.refiners.items():
            out[f"{self.name} {level}"] = refiner.refine(low, frame)
        return out


def temporal_clip(
    stages: list[MatteStage], frames, references: dict[str, str], with_truth: bool
) -> dict[str, dict]:
    """Run every stage over one clip; the figures of every method (lag against the method
    ``references`` names, and against the true alpha when ``with_truth``)."""
    from vcam.evaluation.temporal import TemporalMeter

    for stage in stages:
        stage.reset()
    meters: dict[str, TemporalMeter] = {}
    truth_meters: dict[str, TemporalMeter] = {}
    for item in frames:
        frame, truth = item if with_truth else (item, None)
        mattes: dict[str, np.ndarray] = {}
        for stage in stages:
            mattes.update(stage.mattes(frame))
        for method, matte in mattes.items():
            meters.setdefault(method, TemporalMeter()).add(
                frame, matte, mattes[references.get(method, method)]
            )
            if truth is not None:  # where the model without smoothing got it right
                right = np.abs(mattes[references.get(method, method)].astype(np.int16) - truth)
                truth_meters.setdefault(method, TemporalMeter()).add(
                    frame, matte, truth, right <= 64
                )
    results = {}
    for method, meter in meters.items():
        results[method] = meter.result()
        if truth_meters:
            truth = truth_meters[method].result()
            results[method].update(lag_truth=truth["lag"], followed_truth=truth["followed"])
    return results


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else None


def _fmt(value, spec: str = ".2f") -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format(value, spec))
    )


def temporal_table(clips: dict[str, dict], methods: list[str], truth: bool) -> str:
    """Markdown: per method, flicker per clip and the means of the other figures."""
    names = list(clips)
    header = [
        "method",
        *(f"flicker {n}" for n in names),
        "flicker mean",
        "jumps %",
        "jumps max %",
        "still jumps %",
        "lag",
        "followed %",
    ]
    if truth:
        header += ["lag (truth)", "followed (truth) %"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for method in methods:
        rows = [clips[n][method] for n in names]
        lags = [r["lag"] for r in rows if r["lag"] is not None]
        cells = [
            method,
            *(_fmt(r["flicker"]) for r in rows),
            _fmt(_mean([r["flicker"] for r in rows])),
            _fmt(_mean([r["jumps"] for r in rows]), ".3f"),
            _fmt(max(r["jumps_max"] for r in rows), ".2f"),
            _fmt(_mean([r["still_jumps"] for r in rows]), ".3f"),
            str(max(lags)) if lags else "-",
            _fmt(_mean([r["followed"] for r in rows]), ".1f"),
        ]
        if truth:
            truth_lags = [r["lag_truth"] for r in rows if r.get("lag_truth") is not None]
            cells += [
                str(max(truth_lags)) if truth_lags else "-",
                _fmt(_mean([r.get("followed_truth") for r in rows]), ".1f"),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def temporal_targets(sets: dict[str, dict], models: list[str]) -> list[dict]:
    """Per set and shipped model at the default level: flicker at most MediaPipe general
    raw (per clip and on the mean), lag at most 1 frame."""
    checks = []
    for set_name, clips in sets.items():
        peer = "mediapipe-general raw"
        for model in models:
            method = f"{model} {DEFAULT_LEVEL}"
            rows = {n: c[method] for n, c in clips.items() if method in c and peer in c}
            if not rows:
                continue
            beaten = [n for n, r in rows.items() if r["flicker"] <= clips[n][peer]["flicker"]]
            ours = _mean([r["flicker"] for r in rows.values()])
            theirs = _mean([clips[n][peer]["flicker"] for n in rows])
            lags = [
                r[k] for r in rows.values() for k in ("lag", "lag_truth") if r.get(k) is not None
            ]
            checks.append(
                {
                    "set": set_name,
                    "method": method,
                    "clips": len(rows),
                    "clips_at_most_peer": len(beaten),
                    "flicker_mean": ours,
                    "peer_flicker_mean": theirs,
                    "flicker_met": len(beaten) == len(rows),
                    "flicker_mean_met": ours is not None and theirs is not None and ours <= theirs,
                    "max_lag": max(lags) if lags else None,
                    "lag_met": bool(lags) and max(lags) <= 1,
                }
            )
    return checks


def cmd_temporal(args: argparse.Namespace) -> int:
    from vcam.errors import ModelError
    from vcam.evaluation.temporal import MOTIONS, backdrops, motion_clip, portrait_cutouts

    models = args.models or [
        REPO / "models" / "mmnet-fast.onnx",
        REPO / "models" / "mmnet-256.onnx",
    ]
    missing = [m for m in models if not Path(m).is_file()]
    if missing:
        raise SystemExit(f"error: model {missing[0]} not found: give --models FILE.onnx ...")
    levels = tuple(parse_list(args.levels))
    for level in levels:
        if level not in TEMPORAL_LEVELS:
            raise SystemExit(f"error: unknown level {level!r}: use {', '.join(TEMPORAL_LEVELS)}")
    numba.set_num_threads(1)
    stages = [MatteStage(Path(m).stem, levels, Path(m)) for m in models]
    references = {f"{s.name} {level}": f"{s.name} off" for s in stages for level in levels}
    if args.peer:
        try:
            stages.append(MatteStage("mediapipe-general", ("off", DEFAULT_LEVEL)))
            references["mediapipe-general balanced"] = "mediapipe-general off"
        except (ModelError, ImportError) as error:
            print(f"note: MediaPipe skipped: {error}", file=sys.stderr)
    if "off" not in levels:
        raise SystemExit("error: --levels must include off (the raw model is the lag reference)")
    methods = [f"{s.name} {level}" for s in stages if s.matter is not None for level in levels]
    if args.peer and stages[-1].peer is not None:
        methods += [f"mediapipe-general {m}" for m in ("raw", "off", DEFAULT_LEVEL)]
    started = time.time()
    sets: dict[str, dict] = {}
    videos = sorted(args.clips) if args.clips is not None else sorted(TALKING_HEADS.glob("*.mp4"))
    if videos:
        sets["talking-heads"] = {}
        for path in videos:
            print(f"  {shown(path)}", file=sys.stderr, flush=True)
            frames = video_frames(path, args.max_frames)
            sets["talking-heads"][path.stem] = temporal_clip(stages, frames, references, False)
    else:
        print(f"note: no clips in {shown(TALKING_HEADS)}; synthetic clips only", file=sys.stderr)
    width, height = parse_sizes(args.size)[0]
    cutouts = portrait_cutouts(args.data, args.persons)
    walls = backdrops(args.data, width, height, len(cutouts))
    for kind in parse_list(args.motions):
        if kind not in MOTIONS:
            raise SystemExit(f"error: unknown motion {kind!r}: use {', '.join(MOTIONS)}")
        clips = sets.setdefault(f"synthetic {kind}", {})
        for index, (cutout, wall) in enumerate(zip(cutouts, walls, strict=False)):
            print(f"  synthetic {kind} {cutout.name}", file=sys.stderr, flush=True)
            frames = motion_clip(kind, cutout, wall, args.frames, seed=index)
            clips[cutout.name] = temporal_clip(stages, frames, references, True)
    checks = temporal_targets(sets, [s.name for s in stages if s.matter is not None])
    report = {
        "command": "temporal",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - started, 1),
        "models": [shown(m) for m in models],
        "levels": list(levels),
        "synthetic": {
            "size": f"{width}x{height}",
            "frames": args.frames,
            "persons": [c.name for c in cutouts],
        },
        "sets": sets,
        "targets": checks,
        "machine": machine(),
    }
    parts = [
        "# Temporal steadiness of the matte stage",
        "",
        f"The live path's matte stage (`make_matter` + `make_refiner` from `Settings`, the code "
        f"of `vcam run` and `vcam matte`: model, guided refinement, threshold 0.5, feather 2, "
        f"temporal smoothing at each level) beside MediaPipe selfie general, raw (its own "
        f"bilinear upsampling) and through vcam's refinement without (off) and with smoothing "
        f"({DEFAULT_LEVEL}). "
        f"{report['date']}; {report['seconds']:.0f} s.",
        "",
        "Flicker: mean |alpha(t) - alpha(t-1)| x 1000 over pixels whose grey level changed by "
        "less than 2. Jumps: share of all pixels whose matte changed by more than 64 levels "
        "(mean and worst frame); still jumps: the same over the still pixels. Lag: the k (0..3) "
        "for which the matte at t is closest to the reference at t - k over the pixels where the "
        "picture moved (grey change >= 10) and the reference changed by more than 64 levels, "
        "worst clip; the reference is the same model without smoothing (off), and on synthetic "
        "clips also the true alpha (truth; only where the model without smoothing was within 64 "
        "levels of it). Followed: share of those pixels within 64 levels of the reference at t.",
    ]
    for set_name, clips in sets.items():
        parts += ["", f"## {set_name}", "", temporal_table(clips, methods, "synthetic" in set_name)]
    parts += [
        "",
        "## Targets",
        "",
        "| set | method | flicker <= MediaPipe raw (clips) | mean vs MediaPipe raw | max lag |",
        "|---|---|---:|---:|---:|",
    ]
    for c in checks:
        parts.append(
            f"| {c['set']} | {c['method']} | {c['clips_at_most_peer']}/{c['clips']} | "
            f"{_fmt(c['flicker_mean'])} vs {_fmt(c['peer_flicker_mean'])} | "
            f"{c['max_lag'] if c['max_lag'] is not None else '-'} |"
        )
    markdown = "\n".join(parts)
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    return 0


# ---------------------------------------------------------------------------------------------
# skipstatic: what skipping the model on a still picture saves, and what it costs (issue 18)


def write_motion_video(path: Path, kind: str, data: Path, size: tuple[int, int], frames: int):
    """A synthetic motion clip (vcam.evaluation.temporal.motion_clip) as an MJPG file."""
    from vcam.evaluation.temporal import backdrops, motion_clip, portrait_cutouts

    width, height = size
    cutout = portrait_cutouts(data, 1)[0]
    wall = backdrops(data, width, height, 1)[0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (width, height))
    for frame, _ in motion_clip(kind, cutout, wall, frames):
        writer.write(frame)
    writer.release()
    return path


def live_run(path: Path, settings, skip: bool) -> dict:
    """Play ``path`` once through the live Pipeline, paced at its own rate like a camera;
    the mattes it sent (by source frame index), inferences per second and CPU cores used."""
    from vcam.pipeline import Pipeline
    from vcam.sinks import PreviewSink
    from vcam.sources import VideoSource

    sent: dict[int, np.ndarray] = {}

    def record(frame) -> None:
        if frame.index >= 0:
            sent[frame.index] = frame.alpha

    source = VideoSource(path, loop=False, live=True)
    pipeline = Pipeline(
        settings.replace(skip_static=skip),
        sinks=[PreviewSink(record)],
        source=source,
        stats_window=600.0,
    )
    start, cpu_start = time.monotonic(), os.times()
    with pipeline:
        pipeline.wait(600.0)
        elapsed, cpu_end = time.monotonic() - start, os.times()
        snapshot = pipeline.snapshot()
    cpu = cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system
    return {
        "mattes": sent,
        "seconds": elapsed,
        "inferences": snapshot.inferences,
        "skipped": snapshot.skipped,
        "inferences_per_s": snapshot.inferences / elapsed,
        "cpu_cores": cpu / elapsed,
        "frames_sent": len(sent),
    }


def cmd_skipstatic(args: argparse.Namespace) -> int:
    from vcam.convert import process
    from vcam.settings import Settings
    from vcam.sinks import PreviewSink
    from vcam.sources import VideoSource

    model = args.model or DEFAULT_MODEL
    if not Path(model).is_file():
        raise SystemExit(f"error: model {model} not found: give --model FILE.onnx")
    width, height = parse_sizes(args.size)[0]
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        clips = [
            (
                f"synthetic {kind}",
                write_motion_video(
                    Path(folder) / f"{kind}.avi", kind, args.data, (width, height), args.frames
                ),
            )
            for kind in ("still", "hand")
        ]
        talking = (
            sorted(args.clips) if args.clips is not None else sorted(TALKING_HEADS.glob("*.mp4"))
        )
        clips += [(f"talking-heads {p.stem}", p) for p in talking]
        for name, path in clips:
            settings = Settings(
                source="video", input_path=str(path), loop=False, output="none", model=str(model)
            )
            offline: dict[int, np.ndarray] = {}
            process(
                VideoSource(path, live=False),
                [PreviewSink(lambda f, kept=offline: kept.__setitem__(f.index, f.alpha))],
                settings,
            )
            for skip in (True, False):
                run = live_run(path, settings, skip)
                shares = [
                    float((np.abs(matte.astype(np.int16) - offline[i]) > 64).mean()) * 100
                    for i, matte in run.pop("mattes").items()
                ]
                row = {
                    "clip": name,
                    "skip_static": skip,
                    **run,
                    "differing_mean_pct": float(np.mean(shares)) if shares else None,
                    "differing_max_pct": float(np.max(shares)) if shares else None,
                    "frames": len(offline),
                }
                rows.append(row)
                print(
                    f"  {name:<24} skip {'on ' if skip else 'off'} "
                    f"{row['inferences_per_s']:5.1f} inf/s {row['cpu_cores']:.2f} cores "
                    f"differing {row['differing_mean_pct']:.3f}% mean "
                    f"{row['differing_max_pct']:.2f}% max",
                    file=sys.stderr,
                    flush=True,
                )
    load_after = os.getloadavg()
    report = {
        "command": "skipstatic",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": shown(model),
        "synthetic": f"{width}x{height}, {args.frames} frames at 30 fps",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rows": rows,
        "machine": machine(),
    }
    lines = [
        "# Skip-static: inferences, CPU and the live matte against the per-frame matte",
        "",
        f"`{shown(model)}`, default settings (smoothing balanced), each clip played once through "
        f"`Pipeline` paced at its own frame rate like a camera, skip-static on and off; the "
        f"mattes it sent compared with `process` (what `vcam matte` runs) on every frame of the "
        f"same file. Differing: share of the frame where the two differ by more than 64 levels "
        f"(mean over the frames sent, and the worst frame). Load average before/after "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} cores. {report['date']}.",
        "",
        "| clip | skip-static | frames sent / in file | inferences/s | CPU cores | "
        "differing mean % | differing max % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {'on' if r['skip_static'] else 'off'} | {r['frames_sent']} / "
            f"{r['frames']} | {r['inferences_per_s']:.1f} | {r['cpu_cores']:.2f} | "
            f"{_fmt(r['differing_mean_pct'], '.3f')} | {_fmt(r['differing_max_pct'], '.2f')} |"
        )
    markdown = "\n".join(lines)
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
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

    def race_options(sub: argparse.ArgumentParser, repeat: int, out: str | None) -> None:
        sub.add_argument("--threads", default="1,2", help="thread counts to run, e.g. 1,2")
        sub.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
        sub.add_argument("--frames", type=int, default=8, help="distinct photos to cycle")
        sub.add_argument("--frame-size", default="1280x720", help="frame WxH")
        sub.add_argument("--repeat", type=int, default=repeat, help="runs per candidate")
        sub.add_argument("--warmup", type=int, default=5)
        sub.add_argument(
            "--idle-ms",
            type=float,
            default=0.0,
            help="pause before every run, as between camera frames (0: back to back)",
        )
        sub.add_argument(
            "--out",
            type=Path,
            default=DEFAULT_OUT_DIR / out if out else None,
            help="report path without suffix: writes .md and .json",
        )

    models = commands.add_parser(
        "models", help="every model (and MediaPipe selfie) side by side, whole per-frame cost"
    )
    models.add_argument("--models", nargs="*", type=Path, help="default: models/*.onnx")
    models.add_argument("--peers", default="general,landscape", help="MediaPipe variants")
    race_options(models, 200, "models")
    models.set_defaults(run=cmd_models)

    variants = commands.add_parser(
        "variants", help="sizes, widths and precisions from one checkpoint, timed side by side"
    )
    variants.add_argument("--checkpoint", type=Path, default=REPO / "runs/base/last.pt")
    variants.add_argument(
        "--sizes",
        default="128x128,112x192,128x224,144x256,160x288,192x192,192x352,256x256",
        help="HEIGHTxWIDTH input sizes of the trained width",
    )
    variants.add_argument("--widths", default="0.5,0.75,1.4", help="untrained widths")
    variants.add_argument("--width-sizes", default="144x256,256x256", help="their sizes")
    variants.add_argument(
        "--precisions", default="fp32,opt,int8,int8-fused", help="fp32, opt, int8, int8-fused"
    )
    variants.add_argument("--count", type=int, default=300, help="int8 calibration images")
    variants.add_argument("--work", type=Path, default=SPEED_CACHE / "variants")
    variants.add_argument(
        "--reuse", action="store_true", help="keep files in --work newer than the checkpoint"
    )
    variants.add_argument("--models", nargs="*", type=Path, default=[], help="also time these")
    variants.add_argument("--peers", default="general,landscape", help="MediaPipe variants")
    race_options(variants, 100, "variants")
    variants.set_defaults(run=cmd_variants)

    sessions = commands.add_parser("sessions", help="onnxruntime session options, inference")
    sessions.add_argument("--models", nargs="*", type=Path, default=[], help="default: fast")
    sessions.add_argument("--variants", default="", help="comma-separated subset (names)")
    race_options(sessions, 150, "sessions")
    sessions.set_defaults(run=cmd_sessions)

    ops = commands.add_parser("ops", help="onnxruntime per-node profile, int8 depthwise kernel")
    ops.add_argument("--models", nargs="*", type=Path, default=[], help="default: fast")
    ops.add_argument("--threads", type=int, default=1)
    ops.add_argument("--repeat", type=int, default=200, help="runs per model and kernel")
    ops.add_argument("--channels", default="16,24,32,40,48,64", help="depthwise channel counts")
    ops.add_argument("--depthwise-size", default="36x64", help="HEIGHTxWIDTH of its input")
    ops.add_argument("--out", type=Path, default=None, help="report path without suffix")
    ops.set_defaults(run=cmd_ops)

    pareto = commands.add_parser("pareto", help="quality vs latency chart from JSON results")
    pareto.add_argument(
        "--latency",
        nargs="+",
        type=Path,
        default=[DEFAULT_OUT_DIR / "variants.json"],
        help="JSON of `models`/`variants` (the first naming a model wins)",
    )
    pareto.add_argument(
        "--quality", nargs="+", type=Path, required=True, help="evaluate.py results.json"
    )
    pareto.add_argument("--set", default="shen-test", help="evaluation set")
    pareto.add_argument("--threads", type=int, default=1)
    pareto.add_argument("--out", type=Path, default=REPO / "docs" / "pareto.png")
    pareto.set_defaults(run=cmd_pareto)

    pipe = commands.add_parser("pipeline", help="the live Pipeline on a 1080p 30 fps file")
    pipe.add_argument("--model", type=Path, default=None, help="default models/mmnet-fast.onnx")
    pipe.add_argument("--size", default="1920x1080", help="video WxH")
    pipe.add_argument("--fps", type=float, default=30.0)
    pipe.add_argument("--seconds", type=float, default=20.0, help="measured run time")
    pipe.add_argument("--warmup-seconds", type=float, default=3.0)
    pipe.add_argument("--clip-seconds", type=float, default=4.0, help="looped clip length")
    pipe.add_argument("--threads", type=int, default=0, help="inference threads (0: default)")
    pipe.add_argument("--background", default="blur")
    pipe.add_argument("--sink", choices=("null", "file"), default="null")
    pipe.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / "pipeline")
    pipe.set_defaults(run=cmd_pipeline)
    temporal = commands.add_parser(
        "temporal", help="flicker, jumps and lag of the matte stage on video, beside MediaPipe"
    )
    temporal.add_argument("--models", nargs="*", type=Path, help="default: the shipped pair")
    temporal.add_argument(
        "--clips", nargs="*", type=Path, help="default: talking-heads/*.mp4; none: --clips"
    )
    temporal.add_argument("--max-frames", type=int, default=None, help="per video clip")
    temporal.add_argument("--levels", default=",".join(TEMPORAL_LEVELS), help="smoothing levels")
    temporal.add_argument("--motions", default="still,sway,steps,head,hand", help="synthetic")
    temporal.add_argument("--persons", type=int, default=2, help="portraits per synthetic motion")
    temporal.add_argument("--frames", type=int, default=60, help="frames per synthetic clip")
    temporal.add_argument("--size", default="1280x720", help="synthetic clip WxH")
    temporal.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    temporal.add_argument("--no-peer", dest="peer", action="store_false", help="without MediaPipe")
    temporal.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / "temporal")
    temporal.set_defaults(run=cmd_temporal)

    skip = commands.add_parser(
        "skipstatic", help="inferences, CPU and live-vs-offline matte with skip-static on/off"
    )
    skip.add_argument("--model", type=Path, default=None, help="default models/mmnet-fast.onnx")
    skip.add_argument(
        "--clips", nargs="*", type=Path, help="default: talking-heads/*.mp4; none: --clips"
    )
    skip.add_argument("--frames", type=int, default=150, help="frames per synthetic clip")
    skip.add_argument("--size", default="1280x720", help="synthetic clip WxH")
    skip.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    skip.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / "skip-static")
    skip.set_defaults(run=cmd_skipstatic)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
