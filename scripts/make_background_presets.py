"""Draw the bundled preset backgrounds (vcam/assets/backgrounds/*.jpg) procedurally.

Everything is generated from gradients, soft shapes and out-of-focus "bokeh" discs with a fixed
random seed, so the pictures are reproducible and carry no third-party copyright.

    python scripts/make_background_presets.py [--out vcam/assets/backgrounds] [--width 1280]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "vcam" / "assets" / "backgrounds"


def gradient(h: int, w: int, top: tuple, bottom: tuple) -> np.ndarray:
    """A vertical BGR gradient (float32 0..255)."""
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return (
        (1 - t) * np.array(top, np.float32)
        + t * np.array(bottom, np.float32)
        + np.zeros((h, w, 3), np.float32)
    )


def vignette(image: np.ndarray, amount: float) -> np.ndarray:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / np.sqrt(2)
    return image * (1 - amount * r**2)[..., None]


def bokeh(image: np.ndarray, rng: np.random.Generator, count: int, colours, size, blur) -> None:
    """Add ``count`` soft light discs (screen-blended) to ``image`` in place."""
    h, w = image.shape[:2]
    layer = np.zeros_like(image)
    for _ in range(count):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h * 0.8)))
        radius = int(rng.uniform(*size) * w)
        colour = np.array(colours[rng.integers(len(colours))], np.float32) * rng.uniform(0.4, 1)
        disc = np.zeros_like(image)
        cv2.circle(disc, centre, radius, colour.tolist(), -1, cv2.LINE_AA)
        layer = np.maximum(layer, disc)
    layer = cv2.GaussianBlur(layer, (0, 0), blur * w / 1280)
    image[...] = 255 - (255 - image) * (255 - layer) / 255


def office(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A warm, defocused office: wall, a bright window, shelves and lamp bokeh."""
    img = gradient(h, w, (150, 175, 200), (95, 115, 140))
    cv2.rectangle(
        img, (int(0.62 * w), int(0.08 * h)), (int(0.95 * w), int(0.62 * h)), (235, 230, 220), -1
    )  # window
    for i in range(4):  # shelves
        y = int((0.25 + 0.13 * i) * h)
        cv2.rectangle(
            img, (int(0.05 * w), y), (int(0.38 * w), y + int(0.02 * h)), (60, 80, 105), -1
        )
        for j in range(9):
            x = int((0.06 + 0.035 * j) * w)
            colour = rng.uniform(40, 200, 3).tolist()
            cv2.rectangle(
                img, (x, y - int(rng.uniform(0.05, 0.09) * h)), (x + int(0.025 * w), y), colour, -1
            )
    cv2.rectangle(img, (0, int(0.82 * h)), (w, h), (70, 90, 110), -1)  # desk
    img = cv2.GaussianBlur(img, (0, 0), 9 * w / 1280)
    bokeh(img, rng, 14, [(120, 200, 255), (170, 220, 255), (230, 240, 255)], (0.015, 0.04), 3)
    return vignette(img, 0.35)


def studio(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A photographer's grey backdrop with a soft light behind the sitter."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - 0.5 * w) / w) ** 2 + ((yy - 0.45 * h) / h) ** 2)
    level = 150 - 130 * np.clip(r / 0.75, 0, 1) ** 1.3
    img = np.stack([level * 1.04, level * 1.0, level * 0.96], axis=2)
    img += rng.normal(0, 1.5, img.shape).astype(np.float32)  # a little grain, no banding
    return img


def night(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """City lights at night, far out of focus."""
    img = gradient(h, w, (70, 35, 20), (35, 20, 15))
    bokeh(
        img,
        rng,
        32,
        [(80, 180, 255), (60, 120, 250), (255, 200, 120), (200, 230, 255)],
        (0.01, 0.04),
        6,
    )
    return vignette(img, 0.4)


def teal(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A calm teal-to-navy gradient with a few pale highlights."""
    img = gradient(h, w, (170, 150, 70), (90, 50, 30))
    bokeh(img, rng, 10, [(230, 240, 200), (255, 230, 180)], (0.03, 0.08), 12)
    return vignette(img, 0.25)


PRESETS = {"office": office, "studio": studio, "night": night, "teal": teal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--quality", type=int, default=88)
    args = parser.parse_args()
    width, height = args.width, args.width * 9 // 16
    args.out.mkdir(parents=True, exist_ok=True)
    for seed, (name, draw) in enumerate(PRESETS.items()):
        image = np.clip(draw(height, width, np.random.default_rng(seed)) + 0.5, 0, 255)
        path = args.out / f"{name}.jpg"
        cv2.imwrite(str(path), image.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        print(f"{path} {width}x{height} {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
