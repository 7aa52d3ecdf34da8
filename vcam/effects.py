"""The person effects of one stream of frames, all from the matte: main person only
(vcam.person), auto-framing (vcam.framing) and light correction (vcam.light).

The live pipeline and the offline conversion call them the same way, per frame::

    low, picture = effects.before_refine(settings, low, image, seconds)
    alpha = refiner.refine(low, picture)
    picture = effects.after_refine(settings, picture, alpha, seconds)
    composite = background.composite(picture, alpha)

``before_refine`` works on the model's low-resolution alpha: it finds the people, clears all
but the main person (``main_person_only``) and, with ``auto_frame``, moves the view and cuts
it out of both the camera picture and the alpha, so that the refiner and the compositor work
on the framed picture and the background stays full and sharp. ``after_refine`` corrects the
person's light (``light`` "auto"). With every effect off both return their input unchanged.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from vcam.framing import STYLES, FramingController, View, crop_to_view, head_of, target_view
from vcam.light import LightCorrector
from vcam.person import MainPersonTracker, Region, find_people, keep_person
from vcam.settings import Settings

log = logging.getLogger(__name__)


def effects_on(settings: Settings) -> bool:
    """Whether any person effect is on."""
    return settings.auto_frame != "off" or settings.main_person_only or settings.light != "off"


class PersonEffects:
    """The state of the person effects for one stream (the main person followed, the
    framing's view, the smoothed light); ``reset()`` on a new source or frame size."""

    def __init__(self) -> None:
        self.tracker = MainPersonTracker()
        self.light = LightCorrector()
        self.framing: FramingController | None = None
        self.main: Region | None = None  # the main person of the last frame
        self.view: View | None = None  # the framing's view of the last frame (None: off)
        self.spent = 0.0  # seconds the effects took on the last frame (both calls)
        self._seconds: float | None = None

    def reset(self) -> None:
        """Forget the stream: the next frame starts afresh."""
        self.tracker.reset()
        self.light.reset()
        self.framing = None
        self.main = self.view = None
        self._seconds = None

    def before_refine(
        self, settings: Settings, low: np.ndarray, image: np.ndarray, seconds: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(low-resolution alpha, picture) for the refiner: only the main person kept and the
        view cut out, as the settings ask. ``seconds``: the frame's time."""
        started = time.perf_counter()
        try:
            return self._before_refine(settings, low, image, seconds)
        finally:
            self.spent = time.perf_counter() - started

    def _before_refine(
        self, settings: Settings, low: np.ndarray, image: np.ndarray, seconds: float
    ) -> tuple[np.ndarray, np.ndarray]:
        framing = settings.auto_frame != "off"
        if not framing:
            self.framing = self.view = None
        if not (framing or settings.main_person_only):
            self.main, self._seconds = None, None
            self.tracker.reset()
            return low, image
        elapsed = 0.0 if self._seconds is None else seconds - self._seconds
        self._seconds = seconds
        labels, regions = find_people(low)
        main = self.main = self.tracker.choose(regions)
        if settings.main_person_only:
            low = keep_person(low, labels, main)
        if not framing:
            return low, image
        size = (image.shape[1], image.shape[0])
        style = STYLES[settings.auto_frame]
        if self.framing is None or self.framing.size != size:
            self.framing = FramingController(size, style)
        self.framing.style = style
        head = head_of(labels == main.label, size) if main is not None else None
        target = target_view(head, size, style) if head is not None else None
        self.view = self.framing.update(target, elapsed, present=main is not None)
        return crop_to_view(low, self.view, size), crop_to_view(image, self.view, size)

    def after_refine(
        self, settings: Settings, picture: np.ndarray, alpha: np.ndarray, seconds: float
    ) -> np.ndarray:
        """``picture`` with the person's light corrected when the settings ask (a new array;
        ``picture`` itself when there is nothing to do)."""
        started = time.perf_counter()
        try:
            return self._after_refine(settings, picture, alpha, seconds)
        finally:
            self.spent += time.perf_counter() - started

    def _after_refine(
        self, settings: Settings, picture: np.ndarray, alpha: np.ndarray, seconds: float
    ) -> np.ndarray:
        if settings.light == "off":
            if self.light.stats is not None:
                self.light.reset()
            return picture
        self.light.strength = settings.light_strength
        return self.light(picture, alpha, seconds)
