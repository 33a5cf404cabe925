"""How different are DUMN's memory reads across users? Mean pairwise cosine of the read vectors ``r_x`` (eq. 11)
of the first 4,096 test rows, per memory, before and after training (raw, and after subtracting the mean read);
the read addressing ``w^r`` (eq. 9): mean entropy / log m (1 = uniform) and mean max weight × m (1 = uniform); and
the user-specific part's size, mean |r − r̄| / |r̄|; and the slots themselves: mean pairwise cosine of the m slots
and |mean slot| / mean |slot| (1 = all slots alike). ``--no-write`` undoes every training write after it is made
(the memory is then the learned parameter alone), to separate what the eq.-12 writes do from what training does.
Whether the model uses what differs between users' reads: test AUC with every read replaced by the mean read, and
with each row's reads replaced by another row's (a fixed permutation); and whether a user's reads agree with each
other more than with other users' (mean centred cosine between rows of the same user vs of different users, Fig. 4).
Two more diagnostics, not DUMN options: ``--zero-bias`` starts the controllers' biases at 0 (TensorFlow's dense-layer
default, where PyTorch draws them at random), ``--sharpness B`` multiplies eq. 9's cosine by a fixed ``B``.
``--bundles FOLDER --label L`` measures the models a ``denoiserec run`` already trained and saved
(``FOLDER/bundles/L__none__seed<k>``, the config's world) instead of training: "after" statistics only.

    OMP_NUM_THREADS=1 python benchmarks/dumn_memory_reads.py configs/dumn_ablation_cpu.yaml [--seeds 0 1 2 3 4] \
        [--data-path P] [--no-write] [--zero-bias] [--sharpness B] [KEY=VALUE ...]
    OMP_NUM_THREADS=1 python benchmarks/dumn_memory_reads.py docs/results/dumn_world_cpu/config.yaml \
        --bundles docs/results/dumn_world_cpu --label dumn_user --seeds 0 1 2 3 4

``KEY=VALUE`` are DUMN hyper-parameters (e.g. ``key_strength=true``, ``memory_state=user``: each row's memory written
by her own sequence; its address statistics are then over each row's own state), parsed as YAML.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from scipy.stats import ttest_rel

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.experiment import check_config, load_config, load_data
from denoiserec.models import build_model
from denoiserec.nn.sequence import UserMemory
from denoiserec.train.trainer import TrainConfig, Trainer


def mean_pairwise_cos(x: torch.Tensor) -> float:
    z = F.normalize(x.float(), dim=-1)
    n = len(z)
    return float(((z @ z.T).sum() - n) / (n * (n - 1)))


def reads(model, rows) -> dict[str, tuple[torch.Tensor, ...]]:
    """Per memory: (read vectors ``r [B, Z]``, read addressing ``w^r [B, m]``, read keys ``k [B, Z]``) of ``rows``
    in evaluation mode."""
    got, hooks = {}, []

    def hook(mod, inp, out, n):
        k_r = mod.controller(inp[0])[:, :mod.width]
        beta = 1.0 + F.softplus(mod.controller(inp[0])[:, 4 * mod.width:4 * mod.width + 1]) if mod.key_strength \
            else None
        if len(inp) > 2 and inp[2] is not None:  # memory_state: user -- each row reads her own state
            w = mod.address_rows(k_r, mod.user_state(inp[2], inp[3]), beta)
        else:
            w = mod.address(k_r, mod.state(), beta)
        got[n] = (out[0].detach(), w.detach(), k_r.detach())

    for n, mem in model.memories.items():
        hooks.append(mem.register_forward_hook(lambda mod, inp, out, n=n: hook(mod, inp, out, n)))
    with torch.no_grad():
        model.eval()(rows)
    for h in hooks:
        h.remove()
    return got


def user_agreement(v: torch.Tensor, users: torch.Tensor) -> tuple[float, float]:
    """Mean cosine of centred reads between rows of the same user and between rows of different users."""
    z = F.normalize((v - v.mean(0)).float(), dim=-1)
    cos = z @ z.T
    same = users[:, None] == users[None, :]
    off = ~torch.eye(len(z), dtype=torch.bool)
    return float(cos[same & off].mean()), float(cos[~same].mean())


def substituted_auc(trainer, model, test, how: str, mean_reads: dict[str, torch.Tensor]) -> dict[str, float]:
    """Test AUC (and AUC vs the hidden truth, on simulated data) with the memory reads replaced: ``mean`` (every
    row reads the mean read) or ``permuted``."""
    hooks = []
    for n, mem in model.memories.items():
        def hook(mod, inp, out, n=n):
            r = out[0]
            if how == "mean":
                return mean_reads[n].expand_as(r), out[1]
            g = torch.Generator().manual_seed(0)
            return r[torch.randperm(len(r), generator=g)], out[1]
        hooks.append(mem.register_forward_hook(hook))
    try:
        return test_aucs(trainer, model, test)
    finally:
        for h in hooks:
            h.remove()


def test_aucs(trainer, model, test) -> dict[str, float]:
    m = trainer.split_metrics(model, test)
    return {k: m[k] for k in ("auc", "auc_true") if k in m}


def summary(model, r: dict[str, tuple[torch.Tensor, ...]]) -> dict[str, tuple[float, ...]]:
    """memory -> (read cos raw, centred, spread, key cos, entropy / log m, max weight × m, slot cos, mean slot)."""
    out = {}
    for n, (v, w, k) in r.items():
        m = w.shape[1]
        ent = float((-(w * w.clamp_min(1e-30).log()).sum(1)).mean() / torch.log(torch.tensor(float(m))))
        slots = model.memories[n].state().detach()
        homog = float(slots.mean(0).norm() / slots.norm(dim=1).mean())
        spread = float((v - v.mean(0)).norm(dim=1).mean() / v.mean(0).norm())
        out[n] = tuple(round(x, 4) for x in (mean_pairwise_cos(v), mean_pairwise_cos(v - v.mean(0)), spread,
                                             mean_pairwise_cos(k), ent,
                                             float(w.max(1).values.mean() * m), mean_pairwise_cos(slots), homog))
    return out


def read_statistics(model, rows, users: torch.Tensor) -> tuple[dict, dict[str, tuple[float, ...]]]:
    """The reads of ``rows`` and, per memory, :func:`summary`'s columns then :func:`user_agreement`'s."""
    got = reads(model, rows)
    stats = summary(model, got)
    return got, {n: stats[n] + user_agreement(v[0], users) for n, v in got.items()}


def saved_seed(args, cfg, df, seed: int) -> dict:
    """A saved run's DUMN (``--bundles``): its read statistics and the substituted-read test AUCs."""
    from denoiserec.bundle import load

    bundle = load(f"{args.bundles}/bundles/{args.label}__none__seed{seed}")
    split = df["split"].to_numpy()
    parts = bundle.encoder.transform(df, {n: np.flatnonzero(split == c) for c, n in enumerate(("train", "valid",
                                                                                               "test"))})
    model, spec = bundle.model, bundle.spec
    rows = {k: v[:4096] for k, v in parts["test"].tensors.items()}
    got, after = read_statistics(model, rows, rows["cat"][:, spec.user_field])
    trainer = Trainer(TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": seed, "progress": False}))
    mean_reads = {n: v[0].mean(0) for n, v in got.items()}
    auc = {"trained": test_aucs(trainer, model, parts["test"])}
    auc.update({how: substituted_auc(trainer, model, parts["test"], how, mean_reads) for how in ("mean", "permuted")})
    return {"before": after, "after": after, "auc": auc, "aux": []}


def one_seed(args, cfg, spec, parts, hp: dict, seed: int) -> dict:
    """Train DUMN once; the read statistics before and after, and the substituted-read test AUCs."""
    torch.manual_seed(seed)
    model = build_model("dumn", spec, **hp)
    if args.zero_bias:
        for mem in model.memories.values():
            for layer in mem.controller:
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.zeros_(layer.bias)
    rows = {k: v[:4096] for k, v in parts["test"].tensors.items()}
    users = rows["cat"][:, spec.user_field]
    _, before = read_statistics(model, rows, users)
    if args.no_write:
        for mem in model.memories.values():
            mem.register_forward_hook(lambda mod, inp, out: (mod.written.zero_(), None)[1])
    trainer = Trainer(TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": seed, "progress": False}))
    trainer.fit(model, parts["train"], parts["valid"])
    got, after = read_statistics(model, rows, users)
    mean_reads = {n: v[0].mean(0) for n, v in got.items()}
    auc = {"trained": test_aucs(trainer, model, parts["test"])}
    auc.update({how: substituted_auc(trainer, model, parts["test"], how, mean_reads) for how in ("mean", "permuted")})
    return {"before": before, "after": after, "auc": auc,
            "aux": [round(h["train_aux_loss"], 4) for h in trainer.history]}


COLUMNS = ("read cos raw", "read cos centred", "|r − r̄|/|r̄|", "key cos", "entropy/log m", "max w × m", "slot cos",
           "|mean slot|/|slot|", "centred cos same user", "centred cos other users")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--data-path", help="overrides the config's data.path (e.g. ../shared/data/kuairand)")
    ap.add_argument("--no-write", action="store_true", help="undo each training write (memory = parameter only)")
    ap.add_argument("--zero-bias", action="store_true", help="controllers' biases start at 0 (TensorFlow's default)")
    ap.add_argument("--sharpness", type=float, help="eq. 9 as softmax_j(B · cos): a fixed sharpness B")
    ap.add_argument("--bundles", help="a results folder: measure its saved DUMN runs instead of training")
    ap.add_argument("--label", default="dumn", help="with --bundles: the DUMN model's label in that folder")
    ap.add_argument("hparams", nargs="*")
    args = ap.parse_intermixed_args()
    cfg = load_config(args.config)
    if args.data_path:
        cfg = check_config({**cfg.to_dict(), "data": {**cfg.given("data"), "path": args.data_path}}, args.config)
    df = load_data(cfg)
    spec, parts = (None, None) if args.bundles else encode_splits(df, FeatureConfig.from_dict(cfg.get("features")))
    hp = {"embed_dim": 16, **{k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.hparams)}}
    if args.sharpness:
        plain = UserMemory.address
        UserMemory.address = staticmethod(lambda k, mem, beta=None: plain(k, mem, torch.tensor(args.sharpness)))
    flags = [f for f, on in (("no-write", args.no_write), ("zero-bias", args.zero_bias),
                             (f"sharpness {args.sharpness}", args.sharpness)) if on]
    res = []
    for seed in args.seeds:
        r = saved_seed(args, cfg, df, seed) if args.bundles else one_seed(args, cfg, spec, parts, hp, seed)
        res.append(r)
        a = r["auc"]
        print(f"seed {seed}: test auc {a['trained']['auc']:.4f}, every read = the mean read {a['mean']['auc']:.4f}, "
              f"each row another row's reads {a['permuted']['auc']:.4f}; train_aux_loss per epoch {r['aux']}",
              flush=True)
    what = f"saved runs {args.bundles}/bundles/{args.label}__none__seed<k> ('before' = 'after')" if args.bundles \
        else f"dumn {hp} {flags}"
    print(f"\n{cfg['name']}: {what}, seeds {args.seeds} (mean ± std over seeds; reads of the first "
          "4,096 test rows)\n")
    print("| memory | when | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for n in res[0]["before"]:
        for when in ("before", "after"):
            vals = np.array([r[when][n] for r in res])
            sd = vals.std(0, ddof=1) if len(res) > 1 else None
            cells = [f"{m:.4f}" + (f" ± {sd[i]:.4f}" if sd is not None else "") for i, m in enumerate(vals.mean(0))]
            print(f"| {n} | {when} | " + " | ".join(cells) + " |")
    for metric, name in (("auc", "test AUC"), ("auc_true", "test AUC vs the true preference")):
        if metric not in res[0]["auc"]["trained"]:
            continue
        trained = np.array([r["auc"]["trained"][metric] for r in res])
        for how, text in (("mean", "every read replaced by the mean read"),
                          ("permuted", "each row given another row's reads")):
            sub = np.array([r["auc"][how][metric] for r in res])
            d = sub - trained
            p = f", paired t-test p = {ttest_rel(sub, trained).pvalue:.2g}" if len(res) > 1 and d.std() > 0 else ""
            print(f"\n{name} {trained.mean():.4f}; {text}: {sub.mean():.4f} (difference {d.mean():+.5f}, "
                  f"min {d.min():+.5f}, max {d.max():+.5f}{p})")


if __name__ == "__main__":
    main()
