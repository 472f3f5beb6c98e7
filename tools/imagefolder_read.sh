#!/usr/bin/env bash
# Loads a `capfilt export --to jsonl` folder with Hugging Face `datasets` (pinned versions from PyPI in
# .venv-hf, made on first use; run offline): tools/imagefolder_read.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-hf"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$root/tools/requirements-imagefolder.txt"
fi
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 exec "$venv/bin/python" "$root/tools/imagefolder_read.py" "$@"
