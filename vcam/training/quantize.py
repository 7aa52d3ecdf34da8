"""Static int8 quantization (QDQ) of an MMNet ONNX model, calibrated on training photos.

The calibration images are fitted into the model input exactly as the runtime fits frames
(``vcam.fitting.fit``, border replicated, RGB in [0, 1], NCHW). Activations are unsigned
8-bit and weights signed 8-bit per output channel: the U8S8 form onnxruntime runs with VNNI /
AVX2 integer kernels on x86. Before quantizing, the alpha head is folded
(``vcam.training.optimize.fold_alpha_head``: exact) so the slow softmax disappears and the
output is a plain sigmoid.

Training-time code (needs ``onnx`` and onnxruntime's quantization tools).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from vcam.fitting import fit
from vcam.training.optimize import fold_alpha_head, optimize_model

log = logging.getLogger(__name__)

CALIBRATION_SET = "portraits-shen2016/train"
METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
HISTOGRAM_MAX_IMAGES = 64  # percentile/entropy hold every activation of every image in memory
# The alpha head's logits are quantized over [-LOGIT_RANGE, LOGIT_RANGE] rather than their
# calibrated range (about -23..17 for MMNet): sigmoid(8) is 0.9997, so nothing beyond is seen
# in an 8-bit alpha, and the logit's step near the edge is 2.5x finer (docs/eval/fast-context.md).
LOGIT_RANGE = 8.0


class QuantizeError(ValueError):
    """A model or the calibration data cannot be used (the message says what to do)."""


def calibration_images(folder: Path, count: int) -> list[Path]:
    """``count`` images spread evenly over ``folder`` (an ``image/`` sub-folder is used when
    there is one), in a fixed order."""
    images_dir = folder / "image" if (folder / "image").is_dir() else folder
    if not images_dir.is_dir():
        raise QuantizeError(f"calibration folder {images_dir} not found: pass --data")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise QuantizeError(f"no .jpg or .png images in {images_dir}")
    if count >= len(images):
        return images
    picks = np.linspace(0, len(images) - 1, count).round().astype(int)
    return [images[i] for i in picks]


def calibration_and_check(folder: Path, count: int, check: int) -> tuple[list[Path], list[Path]]:
    """``count`` calibration images and ``check`` other images of ``folder`` (no overlap), each
    spread evenly."""
    calibration = calibration_images(folder, count)
    chosen = set(calibration)
    rest = [p for p in calibration_images(folder, 10**9) if p not in chosen]
    if check <= 0 or not rest:
        return calibration, []
    picks = np.linspace(0, len(rest) - 1, min(check, len(rest))).round().astype(int)
    return calibration, [rest[i] for i in picks]


def model_input(path: str | Path) -> tuple[str, tuple[int, int]]:
    """(input name, (height, width)) of a model following the vcam contract."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises protobuf's private errors
        raise QuantizeError(f"cannot read model {path}: {exc}".splitlines()[0]) from None
    image = model.graph.input[0]
    dims = image.type.tensor_type.shape.dim
    props = {p.key: p.value for p in model.metadata_props}
    if len(dims) != 4 or dims[1].dim_value != 3:
        raise QuantizeError(f"model {path}: input {image.name} is not [N,3,H,W]")
    height, width = dims[2].dim_value, dims[3].dim_value
    if not (height and width):
        try:
            height, width = int(props["vcam.input_height"]), int(props["vcam.input_width"])
        except (KeyError, ValueError):
            raise QuantizeError(f"model {path}: dynamic input size and no metadata") from None
    return image.name, (height, width)


def fitted_blob(path: Path, input_hw: tuple[int, int]) -> np.ndarray:
    """An image file as the runtime's model input: fitted, RGB, [0, 1], NCHW float32."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise QuantizeError(f"cannot read calibration image {path}")
    small, _ = fit(image, input_hw)
    return cv2.dnn.blobFromImage(small, 1.0 / 255.0, swapRB=True)


class FittedImages(CalibrationDataReader):
    """Calibration batches: one fitted image per call, as the runtime prepares frames."""

    def __init__(self, paths: Sequence[Path], input_name: str, input_hw: tuple[int, int]):
        self.paths = list(paths)
        self.input_name = input_name
        self.input_hw = input_hw
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        return {self.input_name: fitted_blob(path, self.input_hw)}

    def rewind(self) -> None:
        self._next = 0


def _copy_metadata(src: onnx.ModelProto, dst_path: Path, extra: dict[str, str]) -> None:
    """Give the quantized file the source's ``vcam.*`` metadata plus ``extra``."""
    model = onnx.load(str(dst_path))
    props = {p.key: p.value for p in src.metadata_props}
    props.update(extra)
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "vcam"
    onnx.save(model, str(dst_path))


def alpha_head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from the last convolution to the output: the folded alpha head's
    ``Conv(C->1) -> Resize* -> Sigmoid`` (empty when the output is not made that way)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    names: list[str] = []
    node = producer.get(model.graph.output[0].name)
    while node is not None and node.op_type in ("Sigmoid", "Resize"):
        names.append(node.name)
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Conv" or not names:
        return []
    return [node.name, *reversed(names)]


