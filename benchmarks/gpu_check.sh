#!/usr/bin/env bash
# One-call GPU check for denoiserec on a fresh one-GPU machine with no internet (docs/performance.md, "GPU"):
#   1. installs the carried wheels from .whl/ (made beforehand, where pip works, by benchmarks/gpu_wheels.sh)
#      into a private folder, never touching the machine's torch;
#   2. runs the whole test suite with CUDA visible (the @pytest.mark.cuda tests included) -> $OUT/tests.log;
#   3. runs the side-by-side GPU benchmark (benchmarks/gpu.py: denoiserec DeepFM/DCN-V2 fp32, CUDA graph, bf16,
#      TF32, torch.compile, large batch; FuxiCTR; DeepCTR-Torch; per-step kernel profile)
#      -> $OUT/gpu_table.md, $OUT/gpu_report.json, $OUT/bench.log; and $OUT/env.txt (GPU, driver, versions),
#      $OUT/data.log (the 2M-row simulated data, built while the tests run; DIN's copy with histories:
#      $OUT/data_din.log);
#   4. many seeds in one step (benchmarks/stacked.py: 5 DeepFM seeds separate vs stacked) -> $OUT/stacked.json;
#   5. DIN beside FuxiCTR (and the CUDA graph, DeepCTR-Torch as time allows) on the same rows with a 20-item
#      behaviour sequence (benchmarks/gpu.py --models din, no profile) -> $OUT/din/gpu_table.md, $OUT/din.log.
# Budget: about 9.5 minutes on one H100 (tests <= 180 s; the benchmark starts no run after 120 s, each run
# <= 90 s, profiles skipped past 180 s; stacked seeds <= 60 s; DIN <= 130 s and never past 585 s from the start,
# skipped with under 100 s left; its runs start until 65 s before its limit, each <= 55 s): it ends inside a
# 10-minute device call even when every limit is hit (DIN is then the part cut short).
#
# Usage (from anywhere):  bash benchmarks/gpu_check.sh [--cpu-dry-run]
#   OUT=dir       where results go (default: ./gpu_check_out)
#   PYTHON=python the interpreter with torch (default: python3)
#   --cpu-dry-run tiny sizes on the CPU, fast tests only: checks that the script and the benchmark run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
PY=${PYTHON:-python3}
DRY=0
[ "${1:-}" = "--cpu-dry-run" ] && DRY=1
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*"; }

