"""Alpha predictors for evaluation: any callable mapping an RGB uint8 image to a float alpha.

:class:`OnnxMatting` runs a model that follows the vcam model contract the way the runtime does:
``vcam.fitting.fit`` (aspect kept, border replicated) into the model's fixed input size, float
RGB in [0, 1], NCHW, then ``vcam.fitting.unfit`` back to the image's size. The MediaPipe peer is
:class:`vcam.evaluation.peer.MediaPipeSelfie`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vcam.fitting import fit, unfit
from vcam.matting import image_input, load_session

Predictor = Callable[[np.ndarray], np.ndarray]


class OnnxMatting:
    """An ONNX alpha model (input ``[N,3,H,W]`` RGB in [0, 1], output ``[N,1,H,W]``)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        self._session = load_session(self.path, threads, hint="check --models")
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.input_name, self.input_size = image_input(self._session, self.path)
        self.output_name = self._session.get_outputs()[0].name

    @property
    def name(self) -> str:
        return self.path.stem

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """Alpha (float32, H x W, in [0, 1]) at the image's size."""
        small, where = fit(image_rgb, self.input_size)
        tensor = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32)
        tensor *= np.float32(1.0 / 255.0)
        alpha = self._session.run([self.output_name], {self.input_name: tensor})[0][0, 0]
        full = unfit(alpha, where, image_rgb.shape[:2]).astype(np.float32, copy=False)
        return np.clip(full, 0.0, 1.0)

    __call__ = predict
