"""What every benchmark shares: paths, timing, the inputs (frames, models, the sample clip),
the machine's description and the report writers."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numba
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


DEFAULT_MODEL = REPO / "models" / "mmnet-fast.onnx"
DEFAULT_DATA = REPO.parent / "shared" / "data"
BLUR_STRENGTH = 25  # the settings' default
PREFERRED_WALL = "ColorfulCups"  # a photo with detail everywhere (plasma-workspace-wallpapers)


# ---------------------------------------------------------------------------------------------
# timing


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    n: int


def measure(fn: Callable[[], object], repeat: int, warmup: int) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times timed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(times), min(times), max(times), len(times))


def set_threads(threads: int) -> None:
    """Threads for numba (this thread's parallel kernels) and OpenCV."""
    numba.set_num_threads(threads)
    cv2.setNumThreads(threads)


# ---------------------------------------------------------------------------------------------
# inputs


def realistic_frame(width: int, height: int, data: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(frame BGR uint8, alpha float32 [0,1], description): a real portrait and its mask
    pasted on a real wallpaper when ``data`` has them, else a synthetic person in a room."""
    portraits = sorted((data / "portraits-shen2016" / "test" / "image").glob("*.jpg"))
    walls = sorted((data / "backgrounds").rglob("*.jpg")) + sorted(
        (data / "backgrounds").rglob("*.png")
    )
    if portraits and walls:
        person = cv2.imread(str(portraits[0]))
        mask_path = portraits[0].parent.parent / "mask" / (portraits[0].stem + ".png")
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        preferred = [w for w in walls if w.stem == PREFERRED_WALL]
        wall_path = preferred[0] if preferred else walls[len(walls) // 2]
        wall = cv2.imread(str(wall_path))
        if person is not None and mask is not None and wall is not None:
            from vcam.backgrounds import fit_image

            room = fit_image(wall, (height, width), "cover").astype(np.float32)
            scale = height / person.shape[0]
            size = (round(person.shape[1] * scale), height)
            person = cv2.resize(person, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
            alpha = np.zeros((height, width), np.float32)
            left = (width - size[0]) // 2
            alpha[:, left : left + size[0]] = cv2.GaussianBlur(mask, (0, 0), 1.0) / 255.0
            canvas = room.copy()
            canvas[:, left : left + size[0]] = person
            frame = alpha[..., None] * canvas + (1 - alpha[..., None]) * room
            label = f"{portraits[0].name} on {wall_path.name}"
            return np.clip(frame + 0.5, 0, 255).astype(np.uint8), alpha, label
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    room = np.stack([90 + 60 * yy / height, 120 + 40 * xx / width, 170 - 50 * yy / height], 2)
    room = cv2.GaussianBlur(room + rng.normal(0, 25, room.shape).astype(np.float32), (0, 0), 3)
    head = ((xx - width / 2) / (0.12 * width)) ** 2 + ((yy - 0.38 * height) / (0.2 * height)) ** 2
    body = ((xx - width / 2) / (0.3 * width)) ** 2 + ((yy - 1.05 * height) / (0.45 * height)) ** 2
    alpha = cv2.GaussianBlur(((head < 1) | (body < 1)).astype(np.float32), (0, 0), 1.5)
    person = np.array([60, 80, 200], np.float32) + rng.normal(0, 12, room.shape)
    frame = alpha[..., None] * person + (1 - alpha[..., None]) * room
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), alpha, "synthetic scene"


def untrained_model(folder: Path, height: int = 144, width: int = 256) -> tuple[Path, str]:
    """An UNTRAINED MMNet(1.0) exported at ``height`` x ``width`` (only its speed is real)."""
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx

    path = export_onnx(MMNet(1.0), folder / "untrained.onnx", height, width)
    return path, f"UNTRAINED MMNet(1.0) {height}x{width} (timing only)"


def write_sample_clip(
    path: Path, width: int = 640, height: int = 360, fps: float = 30.0, frames: int = 60
) -> Path:
    """The bundled sample portrait (swaying and zooming) as an MJPG clip: the one input clip
    of the benchmarks and the soak test."""
    from vcam.sources import SampleSource

    sample = SampleSource(width, height, fps=fps, live=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    try:
        if not writer.isOpened():
            raise SystemExit(f"error: cannot write the clip {path}")
        for i in range(frames):
            writer.write(sample.render(i / fps))
    finally:
        writer.release()
        sample.close()
    return path


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| size | threads | stage | variant | median ms | min | max | n |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['threads']} | {r['stage']} | {r['variant']} | "
            f"{r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['max_ms']:.2f} | {r['n']} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "numba": numba.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numba_threading_layer": numba.config.THREADING_LAYER,
    }


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, height = item.lower().split("x")
        sizes.append((int(width), int(height)))
    return sizes


PEER_VARIANTS = ("general", "landscape")
DEFAULT_OUT_DIR = REPO / "docs" / "benchmarks"
SPEED_CACHE = REPO / ".cache" / "speed"


def shown(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (for reports)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse_hw(text: str) -> tuple[int, int]:
    """``"144x256"`` (height x width, the model convention) as (144, 256)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: size {text!r}: use HEIGHTxWIDTH, e.g. 144x256") from None
    return height, width


def parse_list(text: str, kind: type = str) -> list:
    """Comma-separated values (empty items dropped)."""
    return [kind(item.strip()) for item in text.split(",") if item.strip()]


def write_reports(out: Path, report: dict, markdown: str) -> tuple[Path, Path]:
    """``out``.json and ``out``.md (``out`` is a path without suffix)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix(".json"), out.with_suffix(".md")
    js.write_text(json.dumps(report, indent=1) + "\n")
    md.write_text(markdown + "\n")
    return js, md