# 1. carried wheels (no index: the machine has no internet)
export PYTHONPATH="$PWD"
if ls .whl/*.whl >/dev/null 2>&1; then
  SITE=${GPU_CHECK_SITE:-/tmp/gpu_check_site}
  say "installing $(ls .whl/*.whl | wc -l) carried wheels into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { say "wheel install failed"; exit 1; }
  export PYTHONPATH="$SITE:$PWD"
  # the GPU image has these (the competitors import them); a dev venv may not: a dry run fetches them
  IMAGE_HAS=(pandas pytz h5py requests urllib3 idna charset_normalizer certifi)
  if [ $DRY = 1 ] && ! "$PY" -c "import pandas, h5py, requests" 2>/dev/null; then
    say "dry run: installing ${IMAGE_HAS[*]} into $SITE (needs the registry)"
    "$PY" -m pip install -q --no-deps --target "$SITE" "${IMAGE_HAS[@]}" || exit 1
  fi
else
  say "no .whl/ (run benchmarks/gpu_wheels.sh where pip works): using the installed packages"
fi

# no internet from here on: deepctr_torch's import asks PyPI for newer versions; a refused proxy fails it at once
export HTTPS_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9

# 2. environment
{
  date -u
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  "$PY" - <<'PYEOF'
import importlib, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, p.multi_processor_count, "SMs", round(p.total_memory / 2**30, 1), "GiB")
for m in ("polars", "numpy", "pandas", "fuxictr", "deepctr_torch", "sklearn", "typer"):
    try:
        mod = importlib.import_module(m)
        print(m, getattr(mod, "__version__", "?"), mod.__file__)
    except Exception as e:  # noqa: BLE001 - a report, not a check
        print(m, "MISSING:", type(e).__name__, e)
PYEOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# 3. the benchmark's data, built in the background while the tests run (~1 min of CPU)
DATA_DIR=${GPU_CHECK_DATA:-/tmp/gpu_check_data}
ROWS=2000000
[ $DRY = 1 ] && ROWS=6000
DATA="$DATA_DIR/sim${ROWS}.npz"
mkdir -p "$DATA_DIR"
BUILD='import sys; from pathlib import Path; from benchmarks import data as d; print(d.build(Path(sys.argv[1]), int(sys.argv[2]), seq_len=int(sys.argv[3])))'
"$PY" -c "$BUILD" "$DATA" "$ROWS" 0 > "$OUT/data.log" 2>&1 &
DATA_PID=$!
DIN_DATA="$DATA_DIR/sim${ROWS}_hist20.npz"  # the same rows plus a 20-item history (DIN), a file of its own
"$PY" -c "$BUILD" "$DIN_DATA" "$ROWS" 20 > "$OUT/data_din.log" 2>&1 &
DIN_DATA_PID=$!

# 4. the test suite with CUDA visible
if [ $DRY = 1 ]; then
  TESTS=(tests/test_fast_paths.py tests/test_cuda.py -k "not compile")
  TEST_LIMIT=300
else
  TESTS=(tests)
  TEST_LIMIT=${GPU_CHECK_TEST_LIMIT:-180}
  if "$PY" -c "import xdist" 2>/dev/null; then TESTS+=(-n "${PYTEST_WORKERS:-6}" --dist loadfile); fi
fi
say "tests: pytest ${TESTS[*]} (limit ${TEST_LIMIT}s)"
OMP_NUM_THREADS=2 timeout "$TEST_LIMIT" "$PY" -m pytest -q -p no:cacheprovider -rfEs "${TESTS[@]}" \
  > "$OUT/tests.log" 2>&1
TEST_RC=$?
tail -n 25 "$OUT/tests.log"
say "tests exit code $TEST_RC (124: hit the time limit)"

# 5. the side-by-side benchmark
wait $DATA_PID || { say "data build failed:"; cat "$OUT/data.log"; }
BENCH=(--out "$OUT" --data "$DATA" --rows "$ROWS")
if [ $DRY = 1 ]; then
  BENCH+=(--cpu-dry-run --variants denoiserec,denoiserec+compile,denoiserec+large,fuxictr,deepctr --budget-s 400)
  BENCH+=(--run-timeout 300)
else
  BENCH+=(--budget-s "${GPU_CHECK_BENCH_BUDGET:-120}" --run-timeout 90)
fi
say "benchmark: python -m benchmarks.gpu ${BENCH[*]}"
"$PY" -m benchmarks.gpu "${BENCH[@]}" > "$OUT/bench.log" 2>&1
BENCH_RC=$?
tail -n 40 "$OUT/bench.log"
say "benchmark exit code $BENCH_RC"

# 6. many seeds in one step: a 5-seed DeepFM table as separate runs vs one stacked group (<= 60 s)
STACK=(--device cuda --users 1000 --seeds 5 --epochs 1 --repeats 2)
[ $DRY = 1 ] && STACK=(--device cpu --users 40 --seeds 2 --epochs 1 --repeats 1)
say "stacked seeds: python -m benchmarks.stacked ${STACK[*]}"
OMP_NUM_THREADS=1 timeout 60 "$PY" -m benchmarks.stacked "${STACK[@]}" > "$OUT/stacked.json" 2> "$OUT/stacked.log"
STACK_RC=$?
cat "$OUT/stacked.json"
say "stacked exit code $STACK_RC (124: hit the time limit)"

# 8. DIN beside FuxiCTR on the behaviour-sequence data, in what is left of the call (never past 585 s)
wait $DIN_DATA_PID || { say "DIN data build failed:"; cat "$OUT/data_din.log"; }
DIN_LIMIT=${GPU_CHECK_DIN_S:-130}
LEFT=$(( ${GPU_CHECK_TOTAL_S:-585} - ($(date +%s) - T0) ))
[ $LEFT -lt $DIN_LIMIT ] && DIN_LIMIT=$LEFT
[ $DRY = 1 ] && DIN_LIMIT=300
DIN_RC=0
if [ $DIN_LIMIT -lt 100 ]; then
  say "DIN skipped: ${LEFT}s left of the call (GPU_CHECK_TEST_LIMIT / GPU_CHECK_BENCH_BUDGET lower make room)"
else
  DIN=(--out "$OUT/din" --data "$DIN_DATA" --rows "$ROWS" --models din --no-profile --steady-epochs 1)
  if [ $DRY = 1 ]; then
    DIN+=(--cpu-dry-run --variants denoiserec,fuxictr,deepctr --budget-s 250 --run-timeout 120)
  else
    DIN+=(--variants denoiserec,fuxictr,denoiserec+graph,deepctr --budget-s $(( DIN_LIMIT - 65 )) --run-timeout 55)
  fi
  say "DIN (limit ${DIN_LIMIT}s): python -m benchmarks.gpu ${DIN[*]}"
  timeout "$DIN_LIMIT" "$PY" -m benchmarks.gpu "${DIN[@]}" > "$OUT/din.log" 2>&1
  DIN_RC=$?
  tail -n 12 "$OUT/din.log"
  say "DIN exit code $DIN_RC (124: hit the time limit)"
fi
say "results in $OUT"
[ $TEST_RC = 0 ] && [ $BENCH_RC = 0 ] && [ $STACK_RC = 0 ] && [ $DIN_RC = 0 ]
