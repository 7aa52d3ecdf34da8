"""``pareto``: quality against latency, from the JSON results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import shown

# ---------------------------------------------------------------------------------------------
# pareto: quality against latency, from the JSON results


def load_latency(paths: list[Path], threads: int) -> tuple[dict[str, dict], dict]:
    """Latency rows by model name at ``threads`` (the first file naming a model wins) and the
    first file's header (machine, load)."""
    rows: dict[str, dict] = {}
    header: dict = {}
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
            results = report["results"][str(threads)]
        except (OSError, ValueError, KeyError) as exc:
            raise SystemExit(
                f"error: {path}: no latency results for {threads} thread(s) ({exc}): "
                "give a JSON written by `benchmark.py models` or `variants`"
            ) from None
        header = header or report
        for row in results:
            rows.setdefault(row["name"], row)
    return rows, header


def load_quality(paths: list[Path], set_name: str) -> dict[str, dict]:
    """Metrics by model name for ``set_name`` from scripts/evaluate.py's results.json files."""
    found: dict[str, dict] = {}
    for path in paths:
        try:
            rows = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {path}: not an evaluate.py results.json ({exc})") from None
        for row in rows:
            if row.get("set") == set_name:
                found.setdefault(row["model"], row["metrics"])
    return found


def pareto_front(points: list[tuple[float, float]], lower_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both latency and quality, by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best = [], None
    for i in order:
        q = points[i][1] if lower_is_better else -points[i][1]
        if best is None or q < best:
            front.append(i)
            best = q
    return front


COLOURS = {
    "fp32": "#4c72b0",
    "opt": "#55a868",
    "int8": "#dd8452",
    "fused": "#8172b3",
    "mediapipe": "#c44e52",
}
MARKERS = {"fp32": "o", "opt": "s", "int8": "^", "fused": "D", "mediapipe": "*"}
STYLE_LABELS = {
    "fp32": "MMNet fp32 (plain export)",
    "opt": "MMNet fp32, exact graph rewrites",
    "int8": "MMNet int8 (QDQ)",
    "fused": "MMNet int8, fused inference form",
    "mediapipe": "MediaPipe selfie",
}


def _style(row: dict) -> str:
    if row["kind"] == "mediapipe":
        return "mediapipe"
    if "fused" in row.get("rewrites", "").split(","):
        return "fused"
    if row["precision"] == "fp32" and row.get("rewrites"):
        return "opt"
    return row["precision"] if row["precision"] in COLOURS else "fp32"


def _group(row: dict) -> str:
    """The net a row is a form of: its name without the precision suffix (the fp32, opt and
    int8 files of one export share it), shortened for the chart."""
    if row["kind"] == "mediapipe":
        return row["name"].replace("mediapipe-selfie-", "MediaPipe ")
    name = row["name"]
    for suffix in ("-int8-fused", "-fp32", "-opt", "-int8"):
        name = name.removesuffix(suffix)
    if name.startswith("mmnet-w"):  # a variant: mmnet-w1-144x256[-untrained]
        name = name.removeprefix("mmnet-").replace("-untrained", "").replace("-", " ")
        name += "" if row.get("trained", True) else " (untrained)"
    return name


def _order(row: dict) -> tuple:
    """MediaPipe first, then variants by width (trained before untrained) and input pixels,
    then other files (e.g. the shipped models)."""
    height, width = (int(v) for v in row["input_size"].split("x"))
    return (
        row["kind"] != "mediapipe",
        not row["name"].startswith("mmnet-w"),
        row.get("width") or 0.0,
        not row.get("trained", True),
        height * width,
        row["name"],
    )


def _errorbar(ax, row: dict, x: float, y: float) -> None:
    style = _style(row)
    ax.errorbar(
        x,
        y,
        xerr=[[x - row["min_ms"]], [max(0.0, row["p90_ms"] - x)]],
        fmt=MARKERS[style],
        ms=13 if style == "mediapipe" else 7,
        color=COLOURS[style],
        ecolor=COLOURS[style],
        elinewidth=0.7,
        alpha=0.85,
        zorder=3,
    )


def plot_pareto(
    latency: dict[str, dict], quality: dict[str, dict], header: dict, args: argparse.Namespace
) -> list[dict]:
    """Quality (SAD, IoU) against median latency for every trained model with both results,
    precisions of one net joined by a line, and below, the latency of every variant (untrained
    widths included: latency only). Returns the plotted points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for name, row in latency.items():
        if name in quality and row.get("trained", True):
            points.append({**row, "sad": quality[name]["sad"], "iou": quality[name]["iou"]})
    if not points:
        raise SystemExit(
            "error: no model has both a latency and a quality result: the names in the latency "
            "JSON must match the model names of evaluate.py (file stems)"
        )
    fig = plt.figure(figsize=(14, 10))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1])
    frame = header.get("frame_size", ["?", "?"])
    xlabel = (
        f"ms per {frame[0]}x{frame[1]} frame, median (bars: min..p90), {args.threads} thread(s)"
    )
    for col, metric, lower in ((0, "sad", True), (1, "iou", False)):
        ax = fig.add_subplot(grid[0, col])
        groups: dict[str, list[dict]] = {}
        for p in points:
            groups.setdefault(_group(p), []).append(p)
        for label, members in groups.items():
            members.sort(key=lambda p: p["median_ms"])
            ax.plot(
                [p["median_ms"] for p in members],
                [p[metric] for p in members],
                color="0.75",
                lw=0.8,
                zorder=1,
            )
            for p in members:
                _errorbar(ax, p, p["median_ms"], p[metric])
            ax.annotate(
                label,
                (members[0]["median_ms"], members[0][metric]),
                fontsize=7,
                xytext=(-4, 5),
                textcoords="offset points",
                ha="right",
            )
        xs = [p["median_ms"] for p in points]
        ys = [p[metric] for p in points]
        front = pareto_front(list(zip(xs, ys, strict=True)), lower)
        ax.plot(
            [xs[i] for i in front], [ys[i] for i in front], color="0.45", lw=1, ls="--", zorder=2
        )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(
            f"{args.set} SAD (lower is better)" if lower else f"{args.set} IoU (higher is better)"
        )
        ax.grid(alpha=0.3, which="both")
    # Latency of every variant, trained or not, one row per net.
    ax = fig.add_subplot(grid[1, :])
    rows = sorted(latency.values(), key=_order)
    labels: list[str] = []
    for r in rows:
        label = _group(r)
        if label not in labels:
            labels.append(label)
        _errorbar(ax, r, r["median_ms"], labels.index(label))
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(xlabel + "; untrained nets: latency only", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    handles = [
        plt.Line2D([], [], color=COLOURS[k], marker=MARKERS[k], ls="", label=v)
        for k, v in STYLE_LABELS.items()
    ]
    handles.append(plt.Line2D([], [], color="0.45", ls="--", label="Pareto front"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    load = header.get("load_average_before", [float("nan")])[0]
    fig.suptitle(
        f"Quality vs latency: MMNet variants and MediaPipe selfie "
        f"({header.get('machine', {}).get('cpu', '?')}, load {load:.1f}, "
        f"{header.get('date', '')[:16]})",
        fontsize=11,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    return points


def cmd_pareto(args: argparse.Namespace) -> int:
    latency, header = load_latency(args.latency, args.threads)
    quality = load_quality(args.quality, args.set)
    points = plot_pareto(latency, quality, header, args)
    peers = {p["name"]: p for p in points if p["kind"] == "mediapipe"}
    print(f"wrote {shown(args.out)} ({len(points)} models)")
    print("| model | ms | SAD | IoU | " + " | ".join(f"x {n}" for n in peers) + " |")
    for p in sorted(points, key=lambda p: p["median_ms"]):
        ratios = " | ".join(f"{p['ratio'].get(n, float('nan')):.2f}" for n in peers)
        cells = f"{p['name']} | {p['median_ms']:.2f} | {p['sad']:.2f} | {p['iou']:.4f}"
        print(f"| {cells} | {ratios} |")
    return 0
