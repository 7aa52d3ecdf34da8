#!/usr/bin/env python
"""Time MMNet training steps on this machine: memory layout, input size and thread count.

  python scripts/profile_training.py --sizes 256x256 144x256 128x128 --threads 1 2

Prints seconds per step and images per second (median of --steps steps after one warm-up) for
NCHW and channels_last, on random inputs (the model's cost does not depend on the data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vcam.nets.mmnet import MMNet  # noqa: E402
from vcam.training.losses import LossWeights, mmnet_loss  # noqa: E402


def time_steps(size: tuple[int, int], batch: int, channels_last: bool, steps: int) -> float:
    """Median seconds of one forward+backward+Adam step."""
    net = MMNet(1.0).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, *size).contiguous(memory_format=layout)
    y = (torch.rand(batch, 1, *size) > 0.5).float()
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        logits, aux = net(x)
        loss, _ = mmnet_loss(logits, aux, y, x, LossWeights())
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["256x256", "144x256", "128x128"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print("| size | threads | layout | s/step | images/s |")
    print("|---|---:|---|---:|---:|")
    for text in args.sizes:
        size = tuple(int(v) for v in text.split("x"))
        for threads in args.threads:
            torch.set_num_threads(threads)
            for channels_last in (False, True):
                seconds = time_steps(size, args.batch, channels_last, args.steps)
                layout = "channels_last" if channels_last else "NCHW"
                rate = args.batch / seconds
                print(f"| {text} | {threads} | {layout} | {seconds:.2f} | {rate:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
