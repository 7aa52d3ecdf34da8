#!/usr/bin/env bash
# Build the shipped models from a training checkpoint (the command models/MODEL_CARD.md quotes):
#   scripts/make_models.sh runs/finetune/final.pt [../shared/data]
# Both ONNX models are static int8 QDQ of the fused inference form (vcam.nets.deploy: exact),
# calibrated on training photos; their fp32 exports stay in .cache/export as references.
# mmnet-256.onnx: 256x256 (quality model).
# mmnet-fast.onnx: 144x256 (fast model, the default).
# mmnet.pt: the weights alone, for scripts/export_tflite.py.
set -euo pipefail
checkpoint=${1:?usage: scripts/make_models.sh CHECKPOINT [DATA]}
data=${2:-../shared/data}
work=.cache/export
mkdir -p "$work" models
python scripts/export_onnx.py "$checkpoint" --size 256x256 --out "$work/mmnet-256-fp32.onnx" \
    --name mmnet-256 --deploy --weights models/mmnet.pt
python scripts/quantize.py "$work/mmnet-256-fp32.onnx" --out models/mmnet-256.onnx --data "$data"
python scripts/export_onnx.py "$checkpoint" --size 144x256 --out "$work/mmnet-fast-fp32.onnx" \
    --name mmnet-fast --deploy
python scripts/quantize.py "$work/mmnet-fast-fp32.onnx" --out models/mmnet-fast.onnx --data "$data"
ls -l models/*.onnx models/mmnet.pt
