"""``pipeline``, ``temporal`` and ``skipstatic``: the live Pipeline on video files."""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numba
import numpy as np

from bench.common import (
    DEFAULT_DATA,
    DEFAULT_MODEL,
    REPO,
    machine,
    parse_list,
    parse_sizes,
    shown,
    write_reports,
    write_sample_clip,
)

# ---------------------------------------------------------------------------------------------
# pipeline: the live Pipeline on a 1080p 30 fps file into a null (or file) sink


def effective_threads(settings, name: str) -> int | None:
    """What ``vcam.pipeline.<name>(settings)`` picks (None if the pipeline has no such rule)."""
    from vcam import pipeline

    rule = getattr(pipeline, name, None)
    return int(rule(settings)) if callable(rule) else None


def cmd_pipeline(args: argparse.Namespace) -> int:
    from vcam.pipeline import Pipeline
    from vcam.settings import Settings
    from vcam.sinks import PreviewSink, VideoFileSink

    width, height = parse_sizes(args.size)[0]
    model = args.model or DEFAULT_MODEL
    if not Path(model).is_file():
        raise SystemExit(f"error: model {model} not found: give --model FILE.onnx")
    sent: list[tuple[float, int]] = []  # (capture-to-send seconds, source index)

    def record(frame) -> None:
        if frame.index >= 0:
            sent.append((time.monotonic() - frame.timestamp, frame.index))

    with tempfile.TemporaryDirectory() as folder:
        clip = write_sample_clip(
            Path(folder) / "clip.avi", width, height, args.fps, round(args.clip_seconds * args.fps)
        )
        settings = Settings(
            source="video",
            input_path=str(clip),
            loop=True,
            output="none",
            model=str(model),
            threads=args.threads,
            background=args.background,
        )
        sinks = [PreviewSink(record)]
        if args.sink == "file":
            sinks.append(VideoFileSink(Path(folder) / "out.avi"))
        load_before = os.getloadavg()
        pipeline = Pipeline(settings, sinks=sinks, stats_window=args.seconds)
        pipeline.start()
        try:
            time.sleep(args.warmup_seconds)
            first_sent, first_dropped = len(sent), pipeline.snapshot().dropped
            first_captured = pipeline.source.frames_captured
            start, cpu_start = time.monotonic(), os.times()
            pipeline.wait(args.seconds)
            elapsed, cpu_end = time.monotonic() - start, os.times()
            snapshot = pipeline.snapshot()
            # Sent and captured counted at the same moment (frames keep flowing until stop()).
            last_sent = len(sent)
            captured = pipeline.source.frames_captured - first_captured
            status = pipeline.status
        finally:
            pipeline.stop()
        load_after = os.getloadavg()
    window = sent[first_sent:last_sent]
    latencies = np.array([s for s, _ in window]) * 1e3
    indices = [i for _, i in window]
    gaps = sum(max(0, b - a - 1) for a, b in zip(indices, indices[1:], strict=False))
    report = {
        "command": "pipeline",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": shown(model),
        "source": f"{width}x{height} MJPG file at {args.fps:g} fps (looped, paced live)",
        "background": args.background,
        "threads": args.threads,
        "inference_threads": effective_threads(settings, "inference_threads"),
        "frame_threads": effective_threads(settings, "frame_threads"),
        "sinks": [str(s) for s in sinks],
        "seconds": round(elapsed, 2),
        "status": status.state,
        "frames_sent": len(window),
        "output_fps": len(window) / elapsed if elapsed > 0 else 0.0,
        "frames_captured": captured,
        "dropped_by_source": snapshot.dropped - first_dropped,
        "source_index_gaps": gaps,
        "cpu_cores_used": (
            (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) / elapsed
            if elapsed > 0
            else 0.0
        ),
        "inferences": snapshot.inferences,
        "inference_fps_last_window": snapshot.inference_fps,
        "stage_median_ms": snapshot.stage_ms,
        "latency_ms": {
            "median": float(np.median(latencies)) if latencies.size else None,
            "p90": float(np.percentile(latencies, 90)) if latencies.size else None,
            "p99": float(np.percentile(latencies, 99)) if latencies.size else None,
            "max": float(latencies.max()) if latencies.size else None,
        },
        "frame_period_ms": 1000.0 / args.fps,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": machine(),
    }
    lat = report["latency_ms"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in snapshot.stage_ms.items())
    markdown = "\n".join(
        [
            f"# Pipeline at {width}x{height}, {args.fps:g} fps",
            "",
            f"`{shown(model)}`, background {args.background}, threads {args.threads} (inference "
            f"{report['inference_threads']}, frame kernels {report['frame_threads']}), sinks: "
            f"{', '.join(report['sinks'])}; {elapsed:.1f} s measured after "
            f"{args.warmup_seconds:g} s of warm-up. Load average before/after "
            f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} cores. "
            f"{report['date']}.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| output fps | {report['output_fps']:.1f} |",
            f"| frames sent / captured | {len(window)} / {captured} |",
            f"| dropped (source replaced an unread frame) | {report['dropped_by_source']} |",
            f"| gaps in the sent frame indices | {gaps} |",
            f"| inferences (whole run) | {snapshot.inferences} |",
            f"| capture-to-send latency median ms | {lat['median'] or float('nan'):.1f} |",
            f"| capture-to-send latency p90 / p99 / max ms | {lat['p90'] or float('nan'):.1f} / "
            f"{lat['p99'] or float('nan'):.1f} / {lat['max'] or float('nan'):.1f} |",
            f"| frame period ms | {report['frame_period_ms']:.1f} |",
            f"| CPU used by vcam (cores) | {report['cpu_cores_used']:.2f} of {os.cpu_count()} |",
            "",
            f"Per-stage medians (ms): {stages}.",
        ]
    )
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    return 0


