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

The code lives in ``scripts/bench/`` (common, stages, race, ops, pareto, live); this file only
parses the command line. New modes go in as subcommands: add a ``cmd_NAME(args)`` to a module
there and register it in ``build_parser``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench.common import DEFAULT_DATA, DEFAULT_OUT_DIR, REPO, SPEED_CACHE
from bench.live import TEMPORAL_LEVELS, cmd_pipeline, cmd_skipstatic, cmd_temporal
from bench.ops import cmd_ops
from bench.pareto import cmd_pareto
from bench.race import cmd_models, cmd_sessions, cmd_variants
from bench.stages import cmd_stages


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
