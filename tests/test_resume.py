"""Kill a training process after its first checkpoint; the re-run continues from it instead of restarting."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import make_log

from denoiserec.data.log import write_log


@pytest.mark.slow
def test_kill_and_resume(tmp_path):
    data = write_log(make_log(n_users=300), tmp_path / "log", source="test")
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "denoiserec", "train", "--data", str(data), "--epochs", "6", "--batch-size", "32",
           "--lr", "0.005", "-m", "embed_dim=8", "--no-progress", "-o", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out / "checkpoints" / "deepfm__none__seed0.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(ckpt, weights_only=False)["history"]
    assert 1 <= len(done) < 6
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    history = json.loads((out / "runs" / "deepfm__none__seed0.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(len(history)))
    assert history[: len(done)] == done  # the epochs before the kill were not re-trained
