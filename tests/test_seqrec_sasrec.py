"""``benchmarks/seqrec_sasrec.py``: RecBole's SASRec as an external row of a seqrec results folder.

Runs only where RecBole's venv has been built (``python -m benchmarks.venv recbole``); RecBole is not a
dependency of denoiserec's own environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks import venv

pytestmark = pytest.mark.skipif(not venv.RECBOLE_MARKER.exists(),
                                reason="RecBole's venv not built (python -m benchmarks.venv recbole)")
ROOT = Path(__file__).resolve().parent.parent
CONFIG = {
    "name": "tiny", "task": "seqrec",
    "data": {"simulate": {"users": 100, "items": 150, "artists": 30, "sessions": 4, "days": 20, "seed": 0}},
    "split": {"test_frac": 0.25, "valid_frac": 0.2},
    "features": {"up": "auto", "station": "context"},
    "train": {"epochs": 1, "batch_size": 64, "threads": 1},
    "eval": {"candidates": 20, "k": [10]},
    "models": {"baseline": {"dim": 16, "layers": 1, "heads": 2, "feedback_inputs": False}},
    "baseline": "baseline", "seeds": [0],
}


def test_sasrec_row_scored_like_the_transformer(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    ours = subprocess.run([sys.executable, "-m", "denoiserec", "run", str(cfg), "-o", str(out), "--no-progress"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0, ours.stderr[-3000:]
    # --check: RecBole's own SASRec.predict on the test rows it built from the exported files equals the scorer
    # that the metrics use (export, id mapping and query padding end to end)
    ext = subprocess.run([str(venv.recbole_python()), "-m", "benchmarks.seqrec_sasrec", str(cfg), "-o", str(out),
                          "--epochs", "2", "--stopping-step", "1", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ext.returncode == 0, ext.stdout + ext.stderr[-3000:]
    assert "self-check" in ext.stdout
    rec = json.loads((out / "runs" / "external__sasrec_recbole__seed0.json").read_text())
    run = json.loads((out / "runs" / "seqrec__seed0.json").read_text())
    assert rec["data"] == run["data"]
    assert rec["rows"]["train"] > 0 and rec["rows"]["test"] > 0
    t = rec["test"]
    assert 0.0 <= t["user_auc_down"] <= 1.0 and 0.0 <= t["pair_acc_down"] <= 1.0
    # the same test users and pairs as the transformer's row
    for k in ("n_users_down", "n_pairs_down", "n_users_skip", "n_eval_users"):
        assert t[k] == run["variants"]["baseline"]["test"][k], k
    assert not (ROOT / "log").exists() and not (ROOT / "log_tensorboard").exists()
    rep = subprocess.run([sys.executable, "-m", "denoiserec", "report", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    table = (out / "report.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| sasrec_recbole |"))
    assert f"{t['user_auc_down']:.4f}" in row
