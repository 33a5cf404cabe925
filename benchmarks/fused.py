"""Fused inputs and the fused loss (issue 30), before → after on the CPU, side by side in one process.

* **before**: the model with separate tables (a ``dim``-wide ``FieldEmbedding`` and ``LinearTerm``'s own
  one-column first-order table: two gathers forward, two scatters backward) and the training step's loss as it
  was written before ``denoiserec/train/loss.py`` (a BCE pass, then ``(w · per).sum() / Σ w``);
* **after**: the library's model (DeepFM: the first-order weights are the fused table's last column, one gather)
  trained by the trainer's own step (``Trainer._step_fn``: ``weighted_bce``);
* **after+sparse_adam** (the issue's optional item): as *after* but the table gets sparse gradients and
  ``torch.optim.SparseAdam`` (lazy Adam: only the rows in the batch move; a different optimiser from the
  competitors'), fused dense Adam for everything else.

DCN-V2 has no first-order term: for it *before* and *after* differ by the loss only. Data: 40 categorical
fields with cardinalities spread geometrically from 5 to 60,000 (≈ 270k table rows, like the benchmark's
300k-row log) and skewed ids, random labels, the method ``none``; batch 4096, embed 8, MLP (256, 128, 64).
Each round trains every variant ``--steps`` steps (after 2 untimed warm-up steps the first round), variants
interleaved, and reports CPU seconds per step (``time.process_time``: the machine is shared; run with one
thread), wall seconds, and the median over rounds of *before*'s time ÷ the variant's in the same round (paired:
the load drifts between rounds). ``--table-only`` times just the inputs' forward and backward (the
embeddings and the first-order sum of DeepFM, fused vs separate tables, no MLP, no optimiser).

Usage: ``OMP_NUM_THREADS=1 nice -n 5 python -m benchmarks.fused --rounds 5 --steps 20``; on a GPU
``python -m benchmarks.fused --device cuda --rounds 5 --steps 50`` (wall time after a synchronize, ratios of
it, and the CUDA kernels per step with their device µs; untried: no GPU was lent to this work).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F


def make_spec_and_batches(n_batches: int, batch_size: int, seed: int = 0):
    from denoiserec.data.spec import FeatureSpec

    cards = np.geomspace(5, 60_000, 40).astype(int)
    spec = FeatureSpec(categorical=tuple(f"f{i}" for i in range(40)), cardinalities=tuple(int(c) for c in cards),
                       numeric=(), sequences=())
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        u = torch.rand(batch_size, 40, generator=g)
        cat = (u.square() * torch.tensor(cards, dtype=torch.float32)).long().clamp_max(torch.tensor(cards) - 1)
        batches.append({"cat": cat.int(), "num": torch.zeros(batch_size, 0),
                        "label": (torch.rand(batch_size, generator=g) < 0.3).float()})
    return spec, batches


def unfused(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the separate tables of before (same weights): a ``dim``-wide FieldEmbedding and the
    LinearTerm's own first-order table."""
    from denoiserec.nn.layers import FieldEmbedding, LinearTerm

    twin = copy.deepcopy(model)
    e = model.embed
    if not e.first_order:
        return twin
    twin.embed = FieldEmbedding(e.spec, e.dim, pool_sequences=e.pool_sequences, sequences=e.sequences)
    lin = LinearTerm(e.spec)
    with torch.no_grad():
        twin.embed.table.weight.copy_(e.table.weight[:, :e.dim])
        twin.embed.numeric.copy_(e.numeric)
        lin.weight.weight.copy_(e.table.weight[:, e.dim:])
        lin.bias.copy_(model.linear.bias)
    twin.linear = lin
    return twin


def previous_step(trainer, model, method, optim):
    """The trainer's step as it was before ``train/loss.py`` (copied from its ``_step_fn``)."""
    from denoiserec.train.batch import method_inputs, model_inputs

    def step(batch):
        with trainer._autocast():
            logits = model(model_inputs(batch))
        logits = logits.float()
        with torch.no_grad():
            losses = F.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
        with torch.set_grad_enabled(method.target_grad):
            w, y_star = method.weights_and_targets(method_inputs(batch, method.needs),
                                                   logits if method.target_grad else logits.detach(), losses)
        w = w.detach()
        per = F.binary_cross_entropy_with_logits(logits, y_star, reduction="none")
        loss = (w * per).sum() / w.sum().clamp_min(1e-12)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return loss.detach()

    return step


def sparse_adam_step(trainer, model, method, lr):
    """The trainer's loss with the table on sparse gradients and ``SparseAdam``, fused Adam for the rest."""
    from denoiserec.train.batch import model_inputs
    from denoiserec.train.loss import method_targets, weighted_bce

    table = model.embed.table
    table.sparse = True
    rest = [p for n, p in model.named_parameters() if p is not table.weight]
    optims = [torch.optim.SparseAdam([table.weight], lr=lr), torch.optim.Adam(rest, lr=lr, fused=True)]

    def step(batch):
        logits = model(model_inputs(batch)).float()
        w, y = method_targets(method, batch, logits)
        loss = weighted_bce(logits, y, w)
        for o in optims:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optims:
            o.step()
        return loss.detach()

    return step


