"""A weight average ("model soup") of finished runs that started from the same weights.

Two runs fine-tuned from one checkpoint with different augmentation or seeds usually lie in the
same basin; their uniform average is a model of its own, judged like any other candidate. The
averaged BatchNorm statistics are not those of the averaged weights, so they are recomputed on
real photos exactly as a run's end does (``Trainer.recalibrate_bn``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vcam.training.loop import TrainConfig, Trainer

log = logging.getLogger(__name__)


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform average of state dicts of one architecture: floating tensors averaged,
    integer ones (BatchNorm's batch counters) taken from the first."""
    if not states:
        raise ValueError("nothing to average")
    keys = states[0].keys()
    for state in states[1:]:
        if state.keys() != keys or any(state[k].shape != states[0][k].shape for k in keys):
            raise ValueError("the checkpoints have different architectures")
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(first.dtype)
        else:
            out[key] = first.clone()
    return out


def _load(path: Path) -> dict:
    """A training checkpoint (``model`` and ``config`` at least), or a ValueError that says
    which file is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # truncated, not a torch file, unpicklable
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a training checkpoint (use a run's final.pt)")
    return state


def soup(checkpoints: list[Path], run_dir: Path, **overrides) -> Path:
    """Average the weights (the moving average where a run kept one) of ``checkpoints``,
    recompute BatchNorm statistics, validate, and write ``run_dir/final.pt``.

    The run's settings (data, sizes, validation split, recalibration count) are the first
    checkpoint's; ``overrides`` replace some of them (the script sets the thread count)."""
    states = [_load(p) for p in checkpoints]
    weights = average_states([s.get("ema", s["model"]) for s in states])
    values = {**states[0]["config"], "run_dir": str(run_dir), "init": "", **overrides}
    trainer = Trainer(TrainConfig.from_dict(values))
    trainer.net.load_state_dict(weights)
    trainer.recalibrate_bn(trainer.cfg.recalibrate_bn)
    if trainer.ema is not None:
        trainer.ema.load_state_dict(trainer.net.state_dict())
    trainer.step = max(s.get("step", 0) for s in states)
    trainer.trained_seconds = sum(s.get("trained_seconds", 0.0) for s in states)
    record = {"final": True, "soup": [str(p) for p in checkpoints], "step": trainer.step}
    record.update(trainer.validate())
    trainer.history = [record]
    log.info("soup of %d checkpoints: val IoU %.4f", len(checkpoints), record["val_iou"])
    return trainer.save("final.pt")
