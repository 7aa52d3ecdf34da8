#!/usr/bin/env python
"""Apply the ship rule (vcam.evaluation.ship) to every candidate of one evaluation run.

    python scripts/judge_candidates.py runs/evalC-photos/results.json \\
        runs/evalC-video/results.json [--shipped-tag shipped] [--peer mediapipe-selfie-general]

The results must hold shen-test, talking-heads, blur-probe and shift-probe for the candidates,
the shipped files and the peer, from one run (``scripts/evaluate.py --peer general``). A
candidate ``mmnet-256-<tag>`` is judged against ``mmnet-256-shipped``, ``mmnet-fast-<tag>``
against ``mmnet-fast-shipped``: the name up to its last ``-`` is the model family. Prints one
line per candidate, PASS or the reasons it fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vcam.evaluation.ship import judge, rows_by_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", type=Path, nargs="+", help="results.json files of one run")
    parser.add_argument("--shipped-tag", default="shipped", help="the shipped files' name tag")
    parser.add_argument("--peer", default="mediapipe-selfie-general", help="the peer's name")
    args = parser.parse_args(argv)
    rows = []
    for path in args.results:
        try:
            rows += json.loads(path.read_text())
        except (OSError, ValueError) as error:
            print(f"error: cannot read {path}: {error}", file=sys.stderr)
            return 2
    table = rows_by_model(rows)
    if args.peer not in table:
        print(f"error: no results for the peer {args.peer} (evaluate with --peer)", file=sys.stderr)
        return 2
    judged = 0
    for name in sorted(table):
        family, _, tag = name.rpartition("-")
        shipped = f"{family}-{args.shipped_tag}"
        if name == args.peer or tag == args.shipped_tag or shipped not in table:
            continue
        reasons = judge(table[name], table[shipped], table[args.peer])
        print(f"{name}: " + ("PASS" if not reasons else "fails: " + "; ".join(reasons)))
        judged += 1
    if not judged:
        print(f"error: no candidate beside a *-{args.shipped_tag} file", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
