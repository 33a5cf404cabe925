"""How well does a user's (or an item's) training click rate rank the test rows? Test AUC of the per-id training
rate ``(positives + 1) / (rows + 2)``, against the observed test labels and, on simulated data, the hidden true
preference. A model that learns per-id biases inherits this: where the users' training rate ranks test clicks below
chance, personalised models can fall below 0.5 AUC while item popularity does not (``docs/results/dumn.md``).

    python benchmarks/id_rate_auc.py configs/dumn_ablation_cpu.yaml [--data-path P]
"""

from __future__ import annotations

import argparse

import torch

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.eval.metrics import auc
from denoiserec.experiment import check_config, load_config, load_data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--data-path", help="overrides the config's data.path")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if args.data_path:
        cfg = check_config({**cfg.to_dict(), "data": {**cfg.given("data"), "path": args.data_path}}, args.config)
    spec, parts = encode_splits(load_data(cfg), FeatureConfig.from_dict({}))
    train, test = parts["train"].tensors, parts["test"].tensors
    targets = {"test label": test["label"]}
    if "true_preference" in test:
        targets["true preference"] = test["true_preference"]
    print(f"{cfg['name']}: training positive rate {train['label'].float().mean():.3f}, "
          f"test {test['label'].float().mean():.3f}")
    for field in ("user", "item"):
        col = spec.field_index(field)
        n = int(max(train["cat"][:, col].max(), test["cat"][:, col].max())) + 1
        pos = torch.bincount(train["cat"][:, col], weights=train["label"].float(), minlength=n)
        rows = torch.bincount(train["cat"][:, col], minlength=n).float()
        score = ((pos + 1) / (rows + 2))[test["cat"][:, col]].numpy()
        aucs = ", ".join(f"{k} {auc(score, y.numpy()):.3f}" for k, y in targets.items())
        print(f"{field}'s training rate, test AUC vs {aucs}")


if __name__ == "__main__":
    main()
