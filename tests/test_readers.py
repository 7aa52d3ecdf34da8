"""Counting the readers of the virtual camera: a fake process table, and real processes that
open a fake device (a plain file: inotify and /proc treat it like a device node)."""

from __future__ import annotations

import os
import select
import subprocess
import sys

import pytest

from vcam import readers
from vcam.readers import DeviceWatch, can_watch, device_readers

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")


def fake_process_table(root, device, holders, others=()):
    """A /proc look-alike: each pid in ``holders`` has ``device`` open (fd 3), each in
    ``others`` only /dev/null; plus the entries a real /proc has that are not processes."""
    for pid in (*holders, *others):
        fd = root / str(pid) / "fd"
        fd.mkdir(parents=True)
        os.symlink("/dev/null", fd / "0")
        if pid in holders:
            os.symlink(str(device), fd / "3")
    (root / "self").mkdir()
    (root / "net").mkdir()
    (root / "4242").mkdir()  # a process that ended while being listed: no fd folder
    return root


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "video10"
    path.touch()
    return path


def test_readers_are_the_processes_that_hold_the_device_but_not_us(tmp_path, device):
    proc = fake_process_table(tmp_path / "proc", device, holders=(101, 202, 303), others=(404,))
    assert device_readers(device, proc, exclude=()) == [101, 202, 303]
    assert device_readers(device, proc, exclude=(202,)) == [101, 303]  # the writer itself
    other = tmp_path / "video11"
    other.touch()
    assert device_readers(other, proc, exclude=()) == []
    assert device_readers(device, tmp_path / "no-proc-here") == []


def test_a_device_named_through_a_link_matches_what_proc_shows(tmp_path, device):
    proc = fake_process_table(tmp_path / "proc", device.resolve(), holders=(7,))
    alias = tmp_path / "by-name-vcam"
    alias.symlink_to(device)
    assert device_readers(alias, proc, exclude=()) == [7]


@linux
def test_real_processes_are_counted_while_they_hold_the_device_open(device):
    watch = DeviceWatch(str(device))
    assert watch.count() == 0
    with open(device, "rb"):  # this process is the writer's: never counted
        assert watch.count() == 0
    assert watch.drain() == 2  # its open and close
    reader = subprocess.Popen(
        [sys.executable, "-c", f"import sys; f = open({str(device)!r}); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        assert watch.event_driven and watch.fileno() is not None
        ready, _, _ = select.select([watch.fileno()], [], [], 30)
        assert ready, "inotify must tell of the open"
        assert watch.drain() >= 1
        assert watch.readers() == [reader.pid]
    finally:
        reader.communicate(b"", timeout=30)
    ready, _, _ = select.select([watch.fileno()], [], [], 30)
    assert ready, "inotify must tell of the close"
    watch.drain()
    assert watch.count() == 0
    watch.close()
    assert watch.fileno() is None


@linux
def test_the_watch_falls_back_to_polling_when_the_device_goes(device):
    watch = DeviceWatch(str(device))
    assert watch.event_driven
    device.unlink()
    select.select([watch.fileno()], [], [], 10)
    watch.drain()
    assert not watch.event_driven and watch.fileno() is None
    assert watch.count() == 0
    watch.close()


def test_only_linux_device_paths_can_be_watched(device, monkeypatch):
    assert can_watch(str(device)) == sys.platform.startswith("linux")
    assert not can_watch("OBS Virtual Camera")  # the Windows and macOS backends' names
    assert not can_watch("Unity Video Capture")
    assert not can_watch("/dev/video-not-there")
    assert not can_watch(None)
    monkeypatch.setattr(readers.sys, "platform", "win32")
    assert not can_watch(str(device))
