#!/usr/bin/env python
"""Build the data pack a GPU run trains from (the photos, teacher targets and backgrounds of a
training config in one git-ignored file that travels with the checkout):

  python scripts/make_datapack.py --config configs/gpu.json --out .cache/datapack.npz

The sets are built at the config's ``cache_size`` (teacher targets included) through the usual
training cache, the scenes at ``scene_size``; the pack must stay under --max-mib.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcam.training.loop import TrainConfig, load_data  # noqa: E402
from vcam.training.pack import write_pack  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the GPU run's config")
    parser.add_argument("--data", help="data folder (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path(".cache/datapack.npz"))
    parser.add_argument("--quality", type=int, default=85, help="WebP quality of the photos")
    parser.add_argument("--max-mib", type=float, default=48.0)
    args = parser.parse_args(argv)
    values = json.loads(args.config.read_text())
    values.pop("pack", None)
    if args.data:
        values["data"] = args.data
    cfg = TrainConfig.from_dict(values)
    sets, wallpapers, scenes = load_data(cfg)
    if scenes is None:
        scenes = wallpapers[:0]
    path = write_pack(args.out, sets, wallpapers, scenes, args.quality)
    mib = path.stat().st_size / 2**20
    counts = ", ".join(
        f"{s.name} {len(s)} at {s.images.shape[1]}x{s.images.shape[2]}" for s in sets
    )
    print(f"wrote {path}: {mib:.1f} MiB ({counts}; {len(wallpapers)} wallpapers, "
          f"{len(scenes)} scenes)")  # fmt: skip
    if mib > args.max_mib:
        print(f"error: the pack is over {args.max_mib} MiB: lower --quality or the config's "
              "cache_size", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
