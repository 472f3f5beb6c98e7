#!/usr/bin/env bash
# Regenerates the committed CLIP golden fixtures (Tests/ModelsTests/Fixtures). Deterministic:
# running it twice gives byte-identical files. Creates tools/.venv first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x tools/.venv/bin/python ] || tools/setup_venv.sh
tools/.venv/bin/python tools/make_fixtures.py
