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
from vcam.evaluation.metrics import (
    DISTANCE_BANDS,
    HEIGHT_PARTS,
    METRIC_NAMES,
    METRICS,
    alpha_change,
    dtssd,
    errors_by_distance,
    errors_by_height,
)

Predictor = Callable[[np.ndarray], np.ndarray]

# Where the errors are: result keys and the per-image splits they average.
ERROR_BREAKDOWNS = {"errors_by_distance": errors_by_distance, "errors_by_height": errors_by_height}
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
    exclude: Sequence[str] = (),
) -> dict:
    """Mean metrics of ``predict_fn`` over the pairs of ``dataset`` (the first ``limit``).

    Returns ``{"count", "metrics": {name: mean}, "ms_per_frame" (median), "worst_iou",
    "errors_by_distance"}``; when IoU is measured, ``worst_iou`` lists the five lowest-IoU
    images, ``errors_by_distance`` and ``errors_by_height`` the mean shares of
    :func:`errors_by_distance` and :func:`errors_by_height`. With
    ``exclude`` (image names), also ``"metrics_excluding"``: the means without those images.
    """
    pairs = list(dataset)[:limit] if limit else list(dataset)
    if not pairs:
        raise DatasetError("no images to evaluate")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}: use some of {METRIC_NAMES}")
    values: dict[str, list[float]] = {name: [] for name in metrics}
    times = []
    where: dict[str, dict[str, list[list[float]]]] = {
        key: {"kept": [], "lost": []} for key in ERROR_BREAKDOWNS
    }
    for pair in pairs:
        image, gt = read_pair(pair)
        alpha, elapsed = _prediction(predict_fn, image, pair)
        times.append(elapsed)
        for name in metrics:
            values[name].append(METRICS[name](alpha, gt))
        if "iou" in values:
            for key, breakdown in ERROR_BREAKDOWNS.items():
                for name, shares in breakdown(alpha, gt).items():
                    where[key][name].append(shares)
    result = {
        "count": len(pairs),
        "metrics": {name: float(np.mean(v)) for name, v in values.items()},
        "ms_per_frame": statistics.median(times),
    }
    if exclude:
        kept = [i for i, pair in enumerate(pairs) if pair.name not in set(exclude)]
        result["count_excluding"] = len(kept)
        result["metrics_excluding"] = {
            name: float(np.mean([v[i] for i in kept])) for name, v in values.items()
        }
    if "iou" in values:
        order = np.argsort(values["iou"])[:5]
        result["worst_iou"] = [[pairs[i].name, round(values["iou"][i], 4)] for i in order]
        for key, lists in where.items():
            result[key] = {name: np.mean(shares, axis=0).tolist() for name, shares in lists.items()}
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


def _simple_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out) + "\n"


def _real_video_table(rows: Sequence[dict]) -> str:
    clips = sorted({name for row in rows for name in row.get("clips", {})})
    header = ["Model", "Flicker (1e-3), mean"] + [f"{c} (1e-3)" for c in clips]
    header += ["Jumps > 64 levels (% of pixels)", "Frames with jumps (%)",
               "Undecided pixels (%)", "Flicker from undecided pixels (%)"]  # fmt: skip
    lines = []
    for row in rows:
        m = row["metrics"]
        cells = [row["model"], f"{m['flicker'] * 1e3:.2f}"]
        cells += [f"{row['clips'][c]['flicker'] * 1e3:.2f}" if c in row["clips"] else "-"
                  for c in clips]  # fmt: skip
        cells += [f"{m['jump_share'] * 100:.3f}", f"{m['jump_frames'] * 100:.1f}"]
        cells += [
            f"{m[k] * 100:.1f}" if k in m else "-" for k in ("uncertain", "flicker_uncertain")
        ]
        lines.append(cells)
    return _simple_table(header, lines)


def _blur_probe_table(rows: Sequence[dict]) -> str:
    header = ["Model", "IoU unchanged", "background blurred", "person blurred",
              "background sharpened"]  # fmt: skip
    lines = []
    for row in rows:
        m = row["metrics"]
        cells = [row["model"], f"{m['none']:.4f}"]
        for case in ("background_blurred", "person_blurred", "background_sharpened"):
            cells.append(f"{m[case]:.4f} ({m[case + '_change']:+.4f})")
        lines.append(cells)
    return _simple_table(header, lines)


