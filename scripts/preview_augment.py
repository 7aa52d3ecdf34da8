#!/usr/bin/env python
"""Draw a grid of augmented training samples (image, and the target as a red overlay with the
frame's padding dimmed) to check a recipe by eye before spending compute on it.

  python scripts/preview_augment.py --config configs/campaign.json --out /tmp/batch.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vcam.training.loop import TrainConfig, Trainer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--size", help="HxW to render at (default: the config's first size)")
    args = parser.parse_args(argv)
    values = json.loads(args.config.read_text())
    values.update(init="", run_dir=str(Path("/tmp") / "vcam-preview-run"), ema_decay=0.0)
    if args.size:
        values["size_schedule"] = []
        values["sizes"] = [[int(v) for v in args.size.split("x")]]
    trainer = Trainer(TrainConfig.from_dict(values))
    tiles = []
    for _ in range(args.batches):
        image, target, mask = trainer.batch()
        for i in range(image.shape[0]):
            rgb = image[i].permute(1, 2, 0).numpy()
            alpha = target[i, 0].numpy()[..., None]
            inside = mask[i, 0].numpy()[..., None]
            overlay = rgb * (1 - 0.45 * alpha) + np.array([0.45, 0, 0]) * alpha
            overlay = overlay * (0.4 + 0.6 * inside)
            pair = np.concatenate([rgb, overlay], axis=1)
            tiles.append((pair * 255).astype(np.uint8))
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r : r + columns], axis=1) for r in range(0, len(tiles), columns)]
    grid = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({len(tiles)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
