#!/usr/bin/env bash
# Creates tools/.venv with the pinned reference stack (torch CPU from /opt/wheels via pip's
# find-links, transformers etc. from PyPI). torchvision is deliberately NOT installed so that
# transformers' CLIPImageProcessor is the Pillow-based ("slow") one; scripts also force it.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/python -c "import torch, transformers, safetensors, PIL, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'pillow', PIL.__version__)"
