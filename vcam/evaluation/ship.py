"""The ship rule: does a candidate model file replace the shipped one?

Read from one evaluation run of ``scripts/evaluate.py`` (shen-test, talking-heads, blur-probe,
shift-probe, with the MediaPipe peer), as docs/eval/ablation.md sets it out: photos better or
level; mean flicker at most the shipped file's plus a little, no clip far above it, jumps
level; probe targets already met stay met and no probe figure more than 10% worse.
"""

from __future__ import annotations

from collections.abc import Iterable

LEVEL = {"iou": 0.0005, "sad": 0.1, "mse": 0.2e-3}  # shen-test: differences read as none
FLICKER_SLACK = 0.05e-3  # mean flicker over the clips
CLIP_FACTOR = 1.5  # no clip above this times the shipped file's
JUMP_SLACK = 0.005e-2  # share of pixels that jump visibly (0.005 percentage points)
PROBE_FACTOR = 1.1  # no probe figure more than 10% worse
BLUR_TARGET = 0.005  # issue 19: IoU change within this for each manipulation
SHIFT_FACTOR = 1.5  # issue 19: shift / JPEG change at most this times the peer's
BLUR_KEYS = ("background_blurred_change", "person_blurred_change", "background_sharpened_change")
SHIFT_KEYS = ("shift_1px", "shift_3px", "jpeg_80")
REQUIRED_SETS = ("shen-test", "talking-heads", "blur-probe", "shift-probe")


def rows_by_model(results: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """``results.json`` rows (one per model and set, from one or more files) as
    ``{model: {set: row}}``."""
    table: dict[str, dict[str, dict]] = {}
    for row in results:
        table.setdefault(row["model"], {})[row["set"]] = row
    return table


def judge(candidate: dict[str, dict], shipped: dict[str, dict], peer: dict[str, dict]) -> list[str]:
    """Why ``candidate`` may not replace ``shipped`` (empty: it may). Each argument is one
    model's rows by set, as :func:`rows_by_model` gives them; ``peer`` needs the probe sets."""
    missing = [s for s in REQUIRED_SETS if s not in candidate or s not in shipped]
    missing += [f"{s} (peer)" for s in ("shift-probe",) if s not in peer]
    if missing:
        return [f"not evaluated on {', '.join(missing)}"]
    reasons = []
    new, old = candidate["shen-test"]["metrics"], shipped["shen-test"]["metrics"]
    if new["iou"] < old["iou"] - LEVEL["iou"]:
        reasons.append(f"shen-test IoU {new['iou']:.4f} < {old['iou']:.4f}")
    for key in ("sad", "mse"):
        if new[key] > old[key] + LEVEL[key]:
            reasons.append(f"shen-test {key.upper()} {new[key]:.5g} > {old[key]:.5g}")

    new, old = candidate["talking-heads"], shipped["talking-heads"]
    flicker, shipped_flicker = new["metrics"]["flicker"], old["metrics"]["flicker"]
    if flicker > shipped_flicker + FLICKER_SLACK:
        reasons.append(f"flicker {flicker * 1e3:.2f} > {shipped_flicker * 1e3:.2f} (x1e-3)")
    for clip, row in new["clips"].items():
        before = old["clips"].get(clip, {}).get("flicker")
        if before is not None and row["flicker"] > CLIP_FACTOR * before:
            reasons.append(
                f"{clip} flicker {row['flicker'] * 1e3:.2f} > {CLIP_FACTOR}x {before * 1e3:.2f}"
            )
    jumps, shipped_jumps = new["metrics"]["jump_share"], old["metrics"]["jump_share"]
    if jumps > shipped_jumps + JUMP_SLACK:
        reasons.append(f"jumps {jumps * 100:.3f}% > {shipped_jumps * 100:.3f}%")

    new, old = candidate["blur-probe"]["metrics"], shipped["blur-probe"]["metrics"]
    for key in BLUR_KEYS:
        change, before = abs(new[key]), abs(old[key])
        if before <= BLUR_TARGET < change:
            reasons.append(f"blur probe {key} {new[key]:+.4f}: the met target is lost")
        elif change > max(PROBE_FACTOR * before, BLUR_TARGET):
            reasons.append(f"blur probe {key} {new[key]:+.4f} vs {old[key]:+.4f}")

    new, old = candidate["shift-probe"]["metrics"], shipped["shift-probe"]["metrics"]
    theirs = peer["shift-probe"]["metrics"]
    for key in SHIFT_KEYS:
        bound = SHIFT_FACTOR * theirs[key]
        if old[key] <= bound < new[key]:
            reasons.append(
                f"{key} {new[key] * 1e3:.2f}: the met target ({bound * 1e3:.2f}) is lost"
            )
        elif new[key] > PROBE_FACTOR * old[key]:
            reasons.append(f"{key} {new[key] * 1e3:.2f} > {PROBE_FACTOR}x {old[key] * 1e3:.2f}")
    return reasons
