"""Operators of a .tflite file, read from its flatbuffer, and the checks a mobile model must pass.

Mobile GPU delegates and NPUs run a short list of builtin operators. MMNet's dilated depthwise
convolutions must stay native ``DEPTHWISE_CONV_2D`` ops with dilation factors (converters
sometimes emit ``SPACE_TO_BATCH_ND``/``BATCH_TO_SPACE_ND`` pairs instead, which those delegates
lack). :func:`check_ops` fails on any operator outside :data:`ALLOWED_OPS` and on missing
dilations. Needs only ``ai_edge_litert`` (its flatbuffer schema) and ``flatbuffers``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vcam.errors import ModelError

# Every op the export writes: MMNet's layers (the input normalisation is a 1x1 depthwise
# convolution), the stride-2 convolutions' explicit padding (PyTorch pads 1 on each side where
# TFLite's SAME would pad 0 and 1), the alpha's LOGISTIC, and the (de)quantisation ops of the
# fp16 and int8 files. All run on the TFLite GPU delegate and XNNPACK.
ALLOWED_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "CONCATENATION",
        "PAD",
        "RESIZE_BILINEAR",
        "LOGISTIC",
        "QUANTIZE",
        "DEQUANTIZE",
    }
)
EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
PRECISIONS = ("fp32", "fp16", "int8")
# The dilation rates MMNet's encoder and decoder blocks use (ENCODER_SPEC and dec2/dec3).
EXPECTED_DILATIONS = frozenset({2, 4, 8})


@dataclass(frozen=True)
class Operator:
    """One operator of the main subgraph: type, its first input's dtype, and for
    convolutions stride and dilation."""

    name: str
    dtype: str = ""
    stride: tuple[int, int] | None = None
    dilation: tuple[int, int] | None = None


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, shape, dtype name and quantisation (scale, zero point)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What a .tflite file holds: its operators, inputs, outputs, metadata keys and the
    export's ``vcam`` metadata (JSON: variant, input size, source model, ...)."""

    operators: tuple[Operator, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    subgraphs: int
    metadata: tuple[str, ...]
    vcam: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Operator type -> how many, most frequent first."""
        return dict(Counter(op.name for op in self.operators).most_common())

    def dilations(self) -> dict[int, int]:
        """Dilation rate -> number of depthwise convolutions with it."""
        found = Counter(
            op.dilation[0]
            for op in self.operators
            if op.name == "DEPTHWISE_CONV_2D" and op.dilation is not None
        )
        return dict(sorted(found.items()))


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise ModelError(
            "ai-edge-litert is not installed: run `pip install -e .[mobile]`"
        ) from None
    return schema


def _names(namespace: type) -> dict[int, str]:
    return {v: k for k, v in vars(namespace).items() if not k.startswith("_")}


def read_model_info(path: str | Path) -> ModelInfo:
    """Parse ``path``'s flatbuffer; raises ModelError (one line) when it is not a .tflite file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such .tflite file")
    schema = _schema()
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
        graph = model.subgraphs[0]
    except Exception as exc:  # noqa: BLE001 - flatbuffers raises assorted errors on bad data
        raise ModelError(f"{path}: unreadable TFLite flatbuffer ({type(exc).__name__})") from None
    op_names = _names(schema.BuiltinOperator)
    type_names = _names(schema.TensorType)
    operators = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.customCode or b'').decode(errors='replace')}"
        stride = dilation = None
        options = op.builtinOptions
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and options is not None:
            stride = (options.strideH, options.strideW)
            dilation = (options.dilationHFactor, options.dilationWFactor)
        first = graph.tensors[op.inputs[0]].type if len(op.inputs) else -1
        operators.append(Operator(name, type_names.get(first, "?"), stride, dilation))

    def tensor(index: int) -> TensorInfo:
        t = graph.tensors[index]
        q = t.quantization
        scale = zero = None
        if q is not None and q.scale is not None and len(q.scale) == 1:
            scale, zero = float(q.scale[0]), int(q.zeroPoint[0])
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        shape = tuple(int(v) for v in t.shape) if t.shape is not None else ()
        return TensorInfo(name, shape, type_names.get(t.type, str(t.type)), scale, zero)

    metadata, vcam = [], {}
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
        metadata.append(name)
        if name == "vcam":
            buffer = model.buffers[entry.buffer]
            if buffer.offset > 1:
                raw = data[buffer.offset : buffer.offset + buffer.size]
            else:
                raw = bytes(buffer.data) if buffer.data is not None else b""
            try:
                vcam = json.loads(raw.decode())
            except (UnicodeDecodeError, ValueError):
                raise ModelError(f"{path}: unreadable vcam metadata") from None
    return ModelInfo(
        operators=tuple(operators),
        inputs=tuple(tensor(i) for i in graph.inputs),
        outputs=tuple(tensor(i) for i in graph.outputs),
        subgraphs=len(model.subgraphs),
        metadata=tuple(metadata),
        vcam=vcam,
    )


def check_ops(
    info: ModelInfo,
    precision: str,
    allowed: frozenset[str] = ALLOWED_OPS,
    dilations: frozenset[int] = EXPECTED_DILATIONS,
) -> list[str]:
    """The problems of a converted MMNet of ``precision`` ("fp32", "fp16" or "int8"); empty
    when it is fit for mobile delegates: allow-listed ops only, native dilated depthwise
    convolutions at every expected rate, and every compute op in the precision's arithmetic."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {PRECISIONS}")
    problems = []
    counts = info.counts()
    unexpected = sorted(set(counts) - allowed)
    if unexpected:
        listed = ", ".join(f"{name} x{counts[name]}" for name in unexpected)
        problems.append(f"operators outside the allow-list: {listed}")
    if info.subgraphs != 1:
        problems.append(f"{info.subgraphs} subgraphs (expected 1: control flow crept in)")
    if "DEPTHWISE_CONV_2D" not in counts:
        problems.append("no DEPTHWISE_CONV_2D at all")
    missing = sorted(dilations - set(info.dilations()))
    if missing:
        problems.append(f"no native dilated DEPTHWISE_CONV_2D with rate {missing}")
    lopsided = [op for op in info.operators if op.dilation and op.dilation[0] != op.dilation[1]]
    if lopsided:
        problems.append(f"{len(lopsided)} convolutions with unequal H/W dilation")
    compute = "INT8" if precision == "int8" else "FLOAT32"
    wrong = Counter(
        f"{op.name}({op.dtype})"
        for op in info.operators
        if op.name not in EDGE_OPS and op.dtype != compute
    )
    if wrong:
        listed = ", ".join(f"{name} x{n}" for name, n in sorted(wrong.items()))
        problems.append(f"{precision} model computes outside {compute}: {listed}")
    edges = Counter(f"{op.name}({op.dtype})" for op in info.operators if op.name in EDGE_OPS)
    expected_edges = {
        "fp32": set(),
        "fp16": {"DEQUANTIZE(FLOAT16)"},
        "int8": {"QUANTIZE(FLOAT32)", "QUANTIZE(UINT8)", "QUANTIZE(INT8)", "DEQUANTIZE(INT8)"},
    }[precision]
    odd = sorted(set(edges) - expected_edges)
    if odd:
        problems.append(f"unexpected (de)quantisation in a {precision} model: {', '.join(odd)}")
    return problems
