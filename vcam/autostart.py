"""Start at login: ``vcam autostart on|off|status`` and the panel's switch.

What ``on`` writes, per platform (each entry marked as vcam's, so ``off`` removes exactly
those and nothing a user wrote):

- Linux: an XDG autostart entry, ``~/.config/autostart/vcam.desktop`` (the default; every
  desktop session runs it), or with ``--systemd`` a systemd user unit,
  ``~/.config/systemd/user/vcam.service``, and the link that enables it (in
  ``default.target.wants``, or ``graphical-session.target.wants`` for the panel);
- macOS: a LaunchAgent, ``~/Library/LaunchAgents/org.vcam.autostart.plist``;
- Windows: the value ``vcam`` under the per-user Run key
  (``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``).

The entry starts ``vcam run --on-demand`` (target "run": idle until an app uses the camera)
or the panel in the tray with its virtual camera on (target "panel": ``vcam ui --tray``),
with this Python and the saved settings.
"""

from __future__ import annotations

import importlib
import logging
import os
import plistlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcam.errors import VcamError

log = logging.getLogger(__name__)

TARGETS = ("run", "panel")
MARKER_KEY = "X-vcam-autostart"  # in the desktop entry
MARKER_COMMENT = '# vcam autostart: written by "vcam autostart on"; "vcam autostart off" removes it'
LAUNCH_LABEL = "org.vcam.autostart"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "vcam"
CARRIED_ENV = ("VCAM_CONFIG_DIR", "VCAM_MODELS_DIR")  # where "the saved settings" are


class AutostartError(VcamError):
    """An autostart entry cannot be written or removed."""


@dataclass(frozen=True)
class Entry:
    """An autostart entry vcam wrote: ``how`` (e.g. "XDG autostart entry"), ``where`` (its
    file or registry value) and ``target`` ("run", "panel")."""

    how: str
    where: str
    target: str

    def line(self) -> str:
        started = "vcam run --on-demand" if self.target == "run" else "the panel in the tray"
        return f"{self.how} {self.where} starts {started} at login"


def command(target: str = "run", settings_file: str | Path | None = None) -> list[str]:
    """The command line an entry runs: this Python with ``-m vcam`` (pythonw on Windows, so
    no console window opens), the settings file when one was named, and the target."""
    if target not in TARGETS:
        raise AutostartError(f"autostart: {target!r} is not one of {', '.join(TARGETS)}")
    python = Path(sys.executable)
    windowless = python.with_name("pythonw.exe")
    if sys.platform == "win32" and windowless.exists():
        python = windowless
    args = [str(python), "-m", "vcam"]
    if settings_file:
        args += ["--settings", str(Path(settings_file).expanduser().resolve())]
    return args + (["run", "--on-demand"] if target == "run" else ["ui", "--tray"])


def carried_environment() -> dict[str, str]:
    """The environment an entry sets: vcam's own folders, when this shell names them."""
    return {name: os.environ[name] for name in CARRIED_ENV if os.environ.get(name)}


