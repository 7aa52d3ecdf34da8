"""The panel's everyday controls with real widgets (offscreen) and the real engine: the privacy
pause, idling while hidden and unused, the "Start at login" switch, and ``vcam ctl`` requests
carried out by the panel over the real socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import FAKE_BACKEND, REPO

pytest.importorskip("PyQt6.QtWidgets")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

import panel_helpers as panel  # noqa: E402
from helpers import vcam_threads  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QSystemTrayIcon  # noqa: E402

from ui.main_window import MainWindow  # noqa: E402
from ui.remote import PanelRemote  # noqa: E402
from vcam.cards import BACKDROP_BGR  # noqa: E402
from vcam.control import ControlServer, request  # noqa: E402
from vcam.settings import load_panel_settings, panel_settings_path, settings_path  # noqa: E402

CARD_RGB = tuple(reversed(BACKDROP_BGR))
MAGENTA_RGB = (255, 0, 255)


def state(window: MainWindow) -> str:
    return window.engine.pipeline.status.state


def wait_state(qtbot, window: MainWindow, wanted: str) -> None:
    qtbot.waitUntil(lambda: state(window) == wanted, timeout=panel.WAIT_MS)


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "video10"
    path.touch()
    return path


def test_pause_button_turns_the_camera_off_and_shows_the_paused_card(qtbot, open_window):
    window = open_window()
    panel.wait_running(qtbot, window)
    assert window.pause_button.text() == "Pause camera"
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, window, "paused")
    assert window.pause_button.text() == "Resume camera"
    assert window.engine.pipeline.source.ended, "the camera is released"
    panel.wait_message(qtbot, window, "Camera paused")
    qtbot.waitUntil(
        lambda: panel.near(panel.rgb_at(window, 0.05, 0.05), CARD_RGB, 8), timeout=panel.WAIT_MS
    )
    qtbot.mouseClick(window.pause_button, Qt.MouseButton.LeftButton)
    wait_state(qtbot, window, "running")
    qtbot.waitUntil(
        lambda: panel.near(panel.rgb_at(window, *panel.BACKGROUND_SPOT), MAGENTA_RGB),
        timeout=panel.WAIT_MS,
    )
    assert window.pause_button.text() == "Pause camera"


def test_hidden_and_unused_it_idles_until_an_app_reads_or_the_window_shows(
    qtbot, open_window, device, fake_vcam
):
    window = open_window(virtual_backend=FAKE_BACKEND, virtual_device=str(device))
    assert window.settings.on_demand, "on by default in the panel"
    assert window.on_demand.isChecked()
    window.ondemand.idle_after = 0.2
    panel.wait_running(qtbot, window)
    window.toggle_output()  # the virtual camera on; the window shown: a watcher
    qtbot.waitUntil(lambda: bool(fake_vcam.instances), timeout=panel.WAIT_MS)
    qtbot.wait(600)
    assert state(window) == "running"

    window.hide()
    wait_state(qtbot, window, "idle")
    panel.wait_message(qtbot, window, "idle: no app is using the camera")
    assert window.engine.pipeline.source.ended
    reader = subprocess.Popen(
        [sys.executable, "-c", f"import sys; f = open({str(device)!r}); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        wait_state(qtbot, window, "running")  # a video call opened the virtual camera
    finally:
        reader.communicate(b"", timeout=30)
    wait_state(qtbot, window, "idle")
    window.show()
    wait_state(qtbot, window, "running")

    window.hide()
    wait_state(qtbot, window, "idle")
    window.on_demand.click()  # "Idle when unused" off: it wakes and stays on
    wait_state(qtbot, window, "running")
    qtbot.wait(600)
    assert state(window) == "running"
    window.save_now()
    assert json.loads(panel_settings_path().read_text())["on_demand"] is False
    assert load_panel_settings().on_demand is False


def test_a_recording_is_never_idled(qtbot, open_window, tmp_path):
    window = open_window(output="file", output_path=str(tmp_path / "rec.mp4"))
    window.ondemand.idle_after = 0.2
    panel.wait_running(qtbot, window)
    window.toggle_output()
    window.hide()
    qtbot.wait(1000)
    assert state(window) == "running"
    window.toggle_output()
    wait_state(qtbot, window, "idle")  # hidden, nothing recorded, no virtual camera


def test_start_at_login_switch_writes_and_removes_the_panels_entry(
    qtbot, open_window, tmp_path, monkeypatch
):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    window = open_window()
    assert not window.autostart_toggle.isChecked()
    window.autostart_toggle.click()
    if sys.platform.startswith("linux"):
        entry = tmp_path / "home" / ".config" / "autostart" / "vcam.desktop"
        assert entry.exists() and "ui --tray" in entry.read_text()
    assert window.autostart_toggle.isChecked()
    assert "Starts at login" in window.status_message.text()
    window.autostart_toggle.click()
    assert not window.autostart_toggle.isChecked()
    assert not [p for p in (tmp_path / "home").rglob("*") if p.is_file()]


def ask(qtbot, path: str, command: str, value=None) -> dict:
    """Send a request from another thread (as `vcam ctl` does from another process) while
    this thread keeps the panel's events flowing."""
    answer = {}
    worker = threading.Thread(
        target=lambda: answer.update(
            request(command, value, path=path, timeout=panel.WAIT_MS / 1000)
        )
    )
    worker.start()
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=panel.WAIT_MS)
    return answer


