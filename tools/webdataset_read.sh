#!/usr/bin/env bash
# Reads a `capfilt export --to webdataset` folder with the webdataset package (pinned versions from
# PyPI in .venv-wds, made on first use): tools/webdataset_read.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-wds"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$root/tools/requirements-webdataset.txt"
fi
exec "$venv/bin/python" "$root/tools/webdataset_read.py" "$@"
