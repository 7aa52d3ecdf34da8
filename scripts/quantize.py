#!/usr/bin/env python
"""Make an exported MMNet faster on the CPU: exact graph rewrites, optionally static int8.

  python scripts/quantize.py models/mmnet-256.onnx --out fast-fp32.onnx --precision fp32
  python scripts/quantize.py models/mmnet-256.onnx --out fast-int8.onnx --data ../shared/data \\
      [--count 300] [--method minmax|percentile|entropy] [--per-tensor] [--logit-range 8]

``--precision fp32`` applies the exact rewrites of ``vcam.training.optimize`` (alpha head
folded into a one-channel sigmoid, concat + 1x1 convolutions split into sums) and checks that
the alpha is unchanged (max |diff| below 1e-4). ``--precision int8`` (default) folds the head,
then quantizes statically (QDQ, uint8 activations, int8 per-channel weights) with a
calibration set of ``--count`` training photos from ``<data>/portraits-shen2016/train``
fitted like the runtime, and reports how far the int8 alpha is from the fp32 one on other
training photos. Check the quality with scripts/evaluate.py before shipping an int8 model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
PARITY_LIMIT = 1e-4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="an exported MMNet .onnx file (fp32)")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--count", type=int, default=300, help="calibration images")
    parser.add_argument("--check", type=int, default=24, help="other images for the check")
    parser.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax")
    parser.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor")
    parser.add_argument(
        "--split", action="store_true", help="int8: also split concat+conv (slower on x86)"
    )
    parser.add_argument(
        "--logit-range",
        type=float,
        help="int8: quantize the alpha logits over +-this (default 8; 0: calibrated range)",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.check < 0:
        parser.error("--count must be at least 1 and --check at least 0")
    if args.logit_range is not None and args.logit_range < 0:
        parser.error("--logit-range must be positive (0: the calibrated range)")
    if not args.model.is_file():
        parser.error(f"model {args.model} not found")
    if args.out.resolve() == args.model.resolve():
        parser.error("--out must differ from the input model")
    return args


def rewrite_fp32(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from vcam.training.optimize import optimize_file

    done = optimize_file(args.model, args.out)
    ref = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in ref.get_inputs()[0].shape]
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(3):
        x = rng.random(shape, dtype=np.float32)
        if i % 2:
            x = np.cumsum(x, axis=3) / shape[3]  # smooth, image-like
        a = ref.run(None, {ref.get_inputs()[0].name: x})[0]
        b = new.run(None, {new.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(a - b).max()))
    print(
        f"wrote {args.out}: head folded {bool(done['head'])}, {done['split']} concat+conv "
        f"split; max |diff| vs {args.model.name} = {worst:.1e}"
    )
    if worst > PARITY_LIMIT:
        print(f"error: the rewritten model differs by {worst:.1e} (> {PARITY_LIMIT:.0e})")
        return 1
    return 0


def quantize_int8(args: argparse.Namespace) -> int:
    from vcam.training.optimize import optimize_file
    from vcam.training.quantize import (
        CALIBRATION_SET,
        LOGIT_RANGE,
        calibration_and_check,
        compare_outputs,
        quantize_model,
    )

    calibration, check = calibration_and_check(args.data / CALIBRATION_SET, args.count, args.check)
    quantize_model(
        args.model,
        args.out,
        calibration,
        per_channel=not args.per_tensor,
        method=args.method,
        split=args.split,
        logit_range=LOGIT_RANGE if args.logit_range is None else args.logit_range or None,
    )
    print(f"wrote {args.out}: int8 QDQ, {len(calibration)} calibration images ({args.method})")
    if check:
        with tempfile.TemporaryDirectory() as folder:
            reference = Path(folder) / "fp32.onnx"
            optimize_file(args.model, reference, split=False)  # same graph, fp32
            result = compare_outputs(reference, args.out, check)
        print(
            f"int8 vs fp32 on {result['images']} other training photos: mean |diff| "
            f"{result['mean_abs_diff']:.4f}, max {result['max_abs_diff']:.3f}, mask IoU "
            f"{result['mask_iou']:.4f}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vcam.training.quantize import QuantizeError

    try:
        return rewrite_fp32(args) if args.precision == "fp32" else quantize_int8(args)
    except (QuantizeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
