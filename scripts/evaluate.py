#!/usr/bin/env python
"""Evaluate ONNX matting models and the MediaPipe selfie peer on the same images in one run.

    python scripts/evaluate.py --data ../shared/data \\
        --models models/mmnet-256.onnx models/mmnet-fast.onnx --peer general landscape \\
        --out docs/eval/<name> [--sets ...] [--limit N]

Real footage first (the yardsticks):
``shen-test`` (portraits-shen2016/test, 600x800 photos; also reported without the five test
photos that duplicate training photos), ``talking-heads`` (real head-and-shoulders video, no
labels: flicker on still pixels and visible jumps, per clip), and two probes for shortcuts:
``blur-probe`` (IoU with the background blurred, the person blurred, the background sharpened;
the first 96 shen-test photos) and ``shift-probe`` (alpha change for a 1- or 3-pixel shift and a
JPEG re-save; every 5th of the first 100 frames of each talking-heads clip).
Diagnostics (composites, never the yardstick): ``hard16x9`` (the test persons composited into
1280x720 frames over evaluation-only backgrounds) and ``flicker`` (30-frame synthetic clips).
The hard set is built once into ``.cache/hardset`` (``--rebuild`` to force). Writes
``results.md`` and ``results.json`` into ``--out`` and prints the tables.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.evaluation.datasets import load_pairs  # noqa: E402
from vcam.evaluation.hardset import (  # noqa: E402
    DEFAULT_CACHE,
    EVAL_BACKGROUND_SETS,
    HardSetConfig,
    ensure_hardset,
)
from vcam.evaluation.metrics import METRIC_NAMES  # noqa: E402
from vcam.evaluation.peer import VARIANTS  # noqa: E402
from vcam.evaluation.probes import (  # noqa: E402
    blur_probe,
    probe_frames,
    shift_probe,
)
from vcam.evaluation.report import (  # noqa: E402
    evaluate_clips,
    evaluate_model,
    markdown_report,
    write_report,
)
from vcam.evaluation.video import evaluate_video, list_clips, read_clip  # noqa: E402

REAL_SETS = ("shen-test", "talking-heads", "blur-probe", "shift-probe")
DIAGNOSTIC_SETS = ("hard16x9", "flicker")
SETS = REAL_SETS + DIAGNOSTIC_SETS
# Test photos of portraits-shen2016 that duplicate training photos (the set's official split):
# 00971/00990, 01023/01016, 01175/00203, 01179/01182 (greyscale), 00320/00345.
SHEN_TEST_DUPLICATES = ("00971", "01023", "01175", "01179", "00320")
BLUR_PROBE_IMAGES = 96

NOTES = """Metrics are over whole images at the ground truth's resolution (no trimap); lower is
better except IoU (and the blur probe's IoUs). SAD, Grad and Conn are /1000 (Rhemann et al.
2009 as the DIM code computes them); MAD and Gauss grad are MMNet's; IoU thresholds both
alphas at 0.5. On `flicker` (synthetic clips) the per-frame columns cover every clip frame
(Grad, Conn, Gauss grad are skipped there for time); Flicker static is the mean absolute alpha
change between consecutive frames where only sensor noise changed; dtSSD is 100 x RMS of
(predicted - true) alpha change, over all consecutive frames. ms/frame is the median time of one
prediction including resizing, on {threads} thread(s), {machine}; it is noisy on a shared
machine, use scripts/benchmark.py for speed. Hard-set backgrounds: {backgrounds} (never used in
training).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--models", nargs="*", default=[], type=Path, help="ONNX model files")
    parser.add_argument("--peer", nargs="*", default=[], choices=VARIANTS, help="MediaPipe peers")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--out", type=Path, required=True, help="folder for results.md/.json")
    parser.add_argument("--limit", type=int, default=None, help="first N images (clips) per set")
    parser.add_argument("--threads", type=int, default=1, help="inference threads per model")
    parser.add_argument("--hardset-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the hard set")
    parser.add_argument(
        "--hard-frame", default="1280x720", help="hard-set frame size WxH (default 1280x720)"
    )
    parser.add_argument("--clip-length", type=int, default=30, help="frames per flicker clip")
    parser.add_argument(
        "--video-frames", type=int, default=150, help="frames per talking-heads clip (0: all)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.models and not args.peer:
        parser.error("nothing to evaluate: give --models and/or --peer")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        width, height = (int(v) for v in args.hard_frame.lower().split("x"))
    except ValueError:
        parser.error(f"--hard-frame {args.hard_frame!r}: expected WxH, e.g. 1280x720")
    if width < 32 or height < 32 or args.clip_length < 2:
        parser.error("--hard-frame must be at least 32x32 and --clip-length at least 2")
    args.hard_config = HardSetConfig(width=width, height=height, clip_length=args.clip_length)
    return args


def load_predictors(args: argparse.Namespace) -> list:
    from vcam.evaluation.predictors import OnnxMatting

    predictors = [OnnxMatting(path, threads=args.threads) for path in args.models]
    if args.peer:
        from vcam.evaluation.peer import MediaPipeSelfie

        predictors += [MediaPipeSelfie(variant=v, threads=args.threads) for v in args.peer]
    return predictors


def run(args: argparse.Namespace) -> list[dict]:
    predictors = load_predictors(args)
    rows = []
    hard = None
    if {"hard16x9", "flicker"} & set(args.sets):
        start = time.perf_counter()
        hard = ensure_hardset(args.data, args.hardset_dir, args.hard_config, args.rebuild)
        print(f"hard set ready in {time.perf_counter() - start:.0f} s: {hard.root}", flush=True)
    shen = args.data / "portraits-shen2016" / "test"
    clips = []
    if {"talking-heads", "shift-probe"} & set(args.sets):
        clips = list_clips(args.data / "talking-heads")[: args.limit]
    probe_clips = None
    for set_name in args.sets:
        for predictor in predictors:
            start = time.perf_counter()
            if set_name == "shen-test":
                pairs = load_pairs(shen)
                result = evaluate_model(
                    predictor, pairs, METRIC_NAMES, args.limit, SHEN_TEST_DUPLICATES
                )
            elif set_name == "talking-heads":
                result = evaluate_video(predictor, clips, args.video_frames or None)
            elif set_name == "blur-probe":
                pairs = load_pairs(shen)[: args.limit or BLUR_PROBE_IMAGES]
                result = {"count": len(pairs), "metrics": blur_probe(predictor, pairs)}
            elif set_name == "shift-probe":
                if probe_clips is None:
                    probe_clips = probe_frames([read_clip(c, 100) for c in clips])
                result = {
                    "count": len(probe_clips),
                    "metrics": shift_probe(predictor, probe_clips),
                }
            elif set_name == "hard16x9":
                result = evaluate_model(predictor, hard.frames, METRIC_NAMES, args.limit)
            else:
                result = evaluate_clips(predictor, hard.clips, limit=args.limit)
            seconds = time.perf_counter() - start
            print(f"{set_name} / {predictor.name}: {result['count']} frames, {seconds:.0f} s",
                  flush=True)  # fmt: skip
            rows.append(
                dict(set=set_name, model=predictor.name, seconds=round(seconds, 1), **result)
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    start = time.perf_counter()
    try:
        rows = run(args)
    except (VcamError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    notes = NOTES.format(
        threads=args.threads,
        machine=f"{machine}, onnxruntime {ort.__version__}",
        backgrounds=", ".join(EVAL_BACKGROUND_SETS),
    )
    notes += f"\nTotal evaluation time: {time.perf_counter() - start:.0f} s"
    notes += f"{f' (--limit {args.limit})' if args.limit else ''}.\n"
    md, js = write_report(rows, args.out, notes)
    print(markdown_report(rows))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
