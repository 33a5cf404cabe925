"""LCD's weights on known flipped labels (docs/results/lcd.md §6): for each raw (``none``) run of a label-flip
results folder, its selected model scores the training rows; in random batches of the run's size, the per-row
BCE against the (flipped) training label gives LCD's ``w = F(minmax(loss); a, b)``. Printed per seed: the AUC
with which the batch loss ranks the flipped rows above the clean ones (LCD's premise), and the label's share in
``y*`` (the row's gradient scale, ``∂BCE/∂s = share·(p - y)``) on flipped and on clean rows under LCD (``w``) and
LCD-Re (``1 - w``).

    python scripts/flip_weights.py docs/results/label_flip20_cpu [--a 1 --b 1]
"""

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import denoiserec
from denoiserec.data.encoder import fit_encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.eval.metrics import auc
from denoiserec.experiment import load_config, load_data
from denoiserec.methods.lcd import BetaCDF, normalised_loss
from denoiserec.train.trainer import TrainConfig, Trainer

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--a", type=float, default=1.0)
ap.add_argument("--b", type=float, default=1.0)
args = ap.parse_args()

folder = Path(args.folder)
cfg = load_config(folder / "config.yaml")
_, parts = fit_encode_splits(load_data(cfg), FeatureConfig.from_dict(cfg.get("features")))
train = parts["train"]
y = train["label"].float()
flipped = (y != train["true_preference"]).numpy()
cdf = BetaCDF(args.a, args.b)
batch = TrainConfig.from_dict(cfg.get("train")).batch_size
print(f"{folder}: {len(y)} training rows, {flipped.mean():.3f} flipped; batches of {batch}")
print("| seed | loss AUC (flipped vs clean) | LCD share flipped | LCD share clean | LCD-Re share flipped | "
      "LCD-Re share clean |")
print("|---|---|---|---|---|---|")
for bundle in sorted((folder / "bundles").glob("deepfm__none__seed*")):
    seed = int(bundle.name.rsplit("seed", 1)[1])
    model = denoiserec.load(bundle).model
    s = Trainer(TrainConfig(progress=False, threads=1)).predict(model, train).float()
    loss = F.binary_cross_entropy_with_logits(s, y, reduction="none")
    w = torch.empty_like(loss)
    for rows in torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).split(batch):
        t, ok = normalised_loss(loss[rows])
        w[rows] = torch.where(ok, cdf(t), 1.0)
    w = w.numpy()
    print(f"| {seed} | {auc(loss.numpy(), flipped.astype(np.float32)):.3f} | {w[flipped].mean():.3f} | "
          f"{w[~flipped].mean():.3f} | {(1 - w)[flipped].mean():.3f} | {(1 - w)[~flipped].mean():.3f} |")
