"""Settings checked before any data is read, from the ranges and allowed values declared once on the constructors
and settings dataclasses (denoiserec/settings.py; issue 27 item 8): a bad value is one line naming the key, the
command-line options of predict/recommend likewise, and a checkpoint whose content cannot be this run's is refused.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_log
from typer.testing import CliRunner

from denoiserec.cli import app
from denoiserec.data.log import write_log
from denoiserec.errors import CheckpointError, ConfigError
from denoiserec.experiment import check_config
from denoiserec.settings import Range, allowed_text, markers

SIM = {"users": 20, "items": 40, "sessions": 2, "min_len": 5, "max_len": 8}


def refused(result, *needles: str) -> str:
    """Exit 2 with one line (warnings aside), no traceback, containing every needle."""
    text = "\n".join(ln for ln in result.output.strip().splitlines() if not ln.startswith("warning: "))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for n in needles:
        assert n in text, text
    return text


# --- the model and method values --------------------------------------------------------------------------

CASES = [
    ({"models": {"deepfm": {"embed_dim": 0}}}, "models.deepfm.embed_dim: must be >= 1, got 0"),
    ({"models": {"deepfm": {"dropout": 1.5}}}, "models.deepfm.dropout: must be in [0, 1), got 1.5"),
    ({"models": {"deepfm": {"hidden": [-5]}}}, "models.deepfm.hidden[0]: must be >= 1, got -5"),
    ({"models": {"deepfm": {"hidden": [64, 0]}}}, "models.deepfm.hidden[1]: must be >= 1, got 0"),
    ({"models": {"dcnv2": {"structure": "stackd"}}}, "models.dcnv2.structure: must be one of ['parallel', 'stacked'], "
                                                     "got 'stackd'"),
    ({"models": {"big": {"model": "dien", "gru_dim": 0}}}, "models.big.gru_dim: must be >= 1, got 0"),
    ({"methods": {"uae": {"gamma": -1}}}, "methods.uae.gamma: must be >= 0, got -1"),
    ({"methods": {"pn": {"gamma": -1}}}, "methods.pn.gamma: must be >= 0"),  # through PN's **hparams to UAE's base
    ({"methods": {"ndb": {"lr": 0}}}, "methods.ndb.lr: must be > 0"),
    ({"methods": {"edm": {"gamma": -0.5}}}, "methods.edm.gamma: must be >= 0, got -0.5"),
    ({"methods": {"lcd_scale": {"a": 0}}}, "methods.lcd_scale.a: must be > 0"),  # LCD's a, through *args/**kwargs
    ({"methods": {"tce": {"eps_max": 1.0}}}, "methods.tce.eps_max: must be in [0, 1), got 1.0"),
    ({"models": {"dsin": {"embed_dim": 10, "heads": 4}}}, "models.dsin: embed_dim (10) must be a multiple of heads"),
    ({"models": {"dumn": {"heads": 3}}}, "models.dumn: embed_dim (16) must be a multiple of heads (3)"),  # a default
    ({"data": {"simulate": {**SIM, "slip": 1.5}}}, "data.simulate.slip: must be in [0, 1], got 1.5"),
    ({"train": {"monitor": "acu"}}, "train.monitor: must be one of"),
    ({"features": {"impute": "median"}}, "features.impute: must be one of"),
    ({"split": {"how": "sideways"}}, "split.how: must be one of"),
]


@pytest.mark.parametrize("section, message", CASES)
def test_bad_hyper_parameters_are_one_error_naming_the_key(section, message):
    with pytest.raises(ConfigError) as e:
        check_config({"data": {"simulate": SIM}, **section})  # data: replaced where the case names it
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_good_values_pass_and_come_back_coerced():
    cfg = check_config({"data": {"simulate": SIM}, "models": {"deepfm": {"hidden": [1], "dropout": 0}},
                        "methods": {"uae": {"gamma": 0}, "lcd": {"a": 1, "b": 0.5}}})
    assert cfg["models"]["deepfm"] == {"hidden": [1], "dropout": 0}  # the config keeps the user's values


def test_seqrec_sections_read_the_same_declarations():
    with pytest.raises(ConfigError, match=r"models.a.dropout: must be in \[0, 1\), got 1.0"):
        check_config({"task": "seqrec", "data": {"simulate": SIM}, "models": {"a": {"dropout": 1.0}}})
    with pytest.raises(ConfigError, match=r"split.test_frac: must be in \(0, 1\), got 1.0"):
        check_config({"task": "seqrec", "data": {"simulate": SIM}, "split": {"test_frac": 1.0}})
    with pytest.raises(ConfigError, match=r"models.a: dim \(10\) must be a multiple of heads \(4\)"):
        check_config({"task": "seqrec", "data": {"simulate": SIM}, "models": {"a": {"dim": 10, "heads": 4}}})
    with pytest.raises(ConfigError, match=r"eval.k\[1\]: must be >= 1, got 0"):
        check_config({"task": "seqrec", "data": {"simulate": SIM}, "eval": {"k": [10, 0]}})


def test_a_bad_setting_stops_the_run_before_any_data_or_model(tmp_path, monkeypatch):
    """dcnv2's misspelt structure after a good model: refused up front, nothing simulated, trained or written."""
    monkeypatch.chdir(tmp_path)
    cfg = {"name": "x", "data": {"simulate": SIM}, "seeds": [0], "train": {"epochs": 1},
           "models": {"deepfm": {}, "dcnv2": {"structure": "stackd"}}}
    Path("x.yaml").write_text(yaml.safe_dump(cfg))
    refused(CliRunner().invoke(app, ["run", "x.yaml", "-o", "out", "--no-progress"]), "x.yaml",
            "models.dcnv2.structure")
    assert not Path("out").exists()


