"""The panel's decisions, without Qt: what the pipeline should run, which refused settings go
back, and what stands in for a camera that is not there.

:class:`ui.main_window.MainWindow` holds one :class:`PanelState` and does the layout, the
dialogs and the wiring; everything here is plain Python, tested without a display.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vcam.settings import Settings, field_names


def camera_key(device: object) -> str:
    """A camera's settings value, with /dev/videoN and N treated alike."""
    text = str(device)
    return text[len("/dev/video") :] if text.startswith("/dev/video") else text


class PanelState:
    """The settings the user chose, whether the output is on, and whether the camera is
    missing (then the bundled sample stands in, unless the user waits for the camera)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.output_on = False  # the user wants the virtual camera (or file) running
        self.no_camera = False  # the chosen camera is not there

    @property
    def sample_stands_in(self) -> bool:
        """No camera, and the user does not want to wait for one: the sample is shown."""
        s = self.settings
        return self.no_camera and s.source == "camera" and not s.wait_for_camera

    def target(self, recording_path: Callable[[], Path]) -> Settings:
        """What the pipeline should run: the settings, with the output off unless started
        and the sample in place of a camera that is not there. A file output always gets a
        full path, ``recording_path()``, never the launch folder."""
        target = self.settings
        output = target.output if self.output_on else "none"
        if self.output_on and output == "none":
            output = "virtual"
        source = "sample" if self.sample_stands_in else target.source
        if output in ("file", "png"):
            target = target.replace(output_path=str(recording_path()))
        return target.replace(output=output, source=source)

    def choose(self, new: Settings, changed: Sequence[str]) -> bool:
        """The user changed the fields ``changed`` to ``new``; True when the settings differ
        (to be saved). Choosing a source or camera ends the sample's stand-in."""
        if "source" in changed or "camera" in changed:
            self.no_camera = False
        if new == self.settings:
            return False
        self.settings = new
        return True

    def take_result(self, requested: Settings, applied: Settings, error_kind: str) -> bool:
        """The worker ran ``applied`` for ``requested``: a camera that failed to open keeps
        the user's choice (the sample stands in meanwhile); any other field the pipeline
        refused goes back to what runs, unless the user has moved on since. True when the
        settings changed (to be saved)."""
        if (
            error_kind == "CameraError"
            and requested.source == "camera"
            and applied.source == "sample"
            and self.settings.source == "camera"
        ):
            self.no_camera = True
        reverted = {}
        for name in field_names():
            if name == "output" or (name in ("source", "camera") and self.no_camera):
                continue
            asked, got = getattr(requested, name), getattr(applied, name)
            if asked != got and getattr(self.settings, name) == asked:
                reverted[name] = got
        if not reverted:
            return False
        self.settings = self.settings.replace(**reverted)
        return True

    def take_cameras(self, devices: Sequence[object], first: bool) -> tuple[bool, bool]:
        """The cameras found (their devices); ``first``: the first list since the start.
        With the chosen camera missing and another there, that one is used rather than
        showing nothing; with none, the camera counts as missing. Returns (the target
        changed, the settings changed)."""
        s = self.settings
        if s.source != "camera" or not (first or self.no_camera):
            return False, False
        before = (self.no_camera, s.camera)
        if camera_key(s.camera) in {camera_key(d) for d in devices}:
            self.no_camera = False
        elif devices:
            self.settings = s.replace(camera=str(devices[0]))
            self.no_camera = False
        else:
            self.no_camera = True
        return first or before != (self.no_camera, self.settings.camera), self.settings != s

    def no_camera_note(self) -> str:
        """What the status line adds to "No camera found"."""
        if self.sample_stands_in:
            return ": showing the bundled sample"
        if self.no_camera and self.settings.source == "camera":
            return f": waiting for camera {self.settings.camera}"
        return ""

    def camera_is_back(self, running_source: str) -> bool:
        """The pipeline runs ``running_source``: True when it is the camera waited for."""
        if self.no_camera and running_source == "camera":
            self.no_camera = False
            return True
        return False
