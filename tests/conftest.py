"""Shared fixtures: isolated config folder, small models, a short video, a fake virtual camera."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def warm_kernels() -> None:
    """Compile numba's kernels into its on-disk cache once, before any test: the command-line
    tests run vcam in subprocesses, and a cold cache would add the one-time "preparing the fast
    kernels" line (tested on its own, with a cache folder of its own) to their output."""
    from vcam.pipeline import warm_up

    warm_up()


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty settings folder (never the user's)."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(folder))
    return folder


def synthetic_frame(index: int, width: int = 192, height: int = 108) -> np.ndarray:
    """A test picture: a red "person" box on a blue background; the top-left 16x16 block's grey
    level (``index * 10 % 250``) tells which frame it is."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = (200, 60, 20)
    shift = (index % 5) * 2
    frame[height // 4 :, width // 3 + shift : 2 * width // 3 + shift] = (20, 20, 220)
    frame[:16, :16] = index * 10 % 250
    return frame


def frame_marker(image: np.ndarray) -> int:
    """The frame index a ``synthetic_frame`` carries (modulo 25)."""
    return int(round(float(image[4:12, 4:12].mean()) / 10)) % 25


def write_video(
    path: Path, frames: int = 12, size: tuple[int, int] = (192, 108), fps: float = 10.0
) -> Path:
    """Write ``frames`` synthetic frames as MJPG (.avi) or mp4v (.mp4)."""
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    for index in range(frames):
        writer.write(synthetic_frame(index, *size))
    writer.release()
    return path


@pytest.fixture
def sample_video(tmp_path: Path) -> Path:
    """A 12-frame 192x108 MJPG clip at 10 fps, written for this test."""
    return write_video(tmp_path / "clip.avi")


def make_onnx(
    path: Path,
    height: int = 64,
    width: int = 96,
    in_channels: int = 3,
    out_channels: int = 1,
    dynamic: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A tiny real ONNX "matting" model whose alpha is known: the input's first (red) channel.

    ``in_channels``/``out_channels``/``dynamic`` make models that break the contract on purpose.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    h, w = ("height", "width") if dynamic else (height, width)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", in_channels, h, w])
    alpha = helper.make_tensor_value_info("alpha", TensorProto.FLOAT, ["batch", out_channels, h, w])
    inits = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [out_channels]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
    ]
    node = helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["alpha"])
    graph = helper.make_graph([node], "red_alpha", [image], [alpha], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def red_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x96 ONNX model whose alpha is the input's red channel (a known, frame-dependent alpha:
    the red box of ``synthetic_frame`` is the "person")."""
    return make_onnx(tmp_path_factory.mktemp("models") / "red.onnx")


@pytest.fixture(scope="session")
def untrained_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained MMNet(0.5) exported at 144x256: a plain fp32 graph, as export_onnx writes."""
    pytest.importorskip("torch")
    from vcam.nets.mmnet import MMNet
    from vcam.training.export import export_onnx

    return export_onnx(MMNet(0.5), tmp_path_factory.mktemp("mmnet") / "untrained.onnx", 144, 256)


@pytest.fixture(scope="session")
def model_path(request: pytest.FixtureRequest) -> Path:
    """The shipped fast model when present, else an untrained MMNet(0.5) exported at 144x256."""
    shipped = REPO / "models" / "mmnet-fast.onnx"
    if shipped.is_file():
        return shipped
    return request.getfixturevalue("untrained_model_path")


class FakeVirtualCamera:
    """A pyvirtualcam backend that records frames instead of needing v4l2loopback.

    Device "busy" refuses to open, like a device another app holds."""

    instances: list[FakeVirtualCamera] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device=None, **kw):
        if device == "busy":
            raise RuntimeError("device busy")
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.name = device or "/dev/fake-vcam"
        self.frames: list[np.ndarray] = []
        self.closed = False
        FakeVirtualCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        assert not self.closed
        self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.name

    def native_fourcc(self) -> None:
        return None


FAKE_BACKEND = "vcam-test-fake"


@pytest.fixture
def fake_vcam() -> type[FakeVirtualCamera]:
    """The fake virtual camera backend, registered as ``vcam-test-fake``; ``.instances`` lists
    the cameras opened in this test (each with the RGB ``frames`` it got)."""
    import pyvirtualcam

    pyvirtualcam.register_backend(FAKE_BACKEND, FakeVirtualCamera)
    FakeVirtualCamera.instances = []
    yield FakeVirtualCamera
    pyvirtualcam.camera.BACKENDS.pop(FAKE_BACKEND, None)


# ---------------------------------------------------------------------------------------------
# the panel (test_ui, test_ui_everyday): a real window on the sample clip with the red model


@pytest.fixture
def no_cameras(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no camera; make that explicit (and true on a laptop too)."""
    import ui.worker

    monkeypatch.setattr(ui.worker, "find_cameras", lambda: [])


@pytest.fixture
def base_settings(sample_video: Path, red_model: Path):
    """The panel tests' settings: the sample clip, the red model, a magenta colour background."""
    from panel_helpers import MAGENTA

    from vcam.settings import Settings

    return Settings(
        source="video",
        input_path=str(sample_video),
        model=str(red_model),
        background="colour",
        colour=MAGENTA,
        smoothing="off",
        feather=0.0,
    )


@pytest.fixture
def open_window(qtbot, no_cameras, base_settings):
    """``open_window(**changes)``: save the base settings (with ``changes``) as the user's
    settings file, then open the panel on them, as ``vcam ui`` does."""
    from ui.main_window import MainWindow
    from vcam.settings import save_settings

    opened: list = []

    def make(save: bool = True, **changes: object):
        if save:
            save_settings(base_settings.replace(**changes))
        window = MainWindow(tray=False)
        qtbot.addWidget(window)
        window.show()
        opened.append(window)
        return window

    yield make
    for window in opened:
        window.close()
