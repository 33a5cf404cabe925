"""scripts/scale_probe.py's gap closed and scripts/scale_label_ceiling.py's label expectation (issue 26, "Scale")."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from denoiserec.data.simulate import SimConfig, simulate

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ctr_gaps_are_base_minus_popularity_over_oracle_minus_popularity(tmp_path):
    probe = _load("scale_probe")
    (tmp_path / "runs").mkdir()
    values = {"none": (0.60, 0.70), "oracle": (0.80, 0.75)}  # (auc_true, gauc_true)
    for method, (a, g) in values.items():
        rec = {"model": "dcnv2", "method": method, "seed": 0, "test": {"auc_true": a, "gauc_true": g}}
        (tmp_path / "runs" / f"dcnv2__{method}__seed0.json").write_text(json.dumps(rec))
    pop = {"model": "popularity", "method": "popularity", "seed": 0, "test": {"auc_true": 0.50, "gauc_true": 0.45}}
    (tmp_path / "popularity.json").write_text(json.dumps(pop))
    (line,) = probe.ctr_gaps(tmp_path)
    auc_part, gauc_part = line.split("\t")[1:]
    assert auc_part.endswith(f"gap closed {(0.60 - 0.50) / (0.80 - 0.50):+.3f}")  # +0.333
    assert gauc_part.endswith(f"gap closed {(0.70 - 0.45) / (0.75 - 0.45):+.3f}")  # +0.833


@pytest.mark.parametrize("knobs", [{}, {"act_like": 0.2, "act_dislike": 0.5, "slip": 0.2}])
def test_label_expectation_matches_the_simulated_labels(knobs):
    """On played rows, the label's mean in each decile of a·P(negative | π) is 1 minus that decile's mean."""
    ceiling = _load("scale_label_ceiling")
    cfg = SimConfig(users=300, seed=3, start_attention=0.6, active_after_passive=0.3, **knobs)
    df = simulate(cfg)
    played = (df["feedback"] != "unplayed").to_numpy()
    pi = df["true_pref_prob"].to_numpy()[played]
    att = df["true_attention_prob"].to_numpy()[played]
    y = df["label"].to_numpy()[played].astype(float)
    p0 = att * ceiling.negative_action(cfg, pi)
    edges = np.quantile(p0, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, p0, side="right") - 1, 0, 9)
    for b in range(10):
        assert abs(y[bins == b].mean() - (1 - p0[bins == b].mean())) < 0.03
