"""Export a trained MMNet to ONNX with the contract the runtime relies on.

Contract: input ``image`` float32 RGB in [0, 1], NCHW (normalisation inside the graph);
output ``alpha`` float32 in [0, 1], shape N,1,H,W (softmax channel 1). BatchNorm is folded
into the convolutions. Metadata (``vcam.*`` keys) records input size, colour order, width
multiplier and the training commit.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import onnx
import torch

from vcam.nets.mmnet import AlphaHead, MMNet

INPUT_NAME = "image"
OUTPUT_NAME = "alpha"


def git_commit(default: str = "unknown") -> str:
    """The current git commit of this checkout (with ``+dirty`` when it has local changes)."""
    try:
        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return default


def export_onnx(
    net: MMNet,
    path: str | Path,
    height: int,
    width: int,
    dynamic: bool = False,
    metadata: dict[str, str] | None = None,
    opset: int = 17,
) -> Path:
    """Write ``net`` as an ONNX alpha model at a fixed ``height`` x ``width`` (or dynamic H/W)."""
    if height % 16 or width % 16:
        raise ValueError(f"input size {height}x{width}: height and width must be multiples of 16")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = AlphaHead(net).eval()
    dummy = torch.rand(1, 3, height, width)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    if dynamic:
        axes = {
            INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
            OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"},
        }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(path))
    props = {
        "vcam.input_height": str(height),
        "vcam.input_width": str(width),
        "vcam.dynamic_size": "1" if dynamic else "0",
        "vcam.color_order": "RGB",
        "vcam.input_range": "0..1",
        "vcam.layout": "NCHW",
        "vcam.width_multiplier": str(net.width),
        "vcam.training_commit": git_commit(),
        "vcam.architecture": "MMNet",
    }
    if getattr(net, "deploy_note", ""):  # the fused inference form (vcam.nets.deploy)
        props["vcam.deploy"] = net.deploy_note
    props.update(metadata or {})
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "vcam"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
