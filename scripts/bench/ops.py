"""``ops``: where onnxruntime spends a model's time, and its int8 depthwise kernel."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_MODEL, machine, measure, parse_hw, parse_list, shown, write_reports

# ---------------------------------------------------------------------------------------------
# ops: where onnxruntime spends a model's time, and its int8 depthwise kernel by channel count


def op_profile(path: Path, threads: int, runs: int) -> tuple[float, dict[str, dict]]:
    """onnxruntime's own profile of ``runs`` inferences: (median run ms, per kind of node: ms
    per run and nodes per run). Depthwise convolutions are told apart from the others."""
    import onnx
    import onnxruntime as ort

    from vcam.matting import session_options

    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "ops")
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed_info = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in feed_info.shape]
        feed = {feed_info.name: np.random.default_rng(0).random(shape, dtype=np.float32)}
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
        groups = {}
        for node in onnx.load(options.optimized_model_filepath).graph.node:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            groups[node.name] = group
    totals: dict[str, list[float]] = {}
    run_times = [e["dur"] / 1e3 for e in events if e.get("name") == "model_run"]
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        kind = e["args"]["op_name"]
        if kind in ("QLinearConv", "Conv", "NchwcConv", "FusedConv"):
            depthwise = groups.get(e["name"].removesuffix("_kernel_time"), 1) > 1
            kind += " depthwise" if depthwise else ""
        totals.setdefault(kind, [0.0, 0])
        totals[kind][0] += e["dur"] / 1e3
        totals[kind][1] += 1
    count = max(1, len(run_times))
    kinds = {
        k: {"ms": v[0] / count, "nodes": v[1] / count}
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1][0])
    }
    return float(np.median(run_times)), kinds


def depthwise_model(channels: int, height: int, width: int, dilation: int):
    """One int8 (U8S8, per-channel) 3x3 depthwise QLinearConv, as the quantizer writes it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(channels)
    weight = rng.integers(-100, 100, (channels, 1, 3, 3)).astype(np.int8)
    constants = {
        "w": weight,
        "w_scale": np.full(channels, 0.01, np.float32),
        "w_zero": np.zeros(channels, np.int8),
        "x_scale": np.array(0.02, np.float32),
        "x_zero": np.array(128, np.uint8),
        "y_scale": np.array(0.03, np.float32),
        "y_zero": np.array(128, np.uint8),
        "bias": np.zeros(channels, np.int32),
    }
    inputs = ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero", "bias"]
    node = helper.make_node(
        "QLinearConv",
        inputs,
        ["y"],
        group=channels,
        kernel_shape=[3, 3],
        dilations=[dilation, dilation],
        pads=[dilation] * 4,
    )
    shape = [1, channels, height, width]
    graph = helper.make_graph(
        [node],
        "depthwise",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, shape)],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, shape)],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def cmd_ops(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from vcam.matting import session_options

    paths = [Path(p) for p in args.models] or [DEFAULT_MODEL]
    report: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    lines = [
        "# onnxruntime per-node profile and the int8 depthwise kernel",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {machine()['cpu']}, onnxruntime "
        f"{machine()['onnxruntime']}, {args.threads} thread(s), load average "
        f"{os.getloadavg()[0]:.2f}. Profiling adds a little to every node.",
        "",
    ]
    report["models"] = {}
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"error: model {path} not found")
        median, kinds = op_profile(path, args.threads, args.repeat)
        report["models"][shown(path)] = {"median_run_ms": median, "kinds": kinds}
        lines += [f"## {shown(path)}: median run {median:.2f} ms (profiled)", ""]
        lines += ["| node kind | ms per run | nodes |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['ms']:.3f} | {v['nodes']:g} |" for k, v in kinds.items()]
        lines.append("")
    height, width = parse_hw(args.depthwise_size)
    rows = []
    for channels in parse_list(args.channels, int):
        for dilation in (1, 4):
            model = depthwise_model(channels, height, width, dilation)
            session = ort.InferenceSession(
                model.SerializeToString(), session_options(args.threads), ["CPUExecutionProvider"]
            )
            x = np.random.default_rng(1).integers(0, 255, (1, channels, height, width), np.uint8)
            timing = measure(lambda s=session, x=x: s.run(None, {"x": x}), args.repeat, 20)
            rows.append({"channels": channels, "dilation": dilation, **asdict(timing)})
    report["depthwise"] = {"size": [height, width], "rows": rows}
    lines += [
        f"## One int8 3x3 depthwise QLinearConv on {height}x{width}, by channel count",
        "",
        "| channels | dilation | median us | us per channel |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['channels']} | {r['dilation']} | {r['median_ms'] * 1e3:.0f} | "
        f"{r['median_ms'] * 1e3 / r['channels']:.2f} |"
        for r in rows
    ]
    markdown = "\n".join(lines)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    else:
        print(markdown)
    return 0
