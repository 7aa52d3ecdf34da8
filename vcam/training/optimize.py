"""Exact ONNX graph rewrites that make an exported MMNet cheaper on the CPU.

Both rewrites give the same alpha up to float rounding (parity is checked by
``scripts/quantize.py`` and the tests); they only move linear work to where it costs less:

- ``fold_alpha_head``: the export ends with ``Resize x2 -> Resize x2 -> Conv 1x1 (C -> 2) ->
  Softmax(axis=1) -> Slice[:, 1:2]``. ``softmax(z)[1] = sigmoid(z1 - z0)`` and a 1x1 convolution
  commutes with bilinear resizing (both linear; the bilinear weights sum to 1, so the bias
  passes through), so it becomes ``Conv 1x1 (C -> 1, weights w1 - w0) -> Resize -> Resize ->
  Sigmoid``: the convolution runs at 1/16 of the pixels, the resizes on one channel instead of
  C, and onnxruntime's slow channel softmax (about a tenth of the whole run) is gone.
- ``split_concat_convs``: every encoder block ends with ``Concat(branches) -> Conv 1x1``, which
  equals the sum of one 1x1 convolution per branch (``W[:, branch channels]``). onnxruntime's
  NCHWc layout (AVX-512: blocks of 16 channels) cannot concatenate branches of 24, 40 or 120
  channels without reordering both ways; the sum form needs no Concat, and the NCHWc
  convolutions accumulate the Adds in place.

Training-time code (needs ``onnx``); the runtime just loads the rewritten file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)


class _Graph:
    """Index of a graph's producers, consumers and initializers."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in self.graph.output}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer or a Constant node's output (through Identity nodes,
        which the exporter inserts for shared weights), else None."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Identity":
            return self.constant(node.input[0])
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        """The single node reading ``name`` (None when several, none, or a graph output)."""
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs:
            return None
        return users[0]


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_pointwise_conv(g: _Graph, node: onnx.NodeProto) -> bool:
    """A plain 1x1 convolution (stride 1, no padding, no groups) with constant weights."""
    if node.op_type != "Conv" or g.constant(node.input[1]) is None:
        return False
    a = _attrs(node)
    weight = g.constant(node.input[1])
    return (
        weight.ndim == 4
        and weight.shape[2:] == (1, 1)
        and a.get("group", 1) == 1
        and all(s == 1 for s in a.get("strides", [1, 1]))
        and all(p == 0 for p in a.get("pads", [0, 0, 0, 0]))
        and all(d == 1 for d in a.get("dilations", [1, 1]))
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        and (len(node.input) < 3 or not node.input[2] or g.constant(node.input[2]) is not None)
    )


def _linear_resize(g: _Graph, node: onnx.NodeProto) -> bool:
    """A bilinear Resize by constant scales that keep batch and channels (weights sum to 1)."""
    if node.op_type != "Resize" or len(node.input) < 3 or not node.input[2]:
        return False
    a = _attrs(node)
    mode = a.get("mode", b"nearest")
    transform = a.get("coordinate_transformation_mode", b"half_pixel")
    scales = g.constant(node.input[2])
    return (
        mode in (b"linear", "linear")
        and transform not in (b"tf_crop_and_resize", "tf_crop_and_resize")
        and scales is not None
        and scales.shape == (4,)
        and float(scales[0]) == 1.0
        and float(scales[1]) == 1.0
        and (len(node.input) < 4 or not node.input[3])
    )


def _channel_slice(g: _Graph, node: onnx.NodeProto) -> int | None:
    """The channel a ``Slice`` keeps when it takes one channel on axis 1, else None."""
    if node.op_type != "Slice" or len(node.input) < 4:
        return None
    starts, ends, axes = (g.constant(n) for n in node.input[1:4])
    steps = g.constant(node.input[4]) if len(node.input) > 4 and node.input[4] else None
    if starts is None or ends is None or axes is None or starts.size != 1 or axes.size != 1:
        return None
    if int(axes[0]) != 1 or (steps is not None and int(steps[0]) != 1):
        return None
    start, end = int(starts[0]), int(ends[0])
    return start if end == start + 1 and start in (0, 1) else None


def fold_alpha_head(model: onnx.ModelProto) -> bool:
    """Rewrite ``Resize* -> Conv(C->2) -> Softmax(1) -> Slice[k]`` as ``Conv(C->1) -> Resize*
    -> Sigmoid`` in place. Returns True when the pattern was found and rewritten."""
    g = _Graph(model)
    for softmax in list(g.graph.node):
        if softmax.op_type != "Softmax" or _attrs(softmax).get("axis", -1) != 1:
            continue
        conv = g.producer.get(softmax.input[0])
        sliced = g.only_consumer(softmax.output[0])
        if conv is None or sliced is None or not _is_pointwise_conv(g, conv):
            continue
        keep = _channel_slice(g, sliced)
        weight = g.constant(conv.input[1])
        if keep is None or weight.shape[0] != 2 or g.only_consumer(conv.output[0]) is None:
            continue
        bias = (
            g.constant(conv.input[2])
            if len(conv.input) > 2 and conv.input[2]
            else np.zeros(2, np.float32)
        )
        # Walk up through the bilinear resizes that only feed this head.
        resizes: list[onnx.NodeProto] = []
        source = conv.input[0]
        while True:
            node = g.producer.get(source)
            if node is None or not _linear_resize(g, node) or g.only_consumer(source) is None:
                break
            resizes.insert(0, node)
            source = node.input[0]
        other = 1 - keep
        diff_w = (weight[keep] - weight[other])[None].astype(np.float32)
        diff_b = np.array([bias[keep] - bias[other]], np.float32)
        prefix = conv.name or "alpha_head"
        w_name, b_name = f"{prefix}/diff_weight", f"{prefix}/diff_bias"
        g.graph.initializer.extend(
            [numpy_helper.from_array(diff_w, w_name), numpy_helper.from_array(diff_b, b_name)]
        )
        logit = f"{prefix}/logit_difference"
        new_conv = helper.make_node(
            "Conv", [source, w_name, b_name], [logit], name=f"{prefix}/diff", kernel_shape=[1, 1]
        )
        new_nodes = [new_conv]
        current = logit
        for i, resize in enumerate(resizes):
            out = f"{prefix}/logit_resized_{i}"
            inputs = [current, *resize.input[1:]]
            new_nodes.append(
                helper.make_node(
                    "Resize", inputs, [out], name=f"{prefix}/resize_{i}", **_attrs(resize)
                )
            )
            current = out
        new_nodes.append(
            helper.make_node("Sigmoid", [current], [sliced.output[0]], name=f"{prefix}/sigmoid")
        )
        removed = {id(n) for n in [*resizes, conv, softmax, sliced]}
        kept = [n for n in g.graph.node if id(n) not in removed]
        del g.graph.node[:]
        g.graph.node.extend(_toposort(model, kept + new_nodes))
        _drop_unused(model)
        log.info("folded the alpha head (%d resizes) into a one-channel sigmoid", len(resizes))
        return True
    return False


