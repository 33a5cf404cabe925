"""Train one model with denoiserec on the shared ``.npz`` (run in denoiserec's own environment).

Same settings as :mod:`benchmarks.competitors`. Timed: ``Trainer.fit``'s epoch loop (its ``seconds`` record):
the per-epoch shuffle (one gather of the tensors), batch slicing, forward, the method's weights (``none``),
loss, backward, optimiser step. Not timed: reading the file, building the model, scoring the valid and test
rows after each epoch.

Usage: ``python -m benchmarks.ours --model deepfm --data D.npz --out R.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.data import SEQ
from denoiserec.data.spec import FeatureSpec
from denoiserec.train.encoded import EncodedData
from denoiserec.train.trainer import TrainConfig, Trainer

EMBED, HIDDEN, ATT_HIDDEN = 8, (256, 128, 64), (80, 40)
MODELS = {"deepfm": ("deepfm", {}), "dcnv2": ("dcnv2", {"cross_layers": 3, "structure": "parallel"}),
          # DIN over the behaviour-sequence data (benchmarks.data with seq_len): the paper's activation unit
          # (80-40, sigmoid, unnormalised), PReLU in the MLP
          "din": ("din", {"att_hidden": ATT_HIDDEN})}


def build_model(name: str, spec: FeatureSpec) -> torch.nn.Module:
    import importlib

    module, extra = MODELS[name]
    cls = importlib.import_module(f"denoiserec.models.{module}").MODEL
    return cls(spec, embed_dim=EMBED, hidden=HIDDEN, **extra)


def fuxictr_init(model: torch.nn.Module) -> None:
    """FuxiCTR's initialisation (``BaseModel.reset_parameters`` and ``FeatureEmbedding``): Xavier-normal
    linear weights, zero biases, embeddings ~ N(0, 1e-4²). With it denoiserec's DeepFM reaches FuxiCTR's AUC on
    this data; with PyTorch's default linear init and std 1e-2 embeddings it learns more slowly
    (docs/performance.md). A ``first_order`` table's weight column stays zero, as a separate first-order table
    (``embedding_dim`` 1) did, and its embedding columns draw what a separate table drew."""
    from denoiserec.nn.layers import FieldEmbedding

    fused = {id(m.table): m.dim for m in model.modules() if isinstance(m, FieldEmbedding) and m.first_order}
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Embedding) and id(m) in fused:
            with torch.no_grad():
                dim = fused[id(m)]
                m.weight[:, :dim] = torch.nn.init.normal_(m.weight.new_empty(len(m.weight), dim), std=1e-4)
        elif isinstance(m, torch.nn.Embedding) and m.embedding_dim > 1:
            torch.nn.init.normal_(m.weight, std=1e-4)


def spec_of(d: dict) -> FeatureSpec:
    """The 40 fields, plus the ``hist`` sequence when the file carries one (``seq_*``)."""
    seqs = ((SEQ, int(d["seq_len"])),) if "seq_len" in d else ()
    return FeatureSpec(categorical=tuple(str(f) for f in d["fields"]),
                       cardinalities=tuple(int(c) for c in d["cards"]), numeric=(), sequences=seqs)


def encoded(d: dict, split: str) -> EncodedData:
    cat = torch.from_numpy(np.ascontiguousarray(d[f"cat_{split}"]))
    t = {"cat": cat, "num": torch.zeros(len(cat), 0), "label": torch.from_numpy(d[f"y_{split}"])}
    if f"seq_{split}" in d:
        t[f"seq_{SEQ}"] = torch.from_numpy(np.ascontiguousarray(d[f"seq_{split}"]))
    return EncodedData(t)


def config(args, **kw) -> TrainConfig:
    """The TrainConfig of the command line's options (``kw`` overrides)."""
    base = dict(batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed, progress=False,
                threads=args.threads, amp_cpu=args.amp_cpu, amp=args.amp, tf32=args.tf32, compile=args.compile,
                compile_mode=args.compile_mode, cuda_graph=args.cuda_graph, lr_ref_batch=args.lr_ref_batch,
                warmup_steps=args.warmup_steps)
    return TrainConfig(**{**base, **kw})


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, choices=sorted(MODELS))
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp-cpu", action="store_true", help="bf16 autocast on the CPU (TrainConfig.amp_cpu)")
    p.add_argument("--compile", action="store_true", help="torch.compile the forward (TrainConfig.compile)")
    p.add_argument("--init", choices=["fuxictr", "default"], default="fuxictr",
                   help="fuxictr: FuxiCTR's initialisation (same AUC at same epochs); default: denoiserec's own")
    # GPU options (benchmarks/gpu.py): TrainConfig's device, amp, tf32, compile_mode, cuda_graph, large-batch recipe
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA (TrainConfig.amp)")
    p.add_argument("--tf32", action="store_true", help="TF32 matmuls on CUDA (TrainConfig.tf32)")
    p.add_argument("--compile-mode", default="default", help="TrainConfig.compile_mode (with --compile)")
    p.add_argument("--cuda-graph", action="store_true", help="CUDA-graph-captured step (TrainConfig.cuda_graph)")
    p.add_argument("--lr-ref-batch", type=int, default=None, help="linear LR scaling reference (TrainConfig)")
    p.add_argument("--warmup-steps", type=int, default=0, help="linear LR warm-up steps (TrainConfig)")
    p.add_argument("--steady-epochs", type=int, default=0,
                   help="after the scored epochs, train this many more (unscored) and report their throughput: "
                        "the steady state without compilation/capture in the first epoch")
    p.add_argument("--label", default=None, help="the library name written to the result")
    args = p.parse_args(argv)
    with np.load(args.data) as z:
        d = {k: z[k] for k in z.files}
    spec = spec_of(d)
    if args.model == "din" and not spec.sequences:
        raise SystemExit(f"din needs behaviour sequences: {args.data} has none (benchmarks.data with seq_len)")
    train, valid, test = encoded(d, "train"), encoded(d, "valid"), encoded(d, "test")
    torch.manual_seed(args.seed)
    model = build_model(args.model, spec)
    if args.init == "fuxictr":
        fuxictr_init(model)
    # one fit call per epoch, resumed from a checkpoint, so that valid and test are scored after every epoch
    # outside the timed loop (the checkpoint is written after the epoch's ``seconds`` are taken)
    ckpt = Path(tempfile.mkdtemp(prefix="bench_")) / "ckpt.pt"
    scores, cpu = {}, []
    for epoch in range(1, args.epochs + 1):
        trainer = Trainer(config(args, epochs=epoch, checkpoint=str(ckpt)))
        c0 = time.process_time()
        trainer.fit(model, train)
        cpu.append(time.process_time() - c0)  # the epoch plus loading/saving the checkpoint (small)
        for name, part in (("valid", valid), ("test", test)):
            scores[f"{name}_{epoch}"] = trainer.predict(model, part).numpy().astype(np.float64)
    ckpt.unlink()
    np.savez(args.out + ".scores.npz", **scores)
    times = [h["seconds"] for h in trainer.history]
    n = len(train)
    lib = args.label or ("denoiserec" + ("+bf16" if args.amp_cpu else "") + ("+compile" if args.compile else "")
                         + ("+default-init" if args.init == "default" else ""))
    result = {"lib": lib, "model": args.model, "epoch_seconds": times,
              "epoch_cpu_seconds": cpu, "train_rows": n,
              "samples_per_s": n * len(times) / sum(times), "torch": torch.__version__,
              "params": sum(p.numel() for p in model.parameters()), "device": str(trainer.device)}
    if args.steady_epochs:  # same model, a fresh trainer: only the throughput of its last epoch is used
        more = Trainer(config(args, epochs=args.steady_epochs, seed=args.seed + 1))
        more.fit(model, train)
        steady = [h["seconds"] for h in more.history]
        result.update(steady_epoch_seconds=steady, steady_samples_per_s=n / steady[-1])
    if torch.cuda.is_available() and trainer.device.type == "cuda":
        result.update(gpu=torch.cuda.get_device_name(), max_memory_gib=torch.cuda.max_memory_allocated() / 2**30)
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
