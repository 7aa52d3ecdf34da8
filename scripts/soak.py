"""Soak test: run the live pipeline for a long time and check that memory stays flat.

    python scripts/soak.py [--minutes 30] [--size 1280x720] [--fps 30] [--input FILE]
        [--model fast] [--background blur] [--switch-every 60] [--sample-every 5]
        [--warm-up 2] [--out docs/soak] [--name soak]

A video file (default: the bundled sample portrait rendered to a 10 s MJPG clip at ``--size``)
is played as a live, looping source paced at ``--fps``, through the model, the refiner and
the background, into a virtual camera (a pyvirtualcam backend that takes each RGB frame and
drops it: no device exists here, the conversion and send path still runs) and a preview
callback. Every ``--switch-every`` seconds the background changes (blur, colour, an image,
blur...) through ``Pipeline.update``, so the rebuild paths soak too.

Every ``--sample-every`` seconds it records the process's RSS (VmRSS from /proc/self/status),
threads, open files, the buffers' lengths (the newest-frame box, the model's job slot, the
stats samples; their maxima are tracked every 0.1 s), frames out/in, inferences, dropped
frames, fps, stage medians and the machine's load. At the end it writes ``NAME.json`` (all
samples and the summary), ``NAME.md`` and ``NAME-rss.png`` (RSS over time) into ``--out``,
prints the summary and exits 1 when memory grew (slope after warm-up above ``--max-slope``
MB per 10 minutes, or growth above ``--max-growth`` MB).

Without a shipped model it exports an UNTRAINED MMNet(0.5) at 144x256 (needs torch): its
speed and memory are the real architecture's, its alpha is meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import pyvirtualcam  # noqa: E402
from bench.common import write_sample_clip  # noqa: E402

from vcam import media  # noqa: E402
from vcam.errors import VcamError  # noqa: E402
from vcam.matting import resolve_model  # noqa: E402
from vcam.pipeline import Pipeline, cpu_cores, frame_threads, inference_threads  # noqa: E402
from vcam.settings import Settings  # noqa: E402
from vcam.sinks import PreviewSink  # noqa: E402

NULL_BACKEND = "vcam-soak-null"
BACKGROUNDS = [
    {"background": "blur"},
    {"background": "colour", "colour": "#2e3440"},
    {"background": "image", "background_path": "preset:office"},
]


class NullVirtualCamera:
    """A pyvirtualcam backend without a device: takes each frame, checks it, drops it."""

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device=None, **_):
        self.width, self.height = width, height
        self.frames = 0

    def send(self, frame: np.ndarray) -> None:
        if frame.size != self.width * self.height * 3:
            raise ValueError(f"frame of {frame.size} values for {self.width}x{self.height}")
        self.frames += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "null (soak)"

    def native_fourcc(self) -> None:
        return None


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux: VmRSS; elsewhere the peak, say so)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def open_files() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return len(os.listdir(folder))
    return None


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def find_model(name: str, folder: Path) -> tuple[Path, str]:
    """(model file, note): the named model, else an untrained MMNet export."""
    try:
        return resolve_model(name), ""
    except VcamError:
        if name not in media.MODEL_NAMES:
            raise
    # In a child process: torch must not sit in the memory this script measures.
    path = folder / "untrained-mmnet-0.5-144x256.onnx"
    code = (
        "import sys; from vcam.nets.mmnet import MMNet; "
        "from vcam.training.export import export_onnx; "
        "export_onnx(MMNet(0.5), sys.argv[1], 144, 256)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    return path, "untrained MMNet(0.5) at 144x256 (no shipped model yet): real cost, no meaning"


def slope_per_10_min(times_s: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` in units per 10 minutes."""
    if len(times_s) < 3 or times_s[-1] - times_s[0] <= 0:
        return 0.0
    slope, _ = np.polyfit(np.asarray(times_s) / 600.0, np.asarray(values), 1)
    return float(slope)