def test_ctl_requests_are_carried_out_by_the_panel(qtbot, open_window, tmp_path):
    window = open_window()
    panel.wait_running(qtbot, window)
    path = str(tmp_path / "control.sock")
    with ControlServer("panel", path) as server:
        server.start(PanelRemote(window))
        reply = ask(qtbot, path, "status")
        assert reply["ok"] and reply["app"] == "panel" and reply["state"] == "running"
        reply = ask(qtbot, path, "blur", 40)
        assert reply["background"] == "blur" and reply["blur"] == 40
        panel.wait_settings(qtbot, window, background="blur", blur_strength=40)
        assert window.blur_slider.isVisible()
        reply = ask(qtbot, path, "next-background")
        assert window.settings.background_path == reply["background"] == "preset:night"
        reply = ask(qtbot, path, "background", str(tmp_path / "missing.png"))
        assert not reply["ok"] and "missing.png" in reply["error"]
        assert window.settings.background_path == "preset:night"
        reply = ask(qtbot, path, "pause")
        assert reply["paused"] and reply["state"] == "paused" and window.camera_paused
        wait_state(qtbot, window, "paused")
        reply = ask(qtbot, path, "toggle-pause")
        assert not reply["paused"] and window.pause_button.text() == "Pause camera"
        wait_state(qtbot, window, "running")
        window.save_now()
        assert json.loads(settings_path().read_text())["background_path"] == "preset:night"
        window.hide()
        assert ask(qtbot, path, "show")["ok"] and window.isVisible()
        assert ask(qtbot, path, "stop")["state"] == "stopping"
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=panel.WAIT_MS)
    assert vcam_threads() == []


def test_at_login_it_starts_in_the_tray_with_the_virtual_camera_idle(
    qtbot, no_cameras, base_settings, device, fake_vcam, monkeypatch
):
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    settings = base_settings.replace(
        virtual_backend=FAKE_BACKEND, virtual_device=str(device), on_demand=True
    )
    window = MainWindow(settings, settings_path(), in_tray=True)  # as `vcam ui --tray`
    qtbot.addWidget(window)
    assert window.output_on and not window.isVisible()
    wait_state(qtbot, window, "idle")  # nobody reads: the camera never had to open
    assert window.engine.pipeline.source.frames_captured == 0
    qtbot.waitUntil(lambda: bool(fake_vcam.instances and fake_vcam.instances[0].frames))
    # The tray follows the panel's status poll, a moment after the engine's own state.
    qtbot.waitUntil(lambda: "idle" in window.tray.toolTip(), timeout=panel.WAIT_MS)
    window.tray_pause.trigger()
    wait_state(qtbot, window, "paused")
    assert window.tray_pause.text() == "Resume camera"
    window.close()
    assert vcam_threads() == []


def test_vcam_ui_tray_starts_hidden_and_quit_in_the_tray_ends_it(
    qtbot, no_cameras, base_settings, fake_vcam, monkeypatch
):
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    import ui

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    from vcam.settings import save_settings

    save_settings(base_settings.replace(virtual_backend=FAKE_BACKEND))
    seen = {}

    def quit_from_the_tray() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows or windows[0].engine.pipeline.status.state != "idle":  # nobody reads
            QTimer.singleShot(50, quit_from_the_tray)
            return
        window = windows[0]
        seen.update(visible=window.isVisible(), output=window.output_on)
        quit_action = window.tray.contextMenu().actions()[-1]
        seen["action"] = quit_action.text()
        quit_action.trigger()

    QTimer.singleShot(50, quit_from_the_tray)
    QTimer.singleShot(60000, lambda: QApplication.exit(7))  # only if Quit did not end it
    handlers = {sig: signal.getsignal(sig) for sig in panel.CLOSING_SIGNALS}
    earlier = set(vcam_threads())  # a thread another test left ending is not this panel's
    try:
        code = ui.main(["--tray"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 0, "Quit in the tray did not end the panel within 60 s"
    assert seen == {"visible": False, "output": True, "action": "Quit"}
    assert [t.name for t in vcam_threads() if t not in earlier] == []


def panel_process(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vcam", "ui"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_a_second_panel_brings_the_first_to_the_front(qtbot, open_window, config_dir):
    window = open_window()
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    with ControlServer("panel") as server:  # the channel `vcam ui` claims, as this panel's
        server.start(PanelRemote(window))
        window.hide()
        second = panel_process(env)
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=60000)
        out, err = second.communicate()
        assert second.returncode == 0, err
        assert out == "vcam: the panel is already open; brought it to the front\n"
        assert window.isVisible()
    with ControlServer("vcam run"):
        second = panel_process(env)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "Traceback" not in err
        assert err.startswith("vcam: error: vcam run is already running")


def test_the_remote_waits_for_a_busy_panel_only_so_long(qtbot, open_window, monkeypatch):
    import ui.remote

    window = open_window()
    monkeypatch.setattr(ui.remote, "ANSWER_WITHIN", 0.2)
    remote = PanelRemote(window)
    answer = {}

    def call() -> None:
        try:
            remote({"cmd": "status"})
        except Exception as error:  # noqa: BLE001 - the test reads it
            answer["error"] = error

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.5)  # the UI thread is busy (here: asleep) and answers nothing
    worker.join(5)
    assert "the panel is busy" in str(answer["error"])
