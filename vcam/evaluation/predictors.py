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
import onnxruntime as ort

from vcam.errors import ModelError
from vcam.fitting import fit, unfit

Predictor = Callable[[np.ndarray], np.ndarray]


class OnnxMatting:
    """An ONNX alpha model (input ``[N,3,H,W]`` RGB in [0, 1], output ``[N,1,H,W]``)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} not found: check --models")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises private error types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ModelError(f"cannot load model {self.path} ({first}): export it again") from None
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            raise ModelError(f"model {self.path}: expected one [N,3,H,W] image input")
        self.input_name = inputs[0].name
        self.output_name = self._session.get_outputs()[0].name
        self.input_size = self._input_size(inputs[0].shape)

    def _input_size(self, shape: list) -> tuple[int, int]:
        h, w = shape[2], shape[3]
        if not (isinstance(h, int) and isinstance(w, int)):
            try:
                h = int(self.metadata["vcam.input_height"])
                w = int(self.metadata["vcam.input_width"])
            except (KeyError, ValueError):
                raise ModelError(
                    f"model {self.path} has a dynamic input size and no vcam.input_height/width "
                    "metadata: export it with vcam.training.export"
                ) from None
        return h, w

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
