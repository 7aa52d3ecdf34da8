"""Convert MMNet to LiteRT: fp32 with litert-torch, fp16 and full int8 with ai-edge-quantizer.

Route (chosen in ``models/MOBILE.md``): :class:`~vcam.mobile.module.MobileMatting` (NHWC, the
quantisation-friendly rearrangement of the ONNX model's function) is converted once to an fp32
.tflite by ``litert_torch.convert``; the fp16 file (fp16 weights, DEQUANTIZE ops in front of
each convolution) and the int8 files are made from that fp32 file by ``ai_edge_quantizer``,
with the int8 activation ranges calibrated on real photos fitted like the runtime fits frames.
The input range is pinned to [0, 1] (scale 1/255), so uint8 camera bytes map exactly.

``ai_edge_quantizer`` writes int8 input and output tensors; :func:`set_io_types` puts a
QUANTIZE/DEQUANTIZE op at each end so the int8 model takes float32 (a drop-in for the fp32
file) or uint8 bytes. Needs the ``[mobile]`` extra (litert-torch, which brings ai-edge-litert
and ai-edge-quantizer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vcam.errors import ModelError
from vcam.fitting import fit

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IO_TYPES = ("int8", "float32", "uint8")
METADATA_NAME = "vcam"


def _import(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ModelError(
            f"{name.split('.')[0]} is not installed: run `pip install -e .[mobile]`"
        ) from None


def convert_fp32(net, height: int, width: int, path: str | Path) -> Path:
    """Convert ``net`` (an eval-mode MMNet) to an fp32 .tflite at ``height`` x ``width``."""
    if height % 16 or width % 16:
        raise ValueError(f"input size {height}x{width}: height and width must be multiples of 16")
    torch = _import("torch")
    litert_torch = _import("litert_torch")
    litert_torch.config.show_progress = False  # its progress tree goes to stdout
    from vcam.mobile.module import INPUT_NAME, MobileMatting

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = MobileMatting(net)
    sample = torch.rand(1, height, width, 3)
    edge = litert_torch.convert(module, sample_kwargs={INPUT_NAME: sample})
    edge.export(str(path))
    return path


def quantize_fp16(fp32_path: str | Path) -> bytes:
    """fp16 weights (halves the weights; GPU delegates run fp16), float32 input and output."""
    quantizer = _import("ai_edge_quantizer.quantizer")
    algorithms = _import("ai_edge_quantizer.algorithm_manager")
    qtyping = _import("ai_edge_quantizer.qtyping")
    q = quantizer.Quantizer(str(fp32_path))
    q.add_weight_only_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        algorithm_key=algorithms.AlgorithmName.FLOAT_CASTING,
    )
    return bytes(q.quantize().quantized_model)


def calibration_images(folder: str | Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` photos of ``folder`` (or ``folder/image``), evenly spread over the sorted file
    list, fitted to ``size`` like the runtime does: float32 RGB [0, 1], NHWC [1,H,W,3]."""
    import cv2

    folder = Path(folder)
    if (folder / "image").is_dir():
        folder = folder / "image"
    if not folder.is_dir():
        raise ModelError(f"calibration folder {folder} not found: pass --calibration DIR")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"no .jpg/.png images in {folder}: pass --calibration DIR")
    if count < len(files):
        files = [files[i] for i in np.linspace(0, len(files) - 1, count).round().astype(int)]
    batch = []
    for file in files:
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ModelError(f"cannot read calibration image {file}")
        small, _ = fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
        batch.append((small.astype(np.float32) * np.float32(1.0 / 255.0))[None])
    return batch


def quantize_int8(fp32_path: str | Path, calibration: Sequence[np.ndarray]) -> bytes:
    """Full int8 (per-channel int8 weights, int8 activations, int8 input and output) from the
    fp32 file, activation ranges calibrated on ``calibration`` (NHWC float [0, 1] batches).
    Give it float32 or uint8 ends with :func:`set_io_types`."""
    if not calibration:
        raise ModelError("no calibration images")
    quantizer = _import("ai_edge_quantizer.quantizer")
    recipe = _import("ai_edge_quantizer.recipe")
    interpreter = _import("ai_edge_litert.interpreter")

    probe = interpreter.Interpreter(model_path=str(fp32_path))
    signatures = probe.get_signature_list()
    (signature,) = signatures
    (arg,) = signatures[signature]["inputs"]
    input_name = probe.get_input_details()[0]["name"]
    q = quantizer.Quantizer(str(fp32_path), recipe.static_wi8_ai8())
    ranges = q.calibrate({signature: [{arg: x} for x in calibration]}, num_threads=1)
    # The model contract says [0, 1]: pin it, so the input scale is exactly 1/255 and uint8
    # bytes need no arithmetic (calibration's moving average would give a slightly narrower one).
    observed = ranges[input_name]
    ranges[input_name] = {
        "min": np.zeros_like(observed["min"]),
        "max": np.ones_like(observed["max"]),
    }
    return bytes(q.quantize(ranges).quantized_model)


