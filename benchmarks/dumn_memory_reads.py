"""How different are DUMN's memory reads across users? Mean pairwise cosine of the read vectors ``r_x`` (eq. 11)
of the first 4,096 test rows, per memory, before and after training (raw, and after subtracting the mean read);
the read addressing ``w^r`` (eq. 9): mean entropy / log m (1 = uniform) and mean max weight × m (1 = uniform); and
the user-specific part's size, mean |r − r̄| / |r̄|; and the slots themselves: mean pairwise cosine of the m slots
and |mean slot| / mean |slot| (1 = all slots alike). ``--no-write`` undoes every training write after it is made
(the memory is then the learned parameter alone), to separate what the eq.-12 writes do from what training does.
Two more diagnostics, not DUMN options: ``--zero-bias`` starts the controllers' biases at 0 (TensorFlow's dense-layer
default, where PyTorch draws them at random), ``--sharpness B`` multiplies eq. 9's cosine by a fixed ``B``.

    OMP_NUM_THREADS=1 python benchmarks/dumn_memory_reads.py configs/dumn_ablation_cpu.yaml [--seed 0] \
        [--data-path P] [--no-write] [--zero-bias] [--sharpness B] [KEY=VALUE ...]

``KEY=VALUE`` are DUMN hyper-parameters (e.g. ``key_strength=true``), parsed as YAML.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
import yaml

from denoiserec.data.encoder import encode_splits
from denoiserec.data.features import FeatureConfig
from denoiserec.experiment import load_config, load_data
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
        got[n] = (out[0].detach(), mod.address(k_r, mod.state(), beta).detach(), k_r.detach())

    for n, mem in model.memories.items():
        hooks.append(mem.register_forward_hook(lambda mod, inp, out, n=n: hook(mod, inp, out, n)))
    with torch.no_grad():
        model.eval()(rows)
    for h in hooks:
        h.remove()
    return got


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-path", help="overrides the config's data.path (e.g. ../shared/data/kuairand)")
    ap.add_argument("--no-write", action="store_true", help="undo each training write (memory = parameter only)")
    ap.add_argument("--zero-bias", action="store_true", help="controllers' biases start at 0 (TensorFlow's default)")
    ap.add_argument("--sharpness", type=float, help="eq. 9 as softmax_j(B · cos): a fixed sharpness B")
    ap.add_argument("hparams", nargs="*")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if args.data_path:
        cfg["data"]["path"] = args.data_path
    spec, parts = encode_splits(load_data(cfg), FeatureConfig.from_dict(cfg.get("features")))
    hp = {"embed_dim": 16, **{k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.hparams)}}
    if args.sharpness:
        plain = UserMemory.address
        UserMemory.address = staticmethod(lambda k, mem, beta=None: plain(k, mem, torch.tensor(args.sharpness)))
    torch.manual_seed(args.seed)
    model = build_model("dumn", spec, **hp)
    if args.zero_bias:
        for mem in model.memories.values():
            for layer in mem.controller:
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.zeros_(layer.bias)
    rows = {k: v[:4096] for k, v in parts["test"].tensors.items()}
    before = summary(model, reads(model, rows))
    if args.no_write:
        for mem in model.memories.values():
            mem.register_forward_hook(lambda mod, inp, out: (mod.written.zero_(), None)[1])
    trainer = Trainer(TrainConfig.from_dict({**(cfg.get("train") or {}), "seed": args.seed, "progress": False}))
    trainer.fit(model, parts["train"], parts["valid"])
    after = summary(model, reads(model, rows))
    auc = trainer.split_metrics(model, parts["test"])["auc"]
    flags = [f for f, on in (("no-write", args.no_write), ("zero-bias", args.zero_bias),
                             (f"sharpness {args.sharpness}", args.sharpness)) if on]
    print(f"dumn {hp} {flags} seed {args.seed}: test auc {auc:.4f}")
    print("train_aux_loss per epoch:", [round(h["train_aux_loss"], 4) for h in trainer.history])
    print("memory | when | read cos raw | read cos centred | |r − r̄|/|r̄| | key cos | entropy/log m | max w × m | "
          "slot cos | |mean slot|/|slot|")
    for n in before:
        for when, v in (("before", before[n]), ("after", after[n])):
            print(f"{n} | {when} | " + " | ".join(str(x) for x in v))


if __name__ == "__main__":
    main()
