"""Evaluate alpha predictors on data sets and write the results as Markdown and JSON.

``evaluate_model(predict_fn, pairs)`` works with any callable that maps an RGB uint8 image to a
float alpha at the image's size (an ONNX model, the MediaPipe peer, a PyTorch module wrapped by
the training loop). ``evaluate_clips`` adds the flicker figures on clips.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vcam.evaluation.datasets import Clip, DatasetError, Pair, read_pair
from vcam.evaluation.metrics import METRIC_NAMES, METRICS, alpha_change, dtssd

Predictor = Callable[[np.ndarray], np.ndarray]
CLIP_METRICS = ("sad", "mse", "mad", "iou")  # the cheap ones, over every clip frame
FLICKER_NAMES = ("flicker", "dtssd")

# Column title and format of each figure in the Markdown table (JSON keeps raw values).
COLUMNS = {
    "sad": ("SAD", "{:.2f}"),
    "mse": ("MSE (1e-3)", "{:.2f}", 1e3),
    "grad": ("Grad", "{:.2f}"),
    "conn": ("Conn", "{:.2f}"),
    "mad": ("MAD (1e-2)", "{:.2f}", 1e2),
    "gauss_grad": ("Gauss grad (1e-3)", "{:.2f}", 1e3),
    "iou": ("IoU", "{:.4f}"),
    "flicker": ("Flicker static (1e-3)", "{:.2f}", 1e3),
    "dtssd": ("dtSSD", "{:.2f}"),
    "ms_per_frame": ("ms/frame", "{:.1f}"),
}


def _prediction(predict_fn: Predictor, image: np.ndarray, pair: Pair) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    alpha = predict_fn(image)
    elapsed = (time.perf_counter() - start) * 1000.0
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.shape != image.shape[:2]:
        raise ValueError(
            f"the predictor returned an alpha of shape {alpha.shape} for {pair.image} "
            f"({image.shape[1]}x{image.shape[0]}): it must be H x W at the image's size"
        )
    return alpha, elapsed


def evaluate_model(
    predict_fn: Predictor,
    dataset: Sequence[Pair],
    metrics: Sequence[str] = METRIC_NAMES,
    limit: int | None = None,
) -> dict:
    """Mean metrics of ``predict_fn`` over the pairs of ``dataset`` (the first ``limit``).

    Returns ``{"count", "metrics": {name: mean}, "ms_per_frame" (median), "worst_iou"}``;
    ``worst_iou`` lists the five lowest-IoU images (when IoU is measured).
    """
    pairs = list(dataset)[:limit] if limit else list(dataset)
    if not pairs:
        raise DatasetError("no images to evaluate")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}: use some of {METRIC_NAMES}")
    values: dict[str, list[float]] = {name: [] for name in metrics}
    times = []
    for pair in pairs:
        image, gt = read_pair(pair)
        alpha, elapsed = _prediction(predict_fn, image, pair)
        times.append(elapsed)
        for name in metrics:
            values[name].append(METRICS[name](alpha, gt))
    result = {
        "count": len(pairs),
        "metrics": {name: float(np.mean(v)) for name, v in values.items()},
        "ms_per_frame": statistics.median(times),
    }
    if "iou" in values:
        order = np.argsort(values["iou"])[:5]
        result["worst_iou"] = [[pairs[i].name, round(values["iou"][i], 4)] for i in order]
    return result


def evaluate_clips(
    predict_fn: Predictor,
    clips: Sequence[Clip],
    metrics: Sequence[str] = CLIP_METRICS,
    limit: int | None = None,
) -> dict:
    """Per-frame metrics over every clip frame plus two flicker figures (lower is better):

    - ``flicker``: mean absolute alpha change between consecutive frames where only the
      sensor noise changed (the ground truth is identical there);
    - ``dtssd``: dtSSD x 100 over all consecutive frames, against the true alpha's change.
    """
    clips = list(clips)[:limit] if limit else list(clips)
    if not clips:
        raise DatasetError("no clips to evaluate")
    values: dict[str, list[float]] = {name: [] for name in metrics}
    static_changes, temporal, times = [], [], []
    for clip in clips:
        previous = None
        for index, pair in enumerate(clip.frames):
            image, gt = read_pair(pair)
            alpha, elapsed = _prediction(predict_fn, image, pair)
            times.append(elapsed)
            for name in metrics:
                values[name].append(METRICS[name](alpha, gt))
            if previous is not None:
                temporal.append(dtssd(alpha, previous[0], gt, previous[1]))
                if clip.static and clip.static[index]:
                    static_changes.append(alpha_change(alpha, previous[0]))
            previous = (alpha, gt)
    summary = {name: float(np.mean(v)) for name, v in values.items()}
    summary["flicker"] = float(np.mean(static_changes)) if static_changes else math.nan
    summary["dtssd"] = float(np.mean(temporal)) if temporal else math.nan
    return {
        "count": len(times),
        "clips": len(clips),
        "metrics": summary,
        "ms_per_frame": statistics.median(times),
    }


def markdown_table(rows: Sequence[dict]) -> str:
    """A Markdown table of result rows (``{"set", "model", "count", "metrics", ...}``)."""
    keys = list(METRIC_NAMES) + list(FLICKER_NAMES) + ["ms_per_frame"]
    header = ["Set", "Model", "N"] + [COLUMNS[k][0] for k in keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["set"], row["model"], str(row["count"])]
        for key in keys:
            value = row.get("ms_per_frame") if key == "ms_per_frame" else row["metrics"].get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                cells.append("-")
                continue
            spec = COLUMNS[key]
            cells.append(spec[1].format(value * (spec[2] if len(spec) > 2 else 1)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(rows: Sequence[dict], out_dir: str | Path, notes: str = "") -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "results.md"
    js = out_dir / "results.json"
    md.write_text("# Evaluation\n\n" + markdown_table(rows) + ("\n" + notes if notes else ""))

    def clean(row: dict) -> dict:
        metrics = {k: (None if math.isnan(v) else v) for k, v in row["metrics"].items()}
        return dict(row, metrics=metrics)

    payload = [clean(row) for row in rows]
    js.write_text(json.dumps(payload, indent=1) + "\n")
    return md, js
