"""One meaning of ``patience`` in both training loops (:mod:`denoiserec.train.early_stopping`): ``patience``
epochs without a better validation score are tolerated, the next one stops training."""

import math

import pytest
import torch
from conftest import make_log
from test_negfeedback import EXPLICIT, _log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.sequences import SeqSplitConfig, build_sequences
from denoiserec.eval.seqrec import EvalConfig
from denoiserec.models import build_model
from denoiserec.seqrec.train import ModelConfig, SeqData, SeqTrainConfig, train_model
from denoiserec.train.early_stopping import EarlyStopping
from denoiserec.train.trainer import TrainConfig, Trainer


def _epochs_until_stop(stopper, scores):
    for epoch, score in enumerate(scores, 1):
        stopper.update(score, epoch)
        if stopper.should_stop:
            return epoch
    return None


@pytest.mark.parametrize(("patience", "stops_at"), [(0, 3), (1, 4), (2, 5)])
def test_patience_is_the_number_of_non_improving_epochs_tolerated(patience, stops_at):
    # best at epoch 2, then nothing better: epoch 2 + patience + 1 stops
    assert _epochs_until_stop(EarlyStopping(patience), [0.5, 0.6, 0.6, 0.55, 0.4, 0.3, 0.2]) == stops_at


def test_a_new_best_restarts_the_count():
    # patience 1: epoch 2 does not improve, epoch 3 does (count back to 0), epochs 4 and 5 do not: 5 stops
    assert _epochs_until_stop(EarlyStopping(1), [0.5, 0.4, 0.6, 0.55, 0.5, 0.3]) == 5


def test_direction_and_best_epoch():
    up = EarlyStopping(0)
    assert up.update(0.5, 1) and up.update(0.6, 2) and not up.update(0.55, 3)
    assert (up.best, up.best_epoch, up.stale) == (0.6, 2, 1) and up.should_stop
    down = EarlyStopping(5, minimize=True)
    assert down.update(0.5, 1) and not down.update(0.6, 2) and down.update(0.4, 3)
    assert (down.best, down.best_epoch) == (0.4, 3)


def test_nan_scores():
    plain = EarlyStopping(1)
    assert not plain.update(math.nan, 1) and plain.update(0.5, 2) and not plain.update(math.nan, 3)
    blind = EarlyStopping(0, blind_keeps_latest=True)
    assert blind.update(math.nan, 1) and blind.update(math.nan, 2) and not blind.should_stop  # no signal yet
    assert blind.update(0.5, 3) and not blind.update(math.nan, 4) and blind.should_stop


@pytest.mark.parametrize("patience", [0, 1])
def test_ctr_trainer_stops_patience_plus_one_epochs_after_the_best(patience):
    """lr 0: the first epoch is the best and none after it improves."""
    torch.set_num_threads(1)
    spec, parts = encode_splits(make_log(), FeatureConfig())
    model = build_model("deepfm", spec, embed_dim=4)
    trainer = Trainer(TrainConfig(epochs=10, batch_size=256, lr=0.0, progress=False, patience=patience))
    trainer.fit(model, parts["train"], parts["valid"])
    assert len(trainer.history) == 1 + patience + 1


@pytest.mark.parametrize("patience", [0, 1])
def test_seqrec_loop_stops_patience_plus_one_epochs_after_the_best(patience):
    torch.set_num_threads(1)
    seq = build_sequences(_log(n_users=30, per_user=30), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    tcfg = SeqTrainConfig(epochs=10, patience=patience, batch_size=32, lr=0.0, progress=False)
    _, history, conv = train_model(SeqData(seq), ModelConfig(dim=8, layers=1, heads=2, max_len=10), tcfg,
                                   EvalConfig(candidates=5), seed=0)
    assert conv["best_epoch"] == 1 and conv["epochs_run"] == len(history) == 1 + patience + 1


@pytest.mark.parametrize("monitor", ["logloss", "logloss_true", "auc_true"])
def test_the_restored_epoch_is_the_best_in_the_monitor_s_direction(monitor):
    torch.set_num_threads(1)
    spec, parts = encode_splits(make_log(), FeatureConfig())
    model = build_model("deepfm", spec, embed_dim=4)
    trainer = Trainer(TrainConfig(epochs=4, batch_size=64, lr=0.05, progress=False, patience=10, monitor=monitor))
    trainer.fit(model, parts["train"], parts["valid"])
    seen = [h[f"valid_{monitor}"] for h in trainer.history]
    best = min(seen) if monitor.startswith("logloss") else max(seen)
    assert len(set(seen)) > 1 and trainer.split_metrics(model, parts["valid"])[monitor] == pytest.approx(best)


def test_seqrec_without_a_validation_signal_runs_every_epoch_and_keeps_the_last(monkeypatch):
    """Validation users with no pair to score (tiny samples): NaN every epoch; no stop, the last epoch counts."""
    import denoiserec.seqrec.train as seqrec_train

    torch.set_num_threads(1)
    monkeypatch.setattr(seqrec_train, "period_metrics", lambda *a, **k: {"user_auc_down": math.nan})
    seq = build_sequences(_log(n_users=20, per_user=20), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    tcfg = SeqTrainConfig(epochs=3, patience=0, batch_size=32, lr=0.01, progress=False, monitor="user_auc_down")
    _, history, conv = train_model(SeqData(seq), ModelConfig(dim=8, layers=1, heads=2, max_len=10), tcfg,
                                   EvalConfig(candidates=5), seed=0)
    assert conv["epochs_run"] == len(history) == conv["best_epoch"] == 3


def test_a_resumed_seqrec_run_keeps_its_count_of_epochs_without_improvement(tmp_path):
    """lr 0: epoch 1 is the best. Two epochs, checkpointed (one without improvement so far), then resumed with
    patience 1: the third epoch is the second without improvement and stops, as in an uninterrupted run."""
    torch.set_num_threads(1)
    seq = build_sequences(_log(n_users=30, per_user=30), EXPLICIT, SeqSplitConfig(test_frac=0.25, valid_frac=0.2))
    data, mcfg, ecfg = SeqData(seq), ModelConfig(dim=8, layers=1, heads=2, max_len=10), EvalConfig(candidates=5)
    kw = {"batch_size": 32, "lr": 0.0, "progress": False, "checkpoint": str(tmp_path / "c.pt")}
    train_model(data, mcfg, SeqTrainConfig(epochs=2, patience=5, **kw), ecfg, seed=0)
    _, history, conv = train_model(data, mcfg, SeqTrainConfig(epochs=10, patience=1, **kw), ecfg, seed=0)
    assert conv["best_epoch"] == 1 and conv["epochs_run"] == len(history) == 3
