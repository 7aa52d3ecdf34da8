"""Placeholder frames with a short message ("Camera lost", ...), drawn with OpenCV.

While the camera is gone the pipeline keeps the virtual camera fed with such a card, so the
video-call app shows a notice instead of a frozen or black picture.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKDROP_BGR = (40, 34, 30)
TEXT_BGR = (235, 235, 235)
DIM = 0.3  # brightness kept of the last picture behind the message


def message_card(
    size: tuple[int, int], lines: list[str] | tuple[str, ...], behind: np.ndarray | None = None
) -> np.ndarray:
    """A BGR uint8 frame of ``size`` (width, height) with ``lines`` centred on it (ASCII: the
    Hershey fonts have no other glyphs). ``behind`` (e.g. the last good frame, any size) is
    shown dimmed under the text; without it the card is a plain dark grey."""
    width, height = int(size[0]), int(size[1])
    if behind is not None and behind.ndim == 3 and behind.shape[2] == 3 and behind.size:
        if behind.shape[:2] != (height, width):
            behind = cv2.resize(behind, (width, height), interpolation=cv2.INTER_AREA)
        card = cv2.convertScaleAbs(behind, alpha=DIM)
    else:
        card = np.empty((height, width, 3), np.uint8)
        card[:] = BACKDROP_BGR
    lines = [line for line in lines if line]
    if not lines:
        return card
    # The widest line takes about 70% of the width, the text block at most half the height.
    widest = max(cv2.getTextSize(line, FONT, 1.0, 2)[0][0] for line in lines)
    base_height = cv2.getTextSize("Ag", FONT, 1.0, 2)[0][1]
    scale = min(0.7 * width / max(widest, 1), 0.5 * height / (1.8 * base_height * len(lines)))
    scale = max(scale, 0.2)
    thickness = max(1, round(scale * 2))
    sizes = [cv2.getTextSize(line, FONT, scale, thickness) for line in lines]
    step = int(1.8 * max(h for (_, h), _ in sizes))
    top = (height - step * (len(lines) - 1)) // 2
    for index, (line, ((text_w, text_h), _)) in enumerate(zip(lines, sizes, strict=True)):
        origin = ((width - text_w) // 2, top + index * step + text_h // 2)
        cv2.putText(card, line, origin, FONT, scale, TEXT_BGR, thickness, cv2.LINE_AA)
    return card
