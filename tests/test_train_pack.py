"""The data pack for GPU runs: round trip, training from it, and the builder's size budget."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import make_data_folder

torch = pytest.importorskip("torch")

from vcam.training.data import build_set  # noqa: E402
from vcam.training.loop import TrainConfig, Trainer  # noqa: E402
from vcam.training.pack import read_pack, write_pack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_pack_round_trips_targets_exactly_and_photos_closely(tmp_path):
    root = make_data_folder(tmp_path / "data", {"portraits-shen2016": 5, "fullbody-ccp": 3})
    sets = [build_set(root / name / "train", (96, 72)) for name in ("portraits-shen2016",
                                                                    "fullbody-ccp")]  # fmt: skip
    rng = np.random.default_rng(0)
    wallpapers = rng.integers(0, 255, (2, 36, 64, 3), dtype=np.uint8)
    scenes = np.zeros((0, 32, 32, 3), np.uint8)
    path = write_pack(tmp_path / "pack.npz", sets, wallpapers, scenes, quality=90)
    packed, walls, no_scenes = read_pack(path)
    assert [s.name for s in packed] == [s.name for s in sets]
    for original, restored in zip(sets, packed, strict=True):
        assert np.array_equal(original.stems, restored.stems)
        assert np.array_equal(original.alphas, restored.alphas)  # targets: exact
        assert original.images.shape == restored.images.shape
        error = np.abs(original.images.astype(int) - restored.images.astype(int)).mean()
        assert error < 3.0  # photos: lossy WebP, about a grey level
    assert walls.shape == wallpapers.shape and no_scenes.shape == (0, 32, 32, 3)
    again, _, _ = read_pack(path)
    assert all(np.array_equal(a.images, b.images) for a, b in zip(packed, again, strict=True))


def test_a_run_trains_from_the_pack_without_the_data_folder(tmp_path):
    root = make_data_folder(tmp_path / "data", {"portraits-shen2016": 8, "fullbody-ccp": 4})
    values = dict(
        data=str(root), run_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
        sizes=[(64, 64)], width=0.5, epochs=1, batch=4, teacher="blur", cache_size=(96, 64),
        background_size=(48, 80), val_fraction=0.3, warmup_steps=1, recalibrate_bn=4,
    )  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text(json.dumps(values))
    pack = tmp_path / "pack.npz"
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts/make_datapack.py"), "--config", str(config),
         "--out", str(pack)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "MiB" in built.stdout and pack.exists()
    too_small = subprocess.run(
        [sys.executable, str(ROOT / "scripts/make_datapack.py"), "--config", str(config),
         "--out", str(tmp_path / "p2.npz"), "--max-mib", "0.001"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert too_small.returncode == 1 and "over" in too_small.stderr
    (root / "portraits-shen2016").rename(tmp_path / "gone")  # the pack alone must suffice
    cfg = TrainConfig.from_dict({**values, "pack": str(pack), "cache_dir": str(tmp_path / "c2")})
    trainer = Trainer(cfg)
    assert np.isfinite(trainer.train_step()["total"])


def test_a_time_budget_ends_the_run_early_and_finishes_it(tmp_path):
    root = make_data_folder(tmp_path / "data", {"portraits-shen2016": 8, "fullbody-ccp": 4})
    cfg = TrainConfig.from_dict(dict(
        data=str(root), run_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
        sizes=[(64, 64)], width=0.5, epochs=50, batch=4, teacher="blur", cache_size=(96, 64),
        background_size=(48, 80), val_fraction=0.3, warmup_steps=1, recalibrate_bn=4,
        max_minutes=1e-6,
    ))  # fmt: skip
    trainer = Trainer(cfg)
    path = trainer.fit()
    assert path.name == "final.pt" and trainer.step < 50 * trainer.steps_per_epoch
