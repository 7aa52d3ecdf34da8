"""Start at login: the entries each platform gets, written into a temporary home, read back
with the platform's own format (desktop entry, systemd unit, plist, registry value), and
removed by ``off`` without touching anything else there."""

from __future__ import annotations

import configparser
import os
import plistlib
import shlex
import sys

import pytest

from vcam import autostart
from vcam.autostart import AutostartError, Places, disable, enable, status


class FakeWinreg:
    """The part of ``winreg`` that autostart uses, over a dict (the registry exists only on
    Windows; this checks what is written where)."""

    HKEY_CURRENT_USER, KEY_READ, KEY_SET_VALUE, REG_SZ = "HKCU", 1, 2, 1

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], dict[str, str]] = {}

    class _Key:
        def __init__(self, values):
            self.values = values

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    def OpenKey(self, root, path, reserved=0, access=1):  # noqa: N802 - winreg's names
        if (root, path) not in self.keys:
            raise FileNotFoundError(path)
        return self._Key(self.keys[root, path])

    def CreateKey(self, root, path):  # noqa: N802
        return self._Key(self.keys.setdefault((root, path), {}))

    def QueryValueEx(self, key, name):  # noqa: N802
        if name not in key.values:
            raise FileNotFoundError(name)
        return key.values[name], self.REG_SZ

    def SetValueEx(self, key, name, reserved, kind, value):  # noqa: N802
        key.values[name] = value

    def DeleteValue(self, key, name):  # noqa: N802
        del key.values[name]


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def exec_words(text: str) -> list[str]:
    """A desktop entry's Exec key as words, read as the Desktop Entry Specification says:
    the string escapes first (``\\\\`` is one backslash), then the quoting (inside double
    quotes a backslash escapes ``"``, backquote, ``$`` and itself), then ``%%`` is ``%``."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read_string(text)
    value = entry["Desktop Entry"]["Exec"].replace("\\\\", "\\")
    words, word, quoted, index = [], None, False, 0
    while index < len(value):
        char = value[index]
        if quoted and char == "\\" and value[index + 1] in '"`$\\':
            word, index = word + value[index + 1], index + 2
            continue
        if char == '"':
            quoted, word = not quoted, word or ""
        elif char == " " and not quoted:
            if word is not None:
                words.append(word)
            word = None
        else:
            word = (word or "") + char
        index += 1
    if word is not None:
        words.append(word)
    return [word.replace("%%", "%") for word in words]


def test_linux_xdg_entry_starts_the_on_demand_run_and_off_removes_only_it(home, config_dir):
    places = Places(home, "linux")
    other = home / ".config" / "autostart" / "someone-else.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nExec=true\n")
    assert status(places) == []

    entry = enable("run", places=places)
    desktop = home / ".config" / "autostart" / "vcam.desktop"
    assert entry.where == str(desktop) and entry.how == "XDG autostart entry"
    assert entry.target == "run" and "vcam run --on-demand" in entry.line()
    words = exec_words(desktop.read_text())
    assert words == [
        "env",
        f"VCAM_CONFIG_DIR={config_dir}",
        sys.executable,
        "-m",
        "vcam",
        "run",
        "--on-demand",
    ]
    assert "X-vcam-autostart=true" in desktop.read_text()
    assert status(places) == [entry]

    assert disable(places) == [entry]
    assert not desktop.exists() and other.exists()
    assert sorted(os.listdir(other.parent)) == ["someone-else.desktop"]
    assert status(places) == [] and disable(places) == []


def test_linux_systemd_unit_is_enabled_by_its_link_and_off_removes_both(home, monkeypatch):
    monkeypatch.delenv("VCAM_CONFIG_DIR")
    places = Places(home, "linux")
    user_units = home / ".config" / "systemd" / "user"
    (user_units / "default.target.wants").mkdir(parents=True)
    (user_units / "mine.service").write_text("[Service]\nExecStart=/bin/true\n")
    (user_units / "default.target.wants" / "mine.service").symlink_to(user_units / "mine.service")

    entry = enable("run", method="systemd", places=places)
    unit = user_units / "vcam.service"
    link = user_units / "default.target.wants" / "vcam.service"
    assert entry.where == str(unit) and link.is_symlink() and link.resolve() == unit
    sections = configparser.ConfigParser(interpolation=None, strict=False)
    sections.read_string(unit.read_text())
    assert shlex.split(sections["Service"]["ExecStart"]) == [
        sys.executable,
        "-m",
        "vcam",
        "run",
        "--on-demand",
    ]
    assert "Environment" not in sections["Service"]  # nothing to carry here
    assert sections["Install"]["WantedBy"] == "default.target"
    assert sections["Service"]["Restart"] == "on-failure"

    disable(places)
    assert not unit.exists() and not link.is_symlink()
    assert sorted(os.listdir(user_units)) == ["default.target.wants", "mine.service"]
    assert os.listdir(user_units / "default.target.wants") == ["mine.service"]


def test_the_panel_in_the_tray_is_the_other_choice(home):
    places = Places(home, "linux")
    entry = enable("panel", method="systemd", places=places)
    assert entry.target == "panel" and "the panel in the tray" in entry.line()
    text = (home / ".config" / "systemd" / "user" / "vcam.service").read_text()
    assert "WantedBy=graphical-session.target" in text and " ui --tray" in text
    link = home / ".config/systemd/user/graphical-session.target.wants/vcam.service"
    assert link.is_symlink()
    entry = enable("panel", places=places)  # switching method replaces the first entry
    assert entry.how == "XDG autostart entry" and not link.is_symlink()
    assert exec_words((home / ".config/autostart/vcam.desktop").read_text())[-2:] == [
        "ui",
        "--tray",
    ]
    assert status(places) == [entry]


def test_macos_launch_agent(home, config_dir):
    places = Places(home, "darwin")
    entry = enable("run", places=places)
    agent = home / "Library" / "LaunchAgents" / "org.vcam.autostart.plist"
    assert entry.where == str(agent) and entry.how == "LaunchAgent"
    with agent.open("rb") as handle:
        loaded = plistlib.load(handle)
    assert loaded["Label"] == "org.vcam.autostart" and loaded["RunAtLoad"] is True
    assert loaded["ProgramArguments"] == [sys.executable, "-m", "vcam", "run", "--on-demand"]
    assert loaded["EnvironmentVariables"] == {"VCAM_CONFIG_DIR": str(config_dir)}
    disable(places)
    assert not agent.exists() and agent.parent.is_dir()


def test_windows_run_key_value(home, monkeypatch):
    monkeypatch.delenv("VCAM_CONFIG_DIR")
    registry = FakeWinreg()
    key = ("HKCU", autostart.RUN_KEY)
    registry.keys[key] = {"OneDrive": r'"C:\OneDrive.exe" /background'}
    places = Places(home, "win32", registry=registry)
    entry = enable("panel", places=places)
    assert entry.how == "Run key value" and entry.target == "panel"
    assert entry.where.endswith(r"CurrentVersion\Run\vcam")
    assert registry.keys[key]["vcam"].endswith(" -m vcam ui --tray")
    assert status(places) == [entry]
    disable(places)
    assert registry.keys[key] == {"OneDrive": r'"C:\OneDrive.exe" /background'}
    assert os.listdir(home) == [], "nothing is written into the home on Windows"


def test_what_a_user_wrote_under_vcams_names_is_never_overwritten_or_removed(home):
    places = Places(home, "linux")
    own = home / ".config" / "autostart" / "vcam.desktop"
    own.parent.mkdir(parents=True)
    own.write_text("[Desktop Entry]\nExec=my-own-vcam-script\n")
    assert status(places) == [] and disable(places) == []
    with pytest.raises(AutostartError, match="not written by vcam"):
        enable("run", places=places)
    assert own.read_text() == "[Desktop Entry]\nExec=my-own-vcam-script\n"

    registry = FakeWinreg()
    registry.keys["HKCU", autostart.RUN_KEY] = {"vcam": r"C:\tools\vcam-wrapper.exe"}
    windows = Places(home, "win32", registry=registry)
    assert status(windows) == []
    with pytest.raises(AutostartError, match="not written by vcam"):
        enable("run", places=windows)
    disable(windows)
    assert registry.keys["HKCU", autostart.RUN_KEY] == {"vcam": r"C:\tools\vcam-wrapper.exe"}


def test_arguments_with_spaces_quotes_and_escapes_survive_each_format(home, monkeypatch):
    odd = str(home / "my settings" / 'it\'s "100%" $HOME `x` \\ y.json')
    monkeypatch.delenv("VCAM_CONFIG_DIR")
    places = Places(home, "linux")
    enable("run", settings_file=odd, places=places)
    words = exec_words((home / ".config/autostart/vcam.desktop").read_text())
    assert words[3:5] == ["--settings", odd]
    enable("run", method="systemd", settings_file=odd, places=places)
    text = (home / ".config/systemd/user/vcam.service").read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    value = exec_start[len("ExecStart=") :].replace("%%", "%").replace("$$", "$")
    assert shlex.split(value)[3:5] == ["--settings", odd]


def test_unknown_targets_and_methods_are_refused(home):
    with pytest.raises(AutostartError, match="run, panel"):
        enable("tray", places=Places(home, "linux"))
    with pytest.raises(AutostartError, match="launchagent"):
        enable("run", method="systemd", places=Places(home, "darwin"))
