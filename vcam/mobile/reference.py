"""The ONNX model a .tflite file is checked against, run with onnxruntime like the runtime runs it.

The model contract: input ``image`` [N,3,H,W] float32 RGB in [0, 1], output ``alpha``
[N,1,H,W]. :class:`OnnxReference` insists on the ``alpha`` output (a model without it is not a
vcam model) and reads the fixed input size from the graph or the ``vcam.input_*`` metadata.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vcam.errors import ModelError
from vcam.fitting import fit, unfit
from vcam.matting import image_input, load_session

OUTPUT_NAME = "alpha"


class OnnxReference:
    """A vcam ONNX alpha model on the CPU execution provider."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        self._session = load_session(self.path, threads, hint="pass the shipped .onnx file")
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.input_name, self.input_size = image_input(self._session, self.path)
        names = [o.name for o in self._session.get_outputs()]
        if OUTPUT_NAME not in names:
            raise ModelError(
                f"{self.path}: no '{OUTPUT_NAME}' output (has {names}): "
                "export it with scripts/export_onnx.py"
            )

    def run_nchw(self, tensor: np.ndarray) -> np.ndarray:
        """The raw ``alpha`` output for an NCHW float32 batch."""
        return self._session.run([OUTPUT_NAME], {self.input_name: tensor})[0]

    def run_small(self, small_rgb: np.ndarray) -> np.ndarray:
        """The model's alpha (H,W float32) for an already fitted uint8 RGB image."""
        tensor = np.ascontiguousarray(small_rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        tensor *= np.float32(1.0 / 255.0)
        return self.run_nchw(tensor)[0, 0]

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """Alpha (float32, H x W, in [0, 1]) at the image's size."""
        small, where = fit(image_rgb, self.input_size)
        alpha = unfit(self.run_small(small), where, image_rgb.shape[:2])
        return np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0)

    __call__ = predict

    def timings_ms(self, runs: int = 30, warmup: int = 5) -> list[float]:
        """Wall times (ms) of ``runs`` runs on a fixed mid-grey input, after ``warmup``."""
        tensor = np.full((1, 3, *self.input_size), 0.5, np.float32)
        for _ in range(warmup):
            self.run_nchw(tensor)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.run_nchw(tensor)
            times.append((time.perf_counter() - start) * 1000.0)
        return times
