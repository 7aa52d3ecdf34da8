"""Settings: validation names the field; JSON files round-trip, atomically and safely."""

from __future__ import annotations

import json
import logging
import os

import pytest

from vcam.errors import SettingsError
from vcam.settings import (
    Settings,
    config_dir,
    field_names,
    load_settings,
    parse_colour,
    save_settings,
    settings_path,
)


def test_defaults_are_valid_and_config_dir_is_overridden(config_dir):
    settings = Settings()
    assert settings.source == "camera" and settings.output == "virtual"
    assert settings_path() == config_dir / "settings.json"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"width": "640"}, "width"),
        ({"width": 8}, "width"),
        ({"height": 1.5}, "height"),
        ({"fps": 0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"mirror": 1}, "mirror"),
        ({"threshold": 1.5}, "threshold"),
        ({"threads": -1}, "threads"),
        ({"background": "sparkles"}, "background"),
        ({"output": "printer"}, "output"),
        ({"provider": "tpu"}, "provider"),
        ({"colour": "green"}, "colour"),
        ({"fourcc": "MJPEG"}, "fourcc"),
        ({"camera": " "}, "camera"),
        ({"model": 3}, "model"),
        ({"smoothing": "wobbly"}, "smoothing"),
        ({"smoothing": 1.5}, "smoothing"),
    ],
)
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(SettingsError, match=rf"^{field}: "):
        Settings(**changes)
    with pytest.raises(SettingsError, match=rf"^{field}: "):
        Settings().replace(**changes)


def test_values_are_normalised():
    settings = Settings(fps=25, camera=2, background=" Blur ", width=640.0)
    assert settings.fps == 25.0 and isinstance(settings.fps, float)
    assert settings.camera == "2"
    assert settings.background == "blur"
    assert settings.width == 640 and isinstance(settings.width, int)


def test_replace_rejects_unknown_names_and_keeps_the_original():
    original = Settings()
    changed = original.replace(mirror=True, blur_strength=9)
    assert changed.mirror and changed.blur_strength == 9
    assert not original.mirror
    with pytest.raises(SettingsError, match="unknown setting 'bogus'"):
        original.replace(bogus=1)


def test_parse_colour_gives_bgr():
    assert parse_colour("#ff8000") == (0, 128, 255)
    assert Settings(colour="#0000FF").colour_bgr == (255, 0, 0)
    with pytest.raises(SettingsError):
        parse_colour("#12345")


def test_round_trip_through_the_default_file(config_dir):
    settings = Settings(mirror=True, background="colour", colour="#112233", threshold=0.25)
    path = save_settings(settings)
    assert path == config_dir / "settings.json"
    assert json.loads(path.read_text())["colour"] == "#112233"
    assert load_settings() == settings
    assert [p.name for p in config_dir.iterdir()] == ["settings.json"]  # no temp file left


