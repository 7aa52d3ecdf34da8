#!/usr/bin/env python
"""Draw where models flicker on a real clip: one row per model (the alpha of the middle frame,
then the flicker map), under the middle frame itself.

    python scripts/flicker_maps.py ../shared/data/talking-heads/clip-2.mp4 \\
        models/mmnet-256.onnx other.onnx --peer general --out docs/eval/<name>/clip-2-maps.jpg

The map is ``vcam.evaluation.video.flicker_map`` (the alpha change on still pixels, per pixel,
over the clip), drawn x``--gain`` on the inferno scale. The mean flicker of each row is printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.evaluation.peer import VARIANTS  # noqa: E402
from vcam.evaluation.predictors import OnnxMatting  # noqa: E402
from vcam.evaluation.video import flicker_map, read_clip  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("clip", type=Path, help="a video file")
    parser.add_argument("models", nargs="*", type=Path, help="ONNX models")
    parser.add_argument("--peer", nargs="*", default=[], choices=VARIANTS, help="MediaPipe peers")
    parser.add_argument("--out", type=Path, required=True, help="the image to write")
    parser.add_argument("--frames", type=int, default=125, help="the first N frames")
    parser.add_argument("--gain", type=float, default=10.0, help="map brightness factor")
    parser.add_argument("--scale", type=float, default=0.4, help="size of the written image")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.models and not args.peer:
        parser.error("nothing to draw: give models and/or --peer")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        frames = read_clip(args.clip, args.frames)
        predictors = [OnnxMatting(m, args.threads) for m in args.models]
        if args.peer:
            from vcam.evaluation.peer import MediaPipeSelfie

            predictors += [MediaPipeSelfie(variant=v, threads=args.threads) for v in args.peer]
    except VcamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    middle = len(frames) // 2
    picture = cv2.cvtColor(frames[middle], cv2.COLOR_RGB2BGR)
    rows = [np.hstack([picture, picture])]
    for predictor in predictors:
        alphas = [predictor(frame) for frame in frames]
        heat = flicker_map(frames, alphas)
        alpha = cv2.cvtColor((alphas[middle] * 255 + 0.5).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        scaled = np.clip(heat * 255 * args.gain, 0, 255).astype(np.uint8)
        rows.append(np.hstack([alpha, cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)]))
        print(f"{predictor.name}: mean of the map {heat.mean() * 1e3:.2f} (1e-3)")
    image = np.vstack(rows)
    image = cv2.resize(image, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), image):
        print(f"error: cannot write {args.out} (use a .jpg or .png name)", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
