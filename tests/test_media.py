"""vcam.media: one rule for image-or-video and for preset names."""

from vcam import media
from vcam.backgrounds import ColourBackground
from vcam.errors import BackgroundError
from vcam.settings import Settings, parse_colour


def test_media_kind_by_extension():
    assert media.media_kind("a/B.JPG") == "image"
    assert media.media_kind("clip.webm") == "video"
    assert media.media_kind("clip.unknown") == "video"  # OpenCV's video reader decides
    assert media.media_kind("noextension") == "video"
    assert media.is_image("x.tiff") and not media.is_image("x.mp4")
    assert media.is_video("x.MOV") and not media.is_video("x.xyz")


def test_preset_names():
    assert media.preset_name(" Preset: office ") == "office"
    assert media.preset_name("office.jpg") is None
    assert media.is_preset("preset:beach")


def test_one_parse_colour():
    assert parse_colour(" #ff8000 ") == (0, 128, 255)
    assert parse_colour((1, 2, 3)) == (1, 2, 3)
    assert Settings(colour=" #0000ff").colour == "#0000ff"
    try:
        ColourBackground((0, 0, 256))
    except BackgroundError as error:
        assert "three values" in str(error)
    else:
        raise AssertionError("out-of-range colour accepted")
