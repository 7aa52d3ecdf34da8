"""The ship rule on hand-made evaluation results, and the script that applies it."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

from vcam.evaluation.ship import judge, rows_by_model


def _rows(model: str, iou=0.94, sad=20.0, mse=0.028, clips=(0.5, 2.7, 4.5, 0.7, 1.3), jumps=8e-4,
          blur=(0.006, -0.0056, -0.004), shift=(2.4e-3, 4.0e-3, 1.0e-3)) -> list[dict]:  # fmt: skip
    clip_rows = {f"clip-{i + 1}": {"flicker": f * 1e-3} for i, f in enumerate(clips)}
    blur_keys = (
        "background_blurred_change",
        "person_blurred_change",
        "background_sharpened_change",
    )
    return [
        {"model": model, "set": "shen-test", "metrics": {"iou": iou, "sad": sad, "mse": mse}},
        {
            "model": model,
            "set": "talking-heads",
            "clips": clip_rows,
            "metrics": {"flicker": sum(clips) / len(clips) * 1e-3, "jump_share": jumps},
        },
        {"model": model, "set": "blur-probe", "metrics": dict(zip(blur_keys, blur, strict=True))},
        {
            "model": model,
            "set": "shift-probe",
            "metrics": dict(zip(("shift_1px", "shift_3px", "jpeg_80"), shift, strict=True)),
        },
    ]


PEER = rows_by_model(_rows("peer", shift=(2.72e-3, 3.57e-3, 0.81e-3)))["peer"]
SHIPPED = rows_by_model(_rows("shipped"))["shipped"]


def _judge(**changes) -> list[str]:
    return judge(rows_by_model(_rows("candidate", **changes))["candidate"], SHIPPED, PEER)


def test_the_same_figures_or_better_photos_pass():
    assert _judge() == []
    assert _judge(iou=0.945, sad=19.5, mse=0.027) == []
    assert _judge(iou=0.9396, sad=20.09, mse=0.02819) == []  # level: within the slack


def test_worse_photos_fail_with_the_figure_named():
    reasons = _judge(sad=20.2)
    assert len(reasons) == 1 and reasons[0].startswith("shen-test SAD 20.2")
    assert any("IoU" in r for r in _judge(iou=0.939))


def test_flicker_fails_on_the_mean_or_on_one_clip_far_above_the_shipped_one():
    assert any(r.startswith("flicker") for r in _judge(clips=(0.5, 2.7, 4.5, 0.7, 1.6)))
    # clip-1 doubles while the mean falls: a new failure, not one region tipping.
    one_clip = _judge(clips=(1.0, 2.0, 4.0, 0.7, 1.3))
    assert one_clip == ["clip-1 flicker 1.00 > 1.5x 0.50"]
    assert _judge(clips=(0.5, 3.5, 3.5, 0.7, 1.3)) == []  # traded within 1.5x, mean level
    assert any(r.startswith("jumps") for r in _judge(jumps=9e-4))


def test_a_met_probe_target_must_stay_met_and_no_probe_gets_much_worse():
    # The sharpened-background change was within 0.005 (met): beyond it the target is lost.
    assert any("met target is lost" in r for r in _judge(blur=(0.006, -0.0056, -0.0055)))
    # The background-blur change missed already: 8% worse passes, 17% worse fails.
    assert _judge(blur=(0.0065, -0.0056, -0.004)) == []
    assert any("background_blurred" in r for r in _judge(blur=(0.007, -0.0056, -0.004)))
    # Shift 3 px was within 1.5x the peer's (5.36e-3): above it the target is lost.
    assert any("shift_3px" in r and "lost" in r for r in _judge(shift=(2.4e-3, 5.5e-3, 1e-3)))
    assert _judge(shift=(2.6e-3, 4.2e-3, 1.05e-3)) == []
    assert any("shift_1px" in r for r in _judge(shift=(2.7e-3, 4.0e-3, 1.0e-3)))


def test_a_candidate_missing_a_set_is_not_judged_as_passing():
    rows = rows_by_model(_rows("candidate"))["candidate"]
    del rows["shift-probe"]
    assert judge(rows, SHIPPED, PEER) == ["not evaluated on shift-probe"]


def test_the_script_judges_each_candidate_against_its_own_family(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "scripts" / "judge_candidates.py"
    spec = importlib.util.spec_from_file_location("judge_candidates", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rows = _rows("mmnet-256-shipped") + _rows("mmnet-fast-shipped", sad=24.0)
    rows += _rows("mmnet-256-new", sad=19.0) + _rows("mmnet-fast-new", sad=24.5)
    peer = copy.deepcopy(_rows("mediapipe-selfie-general", shift=(2.72e-3, 3.57e-3, 0.81e-3)))
    results = tmp_path / "results.json"
    results.write_text(json.dumps(rows + peer))
    assert script.main([str(results)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["mmnet-256-new: PASS", "mmnet-fast-new: fails: shen-test SAD 24.5 > 24"]
    results.write_text(json.dumps(rows))
    assert script.main([str(results)]) == 2
    assert "no results for the peer" in capsys.readouterr().err
