#!/usr/bin/env bash
# `make bench` for BLIP: PyTorch + transformers and the Swift runtime on the same BLIP-base-sized
# random checkpoints (caption and ITM), same machine, same run, 2 threads each.
#   1. writes out/blip-base once (tools/fullsize_blip.py --skip-compare)
#   2. PyTorch figures -> out/bench-blip-pytorch.json
#   3. capfilt-bench blip on the earlier fp32 path, for comparison: products through OpenBLAS (CAPFILT_SGEMM=openblas)
#   4. the default: fp32 through oneDNN's sgemm, ratios against 2
#   5. precision bf16 (oneDNN), with its ratio to step 4 (bf16 / fp32 capfilt)
# Usage: tools/bench_blip.sh [path/to/capfilt-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${1:-}
if [ -z "$BENCH" ]; then
  swift build -c release --product capfilt-bench >/dev/null
  BENCH="$(swift build -c release --show-bin-path)/capfilt-bench"
fi
[ -x tools/.venv/bin/python ] || tools/setup_venv.sh
mkdir -p out
[ -f out/blip-base/caption/model.safetensors ] || tools/.venv/bin/python tools/fullsize_blip.py --out out/blip-base --skip-compare
OPENBLAS_CORETYPE=Haswell tools/.venv/bin/python tools/bench_blip.py --model out/blip-base --threads 2 --json out/bench-blip-pytorch.json
env -u OPENBLAS_CORETYPE CAPFILT_SGEMM=openblas "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json \
  --label "fp32 products through OpenBLAS (as before oneDNN's sgemm)"
env -u OPENBLAS_CORETYPE "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json --label "fp32 through oneDNN's sgemm" \
  --save out/bench-blip-fp32.json
# precision: bf16 (oneDNN), with its ratio to the fp32 run just above.
env -u OPENBLAS_CORETYPE "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json --precision bf16 \
  --baseline out/bench-blip-fp32.json --label "bf16 through oneDNN"
