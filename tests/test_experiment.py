import json
from pathlib import Path

import pytest
import yaml
from conftest import make_log
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data.log import write_log
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config, load_config, run_experiment


@pytest.fixture
def prepared(tmp_path):
    return write_log(make_log(), tmp_path / "log", source="test")


def _cfg(path, **kw):
    return check_config({"name": "t", "data": {"path": str(path)}, "seeds": [0, 1],
                         "train": {"epochs": 2, "batch_size": 128, "lr": 0.01},
                         "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}}, **kw})


def test_experiment_writes_runs_report_and_resumes(prepared, tmp_path):
    out = tmp_path / "res"
    run_experiment(_cfg(prepared), out, progress=False)
    runs = sorted((out / "runs").glob("*.json"))
    assert [r.name for r in runs] == ["deepfm__none__seed0.json", "deepfm__none__seed1.json"]
    result = json.loads(runs[0].read_text())
    assert {"auc", "gauc", "logloss", "auc_true"} <= set(result["test"]) and len(result["history"]) == 2
    assert (out / "report.md").exists() and (out / "curves.png").exists()
    before = runs[0].stat().st_mtime_ns
    run_experiment(_cfg(prepared), out, progress=False)  # everything done: nothing re-runs
    assert runs[0].stat().st_mtime_ns == before
    assert not list(out.glob("checkpoints/*.pt"))


def test_report_has_relaimpr_and_ttest(prepared, tmp_path):
    out = tmp_path / "res"
    cfg = _cfg(prepared, methods={"none": {}, "small_lr": {"method": "none"}}, baseline="none", seeds=[0, 1, 2])
    run_experiment(cfg, out, progress=False)
    text = (out / "report.md").read_text()
    assert "relaimpr_auc" in text and "p_auc" in text and "small_lr" in text


def test_bad_config_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        check_config({"data": {}, "modles": {}})
    with pytest.raises(ConfigError, match="unknown model"):
        run_experiment(_cfg(tmp_path, models={"nope": {}}), tmp_path / "o", progress=False)


def test_cli_run_with_override(prepared, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg = _cfg(prepared)
    cfg_file.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["run", str(cfg_file), "-o", str(tmp_path / "o"), "--set", "seeds=[3]",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "runs" / "deepfm__none__seed3.json").exists()


def test_select_on_validation_picks_best_valid_label():
    from denoiserec.report.ctr import select_on_validation, summarize

    def run(method, seed, valid, test):
        return {"model": "m", "method": method, "seed": seed, "valid": {"auc": valid}, "test": {"auc": test}}

    runs = [run("none", 0, 0.6, 0.6), run("none", 1, 0.6, 0.61),
            run("a", 0, 0.70, 0.50), run("a", 1, 0.70, 0.52),  # best on validation, worse on test
            run("b", 0, 0.65, 0.90), run("b", 1, 0.65, 0.91)]
    rows = summarize(select_on_validation(runs, {"best": ["a", "b"]}), "none")
    best = next(r for r in rows if r["method"].startswith("best"))
    assert best["method"] == "best (= a)" and best["auc"][0] == 0.51


def test_baseline_model_compares_models():
    from denoiserec.report.ctr import summarize

    runs = [{"model": m, "method": "none", "seed": s, "test": {"auc": a + 0.01 * s}}
            for m, a in (("din", 0.6), ("dumn", 0.65)) for s in (0, 1)]
    rows = {r["model"]: r for r in summarize(runs, "none", baseline_model="din")}
    assert "relaimpr_auc" not in rows["din"]
    assert abs(rows["dumn"]["relaimpr_auc"] - (0.155 / 0.105 - 1) * 100) < 1e-6


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_passes_the_config_check(path):
    """A typo in a shipped config (an unknown model key, a bad method setting) fails here, not hours into a run."""
    assert load_config(path)["name"]
