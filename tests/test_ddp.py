"""`torchrun --nproc_per_node=2` on CPU (gloo) reaches the validation AUC of one process, also where CUDA is
visible (the backend follows ``--device``, not the machine)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import make_log

from denoiserec.data.log import write_log


@pytest.mark.slow
def test_torchrun_two_processes_matches_one(tmp_path):
    data = write_log(make_log(n_users=80), tmp_path / "log", source="test")
    args = ["train", "--data", str(data), "--epochs", "4", "--batch-size", "64", "--lr", "0.01",
            "--device", "cpu", "-m", "embed_dim=8", "--no-progress"]
    one = subprocess.run([sys.executable, "-m", "denoiserec", *args, "-o", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    # the workers see CUDA as available (a stand-in for a GPU machine: NCCL for CPU tensors fails there)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import torch\ntorch.cuda.is_available = lambda: True\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "denoiserec", *args, "-o", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    r1 = json.loads((tmp_path / "one/runs/deepfm__none__seed0.json").read_text())
    r2 = json.loads((tmp_path / "two/runs/deepfm__none__seed0.json").read_text())
    assert r2["rows"] == r1["rows"]
    assert abs(r1["valid"]["auc"] - r2["valid"]["auc"]) < 0.03, (r1["valid"], r2["valid"])
    assert r1["valid"]["auc"] > 0.75
