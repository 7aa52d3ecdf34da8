"""The training loop: in-memory data, batched augmentation, checkpoints, resume, validation,
curves; one process, or several under torchrun with DistributedDataParallel (gloo on the CPU,
nccl on GPUs).

A run is a campaign: it resumes from ``last.pt`` by itself, saves at least every
``checkpoint_minutes`` (atomically, so a kill at any moment loses minutes, not the run), logs
progress with an ETA, can train most steps at small input sizes and the end at the shipped ones
(``size_schedule``), and keeps an exponential moving average of the weights (``ema.pt`` beside
the raw weights in each checkpoint). To time something on the same machine, pause a run with
``kill -STOP PID`` and go on with ``kill -CONT PID``: the pause is not counted against
``max_minutes``."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from vcam.fitting import fit, unfit
from vcam.nets.mmnet import MMNet
from vcam.training.augment import AugmentConfig, render
from vcam.training.consistency import ViewJitter, steadiness_loss
from vcam.training.data import (
    PortraitSet,
    build_backgrounds,
    build_scenes,
    build_set,
    cut_sides,
    list_backgrounds,
    load_set,
    save_atomically,
    save_set,
)
from vcam.training.fakequant import attach as attach_fake_quant
from vcam.training.losses import LossWeights, mmnet_loss

log = logging.getLogger(__name__)

# A step that takes this long and ten times the usual is a pause, not training time.
PAUSE_SECONDS = 30.0


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint."""

    data: str = "../shared/data"
    run_dir: str = "runs/mmnet"
    sets: dict[str, float] = field(
        default_factory=lambda: {"portraits-shen2016": 0.65, "fullbody-ccp": 0.35}
    )
    sizes: list[tuple[int, int]] = field(default_factory=lambda: [(256, 256), (144, 256)])
    width: float = 1.0
    epochs: int = 30
    batch: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.02
    weight_decay: float = 1e-5
    warmup_steps: int = 200
    val_fraction: float = 0.05
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    channels_last: bool = True
    teacher: str = "mediapipe"  # soft targets in the edge band: "mediapipe" or "blur"
    band: int = 5
    cache_dir: str = ".cache/train"
    cache_size: tuple[int, int] = (384, 288)
    background_size: tuple[int, int] = (288, 512)
    checkpoint_every: int = 100
    init: str = ""  # weights to start from (a checkpoint of an earlier phase)
    recalibrate_bn: int = 400  # real photos used to recompute BatchNorm statistics at the end
    loss: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    max_steps: int = 0  # stop after this many steps in this invocation (0: no limit)
    checkpoint_minutes: float = 5.0  # also save whenever this much time has passed
    log_seconds: float = 60.0  # a progress line (step, images/s, ETA) this often
    # Progressive resolution: [[until (share of all steps), [[h, w], ...]], ...]; the last entry
    # should end at 1.0 with the shipped sizes. Empty: ``sizes`` throughout.
    size_schedule: list = field(default_factory=list)
    # Composite backgrounds from person-free crops of the training photos (real rooms, streets).
    scene_backgrounds: bool = True
    scene_size: tuple[int, int] = (192, 192)
    # Temporal steadiness: a share of each batch is seen twice, the second view shifted by up to
    # a few pixels, slightly scaled and rotated, with fresh noise and JPEG (as the next frame of
    # a camera); the two alphas, warped onto each other, should agree.
    consistency_weight: float = 0.0
    consistency_fraction: float = 0.25
    consistency_noise: float = 0.02
    consistency_shift: float = 3.0  # pixels
    consistency_scale: float = 0.03
    consistency_rotate: float = 2.0  # degrees
    consistency_jpeg_prob: float = 0.5
    # The share of pairs with a still camera and one moving region of the person instead
    # (a head turning beside a still shoulder), its largest displacement in pixels.
    consistency_local: float = 0.0
    consistency_local_shift: float = 4.0
    ema_decay: float = 0.0  # exponential moving average of the weights (0: off)
    # Train from a data pack (vcam.training.pack) instead of ``data`` and the cache.
    pack: str = ""
    # The run's time budget in minutes of training, summed over resumes (0: none). The learning
    # rate and input-size schedules follow whichever of steps or time is further along, and the
    # run finishes (BatchNorm recalibration, final.pt) when the budget is spent: a campaign that
    # fits the hours at hand, annealed to the end whatever the machine's speed.
    max_minutes: float = 0.0
    # Quantization-aware fine-tuning for the int8 fast file (vcam.training.fakequant): weights,
    # activations and the alpha logit rounded in training as the int8 file rounds them.
    fake_quant: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        loss = LossWeights(**values.pop("loss", {}))
        augment = AugmentConfig(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in values.pop("augment", {}).items()
            }
        )
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        if "sizes" in values:
            values["sizes"] = [tuple(s) for s in values["sizes"]]
        for key in ("cache_size", "background_size", "scene_size"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(loss=loss, augment=augment, **values)


# ----------------------------------------------------------------------------- data


def _teacher(name: str):
    if name == "blur":
        return None
    if name == "mediapipe":
        from vcam.evaluation.peer import MediaPipeSelfie

        return MediaPipeSelfie(variant="general", threads=max(1, torch.get_num_threads())).predict
    raise ValueError(f"unknown teacher {name!r}: use mediapipe or blur")


def cached_set(cfg: TrainConfig, name: str, split: str = "train") -> PortraitSet:
    """A data set's split in memory, built (with teacher targets) once and cached on disk."""
    h, w = cfg.cache_size
    if name == "fullbody-ccp":  # whole-body photos are narrower (550x~830)
        w = round(h * 2 / 3 / 16) * 16
    path = Path(cfg.cache_dir) / f"{name}-{split}-{h}x{w}-{cfg.teacher}-b{cfg.band}.npz"
    if path.exists():
        return load_set(path)
    log.info("building the training cache %s (once)", path)
    data = build_set(Path(cfg.data) / name / split, (h, w), _teacher(cfg.teacher), cfg.band, name)
    save_set(data, path)
    return data


def cached_backgrounds(cfg: TrainConfig) -> np.ndarray:
    """Training backgrounds (the evaluation-only packages left out), cached on disk."""
    h, w = cfg.background_size
    path = Path(cfg.cache_dir) / f"backgrounds-{h}x{w}.npy"
    if path.exists():
        return np.load(path)
    paths = list_backgrounds(Path(cfg.data) / "backgrounds")
    data = build_backgrounds(paths, (h, w))
    save_atomically(path, lambda file: np.save(file, data))
    return data


def cached_scenes(cfg: TrainConfig) -> np.ndarray:
    """Person-free crops of the training photos (validation photos left out), cached on disk."""
    h, w = cfg.scene_size
    names = "+".join(sorted(cfg.sets))
    path = Path(cfg.cache_dir) / f"scenes-{names}-{h}x{w}-v{cfg.val_fraction}.npy"
    if path.exists():
        return np.load(path)
    log.info("building the scene backgrounds %s (once)", path)
    splits = [Path(cfg.data) / name / "train" for name in sorted(cfg.sets)]
    data = build_scenes(splits, (h, w), cfg.val_fraction)
    save_atomically(path, lambda file: np.save(file, data))
    return data


def load_data(cfg: TrainConfig) -> tuple[list[PortraitSet], np.ndarray, np.ndarray | None]:
    """The configured sets (in ``cfg.sets`` order), the wallpapers and the scene backgrounds
    (None when turned off): from the pack when there is one, else from the cache."""
    if cfg.pack:
        from vcam.training.pack import read_pack

        packed, wallpapers, scenes = read_pack(cfg.pack)
        by_name = {s.name: s for s in packed}
        missing = [name for name in cfg.sets if name not in by_name]
        if missing:
            raise ValueError(f"{cfg.pack} holds no set {', '.join(missing)}")
        sets = [by_name[name] for name in cfg.sets]
    else:
        sets = [cached_set(cfg, name) for name in cfg.sets]
        wallpapers = cached_backgrounds(cfg)
        scenes = cached_scenes(cfg) if cfg.scene_backgrounds else None
    return sets, wallpapers, scenes if cfg.scene_backgrounds else None


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    if images.ndim == 3:
        return torch.from_numpy(images)[:, None]
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------- loop


class Trainer:
    """Owns the model, optimiser, data and history of one run."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rank, self.world = _init_distributed(cfg)
        self.is_main = self.rank == 0
        self.device = _device(cfg, self.rank)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed + self.rank)
        self.rng = np.random.default_rng(cfg.seed + 1000 * self.rank)
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

        full_sets, wallpapers, scenes = load_data(cfg)
        self.train_sets: list[PortraitSet] = []
        self.val_sets: list[PortraitSet] = []
        for data in full_sets:
            train, val = data.split(cfg.val_fraction)
            self.train_sets.append(train)
            self.val_sets.append(val)
        self.set_weights = np.array(list(cfg.sets.values()), dtype=np.float64)
        self.set_weights /= self.set_weights.sum()
        self.tensors = [
            (_to_tensor(s.images).to(self.device), _to_tensor(s.alphas).to(self.device))
            for s in self.train_sets
        ]
        self.cuts = [cut_sides(s.alphas) for s in self.train_sets]
        self.backgrounds = _to_tensor(wallpapers).to(self.device)
        self.scenes = _to_tensor(scenes).to(self.device) if scenes is not None else None
        self.jitter = ViewJitter(
            cfg.consistency_shift,
            cfg.consistency_scale,
            cfg.consistency_rotate,
            cfg.consistency_noise,
            cfg.consistency_jpeg_prob,
            local_prob=cfg.consistency_local,
            local_shift=cfg.consistency_local_shift,
        )
        total = sum(len(s) for s in self.train_sets)
        self.steps_per_epoch = max(1, total // (cfg.batch * self.world))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.trained_seconds = 0.0  # time spent training, summed over resumes

        self.net = MMNet(cfg.width).to(self.device)
        if cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if cfg.init:
            state = torch.load(cfg.init, map_location="cpu", weights_only=False)
            self.net.load_state_dict(state["model"])
            log.info("initialised from %s", cfg.init)
        self.model = self.net
        if self.world > 1:
            self.model = DistributedDataParallel(self.net, find_unused_parameters=cfg.loss.aux == 0)
        self.optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.ema = copy.deepcopy(self.net).eval() if cfg.ema_decay > 0 else None
        if self.ema is not None:
            for p in self.ema.parameters():
                p.requires_grad_(False)
        # After the copy: the moving average (what exports prefer) stays float.
        self.fake_quant = attach_fake_quant(self.net) if cfg.fake_quant else None
        self.step = 0
        self.history: list[dict] = []
        self.best_iou = -1.0
        self._typical_step = 0.0  # running mean of a step's wall time (pause detection)

    # -- schedule

    def time_share(self) -> float:
        """The share of the time budget spent (0 without one)."""
        if not self.cfg.max_minutes:
            return 0.0
        return min(1.0, self.trained_seconds / (60 * self.cfg.max_minutes))

    def counted_seconds(self, seconds: float) -> float:
        """The part of one step's wall time that counts against the time budget: a step far
        longer than the usual (the process stopped with SIGSTOP while something is timed, or
        the machine suspended) counts as a usual one, so a pause costs no training."""
        typical = self._typical_step
        if typical and seconds > max(PAUSE_SECONDS, 10 * typical):
            log.info("paused for %.0f s: not counted against the time budget", seconds - typical)
            return typical
        self._typical_step = seconds if not typical else 0.9 * typical + 0.1 * seconds
        return seconds

    def lr_at(self, step: int) -> float:
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, self.total_steps - cfg.warmup_steps))
        progress = max(progress, self.time_share())
        floor = cfg.lr * cfg.min_lr_ratio
        return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    # -- batches

    def sizes_at(self, step: int) -> list[tuple[int, int]]:
        """The input sizes trained at ``step`` (progressive resolution, or ``sizes``)."""
        progress = max(step / max(1, self.total_steps), self.time_share())
        for until, sizes in self.cfg.size_schedule:
            if progress < until:
                return [tuple(s) for s in sizes]
        return self.cfg.sizes

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """An augmented batch: images, targets and the frame masks (0 on canvas padding)."""
        cfg = self.cfg
        sizes = self.sizes_at(self.step)
        size = sizes[self.rng.integers(len(sizes))]
        counts = self.rng.multinomial(cfg.batch, self.set_weights)
        images, alphas, masks = [], [], []
        parts = zip(self.tensors, self.train_sets, self.cuts, counts, strict=True)
        for (imgs, als), data, cuts, count in parts:
            if not count:
                continue
            picks = self.rng.integers(0, len(data), count)
            idx = torch.from_numpy(picks).to(self.device)
            im, al, mask = render(
                imgs[idx],
                als[idx],
                self.backgrounds,
                size,
                self.rng,
                cfg.augment,
                data.name == "fullbody-ccp",
                cuts[picks],
                self.scenes,
            )
            images.append(im)
            alphas.append(al)
            masks.append(mask)
        image, alpha, mask = torch.cat(images), torch.cat(alphas), torch.cat(masks)
        if cfg.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return image, alpha, mask

    def train_step(self) -> dict[str, float]:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        image, target, mask = self.batch()
        cfg = self.cfg
        n = image.shape[0]
        k = round(n * cfg.consistency_fraction) if cfg.consistency_weight > 0 else 0
        if k:
            second, grid = self.jitter(image[:k], self.rng, target[:k])
            image = torch.cat([image, second])
            if cfg.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
        logits, aux = self.model(image)
        loss, terms = mmnet_loss(logits[:n], aux[:n], target, image[:n], cfg.loss, mask)
        if k:
            alpha = torch.softmax(logits, dim=1)[:, 1:2]
            steadiness = steadiness_loss(alpha[:k], alpha[n:], grid, mask[:k])
            weights = cfg.loss
            total_weight = weights.alpha + weights.comp + weights.grad + weights.kd + weights.aux
            loss = loss + cfg.consistency_weight * steadiness / total_weight
            terms["consistency"] = float(steadiness.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        self.update_ema()
        terms["total"] = float(loss.detach())
        return terms

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move the averaged weights toward the current ones (BatchNorm statistics copied)."""
        if self.ema is None:
            return
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for averaged, current in zip(self.ema.parameters(), self.net.parameters(), strict=True):
            averaged.mul_(decay).add_(current.detach(), alpha=1 - decay)
        for averaged, current in zip(self.ema.buffers(), self.net.buffers(), strict=True):
            averaged.copy_(current)

    @property
    def shipped_net(self) -> MMNet:
        """The weights a run ships and validates: the moving average when there is one."""
        return self.ema if self.ema is not None else self.net

    # -- validation on held-out real photos, fitted exactly as the runtime fits frames

    @torch.no_grad()
    def validate(self, net: MMNet | None = None) -> dict[str, float]:
        """IoU and MAD per shipped size on the held-out real photos (the shipped weights by
        default)."""
        net = net or self.shipped_net
        was_training = net.training
        net.eval()
        results: dict[str, float] = {}
        for size in self.cfg.sizes:
            ious, mads = [], []
            for data in self.val_sets:
                for image, target in zip(data.images, data.alphas, strict=True):
                    canvas, where = fit(image, size)
                    x = (
                        torch.from_numpy(canvas)
                        .permute(2, 0, 1)[None]
                        .float()
                        .div(255)
                        .to(self.device)
                    )
                    alpha = torch.softmax(net(x), 1)[0, 1].cpu().numpy()
                    alpha = unfit(alpha, where, image.shape[:2])
                    gt = target.astype(np.float32) / 255
                    pred_fg, gt_fg = alpha >= 0.5, gt >= 0.5
                    union = np.logical_or(pred_fg, gt_fg).sum()
                    ious.append(np.logical_and(pred_fg, gt_fg).sum() / union if union else 1.0)
                    mads.append(float(np.abs(alpha - gt).mean()))
            key = f"{size[0]}x{size[1]}"
            results[f"val_iou_{key}"] = float(np.mean(ious))
            results[f"val_mad_{key}"] = float(np.mean(mads))
        results["val_iou"] = float(
            np.mean([v for k, v in results.items() if k.startswith("val_iou_")])
        )
        net.train(was_training)
        return results

    @torch.no_grad()
    def recalibrate_bn(self, count: int, net: MMNet | None = None) -> None:
        """Recompute BatchNorm statistics on real photos (no composites), cumulative average."""
        net = net or self.net
        if count <= 0:
            return
        bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        aug = AugmentConfig(**{**asdict(self.cfg.augment), "composite_prob": 0.0})
        net.train()
        seen = 0
        while seen < count:
            size = self.cfg.sizes[seen // self.cfg.batch % len(self.cfg.sizes)]
            images = []
            for (imgs, als), data, n in zip(
                self.tensors,
                self.train_sets,
                self.rng.multinomial(self.cfg.batch, self.set_weights),
                strict=True,
            ):
                if n:
                    idx = torch.from_numpy(self.rng.integers(0, len(data), n)).to(self.device)
                    fullbody = data.name == "fullbody-ccp"
                    images.append(
                        render(
                            imgs[idx], als[idx], self.backgrounds, size, self.rng, aug, fullbody
                        )[0]
                    )
            batch = torch.cat(images)
            if self.cfg.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            net(batch)
            seen += self.cfg.batch
        for m, momentum in zip(bns, saved, strict=True):
            m.momentum = momentum
        net.eval()

    # -- checkpoints

    def state(self) -> dict:
        """Everything a resume needs: ``model`` holds the trained weights, ``ema`` (when kept)
        their moving average, which exports prefer."""
        state = {
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "config": asdict(self.cfg),
            "history": self.history,
            "best_iou": self.best_iou,
            "trained_seconds": self.trained_seconds,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.fake_quant is not None:
            state["fake_quant"] = self.fake_quant.state_dict()
        return state

    def save(self, name: str = "last.pt") -> Path:
        path = self.run_dir / name
        save_atomically(path, lambda file: torch.save(self.state(), file))
        self.saved_at = time.monotonic()
        return path

    def resume(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(state.get("ema", state["model"]))
        if self.fake_quant is not None and "fake_quant" in state:
            self.fake_quant.load_state_dict(state["fake_quant"])
        self.step = state["step"]
        self.history = state["history"]
        self.best_iou = state.get("best_iou", -1.0)
        self.trained_seconds = state.get("trained_seconds", 0.0)
        if self.rank == 0:
            self.rng.bit_generator.state = state["rng"]
        else:
            self.rng = np.random.default_rng(self.cfg.seed + 1000 * self.rank + self.step)
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d of %d", path, self.step, self.total_steps)

    # -- the run

    def _progress(self, started_step: int, started_at: float) -> None:
        """One log line: step, epoch, input sizes, images per second and the time left."""
        done = self.step - started_step
        elapsed = time.monotonic() - started_at
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total_steps - self.step) / rate if rate > 0 else float("inf")
        if self.cfg.max_minutes:
            left = min(left, 60 * self.cfg.max_minutes - self.trained_seconds)
        sizes = ",".join(f"{h}x{w}" for h, w in self.sizes_at(self.step))
        log.info(
            "step %d/%d (epoch %d/%d, %s): %.1f images/s, ETA %s",
            self.step,
            self.total_steps,
            self.step // self.steps_per_epoch + 1,
            self.cfg.epochs,
            sizes,
            rate * self.cfg.batch * self.world,
            _duration(left),
        )

    def fit(self) -> Path:
        """Train to the configured number of epochs (resuming from last.pt), then finish."""
        last = self.run_dir / "last.pt"
        if last.exists():
            self.resume(last)
        started, started_at = self.step, time.monotonic()
        self.saved_at = logged_at = step_end = started_at
        while self.step < self.total_steps:
            epoch = self.step // self.steps_per_epoch
            sums: dict[str, float] = {}
            count = 0
            epoch_start = time.time()
            while self.step < min((epoch + 1) * self.steps_per_epoch, self.total_steps):
                terms = self.train_step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                now = time.monotonic()
                self.trained_seconds += self.counted_seconds(now - step_end)
                step_end = now
                if self.cfg.max_minutes and self.time_share() >= 1.0:
                    log.info("time budget of %.1f min reached at step %d: finishing",
                             self.cfg.max_minutes, self.step)  # fmt: skip
                    self.total_steps = self.step
                if self.is_main and now - logged_at >= self.cfg.log_seconds:
                    self._progress(started, started_at)
                    logged_at = now
                due = self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0
                overdue = now - self.saved_at >= 60 * self.cfg.checkpoint_minutes
                if self.is_main and (due or overdue):
                    self.save()
                if self.cfg.max_steps and self.step - started >= self.cfg.max_steps:
                    if self.is_main:
                        self.save()
                    return last
            if self.is_main:
                record = {
                    "epoch": epoch + 1,
                    "step": self.step,
                    "seconds": time.time() - epoch_start,
                    "size": max(self.sizes_at(self.step - 1)),
                }
                record.update({f"train_{k}": v / max(1, count) for k, v in sums.items()})
                record.update(self.validate())
                self.history.append(record)
                log.info("epoch %d: %s", epoch + 1, json.dumps(record))
                if record["val_iou"] > self.best_iou:
                    self.best_iou = record["val_iou"]
                    self.save("best.pt")
                self.save()
                write_curves(self.history, self.run_dir)
            if self.world > 1:
                dist.barrier()
        if self.is_main:
            self.recalibrate_bn(self.cfg.recalibrate_bn)
            if self.ema is not None:
                self.recalibrate_bn(self.cfg.recalibrate_bn, self.ema)
            final = self.validate()
            final_record = {"final": True, "step": self.step, **final}
            if self.ema is not None:
                raw = self.validate(self.net)
                final_record.update({f"raw_{k}": v for k, v in raw.items()})
            if not self.history or not self.history[-1].get("final"):
                self.history.append(final_record)
            path = self.save("final.pt")
            write_curves(self.history, self.run_dir)
            log.info("finished: %s", json.dumps(final_record))
            return path
        return last

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def write_curves(history: list[dict], run_dir: Path) -> None:
    """history.json and curves.png (training loss terms; validation IoU and MAD per size)."""
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r for r in history if "epoch" in r]
    if not epochs:
        return
    x = [r["epoch"] for r in epochs]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key in sorted(k for k in epochs[0] if k.startswith("train_")):
        axes[0].plot(x, [r[key] for r in epochs], label=key[6:])
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    for key in sorted(k for k in epochs[0] if k.startswith("val_iou_")):
        axes[1].plot(x, [r[key] for r in epochs], label=key[8:])
    axes[1].set_title("validation IoU (held-out real photos)")
    for key in sorted(k for k in epochs[0] if k.startswith("val_mad_")):
        axes[2].plot(x, [r[key] for r in epochs], label=key[8:])
    axes[2].set_title("validation MAD")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=80)
    plt.close(fig)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _init_distributed(cfg: TrainConfig) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    use_cuda = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _device(cfg: TrainConfig, rank: int) -> torch.device:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", rank))
            torch.cuda.set_device(local)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            return torch.device("cuda", local)
        return torch.device("cpu")
    return torch.device(cfg.device)
