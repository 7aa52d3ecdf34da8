#!/usr/bin/env python
"""Train MMNet on portrait photos (CPU, one GPU, or torchrun with DDP).

Examples:
  python scripts/train.py --data ../shared/data --run-dir runs/base --epochs 30
  python scripts/train.py --config configs/base.json           # flags override the file
  torchrun --nproc_per_node 2 scripts/train.py --data ... --run-dir runs/ddp
Runs resume from <run-dir>/last.pt automatically; interrupt and rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcam.training.loop import TrainConfig, Trainer  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    """'256x256' or '144x256' (height x width) -> (h, w)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: use HEIGHTxWIDTH, e.g. 144x256") from None
    if h % 16 or w % 16:
        raise argparse.ArgumentTypeError(f"size {text!r}: height and width must be multiples of 16")
    return h, w


def parse_sets(text: str) -> dict[str, float]:
    """'portraits-shen2016:0.65,fullbody-ccp:0.35' -> weights."""
    out = {}
    for item in text.split(","):
        name, _, weight = item.partition(":")
        out[name.strip()] = float(weight or 1.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument("--data", help="data folder laid out as ../shared/data")
    parser.add_argument("--run-dir", help="checkpoints, curves and history go here")
    parser.add_argument(
        "--sets",
        type=parse_sets,
        help="set:weight,... e.g. portraits-shen2016:0.65,fullbody-ccp:0.35",
    )
    parser.add_argument(
        "--sizes", type=parse_size, nargs="+", help="training input sizes, e.g. 256x256 144x256"
    )
    parser.add_argument("--width", type=float, help="width multiplier")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch", type=int, help="batch per process")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--val-fraction", type=float, help="share of each train split held out")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads (0: default)")
    parser.add_argument("--device", help="auto, cpu or cuda")
    parser.add_argument("--teacher", choices=["mediapipe", "blur"], help="soft edge targets")
    parser.add_argument("--cache-dir", help="where the decoded training cache lives")
    parser.add_argument("--init", help="start from the weights of this checkpoint")
    parser.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    parser.add_argument(
        "--recalibrate-bn", type=int, help="real photos for BatchNorm statistics at the end"
    )
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many steps (a chunk); rerun to resume"
    )
    parser.add_argument(
        "--loss", type=json.loads, help="loss weights as JSON, e.g. '{\"grad\": 2}'"
    )
    parser.add_argument("--augment", type=json.loads, help="augmentation overrides as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )

    values = json.loads(args.config.read_text()) if args.config else {}
    for key, value in vars(args).items():
        if key in ("config", "verbose") or value is None:
            continue
        if key in ("loss", "augment"):
            values[key] = {**values.get(key, {}), **value}
        else:
            values[key] = value
    try:
        cfg = TrainConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    trainer = Trainer(cfg)
    try:
        path = trainer.fit()
    finally:
        trainer.close()
    if trainer.is_main:
        print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
