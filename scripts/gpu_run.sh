#!/usr/bin/env bash
# The prepared one-command GPU run (a lent GPU machine: torch there, no ../shared, results in
# $OUT). Train from the data pack for at most the config's max_minutes, then export both ONNX
# models and copy back the weights, the history, the curves and the log (8 files at most):
#   python scripts/make_datapack.py --config configs/gpu.json     # here, once (git-ignored)
#   OUT=/some/folder scripts/gpu_run.sh [configs/gpu.json]        # there
# Back here: scripts/make_models.sh $OUT/final.pt, then scripts/evaluate.py on the real sets.
set -euo pipefail
config=${1:-configs/gpu.json}
: "${OUT:?set OUT to the folder for the results}"
export PYTHONUNBUFFERED=1
run=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['run_dir'])" "$config")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/train.log" || true
python3 scripts/train.py --config "$config" 2>&1 | tee -a "$OUT/train.log"
cp "$run/final.pt" "$run/history.json" "$run/curves.png" "$OUT/"
python3 scripts/export_onnx.py "$run/final.pt" --size 256x256 --out "$OUT/mmnet-256-plain.onnx" \
    --name mmnet-256 2>&1 | tee -a "$OUT/train.log"
python3 scripts/export_onnx.py "$run/final.pt" --size 144x256 --out "$OUT/mmnet-fast-fp32.onnx" \
    --name mmnet-fast --deploy 2>&1 | tee -a "$OUT/train.log"
ls -l "$OUT"
