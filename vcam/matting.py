"""Matter: runs an MMNet ONNX model on frames and returns the low-resolution alpha.

The model is checked when it loads, before any thread starts: a missing, corrupt or truncated
file, or one whose input/output shapes break the model contract, is a ModelError naming the
file. Frames are fitted into the model input with ``vcam.fitting.fit`` (no squashing); the
alpha comes back at model resolution, cropped to where the frame lies (ready for refinement).
While running, a frame that cannot be prepared is an InputError (the frame's fault) and a
model that fails on a good input a ModelError (the model's).
"""

from __future__ import annotations

import logging
import mmap
import os
import site
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from vcam import media
from vcam.errors import InputError, ModelError, SettingsError
from vcam.fitting import Placement, fit, unfit

log = logging.getLogger(__name__)

ort.set_default_logger_severity(3)  # errors become ModelErrors; keep onnxruntime quiet

MODEL_FILES = {"quality": "mmnet-256.onnx", "fast": "mmnet-fast.onnx"}
PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
AUTO_PREFERENCE = ("cuda", "directml", "coreml")
INPUT_MULTIPLE = 16  # the model contract: input height and width are multiples of 16
QDQ_OP = b"DequantizeLinear"  # a QDQ graph's int8 tensors go through it


def model_dirs() -> list[Path]:
    """Where model names are looked up, in order: $VCAM_MODELS_DIR, the checkout's ``models/``
    (next to the ``vcam`` package), then the installed data folders (``share/vcam/models``)."""
    dirs = []
    if os.environ.get("VCAM_MODELS_DIR"):
        dirs.append(Path(os.environ["VCAM_MODELS_DIR"]).expanduser())
    dirs.append(Path(__file__).resolve().parent.parent / "models")
    for prefix in (sys.prefix, site.getuserbase()):
        dirs.append(Path(prefix) / "share" / "vcam" / "models")
    return dirs