def _head_logits(model: onnx.ModelProto) -> list[str]:
    """The alpha head's logit tensors: every head output but the sigmoid's."""
    names = set(alpha_head_nodes(model))
    return [
        out
        for node in model.graph.node
        if node.name in names and node.op_type != "Sigmoid"
        for out in node.output
    ]


def quantize_model(
    src: str | Path,
    dst: str | Path,
    images: Sequence[Path],
    per_channel: bool = True,
    method: str = "minmax",
    fold_head: bool = True,
    split: bool = False,
    logit_range: float | None = LOGIT_RANGE,
) -> Path:
    """Write an int8 QDQ copy of ``src`` to ``dst``, calibrated on ``images`` (fitted like the
    runtime). ``fold_head``/``split``: the exact graph rewrites of ``vcam.training.optimize``
    applied first (the split helps fp32 NCHWc, not int8). ``logit_range``: the folded alpha
    head's logits (before the sigmoid) are quantized over [-logit_range, logit_range] instead
    of their calibrated range (None: calibrated like every other tensor)."""
    src, dst = Path(src), Path(dst)
    if method not in METHODS:
        raise QuantizeError(f"calibration method {method!r}: use one of {', '.join(METHODS)}")
    if not images:
        raise QuantizeError("no calibration images")
    if method != "minmax" and len(images) > HISTOGRAM_MAX_IMAGES:
        # Histogram calibrators keep every activation of every image in memory.
        picks = np.linspace(0, len(images) - 1, HISTOGRAM_MAX_IMAGES).round().astype(int)
        images = [images[i] for i in picks]
        log.info("%s calibration: using %d images (memory)", method, len(images))
    input_name, input_hw = model_input(src)
    original = onnx.load(str(src))
    if any(node.op_type == "QuantizeLinear" for node in original.graph.node):
        raise QuantizeError(f"model {src} is already quantized (int8): quantize the fp32 export")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        rewritten = onnx.load(str(src))
        if split:
            optimize_model(rewritten, head=fold_head, split=True)
        elif fold_head:
            fold_alpha_head(rewritten)
        staged = Path(folder) / "rewritten.onnx"
        onnx.save(rewritten, str(staged))
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(staged), str(prepared), skip_symbolic_shape=True)
        # A Pad of the float input (the deployed form's folded stem) stays float: quantized,
        # onnxruntime runs it as Quantize -> Dequantize -> Pad -> Quantize.
        prepared_model = onnx.load(str(prepared))
        input_pads = [
            node.name
            for node in prepared_model.graph.node
            if node.op_type == "Pad" and node.input[0] == input_name
        ]
        logits = _head_logits(prepared_model) if logit_range else []
        bound = np.float32(logit_range or 0.0)
        overrides = {name: [{"rmin": -bound, "rmax": bound}] for name in logits}
        quantize_static(
            str(prepared),
            str(dst),
            FittedImages(images, input_name, input_hw),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=METHODS[method],
            nodes_to_exclude=input_pads,
            extra_options={"TensorQuantOverrides": overrides},
            # No CalibMaxIntermediateOutputs: onnxruntime 1.32's MinMax calibrator drops the
            # collected ranges each time that limit is reached (microsoft/onnxruntime#18893),
            # and MinMax only keeps two scalars per tensor and image anyway.
        )
    rewrites = ",".join(n for n, on in (("head", fold_head), ("split", split)) if on)
    _copy_metadata(
        original,
        dst,
        {
            "vcam.precision": "int8",
            "vcam.quantization": (
                f"QDQ U8S8, {'per-channel' if per_channel else 'per-tensor'} weights, "
                f"{method} calibration on {len(images)} fitted training images"
                + (f", alpha logits over +-{logit_range:g}" if logits else "")
            ),
            "vcam.graph_rewrites": rewrites,
        },
    )
    log.info("wrote %s (int8, %d calibration images)", dst, len(images))
    return dst


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare_outputs(reference: str | Path, candidate: str | Path, images: Sequence[Path]) -> dict:
    """How far ``candidate``'s alpha is from ``reference``'s on ``images`` (fitted like the
    runtime): mean and max absolute difference, and the IoU of their ``alpha > 0.5`` masks."""
    input_name, input_hw = model_input(reference)
    ref, cand = _session(Path(reference)), _session(Path(candidate))
    mean_diffs, max_diff, ious = [], 0.0, []
    for path in images:
        blob = fitted_blob(path, input_hw)
        a = ref.run(None, {input_name: blob})[0]
        b = cand.run(None, {cand.get_inputs()[0].name: blob})[0]
        diff = np.abs(a - b)
        mean_diffs.append(float(diff.mean()))
        max_diff = max(max_diff, float(diff.max()))
        ma, mb = a > 0.5, b > 0.5
        union = np.count_nonzero(ma | mb)
        ious.append(1.0 if union == 0 else np.count_nonzero(ma & mb) / union)
    return {
        "images": len(images),
        "mean_abs_diff": float(np.mean(mean_diffs)),
        "max_abs_diff": max_diff,
        "mask_iou": float(np.mean(ious)),
    }
