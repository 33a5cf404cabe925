#!/usr/bin/env bash
# Install the lower bounds declared in pyproject.toml (every "pkg>=X" as "pkg==X") into a throwaway venv
# under /tmp and run the fast tests (-m "not slow") against them, so the declared bounds are tested ones.
#
#   scripts/lower_bounds.sh                 # the declared bounds
#   scripts/lower_bounds.sh polars==1.35.1  # try another pin (overrides the declared one for that package)
#
# torch is not re-installed: the CPU wheel the project venv holds (see scripts/setup.sh) is made visible to
# the throwaway venv through a .pth file, after its own site-packages, so every other package is the pinned one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "error: $PY not found; run scripts/setup.sh first" >&2; exit 2; }
VENV=$(mktemp -d /tmp/denoiserec-lower-bounds.XXXXXX)
trap 'rm -rf "$VENV"' EXIT
"$PY" -m venv "$VENV"
PINS=$("$PY" - "$@" <<'PYEOF'
import re, sys, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
deps += tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]
pins = {}
for d in deps:
    m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", d)
    if m and m.group(1).lower() != "torch":
        pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
for o in sys.argv[1:]:
    pins[re.split(r"[=<>]", o)[0].lower()] = o
print(" ".join(pins.values()))
PYEOF
)
echo "pins: $PINS"
"$VENV/bin/pip" install -q $PINS
TORCH_SITE=$("$PY" -c "import torch, pathlib; print(pathlib.Path(torch.__file__).parent.parent)")
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$TORCH_SITE" > "$SITE/zz_project_torch.pth"
"$VENV/bin/pip" list 2>/dev/null | grep -iE "^(numpy|pyarrow|polars|pyyaml|scipy|scikit-learn|matplotlib|typer|rich|tqdm|click|pytest) "
cd "$ROOT"
PYTHONPATH=$ROOT OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider ${PYTEST_ARGS:-}
