"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The real data samples: ``$DENOISEREC_SHARED_DATA`` or ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("DENOISEREC_SHARED_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.cuda`` tests run only where CUDA is available (benchmarks/gpu_check.sh runs them)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data samples (../shared/data) are not present")
    return path


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def make_log(n_users: int = 60, n_items: int = 80, per_user: int = 40, seed: int = 0):
    """A small canonical log with a learnable signal: user u likes item i when u and i have the same parity (plus noise
    on passive rows), sorted in time; the last 20 % of each user's rows are test, the 10 % before valid."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, len(users))
    pref = ((users % 2) == (items % 2)).astype(np.int8)
    active = (rng.random(len(users)) < 0.5).astype(np.int8)
    flip = (rng.random(len(users)) < 0.3) & (active == 0)
    label = np.where(flip, 1 - pref, pref).astype(np.int8)
    kind = np.where(active == 1, np.where(label == 1, "like", "skip"), np.where(label == 1, "autoplay", "unplayed"))
    pos = np.tile(np.arange(per_user), n_users)
    split = np.where(pos >= 0.8 * per_user, 2, np.where(pos >= 0.7 * per_user, 1, 0)).astype(np.int8)
    return pl.DataFrame({
        "user": users.astype(str), "item": items.astype(str), "timestamp": (pos * 60 + 10**9).astype(np.int64),
        "session": (users * 10 + pos // 10).astype(str), "position": (pos % 10).astype(np.int32),
        "feedback": kind, "active": active, "label": label, "context": rng.choice(["a", "b"], len(users)),
        "f_age": rng.integers(18, 60, len(users)).astype(np.float32), "true_preference": pref.astype(np.float32),
        "split": split,
    })
