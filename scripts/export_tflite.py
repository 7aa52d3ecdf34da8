#!/usr/bin/env python
"""Export MMNet to LiteRT (.tflite) for mobile apps: fp32, fp16, int8 and int8 with uint8 ends.

  python scripts/export_tflite.py runs/base/final.pt --onnx models/mmnet-fast.onnx \\
      --calibration ../shared/data/portraits-shen2016/train --out-dir models

WEIGHTS is a training checkpoint or a weights-only file (``torch.save({"model": state_dict,
"config": {"width": W}})``); ``--onnx`` is the shipped ONNX model those weights were exported
to: the input size is read from it, and every file is checked against it (fp32 must match
within 1e-4, or nothing is written). Writes ``<name>-<variant>.tflite`` (name: the ONNX file's
stem) for the variants asked for:

  fp32        float32 weights and activations, float32 in/out
  fp16        fp16 weights (DEQUANTIZE in front of each convolution), float32 in/out
  int8        full int8 inside (per-channel weights, calibrated activations), float32 in/out
  int8-uint8  the same int8 model with uint8 in/out: camera bytes in, alpha*256 out

Each file's operators are listed and checked (an allow-list; dilated depthwise convolutions
must be native DEPTHWISE_CONV_2D with dilation; int8 files must compute in int8); any problem
fails the export before anything is written. Needs the ``[mobile]`` extra.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.mobile.ops import check_ops, read_model_info  # noqa: E402
from vcam.mobile.reference import OnnxReference  # noqa: E402

VARIANTS = ("fp32", "fp16", "int8", "int8-uint8")
DEFAULT_VARIANTS = ("fp16", "int8", "int8-uint8")
PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int8-uint8": "int8"}
FP32_LIMIT = 1e-4  # max |alpha difference| of the fp32 file (and of PyTorch) against ONNX
# Mean |alpha difference| against ONNX beyond which a file is broken, not just rounded.
SANITY_LIMIT = {"fp16": 0.01, "int8": 0.05, "int8-uint8": 0.05}
DEFAULT_CALIBRATION = ROOT.parent / "shared" / "data" / "portraits-shen2016" / "train"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", type=Path, help="training checkpoint or weights-only .pt")
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX model to match")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for the .tflite files")
    parser.add_argument("--name", default="", help="file name stem (default: the ONNX stem)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--calibration",
        type=Path,
        default=DEFAULT_CALIBRATION,
        help="training photos for int8 calibration (a folder of images or with image/)",
    )
    parser.add_argument("--calibration-count", type=int, default=300, help="photos to use")
    args = parser.parse_args(argv)
    if args.calibration_count < 1:
        parser.error("--calibration-count must be at least 1")
    return args


def check_inputs(args: argparse.Namespace) -> OnnxReference:
    """Fail early, in one line, on what can be checked without converting anything."""
    if not args.weights.is_file():
        raise VcamError(f"{args.weights}: weights file not found (a training checkpoint)")
    reference = OnnxReference(args.onnx)
    needs_calibration = any(v.startswith("int8") for v in args.variants)
    if needs_calibration and not args.calibration.is_dir():
        raise VcamError(
            f"calibration folder {args.calibration} not found: pass --calibration DIR "
            "(training photos, e.g. ../shared/data/portraits-shen2016/train)"
        )
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise VcamError(f"--out-dir {args.out_dir} is a file, not a folder")
    return reference


def probe_images(reference: OnnxReference, calibration: list[np.ndarray]) -> list[np.ndarray]:
    """Fitted uint8 RGB images for parity checks: a few real photos, noise and a ramp."""
    h, w = reference.input_size
    rng = np.random.default_rng(0)
    images = [np.clip(np.round(x[0] * 255.0), 0, 255).astype(np.uint8) for x in calibration[:6]]
    images.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    images.append(np.broadcast_to(ramp, (h, w, 3)).round().astype(np.uint8))
    return images


def torch_parity(net, reference: OnnxReference, images: list[np.ndarray]) -> float:
    """Max |alpha| difference of the mobile PyTorch module against the ONNX model."""
    import torch

    from vcam.mobile.module import MobileMatting

    module = MobileMatting(net)
    worst = 0.0
    with torch.no_grad():
        for image in images:
            x = torch.from_numpy(image.astype(np.float32) / 255.0)[None]
            ours = module(image=x)["alpha"][0, :, :, 0].numpy()
            worst = max(worst, float(np.abs(ours - reference.run_small(image)).max()))
    return worst


def tflite_parity(
    path: Path, reference: OnnxReference, images: list[np.ndarray]
) -> tuple[float, float]:
    """Max and mean |alpha| difference of a .tflite file against the ONNX model."""
    from vcam.mobile.runner import TfliteMatting

    model = TfliteMatting(path)
    diffs = [np.abs(model.run_small(im) - reference.run_small(im)) for im in images]
    return max(float(d.max()) for d in diffs), float(np.mean([d.mean() for d in diffs]))


def metadata(args: argparse.Namespace, reference: OnnxReference, variant: str, net) -> dict:
    h, w = reference.input_size
    digest = hashlib.sha256(args.onnx.read_bytes()).hexdigest()
    from vcam.training.export import git_commit

    return {
        "vcam.architecture": "MMNet",
        "vcam.variant": variant,
        "vcam.input_height": str(h),
        "vcam.input_width": str(w),
        "vcam.color_order": "RGB",
        "vcam.layout": "NHWC",
        "vcam.input_range": "0..255 bytes" if variant == "int8-uint8" else "0..1",
        "vcam.output": "alpha, 0..255/256" if variant == "int8-uint8" else "alpha, 0..1",
        "vcam.width_multiplier": str(net.width),
        "vcam.source_onnx": args.onnx.name,
        "vcam.source_onnx_sha256": digest,
        "vcam.training_commit": reference.metadata.get("vcam.training_commit", "unknown"),
        "vcam.export_commit": git_commit(),
    }


def export(args: argparse.Namespace, reference: OnnxReference, work: Path) -> list[tuple]:
    """Convert into ``work``; return (variant, path, info, max diff, mean diff) per variant."""
    from vcam.mobile import convert
    from vcam.mobile.module import load_mmnet

    net, _ = load_mmnet(args.weights)
    h, w = reference.input_size
    needs_calibration = any(v.startswith("int8") for v in args.variants)
    started = time.perf_counter()
    calibration = (
        convert.calibration_images(args.calibration, (h, w), args.calibration_count)
        if needs_calibration
        else []
    )
    images = probe_images(reference, calibration)
    diff = torch_parity(net, reference, images)
    print(f"PyTorch (mobile module) vs ONNX: max |diff| {diff:.2e}")
    if diff > FP32_LIMIT:
        raise VcamError(
            f"{args.weights} does not match {args.onnx} (max |diff| {diff:.2e}): "
            "pass the checkpoint that ONNX file was exported from"
        )
    fp32 = convert.convert_fp32(net, h, w, work / "fp32.tflite")
    print(f"litert-torch fp32 conversion: {time.perf_counter() - started:.0f} s")
    raw = {"fp32": fp32.read_bytes()}
    if "fp16" in args.variants:
        raw["fp16"] = convert.quantize_fp16(fp32)
    if needs_calibration:
        begun = time.perf_counter()
        int8 = convert.quantize_int8(fp32, calibration)
        print(f"int8 calibration on {len(calibration)} photos: {time.perf_counter() - begun:.0f} s")
        raw["int8"] = convert.set_io_types(int8, "float32")
        raw["int8-uint8"] = convert.set_io_types(int8, "uint8")
    results = []
    for variant in args.variants:
        path = work / f"{args.name}-{variant}.tflite"
        path.write_bytes(convert.finalize(raw[variant], metadata(args, reference, variant, net)))
        info = read_model_info(path)
        worst, mean = tflite_parity(path, reference, images)
        results.append((variant, path, info, worst, mean))
    return results


def report(results: list[tuple]) -> list[str]:
    """Print each file's operators and parity; return the problems found."""
    problems = []
    for variant, path, info, worst, mean in results:
        ins, outs = info.inputs[0], info.outputs[0]
        print(f"\n{path.name}: {path.stat().st_size / 1024:.0f} KiB")
        print(f"  input  {ins.name} {list(ins.shape)} {ins.dtype}" + _quant(ins))
        print(f"  output {outs.name} {list(outs.shape)} {outs.dtype}" + _quant(outs))
        print("  operators: " + ", ".join(f"{k} x{v}" for k, v in info.counts().items()))
        dilations = ", ".join(f"rate {k} x{v}" for k, v in info.dilations().items())
        print(f"  DEPTHWISE_CONV_2D dilations: {dilations}")
        print(f"  vs ONNX: max |diff| {worst:.2e}, mean |diff| {mean:.2e}")
        found = check_ops(info, PRECISION[variant])
        if variant == "fp32" and worst > FP32_LIMIT:
            found.append(f"fp32 differs from ONNX by {worst:.2e} (limit {FP32_LIMIT:.0e})")
        if variant in SANITY_LIMIT and mean > SANITY_LIMIT[variant]:
            found.append(f"mean |diff| {mean:.3f} vs ONNX above {SANITY_LIMIT[variant]}")
        problems += [f"{path.name}: {p}" for p in found]
    return problems


def _quant(tensor) -> str:
    return "" if tensor.scale is None else f" (scale {tensor.scale:.6g}, zero {tensor.zero_point})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        reference = check_inputs(args)
        args.name = args.name or args.onnx.stem
        with tempfile.TemporaryDirectory(prefix="vcam-tflite-") as tmp:
            work = Path(tmp)
            # The fp32 file is always converted: every other variant is made from it.
            results = export(args, reference, work)
            problems = report(results)
            if problems:
                print("\nerror: not written, the export has problems:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                return 1
            args.out_dir.mkdir(parents=True, exist_ok=True)
            for _, path, *_ in results:
                shutil.copyfile(path, args.out_dir / path.name)
                print(f"wrote {args.out_dir / path.name}")
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: {exc.name or exc} is not installed: run `pip install -e .[mobile]`")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
