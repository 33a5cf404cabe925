import torch
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.methods import build_method
from denoiserec.methods.base import Method
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer

CFG = dict(epochs=6, batch_size=64, lr=1e-2, progress=False, patience=10)


def _data():
    return encode_splits(make_log(), FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))


def test_deepfm_learns_the_signal():
    spec, parts = _data()
    model = build_model("deepfm", spec, embed_dim=8)
    trainer = Trainer(TrainConfig(**CFG))
    trainer.fit(model, parts["train"], parts["valid"], build_method("none"))
    assert trainer.split_metrics(model, parts["test"])["auc_true"] > 0.9


class _DropPositives(Method):
    """Weights every positive 0: the model can then only learn to predict 'negative'."""

    def weights_and_targets(self, batch, logits, losses):
        return 1.0 - batch["label"], batch["label"]


def test_method_weights_reach_the_loss():
    spec, parts = _data()
    model = build_model("deepfm", spec, embed_dim=8)
    Trainer(TrainConfig(**CFG)).fit(model, parts["train"], None, _DropPositives())
    logits = Trainer(TrainConfig(**CFG)).predict(model, parts["test"])
    assert torch.sigmoid(logits).max() < 0.1


def test_checkpoint_resume_matches_uninterrupted_run(tmp_path):
    spec, parts = _data()
    ref = build_model("deepfm", spec, embed_dim=8)
    Trainer(TrainConfig(**{**CFG, "epochs": 3})).fit(ref, parts["train"], parts["valid"])
    ckpt = tmp_path / "ck.pt"
    torch.manual_seed(0)
    first = build_model("deepfm", spec, embed_dim=8)
    Trainer(TrainConfig(**{**CFG, "epochs": 2, "checkpoint": str(ckpt)})).fit(first, parts["train"], parts["valid"])
    second = build_model("deepfm", spec, embed_dim=8)
    t = Trainer(TrainConfig(**{**CFG, "epochs": 3, "checkpoint": str(ckpt)}))
    t.fit(second, parts["train"], parts["valid"])
    assert len(t.history) == 3
    a, b = Trainer(TrainConfig(**CFG)).predict(ref, parts["test"]), t.predict(second, parts["test"])
    assert torch.allclose(a, b, atol=1e-5)


def test_restore_best_false_keeps_the_last_epoch(tmp_path):
    spec, parts = _data()
    model = build_model("deepfm", spec, embed_dim=8)
    ckpt = tmp_path / "c.pt"
    Trainer(TrainConfig(**{**CFG, "epochs": 3, "restore_best": False, "checkpoint": str(ckpt)})).fit(
        model, parts["train"], parts["valid"])
    last = torch.load(ckpt, weights_only=False)["model"]
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())
