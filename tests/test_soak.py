"""A short soak (about 25 s) of the live pipeline with ``scripts/soak.py``: memory flat after
warm-up, bounded buffers, no leaked threads or files, a complete report.

The long run (30 minutes and more) is done by hand: ``python scripts/soak.py``; its report is
in docs/soak/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import pytest
from conftest import REPO

SECONDS = 25
WARM_UP = 8
MAX_GROWTH_MB = 40  # generous: RSS moves by a few MB either way from sample to sample


@pytest.mark.slow
def test_short_soak_keeps_memory_flat(model_path, tmp_path, config_dir):
    out = tmp_path / "report"
    command = [
        sys.executable,
        str(REPO / "scripts" / "soak.py"),
        "--seconds",
        str(SECONDS),
        "--size",
        "640x360",
        "--model",
        str(model_path),
        "--sample-every",
        "1",
        "--warm-up-seconds",
        str(WARM_UP),
        "--switch-every",
        "4",
        "--max-slope",
        "1e9",  # a slope over 17 s is noise; the growth check below is the robust one
        "--max-growth",
        str(MAX_GROWTH_MB),
        "--out",
        str(out),
        "--name",
        "short",
    ]
    env = dict(os.environ, VCAM_CONFIG_DIR=str(config_dir))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "short.json").read_text())
    summary, samples = report["summary"], report["samples"]
    assert summary["errors"] == []
    assert len(samples) >= SECONDS - 3
    assert summary["rss_growth_mb"] < MAX_GROWTH_MB
    after = [s["rss_mb"] for s in samples if s["t"] >= WARM_UP]
    assert max(after) - min(after) < 2 * MAX_GROWTH_MB
    assert summary["frames_out"] > 50 and summary["inferences"] > 10
    assert summary["frames_out"] <= summary["frames_in"]
    assert summary["dropped"] >= 0 and summary["placeholders"] == 0
    assert summary["background_switches"] >= 4
    queues = summary["queue_max"]
    assert queues["source"] <= 1 and queues["matting"] <= 1  # one-slot boxes, never a queue
    assert queues["stats"] < 20_000  # bounded per stage
    threads, files = summary["threads_start_end"], summary["open_files_start_end"]
    assert threads[1] <= threads[0] and files[1] <= files[0] + 1
    markdown = (out / "short.md").read_text()
    assert "RSS slope after warm-up" in markdown and "short-rss.png" in markdown
    plot = cv2.imread(str(out / "short-rss.png"))
    assert plot is not None and plot.shape[0] > 200 and plot.std() > 5
