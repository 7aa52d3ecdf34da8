"""Who reads the virtual camera: the other processes that have its device open (Linux).

v4l2loopback does not tell a writer whether anyone reads; the kernel does: every process's
open files are listed in ``/proc/<pid>/fd``. :func:`device_readers` scans them for the device
(our own process, which writes to it, left out). :class:`DeviceWatch` adds inotify on the
device node (as Linux-Fake-Background-Webcam does): an ``open`` or ``close`` of the device by
anyone wakes the caller at once, so the table is scanned only when something changed.

Other platforms (OBS Virtual Camera, Unity Capture) give no such view: :func:`can_watch` says
so, and the caller keeps running.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")
IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN, IN_IGNORED = 0x08, 0x10, 0x20, 0x8000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


def device_readers(
    device: str | Path, proc: str | Path = PROC, exclude: Iterable[int] | None = None
) -> list[int]:
    """The ids of the processes, other than ``exclude`` (default: this one), that have
    ``device`` open, from the process table ``proc`` (``/proc``, or a copy of its layout).
    Processes that end while being looked at, and other users' processes (whose open files
    are not ours to read), are skipped."""
    skip = {os.getpid()} if exclude is None else set(exclude)
    wanted = {str(device), os.path.realpath(device)}
    readers = []
    try:
        entries = list(os.scandir(proc))
    except OSError as error:
        log.debug("cannot list %s: %s", proc, error)
        return readers
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            with os.scandir(os.path.join(entry.path, "fd")) as fds:
                for fd in fds:
                    try:
                        target = os.readlink(fd.path)
                    except OSError:
                        continue
                    if target in wanted:
                        readers.append(int(entry.name))
                        break
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return sorted(readers)


def can_watch(device: str | None, proc: str | Path = PROC) -> bool:
    """Whether this platform can tell who reads ``device``: Linux, a device path that exists,
    and a readable process table. False for OBS Virtual Camera and Unity Capture (names, not
    paths) and on Windows and macOS."""
    if not device or not sys.platform.startswith("linux"):
        return False
    return os.path.isabs(device) and os.path.exists(device) and os.path.isdir(proc)


class _Inotify:
    """inotify (through libc) on one file for opens and closes; None-safe: ``open`` returns
    None where it is not available."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.alive = True

    @classmethod
    def open(cls, path: str) -> _Inotify | None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError) as error:
            log.debug("no inotify: %s", error)
            return None
        if fd < 0:
            log.debug("inotify_init1 failed: %s", os.strerror(ctypes.get_errno()))
            return None
        mask = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
        if libc.inotify_add_watch(fd, os.fsencode(path), mask) < 0:
            log.debug("inotify on %s failed: %s", path, os.strerror(ctypes.get_errno()))
            os.close(fd)
            return None
        return cls(fd)

    def drain(self) -> int:
        """Read every pending event; returns how many opens and closes there were. The watch
        is dead (``alive`` False) once the file is gone."""
        seen = 0
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return seen
            except OSError:
                self.alive = False
                return seen
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & IN_IGNORED:
                    self.alive = False
                else:
                    seen += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class DeviceWatch:
    """Counts the readers of ``device`` and offers a file descriptor that becomes readable
    when someone opens or closes it (``fileno()``; None without inotify: poll then).

    ``proc`` and ``exclude`` as for :func:`device_readers`."""

    def __init__(
        self, device: str, proc: str | Path = PROC, exclude: Iterable[int] | None = None
    ) -> None:
        self.device = device
        self.proc = proc
        self.exclude = None if exclude is None else set(exclude)
        self._inotify = _Inotify.open(device)

    def readers(self) -> list[int]:
        """The processes that have the device open now (not this one)."""
        return device_readers(self.device, self.proc, self.exclude)

    def count(self) -> int:
        return len(self.readers())

    @property
    def event_driven(self) -> bool:
        """True while inotify tells of opens and closes (else the caller polls)."""
        return self._inotify is not None and self._inotify.alive

    def fileno(self) -> int | None:
        """The inotify descriptor to wait on (select), or None."""
        return self._inotify.fd if self.event_driven else None

    def drain(self) -> int:
        """Consume the pending open/close events; returns how many there were."""
        return self._inotify.drain() if self._inotify is not None else 0

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
