"""vcam's errors: each carries a one-line message that says what went wrong and what to do."""


class VcamError(Exception):
    """Base of every error vcam reports to the user as a single line.

    ``panel_message`` is the same advice worded for the control panel, where command-line
    options mean nothing (e.g. "choose Video file under Output" for "--output FILE"); it is
    the message itself unless the error gives one."""

    def __init__(self, message: str = "", *, panel_message: str = "") -> None:
        super().__init__(message)
        self.panel_message = panel_message or message


class SettingsError(VcamError):
    """A settings value or settings file is invalid (the message names the field)."""


class CameraError(VcamError):
    """The camera cannot be opened or stopped delivering frames."""


class ModelError(VcamError):
    """The model file is missing, corrupt or does not follow the model contract."""


class BackgroundError(VcamError):
    """A background image or video cannot be used."""


class VirtualCameraError(VcamError):
    """No virtual camera device, or it is busy."""


class OutputError(VcamError):
    """A file output cannot be written."""


class InputError(VcamError):
    """An input image or video file cannot be read."""