def summarise(samples: list[dict], warm_up_s: float, meta: dict) -> dict:
    steady = [s for s in samples if s["t"] >= warm_up_s] or samples
    times, rss = [s["t"] for s in steady], [s["rss_mb"] for s in steady]
    third = max(1, len(steady) // 3)
    last, first = samples[-1], samples[0]
    seconds = last["t"] - first["t"]
    frames = last["frames"] - first["frames"]
    loads = [s["load"] for s in samples if s["load"] is not None]
    return {
        **meta,
        "duration_s": round(last["t"], 1),
        "samples": len(samples),
        "warm_up_s": warm_up_s,
        "rss_start_mb": round(samples[0]["rss_mb"], 1),
        "rss_after_warm_up_mb": round(steady[0]["rss_mb"], 1),
        "rss_end_mb": round(last["rss_mb"], 1),
        "rss_max_mb": round(max(s["rss_mb"] for s in samples), 1),
        "rss_slope_mb_per_10min": round(slope_per_10_min(times, rss), 2),
        "rss_growth_mb": round(statistics.median(rss[-third:]) - statistics.median(rss[:third]), 1),
        "frames_out": last["frames"],
        "frames_in": last["frames_in"],
        "inferences": last["inferences"],
        "dropped": last["dropped"],
        "placeholders": last["placeholders"],
        "fps_mean": round(frames / seconds, 2) if seconds > 0 else 0.0,
        "fps_min_window": round(min(s["fps"] for s in steady), 2),
        "inference_fps_mean": round(statistics.mean(s["inference_fps"] for s in steady), 2),
        "queue_max": {k: max(s["queue_max"][k] for s in samples) for k in samples[0]["queue_max"]},
        "threads_start_end": [steady[0]["threads"], last["threads"]],
        "open_files_start_end": [steady[0]["open_files"], last["open_files"]],
        "cpu_cores_used_mean": round(statistics.mean(s["cpu"] for s in samples[1:]), 2)
        if len(samples) > 1
        else 0.0,
        "load_mean": round(statistics.mean(loads), 2) if loads else None,
        "load_max": round(max(loads), 2) if loads else None,
        "stage_ms_end": last["stage_ms"],
        "background_switches": last["switches"],
        "errors": last["errors"],
    }


def write_report(out: Path, name: str, summary: dict, samples: list[dict], verdict: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(
        json.dumps({"summary": summary, "samples": samples}, indent=1) + "\n"
    )
    plot(out / f"{name}-rss.png", samples, summary)
    s = summary
    stages = ", ".join(f"{k} {v:.1f}" for k, v in s["stage_ms_end"].items())
    lines = [
        f"# Soak: {s['duration_s'] / 60:.1f} minutes of the live pipeline",
        "",
        f"{verdict}",
        "",
        f"Run {s['started']} on {s['machine']} ({s['cpu_count']} cores, "
        f"load average {s['load_mean']} mean / {s['load_max']} max while it ran: the machine "
        "was shared). Command: `" + s["command"] + "`.",
        "",
        f"Source: {s['input']} looped at {s['fps_target']:g} fps, {s['size']}; model "
        f"{s['model']}{' (' + s['model_note'] + ')' if s['model_note'] else ''}; inference "
        f"threads {s['inference_threads']}, frame threads {s['frame_threads']}; background "
        f"switched {s['background_switches']} times (blur, colour, image).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| RSS at start / after warm-up / end / max | {s['rss_start_mb']} / "
        f"{s['rss_after_warm_up_mb']} / {s['rss_end_mb']} / {s['rss_max_mb']} MB |",
        f"| RSS slope after warm-up ({s['warm_up_s']:g} s) | "
        f"{s['rss_slope_mb_per_10min']} MB per 10 min |",
        f"| RSS growth (median of last third - first third after warm-up) | "
        f"{s['rss_growth_mb']} MB |",
        f"| frames out / in / inferences | {s['frames_out']} / {s['frames_in']} / "
        f"{s['inferences']} |",
        f"| dropped by the source (newest frame wins) | {s['dropped']} |",
        f"| fps out, mean (lowest 3 s window after warm-up) | {s['fps_mean']} "
        f"({s['fps_min_window']}) |",
        f"| inferences per second, mean | {s['inference_fps_mean']} |",
        f"| buffers, max length | {s['queue_max']} |",
        f"| threads, open files (after warm-up, end) | {s['threads_start_end']}, "
        f"{s['open_files_start_end']} |",
        f"| CPU cores used by vcam, mean | {s['cpu_cores_used_mean']} |",
        f"| stage medians at the end (ms) | {stages} |",
        f"| errors | {s['errors'] or 'none'} |",
        "",
        f"![RSS over time]({name}-rss.png)",
        "",
    ]
    (out / f"{name}.md").write_text("\n".join(lines))


def plot(path: Path, samples: list[dict], summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t"] / 60 for s in samples]
    fig, rss_axis = plt.subplots(figsize=(9, 4.5), dpi=100)
    rss_axis.plot(minutes, [s["rss_mb"] for s in samples], color="tab:blue", label="RSS")
    rss_axis.axvline(summary["warm_up_s"] / 60, color="grey", linestyle=":", label="warm-up end")
    rss_axis.set_xlabel("minutes")
    rss_axis.set_ylabel("RSS (MB)", color="tab:blue")
    low = min(s["rss_mb"] for s in samples)
    rss_axis.set_ylim(max(0, low - 50), max(s["rss_mb"] for s in samples) + 50)
    fps_axis = rss_axis.twinx()
    fps_axis.plot(minutes, [s["fps"] for s in samples], color="tab:orange", alpha=0.6)
    fps_axis.set_ylabel("fps out (3 s window)", color="tab:orange")
    fps_axis.set_ylim(0, max(35, max(s["fps"] for s in samples) + 5))
    rss_axis.set_title(
        f"vcam soak: RSS slope {summary['rss_slope_mb_per_10min']} MB/10 min after warm-up, "
        f"{summary['fps_mean']} fps, {summary['dropped']} dropped"
    )
    rss_axis.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--seconds", type=float, help="how long, in seconds (overrides)")
    parser.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--input", help="a video file to loop (default: the sample portrait)")
    parser.add_argument("--model", default="fast", help='"fast", "quality" or an .onnx path')
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0: auto)")
    parser.add_argument("--frame-threads", type=int, default=0, help="numba threads (0: auto)")
    parser.add_argument("--background", default="blur", help="the first background kind")
    parser.add_argument("--switch-every", type=float, default=60.0, help="seconds (0: never)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--warm-up", type=float, default=2.0, help="minutes left out of the slope")
    parser.add_argument("--warm-up-seconds", type=float, help="the same in seconds (overrides)")
    parser.add_argument("--max-slope", type=float, default=5.0, help="MB per 10 min")
    parser.add_argument("--max-growth", type=float, default=50.0, help="MB after warm-up")
    parser.add_argument("--out", default=str(REPO / "docs" / "soak"), help="report folder")
    parser.add_argument("--name", default="soak", help="report file name prefix")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    duration = args.seconds if args.seconds is not None else args.minutes * 60.0
    warm_up = args.warm_up_seconds if args.warm_up_seconds is not None else args.warm_up * 60
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="vcam-soak-"))
    model, note = find_model(args.model, work)
    clip = (
        Path(args.input)
        if args.input
        else write_sample_clip(
            work / f"sample-{width}x{height}.avi", width, height, args.fps, int(10.0 * args.fps)
        )
    )
    pyvirtualcam.register_backend(NULL_BACKEND, NullVirtualCamera)
    settings = Settings(
        source="video",
        input_path=str(clip),
        loop=True,
        model=str(model),
        threads=args.threads,
        frame_threads=args.frame_threads,
        background=args.background,
        output="virtual",
        virtual_backend=NULL_BACKEND,
    )
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": "python scripts/soak.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "cpu_count": cpu_cores(),
        "input": "the sample portrait (10 s MJPG clip)" if not args.input else str(clip),
        "size": f"{width}x{height}",
        "fps_target": args.fps,
        "model": Path(model).name,
        "model_note": note,
        "inference_threads": inference_threads(settings),
        "frame_threads": frame_threads(settings),
    }
    preview_frames = [0]

    def on_frame(frame) -> None:
        preview_frames[0] += 1

    errors: list[str] = []
    pipeline = Pipeline(settings, sinks=[PreviewSink(on_frame)])
    started = time.monotonic()
    pipeline.start()
    print(f"soak: {duration / 60:.1f} min of {meta['size']} at {args.fps:g} fps, model {model}")
    samples: list[dict] = []
    queue_max = {"source": 0, "matting": 0, "stats": 0}
    cpu_before, wall_before = sum(os.times()[:2]), time.monotonic()
    next_sample = started
    next_switch = started + args.switch_every if args.switch_every > 0 else float("inf")
    switches = 0
    try:
        while True:
            now = time.monotonic()
            for key, value in pipeline.queue_lengths().items():
                queue_max[key] = max(queue_max[key], value)
            if not pipeline.running:
                errors.append(f"pipeline stopped: {pipeline.status.message}")
                break
            if now >= next_switch:
                switches += 1
                change = BACKGROUNDS[switches % len(BACKGROUNDS)]
                try:
                    pipeline.update(pipeline.settings.replace(**change))
                except VcamError as error:
                    errors.append(str(error))
                next_switch += args.switch_every
            if now >= next_sample or now - started >= duration:
                snap = pipeline.snapshot()
                cpu_now, wall_now = sum(os.times()[:2]), time.monotonic()
                samples.append(
                    {
                        "t": round(now - started, 2),
                        "rss_mb": round(rss_mb(), 2),
                        "threads": threading.active_count(),
                        "open_files": open_files(),
                        "queue_max": dict(queue_max),
                        "frames": snap.frames,
                        "frames_in": pipeline.stats.total("input"),
                        "preview_frames": preview_frames[0],
                        "inferences": snap.inferences,
                        "dropped": snap.dropped,
                        "placeholders": snap.placeholders,
                        "fps": round(snap.fps, 2),
                        "input_fps": round(snap.input_fps, 2),
                        "inference_fps": round(snap.inference_fps, 2),
                        "stage_ms": {k: round(v, 2) for k, v in snap.stage_ms.items()},
                        "cpu": round((cpu_now - cpu_before) / max(1e-6, wall_now - wall_before), 2),
                        "load": load_average(),
                        "switches": switches,
                        "errors": list(errors),
                    }
                )
                cpu_before, wall_before = cpu_now, wall_now
                queue_max = {key: 0 for key in queue_max}
                last = samples[-1]
                print(
                    f"  {last['t'] / 60:6.2f} min  RSS {last['rss_mb']:7.1f} MB  "
                    f"{last['fps']:5.1f} fps  {last['frames']} frames  {last['dropped']} dropped"
                    f"  load {last['load']}",
                    flush=True,
                )
                next_sample += args.sample_every
                if now - started >= duration:
                    break
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("soak: interrupted; writing what was measured")
    finally:
        pipeline.stop()
    if len(samples) < 2:
        print("soak: too short to report")
        return 1
    summary = summarise(samples, warm_up, meta)
    grew = (
        summary["rss_slope_mb_per_10min"] > args.max_slope
        or summary["rss_growth_mb"] > args.max_growth
    )
    verdict = (
        f"**Memory {'GREW' if grew else 'stayed flat'}**: slope "
        f"{summary['rss_slope_mb_per_10min']} MB per 10 minutes after warm-up (limit "
        f"{args.max_slope:g}), growth {summary['rss_growth_mb']} MB (limit {args.max_growth:g})."
    )
    write_report(Path(args.out), args.name, summary, samples, verdict)
    print(verdict.replace("**", ""))
    print(f"soak: report in {Path(args.out) / args.name}.md")
    return 1 if grew or errors else 0


if __name__ == "__main__":
    sys.exit(main())
