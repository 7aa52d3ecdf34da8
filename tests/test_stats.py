"""Rolling statistics with a controlled clock: medians, rates, the window and the bound."""

from __future__ import annotations

import threading

import pytest

from vcam.stats import MAX_SAMPLES, RollingStats, StatsSnapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_median_over_the_window():
    clock = Clock()
    stats = RollingStats(window=2.0, clock=clock)
    for seconds in (0.010, 0.030, 0.020):
        stats.record("inference", seconds)
    assert stats.median_ms("inference") == pytest.approx(20.0)
    clock.now += 1.5
    stats.record("inference", 0.100)
    stats.record("inference", 0.100)
    assert stats.median_ms("inference") == pytest.approx(30.0)  # of 10, 20, 30, 100, 100
    clock.now += 1.0  # the first three fall out of the window
    assert stats.median_ms("inference") == pytest.approx(100.0)
    clock.now += 5.0
    assert stats.median_ms("inference") is None
    assert stats.median_ms("never") is None


def test_rates_and_totals():
    clock = Clock()
    stats = RollingStats(window=3.0, clock=clock)
    for _ in range(31):
        stats.count("frame")
        clock.now += 0.05  # 20 per second
    assert stats.rate("frame") == pytest.approx(20.0)
    assert stats.rate("input") == 0.0
    stats.count("skipped", 3)
    assert stats.total("frame") == 31 and stats.total("skipped") == 3
    clock.now += 10
    assert stats.rate("frame") == 0.0
    assert stats.total("frame") == 31


def test_snapshot_and_line():
    clock = Clock()
    stats = RollingStats(clock=clock)
    stats.record("composite", 0.004)
    stats.record("send", 0.002)
    stats.count("frame")
    clock.now += 0.1
    stats.count("frame")
    snap = stats.snapshot(dropped=7)
    assert isinstance(snap, StatsSnapshot)
    assert snap.stage_ms == {"composite": pytest.approx(4.0), "send": pytest.approx(2.0)}
    assert snap.fps == pytest.approx(10.0) and snap.frames == 2 and snap.dropped == 7
    line = snap.line()
    assert "10.0 fps out" in line and "composite 4.0" in line and "7 dropped" in line


def test_timer_records_even_when_the_block_raises():
    stats = RollingStats()
    with pytest.raises(ValueError), stats.timer("refine"):
        raise ValueError("x")
    assert stats.median_ms("refine") is not None


def test_buffers_are_bounded_and_thread_safe():
    stats = RollingStats(window=3600.0)

    def hammer():
        for _ in range(3000):
            stats.record("send", 0.001)
            stats.count("frame")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stats._samples["send"]) == MAX_SAMPLES
    assert len(stats._events["frame"]) == MAX_SAMPLES
    assert stats.total("frame") == 12000
