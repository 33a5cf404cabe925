"""Known-answer control (a): labels := hidden truth, train/valid flipped (denoiserec.data.noise), and the direction
of each label method's mechanism on it (the size is in docs/results/lcd.md §6)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import make_log

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.data.log import write_log
from denoiserec.data.noise import LabelNoise, flip_labels
from denoiserec.errors import ConfigError
from denoiserec.experiment import check_config, load_data, run_experiment
from denoiserec.methods import build_method
from denoiserec.models import build_model
from denoiserec.train.trainer import TrainConfig, Trainer


def test_flips_train_and_valid_only_at_the_given_rates():
    df = make_log(n_users=200, per_user=50)
    out = flip_labels(df, LabelNoise(flip=0.3))
    truth, label, split = (out[c].to_numpy() for c in ("true_preference", "label", "split"))
    flipped = label != truth
    assert not flipped[split == 2].any()  # test labels clean
    assert abs(flipped[split != 2].mean() - 0.3) < 0.02
    assert out["label"].dtype == df["label"].dtype and out.columns == df.columns
    assert out["feedback"].equals(df["feedback"])  # the inputs are the service's
    cc = flip_labels(df, LabelNoise(flip_pos=0.4, flip_neg=0.05))
    lab, train = cc["label"].to_numpy(), split != 2
    assert abs((lab != truth)[train & (truth == 1)].mean() - 0.4) < 0.03  # P(1 → 0)
    assert abs((lab != truth)[train & (truth == 0)].mean() - 0.05) < 0.02  # P(0 → 1)
    assert flip_labels(df, LabelNoise(flip=0.3)).equals(out)  # seeded
    assert not flip_labels(df, LabelNoise(flip=0.3, seed=1)).equals(out)
    assert (flip_labels(df, LabelNoise())["label"].to_numpy() == truth).all()  # rate 0: the truth itself


def test_noise_config_is_checked(tmp_path):
    base = {"name": "n", "data": {"path": str(tmp_path)}, "methods": {"none": {}}}
    with pytest.raises(ConfigError, match="noise"):
        check_config({**base, "noise": {"flip": 0.6}})
    with pytest.raises(ConfigError, match="noise"):
        check_config({**base, "noise": {"flip": 0.2, "flip_pos": 0.1}})
    with pytest.raises(ConfigError, match="noise"):
        check_config({**base, "noise": {"rate": 0.2}})
    with pytest.raises(ConfigError, match="true_preference"):
        flip_labels(make_log().drop("true_preference"), LabelNoise(flip=0.1))


def test_the_runner_trains_on_flipped_labels_and_scores_clean_ones(tmp_path):
    log = write_log(make_log(), tmp_path / "log", source="test")
    cfg = check_config({"name": "flip", "data": {"path": str(log)}, "noise": {"flip": 0.25}, "seeds": [0],
                        "train": {"epochs": 2, "batch_size": 256, "lr": 0.01},
                        "models": {"deepfm": {"embed_dim": 4}}, "methods": {"none": {}, "oracle": {"oracle": True}}})
    df = load_data(cfg)
    noisy = (df["label"] != df["true_preference"]).to_numpy()
    assert noisy[df["split"].to_numpy() != 2].mean() > 0.15 and not noisy[df["split"].to_numpy() == 2].any()
    out = run_experiment(cfg, tmp_path / "res", progress=False)
    run = json.loads((out / "runs" / "deepfm__none__seed0.json").read_text())
    assert run["test"]["auc"] == pytest.approx(run["test"]["auc_true"])  # clean test labels
    clean = check_config({**cfg, "noise": None})
    from denoiserec.fingerprint import data_fingerprint, run_fingerprint

    fp = data_fingerprint(cfg["data"])
    assert run_fingerprint(cfg, "deepfm", "none", 0, fp) != run_fingerprint(clean, "deepfm", "none", 0, fp)


@pytest.fixture(scope="module")
def trained():
    """Raw DeepFM after 3 epochs on a 30 %-flipped log; its training rows, logits and which labels are flipped."""
    df = flip_labels(make_log(n_users=100, per_user=60), LabelNoise(flip=0.3))
    spec, parts = encode_splits(df, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 5}}}))
    torch.manual_seed(0)
    model = build_model("deepfm", spec, embed_dim=8)
    trainer = Trainer(TrainConfig(epochs=3, batch_size=256, lr=1e-2, progress=False, threads=1))
    trainer.fit(model, parts["train"], parts["valid"], build_method("none"), spec)
    train = parts["train"]
    s = trainer.predict(model, train)
    y = train["label"]
    flipped = (y != train["true_preference"]).numpy()
    assert 0.2 < flipped.mean() < 0.4
    return s, y, flipped


def _mean(v, mask):
    return float(np.asarray(v)[mask].mean())


def test_direction_of_each_label_method_on_flipped_labels(trained):
    """The known answer: the flipped rows are known, so each method's mechanism can be read off. LCD keeps the
    label where the loss is high (w → 1), so flipped rows — high loss, LCD's premise — keep *more* of their
    wrong label (and gradient w·(p − y)) than clean rows; LCD-Re does the opposite; T-CE drops flipped positives
    more often than clean ones; R-CE weights flipped rows less; soft Bootstrapping pulls towards confidence."""
    s, y, flipped = trained
    losses = F.binary_cross_entropy_with_logits(s, y, reduction="none")
    assert _mean(losses, flipped) > _mean(losses, ~flipped)  # the premise every method builds on
    p = torch.sigmoid(s)
    shares = {}
    for name in ("lcd", "lcd_re"):
        m = build_method(name, a=1, b=1, start_step=0)
        _, y_star = m.weights_and_targets({"label": y}, s, losses)
        shares[name] = ((y_star - p) / (y - p)).numpy()  # the label's share in y* (gradient scale of the row)
    assert _mean(shares["lcd"], flipped) > _mean(shares["lcd"], ~flipped)  # LCD up-weights the flipped rows
    assert _mean(shares["lcd_re"], flipped) < _mean(shares["lcd_re"], ~flipped)  # LCD-Re down-weights them
    tce = build_method("tce", eps_max=0.1, eps_n=1)
    tce.weights_and_targets({"label": y}, s, losses)
    w, _ = tce.weights_and_targets({"label": y}, s, losses)
    pos = (y > 0).numpy()
    dropped = (w == 0).numpy()
    assert _mean(dropped, pos & flipped) > 1.2 * _mean(dropped, pos & ~flipped)
    w, _ = build_method("rce", beta=0.2).weights_and_targets({"label": y}, s, losses)
    assert _mean(w, flipped) < _mean(w, ~flipped)


def test_demo_runs_the_known_answer_world_beside_the_noisy_service(tmp_path):
    """``denoiserec demo`` (scripts/demo.sh) runs the known-answer world (labels := truth, 20 % flipped, clean test
    labels) next to the realistic one and prints both tables; ``--set`` reaches both configs."""
    from typer.testing import CliRunner

    from denoiserec.cli import app

    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "-o", str(out), "--no-progress", "--set", "data.simulate.users=40",
                                   "--set", "seeds=[0]", "--set", "train.epochs=1", "--set", "train.batch_size=512",
                                   "--set", "methods={none: {}, lcd: {start_step: 2}, oracle: {oracle: true}}"])
    assert res.exit_code == 0, res.output
    known = tmp_path / "demo_known"
    assert (out / "report.md").is_file() and (known / "report.md").is_file()
    assert res.output.index("Known answer") < res.output.index("A noisy music service")
    cfg = yaml.safe_load((known / "config.yaml").read_text())
    assert cfg["noise"] == {"flip": 0.2} and cfg["data"]["simulate"]["users"] == 40
    run = json.loads((known / "runs" / "deepfm__lcd__seed0.json").read_text())
    assert run["test"]["auc"] == pytest.approx(run["test"]["auc_true"])  # clean test labels
    noisy = json.loads((out / "runs" / "deepfm__lcd__seed0.json").read_text())
    assert noisy["test"]["auc"] != pytest.approx(noisy["test"]["auc_true"])  # the service's own labels


def test_demo_known_answer_config_is_the_flip_control():
    """The demo's known-answer world is configs/label_flip_cpu.yaml with fewer seeds and methods (so its runs are
    those of docs/results/label_flip20_cpu)."""
    from pathlib import Path

    from denoiserec.cli import DEMO_KNOWN_CONFIG
    from denoiserec.experiment import load_config

    demo = load_config(DEMO_KNOWN_CONFIG)
    full = load_config(Path(__file__).resolve().parents[1] / "configs" / "label_flip_cpu.yaml")
    for key in ("data", "split", "noise", "features", "train", "models", "baseline"):
        assert demo[key] == full[key], key
    assert set(demo["seeds"]) < set(full["seeds"])
    assert all(demo["methods"][m] == full["methods"][m] for m in demo["methods"])
    assert {"none", "lcd", "lcd_re", "tce", "oracle"} == set(demo["methods"])
