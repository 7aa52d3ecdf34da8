"""The people in a matte, and which of them is the main person.

Works on the model's low-resolution alpha (float32 (h, w) in [0, 1] covering the frame, e.g.
144x256 for a 16:9 frame), before the refiner enlarges it: labelling 37k pixels costs tens of
microseconds where the 1080p matte would cost milliseconds, and the refiner's guided
upsampling then gives the kept person their soft edges back.

- :func:`find_people` splits the alpha into connected regions (8-connected, after a 3x3
  dilation that bridges one-pixel gaps such as a thin arm) and describes each one.
- :class:`MainPersonTracker` picks the main person: the largest and most central region,
  followed over time (the region overlapping the previous main person's box is preferred, so
  a bystander who briefly looks bigger does not steal the frame).
- :func:`keep_person` keeps only the main person's region, with the pieces of matte that lie
  within a few low-resolution pixels of it (a hand or a shoulder the matte split off) and a
  margin around it where its soft edge lies, and clears every other region: bystanders and
  people walking behind become background (``--main-person-only``).

Auto-framing (vcam.framing) frames the main person that the tracker picks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

# Alpha above which a low-resolution pixel counts as person when labelling regions.
PERSON_LEVEL = 0.4
# A region smaller than this share of the frame is noise, not a person.
MIN_PERSON_AREA = 0.004
# Low-resolution pixels kept around the main person's region (its soft edge); about 10 px of
# a 720p frame at the fast model's 144x256.
KEEP_MARGIN = 2
# Regions this close to the main person's (low-resolution pixels; about 20 px of a 720p
# frame) are pieces of them that the matte split off, such as a hand or a shoulder.
NEAR_GAP = 4
# How much a region's horizontal distance from the centre lowers its score: a region at the
# side edge counts a fifth of the same region in the middle.
CENTRE_WEIGHT = 0.8
# How strongly the previous main person is preferred: its score is multiplied by
# 1 + STICKINESS * overlap (the boxes' intersection over union, 0..1).
STICKINESS = 2.0


@dataclass(frozen=True)
class Region:
    """One connected region of the matte: ``label`` in the label image, ``box`` (left, top,
    right, bottom) and ``centre`` (x, y) as fractions of the frame's width and height,
    ``area`` its share of the frame."""

    label: int
    box: tuple[float, float, float, float]
    centre: tuple[float, float]
    area: float


def find_people(alpha: np.ndarray) -> tuple[np.ndarray, list[Region]]:
    """(labels, regions): the label image (int32, 0 = background) of ``alpha``'s connected
    regions and every region large enough to be a person, largest first."""
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"alpha must be a 2-D array, got shape {alpha.shape}")
    height, width = alpha.shape
    mask = (alpha > PERSON_LEVEL).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    count, labels, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
    total = float(height * width)
    regions = []
    for label in range(1, count):
        x, y, w, h, pixels = (int(v) for v in stats[label])
        if pixels / total < MIN_PERSON_AREA:
            continue
        regions.append(
            Region(
                label=label,
                box=(x / width, y / height, (x + w) / width, (y + h) / height),
                centre=(
                    float(centres[label, 0] + 0.5) / width,
                    float(centres[label, 1] + 0.5) / height,
                ),
                area=pixels / total,
            )
        )
    regions.sort(key=lambda r: r.area, reverse=True)
    return labels, regions


def box_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class MainPersonTracker:
    """Picks the main person in each frame's regions: the largest and most central one,
    preferring the region where the main person was in the previous frame."""

    def __init__(self) -> None:
        self.box: tuple[float, float, float, float] | None = None  # the last main person's

    def reset(self) -> None:
        """Forget the previous main person (new source or size)."""
        self.box = None

    def score(self, region: Region) -> float:
        """How much ``region`` looks like the main person (higher wins)."""
        off_centre = min(1.0, abs(region.centre[0] - 0.5) * 2.0)
        value = region.area * (1.0 - CENTRE_WEIGHT * off_centre)
        if self.box is not None:
            value *= 1.0 + STICKINESS * box_overlap(region.box, self.box)
        return value

    def choose(self, regions: list[Region]) -> Region | None:
        """The main person among ``regions`` (None when there is nobody); remembered for the
        next frame."""
        if not regions:
            return None
        main = max(regions, key=self.score)
        self.box = main.box
        return main


def keep_person(alpha: np.ndarray, labels: np.ndarray, region: Region | None) -> np.ndarray:
    """``alpha`` with only ``region`` kept, with the regions within ``NEAR_GAP`` pixels of it
    and a margin of ``KEEP_MARGIN`` pixels for its soft edge; everything else cleared.
    ``region`` None: ``alpha`` unchanged (nobody found, nothing to decide). Returns a new
    float32 array."""
    alpha = np.asarray(alpha, dtype=np.float32)
    if region is None:
        return alpha.copy()
    main = (labels == region.label).astype(np.uint8)
    near = cv2.dilate(main, _disc(NEAR_GAP)).astype(bool)
    pieces = np.unique(labels[near])
    keep = np.isin(labels, pieces[pieces > 0]).astype(np.uint8)
    keep = cv2.dilate(keep, _disc(KEEP_MARGIN))
    return alpha * keep


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
