"""scripts/benchmark.py on tiny settings: every subcommand runs real sessions on real files and
writes valid JSON and Markdown. Nothing here asserts a speed (benchmarks measure speed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame

from vcam.errors import ModelError
from vcam.evaluation import peer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "scripts"))  # the benchmark's package, scripts/bench

import benchmark  # noqa: E402
from bench import pareto, race  # noqa: E402


def _have_peers() -> bool:
    try:
        import ai_edge_litert  # noqa: F401

        return all(peer.default_model_path(v).is_file() for v in peer.VARIANTS)
    except (ModelError, ImportError):
        return False


needs_peers = pytest.mark.skipif(not _have_peers(), reason="no MediaPipe peer: fetch_peer.py")


def tiny(out: Path) -> list[str]:
    """Race options small enough for a test (no data folder: the bundled sample frames)."""
    return [
        "--threads",
        "1",
        "--repeat",
        "4",
        "--warmup",
        "1",
        "--frames",
        "2",
        "--frame-size",
        "320x180",
        "--data",
        str(out.parent / "no-data"),
        "--out",
        str(out),
    ]


def read_report(out: Path) -> tuple[dict, str]:
    report = json.loads(out.with_suffix(".json").read_text())
    return report, out.with_suffix(".md").read_text()


def check_rows(rows: list[dict], names: set[str], repeat: int = 4) -> None:
    assert {r["name"] for r in rows} == names
    for r in rows:
        assert r["n"] == repeat
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["min_ms"] <= r["p90_ms"] <= r["max_ms"]


def test_portrait_frames_fall_back_to_the_sample(tmp_path):
    frames, label = race.portrait_frames(tmp_path, 3, 320, 180)
    assert len(frames) == 3 and "sample portrait" in label
    assert all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # the sample moves


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "portraits-shen2016" / "test").is_dir(), reason="no data")
def test_portrait_frames_use_real_photos():
    frames, label = race.portrait_frames(DATA, 4, 1280, 720)
    assert len(frames) == 4 and "portraits-shen2016/test" in label
    assert all(f.shape == (720, 1280, 3) for f in frames)


def test_race_interleaves_in_shuffled_rounds_on_shared_frames():
    calls: list[tuple[str, int]] = []
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]

    def runner(name: str):
        def run(frame: np.ndarray) -> np.ndarray:
            calls.append((name, int(frame[0, 0, 0])))
            return cv2.GaussianBlur(frame, (3, 3), 0)

        return run

    candidates = [
        race.Candidate(n, "mediapipe" if n == "c" else "vcam", "4x4", "fp32", n, runner(n))
        for n in "abc"
    ]
    rows = race.race(candidates, frames, repeat=12, warmup=1)
    timed = calls[3:]  # after one warm-up call each
    rounds = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    assert len(rounds) == 12
    for r, calls_in_round in enumerate(rounds):
        assert sorted(n for n, _ in calls_in_round) == list("abc")  # each once per round
        assert {f for _, f in calls_in_round} == {r % 3}  # all on the same frame
    orders = {"".join(n for n, _ in calls_in_round) for calls_in_round in rounds}
    assert len(orders) > 1  # not one fixed order
    assert [r["name"] for r in rows] == list("abc") and all(r["n"] == 12 for r in rows)
    assert all(set(r["ratio"]) == {"c"} for r in rows)
    assert rows[2]["ratio"]["c"] == 1.0


def test_models_writes_json_and_markdown(tmp_path, model_path, red_model, capsys):
    out = tmp_path / "reports" / "models"
    args = ["models", "--models", str(model_path), str(red_model), "--peers", ""]
    assert benchmark.main(args + tiny(out)) == 0
    report, markdown = read_report(out)
    assert report["command"] == "models" and "sample portrait" in report["frame"]
    assert report["frame_size"] == [320, 180] and len(report["load_average_before"]) == 3
    rows = report["results"]["1"]
    check_rows(rows, {model_path.stem, red_model.stem})
    red = next(r for r in rows if r["name"] == "red")
    assert red["input_size"] == "64x96" and red["precision"] == "fp32" and red["kind"] == "vcam"
    assert "## 1 thread" in markdown and "| red | 64x96 | fp32 |" in markdown
    assert "wrote" in capsys.readouterr().out


@needs_peers
def test_models_times_mediapipe_alongside(tmp_path, red_model, capsys):
    out = tmp_path / "models"
    assert benchmark.main(["models", "--models", str(red_model)] + tiny(out)) == 0
    report, markdown = read_report(out)
    rows = report["results"]["1"]
    names = {"red", "mediapipe-selfie-general", "mediapipe-selfie-landscape"}
    check_rows(rows, names)
    for r in rows:
        assert set(r["ratio"]) == names - {"red"}
        if r["kind"] == "mediapipe":
            assert r["ratio"][r["name"]] == 1.0
    assert "x MP general" in markdown and "x MP landscape" in markdown
    assert "x general" in capsys.readouterr().out  # the printed vcam/MediaPipe ratios


@needs_peers
@pytest.mark.parametrize("variant", peer.VARIANTS)
def test_peer_runner_gives_mediapipes_alpha(variant):
    frame = cv2.resize(cv2.imread(str(ROOT / "vcam/assets/sample-portrait.jpg")), (640, 360))
    ours = race.PeerRunner(variant, threads=1)(frame)
    reference = peer.MediaPipeSelfie(variant=variant).predict(
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    )
    assert ours.shape == (360, 640) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_models_errors_are_one_line(tmp_path, red_model):
    with pytest.raises(SystemExit, match="model .*absent.onnx not found"):
        benchmark.main(["models", "--models", str(tmp_path / "absent.onnx")] + tiny(tmp_path / "x"))
    args = ["models", "--models", str(red_model), "--peers", "portrait"] + tiny(tmp_path / "x")
    with pytest.raises(SystemExit, match="unknown peer 'portrait'"):
        benchmark.main(args)


def test_sessions_compares_options_with_vcams(tmp_path, model_path):
    out = tmp_path / "sessions"
    chosen = "spinning on,no graph optimisation"
    args = ["sessions", "--models", str(model_path), "--variants", chosen] + tiny(out)
    assert benchmark.main(args) == 0
    report, markdown = read_report(out)
    stem = model_path.stem
    names = {f"{stem}: vcam", f"{stem}: spinning on", f"{stem}: no graph optimisation"}
    rows = report["results"]["1"]
    check_rows(rows, names)
    assert all(set(r["ratio"]) == {f"{stem}: vcam"} for r in rows)
    assert next(r for r in rows if r["label"] == "vcam")["ratio"][f"{stem}: vcam"] == 1.0
    assert "inference only" in markdown
    with pytest.raises(SystemExit, match="unknown session variant 'turbo'"):
        benchmark.main(["sessions", "--models", str(model_path), "--variants", "turbo"])


def test_ops_profiles_a_model_and_the_depthwise_kernel(tmp_path, model_path):
    out = tmp_path / "ops"
    args = ["ops", "--models", str(model_path), "--repeat", "5", "--channels", "16,24"]
    assert benchmark.main(args + ["--depthwise-size", "12x20", "--out", str(out)]) == 0
    report, markdown = read_report(out)
    profile = next(iter(report["models"].values()))
    assert profile["median_run_ms"] > 0
    kinds = profile["kinds"]
    convs = [k for k in kinds if "Conv" in k]
    assert any(k.endswith("depthwise") for k in convs) and any("depthwise" not in k for k in convs)
    assert sum(v["ms"] for v in kinds.values()) > 0.5 * profile["median_run_ms"]
    rows = report["depthwise"]["rows"]
    assert [(r["channels"], r["dilation"]) for r in rows] == [(16, 1), (16, 4), (24, 1), (24, 4)]
    assert all(r["median_ms"] > 0 for r in rows) and "| 24 | 4 |" in markdown


def test_variants_builds_and_times_every_precision(tmp_path):
    torch = pytest.importorskip("torch")
    from vcam.nets.mmnet import MMNet

    checkpoint = tmp_path / "tiny.pt"
    torch.save({"model": MMNet(0.5).state_dict(), "config": {"width": 0.5}, "step": 7}, checkpoint)
    photos = tmp_path / "data" / "portraits-shen2016" / "train" / "image"
    photos.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(photos / f"{i}.jpg"), synthetic_frame(i, 150, 200))
    out = tmp_path / "variants"
    args = ["variants", "--checkpoint", str(checkpoint), "--sizes", "64x96", "--widths", "0.75"]
    args += ["--width-sizes", "32x32", "--count", "2", "--work", str(tmp_path / "work")]
    args += ["--peers", ""] + tiny(out)[:-4] + ["--data", str(tmp_path / "data")]
    args += ["--out", str(out)]
    assert benchmark.main(args) == 0
    report, markdown = read_report(out)
    built = {p.stem for p in (tmp_path / "work").glob("*.onnx")}
    nets = (("0.5", "64x96"), ("0.75-untrained", "32x32"))
    expected = {
        f"mmnet-w{w}-{size}-{p}" for w, size in nets for p in ("fp32", "opt", "int8", "int8-fused")
    }
    assert built == expected | {f"mmnet-w{w}-{size}-fp32-fused" for w, size in nets}
    rows = {r["name"]: r for r in report["results"]["1"]}
    check_rows(list(rows.values()), expected)
    assert rows["mmnet-w0.5-64x96-int8"]["precision"] == "int8"
    assert rows["mmnet-w0.5-64x96-int8-fused"]["precision"] == "int8"
    assert rows["mmnet-w0.5-64x96-int8-fused"]["rewrites"] == "head,fused"
    assert rows["mmnet-w0.5-64x96-opt"]["rewrites"] == "head,split"
    assert rows["mmnet-w0.75-untrained-32x32-fp32"]["trained"] is False
    assert rows["mmnet-w0.5-64x96-fp32"]["trained"] is True
    assert "(step 7)" in markdown and "(untrained)" in markdown
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "work").glob("*.onnx")}
    assert benchmark.main(args + ["--reuse"]) == 0  # nothing rebuilt
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "work").glob("*.onnx")}


def latency_json(path: Path, rows: list[dict]) -> Path:
    base = {"label": "", "precision": "fp32", "trained": True, "rewrites": "", "n": 9}
    base |= {"input_size": "144x256", "width": 1.0}
    for r in rows:
        r.update({k: v for k, v in base.items() if k not in r})
        r.setdefault("kind", "mediapipe" if r["name"].startswith("mediapipe") else "vcam")
        r.setdefault("min_ms", r["median_ms"] * 0.8)
        r.setdefault("p90_ms", r["median_ms"] * 1.3)
        r.setdefault("ratio", {})
    report = {
        "date": "2026-11-26 12:00:00",
        "frame_size": [1280, 720],
        "load_average_before": [1.0, 1.0, 1.0],
        "machine": {"cpu": "test cpu"},
        "results": {"1": rows},
    }
    path.write_text(json.dumps(report))
    return path


def quality_json(path: Path, metrics: dict[str, tuple[float, float]]) -> Path:
    rows = [
        {"set": "shen-test", "model": name, "count": 3, "metrics": {"sad": sad, "iou": iou}}
        for name, (sad, iou) in metrics.items()
    ]
    rows.append({"set": "hard16x9", "model": "a", "count": 3, "metrics": {"sad": 1, "iou": 1}})
    path.write_text(json.dumps(rows))
    return path


def test_pareto_front_keeps_only_unbeaten_points():
    points = [(1.0, 50.0), (2.0, 40.0), (3.0, 45.0), (4.0, 10.0), (2.5, 40.0)]
    assert pareto.pareto_front(points, lower_is_better=True) == [0, 1, 3]
    ious = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.93), (4.0, 0.97)]
    assert pareto.pareto_front(ious, lower_is_better=False) == [0, 1, 3]


def test_pareto_chart_from_json(tmp_path, capsys):
    latency = latency_json(
        tmp_path / "lat.json",
        [
            {"name": "mmnet-a-fp32", "median_ms": 8.0},
            {"name": "mmnet-a-int8", "median_ms": 5.0, "precision": "int8"},
            {"name": "mmnet-w0.5-untrained-a-fp32", "median_ms": 3.0, "trained": False},
            {"name": "mediapipe-selfie-general", "median_ms": 6.0},
            {"name": "not-evaluated", "median_ms": 1.0},
        ],
    )
    quality = quality_json(
        tmp_path / "q.json",
        {
            "mmnet-a-fp32": (12.0, 0.97),
            "mmnet-a-int8": (12.5, 0.968),
            "mediapipe-selfie-general": (13.5, 0.962),
            "mmnet-w0.5-untrained-a-fp32": (99.0, 0.1),  # untrained: never plotted
        },
    )
    out = tmp_path / "docs" / "pareto.png"
    args = ["pareto", "--latency", str(latency), "--quality", str(quality), "--out", str(out)]
    assert benchmark.main(args) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 1000
    printed = capsys.readouterr().out
    assert "(3 models)" in printed and "| mmnet-a-int8 | 5.00 | 12.50 | 0.9680 |" in printed
    wrong = ["pareto", "--latency", str(latency), "--quality", str(quality), "--set", "flicker"]
    with pytest.raises(SystemExit, match="no model has both a latency and a quality result"):
        benchmark.main(wrong + ["--out", str(out)])
    with pytest.raises(SystemExit, match="no latency results for 2 thread"):
        benchmark.main(
            ["pareto", "--latency", str(latency), "--quality", str(quality), "--threads", "2"]
        )


def test_pipeline_reports_fps_drops_stages_and_latency(tmp_path, red_model):
    out = tmp_path / "pipeline"
    args = ["pipeline", "--model", str(red_model), "--size", "320x180", "--fps", "15"]
    args += ["--seconds", "1.5", "--warmup-seconds", "0.5", "--clip-seconds", "1"]
    args += ["--threads", "1", "--out", str(out)]
    assert benchmark.main(args) == 0
    report, markdown = read_report(out)
    assert report["status"] == "running" and report["frames_sent"] > 0
    assert 0 < report["output_fps"] <= 20
    assert report["frames_sent"] <= report["frames_captured"] + 2  # + frames in flight
    assert report["dropped_by_source"] >= 0 and report["source_index_gaps"] >= 0
    latency = report["latency_ms"]
    assert 0 < latency["median"] <= latency["p90"] <= latency["max"]
    assert {"inference", "refine", "composite"} <= set(report["stage_median_ms"])
    assert "| output fps |" in markdown and "capture-to-send latency median" in markdown


def test_stages_still_runs(tmp_path, red_model):
    out = tmp_path / "stages.json"
    args = ["stages", "--sizes", "320x180", "--threads", "1", "--repeat", "2", "--warmup", "0"]
    args += ["--model", str(red_model), "--data", str(tmp_path), "--out", str(out)]
    assert benchmark.main(args) == 0
    rows = json.loads(out.read_text())["rows"]
    assert {r["stage"] for r in rows} >= {
        "preprocess",
        "inference",
        "refine",
        "stabilise",
        "composite",
    }
    effects = [r["variant"] for r in rows if r["stage"] == "effects"]
    assert any("main person" in v for v in effects) and any("light" in v for v in effects)
    assert any("auto-framing" in v for v in effects)


def test_temporal_reports_flicker_jumps_lag_and_the_targets(tmp_path, red_model):
    clip = tmp_path / "talk.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (192, 108))
    for index in range(8):
        writer.write(synthetic_frame(index))
    writer.release()
    out = tmp_path / "temporal"
    args = ["temporal", "--models", str(red_model), "--clips", str(clip), "--no-peer"]
    args += ["--motions", "still,steps", "--persons", "1", "--frames", "8", "--size", "160x90"]
    args += ["--levels", "off,balanced", "--data", str(tmp_path), "--out", str(out)]
    assert benchmark.main(args) == 0
    report, markdown = read_report(out)
    assert set(report["sets"]) == {"talking-heads", "synthetic still", "synthetic steps"}
    clip_figures = report["sets"]["talking-heads"]["talk"]
    assert set(clip_figures) == {"red off", "red balanced"}
    for figures in clip_figures.values():
        assert figures["frames"] == 8 and figures["flicker"] >= 0 and figures["jumps"] >= 0
    steps = report["sets"]["synthetic steps"]["drawn"]["red balanced"]
    assert "lag_truth" in steps and "followed_truth" in steps
    assert report["synthetic"]["persons"] == ["drawn"]  # no portraits in --data
    assert report["targets"] == []  # no MediaPipe to compare with
    assert "## synthetic steps" in markdown and "| red balanced |" in markdown
    with pytest.raises(SystemExit, match="unknown level"):
        benchmark.main(["temporal", "--models", str(red_model), "--levels", "off,wobbly"])


@needs_peers
def test_temporal_checks_the_targets_against_mediapipe(tmp_path, red_model):
    out = tmp_path / "temporal"
    args = ["temporal", "--models", str(red_model), "--clips", "--motions", "sway"]
    args += ["--persons", "1", "--frames", "6", "--size", "160x90", "--levels", "off,balanced"]
    args += ["--data", str(tmp_path), "--out", str(out)]
    assert benchmark.main(args) == 0
    report, _ = read_report(out)
    methods = set(report["sets"]["synthetic sway"]["drawn"])
    assert {"mediapipe-general raw", "mediapipe-general off", "mediapipe-general balanced"} <= (
        methods
    )
    (check,) = report["targets"]
    assert check["method"] == "red balanced" and check["clips"] == 1
    assert check["flicker_met"] == (check["flicker_mean"] <= check["peer_flicker_mean"])


def test_skipstatic_counts_inferences_and_compares_live_with_offline(tmp_path, red_model):
    out = tmp_path / "skip"
    args = ["skipstatic", "--model", str(red_model), "--clips", "--frames", "12"]
    args += ["--size", "160x90", "--data", str(tmp_path), "--out", str(out)]
    assert benchmark.main(args) == 0
    report, markdown = read_report(out)
    rows = {(r["clip"], r["skip_static"]): r for r in report["rows"]}
    assert set(rows) == {(c, s) for c in ("synthetic still", "synthetic hand") for s in (1, 0)}
    still_on, still_off = rows[("synthetic still", True)], rows[("synthetic still", False)]
    assert still_on["skipped"] > 0 and still_off["skipped"] == 0
    assert still_on["inferences"] < still_off["inferences"]
    for row in rows.values():
        assert row["frames"] == 12 and 0 < row["frames_sent"] <= 12
        assert row["differing_max_pct"] >= row["differing_mean_pct"] >= 0
    assert "| synthetic hand | on |" in markdown
