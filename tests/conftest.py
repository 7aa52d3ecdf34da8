"""Shared fixtures: isolated config folder, small models, a short video, a fake virtual camera."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty settings folder (never the user's)."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(folder))
    return folder
