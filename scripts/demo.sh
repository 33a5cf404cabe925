#!/usr/bin/env bash
# Set everything up, then run the demo: simulate a data set, train DeepFM with and without denoising, print
# the comparison table (results in runs/demo); beside it the known-answer world (labels := the hidden truth, 20 %
# flipped; runs/demo_known, skipped with --no-known). Arguments go to `denoiserec demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/denoiserec demo "$@"
