"""vcam's errors: each carries a one-line message that says what went wrong and what to do."""


class VcamError(Exception):
    """Base of every error vcam reports to the user as a single line."""


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