def resolve_model(model: str | Path) -> Path:
    """The file of a model: "quality", "fast", a file name in the model folders, or a path."""
    name = str(model).strip()
    if name in MODEL_FILES:
        candidates = [folder / MODEL_FILES[name] for folder in model_dirs()]
    else:
        path = Path(name).expanduser()
        candidates = [path]
        if not path.is_absolute() and len(path.parts) == 1:
            candidates += [folder / path for folder in model_dirs()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    folders = [candidate for candidate in candidates if candidate.is_dir()]
    if folders:
        raise ModelError(
            f"model {folders[0]} is a folder, not a model file: give the .onnx file itself "
            "(or use 'fast' / 'quality')"
        )
    if name in MODEL_FILES:
        problem = (
            f"model '{name}' ({MODEL_FILES[name]}) not found in "
            f"{', '.join(str(d) for d in model_dirs()[:2])}: set VCAM_MODELS_DIR or "
        )
        raise ModelError(
            problem + "pass a path with --model",
            panel_message=problem + "choose Custom… to pick a model file",
        )
    raise ModelError(f"model file {name} not found: check the path (or use 'fast' / 'quality')")


def available_providers() -> list[str]:
    """The execution providers this onnxruntime can use, by vcam's names ("cpu", "cuda",
    "directml", "coreml"; "cpu" always), in that order."""
    have = set(ort.get_available_providers())
    return ["cpu"] + [name for name, ep in PROVIDER_NAMES.items() if name != "cpu" and ep in have]


def choose_providers(provider: str) -> list[str]:
    """onnxruntime execution providers for "cpu", "auto" (a GPU one when available) or a name."""
    available = ort.get_available_providers()
    if provider == "auto":
        chosen = [PROVIDER_NAMES[p] for p in AUTO_PREFERENCE if PROVIDER_NAMES[p] in available]
        return chosen + ["CPUExecutionProvider"]
    if provider not in PROVIDER_NAMES:
        raise SettingsError(
            f"provider: {provider!r} is not one of cpu, auto, " + ", ".join(AUTO_PREFERENCE)
        )
    wanted = PROVIDER_NAMES[provider]
    if wanted not in available:
        names = ", ".join(available_providers())
        raise SettingsError(
            f"provider: {provider!r} is not available in this onnxruntime (available: {names}); "
            "use cpu or auto"
        )
    return [wanted] if provider == "cpu" else [wanted, "CPUExecutionProvider"]


def session_options(threads: int = 0) -> ort.SessionOptions:
    """The onnxruntime options vcam runs models with (``threads`` 0: onnxruntime's default;
    the pipeline picks the count, see ``vcam.pipeline.inference_threads``).

    Measured by ``scripts/benchmark.py sessions`` (docs/benchmarks/sessions.md): the layout
    optimisations (NCHWc for float, NHWC for int8, part of ``ORT_ENABLE_ALL``) matter most,
    1.2x (int8) to 2.2x (float) over ``ORT_ENABLE_EXTENDED``; the parallel executor is 1.7x
    slower; memory pattern, CPU arena and denormals-as-zero change nothing measurable. Idle
    spinning makes two threads 1.5x faster but burns a core between frames (the capture and
    compositing threads need it), and stopping the spin after each run is slower still when
    paced like a camera (docs/benchmarks/sessions-paced.md): no spinning, and one thread.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_session(
    path: Path,
    threads: int = 0,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    hint: str = "check the path",
) -> ort.InferenceSession:
    """The onnxruntime session of the model file ``path`` (:func:`session_options`,
    ``providers`` by onnxruntime's names). A missing file (``hint`` says what to do) or one
    that cannot be loaded is a ModelError naming it, on one line."""
    if not path.is_file():
        raise ModelError(f"model file {path} not found: {hint}")
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=list(providers))
    except Exception as error:  # noqa: BLE001 - onnxruntime raises many private types
        raise ModelError(
            f"model {path} cannot be loaded ({_short(error)}): it is not a valid ONNX "
            "file, or is truncated; export it again"
        ) from None


def image_input(session: ort.InferenceSession, path: Path) -> tuple[str, tuple[int, int]]:
    """The name and fixed (height, width) of the session's one image input, float32
    [N,3,H,W] as the model contract says; a dynamic size is read from the file's
    ``vcam.input_height``/``vcam.input_width`` metadata. ModelError otherwise."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"model {path}: expected one image input, found {len(inputs)} inputs")
    image = inputs[0]
    if image.type != "tensor(float)" or len(image.shape) != 4 or image.shape[1] != 3:
        raise ModelError(
            f"model {path}: input {image.name} is {image.type} {image.shape}, "
            "expected float32 [N,3,H,W]"
        )
    height, width = image.shape[2], image.shape[3]
    if not (isinstance(height, int) and isinstance(width, int)):
        metadata = session.get_modelmeta().custom_metadata_map
        try:
            height = int(metadata["vcam.input_height"])
            width = int(metadata["vcam.input_width"])
        except (KeyError, ValueError):
            raise ModelError(
                f"model {path} has a dynamic input size and no vcam.input_height/"
                "vcam.input_width metadata: export it with vcam.training.export"
            ) from None
    return image.name, (height, width)


def _short(error: Exception) -> str:
    """The first line of an onnxruntime error, without its bracketed prefix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = text.split(" : ")[-1]
    if "failed:" in text:
        text = text.split("failed:", 1)[1].strip()
    return text[:160]


def has_qdq_nodes(path: Path) -> bool:
    """Whether the ONNX file holds DequantizeLinear nodes (an int8 QDQ graph).

    The runtime has no ONNX parser (onnxruntime does not show the graph), but node types are
    stored as plain strings in the protobuf, so the file's bytes tell."""
    try:
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            return data.find(QDQ_OP) >= 0
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return False


@dataclass(frozen=True)
class ModelInfo:
    """What runs: the model ``path``, its ``input_size`` (height, width), the execution
    ``providers`` onnxruntime uses (vcam's names, first the main one, e.g. ("cuda", "cpu"))
    and its ``precision`` ("int8" for a QDQ graph, else the file's ``vcam.precision``
    metadata, else "fp32")."""

    path: Path
    input_size: tuple[int, int]
    providers: tuple[str, ...]
    precision: str

    @property
    def name(self) -> str:
        """The file name without ".onnx", e.g. "mmnet-fast"."""
        return self.path.stem

    def line(self) -> str:
        """One line for people, e.g. "mmnet-fast · 144x256 · int8 · CPU"."""
        height, width = self.input_size
        main = (
            media.PROVIDER_LABELS.get(self.providers[0], self.providers[0])
            if self.providers
            else "?"
        )
        return f"{self.name} · {height}x{width} · {self.precision} · {main}"


class Matter:
    """An MMNet ONNX model ready to matte frames. ``predict(frame)`` gives the float32 alpha at
    model resolution, cropped to the frame's placement inside the model input."""

    def __init__(self, model: str | Path = "fast", threads: int = 0, provider: str = "cpu"):
        self.path = resolve_model(model)
        self.providers_requested = choose_providers(provider)
        self._session = load_session(self.path, threads, self.providers_requested)
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        self.providers: list[str] = self._session.get_providers()
        self.input_name, self.output_name, self.input_size = self._check_contract()
        self._swap_rb = self.metadata.get("vcam.color_order", "RGB").upper() != "BGR"
        self._check_output()
        self.info = ModelInfo(self.path, self.input_size, self._providers_used(), self._precision())
        log.info("model %s (%s)", self.path, self.info.line())

    def _check_contract(self) -> tuple[str, str, tuple[int, int]]:
        outputs = self._session.get_outputs()
        if len(outputs) < 1:
            raise ModelError(f"model {self.path}: expected an alpha output, found none")
        input_name, (height, width) = image_input(self._session, self.path)
        alpha = outputs[0]
        if len(alpha.shape) != 4 or alpha.shape[1] != 1:
            raise ModelError(
                f"model {self.path}: output {alpha.name} has shape {alpha.shape}, "
                "expected [N,1,H,W]"
            )
        if not (16 <= height <= 4096 and 16 <= width <= 4096):
            raise ModelError(f"model {self.path}: input size {height}x{width} is not usable")
        if height % INPUT_MULTIPLE or width % INPUT_MULTIPLE:
            raise ModelError(
                f"model {self.path}: input size {height}x{width} (height x width) is not a "
                f"multiple of {INPUT_MULTIPLE}, as the model contract requires; export it "
                "again at a size like 144x256"
            )
        return input_name, alpha.name, (height, width)

    def _check_output(self) -> None:
        """Run once on a grey picture: the alpha must be [1,1,H,W] and finite."""
        height, width = self.input_size
        blob = np.full((1, 3, height, width), 0.5, np.float32)
        try:
            out = self._session.run([self.output_name], {self.input_name: blob})[0]
        except Exception as error:  # noqa: BLE001
            raise ModelError(f"model {self.path} fails to run: {_short(error)}") from None
        if out.shape != (1, 1, height, width):
            raise ModelError(
                f"model {self.path}: output has shape {tuple(out.shape)}, expected "
                f"(1, 1, {height}, {width})"
            )
        if not np.isfinite(out).all():
            raise ModelError(
                f"model {self.path}: output has NaN or infinite values on a plain grey "
                "picture; the weights are broken: export it again"
            )

    def _providers_used(self) -> tuple[str, ...]:
        names = {ep: name for name, ep in PROVIDER_NAMES.items()}
        return tuple(
            names.get(ep, ep.removesuffix("ExecutionProvider").lower()) for ep in self.providers
        )

    def _precision(self) -> str:
        if has_qdq_nodes(self.path):
            return "int8"
        return self.metadata.get("vcam.precision", "").strip() or "fp32"

    @property
    def name(self) -> str:
        return self.path.name

    def preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, Placement]:
        """The model input for a BGR uint8 frame (fitted, RGB, [0,1], NCHW) and its placement.
        A frame that cannot be fitted (not an HxWx3 picture) is an InputError."""
        shape = getattr(frame, "shape", None)
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(f"bad frame {shape}: the model needs a BGR picture (H x W x 3)")
        if frame.size == 0 or frame.dtype != np.uint8:
            raise InputError(f"bad frame {shape} {frame.dtype}: expected BGR uint8 pixels")
        try:
            small, where = fit(frame, self.input_size)
            blob = cv2.dnn.blobFromImage(small, 1.0 / 255.0, swapRB=self._swap_rb)
        except cv2.error as error:
            raise InputError(
                f"bad frame {shape}: it cannot be fitted into the model input ({_short(error)})"
            ) from None
        return blob, where

    def infer(self, blob: np.ndarray, where: Placement) -> np.ndarray:
        """The alpha (float32 in [0,1]) of a preprocessed input, cropped to ``where``. A
        failing run is a ModelError naming the file."""
        try:
            alpha = self._session.run([self.output_name], {self.input_name: blob})[0][0, 0]
        except Exception as error:  # noqa: BLE001 - onnxruntime raises many private types
            raise ModelError(f"model {self.name} failed while running: {_short(error)}") from None
        crop = alpha[where.top : where.top + where.height, where.left : where.left + where.width]
        return np.ascontiguousarray(np.clip(crop, 0.0, 1.0), dtype=np.float32)

    def predict(self, frame: np.ndarray) -> np.ndarray:
        """The low-resolution alpha of a BGR uint8 frame (keeps the frame's aspect ratio)."""
        return self.infer(*self.preprocess(frame))

    def matte(self, frame: np.ndarray) -> np.ndarray:
        """A plain full-size float32 alpha (bilinear upsampling, no refinement)."""
        blob, where = self.preprocess(frame)
        full = Placement(0, 0, *self.input_size)
        return unfit(self.infer(blob, full), where, frame.shape[:2])
