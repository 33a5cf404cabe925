#!/usr/bin/env bash
# Download, here (where the package registry is reachable), the wheels that benchmarks/gpu_check.sh installs on
# a fresh GPU machine with no internet: what the GPU image lacks for denoiserec and the competitors. The image
# already has torch, numpy, pandas, pyarrow, scipy, scikit-learn, h5py, pyyaml, tqdm, typer, rich, matplotlib.
#
#   polars 1.38.1        denoiserec's data path (pyproject asks >= 1.36.1; 1.38.1 is what the dry run used), as
#   polars-runtime-32    the pure-Python wheel plus its compiled runtime (46 MB; polars 2.x's runtime is 54 MB)
#   fuxictr 2.3.10       competitor (pure Python; ray and pydantic are needed only by its parquet/preprocess
#                        modules, which benchmarks/competitors.py stubs out)
#   deepctr-torch 0.3.0  competitor (pure Python; needs torch, tqdm, scikit-learn)
#
# Usage: bash benchmarks/gpu_wheels.sh   -> .whl/*.whl (git-ignored: /.whl/ in .gitignore; never commit them)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=(polars==1.38.1 polars-runtime-32==1.38.1 fuxictr==2.3.10 deepctr-torch==0.3.0)
git check-ignore -q .whl/x.whl || { echo "gpu_wheels.sh: .whl/ is not git-ignored; add /.whl/ to .gitignore" >&2; exit 1; }
mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
ls -l .whl
du -sh .whl
