#!/usr/bin/env bash
# `make bench` for BLIP: PyTorch + transformers and the Swift runtime on the same BLIP-base-sized
# random checkpoints (caption and ITM), same machine, same run, 2 threads each.
#   1. writes out/blip-base once (tools/fullsize_blip.py --skip-compare)
#   2. PyTorch figures -> out/bench-blip-pytorch.json
#   3. capfilt-bench blip with OpenBLAS's Haswell kernels, ratios against 2
#   4. the same with OpenBLAS's own choice of kernels (OPENBLAS_CORETYPE unset: AVX-512 here)
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
OPENBLAS_CORETYPE=Haswell "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json --label Haswell
env -u OPENBLAS_CORETYPE "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json --label "OpenBLAS's own kernels" \
  --save out/bench-blip-fp32.json
# precision: bf16 (oneDNN), with its ratio to the fp32 run just above.
env -u OPENBLAS_CORETYPE "$BENCH" blip --model out/blip-base --threads 2 --pytorch out/bench-blip-pytorch.json --precision bf16 \
  --baseline out/bench-blip-fp32.json --label "bf16 through oneDNN"
