"""scripts/results_table.py on a hand-made results folder: effect, p and gap closed against hand-computed values."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "results_table.py"

# test auc_true / auc per seed; the oracle is the same model trained on the hidden preference
AUC_TRUE = {"none": [0.60, 0.62, 0.61], "lcd": [0.63, 0.66, 0.61], "oracle": [0.74, 0.75, 0.76]}
AUC = {"none": [0.70, 0.70, 0.70], "lcd": [0.71, 0.72, 0.70], "oracle": [0.80, 0.80, 0.80]}
POPULARITY = {"auc_true": 0.55, "auc": 0.65}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _folder(path: Path, data: dict) -> Path:
    (path / "runs").mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    for method in AUC_TRUE:
        for seed in range(3):
            rec = {"model": "deepfm", "method": method, "seed": seed,
                   "test": {"auc_true": AUC_TRUE[method][seed], "auc": AUC[method][seed]}}
            if method == "oracle":
                rec["oracle"] = True
            (path / "runs" / f"deepfm__{method}__seed{seed}.json").write_text(json.dumps(rec))
    (path / "popularity.json").write_text(json.dumps(
        {"model": "popularity", "method": "popularity", "seed": 0, "test": POPULARITY}))
    return path


def _p_df2(d: list[float]) -> float:
    """Two-sided paired t-test p by hand: with 2 degrees of freedom, p = 1 − t / sqrt(t² + 2)."""
    m = sum(d) / 3
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / 2)
    t = m / (sd / math.sqrt(3))
    return 1 - t / math.sqrt(t * t + 2)


def test_simulated_world_effect_p_gap(script, tmp_path):
    folder = _folder(tmp_path / "sim", {"simulate": {"users": 10}})
    rows = {r["method"]: r for r in script.ctr_rows(folder, yaml.safe_load((folder / "config.yaml").read_text()))}
    lcd = rows["lcd"]
    assert lcd["metric"] == "auc_true" and lcd["n"] == 3
    assert lcd["effect"] == pytest.approx(0.07 / 3)  # diffs 0.03, 0.04, 0.00
    assert _p_df2([0.03, 0.04, 0.0]) == pytest.approx(0.1917, abs=1e-4)
    assert lcd["p"] == pytest.approx(_p_df2([0.03, 0.04, 0.0]))
    # (mean − popularity) / (oracle − popularity) = (0.6333 − 0.55) / (0.75 − 0.55)
    assert lcd["gap"] == pytest.approx((1.9 / 3 - 0.55) / 0.20)
    assert rows["none"]["gap"] == pytest.approx(0.30)
    assert math.isnan(rows["none"]["effect"]) and rows["oracle"]["gap"] == pytest.approx(1.0)
    assert rows["oracle"]["oracle"] and not lcd["oracle"]


def test_real_world_uses_auc(script, tmp_path):
    folder = _folder(tmp_path / "real", {"source": "kuairand", "path": "x"})
    text = script.table(tmp_path)
    line = next(ln for ln in text.splitlines() if "| lcd |" in ln)
    assert line.startswith("| real: kuairand | real | deepfm | lcd | auc | 3 (< 5) | +0.0100 |")
    lcd = {r["method"]: r for r in script.ctr_rows(folder, {"data": {"source": "kuairand"}})}["lcd"]
    assert lcd["p"] == pytest.approx(_p_df2([0.01, 0.02, 0.0]))
    # gap closed is still (mean − popularity) / (oracle − popularity) on the headline: (0.71 − 0.65) / 0.15
    assert lcd["gap"] == pytest.approx(0.4)


def test_folders_without_a_method_contrast_are_left_out(script, tmp_path):
    _folder(tmp_path / "a_sim", {"simulate": {}})
    only_none = tmp_path / "b_models"
    (only_none / "runs").mkdir(parents=True)
    (only_none / "runs" / "din__none__seed0.json").write_text(
        json.dumps({"model": "din", "method": "none", "seed": 0, "test": {"auc": 0.6}}))
    lines = script.table(tmp_path).splitlines()
    assert len(lines) == 2 + 3 and all("b_models" not in ln for ln in lines)
    assert "| simulator | a_sim | deepfm | **none** (base) | auc_true | 3 (< 5) | – | – | +0.30 |" in lines


def test_effect_and_n_over_matched_seeds_only(script, tmp_path):
    folder = _folder(tmp_path / "sim", {"simulate": {}})
    (folder / "runs" / "deepfm__lcd__seed3.json").write_text(
        json.dumps({"model": "deepfm", "method": "lcd", "seed": 3, "test": {"auc_true": 0.99, "auc": 0.99}}))
    lcd = {r["method"]: r for r in script.ctr_rows(folder, {"data": {"simulate": {}}})}["lcd"]
    assert lcd["n"] == 3 and lcd["effect"] == pytest.approx(0.07 / 3)


def test_seqrec_world_against_its_baseline_label(script, tmp_path):
    folder = tmp_path / "seq"
    (folder / "runs").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": "seqrec", "baseline": "baseline",
                                                         "data": {"simulate": {}}}))
    head = {"baseline": [0.55, 0.56, 0.57], "both": [0.60, 0.58, 0.57],
            "pop_up": [0.50, 0.50, 0.50], "oracle_pi": [0.70, 0.70, 0.70]}
    for seed in range(3):
        test = {lab: {"test": {"user_auc_down": v[seed]}} for lab, v in head.items()}
        rec = {"task": "seqrec", "seed": seed, "data": {}, "variants": {k: test[k] for k in ("baseline", "both")},
               "baselines": {k: test[k] for k in ("pop_up", "oracle_pi")}}
        (folder / "runs" / f"seqrec__seed{seed}.json").write_text(json.dumps(rec))
    rows = {r["method"]: r for r in script.seqrec_rows(folder, {"baseline": "baseline"})}
    assert set(rows) == {"baseline", "both"}  # popularity and ceilings are not rows
    both = rows["both"]
    assert both["metric"] == "user_auc_down" and both["n"] == 3
    assert both["effect"] == pytest.approx(0.07 / 3) and both["p"] == pytest.approx(_p_df2([0.05, 0.02, 0.0]))
    # per seed (x − pop_up) / (oracle_pi − pop_up), then the mean: (0.5 + 0.4 + 0.35) / 3
    assert both["gap"] == pytest.approx(1.25 / 3)


def test_the_popularity_scorer_is_the_gap_base_beside_a_trained_popularity_model(script, tmp_path):
    """A folder with a trained `popularity` model (its runs' `none` rows) beside the scorer (popularity.json): the
    gap is measured from the scorer, whichever record is read first."""
    folder = _folder(tmp_path / "sim", {"simulate": {"users": 10}})
    for seed in range(3):  # written so that they sort before and are read before popularity.json
        rec = {"model": "popularity", "method": "none", "seed": seed, "test": {"auc_true": 0.65, "auc": 0.66}}
        (folder / "runs" / f"popularity__none__seed{seed}.json").write_text(json.dumps(rec))
    rows = {r["method"]: r for r in script.ctr_rows(folder, yaml.safe_load((folder / "config.yaml").read_text()))
            if r["model"] == "deepfm"}
    assert rows["none"]["gap"] == pytest.approx(0.30)  # (0.61 − 0.55) / (0.75 − 0.55), not from 0.65
