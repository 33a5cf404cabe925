"""The seqrec task under ``torchrun --nproc_per_node=2`` on CPU (gloo) trains the same model as one process with
the same global batch (:func:`denoiserec.seqrec.train.train_model`)."""

import json
import os
import subprocess
import sys

import yaml

CONFIG = {
    "name": "ddp", "task": "seqrec",
    "data": {"simulate": {"users": 100, "items": 150, "artists": 30, "sessions": 4, "days": 20, "seed": 0}},
    "split": {"test_frac": 0.25, "valid_frac": 0.2},
    "features": {"up": "auto", "station": "context"},
    "train": {"epochs": 3, "patience": 3, "batch_size": 32, "lr": 0.005, "threads": 1, "device": "cpu"},
    "eval": {"candidates": 20, "k": [10]},
    # dropout 0: dropout masks are drawn per process, so they cannot match a one-process run
    # feedback_inputs false: the type embedding is unused (DDP's find_unused_parameters path)
    "models": {"m": {"dim": 16, "layers": 1, "heads": 2, "dropout": 0.0, "feedback_inputs": False,
                     "p_hard": 0.5, "hardest_of_k": 8}},
    "seeds": [0],
}


def test_torchrun_two_processes_match_one(tmp_path):
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["-m", "denoiserec", "run", str(cfg), "--no-progress", "-o"]
    one = subprocess.run([sys.executable, *args, str(tmp_path / "one")], capture_output=True, text=True,
                         timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          *args, str(tmp_path / "two")], capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    r1 = json.loads((tmp_path / "one/runs/seqrec__seed0.json").read_text())["variants"]["m"]
    r2 = json.loads((tmp_path / "two/runs/seqrec__seed0.json").read_text())["variants"]["m"]
    assert len(r1["history"]) == len(r2["history"]) == 3
    for h1, h2 in zip(r1["history"], r2["history"], strict=True):
        # the same masks, negatives and candidates; only the order of float sums differs (gradient all-reduce of
        # two shard sums instead of one sum): observed ~1e-7 relative after three epochs
        assert abs(h1["train_loss"] - h2["train_loss"]) <= 1e-5 * abs(h1["train_loss"]), (h1, h2)
        assert h1["hard_share"] == h2["hard_share"]
        # rank-based: equal unless a 1e-7 perturbation reorders two scores
        assert abs(h1["valid_user_auc_down"] - h2["valid_user_auc_down"]) <= 1e-6, (h1, h2)
    assert abs(r1["test"]["user_auc_down"] - r2["test"]["user_auc_down"]) <= 1e-6
    assert r1["convergence"]["best_epoch"] == r2["convergence"]["best_epoch"]
    assert not list((tmp_path / "two").glob("**/*.tmp*"))  # one process wrote, atomically
