"""Training-time code (the ``[train]`` extra: torch, onnx). Never imported by the runtime."""
