"""Many seeds in one step (denoiserec/train/stacked.py): each stacked seed equals its separate run within
rounding, and what cannot be stacked is a ConfigError.

Tolerance (absolute): training losses within 1e-4, validation and test AUC and logloss within 5e-4, test GAUC
within 2e-3 (per-user AUCs over ~8 test rows each: one swapped pair moves it most). The
batched matmuls of the stacked forward sum in another order than the separate ones, and the rounding grows
over training: measured on CPU, 0 after the first epoch and up to 2.0e-5 (loss) / 1.2e-4 (AUC, logloss) / 7.7e-4
(GAUC) after the third epoch of DeepFM + LCD at lr 0.01 (LCD's Beta-CDF weights amplify it); DIN + none within 1e-7."""

import json

import pytest
import torch
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.log import write_log
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config, run_experiment
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.stacked import fit_stacked
from denoiserec.train.trainer import TrainConfig, Trainer

TOL_LOSS, TOL, TOL_GAUC = 1e-4, 5e-4, 2e-3


@pytest.fixture(scope="module")
def data():
    spec, parts = encode_splits(make_log(n_users=80, per_user=40),
                                FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 4}}}))
    return spec, parts


def _runs(spec, seeds, model, method, hp=None, epochs=3, **kw):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        cfg = TrainConfig(epochs=epochs, batch_size=128, lr=0.01, seed=s, progress=False, patience=0, **kw)
        out.append((Trainer(cfg), build_model(model, spec), build_method(method, **(hp or {}))))
    return out


@pytest.mark.parametrize("model,method,hp,epochs", [
    ("deepfm", "lcd", {"start_step": 2}, 3),  # LCD corrects from the third step
    ("deepfm", "lcd", {"start_step": 60}, 4),  # 18 steps an epoch: only the 4th corrects, which seeds 1, 2 skip
    ("din", "none", {}, 2),
])
def test_stacked_seeds_equal_their_separate_runs(data, model, method, hp, epochs):
    spec, parts = data
    seeds = [0, 1, 2]
    separate = []
    for trainer, m, me in _runs(spec, seeds, model, method, hp, epochs):
        trainer.fit(m, parts["train"], parts["valid"], me, spec)
        separate.append((trainer.history, trainer.split_metrics(m, parts["test"]), me.state()))
    if epochs == 4:  # seeds 1 and 2 stop early (patience 0) while seed 0 trains a 4th epoch
        assert [len(h) for h, _, _ in separate] == [4, 3, 3]
        assert [st["corrected_steps"] for _, _, st in separate] == [12, 0, 0]
    group = _runs(spec, seeds, model, method, hp, epochs)
    fit_stacked(*([g[i] for g in group] for i in (0, 1)), parts["train"], parts["valid"], [g[2] for g in group],
                spec)
    for (history, test, state), (trainer, m, me) in zip(separate, group, strict=True):
        assert len(trainer.history) == len(history)  # early stopping per seed
        for a, b in zip(history, trainer.history, strict=True):
            assert set(a) == set(b)
            assert abs(a["train_loss"] - b["train_loss"]) < TOL_LOSS, (a, b)
            for k in ("valid_auc", "valid_logloss"):
                assert abs(a[k] - b[k]) < TOL, (k, a[k], b[k])
        got = trainer.split_metrics(m, parts["test"])
        assert all(abs(test[k] - got[k]) < TOL for k in ("auc", "logloss")), (test, got)
        assert abs(test["gauc"] - got["gauc"]) < TOL_GAUC, (test, got)
        got = me.state()  # the method's own state (LCD's counters exactly, its mean weight within rounding)
        assert set(got) == set(state)
        assert all(abs(got[k] - v) < TOL if isinstance(v, float) else got[k] == v for k, v in state.items()), got
    # the seeds really differ from each other (own init, data order)
    assert separate[0][0][0]["train_loss"] != separate[1][0][0]["train_loss"]


def test_stacked_seeds_keep_the_embedding_learning_rate(data):
    """train.embedding_lr_scale reaches the stacked Adam's embedding group as the separate runs'."""
    spec, parts = data
    losses = {}
    for scale in (1.0, 4.0):
        separate = []
        for trainer, m, me in _runs(spec, [0, 1], "deepfm", "none", epochs=1, embedding_lr_scale=scale):
            trainer.fit(m, parts["train"], None, me, spec)
            separate.append(trainer.history[0]["train_loss"])
        group = _runs(spec, [0, 1], "deepfm", "none", epochs=1, embedding_lr_scale=scale)
        fit_stacked(*([g[i] for g in group] for i in (0, 1)), parts["train"], None, [g[2] for g in group], spec)
        stacked = [t.history[0]["train_loss"] for t, _, _ in group]
        assert all(abs(a - b) < TOL_LOSS for a, b in zip(separate, stacked, strict=True)), (separate, stacked)
        losses[scale] = stacked
    assert all(abs(a - b) > 1e-3 for a, b in zip(losses[1.0], losses[4.0], strict=True)), losses


def test_what_cannot_be_stacked_is_a_config_error(data):
    spec, parts = data

    def group(model, method="none", **mhp):
        runs = []
        for s in (0, 1):
            torch.manual_seed(s)
            runs.append((Trainer(TrainConfig(epochs=1, seed=s, progress=False)), build_model(model, spec, **mhp),
                         build_method(method)))
        return [r[0] for r in runs], [r[1] for r in runs], parts["train"], parts["valid"], [r[2] for r in runs]

    with pytest.raises(ConfigError, match="dropout"):
        fit_stacked(*group("deepfm", dropout=0.2), spec)
    with pytest.raises(ConfigError, match="vmap"):
        fit_stacked(*group("dsin", sequence="hist"), spec)
    trainers, models, train, valid, methods = group("deepfm")
    methods[1].stackable = False
    with pytest.raises(ConfigError, match="cannot be stacked"):
        fit_stacked(trainers, models, train, valid, methods, spec)
    trainers, models, train, valid, methods = group("deepfm", "bootstrap")  # soft form: gradient through y*
    with pytest.raises(ConfigError, match="target_grad"):
        fit_stacked(trainers, models, train, valid, methods, spec)


def test_experiment_stacked_records_match_separate_ones(tmp_path):
    log = write_log(make_log(), tmp_path / "log", source="test")
    records = {}
    for stack in (False, True):
        cfg = check_config({"name": "t", "data": {"path": str(log)}, "seeds": [0, 1],
                            "train": {"epochs": 2, "batch_size": 128, "lr": 0.01, "stack_seeds": stack},
                            "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}, "lcd": {}}})
        out = tmp_path / f"res{stack}"
        run_experiment(cfg, out, progress=False)
        records[stack] = {f.name: json.loads(f.read_text()) for f in sorted((out / "runs").glob("*.json"))}
    assert list(records[True]) == list(records[False]) and len(records[True]) == 4

    def form(x):
        return {k: form(v) for k, v in x.items()} if isinstance(x, dict) else [form(v) for v in x][:1] \
            if isinstance(x, list) else type(x).__name__

    for name, sep in records[False].items():
        st = records[True][name]
        assert form({k: v for k, v in st.items() if k != "fingerprint"}) == \
            form({k: v for k, v in sep.items() if k != "fingerprint"})
        assert all(abs(sep["test"][k] - st["test"][k]) < TOL for k in ("auc", "logloss")), name
        assert abs(sep["test"]["gauc"] - st["test"]["gauc"]) < TOL_GAUC, name