# --- the declarations themselves ---------------------------------------------------------------------------------


def test_range_bounds_are_the_declared_ones():
    """Each bound on its own side (a flipped comparison fails here)."""
    assert Range(ge=1).problem(1) is None and Range(ge=1).problem(0) == "must be >= 1, got 0"
    assert Range(gt=0).problem(0.1) is None and Range(gt=0).problem(0) == "must be > 0, got 0"
    assert Range(le=1).problem(1) is None and Range(le=1).problem(2) == "must be <= 1, got 2"
    assert Range(lt=1).problem(0.5) is None and Range(lt=1).problem(1) == "must be < 1, got 1"
    rate = Range(ge=0, lt=1)
    assert rate.problem(0) is None and rate.problem(0.99) is None
    assert rate.problem(-0.1) == "must be in [0, 1), got -0.1" and rate.problem(1) == "must be in [0, 1), got 1"
    assert Range(gt=0, le=1).text == "(0, 1]" and Range(ge=0).problem(None) is None


def _hyper_parameters():
    from denoiserec import methods, models
    from denoiserec.validate import signature_params

    for name in models.available():
        _, hints, _ = signature_params(models.model_class(name))
        params, _, _ = signature_params(models.model_class(name))
        yield f"models.{name}", {k: hints.get(k) for k in params if k not in ("self", "spec")}
    for name in methods.available():
        cls = __import__(f"denoiserec.methods.{name}", fromlist=["METHOD"]).METHOD
        params, hints, _ = signature_params(cls)
        yield f"methods.{name}", {k: hints.get(k) for k in params if k != "self"}


def test_every_hyper_parameter_is_declared_with_its_range():
    """Every model's and method's constructor parameter has a type the check reads; sizes, rates and weights carry
    a range (docs/config.md shows it)."""
    ranged = {"embed_dim", "hidden", "dropout", "heads", "gamma", "lr", "epochs", "batch_rows", "slots", "width",
              "ffn", "mlp", "margin", "triplet_weight", "weight_decay", "att_hidden", "cin_layers"}
    for where, hints in _hyper_parameters():
        for key, hint in hints.items():
            assert hint is not None, f"{where}.{key}: no annotation"
            if key in ranged:
                assert allowed_text(hint), f"{where}.{key}: no declared range"


def test_the_transformer_and_its_settings_declare_the_same_ranges():
    from denoiserec.seqrec.train import ModelConfig
    from denoiserec.seqrec.transformer import NegFeedbackTransformer

    ctor = typing.get_type_hints(NegFeedbackTransformer.__init__, include_extras=True)
    cfg = typing.get_type_hints(ModelConfig, include_extras=True)
    for key in inspect.signature(ModelConfig).parameters:
        assert markers(ctor[key]) == markers(cfg[key]), key


