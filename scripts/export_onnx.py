#!/usr/bin/env python
"""Export a training checkpoint to the ONNX model the runtime loads, and check parity.

  python scripts/export_onnx.py runs/base/final.pt --size 256x256 --out models/mmnet-256.onnx
  python scripts/export_onnx.py runs/base/final.pt --size 144x256 --out models/mmnet-fast.onnx \
      --deploy

Input ``image`` float32 RGB [0,1] NCHW, output ``alpha`` N,1,H,W in [0,1]; BatchNorm folded;
metadata records size, colour order, width and the training commit. ``--deploy`` exports the
inference form of ``vcam.nets.deploy`` (branch openings merged, channels padded to multiples of
16, normalisation folded: faster once quantized to int8, the same function). The script
compares onnxruntime with the trained PyTorch net on random and real-looking inputs and fails
above 1e-4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from vcam.nets.deploy import deploy  # noqa: E402
from vcam.nets.mmnet import AlphaHead, MMNet  # noqa: E402
from vcam.training.export import export_onnx  # noqa: E402

PARITY_LIMIT = 1e-4


def load_checkpoint(path: Path, weights: str = "auto") -> tuple[MMNet, dict]:
    """The network of a training checkpoint (eval mode) and the checkpoint's config.
    ``weights``: "ema" (the moving average), "raw" (the trained weights) or "auto" (the moving
    average when the checkpoint has one)."""
    if not path.is_file():
        raise SystemExit(f"error: {path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        config = state.get("config", {})
        net = MMNet(float(config.get("width", 1.0)))
        key = "ema" if weights == "ema" or (weights == "auto" and "ema" in state) else "model"
        net.load_state_dict(state[key])
    except Exception as exc:  # torch raises many kinds for a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SystemExit(f"error: {path}: not a vcam training checkpoint ({reason})") from None
    return net.eval(), state


def parity(net: MMNet, onnx_path: Path, height: int, width: int) -> float:
    """Max abs difference of onnxruntime vs PyTorch alphas over a few inputs."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    head = AlphaHead(net).eval()
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(4):
        x = rng.random((1, 3, height, width), dtype=np.float32)
        if i % 2:  # smooth, image-like input
            x = np.cumsum(x, axis=3) / width
        ours = session.run(None, {"image": x})[0]
        with torch.no_grad():
            ref = head(torch.from_numpy(x)).numpy()
        worst = max(worst, float(np.abs(ours - ref).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--size", default="256x256", help="HEIGHTxWIDTH, multiples of 16")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dynamic", action="store_true", help="dynamic height and width")
    parser.add_argument("--name", default="", help="model name stored in the metadata")
    parser.add_argument(
        "--weights",
        type=Path,
        help="also write a weights-only checkpoint here (for the mobile export)",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="export the fused inference form (vcam.nets.deploy; for int8 models)",
    )
    parser.add_argument(
        "--which",
        choices=["auto", "ema", "raw"],
        default="auto",
        help="the moving average of the weights (auto: when the checkpoint has one) or the raw",
    )
    args = parser.parse_args(argv)
    try:
        height, width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: use HEIGHTxWIDTH, e.g. 144x256")
    net, state = load_checkpoint(args.checkpoint, args.which)
    history = state.get("history") or [{}]
    metadata = {
        "vcam.model_name": args.name or args.out.stem,
        "vcam.training_step": str(state.get("step", "")),
        "vcam.training_validation": json.dumps(
            {k: v for k, v in history[-1].items() if k.startswith("val_")}
        ),
    }
    exported = net
    if args.deploy:
        exported = deploy(net)
    try:
        path = export_onnx(
            exported, args.out, height, width, dynamic=args.dynamic, metadata=metadata
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.weights:
        args.weights.parent.mkdir(parents=True, exist_ok=True)
        config = {"width": net.width, "step": state.get("step")}
        torch.save({"model": net.state_dict(), "config": config}, args.weights)
    diff = parity(net, path, height, width)
    size_kib = path.stat().st_size / 1024
    print(f"wrote {path} ({size_kib:.0f} KiB); onnxruntime vs PyTorch max |diff| = {diff:.2e}")
    if diff > PARITY_LIMIT:
        print(f"error: parity {diff:.2e} above {PARITY_LIMIT:.0e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
