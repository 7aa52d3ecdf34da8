"""Main person only: the people in a low-resolution matte, which one is the main person (also
over time and at the frame's edge), and clearing the others while keeping soft edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scenes import person_alpha

from vcam.person import MIN_PERSON_AREA, MainPersonTracker, find_people, keep_person

H, W = 144, 256  # the fast model's alpha for a 16:9 frame


def person(scale: float, centre_x: float, drop: float = 0.0, soft: float = 1.5) -> np.ndarray:
    """A soft head-and-shoulders alpha (float32): the scenes' person ``scale`` times as large,
    centred at ``centre_x`` (share of the width), shoulders cut by the bottom edge."""
    alpha = person_alpha(H, W, soft=soft).astype(np.float32)
    neck = (slice(int(0.5 * H), int(0.7 * H)), slice(int(0.45 * W), int(0.55 * W)))
    alpha[neck] = 1.0  # the scenes' person has none: head and shoulders would not touch
    dx = centre_x * W - scale * W / 2
    dy = (1 - scale) * H + drop * H
    matrix = np.float32([[scale, 0, dx], [0, scale, dy]])
    return cv2.warpAffine(alpha, matrix, (W, H), borderMode=cv2.BORDER_REPLICATE)


def test_two_people_the_main_one_is_kept_with_its_soft_edge_and_the_other_cleared():
    main = person(0.8, 0.5)
    bystander = person(0.35, 0.12, drop=-0.2)
    alpha = np.maximum(main, bystander)
    labels, regions = find_people(alpha)
    assert len(regions) == 2 and regions[0].area > regions[1].area
    chosen = MainPersonTracker().choose(regions)
    assert chosen is regions[0] and abs(chosen.centre[0] - 0.5) < 0.05
    kept = keep_person(alpha, labels, chosen)
    assert kept[bystander > 0.01].max() == 0.0  # the bystander is background now, edge and all
    np.testing.assert_array_equal(kept[main > 0], main[main > 0])  # the main person untouched
    edge = (main > 0.05) & (main < 0.95)
    assert edge.sum() > 100  # ... soft edge included


def test_the_central_person_wins_over_a_larger_one_at_the_edge():
    main = person(0.5, 0.45)
    leaning_in = person(1.0, 0.98)  # close to the camera at the right edge, partly outside
    alpha = np.maximum(main, leaning_in)
    labels, regions = find_people(alpha)
    big = max(regions, key=lambda r: r.area)
    assert big.box[2] == 1.0 and big.area > 1.2 * min(r.area for r in regions)
    chosen = MainPersonTracker().choose(regions)
    assert abs(chosen.centre[0] - 0.5) < 0.05
    kept = keep_person(alpha, labels, chosen)
    assert kept[:, -40:].max() == 0.0 and kept[main > 0.5].min() > 0.5


def test_one_person_touching_the_frame_edge_is_kept_whole():
    alone = person(0.9, 0.1)  # leaning in from the left: cut by the left and bottom edges
    labels, regions = find_people(alone)
    assert len(regions) == 1 and regions[0].box[0] == 0.0 and regions[0].box[3] == 1.0
    chosen = MainPersonTracker().choose(regions)
    np.testing.assert_array_equal(keep_person(alone, labels, chosen), alone)


def test_the_main_person_is_followed_when_another_grows_a_little_bigger():
    left, right = person(0.6, 0.3), person(0.55, 0.7)
    tracker = MainPersonTracker()
    first = tracker.choose(find_people(np.maximum(left, right))[1])
    assert first.centre[0] < 0.5
    # The person on the right leans in: now a little larger than the one on the left.
    right = person(0.68, 0.72)
    _, regions = find_people(np.maximum(left, right))
    assert max(regions, key=lambda r: r.area).centre[0] > 0.5
    assert tracker.choose(regions).centre[0] < 0.5  # the main person stays the main person
    assert MainPersonTracker().choose(regions).centre[0] > 0.5  # (a fresh look would switch)


def test_a_piece_the_matte_split_off_the_main_person_stays_with_them():
    main = person(0.7, 0.5)
    hand = np.zeros_like(main)
    hand[74:84, 153:160] = 1.0  # a hand raised beside the head, 3 pixels from its edge
    assert main[74:84, 146:150].max() > 0.5 and main[74:84, 151:160].max() < 0.01
    far = person(0.3, 0.08, drop=-0.3)  # and somebody further off
    alpha = np.maximum(np.maximum(main, hand), far)
    labels, regions = find_people(alpha)
    chosen = MainPersonTracker().choose(regions)
    assert labels[78, 156] != chosen.label  # a region of its own ...
    kept = keep_person(alpha, labels, chosen)
    np.testing.assert_array_equal(kept[74:84, 153:160], 1.0)  # ... kept with the person
    assert kept[far > 0.01].max() == 0.0


def test_specks_are_no_people_and_nobody_leaves_the_matte_alone():
    alpha = np.zeros((H, W), np.float32)
    alpha[10:13, 10:13] = 0.9  # a speck of false matte
    labels, regions = find_people(alpha)
    assert regions == [] and 9 / (H * W) < MIN_PERSON_AREA
    np.testing.assert_array_equal(keep_person(alpha, labels, None), alpha)
    main = person(0.7, 0.5)
    labels, regions = find_people(np.maximum(alpha, main))
    kept = keep_person(np.maximum(alpha, main), labels, MainPersonTracker().choose(regions))
    assert kept[10:13, 10:13].max() == 0.0  # with a main person, specks go too


def test_bad_alpha_shapes_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        find_people(np.zeros((1, 1, 4, 4), np.float32))
