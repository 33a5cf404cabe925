"""``benchmarks/parity.py`` (denoiserec's CTR models against FuxiCTR with mapped weights, ``docs/models.md``).

Runs only where the competitors' venv has been built (``python -m benchmarks.venv``); FuxiCTR is not a
dependency of denoiserec's own environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from benchmarks import venv

pytestmark = pytest.mark.skipif(not venv.MARKER.exists(),
                                reason="competitors' venv not built (python -m benchmarks.venv)")
ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(venv.python()), "-m", "benchmarks.parity", "--rows", "64", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_shared_model_matches_fuxictr():
    out = _run()
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "| yes |" in line]
    assert len(rows) >= 12, out.stdout


def test_harness_catches_deliberate_errors():
    out = _run("--check-harness")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "**NO**" not in out.stdout