# --- predict / recommend options ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    write_log(make_log(n_users=12, per_user=20), root / "log", source="test")
    r = CliRunner().invoke(app, ["train", "--data", str(root / "log"), "--out", str(root / "res"), "--epochs", "1",
                                 "--batch-size", "64", "--no-progress"])
    assert r.exit_code == 0, r.output
    return root / "res" / "bundles" / "deepfm__none__seed0"


@pytest.mark.parametrize("k", ["0", "-3"])
def test_recommend_k_below_one_is_refused(bundle, tmp_path, k):
    log = bundle.parents[2] / "log"
    refused(CliRunner().invoke(app, ["recommend", str(bundle), "--history", str(log), "--all-items", "--k", k,
                                     "-o", str(tmp_path / "r.csv")]), "--k: must be >= 1", k)
    assert not (tmp_path / "r.csv").exists()


def test_predict_batch_size_zero_is_refused(bundle, tmp_path):
    log = bundle.parents[2] / "log"
    refused(CliRunner().invoke(app, ["predict", str(bundle), "--data", str(log), "--batch-size", "0",
                                     "-o", str(tmp_path / "s.csv")]), "--batch-size: must be >= 1, got 0")
    assert not (tmp_path / "s.csv").exists()


def test_the_python_api_checks_the_same_declarations(bundle):
    from denoiserec.bundle import load
    from denoiserec.data.log import read_log

    b, log = load(bundle), read_log(bundle.parents[2] / "log")
    with pytest.raises(ConfigError, match=r"^k: must be >= 1, got 0$"):
        b.recommend(log, k=0)
    with pytest.raises(ConfigError, match=r"^batch_size: must be >= 1, got 0$"):
        b.predict(log, batch_size=0)
    assert b.recommend(log, k=1).scores.height == log["user"].n_unique()


def test_recommend_for_an_unknown_user_says_what_to_do(bundle, tmp_path):
    log = bundle.parents[2] / "log"
    text = refused(CliRunner().invoke(app, ["recommend", str(bundle), "--history", str(log), "--all-items",
                                            "--users", "nobody", "-o", str(tmp_path / "r.csv")]),
                   "--users", "nobody", "no event in this history", "check the ids")
    assert str(log) in text
    assert not (tmp_path / "r.csv").exists()


# --- checkpoints whose content cannot be this run's ------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path):
    """A one-epoch CTR checkpoint of fingerprint "A" and a function resuming a run of ``epochs`` from it."""
    from denoiserec.data.encoder import encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer

    spec, parts = encode_splits(make_log(n_users=12, per_user=20), FeatureConfig())
    ckpt = tmp_path / "c.pt"

    def fit(epochs: int) -> Trainer:
        trainer = Trainer(TrainConfig(epochs=epochs, batch_size=32, progress=False, checkpoint=str(ckpt)))
        trainer.fit(build_model("fm", spec), parts["train"], parts["valid"], build_method("none"), spec,
                    fingerprint="A")
        return trainer

    fit(1)
    return ckpt, fit


def test_checkpoint_with_an_epoch_beyond_the_configured_ones_is_refused(checkpoint):
    ckpt, fit = checkpoint
    state = torch.load(ckpt, weights_only=True)
    assert fit(2).history[-1]["epoch"] == 1  # the real one resumes
    state["epoch"] = 99
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=rf"^{ckpt}: .*epoch 99 is beyond.*delete the file"):
        fit(2)


def test_checkpoint_with_nan_weights_is_refused(checkpoint):
    ckpt, fit = checkpoint
    state = torch.load(ckpt, weights_only=True)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=rf"^{ckpt}: .*{name}.*NaN"):
        fit(2)


def test_the_loader_bounds_the_epoch_each_loop_passes(tmp_path):
    """The seqrec loop stores epochs done (its bound: train.epochs), the CTR loop the last epoch's index."""
    from denoiserec.train.checkpoint import load_checkpoint

    ckpt = tmp_path / "s.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "optim": {}, "epoch": 3, "rng": {}}, ckpt)
    assert load_checkpoint(ckpt, last_epoch=3)["epoch"] == 3
    with pytest.raises(CheckpointError, match="epoch 3 is beyond"):
        load_checkpoint(ckpt, last_epoch=2)
    torch.save({"model": {"w": torch.zeros(2)}, "optim": {}, "epoch": -1, "rng": {}}, ckpt)
    with pytest.raises(CheckpointError, match="not an epoch number"):
        load_checkpoint(ckpt)