# ---------------------------------------------------------------------------------------------
# temporal: how steady the live matte stage is on video, beside MediaPipe (issue 13)

TEMPORAL_LEVELS = ("off", "responsive", "balanced", "steady")
DEFAULT_LEVEL = "balanced"  # the settings' default
TALKING_HEADS = DEFAULT_DATA / "talking-heads"


def video_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Every frame of a video file (BGR), at most ``limit``."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"error: cannot read video {path}")
    return frames


class MatteStage:
    """The live path's matte stage as ``vcam run`` and ``vcam matte`` build it from Settings
    (``make_matter`` + ``make_refiner``: model, guided refinement, threshold, feather,
    temporal smoothing), one Refiner per smoothing level fed the same model alpha; or the
    MediaPipe peer, raw (its own bilinear upsampling) and through vcam's Refiner."""

    def __init__(self, name: str, levels: tuple[str, ...], model: Path | None = None) -> None:
        from vcam.pipeline import make_matter, make_refiner
        from vcam.settings import Settings

        self.name = name
        if model is not None:
            self.matter = make_matter(Settings(model=str(model)))
            self.peer = None
        else:
            from vcam.evaluation.peer import MediaPipeSelfie

            self.matter, self.peer = None, MediaPipeSelfie(variant="general")
        self.levels = levels
        self.refiners = {level: make_refiner(Settings(smoothing=level)) for level in levels}

    def reset(self) -> None:
        for refiner in self.refiners.values():
            refiner.reset()

    def mattes(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """Method name -> uint8 matte of ``frame``."""
        if self.matter is not None:
            low = self.matter.infer(*self.matter.preprocess(frame))
            out = {}
        else:
            low = self.peer.predict_small(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            h, w = frame.shape[:2]
            raw = np.clip(cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
            out = {f"{self.name} raw": np.rint(raw * 255).astype(np.uint8)}
        for level, refiner in self.refiners.items():
            out[f"{self.name} {level}"] = refiner.refine(low, frame)
        return out


def temporal_clip(
    stages: list[MatteStage], frames, references: dict[str, str], with_truth: bool
) -> dict[str, dict]:
    """Run every stage over one clip; the figures of every method (lag against the method
    ``references`` names, and against the true alpha when ``with_truth``)."""
    from vcam.evaluation.temporal import TemporalMeter

    for stage in stages:
        stage.reset()
    meters: dict[str, TemporalMeter] = {}
    truth_meters: dict[str, TemporalMeter] = {}
    for item in frames:
        frame, truth = item if with_truth else (item, None)
        mattes: dict[str, np.ndarray] = {}
        for stage in stages:
            mattes.update(stage.mattes(frame))
        for method, matte in mattes.items():
            meters.setdefault(method, TemporalMeter()).add(
                frame, matte, mattes[references.get(method, method)]
            )
            if truth is not None:  # where the model without smoothing got it right
                right = np.abs(mattes[references.get(method, method)].astype(np.int16) - truth)
                truth_meters.setdefault(method, TemporalMeter()).add(
                    frame, matte, truth, right <= 64
                )
    results = {}
    for method, meter in meters.items():
        results[method] = meter.result()
        if truth_meters:
            truth = truth_meters[method].result()
            results[method].update(lag_truth=truth["lag"], followed_truth=truth["followed"])
    return results


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else None


def _fmt(value, spec: str = ".2f") -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format(value, spec))
    )


def temporal_table(clips: dict[str, dict], methods: list[str], truth: bool) -> str:
    """Markdown: per method, flicker per clip and the means of the other figures."""
    names = list(clips)
    header = [
        "method",
        *(f"flicker {n}" for n in names),
        "flicker mean",
        "jumps %",
        "jumps max %",
        "still jumps %",
        "lag",
        "followed %",
    ]
    if truth:
        header += ["lag (truth)", "followed (truth) %"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for method in methods:
        rows = [clips[n][method] for n in names]
        lags = [r["lag"] for r in rows if r["lag"] is not None]
        cells = [
            method,
            *(_fmt(r["flicker"]) for r in rows),
            _fmt(_mean([r["flicker"] for r in rows])),
            _fmt(_mean([r["jumps"] for r in rows]), ".3f"),
            _fmt(max(r["jumps_max"] for r in rows), ".2f"),
            _fmt(_mean([r["still_jumps"] for r in rows]), ".3f"),
            str(max(lags)) if lags else "-",
            _fmt(_mean([r["followed"] for r in rows]), ".1f"),
        ]
        if truth:
            truth_lags = [r["lag_truth"] for r in rows if r.get("lag_truth") is not None]
            cells += [
                str(max(truth_lags)) if truth_lags else "-",
                _fmt(_mean([r.get("followed_truth") for r in rows]), ".1f"),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def temporal_targets(sets: dict[str, dict], models: list[str]) -> list[dict]:
    """Per set and shipped model at the default level: flicker at most MediaPipe general
    raw (per clip and on the mean), lag at most 1 frame."""
    checks = []
    for set_name, clips in sets.items():
        peer = "mediapipe-general raw"
        for model in models:
            method = f"{model} {DEFAULT_LEVEL}"
            rows = {n: c[method] for n, c in clips.items() if method in c and peer in c}
            if not rows:
                continue
            beaten = [n for n, r in rows.items() if r["flicker"] <= clips[n][peer]["flicker"]]
            ours = _mean([r["flicker"] for r in rows.values()])
            theirs = _mean([clips[n][peer]["flicker"] for n in rows])
            lags = [
                r[k] for r in rows.values() for k in ("lag", "lag_truth") if r.get(k) is not None
            ]
            checks.append(
                {
                    "set": set_name,
                    "method": method,
                    "clips": len(rows),
                    "clips_at_most_peer": len(beaten),
                    "flicker_mean": ours,
                    "peer_flicker_mean": theirs,
                    "flicker_met": len(beaten) == len(rows),
                    "flicker_mean_met": ours is not None and theirs is not None and ours <= theirs,
                    "max_lag": max(lags) if lags else None,
                    "lag_met": bool(lags) and max(lags) <= 1,
                }
            )
    return checks


def cmd_temporal(args: argparse.Namespace) -> int:
    from vcam.errors import ModelError
    from vcam.evaluation.temporal import MOTIONS, backdrops, motion_clip, portrait_cutouts

    models = args.models or [
        REPO / "models" / "mmnet-fast.onnx",
        REPO / "models" / "mmnet-256.onnx",
    ]
    missing = [m for m in models if not Path(m).is_file()]
    if missing:
        raise SystemExit(f"error: model {missing[0]} not found: give --models FILE.onnx ...")
    levels = tuple(parse_list(args.levels))
    for level in levels:
        if level not in TEMPORAL_LEVELS:
            raise SystemExit(f"error: unknown level {level!r}: use {', '.join(TEMPORAL_LEVELS)}")
    numba.set_num_threads(1)
    stages = [MatteStage(Path(m).stem, levels, Path(m)) for m in models]
    references = {f"{s.name} {level}": f"{s.name} off" for s in stages for level in levels}
    if args.peer:
        try:
            stages.append(MatteStage("mediapipe-general", ("off", DEFAULT_LEVEL)))
            references["mediapipe-general balanced"] = "mediapipe-general off"
        except (ModelError, ImportError) as error:
            print(f"note: MediaPipe skipped: {error}", file=sys.stderr)
    if "off" not in levels:
        raise SystemExit("error: --levels must include off (the raw model is the lag reference)")
    methods = [f"{s.name} {level}" for s in stages if s.matter is not None for level in levels]
    if args.peer and stages[-1].peer is not None:
        methods += [f"mediapipe-general {m}" for m in ("raw", "off", DEFAULT_LEVEL)]
    started = time.time()
    sets: dict[str, dict] = {}
    videos = sorted(args.clips) if args.clips is not None else sorted(TALKING_HEADS.glob("*.mp4"))
    if videos:
        sets["talking-heads"] = {}
        for path in videos:
            print(f"  {shown(path)}", file=sys.stderr, flush=True)
            frames = video_frames(path, args.max_frames)
            sets["talking-heads"][path.stem] = temporal_clip(stages, frames, references, False)
    else:
        print(f"note: no clips in {shown(TALKING_HEADS)}; synthetic clips only", file=sys.stderr)
    width, height = parse_sizes(args.size)[0]
    cutouts = portrait_cutouts(args.data, args.persons)
    walls = backdrops(args.data, width, height, len(cutouts))
    for kind in parse_list(args.motions):
        if kind not in MOTIONS:
            raise SystemExit(f"error: unknown motion {kind!r}: use {', '.join(MOTIONS)}")
        clips = sets.setdefault(f"synthetic {kind}", {})
        for index, (cutout, wall) in enumerate(zip(cutouts, walls, strict=False)):
            print(f"  synthetic {kind} {cutout.name}", file=sys.stderr, flush=True)
            frames = motion_clip(kind, cutout, wall, args.frames, seed=index)
            clips[cutout.name] = temporal_clip(stages, frames, references, True)
    checks = temporal_targets(sets, [s.name for s in stages if s.matter is not None])
    report = {
        "command": "temporal",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - started, 1),
        "models": [shown(m) for m in models],
        "levels": list(levels),
        "synthetic": {
            "size": f"{width}x{height}",
            "frames": args.frames,
            "persons": [c.name for c in cutouts],
        },
        "sets": sets,
        "targets": checks,
        "machine": machine(),
    }
    parts = [
        "# Temporal steadiness of the matte stage",
        "",
        f"The live path's matte stage (`make_matter` + `make_refiner` from `Settings`, the code "
        f"of `vcam run` and `vcam matte`: model, guided refinement, threshold 0.5, feather 2, "
        f"temporal smoothing at each level) beside MediaPipe selfie general, raw (its own "
        f"bilinear upsampling) and through vcam's refinement without (off) and with smoothing "
        f"({DEFAULT_LEVEL}). "
        f"{report['date']}; {report['seconds']:.0f} s.",
        "",
        "Flicker: mean |alpha(t) - alpha(t-1)| x 1000 over pixels whose grey level changed by "
        "less than 2. Jumps: share of all pixels whose matte changed by more than 64 levels "
        "(mean and worst frame); still jumps: the same over the still pixels. Lag: the k (0..3) "
        "for which the matte at t is closest to the reference at t - k over the pixels where the "
        "picture moved (grey change >= 10) and the reference changed by more than 64 levels, "
        "worst clip; the reference is the same model without smoothing (off), and on synthetic "
        "clips also the true alpha (truth; only where the model without smoothing was within 64 "
        "levels of it). Followed: share of those pixels within 64 levels of the reference at t.",
    ]
    for set_name, clips in sets.items():
        parts += ["", f"## {set_name}", "", temporal_table(clips, methods, "synthetic" in set_name)]
    parts += [
        "",
        "## Targets",
        "",
        "| set | method | flicker <= MediaPipe raw (clips) | mean vs MediaPipe raw | max lag |",
        "|---|---|---:|---:|---:|",
    ]
    for c in checks:
        parts.append(
            f"| {c['set']} | {c['method']} | {c['clips_at_most_peer']}/{c['clips']} | "
            f"{_fmt(c['flicker_mean'])} vs {_fmt(c['peer_flicker_mean'])} | "
            f"{c['max_lag'] if c['max_lag'] is not None else '-'} |"
        )
    markdown = "\n".join(parts)
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    return 0


# ---------------------------------------------------------------------------------------------
# skipstatic: what skipping the model on a still picture saves, and what it costs (issue 18)


def write_motion_video(path: Path, kind: str, data: Path, size: tuple[int, int], frames: int):
    """A synthetic motion clip (vcam.evaluation.temporal.motion_clip) as an MJPG file."""
    from vcam.evaluation.temporal import backdrops, motion_clip, portrait_cutouts

    width, height = size
    cutout = portrait_cutouts(data, 1)[0]
    wall = backdrops(data, width, height, 1)[0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (width, height))
    for frame, _ in motion_clip(kind, cutout, wall, frames):
        writer.write(frame)
    writer.release()
    return path


def live_run(path: Path, settings, skip: bool) -> dict:
    """Play ``path`` once through the live Pipeline, paced at its own rate like a camera;
    the mattes it sent (by source frame index), inferences per second and CPU cores used."""
    from vcam.pipeline import Pipeline
    from vcam.sinks import PreviewSink
    from vcam.sources import VideoSource

    sent: dict[int, np.ndarray] = {}

    def record(frame) -> None:
        if frame.index >= 0:
            sent[frame.index] = frame.alpha

    source = VideoSource(path, loop=False, live=True)
    pipeline = Pipeline(
        settings.replace(skip_static=skip),
        sinks=[PreviewSink(record)],
        source=source,
        stats_window=600.0,
    )
    start, cpu_start = time.monotonic(), os.times()
    with pipeline:
        pipeline.wait(600.0)
        elapsed, cpu_end = time.monotonic() - start, os.times()
        snapshot = pipeline.snapshot()
    cpu = cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system
    return {
        "mattes": sent,
        "seconds": elapsed,
        "inferences": snapshot.inferences,
        "skipped": snapshot.skipped,
        "inferences_per_s": snapshot.inferences / elapsed,
        "cpu_cores": cpu / elapsed,
        "frames_sent": len(sent),
    }


def cmd_skipstatic(args: argparse.Namespace) -> int:
    from vcam.convert import process
    from vcam.settings import Settings
    from vcam.sinks import PreviewSink
    from vcam.sources import VideoSource

    model = args.model or DEFAULT_MODEL
    if not Path(model).is_file():
        raise SystemExit(f"error: model {model} not found: give --model FILE.onnx")
    width, height = parse_sizes(args.size)[0]
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        clips = [
            (
                f"synthetic {kind}",
                write_motion_video(
                    Path(folder) / f"{kind}.avi", kind, args.data, (width, height), args.frames
                ),
            )
            for kind in ("still", "hand")
        ]
        talking = (
            sorted(args.clips) if args.clips is not None else sorted(TALKING_HEADS.glob("*.mp4"))
        )
        clips += [(f"talking-heads {p.stem}", p) for p in talking]
        for name, path in clips:
            settings = Settings(
                source="video", input_path=str(path), loop=False, output="none", model=str(model)
            )
            offline: dict[int, np.ndarray] = {}
            process(
                VideoSource(path, live=False),
                [PreviewSink(lambda f, kept=offline: kept.__setitem__(f.index, f.alpha))],
                settings,
            )
            for skip in (True, False):
                run = live_run(path, settings, skip)
                shares = [
                    float((np.abs(matte.astype(np.int16) - offline[i]) > 64).mean()) * 100
                    for i, matte in run.pop("mattes").items()
                ]
                row = {
                    "clip": name,
                    "skip_static": skip,
                    **run,
                    "differing_mean_pct": float(np.mean(shares)) if shares else None,
                    "differing_max_pct": float(np.max(shares)) if shares else None,
                    "frames": len(offline),
                }
                rows.append(row)
                print(
                    f"  {name:<24} skip {'on ' if skip else 'off'} "
                    f"{row['inferences_per_s']:5.1f} inf/s {row['cpu_cores']:.2f} cores "
                    f"differing {row['differing_mean_pct']:.3f}% mean "
                    f"{row['differing_max_pct']:.2f}% max",
                    file=sys.stderr,
                    flush=True,
                )
    load_after = os.getloadavg()
    report = {
        "command": "skipstatic",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": shown(model),
        "synthetic": f"{width}x{height}, {args.frames} frames at 30 fps",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rows": rows,
        "machine": machine(),
    }
    lines = [
        "# Skip-static: inferences, CPU and the live matte against the per-frame matte",
        "",
        f"`{shown(model)}`, default settings (smoothing balanced), each clip played once through "
        f"`Pipeline` paced at its own frame rate like a camera, skip-static on and off; the "
        f"mattes it sent compared with `process` (what `vcam matte` runs) on every frame of the "
        f"same file. Differing: share of the frame where the two differ by more than 64 levels "
        f"(mean over the frames sent, and the worst frame). Load average before/after "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} cores. {report['date']}.",
        "",
        "| clip | skip-static | frames sent / in file | inferences/s | CPU cores | "
        "differing mean % | differing max % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {'on' if r['skip_static'] else 'off'} | {r['frames_sent']} / "
            f"{r['frames']} | {r['inferences_per_s']:.1f} | {r['cpu_cores']:.2f} | "
            f"{_fmt(r['differing_mean_pct'], '.3f')} | {_fmt(r['differing_max_pct'], '.2f')} |"
        )
    markdown = "\n".join(lines)
    print(markdown)
    if args.out:
        js, md = write_reports(args.out, report, markdown)
        print(f"wrote {shown(md)} and {shown(js)}")
    return 0
