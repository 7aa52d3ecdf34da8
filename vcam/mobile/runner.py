"""Run a converted .tflite alpha model with the LiteRT interpreter, the way an app would.

:class:`TfliteMatting` prepares the input like the runtime (``vcam.fitting.fit``: aspect kept,
border replicated, RGB) and handles the three input kinds the export writes: float32 in
[0, 1], int8 (quantised with the model's scale and zero point) and uint8 camera bytes (the
fitted uint8 pixels as they are). The output (float32, int8 or uint8) is dequantised to an
alpha in [0, 1] and mapped back with ``vcam.fitting.unfit``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vcam.errors import ModelError
from vcam.fitting import fit, unfit


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ModelError(
            "ai-edge-litert is not installed: run `pip install -e .[mobile]`"
        ) from None
    return Interpreter


class TfliteMatting:
    """A .tflite alpha model: one NHWC RGB input, one [1,H,W,1] alpha output."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such .tflite file")
        interpreter_class = _interpreter_class()
        try:
            self._interpreter = interpreter_class(model_path=str(self.path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ModelError(f"{self.path}: cannot load ({first})") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(inputs[0]["shape"]) != 4 or inputs[0]["shape"][3] != 3:
            raise ModelError(f"{self.path}: expected one [1,H,W,3] image input")
        if len(outputs) != 1 or tuple(outputs[0]["shape"][[0, 3]]) != (1, 1):
            raise ModelError(f"{self.path}: expected one [1,H,W,1] alpha output")
        self._input, self._output = inputs[0], outputs[0]
        self.input_dtype = np.dtype(self._input["dtype"])
        self.output_dtype = np.dtype(self._output["dtype"])
        self.input_size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        if tuple(self._output["shape"][1:3]) != self.input_size:
            raise ModelError(f"{self.path}: the alpha output is not at the input's size")

    @property
    def name(self) -> str:
        return self.path.stem

    def _to_input(self, small_rgb: np.ndarray) -> np.ndarray:
        """The model's input tensor for a fitted uint8 RGB image (H,W,3)."""
        if self.input_dtype == np.uint8:
            scale, zero = self._input["quantization"]
            if abs(scale * 255.0 - 1.0) > 1e-6 or zero != 0:
                raise ModelError(f"{self.path}: uint8 input is not bytes/255 ({scale}, {zero})")
            return small_rgb[None]
        x = small_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        if self.input_dtype == np.float32:
            return x[None]
        scale, zero = self._input["quantization"]
        info = np.iinfo(self.input_dtype)
        q = np.clip(np.round(x / scale) + zero, info.min, info.max)
        return q.astype(self.input_dtype)[None]

    def _from_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output_dtype == np.float32:
            return raw.astype(np.float32, copy=False)
        scale, zero = self._output["quantization"]
        return ((raw.astype(np.float32) - zero) * np.float32(scale)).astype(np.float32)

    def run_small(self, small_rgb: np.ndarray) -> np.ndarray:
        """The model's alpha (H,W float32 in [0, 1]) for an already fitted uint8 RGB image."""
        self._interpreter.set_tensor(self._input["index"], self._to_input(small_rgb))
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output["index"])[0, :, :, 0]
        return np.clip(self._from_output(raw), 0.0, 1.0)

    def predict(self, image_rgb: np.ndarray) -> np.ndarray:
        """Alpha (float32, H x W, in [0, 1]) at the image's size, for an RGB uint8 image."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"expected an HxWx3 uint8 RGB image, got {image_rgb.shape} {image_rgb.dtype}"
            )
        small, where = fit(image_rgb, self.input_size)
        return unfit(self.run_small(small), where, image_rgb.shape[:2])

    __call__ = predict

    def timings_ms(self, runs: int = 30, warmup: int = 5) -> list[float]:
        """Wall times (ms) of ``runs`` invokes on a fixed mid-grey input, after ``warmup``."""
        small = np.full((*self.input_size, 3), 128, np.uint8)
        self._interpreter.set_tensor(self._input["index"], self._to_input(small))
        for _ in range(warmup):
            self._interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self._interpreter.invoke()
            times.append((time.perf_counter() - start) * 1000.0)
        return times
