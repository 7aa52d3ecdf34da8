"""The public API: what ``import vcam`` gives, and what it costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

import vcam

HEAVY = ("numba", "cv2", "onnxruntime", "pyvirtualcam", "torch", "PyQt6")


def test_every_public_name_resolves():
    for name in vcam.__all__:
        assert getattr(vcam, name) is not None, name
    assert dir(vcam) == sorted(vcam.__all__)
    assert sorted(vcam._engine()) == sorted(vcam._ENGINE)
    assert vcam.Pipeline.__module__ == "vcam.pipeline"
    assert vcam.convert_video.__module__ == "vcam.convert"


def test_import_vcam_is_light_until_the_engine_is_named():
    script = (
        "import json, sys, vcam\n"
        "vcam.Settings(); vcam.VcamError\n"
        f"light = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "vcam.Pipeline\n"
        "engine = [m for m in ('numba', 'cv2', 'onnxruntime') if m in sys.modules]\n"
        f"print(json.dumps([light, engine, [m for m in {HEAVY[-2:]!r} if m in sys.modules]]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    light, engine, never = json.loads(out.stdout)
    assert light == [] and engine == ["numba", "cv2", "onnxruntime"] and never == []
