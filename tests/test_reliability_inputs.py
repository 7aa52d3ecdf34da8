"""Bad inputs: broken model files, unusable backgrounds, frames of odd sizes and formats.

Every bad file is real (truncated copies, text under a model's name, a 12000x12000 image...),
and goes through the same doors a user uses: ``Pipeline.start``, ``Pipeline.update`` and the
``vcam`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAKE_BACKEND, REPO, make_onnx, synthetic_frame, write_video
from helpers import Recorder, base_settings, check_person_kept_background_replaced, vcam_threads

from vcam.convert import process
from vcam.errors import BackgroundError, ModelError
from vcam.pipeline import Pipeline
from vcam.sinks import PreviewSink, VideoFileSink
from vcam.sources import Frame, FrameSource, VideoSource


def graph_model(path: Path, nodes, out_shape, extra_inits=()) -> Path:
    """An ONNX model from ``nodes`` on the red channel ``r`` of a 1x3x64x96 ``image``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 96])
    alpha = helper.make_tensor_value_info("alpha", TensorProto.FLOAT, out_shape)
    inits = [
        helper.make_tensor("s", TensorProto.INT64, [1], [0]),
        helper.make_tensor("e", TensorProto.INT64, [1], [1]),
        helper.make_tensor("a", TensorProto.INT64, [1], [1]),
        *extra_inits,
    ]
    red = helper.make_node("Slice", ["image", "s", "e", "a"], ["r"])
    graph = helper.make_graph([red, *nodes], "bad", [image], [alpha], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def half_size_output(path: Path) -> Path:
    from onnx import helper

    pool = helper.make_node("MaxPool", ["r"], ["alpha"], kernel_shape=[2, 2], strides=[2, 2])
    return graph_model(path, [pool], [1, 1, 32, 48])


def nan_output(path: Path) -> Path:
    from onnx import helper

    nodes = [helper.make_node("Neg", ["r"], ["n"]), helper.make_node("Sqrt", ["n"], ["alpha"])]
    return graph_model(path, nodes, [1, 1, 64, 96])


def bad_models(folder: Path, good: Path) -> dict[str, Path]:
    """Broken model files, by what is wrong with them."""
    data = good.read_bytes()
    made = {}

    def write(name: str, content: bytes) -> None:
        made[name] = folder / f"{name}.onnx"
        made[name].write_bytes(content)

    write("truncated", data[: len(data) // 2])
    write("cut-short", data[:-8])
    write("empty", b"")
    write("text", b"this is not a model\n")
    write("png", cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    made["four-channel-input"] = make_onnx(folder / "in4.onnx", in_channels=4)
    made["two-channel-output"] = make_onnx(folder / "out2.onnx", out_channels=2)
    made["no-fixed-size"] = make_onnx(folder / "dynamic.onnx", dynamic=True)
    made["too-small"] = make_onnx(folder / "tiny.onnx", height=8, width=8)
    made["half-size-output"] = half_size_output(folder / "half.onnx")
    made["nan-output"] = nan_output(folder / "nan.onnx")
    made["missing"] = folder / "missing.onnx"
    made["a-folder"] = folder / "folder.onnx"
    made["a-folder"].mkdir()
    return made


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory, red_model) -> dict[str, Path]:
    return bad_models(tmp_path_factory.mktemp("bad-models"), red_model)


def test_every_broken_model_is_a_model_error_before_any_thread(broken_models, tmp_path):
    clip = write_video(tmp_path / "clip.avi")
    for what, path in broken_models.items():
        source = VideoSource(clip, live=False)
        pipeline = Pipeline(base_settings(path), source=source)
        with pytest.raises(ModelError) as info:
            pipeline.start()
        message = str(info.value)
        assert path.name in message, (what, message)
        assert "\n" not in message and len(message) < 300, (what, message)
        assert pipeline.status.state == "error" and pipeline.error is info.value
        assert not vcam_threads(), what
        source.close()  # never started: the caller's source is left as it was


def test_a_broken_model_on_the_fly_keeps_the_running_one(broken_models, red_model, tmp_path):
    clip = write_video(tmp_path / "loop.avi", frames=10, fps=30.0)
    recorder = Recorder()
    source = VideoSource(clip, loop=True, live=True)
    with Pipeline(base_settings(red_model), sinks=[PreviewSink(recorder)], source=source) as p:
        recorder.wait_for(2)
        for what, path in broken_models.items():
            with pytest.raises(ModelError, match=path.name):
                p.update(p.settings.replace(model=str(path)))
            assert p.settings.model == str(red_model) and p.running, what
        count = len(recorder.frames)
        recorder.wait_for(count + 3)
        check_person_kept_background_replaced(recorder.frames[-1])
    assert not vcam_threads()


# -- backgrounds ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backgrounds(tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """(kind, path) of unusable backgrounds, by what is wrong with them."""
    folder = tmp_path_factory.mktemp("bad-backgrounds")
    made: dict[str, tuple[str, Path]] = {}
    huge = np.zeros((12000, 12000), np.uint8)
    huge[::100] = 255
    for suffix in (".png", ".jpg"):
        path = folder / f"huge{suffix}"
        assert cv2.imwrite(str(path), huge)
        made[f"12000x12000{suffix}"] = ("image", path)
    ok_png = cv2.imencode(".png", np.full((60, 80, 3), 90, np.uint8))[1].tobytes()
    noisy = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    ok_jpg = cv2.imencode(".jpg", noisy)[1].tobytes()
    for name, content in {
        "text.png": b"not an image",
        "empty.png": b"",
        "truncated.png": ok_png[: len(ok_png) // 2],
        "truncated.jpg": ok_jpg[: len(ok_jpg) // 3],
        "broken.gif": b"GIF89a\x00\x00",
    }.items():
        (folder / name).write_bytes(content)
        made[name] = ("image", folder / name)
    (folder / "folder.png").mkdir()
    made["a folder"] = ("image", folder / "folder.png")
    made["missing"] = ("image", folder / "missing.png")
    clip = write_video(folder / "good.avi", frames=5)
    (folder / "truncated.avi").write_bytes(clip.read_bytes()[:600])
    made["truncated video"] = ("video", folder / "truncated.avi")
    (folder / "text.mp4").write_bytes(b"not a video at all")
    made["text as video"] = ("video", folder / "text.mp4")
    return made


@pytest.fixture(scope="module")
def odd_backgrounds(tmp_path_factory) -> dict[str, Path]:
    """Backgrounds in unusual but valid formats: they must work."""
    folder = tmp_path_factory.mktemp("odd-backgrounds")
    base = np.zeros((60, 80, 3), np.uint8)
    base[:, :40] = (255, 0, 255)
    images = {
        "deep.png": (base.astype(np.uint16) * 257),
        "grey.png": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        "bgra.png": np.dstack([base, np.full((60, 80), 255, np.uint8)]),
        "float.tiff": base.astype(np.float32) / 255.0,
        "thin.png": np.full((1, 5000, 3), 255, np.uint8),
        "image.webp": base,
        "image.bmp": base,
    }
    made = {}
    for name, image in images.items():
        assert cv2.imwrite(str(folder / name), image), name
        made[name] = folder / name
    gif = bytes.fromhex(
        "47494638396101000100800000ff00ffffffff21f90401000000002c00000000010001000002024401003b"
    )
    (folder / "pixel.gif").write_bytes(gif)
    made["pixel.gif"] = folder / "pixel.gif"
    return made


def test_unusable_backgrounds_are_refused_and_the_old_one_stays(red_model, tmp_path, backgrounds):
    clip = write_video(tmp_path / "loop.avi", frames=10, fps=30.0)
    recorder = Recorder()
    source = VideoSource(clip, loop=True, live=True)
    with Pipeline(base_settings(red_model), sinks=[PreviewSink(recorder)], source=source) as p:
        recorder.wait_for(2)
        for what, (kind, path) in backgrounds.items():
            started = time.monotonic()
            with pytest.raises(BackgroundError) as info:
                p.update(p.settings.replace(background=kind, background_path=str(path)))
            message = str(info.value)
            assert path.name in message and "\n" not in message, (what, message)
            assert time.monotonic() - started < 5.0, f"{what}: refused only after decoding"
            assert p.settings.background == "colour" and p.running, what
            if "12000" in what:
                assert "12000x12000" in message and "megapixels" in message
        count = len(recorder.frames)
        recorder.wait_for(count + 3)
        check_person_kept_background_replaced(recorder.frames[-1])  # still the green colour
    assert not vcam_threads()


def test_odd_but_valid_backgrounds_work(red_model, tmp_path, odd_backgrounds):
    clip = write_video(tmp_path / "loop.avi", frames=10, fps=30.0)
    recorder = Recorder()
    source = VideoSource(clip, loop=True, live=True)
    with Pipeline(base_settings(red_model), sinks=[PreviewSink(recorder)], source=source) as p:
        recorder.wait_for(2)
        for name, path in odd_backgrounds.items():
            p.update(p.settings.replace(background="image", background_path=str(path)))
            count = len(recorder.frames)
            recorder.wait_for(count + 2)
            frame = recorder.frames[-1]
            scenery = frame.alpha == 0
            green = np.abs(frame.image[scenery].astype(int) - (0, 255, 0)).max(axis=1) < 10
            assert green.mean() < 0.05, f"{name}: the picture did not replace the colour"
            assert p.error is None and p.running, name
    assert not vcam_threads()


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, config_dir) -> dict[str, str]:
    environ = dict(os.environ)
    environ.update(
        VCAM_CONFIG_DIR=str(config_dir),
        VCAM_MODELS_DIR=str(tmp_path / "no-models"),
        PYTHONPATH=os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")]),
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        environ.pop(name, None)
    return environ


def run_vcam(env, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vcam", *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(result, *words) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vcam: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_the_command_line_names_the_broken_file(
    cli_env, tmp_path, broken_models, backgrounds, red_model
):
    clip = write_video(tmp_path / "clip.avi", frames=6)
    out = tmp_path / "o.mp4"
    live = ("run", "--input", clip, "--output", "none")
    runs = [  # (arguments, the bad file, words the message must hold)
        (live + ("--model",), broken_models["truncated"], ["not a valid ONNX file"]),
        (live + ("--model",), broken_models["png"], ["export it again"]),
        (live + ("--model",), broken_models["two-channel-output"], ["expected [N,1,H,W]"]),
        (("matte", clip, out, "--model"), broken_models["nan-output"], ["NaN or infinite values"]),
    ]
    with_model = (*live, "--model", red_model, "--background")
    for name, words in (
        ("12000x12000.png", ["12000x12000", "megapixels"]),
        ("text as video", ["cannot be opened as a video"]),
        ("truncated.jpg", ["not an image OpenCV can read"]),
    ):
        runs.append((with_model, backgrounds[name][1], words))
    matte = ("matte", clip, out, "--model", red_model, "--background")
    runs.append((matte, backgrounds["truncated video"][1], ["cannot be opened as a video"]))
    for args, bad, words in runs:
        one_line_error(run_vcam(cli_env, *args, bad, cwd=tmp_path), bad.name, *words)
    assert not out.exists()


# -- odd frames -------------------------------------------------------------------------------


class ScriptedSource(FrameSource):
    """Offline frames exactly as given: odd sizes, grey, BGRA, 16-bit, even empty ones (like a
    caller's source that does not convert them)."""

    name = "scripted"

    def __init__(self, images: list[np.ndarray]) -> None:
        self._images = list(images)
        height, width = images[0].shape[:2]
        super().__init__(width, height, 30.0, live=False, paced=False)

    def _grab(self):
        return self._images.pop(0) if self._images else None

    def _make_frame(self, image: np.ndarray) -> Frame:
        frame = Frame(image, self._next_index, time.monotonic())
        self._next_index += 1
        return frame


def test_odd_sizes_grey_bgra_and_resolution_changes(red_model, tmp_path, fake_vcam):
    base = synthetic_frame(0)
    images = [
        base,
        cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
        synthetic_frame(1, 160, 90),
        np.zeros((0, 0, 3), np.uint8),  # skipped
        synthetic_frame(2, 7, 5),
        np.full((1, 1, 3), 200, np.uint8),
        synthetic_frame(3, 1921, 1081),
        synthetic_frame(4, 3, 400),
        base.astype(np.uint16) * 257,
        synthetic_frame(5, 160, 90),
        base,
    ]
    recorder = Recorder()
    out = tmp_path / "odd.avi"
    settings = base_settings(
        red_model, output="virtual", virtual_backend=FAKE_BACKEND, smoothing="steady"
    )
    sinks = [PreviewSink(recorder), VideoFileSink(out)]
    with Pipeline(settings, sinks=sinks, source=ScriptedSource(images)) as pipeline:
        assert pipeline.wait(60.0)
    assert pipeline.status.state == "ended", pipeline.status
    shapes = [f.image.shape for f in recorder.frames]
    expected = [i.shape[:2] + (3,) for i in images if i.size]
    assert shapes == expected
    for frame in recorder.frames:
        assert frame.alpha.shape == frame.image.shape[:2] and frame.alpha.dtype == np.uint8
    for index in (0, 3, 9, 10):  # colour frames at ordinary sizes: the right alpha each time
        check_person_kept_background_replaced(recorder.frames[index])
    (camera,) = fake_vcam.instances
    assert len(camera.frames) == len(expected)
    assert {f.shape for f in camera.frames} == {(108, 192, 3)}  # the negotiated size
    capture = cv2.VideoCapture(str(out))
    written = 0
    while (read := capture.read())[0]:
        assert read[1].shape == (108, 192, 3)
        written += 1
    assert written == len(expected)
    assert not vcam_threads()


def test_odd_frames_offline_are_converted_like_live(red_model):
    """``process`` (offline) takes the same odd frames as the live pipeline."""
    base = synthetic_frame(0)
    images = [
        base,
        cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
        np.zeros((0, 0, 3), np.uint8),  # skipped
        base.astype(np.uint16) * 257,
        synthetic_frame(1, 7, 5),
    ]
    recorder = Recorder()
    done = process(ScriptedSource(images), [PreviewSink(recorder)], base_settings(red_model))
    assert done == len(recorder.frames) == 5
    assert [f.image.shape for f in recorder.frames] == [(108, 192, 3)] * 4 + [(5, 7, 3)]
    for index in (0, 2, 3):  # the colour ones (grey has no red "person")
        check_person_kept_background_replaced(recorder.frames[index])


def test_a_model_failing_mid_run_is_blamed_on_the_model(red_model, tmp_path):
    """onnxruntime refusing a good frame ends the run with a ModelError naming the file (not
    a frame problem)."""
    import onnxruntime as ort

    other = make_onnx(tmp_path / "smaller.onnx", height=32, width=48)
    clip = write_video(tmp_path / "loop.avi", frames=10, fps=30.0)
    recorder = Recorder()
    source = VideoSource(clip, loop=True, live=True)
    with Pipeline(base_settings(red_model), sinks=[PreviewSink(recorder)], source=source) as p:
        recorder.wait_for(2)
        # A real session that refuses the 64x96 input red.onnx's frames are fitted to.
        p._matting.matter._session = ort.InferenceSession(str(other))
        assert p.wait(10.0)
    assert p.status.state == "error" and isinstance(p.error, ModelError)
    assert str(p.error).startswith("model red.onnx failed while running: "), p.error
    assert "\n" not in str(p.error)
    assert not vcam_threads()


def test_odd_still_images_through_the_command_line(cli_env, tmp_path, red_model):
    base = synthetic_frame(0)
    for name, image in {
        "grey.png": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        "bgra.png": cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
        "deep.png": base.astype(np.uint16) * 257,
        "odd.png": synthetic_frame(0, 33, 17),
    }.items():
        path = tmp_path / name
        cv2.imwrite(str(path), image)
        out = tmp_path / f"cut-{name}"
        result = run_vcam(
            cli_env, "matte", path, out, "--model", red_model, "--cutout", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == image.shape[:2] + (4,), name