def split_concat_convs(model: onnx.ModelProto, block: int | None = None) -> int:
    """Rewrite ``Concat(axis=1) -> Conv 1x1`` as a sum of per-input 1x1 convolutions, in place.

    ``block``: only rewrite concatenations with an input whose channel count is not a multiple
    of ``block`` (None: all of them). Returns the number of rewritten concatenations."""
    model_shapes = onnx.shape_inference.infer_shapes(model)
    channels = {}
    for info in [*model_shapes.graph.value_info, *model_shapes.graph.input]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            channels[info.name] = dims[1].dim_value
    g = _Graph(model)
    rewritten = 0
    replacements: dict[int, list[onnx.NodeProto]] = {}
    removed: set[int] = set()
    for concat in g.graph.node:
        if concat.op_type != "Concat" or _attrs(concat).get("axis") != 1 or len(concat.input) < 2:
            continue
        conv = g.only_consumer(concat.output[0])
        if conv is None or not _is_pointwise_conv(g, conv):
            continue
        sizes = [channels.get(name) for name in concat.input]
        if any(s is None for s in sizes):
            continue
        if block is not None and all(s % block == 0 for s in sizes):
            continue
        weight = g.constant(conv.input[1])
        if weight.shape[1] != sum(sizes):
            continue
        has_bias = len(conv.input) > 2 and bool(conv.input[2])
        prefix = conv.name or f"split_{rewritten}"
        nodes: list[onnx.NodeProto] = []
        partial = None
        start = 0
        for i, (name, size) in enumerate(zip(concat.input, sizes, strict=True)):
            part = np.ascontiguousarray(weight[:, start : start + size]).astype(np.float32)
            start += size
            w_name = f"{prefix}/part_{i}_weight"
            g.graph.initializer.append(numpy_helper.from_array(part, w_name))
            inputs = [name, w_name] + ([conv.input[2]] if i == 0 and has_bias else [])
            out = f"{prefix}/part_{i}"
            nodes.append(
                helper.make_node(
                    "Conv", inputs, [out], name=f"{prefix}/part_{i}", kernel_shape=[1, 1]
                )
            )
            if partial is None:
                partial = out
                continue
            last = i == len(sizes) - 1
            total = conv.output[0] if last else f"{prefix}/sum_{i}"
            nodes.append(helper.make_node("Add", [partial, out], [total], name=f"{prefix}/add_{i}"))
            partial = total
        replacements[id(conv)] = nodes
        removed.add(id(concat))
        rewritten += 1
    if rewritten:
        new_nodes = []
        for node in g.graph.node:
            if id(node) in removed:
                continue
            new_nodes.extend(replacements.get(id(node), [node]))
        del g.graph.node[:]
        g.graph.node.extend(_toposort(model, new_nodes))
        _drop_unused(model)
        log.info("split %d concat + 1x1 convolutions into sums", rewritten)
    return rewritten


def _toposort(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` in an order where every input is produced before it is read (stable)."""
    ready = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    ready.add("")
    pending = list(nodes)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"graph has a cycle or a missing input at node {rest[0].name!r}")
        pending = rest
    return ordered


def _drop_unused(model: onnx.ModelProto) -> None:
    """Remove initializers, Constant and Identity nodes nothing reads any more."""
    graph = model.graph
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {o.name for o in graph.output}
        dead = [
            n
            for n in graph.node
            if n.op_type in ("Constant", "Identity") and n.output[0] not in used
        ]
        for node in dead:
            graph.node.remove(node)
        if not dead:
            break
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def optimize_model(
    model: onnx.ModelProto, head: bool = True, split: bool = True, block: int | None = None
) -> dict[str, int]:
    """Apply the rewrites in place; returns what was done (``head``: 0/1, ``split``: count)."""
    done = {"head": 0, "split": 0}
    if head:
        done["head"] = int(fold_alpha_head(model))
    if split:
        done["split"] = split_concat_convs(model, block)
    props = [p for p in model.metadata_props if p.key != "vcam.graph_rewrites"]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = "vcam.graph_rewrites", ",".join(k for k, v in done.items() if v)
    onnx.checker.check_model(model)
    return done


def optimize_file(src: str | Path, dst: str | Path, **options) -> dict[str, int]:
    """Read ``src``, apply :func:`optimize_model`, write ``dst``."""
    model = onnx.load(str(src))
    done = optimize_model(model, **options)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return done