def set_io_types(model: bytes, io: str) -> bytes:
    """Give an int8-I/O model ``io`` input and output: "int8" leaves it as it is; "float32"
    and "uint8" add a QUANTIZE op after the new input (float -> int8, or uint8 -> int8
    requantisation with zero point + 128) and a DEQUANTIZE (-> float) or QUANTIZE (-> uint8)
    op before the new output."""
    if io not in IO_TYPES:
        raise ValueError(f"io {io!r}: use one of {IO_TYPES}")
    if io == "int8":
        return model
    schema = _import("ai_edge_litert.schema_py_generated")
    obj = _read(model)
    graph = obj.subgraphs[0]
    new_type = {"float32": schema.TensorType.FLOAT32, "uint8": schema.TensorType.UINT8}[io]

    def opcode(builtin: int) -> int:
        for index, code in enumerate(obj.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return index
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, 127)
        code.version = 2  # int8 (de)quantisation
        obj.operatorCodes.append(code)
        return len(obj.operatorCodes) - 1

    def boundary_tensor(old_index: int) -> int:
        old = graph.tensors[old_index]
        if old.type != schema.TensorType.INT8:
            raise ModelError("set_io_types expects a model with int8 input and output")
        new = schema.TensorT()
        new.shape = list(old.shape)
        new.type = new_type
        new.name = old.name
        old.name = _text(old.name) + "_int8"
        buffer = schema.BufferT()
        obj.buffers.append(buffer)
        new.buffer = len(obj.buffers) - 1
        if io == "uint8":
            quant = schema.QuantizationParametersT()
            quant.scale = [float(v) for v in old.quantization.scale]
            quant.zeroPoint = [int(v) + 128 for v in old.quantization.zeroPoint]
            new.quantization = quant
        graph.tensors.append(new)
        return len(graph.tensors) - 1

    def operator(code: int, source: int, target: int) -> object:
        op = schema.OperatorT()
        op.opcodeIndex = code
        op.inputs = [source]
        op.outputs = [target]
        return op

    old_in, old_out = int(graph.inputs[0]), int(graph.outputs[0])
    new_in, new_out = boundary_tensor(old_in), boundary_tensor(old_out)
    quantize = opcode(schema.BuiltinOperator.QUANTIZE)
    out_code = quantize if io == "uint8" else opcode(schema.BuiltinOperator.DEQUANTIZE)
    graph.operators.insert(0, operator(quantize, new_in, old_in))
    graph.operators.append(operator(out_code, old_out, new_out))
    graph.inputs = [new_in]
    graph.outputs = [new_out]
    for signature in obj.signatureDefs or []:
        for entry in signature.inputs:
            if entry.tensorIndex == old_in:
                entry.tensorIndex = new_in
        for entry in signature.outputs:
            if entry.tensorIndex == old_out:
                entry.tensorIndex = new_out
    return _write(obj)


def finalize(model: bytes, metadata: dict[str, str]) -> bytes:
    """The file to ship: ``metadata`` as JSON in the metadata entry ``vcam`` (replacing one
    there), and internal tensors renamed ``t<index>`` (the converter's names are long module
    paths, about 160 KB per model); the input and output keep their names."""
    schema = _import("ai_edge_litert.schema_py_generated")
    obj = _read(model)
    graph = obj.subgraphs[0]
    keep = set(graph.inputs) | set(graph.outputs)
    for index, tensor in enumerate(graph.tensors):
        if index not in keep:
            tensor.name = f"t{index}"
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata, sort_keys=True).encode(), dtype=np.uint8)
    obj.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(obj.buffers) - 1
    kept = [m for m in (obj.metadata or []) if _text(m.name) != METADATA_NAME]
    obj.metadata = [*kept, entry]
    return _write(obj)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _read(model: bytes):
    """The model as a mutable object, with buffers stored past the flatbuffer read inline."""
    utils = _import("ai_edge_litert.tools.flatbuffer_utils")
    return utils.read_model_from_bytearray(bytearray(model))


def _write(obj) -> bytes:
    utils = _import("ai_edge_litert.tools.flatbuffer_utils")
    return bytes(utils.convert_object_to_bytearray(obj))
