"""Training: one step lowers the loss; a run checkpoints, validates, resumes; DDP on two CPUs;
export parity."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import make_data_folder

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from vcam.nets.mmnet import AlphaHead, MMNet  # noqa: E402
from vcam.training.export import export_onnx  # noqa: E402
from vcam.training.loop import TrainConfig, Trainer  # noqa: E402
from vcam.training.losses import LossWeights, mmnet_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_one_optimisation_step_lowers_the_loss():
    torch.manual_seed(0)
    net = MMNet(0.5).train()
    image = torch.rand(4, 3, 64, 64)
    target = torch.zeros(4, 1, 64, 64)
    target[:, :, 20:, 16:48] = 1
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def loss():
        logits, aux = net(image)
        return mmnet_loss(logits, aux, target, image, LossWeights())[0]

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    data = make_data_folder(tmp_path / "data", {"portraits-shen2016": 8, "fullbody-ccp": 4})
    values = dict(
        data=str(data),
        run_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        sizes=[(64, 64), (48, 80)],
        width=0.5,
        epochs=2,
        batch=4,
        teacher="blur",
        cache_size=(96, 64),
        background_size=(48, 80),
        val_fraction=0.3,
        warmup_steps=2,
        checkpoint_every=1,
        recalibrate_bn=8,
    )
    values.update(overrides)
    return TrainConfig.from_dict(values)


def test_a_run_checkpoints_validates_and_resumes(tmp_path):
    cfg = tiny_config(tmp_path, max_steps=3)
    trainer = Trainer(cfg)
    trainer.fit()  # stops after 3 steps, as an interrupted chunk would
    assert trainer.step == 3 and (tmp_path / "run/last.pt").exists()
    resumed = Trainer(tiny_config(tmp_path))
    final = resumed.fit()
    assert resumed.step == resumed.total_steps and final.name == "final.pt"
    history = json.loads((tmp_path / "run/history.json").read_text())
    assert [r["epoch"] for r in history if "epoch" in r] == [1, 2]
    assert history[-1]["final"] and 0.0 <= history[-1]["val_iou"] <= 1.0
    assert (tmp_path / "run/curves.png").stat().st_size > 1000
    assert (tmp_path / "cache").is_dir()  # the decoded cache is reused by later runs


def test_the_steadiness_loss_compares_a_shifted_twin(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, consistency_weight=4.0, consistency_fraction=0.5))
    terms = trainer.train_step()
    assert 0.0 < terms["consistency"] < 1.0
    assert "consistency" not in Trainer(tiny_config(tmp_path / "off")).train_step()


def test_steadiness_is_zero_for_a_view_that_follows_the_warp_and_not_otherwise():
    from vcam.training.consistency import ViewJitter, steadiness_loss

    rng = np.random.default_rng(0)
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(80.0), indexing="ij")
    alpha = torch.sigmoid((30 - torch.hypot(yy - 24, xx - 40)) / 3)[None, None].repeat(2, 1, 1, 1)
    jitter = ViewJitter(shift=3.0, scale=0.03, rotate=2.0, noise=0.0, jpeg_prob=0.0)
    view, grid = jitter(alpha.repeat(1, 3, 1, 1), rng)
    # The view's own content, warped: an alpha that follows the picture has no steadiness loss.
    assert float(steadiness_loss(alpha, view[:, :1], grid)) < 2e-3
    # An alpha that stayed where it was while the picture moved is penalised.
    assert float(steadiness_loss(alpha, alpha, grid)) > 5 * float(
        steadiness_loss(alpha, view[:, :1], grid)
    )


def test_a_still_camera_pair_moves_only_a_region_of_the_person():
    from vcam.training.consistency import ViewJitter, steadiness_loss

    h, w = 96, 160
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    # A person in the middle third of the frame; the region's sigma at most 0.1 of 96 px.
    alpha = ((xx > 60) & (xx < 100) & (yy > 20)).float()[None, None].repeat(6, 1, 1, 1)
    jitter = ViewJitter(
        noise=0.0, jpeg_prob=0.0, local_prob=1.0, local_shift=4.0, local_radius=(0.05, 0.1)
    )
    view, grid = jitter(alpha.repeat(1, 3, 1, 1), np.random.default_rng(1), alpha)
    identity = torch.eye(2, 3).expand(6, 2, 3)
    still = torch.nn.functional.affine_grid(identity, [6, 1, h, w], align_corners=False)
    moved = (grid - still) * torch.tensor([w / 2, h / 2])
    moved = moved.norm(dim=-1)  # pixels
    assert float(moved.amax()) <= 4.0 + 1e-4
    assert float(moved.amax(dim=(1, 2)).min()) > 0.4  # every pair moves somewhere
    # The far corners of the frame, well away from the person, stay where they were.
    assert float(moved[:, :8, :8].amax()) < 0.05 and float(moved[:, :8, -8:].amax()) < 0.05
    # The moving region is centred on the person: its largest displacement lies inside it.
    peak = moved.flatten(1).argmax(dim=1)
    assert all(alpha[j, 0].flatten()[int(peak[j])] > 0.5 for j in range(6))
    assert float(steadiness_loss(alpha, view[:, :1], grid)) < 2e-3


def test_the_still_camera_share_leaves_the_camera_pairs_unchanged_when_off():
    from vcam.training.consistency import ViewJitter

    image = torch.rand(4, 3, 32, 48)
    alpha = (torch.rand(4, 1, 32, 48) > 0.5).float()
    _, before = ViewJitter(noise=0.0, jpeg_prob=0.0)(image, np.random.default_rng(3))
    _, off = ViewJitter(noise=0.0, jpeg_prob=0.0)(image, np.random.default_rng(3), alpha)
    assert torch.equal(before, off)
    _, on = ViewJitter(noise=0.0, jpeg_prob=0.0, local_prob=1.0)(
        image, np.random.default_rng(3), alpha
    )
    assert not torch.equal(before, on)


def test_the_still_camera_pairs_train(tmp_path):
    cfg = tiny_config(
        tmp_path, consistency_weight=4.0, consistency_fraction=0.5, consistency_local=1.0
    )
    terms = Trainer(cfg).train_step()
    assert 0.0 <= terms["consistency"] < 1.0 and np.isfinite(terms["total"])


def test_resume_continues_the_steps_optimiser_and_schedule_exactly(tmp_path):
    straight = Trainer(tiny_config(tmp_path / "a", epochs=3, max_steps=4, ema_decay=0.9))
    straight.fit()
    first = Trainer(tiny_config(tmp_path / "b", epochs=3, max_steps=2, ema_decay=0.9))
    first.fit()
    second = Trainer(tiny_config(tmp_path / "b", epochs=3, max_steps=2, ema_decay=0.9))
    second.fit()  # resumes from last.pt at step 2
    assert second.step == straight.step == 4
    assert second.lr_at(second.step) == straight.lr_at(straight.step)
    for name, value in straight.net.state_dict().items():
        assert torch.allclose(value.float(), second.net.state_dict()[name].float()), name
    for name, value in straight.ema.state_dict().items():
        assert torch.allclose(value.float(), second.ema.state_dict()[name].float()), name
    moments = [s["exp_avg"] for s in straight.optimizer.state_dict()["state"].values()]
    resumed = [s["exp_avg"] for s in second.optimizer.state_dict()["state"].values()]
    assert all(torch.allclose(m, r) for m, r in zip(moments, resumed, strict=True))
    # The moving average is not the raw weights, and the checkpoint carries both.
    state = torch.load(tmp_path / "b/run/last.pt", weights_only=False)
    assert set(state) >= {"model", "ema", "optimizer", "rng", "torch_rng"}
    assert any(
        not torch.equal(state["model"][k], state["ema"][k])
        for k in state["model"]
        if k.endswith("weight")
    )


def test_progressive_resolution_trains_small_first_and_ends_at_the_shipped_sizes(tmp_path):
    schedule = [[0.5, [[32, 32]]], [1.0, [[64, 64], [48, 80]]]]
    trainer = Trainer(tiny_config(tmp_path, epochs=4, size_schedule=schedule))
    assert trainer.sizes_at(0) == [(32, 32)]
    assert trainer.sizes_at(trainer.total_steps - 1) == [(64, 64), (48, 80)]
    image, target, mask = trainer.batch()
    assert image.shape[2:] == (32, 32) and target.shape == mask.shape


def test_a_run_saves_on_time_and_logs_progress_with_an_eta(tmp_path, caplog):
    import logging

    cfg = tiny_config(
        tmp_path, checkpoint_every=0, checkpoint_minutes=1e-9, log_seconds=0.0, max_steps=2
    )
    with caplog.at_level(logging.INFO, logger="vcam.training.loop"):
        Trainer(cfg).fit()
    assert (tmp_path / "run/last.pt").exists()
    assert any("ETA" in r.getMessage() and "images/s" in r.getMessage() for r in caplog.records)


def test_torchrun_with_two_gloo_processes(tmp_path):
    pytest.importorskip("torch.distributed.run")
    cfg = tiny_config(tmp_path, epochs=1)
    config = tmp_path / "config.json"
    values = {k: v for k, v in vars(cfg).items() if k not in ("loss", "augment")}
    config.write_text(json.dumps(values))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free port: a fixed one may be taken on a shared machine
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", port,
         str(ROOT / "scripts/train.py"), "--config", str(config)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((tmp_path / "run/history.json").read_text())
    # Two processes share the epoch: half the steps of one process.
    single = Trainer(tiny_config(tmp_path / "single", epochs=1))
    assert history[0]["step"] == max(1, single.steps_per_epoch // 2)
    assert (tmp_path / "run/final.pt").exists()


def test_export_parity_metadata_and_folded_batchnorm(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(1)
    net = MMNet(0.5).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, as after training
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    for dynamic in (False, True):
        path = export_onnx(net, tmp_path / f"m{dynamic}.onnx", 64, 96, dynamic=dynamic)
        model = onnx.load(str(path))
        assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["vcam.input_height"] == "64" and meta["vcam.color_order"] == "RGB"
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
        ours = session.run(None, {"image": x})[0]
        ref = AlphaHead(net)(torch.from_numpy(x)).detach().numpy()
        assert ours.shape == (1, 1, 64, 96)
        assert np.abs(ours - ref).max() < 1e-4
    x = np.random.default_rng(1).random((1, 3, 128, 80), dtype=np.float32)
    assert session.run(None, {"image": x})[0].shape == (1, 1, 128, 80)  # dynamic size
    with pytest.raises(ValueError, match="multiples of 16"):
        export_onnx(net, tmp_path / "bad.onnx", 100, 96)


def test_export_script_checks_parity_and_rejects_bad_input(tmp_path):
    net = MMNet(0.5)
    ckpt = tmp_path / "c.pt"
    torch.save({"model": net.state_dict(), "config": {"width": 0.5}, "step": 7}, ckpt)
    out = tmp_path / "m.onnx"
    script = str(ROOT / "scripts/export_onnx.py")
    ok = subprocess.run([sys.executable, script, str(ckpt), "--size", "64x64", "--out", str(out)],
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "max |diff|" in ok.stdout and out.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for bad in ("missing.pt", "junk.pt"):
        r = subprocess.run([sys.executable, script, str(tmp_path / bad), "--out", str(out)],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode != 0 and "Traceback" not in r.stderr and bad in r.stderr


def test_a_time_budget_drives_the_schedules_and_survives_a_resume(tmp_path):
    schedule = [[0.5, [[32, 32]]], [1.0, [[64, 64], [48, 80]]]]
    cfg = dict(epochs=40, size_schedule=schedule, warmup_steps=1, max_minutes=10.0)
    trainer = Trainer(tiny_config(tmp_path, **cfg))
    step = 5  # a few steps into a long run: by steps, early in both schedules
    assert trainer.sizes_at(step) == [(32, 32)]
    early_lr = trainer.lr_at(step)
    trainer.trained_seconds = 0.75 * 600  # three quarters of the budget spent
    assert trainer.sizes_at(step) == [(64, 64), (48, 80)]
    assert trainer.lr_at(step) < 0.2 * early_lr  # cosine at 3/4: 15% of the peak
    trainer.step = step
    trainer.save()
    resumed = Trainer(tiny_config(tmp_path, **cfg))
    resumed.resume(tmp_path / "run" / "last.pt")
    assert resumed.trained_seconds == trainer.trained_seconds
    assert resumed.lr_at(step) == trainer.lr_at(step)


def test_a_pause_is_not_counted_against_the_time_budget(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, max_minutes=10.0))
    counted = [trainer.counted_seconds(s) for s in (2.0, 2.2, 1.8, 2.0)]
    assert counted == [2.0, 2.2, 1.8, 2.0]  # ordinary steps count in full
    assert trainer.counted_seconds(25.0) == 25.0  # slow (a checkpoint, a busy machine): counted
    typical = trainer._typical_step
    assert trainer.counted_seconds(900.0) == pytest.approx(typical)  # SIGSTOP for 15 minutes
    assert trainer.counted_seconds(2.0) == 2.0  # and training goes on as before


def test_a_soup_averages_two_runs_from_one_start_and_recomputes_batchnorm(tmp_path):
    from vcam.training.soup import average_states, soup

    start = Trainer(tiny_config(tmp_path / "start", epochs=1)).fit()
    finals = [
        Trainer(
            tiny_config(tmp_path / name, epochs=1, seed=seed, init=str(start), ema_decay=0.9)
        ).fit()
        for name, seed in (("a", 1), ("b", 2))
    ]
    states = [torch.load(p, map_location="cpu", weights_only=False)["ema"] for p in finals]
    out = soup(finals, tmp_path / "soup")
    result = torch.load(out, map_location="cpu", weights_only=False)
    for weights in (result["model"], result["ema"]):
        mean = (states[0]["final.weight"] + states[1]["final.weight"]) / 2
        assert torch.allclose(weights["final.weight"], mean, atol=1e-6)
        assert not torch.allclose(weights["final.weight"], states[0]["final.weight"])
        key = "init_block.1.running_var"
        averaged = (states[0][key] + states[1][key]) / 2
        assert not torch.allclose(weights[key], averaged, atol=1e-6)  # recomputed, not averaged
    record = result["history"][-1]
    assert record["final"] and record["soup"] == [str(p) for p in finals]
    assert 0.0 <= record["val_iou"] <= 1.0
    with pytest.raises(ValueError, match="different architectures"):
        average_states([MMNet(0.5).state_dict(), MMNet(1.0).state_dict()])


def test_the_soup_script_rejects_missing_unreadable_or_too_few_checkpoints(tmp_path):
    script = str(ROOT / "scripts/average_checkpoints.py")
    one = tmp_path / "one.pt"
    one.write_bytes(b"")
    weights_only = tmp_path / "weights.pt"
    torch.save({"ema": MMNet(0.5).state_dict()}, weights_only)
    for args, says in (
        ([str(tmp_path / "missing.pt"), str(one)], "no such checkpoint"),
        ([str(one)], "at least two"),
        ([str(one), str(weights_only)], "not a readable checkpoint"),
        ([str(weights_only), str(weights_only)], "not a training checkpoint"),
    ):
        done = subprocess.run(
            [sys.executable, script, *args, "--run-dir", str(tmp_path / "soup")],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2 and done.stderr.strip().startswith("error:")
        assert says in done.stderr and "\n" not in done.stderr.strip()