def _shift_probe_table(rows: Sequence[dict]) -> str:
    header = ["Model", "1-px shift (1e-3)", "3-px shift (1e-3)", "JPEG q80 (1e-3)"]
    lines = [
        [row["model"]]
        + [f"{row['metrics'][k] * 1e3:.2f}" for k in ("shift_1px", "shift_3px", "jpeg_80")]
        for row in rows
    ]
    return _simple_table(header, lines)


def _without_duplicates_table(rows: Sequence[dict]) -> str:
    header = ["Model", "N", "SAD", "MSE (1e-3)", "IoU"]
    lines = []
    for row in rows:
        m = row["metrics_excluding"]
        lines.append([row["model"], str(row["count_excluding"]), f"{m['sad']:.2f}",
                      f"{m['mse'] * 1e3:.2f}", f"{m['iou']:.4f}"])  # fmt: skip
    return _simple_table(header, lines)


def _errors_table(rows: Sequence[dict], key: str, names: Sequence[str]) -> str:
    """Background kept and person lost per band (``names``) of ``row[key]``, % of all pixels."""
    header = ["Model"] + [f"kept {n}" for n in names] + [f"lost {n}" for n in names]
    lines = []
    for row in rows:
        where = row[key]
        lines.append([row["model"]] + [f"{v * 100:.2f}" for v in where["kept"] + where["lost"]])
    return _simple_table(header, lines)


def _distance_names() -> list[str]:
    bands = [0.0, *DISTANCE_BANDS]
    names = [f"{lo * 100:g}-{hi * 100:g}%" for lo, hi in zip(bands, bands[1:], strict=False)]
    return [*names, f"> {DISTANCE_BANDS[-1] * 100:g}%"]


def markdown_report(rows: Sequence[dict]) -> str:
    """The results as Markdown: real footage first (photos, video, shortcut probes), then the
    composite diagnostics."""
    by_set: dict[str, list[dict]] = {}
    for row in rows:
        by_set.setdefault(row["set"], []).append(row)
    parts = []
    if "shen-test" in by_set:
        shen = by_set["shen-test"]
        parts.append("## Real photos: portraits-shen2016/test\n\n" + markdown_table(shen))
        if all("metrics_excluding" in r for r in shen):
            parts.append(
                "Without the test photos that duplicate training photos:\n\n"
                + _without_duplicates_table(shen)
            )
        if all("errors_by_distance" in r for r in shen):
            parts.append(
                "Where the errors are: wrong pixels at alpha 0.5 as % of all pixels, background "
                "kept and person lost, by distance from the true boundary (% of the image "
                "height):\n\n" + _errors_table(shen, "errors_by_distance", _distance_names())
            )
        if all("errors_by_height" in r for r in shen):
            parts.append(
                "The same errors by quarter of the image height, top (1/4) to bottom (4/4):\n\n"
                + _errors_table(
                    shen,
                    "errors_by_height",
                    [f"{i + 1}/{HEIGHT_PARTS}" for i in range(HEIGHT_PARTS)],
                )
            )
    if "talking-heads" in by_set:
        parts.append(
            "## Real video: talking-heads (no labels)\n\n"
            "Flicker: mean alpha change where the grey level changed by less than 2 levels; "
            "jumps: alpha changes over 64 levels between consecutive frames; undecided: "
            "alpha between 0.05 and 0.95, and the part of the flicker that comes from "
            "pixels undecided in either frame.\n\n" + _real_video_table(by_set["talking-heads"])
        )
    if "blur-probe" in by_set:
        parts.append(
            "## Shortcut probe: blur (IoU, change from unchanged)\n\n"
            + _blur_probe_table(by_set["blur-probe"])
        )
    if "shift-probe" in by_set:
        parts.append(
            "## Shortcut probe: shift and JPEG (mean alpha change)\n\n"
            + _shift_probe_table(by_set["shift-probe"])
        )
    diagnostics = [r for name in ("hard16x9", "flicker") for r in by_set.get(name, [])]
    if diagnostics:
        parts.append(
            "## Diagnostics: composites (not a yardstick for real footage)\n\n"
            + markdown_table(diagnostics)
        )
    return "\n".join(parts)


def write_report(rows: Sequence[dict], out_dir: str | Path, notes: str = "") -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "results.md"
    js = out_dir / "results.json"
    md.write_text("# Evaluation\n\n" + markdown_report(rows) + ("\n" + notes if notes else ""))

    def clean(row: dict) -> dict:
        metrics = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in row["metrics"].items()
        }
        return dict(row, metrics=metrics)

    payload = [clean(row) for row in rows]
    js.write_text(json.dumps(payload, indent=1) + "\n")
    return md, js
