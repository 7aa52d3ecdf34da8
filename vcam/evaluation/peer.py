"""The MediaPipe selfie-segmentation peer, run with LiteRT exactly as MediaPipe runs it.

MediaPipe's ``SelfieSegmentation`` graph (``selfie_segmentation_cpu.binarypb`` in the 0.10.21
wheel) does: ImageToTensorCalculator with the whole image as the region, ``keep_aspect_ratio:
false`` (the image is squashed to the model size), corner-to-corner mapping through
``cv::warpPerspective`` with bilinear interpolation on the uint8 image, then a float range of
[0, 1]; the model's output is already a probability (activation NONE) and
TensorsToSegmentationCalculator resizes it back to the image size with ``cv::resize`` (bilinear).
:class:`MediaPipeSelfie` does the same with ``cv2`` and ``ai_edge_litert``.

Checked against ``mediapipe.solutions.selfie_segmentation`` 0.10.21 (a throw-away venv) on
portraits-shen2016/test: the same mean IoU (0.962 general, 0.959 landscape); alphas differ by
1.6e-4 on average. The small residue is OpenCV 5.0 vs 4.11 rounding the bilinear warp by one
grey level on ~1.5% of pixels: with the warp done by OpenCV 4.11 the alphas agree within 1e-4.

The .tflite files are fetched by ``scripts/fetch_peer.py`` into ``.cache/peers`` (or
``$VCAM_PEER_DIR``). A training/evaluation tool only: the app never loads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import ModelError

VARIANTS = ("general", "landscape")
MODEL_FILES = {
    "general": "selfie_segmentation.tflite",
    "landscape": "selfie_segmentation_landscape.tflite",
}
MODEL_SHA256 = {
    "selfie_segmentation.tflite": (
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
    ),
    "selfie_segmentation_landscape.tflite": (
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"
    ),
}
PEER_DIR_ENV = "VCAM_PEER_DIR"
_ROOT = Path(__file__).resolve().parents[2]


def peer_dir() -> Path:
    """The folder holding the peer's .tflite files: ``$VCAM_PEER_DIR`` or ``.cache/peers``."""
    override = os.environ.get(PEER_DIR_ENV)
    return Path(override) if override else _ROOT / ".cache" / "peers"


def default_model_path(variant: str = "general") -> Path:
    """The fetched .tflite file of ``variant``; raises ModelError when it is missing."""
    if variant not in MODEL_FILES:
        raise ModelError(f"unknown MediaPipe selfie variant {variant!r}: use one of {VARIANTS}")
    path = peer_dir() / MODEL_FILES[variant]
    if not path.is_file():
        raise ModelError(
            f"MediaPipe selfie model not found at {path}: run `python scripts/fetch_peer.py`"
        )
    return path


def squash_to_tensor(image_rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """MediaPipe's ImageToTensor for a whole-image ROI: squash to height x width, [0, 1] floats.

    The ROI corners map onto the tensor corners (scale = size / image size, no half-pixel
    shift), sampled bilinearly on the uint8 image, as ``cv::warpPerspective`` does there.
    """
    ih, iw = image_rgb.shape[:2]
    matrix = np.array([[width / iw, 0.0, 0.0], [0.0, height / ih, 0.0]], dtype=np.float64)
    small = cv2.warpAffine(
        image_rgb,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return small.astype(np.float32) * np.float32(1.0 / 255.0)


class MediaPipeSelfie:
    """MediaPipe selfie segmentation (general 256x256 or landscape 144x256) on LiteRT."""

    def __init__(
        self, model_path: str | Path | None = None, variant: str = "general", threads: int = 1
    ) -> None:
        if variant not in MODEL_FILES:
            raise ModelError(f"unknown MediaPipe selfie variant {variant!r}: use one of {VARIANTS}")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError(
                "ai-edge-litert is not installed: run `pip install -e .[peer]`"
            ) from exc
        self.variant = variant
        self.model_path = Path(model_path) if model_path else default_model_path(variant)
        if not self.model_path.is_file():
            raise ModelError(f"MediaPipe selfie model not found at {self.model_path}")
        try:
            self._interpreter = Interpreter(model_path=str(self.model_path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {self.model_path}: {exc}".splitlines()[0]) from exc
        inp = self._interpreter.get_input_details()[0]
        self._input_index = inp["index"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        _, self.input_height, self.input_width, _ = (int(v) for v in inp["shape"])

    @property
    def name(self) -> str:
        return f"mediapipe-selfie-{self.variant}"

    def predict_small(self, image_rgb: np.ndarray) -> np.ndarray:
        """The model's own output (input_height x input_width float32) for an RGB uint8 image."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"expected an HxWx3 uint8 RGB image, got {image_rgb.shape} {image_rgb.dtype}"
            )
        tensor = squash_to_tensor(image_rgb, self.input_height, self.input_width)
        self._interpreter.set_tensor(self._input_index, tensor[None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)[0, :, :, 0].copy()

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """Alpha (float32, H x W, in [0, 1]) at the image's size."""
        small = self.predict_small(image_rgb)
        h, w = image_rgb.shape[:2]
        alpha = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(alpha, 0.0, 1.0, out=alpha)

    __call__ = predict
