"""How much of the hidden preference the observed label can teach, whatever the size (issue 26, "Scale").

    python scripts/scale_label_ceiling.py --users 16000 [--set KNOB=VALUE ...]

Simulates the world (default simulator unless knobs are given) and scores its rows against the hidden
preference (AUC-true, every row, as the CTR reports do):

* ``pi``: the preference probability π (what a model trained on the truth approaches);
* ``E[y | pi, attention, reached]``: the observed label's expectation given the hidden state -- a model
  trained on the label with unlimited data and features that revealed attention and session ends would
  learn this, so its AUC-true is what the label itself carries about the preference (music mode:
  ``y = 0`` when unplayed or when an attentive listener acts negatively, ``P = a·((1-π)·act_dislike·(1-slip)
  + π·act_like·slip)``);
* the same on played rows only, and with the mean attention (the label's preference term alone);
* ``y``: the realised label;
* ``item popularity``: the item's play count (the popularity row).
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl
import yaml

from denoiserec.data.simulate import SimConfig, simulate
from denoiserec.eval.metrics import auc


def negative_action(cfg: SimConfig, pi: np.ndarray) -> np.ndarray:
    """P(an attentive listener's play is labelled 0 | π), music mode: she dislikes it and acts on that (the
    action not slipped), or likes it and her action slips."""
    return cfg.act_dislike * (1 - cfg.slip) * (1 - pi) + cfg.act_like * cfg.slip * pi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="knobs", action="append", default=[], help="simulator knob, KNOB=VALUE")
    a = ap.parse_args()
    knobs = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in a.knobs)}
    cfg = SimConfig(users=a.users, seed=a.seed, **knobs)
    df = simulate(cfg)
    truth = df["true_preference"].to_numpy().astype(float)
    pi = df["true_pref_prob"].to_numpy()
    att = df["true_attention_prob"].to_numpy()
    y = df["label"].to_numpy().astype(float)
    played = (df["feedback"] != "unplayed").to_numpy()
    p_neg = negative_action(cfg, pi)
    e_y = played * (1 - att * p_neg)
    counts = df.group_by("item").len()
    pop = df.select("item").join(counts, on="item", how="left")["len"].to_numpy().astype(float)
    rows = [
        ("pi", auc(pi, truth)),
        ("E[y | pi, attention, reached]", auc(e_y, truth)),
        ("  played rows only", auc(e_y[played], truth[played])),
        ("  played rows, mean attention", auc(1 - att[played].mean() * p_neg[played], truth[played])),
        ("y (realised label)", auc(y, truth)),
        ("item popularity", auc(pop, truth)),
    ]
    print(
        f"users {a.users}, rows {len(df)}, played {played.mean():.3f}, label rate {y.mean():.3f}, "
        f"mean attention on played rows {att[played].mean():.3f}, knobs {knobs or 'default'}"
    )
    for name, v in rows:
        print(f"{name:36s} AUC-true {v:.4f}")
    # a label read as (signal) slope * pi + noise: rows needed to learn pi as well as from the truth scale
    # with noise variance / slope^2 (the truth: slope 1, noise E[pi (1 - pi)])
    slope = np.cov(y, pi)[0, 1] / pi.var()
    noise = np.var(y - slope * pi)
    t_noise = np.var(truth - pi)
    print(
        f"label slope on pi {slope:.3f}, label noise variance {noise:.3f} (truth: slope 1, noise {t_noise:.3f}): "
        f"~{noise / slope**2 / t_noise:.0f}x the rows to learn pi from the label as well as from the truth"
    )
    # between users: does a user's label rate say how much she likes what she is played?
    per_user = (
        df.with_columns(att=pl.Series(att))
        .group_by("user")
        .agg(
            y=pl.col("label").mean(),
            pi=pl.col("true_pref_prob").mean(),
            att=pl.col("att").mean(),
            played=(pl.col("feedback") != "unplayed").mean(),
        )
    )
    c = np.corrcoef(per_user.select("y", "pi", "att", "played").to_numpy().T)
    print(
        f"over {len(per_user)} users, correlation of the user's label rate with her mean pi {c[0, 1]:+.3f}, "
        f"her mean attention {c[0, 2]:+.3f}, her played share {c[0, 3]:+.3f}"
    )
    means = df.select("user").join(per_user, on="user", how="left")
    within = pi - means["pi"].to_numpy()
    print(f"{'user mean pi alone':36s} AUC-true {auc(means['pi'].to_numpy(), truth):.4f}")
    print(f"{'user label rate alone':36s} AUC-true {auc(means['y'].to_numpy(), truth):.4f}")
    print(
        f"{'pi within user + label-rate level':36s} AUC-true "
        f"{auc(within + (means['y'].to_numpy() - y.mean()) * pi.std() / per_user['y'].std(), truth):.4f} "
        "(each user's pi level replaced by her label rate, on pi's scale)"
    )
    lo, hi = rows[-1][1], rows[0][1]
    print(f"share of the popularity -> pi gap the label's expectation closes: {(rows[1][1] - lo) / (hi - lo):+.2f}")


if __name__ == "__main__":
    main()
