#!/usr/bin/env python
"""Average the weights of finished runs that started from the same checkpoint (a model soup).

  python scripts/average_checkpoints.py runs/campaign-v5/final.pt \\
      runs/campaign-v5-blur/final.pt --run-dir runs/soup-v5
  python scripts/average_checkpoints.py runs/campaign-v6/final.pt \\
      runs/campaign-v6-blur/final.pt models/mmnet.pt --run-dir runs/soup3-v6

The runs' starting point can be a member too (``models/mmnet.pt`` carries ``model`` and
``config``); put a run's final.pt first, whose settings the average is validated with.

Writes <run-dir>/final.pt (BatchNorm statistics recomputed on real photos, validated), which
scripts/make_models.sh builds like any other run's final.pt.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vcam.training.soup import soup  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoints", type=Path, nargs="+", help="final.pt files (or models/mmnet.pt) to average"
    )
    parser.add_argument("--run-dir", type=Path, required=True, help="where final.pt goes")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    missing = [str(p) for p in args.checkpoints if not p.is_file()]
    if missing:
        print(f"error: no such checkpoint: {', '.join(missing)}", file=sys.stderr)
        return 2
    if len(args.checkpoints) < 2:
        print("error: give at least two checkpoints to average", file=sys.stderr)
        return 2
    try:
        path = soup(args.checkpoints, args.run_dir, threads=args.threads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
