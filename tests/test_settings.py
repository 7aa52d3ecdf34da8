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
