#!/usr/bin/env bash
# Build the shipped models from a training checkpoint (the command models/MODEL_CARD.md quotes):
#   scripts/make_models.sh runs/finetune/final.pt [../shared/data] [OUT_DIR]
# OUT_DIR (default models) lets a candidate be built and evaluated beside the shipped models;
# the intermediate ONNX files go to .cache/export (the path the TFLite commands read), or to
# .cache/export/<OUT_DIR's name> for a candidate.
# mmnet-256.onnx: 256x256 fp32 with exact graph rewrites (quality model). Its int8 fused form
#   would be 1.8x faster at the same SAD and IoU but flickers 17% more on still scenes
#   (docs/eval/fused-int8): the quality model keeps float.
# mmnet-fast.onnx: 144x256 static int8 QDQ of the fused inference form (vcam.nets.deploy),
#   calibrated on training photos (fast model).
# mmnet.pt: the weights alone, for scripts/export_tflite.py.
set -euo pipefail
checkpoint=${1:?usage: scripts/make_models.sh CHECKPOINT [DATA] [OUT_DIR]}
data=${2:-../shared/data}
out=${3:-models}
work=.cache/export
[ "$out" = models ] || work=$work/$(basename "$out")
mkdir -p "$work" "$out"
python scripts/export_onnx.py "$checkpoint" --size 256x256 --out "$work/mmnet-256-plain.onnx" \
    --name mmnet-256 --weights "$out/mmnet.pt"
python scripts/quantize.py "$work/mmnet-256-plain.onnx" --out "$out/mmnet-256.onnx" --precision fp32
python scripts/export_onnx.py "$checkpoint" --size 144x256 --out "$work/mmnet-fast-fp32.onnx" \
    --name mmnet-fast --deploy
python scripts/quantize.py "$work/mmnet-fast-fp32.onnx" --out "$out/mmnet-fast.onnx" --data "$data"
ls -l "$out"/*.onnx "$out/mmnet.pt"
