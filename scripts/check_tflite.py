#!/usr/bin/env python
"""Check .tflite alpha models on real photos with the LiteRT interpreter; a Markdown table.

  python scripts/check_tflite.py models/mmnet-fast-*.tflite --onnx models/mmnet-fast.onnx \\
      --data ../shared/data/portraits-shen2016/test --write models/MOBILE.md

For every file: its operators against the allow-list (``vcam.mobile.ops``), the largest and
mean |alpha difference| and the IoU against the ONNX model on the same fitted input (model
resolution), SAD and IoU against the ground truth at the photo's size
(``vcam.evaluation.metrics``; input prepared like the runtime: ``vcam.fitting.fit``, RGB),
the median (and fastest) ``invoke`` time with 1 and 2 XNNPACK threads, and the file size.
The ONNX model (onnxruntime) is the first row. ``--write FILE`` puts the table between the
``<!-- check_tflite:begin -->`` and ``<!-- check_tflite:end -->`` lines of FILE. Exits 1 when
a file fails the operator check.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.evaluation.datasets import load_pairs, read_pair  # noqa: E402
from vcam.evaluation.metrics import iou, sad  # noqa: E402
from vcam.fitting import fit, unfit  # noqa: E402
from vcam.mobile.ops import check_ops, read_model_info  # noqa: E402
from vcam.mobile.reference import OnnxReference  # noqa: E402
from vcam.mobile.runner import TfliteMatting  # noqa: E402

BEGIN = "<!-- check_tflite:begin -->"
END = "<!-- check_tflite:end -->"
PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int8-uint8": "int8"}
HEADER = (
    "| Model | In/out | Size KiB | Ops | max abs diff vs ONNX | mean abs diff | IoU vs ONNX "
    "| IoU (GT) | SAD (GT) | ms 1 thread: median (fastest) | ms 2 threads |"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", type=Path, help=".tflite files")
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX model they came from")
    parser.add_argument("--data", type=Path, required=True, help="folder with image/ and mask/")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--runs", type=int, default=50, help="timed invokes per thread count")
    parser.add_argument("--write", type=Path, default=None, help="Markdown file with markers")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def precision_of(info) -> str:
    """The variant's arithmetic: from the export's metadata, else from the tensors."""
    variant = info.vcam.get("vcam.variant")
    if variant in PRECISION:
        return PRECISION[variant]
    if any(op.dtype == "INT8" and op.name == "CONV_2D" for op in info.operators):
        return "int8"
    if any(op.name == "DEQUANTIZE" and op.dtype == "FLOAT16" for op in info.operators):
        return "fp16"
    return "fp32"


def measure(model, reference: OnnxReference | None, pairs) -> dict:
    """Parity against ``reference`` (at model resolution) and GT metrics over ``pairs``."""
    worst, means, ious_ref, ious, sads = 0.0, [], [], [], []
    for pair in pairs:
        image, gt = read_pair(pair)
        small, where = fit(image, model.input_size)
        alpha = model.run_small(small)
        if reference is not None:
            expected = reference.run_small(small)
            diff = np.abs(alpha - expected)
            worst = max(worst, float(diff.max()))
            means.append(float(diff.mean()))
            ious_ref.append(iou(alpha, expected))
        full = np.clip(unfit(alpha, where, gt.shape), 0.0, 1.0)
        ious.append(iou(full, gt))
        sads.append(sad(full, gt))
    result = {"iou": float(np.mean(ious)), "sad": float(np.mean(sads))}
    if reference is not None:
        result |= {"max_diff": worst, "mean_diff": float(np.mean(means))}
        result["iou_ref"] = float(np.mean(ious_ref))
    return result


def timing(model, runs: int) -> str:
    """ "median (fastest)" ms of ``runs`` runs: on a busy machine the fastest run is the better
    estimate of the model's own cost, the median of what it got."""
    times = model.timings_ms(runs)
    return f"{statistics.median(times):.1f} ({min(times):.1f})"


def io_label(model: TfliteMatting) -> str:
    a, b = model.input_dtype.name, model.output_dtype.name
    return a if a == b else f"{a}/{b}"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failed = False
    try:
        reference = OnnxReference(args.onnx)
        pairs = load_pairs(args.data)[: args.limit]
        ref = measure(reference, None, pairs)
        lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
        lines.append(
            row(
                [
                    f"{args.onnx.name} (onnxruntime)",
                    "float32",
                    f"{args.onnx.stat().st_size / 1024:.0f}",
                    "-",
                    "0 (reference)",
                    "-",
                    "1",
                    f"{ref['iou']:.4f}",
                    f"{ref['sad']:.2f}",
                    timing(OnnxReference(args.onnx, threads=1), args.runs),
                    timing(OnnxReference(args.onnx, threads=2), args.runs),
                ]
            )
        )
        problems = []
        for path in args.models:
            info = read_model_info(path)
            model = TfliteMatting(path)
            if model.input_size != reference.input_size:
                raise VcamError(
                    f"{path}: input {model.input_size} but {args.onnx} takes "
                    f"{reference.input_size}: compare files made from that ONNX model"
                )
            found = check_ops(info, precision_of(info))
            problems += [f"{path.name}: {p}" for p in found]
            failed |= bool(found)
            m = measure(model, reference, pairs)
            lines.append(
                row(
                    [
                        path.name,
                        io_label(model),
                        f"{path.stat().st_size / 1024:.0f}",
                        "ok" if not found else "FAIL",
                        f"{m['max_diff']:.2g}",
                        f"{m['mean_diff']:.2g}",
                        f"{m['iou_ref']:.4f}",
                        f"{m['iou']:.4f}",
                        f"{m['sad']:.2f}",
                        timing(TfliteMatting(path, threads=1), args.runs),
                        timing(TfliteMatting(path, threads=2), args.runs),
                    ]
                )
            )
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    h, w = reference.input_size
    step = reference.metadata.get("vcam.training_step") or "unknown"
    note = (
        f"{len(pairs)} photos of `{args.data.name}` ({args.data.parent.name}), model input "
        f"{h}x{w}, `{args.onnx.name}` from training step {step}. Times: median (fastest) of "
        f"{args.runs} invokes (XNNPACK for .tflite, onnxruntime CPU for .onnx) on "
        f"{machine()}, {datetime.date.today().isoformat()}."
    )
    table = "\n".join(lines) + "\n\n" + note + "\n"
    print(table)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if args.write is not None:
        try:
            write_between_markers(args.write, table)
        except VcamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote the table into {args.write}")
    return 1 if failed else 0


def machine() -> str:
    """The CPU, its core count and the load while the table was made (times depend on it)."""
    name = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{name}, {os.cpu_count()} cores{load}"


def write_between_markers(path: Path, table: str) -> None:
    """Replace what lies between the BEGIN and END lines of ``path`` with ``table``."""
    if not path.is_file():
        raise VcamError(f"{path}: no such file (it needs the {BEGIN} and {END} lines)")
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise VcamError(f"{path}: add the lines {BEGIN} and {END} where the table goes")
    path.write_text(text[: start + len(BEGIN)] + "\n" + table + text[end:])


if __name__ == "__main__":
    sys.exit(main())