def installed_note() -> str:
    """ "" when this Python can import vcam without this shell's PYTHONPATH (as at login),
    else a one-line note saying what to do."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        found = subprocess.run(
            [sys.executable, "-c", "import vcam"],
            env=env,
            cwd=Path.home(),
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if found.returncode == 0:
        return ""
    return (
        f"vcam is not installed in {sys.executable} (it runs from PYTHONPATH here): install it "
        "with `pip install -e .` so the login entry can start it"
    )


# ---------------------------------------------------------------------------------------------
# Where entries live


class Places:
    """The folders entries go to, for ``home`` (default: the user's; tests give a temporary
    one) and ``platform`` (default: this one)."""

    def __init__(
        self, home: str | Path | None = None, platform: str | None = None, registry: Any = None
    ) -> None:
        self.platform = platform or sys.platform
        self.home = Path(home) if home is not None else Path.home()
        config = os.environ.get("XDG_CONFIG_HOME") if home is None else None
        self.config = Path(config) if config else self.home / ".config"
        self._registry = registry

    @property
    def linux(self) -> bool:
        return not (self.platform == "win32" or self.platform == "darwin")

    @property
    def desktop_file(self) -> Path:
        return self.config / "autostart" / "vcam.desktop"

    @property
    def unit_file(self) -> Path:
        return self.config / "systemd" / "user" / "vcam.service"

    def wants_link(self, target: str) -> Path:
        wanted_by = "graphical-session.target" if target == "panel" else "default.target"
        return self.unit_file.parent / f"{wanted_by}.wants" / "vcam.service"

    @property
    def launch_agent(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LAUNCH_LABEL}.plist"

    @property
    def registry(self) -> Any:
        """winreg (Windows), or the stand-in a test gives."""
        if self._registry is None:
            self._registry = importlib.import_module("winreg")
        return self._registry


def methods(platform: str | None = None) -> tuple[str, ...]:
    """The ways to start at login on ``platform``, the default first."""
    platform = platform or sys.platform
    if platform == "win32":
        return ("runkey",)
    if platform == "darwin":
        return ("launchagent",)
    return ("xdg", "systemd")


# ---------------------------------------------------------------------------------------------
# on, off, status


def enable(
    target: str = "run",
    method: str | None = None,
    settings_file: str | Path | None = None,
    places: Places | None = None,
) -> Entry:
    """Write the entry (replacing one vcam wrote before) and return it."""
    places = places or Places()
    allowed = methods(places.platform)
    method = method or allowed[0]
    if method not in allowed:
        raise AutostartError(f"autostart: {method} is not available here (use {allowed[0]})")
    args = command(target, settings_file)
    env = carried_environment()
    disable(places)
    for path in _files_for(method, target, places):
        if path.exists() or path.is_symlink():
            raise AutostartError(
                f"autostart: {path} is there and was not written by vcam: remove or rename it"
            )
    if method == "runkey" and _run_value(places) is not None:
        raise AutostartError(
            rf"autostart: HKCU\{RUN_KEY}\{RUN_VALUE} is there and was not written by vcam"
        )
    try:
        if method == "xdg":
            _write(places.desktop_file, _desktop_entry(args, env, target))
        elif method == "systemd":
            _write(places.unit_file, _systemd_unit(args, env, target))
            link = places.wants_link(target)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(places.unit_file)
        elif method == "launchagent":
            _write(places.launch_agent, _launch_agent(args, env))
        else:
            _set_run_value(places, _windows_command(args, env))
    except OSError as error:
        disable(places)  # nothing half-written stays
        where = error.filename or "the registry"
        raise AutostartError(f"autostart: cannot write {where}: {error.strerror}") from None
    (entry,) = status(places)
    return entry


def disable(places: Places | None = None) -> list[Entry]:
    """Remove every entry vcam wrote (and only those); returns what was removed."""
    places = places or Places()
    removed = status(places)
    for entry in removed:
        if entry.how == "Run key value":
            _delete_run_value(places)
            continue
        path = Path(entry.where)
        path.unlink(missing_ok=True)
        if entry.how == "systemd user unit":
            for target in TARGETS:
                link = places.wants_link(target)
                if link.is_symlink() and os.readlink(link) == str(path):
                    link.unlink()
    return removed


def _files_for(method: str, target: str, places: Places) -> list[Path]:
    """The files ``enable`` writes for ``method``."""
    if method == "xdg":
        return [places.desktop_file]
    if method == "systemd":
        return [places.unit_file, places.wants_link(target)]
    if method == "launchagent":
        return [places.launch_agent]
    return []


def status(places: Places | None = None) -> list[Entry]:
    """The entries vcam wrote that are there now."""
    places = places or Places()
    found = []
    if places.platform == "win32":
        value = _run_value(places)
        if value is not None and _ours(value):
            found.append(Entry("Run key value", rf"HKCU\{RUN_KEY}\{RUN_VALUE}", _target(value)))
        return found
    if places.platform == "darwin":
        text = _read(places.launch_agent)
        if text and f"<string>{LAUNCH_LABEL}</string>" in text:
            found.append(Entry("LaunchAgent", str(places.launch_agent), _target(text)))
        return found
    text = _read(places.desktop_file)
    if text and f"\n{MARKER_KEY}=true" in text:
        found.append(Entry("XDG autostart entry", str(places.desktop_file), _target(text)))
    text = _read(places.unit_file)
    if text and text.startswith(MARKER_COMMENT):
        found.append(Entry("systemd user unit", str(places.unit_file), _target(text)))
    return found


def _ours(text: str) -> bool:
    return " -m vcam " in text


def _target(text: str) -> str:
    return "panel" if re.search(r"\bui\W+--tray", text) else "run"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The formats


def _desktop_quote(arg: str) -> str:
    """One argument of a desktop entry's Exec key (quoting, then the string escapes)."""
    if arg and not re.search(r"[\s\"'\\><~|&;$*?#()`]", arg):
        quoted = arg
    else:
        quoted = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def _desktop_entry(args: list[str], env: dict[str, str], target: str) -> str:
    words = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + args
    what = "the control panel, in the tray" if target == "panel" else "idle until an app uses it"
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=vcam",
            f"Comment=vcam virtual camera ({what})",
            "Exec=" + " ".join(_desktop_quote(word) for word in words),
            "Terminal=false",
            "NoDisplay=true",
            "X-GNOME-Autostart-enabled=true",
            f"{MARKER_KEY}=true",
            "",
        ]
    )


def _systemd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not re.search(r"[\s\"'\\;]", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_unit(args: list[str], env: dict[str, str], target: str) -> str:
    panel = target == "panel"
    session = "graphical-session.target"
    lines = [
        MARKER_COMMENT,
        "[Unit]",
        "Description=vcam virtual camera" + (" panel" if panel else " (idle while unused)"),
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
    ]
    if panel:
        lines += [f"PartOf={session}", f"After={session}"]
    lines += ["", "[Service]"]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()]
    lines += [
        "ExecStart=" + " ".join(_systemd_quote(arg) for arg in args),
        "Restart=on-failure",
        "RestartSec=10",
        "",
        "[Install]",
        f"WantedBy={session if panel else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def _launch_agent(args: list[str], env: dict[str, str]) -> bytes:
    agent: dict[str, Any] = {
        "Label": LAUNCH_LABEL,
        "ProgramArguments": args,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    }
    if env:
        agent["EnvironmentVariables"] = env
    return plistlib.dumps(agent)


def _windows_command(args: list[str], env: dict[str, str]) -> str:
    """A Run key command line (Windows quoting)."""
    line = subprocess.list2cmdline(args)
    if env:  # the Run key has no environment (cmd's `set` would open a console window)
        log.warning("autostart: %s is not carried to the login entry on Windows", ", ".join(env))
    return line


def _run_value(places: Places) -> str | None:
    reg = places.registry
    try:
        with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_READ) as key:
            value, _ = reg.QueryValueEx(key, RUN_VALUE)
    except OSError:  # FileNotFoundError: no such key or value
        return None
    return str(value)


def _set_run_value(places: Places, line: str) -> None:
    reg = places.registry
    with reg.CreateKey(reg.HKEY_CURRENT_USER, RUN_KEY) as key:
        reg.SetValueEx(key, RUN_VALUE, 0, reg.REG_SZ, line)


def _delete_run_value(places: Places) -> None:
    reg = places.registry
    with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
        reg.DeleteValue(key, RUN_VALUE)
