#!/usr/bin/env bash
# `make bench` for CLIP: PyTorch + transformers and the Swift runtime on the same ViT-B/32-sized
# random checkpoint, same machine, same run, 2 threads each.
#   1. writes out/clip-b32 once (tools/fullsize_clip.py --skip-compare)
#   2. PyTorch figures -> out/bench-pytorch.json
#   3. capfilt-bench clip on the earlier fp32 path, for comparison: products through OpenBLAS (CAPFILT_SGEMM=openblas), CLIP's weights as stored (CAPFILT_FP32_LAYOUT=as-stored)
#   4. the default: fp32 through oneDNN's sgemm over [in, out] weights, ratios against 2
#   5. precision bf16 (oneDNN), with its ratio to step 4 (bf16 / fp32 capfilt).
# Usage: tools/bench_clip.sh [path/to/capfilt-bench] (default: swift build -c release, .build)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${1:-}
if [ -z "$BENCH" ]; then
  swift build -c release --product capfilt-bench >/dev/null
  BENCH="$(swift build -c release --show-bin-path)/capfilt-bench"
fi
[ -x tools/.venv/bin/python ] || tools/setup_venv.sh
mkdir -p out
tools/.venv/bin/python tools/fullsize_clip.py --out out/clip-b32 --skip-compare
OPENBLAS_CORETYPE=Haswell tools/.venv/bin/python tools/bench_clip.py --model out/clip-b32 --threads 2 --json out/bench-pytorch.json
env -u OPENBLAS_CORETYPE CAPFILT_SGEMM=openblas CAPFILT_FP32_LAYOUT=as-stored "$BENCH" clip --model out/clip-b32 --threads 2 \
  --pytorch out/bench-pytorch.json --label "weights as stored, through OpenBLAS (as before)"
env -u OPENBLAS_CORETYPE "$BENCH" clip --model out/clip-b32 --threads 2 --pytorch out/bench-pytorch.json --save out/bench-clip-fp32.json
# precision: bf16 (oneDNN), with its ratio to the fp32 run just above.
env -u OPENBLAS_CORETYPE "$BENCH" clip --model out/clip-b32 --threads 2 --pytorch out/bench-pytorch.json --precision bf16 \
  --baseline out/bench-clip-fp32.json --label "bf16 through oneDNN"