def test_save_replaces_atomically(config_dir, monkeypatch):
    save_settings(Settings(fps=15))
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((os.path.dirname(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_settings(Settings(fps=60))
    assert calls == [(str(config_dir), "settings.json")]
    assert load_settings().fps == 60.0


def test_missing_file_gives_defaults():
    assert load_settings() == Settings()


def test_corrupt_file_is_moved_aside_with_a_warning(config_dir, caplog):
    path = config_dir / "settings.json"
    path.write_text('{"fps": 30,', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="vcam.settings"):
        assert load_settings() == Settings()
    moved = [p for p in config_dir.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(moved) == 1 and moved[0].read_text() == '{"fps": 30,'
    assert not path.exists()
    assert "corrupt" in caplog.text
    save_settings(Settings())  # the saved copy of the corrupt file is untouched
    assert moved[0].read_text() == '{"fps": 30,'


def test_binary_garbage_and_non_objects_count_as_corrupt(config_dir):
    path = config_dir / "settings.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert load_settings() == Settings()
    path.write_text("[1, 2, 3]")
    assert load_settings() == Settings()
    assert len(list(config_dir.glob("settings.json.corrupt-*"))) == 2


def test_unknown_keys_are_ignored_with_a_warning(config_dir, caplog):
    (config_dir / "settings.json").write_text(json.dumps({"mirror": True, "sparkle": 3}))
    with caplog.at_level(logging.WARNING, logger="vcam.settings"):
        settings = load_settings()
    assert settings.mirror is True
    assert "unknown setting 'sparkle'" in caplog.text


@pytest.mark.parametrize(
    ("old", "level"), [(0.0, "off"), (0.1, "responsive"), (0.3, "balanced"), (0.8, "steady")]
)
def test_an_older_numeric_smoothing_loads_as_the_nearest_level(config_dir, old, level):
    (config_dir / "settings.json").write_text(json.dumps({"smoothing": old, "mirror": True}))
    settings = load_settings(strict=True)
    assert settings.smoothing == level and settings.mirror is True
    save_settings(settings)
    assert json.loads((config_dir / "settings.json").read_text())["smoothing"] == level


def test_lenient_load_replaces_a_bad_value_by_its_default(config_dir, caplog):
    (config_dir / "settings.json").write_text(json.dumps({"fps": -5, "mirror": True}))
    with caplog.at_level(logging.WARNING, logger="vcam.settings"):
        settings = load_settings()
    assert settings.fps == Settings().fps and settings.mirror is True
    assert "fps" in caplog.text


def test_strict_load_reports_one_line_errors(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(missing, strict=True)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{oops")
    with pytest.raises(SettingsError, match="not valid JSON") as info:
        load_settings(bad_json, strict=True)
    assert "\n" not in str(info.value)
    assert bad_json.exists()  # a file the user named is never moved
    bad_value = tmp_path / "value.json"
    bad_value.write_text(json.dumps({"threshold": "high"}))
    with pytest.raises(SettingsError, match=r"value.json: threshold: expected a number"):
        load_settings(bad_value, strict=True)


def test_save_into_an_unwritable_place_is_a_settings_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingsError, match="cannot save settings"):
        save_settings(Settings(), blocker / "settings.json")


def test_platform_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("VCAM_CONFIG_DIR")
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "vcam"
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert config_dir() == tmp_path / "roaming" / "vcam"
    monkeypatch.setattr("sys.platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / "Library" / "Application Support" / "vcam"


def test_every_field_survives_json():
    settings = Settings()
    data = json.loads(json.dumps(settings.to_dict()))
    assert set(data) == set(field_names())
    assert Settings.from_dict(data) == settings


# -- bad values and damaged files (reliability) ------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": [640]}, "width: expected a number, got [640]"),
        ({"width": None}, "width: expected a number, got None"),
        ({"width": {"w": 1}}, "width: expected a number"),
        ({"fps": "30"}, "fps: expected a number, got '30'"),
        ({"fps": float("inf")}, "fps: inf is out of range 1..240"),
        ({"width": float("nan")}, "width: expected a whole number, got nan"),
        ({"blur_strength": 2.5}, "blur_strength: expected a whole number, got 2.5"),
        ({"threshold": True}, "threshold: expected a number, got True"),
        ({"mirror": "yes"}, "mirror: expected true or false, got 'yes'"),
        ({"loop": None}, "loop: expected true or false, got None"),
        ({"model": None}, "model: expected text, got None"),
        ({"camera": 1.5}, "camera: expected text, got 1.5"),
        ({"input_path": b"clip.mp4"}, "input_path: expected text"),
        ({"frame_threads": 65}, "frame_threads: 65 is out of range 0..64"),
        ({"threads": -2}, "threads: -2 is out of range 0..64"),
        ({"width": 10**100}, "width: 10000000...000000000 is out of range 16..7680"),
        ({"colour": "x" * 10_000}, "colour: 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx' is not a"),
    ],
)
def test_wrong_types_and_ranges_name_the_field_in_one_short_line(changes, message):
    with pytest.raises(SettingsError) as info:
        Settings(**changes)
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text and len(text) < 150
    with pytest.raises(SettingsError, match=rf"^{next(iter(changes))}: "):
        Settings.from_dict(changes)  # the same from a file's JSON


@pytest.mark.parametrize(
    "content",
    [
        b"",  # created, never written
        b'{"fps": 30, "mirror": tr',  # cut off mid-write
        b'{"fps": 30,\n "background": "blur",\n',
        b"\x00" * 64,  # a zero-filled block after a crash
        b"[" * 100_000,  # absurdly nested (json.loads raises RecursionError)
        b'"just a string"',
        b"null",
    ],
)
def test_damaged_files_are_kept_aside_and_the_defaults_used(config_dir, content, caplog):
    path = config_dir / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="vcam.settings"):
        assert load_settings() == Settings()
    (aside,) = config_dir.glob("settings.json.corrupt-*")
    assert aside.read_bytes() == content  # kept byte for byte
    assert not path.exists() and "corrupt" in caplog.text
    save_settings(Settings(mirror=True))
    assert load_settings().mirror is True and aside.read_bytes() == content
    with pytest.raises(SettingsError, match="not valid JSON"):
        path.write_bytes(content)
        load_settings(path, strict=True)  # a file the user named is reported, not moved
    assert path.read_bytes() == content


def test_a_folder_in_place_of_the_file_is_one_line(config_dir):
    (config_dir / "settings.json").mkdir()
    with pytest.raises(SettingsError, match=r"^cannot read settings file .*settings.json: "):
        load_settings()
    with pytest.raises(SettingsError, match="^cannot save settings to "):
        save_settings(Settings())


def test_an_interrupted_save_keeps_the_old_file_and_no_temporary(config_dir, monkeypatch):
    save_settings(Settings(fps=15))
    before = (config_dir / "settings.json").read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SettingsError, match="No space left on device"):
        save_settings(Settings(fps=60))
    assert (config_dir / "settings.json").read_bytes() == before

    real_dump = json.dump

    def interrupted(obj, handle, **kw):  # Ctrl-C halfway through writing
        handle.write('{"fps": 6')
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_settings(Settings(fps=60))
    monkeypatch.setattr(json, "dump", real_dump)
    assert (config_dir / "settings.json").read_bytes() == before
    assert [p.name for p in config_dir.iterdir()] == ["settings.json"]
    assert load_settings().fps == 15.0


def test_concurrent_saves_never_leave_a_torn_file(config_dir):
    """The panel and a command line saving at once: the file is always one whole version."""
    import threading

    versions = [Settings(fps=float(fps)) for fps in (10, 20, 30, 40)]
    errors = []

    def writer(settings: Settings) -> None:
        try:
            for _ in range(25):
                save_settings(settings)
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    def reader() -> None:
        for _ in range(100):
            try:
                loaded = load_settings(strict=True)
            except SettingsError as error:
                if "does not exist" not in str(error):
                    errors.append(error)
                continue
            if loaded not in versions:
                errors.append(AssertionError(f"torn: {loaded}"))

    threads = [threading.Thread(target=writer, args=(v,)) for v in versions]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[:3]
    assert load_settings() in versions
    assert [p.name for p in config_dir.iterdir()] == ["settings.json"]


def test_the_panel_keeps_its_camera_and_output_apart_and_shares_the_look(config_dir):
    from vcam.settings import PANEL_FIELDS, load_panel_settings, save_panel_settings

    save_settings(Settings(camera="/dev/video2", output="none", blur_strength=9))  # --save
    assert load_panel_settings().camera == "/dev/video2"  # before the panel saved: the same
    save_panel_settings(Settings(camera="5", output="file", mirror=True, blur_strength=40))
    command_line = load_settings()
    assert (command_line.camera, command_line.output, command_line.mirror) == (
        "/dev/video2",
        "none",
        False,
    )
    assert command_line.blur_strength == 40  # the look is shared
    panel = load_panel_settings()
    assert (panel.camera, panel.output, panel.mirror, panel.blur_strength) == (
        "5",
        "file",
        True,
        40,
    )
    own = json.loads((config_dir / "settings.panel.json").read_text())
    assert sorted(own) == sorted(PANEL_FIELDS)


def test_on_demand_is_the_panels_default_and_off_for_the_command_line(config_dir):
    from vcam.settings import load_panel_settings, save_panel_settings

    assert Settings().on_demand is False and load_settings().on_demand is False
    assert load_panel_settings().on_demand is True  # no panel file yet
    save_panel_settings(Settings(on_demand=False))
    assert load_panel_settings().on_demand is False  # the panel's choice is kept
    assert load_settings().on_demand is False
    own = config_dir / "settings.panel.json"
    older = json.loads(own.read_text())
    del older["on_demand"]  # a file saved before the setting existed
    own.write_text(json.dumps(older))
    assert load_panel_settings().on_demand is True
    save_settings(Settings(on_demand=True))  # `vcam run --on-demand --save`
    assert load_settings().on_demand is True