def op_counts(step, batch, cuda: bool = False) -> tuple[int, float]:
    """In one training step: on the CPU (aten operator calls, of which leaves: calls that call no other aten
    operator) -- load-independent; on CUDA (kernels launched, their device µs)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]) as prof:
        step(batch)
        if cuda:
            torch.cuda.synchronize()
    if cuda:
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        return len(kernels), sum(e.device_time for e in kernels)
    aten = [e for e in prof.events() if e.name.startswith("aten::")]
    leaves = [e for e in aten if not any(c.name.startswith("aten::") for c in e.cpu_children)]
    return len(aten), len(leaves)


def table_only(spec, batches, args) -> None:
    """CPU ms of DeepFM's inputs alone, forward and backward: the fused table (one gather, one scatter) against
    the separate tables (two of each), interleaved rounds."""
    from denoiserec.models import build_model

    torch.manual_seed(0)
    fused = build_model("deepfm", spec, embed_dim=8, hidden=(8,))
    separate = unfused(fused)
    inputs = {"fused": lambda b: fused.embed.fields(b), "separate": lambda b: (separate.embed(b), separate.linear(b))}
    fused.linear.bias.requires_grad_(False)
    times = {k: [] for k in inputs}
    for _ in range(args.rounds):
        for k, fn in inputs.items():
            c0 = time.process_time()
            for i in range(args.steps):
                e, first = fn(batches[i % len(batches)])
                (e.sum() + first.sum()).backward()
                for m in (fused, separate):  # as the trainer's zero_grad(set_to_none=True)
                    m.zero_grad(set_to_none=True)
            times[k].append(1e3 * (time.process_time() - c0) / args.steps)
    ratios = [s / f for s, f in zip(times["separate"], times["fused"], strict=True)]
    print(f"inputs only (batch {args.batch_size}, 40 fields, embed 8), CPU ms forward+backward, {args.rounds} rounds: "
          + "; ".join(f"{k} median {statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]" for k, v in times.items())
          + f"; separate ÷ fused median {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")


def main(argv=None) -> None:
    from denoiserec.methods import build_method
    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer, make_adam

    p = argparse.ArgumentParser()
    p.add_argument("--models", default="deepfm,dcnv2")
    p.add_argument("--variants", default="before,after,after+sparse_adam")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write the per-round figures as JSON here")
    p.add_argument("--table-only", action="store_true", help="time only the inputs' forward and backward")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: wall time after a synchronize, kernels per step")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec, batches = make_spec_and_batches(8, args.batch_size)
    if args.table_only:
        return table_only(spec, batches, args)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    clock = "wall_ms" if cuda else "cpu_ms"  # the one the ratios are taken of
    trainer = Trainer(TrainConfig(progress=False, device=args.device, threads=args.threads))
    hp = {"embed_dim": 8, "hidden": (256, 128, 64)}
    variants = args.variants.split(",")
    steps, result = {}, {}
    for name in args.models.split(","):
        torch.manual_seed(0)
        base = build_model(name, spec, **hp)
        for v in variants:
            method = build_method("none")
            if v == "before":
                model = unfused(base).to(device)
                steps[name, v] = previous_step(trainer, model, method, make_adam(model, args.lr))
            elif v == "after":
                model = copy.deepcopy(base).to(device)
                steps[name, v] = trainer._step_fn(model, method, make_adam(model, args.lr))
            elif v == "after+sparse_adam":
                model = copy.deepcopy(base).to(device)
                steps[name, v] = sparse_adam_step(trainer, model, method, args.lr)
            else:
                raise SystemExit(f"unknown variant {v!r}")
            model.train()
            result[f"{name} {v}"] = {"cpu_ms": [], "wall_ms": [], "loss": []}
    for r in range(args.rounds):
        for (name, v), step in steps.items():
            if r == 0:
                for b in batches[:2]:
                    step(b)
            if cuda:
                torch.cuda.synchronize(device)
            c0, w0 = time.process_time(), time.perf_counter()
            for i in range(args.steps):
                loss = step(batches[i % len(batches)])
            if cuda:
                torch.cuda.synchronize(device)
            rec = result[f"{name} {v}"]
            rec["cpu_ms"].append(1e3 * (time.process_time() - c0) / args.steps)
            rec["wall_ms"].append(1e3 * (time.perf_counter() - w0) / args.steps)
            rec["loss"].append(float(loss))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[clock][-1]:.2f}" for k, v in result.items()),
              flush=True)
    print(f"\n{args.device}: ms per step (batch {args.batch_size}, {args.threads} thread(s), {args.rounds} interleaved "
          f"rounds of {args.steps} steps; median [min-max]; before ÷ this: median of the per-round ratios of "
          f"{clock} [min-max])\n")
    print(f"| model | variant | CPU ms/step | wall ms/step | samples/s ({clock}) | before ÷ this |")
    print("|---|---|---:|---:|---:|---:|")
    for key, rec in result.items():
        name, v = key.split(" ")
        cpu, wall = statistics.median(rec["cpu_ms"]), statistics.median(rec["wall_ms"])
        before = result.get(f"{name} before")
        ratios = [b / a for b, a in zip(before[clock], rec[clock], strict=True)] if before else [float("nan")]
        rec["ratio"] = ratios
        print(f"| {name} | {v} | {cpu:.2f} [{min(rec['cpu_ms']):.2f}-{max(rec['cpu_ms']):.2f}] | {wall:.2f} | "
              f"{args.batch_size / statistics.median(rec[clock]) * 1e3:,.0f} | "
              f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}] |")
    counts = {f"{name} {v}": op_counts(step, batches[0], cuda) for (name, v), step in steps.items()}
    what = "CUDA kernels (count / device µs)" if cuda else "aten operator calls (all / leaves)"
    print(f"\n{what} per training step:", "; ".join(f"{k} {a}/{b:.0f}" for k, (a, b) in counts.items()))
    for k, c in counts.items():
        result[k]["ops"] = c
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
