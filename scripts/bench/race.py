"""``models``, ``variants`` and ``sessions``: vcam's models and the MediaPipe peer raced on the
same frames, variants built from one checkpoint, onnxruntime session options."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.common import (
    DEFAULT_MODEL,
    PEER_VARIANTS,
    REPO,
    machine,
    parse_hw,
    parse_list,
    parse_sizes,
    set_threads,
    shown,
    write_reports,
)

# ---------------------------------------------------------------------------------------------
# side by side: vcam's models and the MediaPipe peer on the same frames (models, variants)


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
