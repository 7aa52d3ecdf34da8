"""A local remote control: ``vcam ctl ...`` drives a running ``vcam run`` or panel.

The channel is the user's own and local only, never TCP: a Unix socket (mode 0600) at
:func:`control_path` (``$XDG_RUNTIME_DIR/vcam/control.sock``, else ``control.sock`` in the
settings folder) or, on Windows, the named pipe ``\\\\.\\pipe\\vcam-control-<user>``.

One JSON object per line, each answered by one JSON line::

    {"cmd": "status"}                          -> {"ok": true, "state": "running", ...}
    {"cmd": "background", "value": "preset:office"}
    {"cmd": "blur", "value": 30}               (the blur background, at strength 30)
    {"cmd": "pause"} / {"cmd": "resume"} / {"cmd": "toggle-pause"} / {"cmd": "stop"}
    {"cmd": "next-background"}
    {"cmd": "model", "value": "quality"}
    not JSON, or an unknown command         -> {"ok": false, "error": "..."}

A bad request gets its error reply and the run goes on. One instance per channel: a lock
file held while it runs tells a second one (:class:`AlreadyRunning`), and a socket left by a
run that crashed is replaced (only a socket: any other file in the way is reported).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vcam import media
from vcam.errors import VcamError
from vcam.settings import Settings, background_changes, config_dir

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_LINE = 64 * 1024  # bytes: a longer request is refused
CLIENT_IDLE = 2.0  # seconds a connection may stay silent before it is closed
# Each command and the value it takes: None (nothing), int, str, or a tuple of choices.
COMMANDS: dict[str, Any] = {
    "status": None,
    "pause": None,
    "resume": None,
    "toggle-pause": None,
    "background": str,
    "blur": int,
    "next-background": None,
    "model": media.MODEL_NAMES,
    "stop": None,
    "show": None,
}

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(VcamError):
    """A request the running vcam cannot carry out, or a channel that cannot be used."""


class NotRunning(ControlError):
    """No vcam listens on the channel."""


class AlreadyRunning(ControlError):
    """Another vcam holds the channel; ``app`` names it ("vcam run", "panel")."""

    def __init__(self, message: str, app: str = "", pid: int = 0) -> None:
        super().__init__(message)
        self.app, self.pid = app, pid


def control_path() -> str:
    """Where the channel lives: a named pipe on Windows; else a socket in
    ``$XDG_RUNTIME_DIR/vcam`` or, when that is not set or ``$VCAM_CONFIG_DIR`` names
    another settings folder (another vcam of its own), in the settings folder."""
    if sys.platform == "win32":
        return rf"\\.\pipe\vcam-control-{getpass.getuser()}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and not os.environ.get("VCAM_CONFIG_DIR"):
        return str(Path(runtime) / "vcam" / SOCKET_NAME)
    return str(config_dir() / SOCKET_NAME)


def parse_request(line: bytes | str) -> dict[str, Any]:
    """One request line as ``{"cmd": ..., "value": ...}``, or ControlError saying what is
    wrong with it."""
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):
        raise ControlError('not JSON: send one object per line, like {"cmd": "status"}') from None
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise ControlError('a request is an object with a "cmd", like {"cmd": "status"}')
    command = request["cmd"]
    if command not in COMMANDS:
        raise ControlError(f"unknown command {command[:40]!r}: use {', '.join(COMMANDS)}")
    kind, value = COMMANDS[command], request.get("value")
    if kind is None:
        return {"cmd": command}
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ControlError(f"{command}: give a whole number, like 30")
        value = int(value)
    elif kind is str:
        if not isinstance(value, str) or not value.strip():
            raise ControlError(f"{command}: give a value, like blur or preset:office")
        value = value.strip()
    elif value not in kind:
        raise ControlError(f"{command}: give one of {', '.join(kind)}")
    return {"cmd": command, "value": value}


# ---------------------------------------------------------------------------------------------
# What the requests change


def background_cycle() -> list[str]:
    """The backgrounds ``next-background`` steps through: blur, the bundled presets, the
    saved colour."""
    from vcam.backgrounds import presets

    return ["blur", *(media.PRESET_PREFIX + name for name in presets()), "colour"]


def current_background(settings: Settings) -> str:
    """The settings' background as a ``background_cycle`` entry ("" when not one)."""
    if settings.background in ("blur", "colour"):
        return settings.background
    name = media.preset_name(settings.background_path)
    if settings.background == "image" and name is not None:
        return media.PRESET_PREFIX + name
    return ""


