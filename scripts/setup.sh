#!/usr/bin/env bash
# Create .venv (once) with the CPU build of PyTorch 2.13 and denoiserec in editable mode, with dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  .venv/bin/pip install -q torch==2.13.0   # the local CPU wheel; never a CUDA build
fi
.venv/bin/pip install -q -e '.[dev]'