def setting_changes(request: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The settings a look-changing request sets ({} for the others)."""
    command, value = request["cmd"], request.get("value")
    if command == "background":
        if value == "colour":
            return {"background": "colour"}
        return background_changes(value)
    if command == "blur":
        return {"background": "blur", "blur_strength": value}
    if command == "model":
        return {"model": value}
    if command == "next-background":
        cycle = background_cycle()
        now = current_background(settings)
        following = cycle[(cycle.index(now) + 1) % len(cycle)] if now in cycle else cycle[0]
        return setting_changes({"cmd": "background", "value": following}, settings)
    return {}


def status_fields(settings: Settings) -> dict[str, Any]:
    """The look and model of ``settings`` for a status reply."""
    return {
        "background": current_background(settings) or settings.background,
        "background_path": settings.background_path,
        "blur": settings.blur_strength,
        "colour": settings.colour,
        "model": settings.model,
    }


def status_line(reply: dict[str, Any]) -> str:
    """A status reply as one line: "vcam run (pid 12): running: ... · background blur ..."."""
    who = f"{reply.get('app', 'vcam')} (pid {reply.get('pid', '?')})"
    state, message = reply.get("state", "?"), reply.get("message", "")
    parts = [f"{who}: {state}" + (f": {message}" if message and message != state else "")]
    background = reply.get("background", "")
    if background == "blur":
        background += f" {reply.get('blur')}"
    elif background == "colour":
        background += f" {reply.get('colour')}"
    elif background in ("image", "video"):
        background += f" {Path(str(reply.get('background_path', ''))).name}"
    if background:
        parts.append(f"background {background}")
    if reply.get("model"):
        parts.append(f"model {Path(str(reply['model'])).name}")
    if reply.get("fps") is not None and state == "running":
        parts.append(f"{reply['fps']:.1f} fps")
    return " · ".join(parts)


class PipelineControl:
    """Carries out requests on the pipeline of ``vcam run``; ``stop`` (an Event) ends it."""

    def __init__(self, pipeline, stop: threading.Event, app: str = "vcam run") -> None:
        self.pipeline, self.stop, self.app = pipeline, stop, app

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        command, pipeline = request["cmd"], self.pipeline
        if command == "toggle-pause":
            command = "resume" if pipeline.camera_paused else "pause"
        if command == "pause":
            pipeline.pause_camera()
        elif command == "resume":
            pipeline.resume_camera()
        elif command == "stop":
            self.stop.set()
        elif command == "show":
            raise ControlError(f"{self.app} has no window to show")
        else:
            changes = setting_changes(request, pipeline.settings)
            if changes:
                pipeline.update(pipeline.settings.replace(**changes))
        return self.status()

    def status(self) -> dict[str, Any]:
        pipeline = self.pipeline
        state = "stopping" if self.stop.is_set() else pipeline.status.state
        return {
            "app": self.app,
            "pid": os.getpid(),
            "state": state,
            "message": pipeline.status.message,
            "paused": pipeline.camera_paused,
            "idle": pipeline.idle,
            "fps": round(pipeline.snapshot().fps, 1),
            **status_fields(pipeline.settings),
        }


# ---------------------------------------------------------------------------------------------
# The channel


class ControlServer:
    """The listening end, one per user: ``open()`` claims the channel (AlreadyRunning when
    another vcam has it), ``start(handler)`` answers requests in a thread, ``close()`` ends.

    ``handler(request)`` runs in the server's thread and returns the reply's fields; a
    VcamError it raises becomes the error reply."""

    def __init__(self, app: str = "vcam run", path: str | None = None) -> None:
        self.app = app
        self.path = path or control_path()
        self._listener: Any = None
        self._lock_fd: int | None = None
        self._inode: int | None = None
        self._handler: Handler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ControlServer:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> ControlServer:
        """Claim the channel (once); AlreadyRunning when another vcam has it."""
        if self._listener is not None:
            return self
        if sys.platform == "win32":
            self._open_pipe()
        else:
            self._open_socket()
        log.info("remote control at %s", self.path)
        return self

    def start(self, handler: Handler) -> ControlServer:
        """Answer requests with ``handler`` from now on (in the vcam-control thread)."""
        self.open()
        self._handler = handler
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="vcam-control", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop answering, remove the socket (if it is still ours), free the channel."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if sys.platform == "win32" and listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocking accept()
                _pipe_client(self.path).close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(3.0)
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        if self._inode is not None:
            with contextlib.suppress(OSError):
                if os.lstat(self.path).st_ino == self._inode:
                    os.unlink(self.path)
            self._inode = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # frees the lock
            self._lock_fd = None

    def answer(self, line: bytes | str) -> dict[str, Any]:
        """The reply to one request line (never raises)."""
        try:
            request = parse_request(line)
            handler = self._handler
            if handler is None:
                raise ControlError(f"{self.app} is starting; try again in a moment")
            reply = handler(request)
        except VcamError as error:
            return {"ok": False, "error": " ".join(str(error).split())}
        except Exception as error:  # noqa: BLE001 - a bad request never stops the run
            log.warning("remote control request failed", exc_info=True)
            return {"ok": False, "error": f"internal error: {type(error).__name__}: {error}"}
        return {"ok": True, **reply}

    # -- Unix socket ----------------------------------------------------------------------

    def _open_socket(self) -> None:
        import fcntl

        path = Path(self.path)
        if len(os.fsencode(self.path)) > 100:
            raise ControlError(f"control socket path too long ({self.path}): set XDG_RUNTIME_DIR")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise ControlError(f"cannot create {path.parent}: {error.strerror}") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(lock_fd, 200).decode(errors="replace").split(maxsplit=1)
            os.close(lock_fd)
            pid = int(holder[0]) if holder and holder[0].isdigit() else 0
            app = holder[1].strip() if len(holder) > 1 else "vcam"
            raise AlreadyRunning(
                f"{app} is already running (pid {pid}): control it with `vcam ctl status`, "
                "`vcam ctl stop` ends it",
                app,
                pid,
            ) from None
        try:
            os.ftruncate(lock_fd, 0)
            os.write(lock_fd, f"{os.getpid()} {self.app}\n".encode())
            self._remove_stale(path)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(self.path)
                os.chmod(self.path, 0o600)
                listener.listen(8)
                listener.settimeout(0.5)
            except OSError:
                listener.close()
                raise
        except (OSError, ControlError) as error:
            os.close(lock_fd)
            if isinstance(error, ControlError):
                raise
            raise ControlError(f"cannot listen at {self.path}: {error.strerror}") from None
        self._lock_fd, self._listener = lock_fd, listener
        self._inode = os.lstat(self.path).st_ino

    @staticmethod
    def _remove_stale(path: Path) -> None:
        """The lock is ours, so a socket there is a crashed run's: replace it. Anything else
        in the way is not ours to delete."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{path} is in the way of the control socket: remove it")
        os.unlink(path)
        log.info("replaced the control socket a previous run left behind")

    def _serve(self) -> None:
        if sys.platform == "win32":
            self._serve_pipe()
            return
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.debug("accept failed", exc_info=True)
                continue
            with connection:
                self._converse(connection)

    def _converse(self, connection: socket.socket) -> None:
        """Answer each line of one client until it closes, falls silent or sends too much."""
        connection.settimeout(CLIENT_IDLE)
        pending = b""
        try:
            while not self._stop.is_set():
                data = connection.recv(4096)
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        connection.sendall(_encode(self.answer(line)))
                if len(pending) > MAX_LINE:
                    connection.sendall(_encode({"ok": False, "error": "request too long"}))
                    return
        except OSError:  # the client went away or fell silent
            return

    # -- Windows named pipe ---------------------------------------------------------------

    def _open_pipe(self) -> None:
        from multiprocessing.connection import Listener

        try:
            self._listener = Listener(self.path, family="AF_PIPE")
        except OSError:
            try:
                other = request("status", path=self.path, timeout=2.0)
            except ControlError:
                other = {}
            app, pid = other.get("app", "vcam"), int(other.get("pid") or 0)
            raise AlreadyRunning(
                f"{app} is already running (pid {pid}): control it with `vcam ctl status`",
                app,
                pid,
            ) from None

    def _serve_pipe(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                connection = listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with connection:
                try:
                    while not self._stop.is_set() and connection.poll(CLIENT_IDLE):
                        line = connection.recv_bytes(MAX_LINE)
                        connection.send_bytes(_encode(self.answer(line)))
                except (OSError, EOFError):
                    continue


def _encode(reply: dict[str, Any]) -> bytes:
    return (json.dumps(reply) + "\n").encode()


def _pipe_client(path: str):
    from multiprocessing.connection import Client

    return Client(path, family="AF_PIPE")


def request(
    command: str, value: Any = None, path: str | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Send one request to the running vcam and return its reply (``ok`` False: the error).
    NotRunning when nothing listens."""
    path = path or control_path()
    message = {"cmd": command} if value is None else {"cmd": command, "value": value}
    line = _encode(message)
    if sys.platform == "win32":
        try:
            connection = _pipe_client(path)
        except OSError:
            raise NotRunning(f"vcam is not running (no control channel at {path})") from None
        with connection:
            connection.send_bytes(line)
            if not connection.poll(timeout):
                raise ControlError("vcam did not answer in time")
            return json.loads(connection.recv_bytes(MAX_LINE))
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(timeout)
        client.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        client.close()
        raise NotRunning(
            "vcam is not running: start `vcam run` or the panel (`vcam`) first"
        ) from None
    except OSError as error:
        client.close()
        raise ControlError(f"cannot reach vcam at {path}: {error.strerror or error}") from None
    with client:
        try:
            client.sendall(line)
            reply = b""
            while not reply.endswith(b"\n"):
                data = client.recv(4096)
                if not data:
                    break
                reply += data
        except TimeoutError:
            raise ControlError("vcam did not answer in time") from None
        except OSError as error:
            raise ControlError(f"the connection to vcam broke: {error.strerror}") from None
    try:
        return json.loads(reply)
    except ValueError:
        raise ControlError("vcam's answer was not understood") from None
