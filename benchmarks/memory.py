"""Memory benchmark: peak resident memory and time against log size, in-memory vs streamed
(``denoiserec.data.store``), for ``data describe``, encoding for training, and one training epoch.

Each measurement runs in a fresh subprocess (``nice``, one thread) on a simulated log (``users = rows / 100``);
memory is the process's peak resident set (``VmHWM``), also shown above the interpreter-plus-imports baseline.
The encoding uses the temporal split and the ``hist`` sequence (max_len 20); the epoch trains ``--model``
(``--hparams``) on the train split with batch 4096 (no validation), from tensors saved by the in-memory
encoding (``torch.load``) or from the store; the model and its Adam state are reported apart (``model MiB``:
parameters, gradients and two moments, fp32). ``throughput`` alternates one in-memory and one streamed epoch
three times in one process and reports the medians (the load of a shared machine then hits both).
In-memory steps run only up to ``--memory-max`` rows (their peak grows with the rows).

Usage: ``nice -n 15 python -m benchmarks.memory --rows 1000000 10000000 50000000 --work /tmp/mem``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.datapath import peak_rss_mib

ROOT = Path(__file__).resolve().parent.parent
FEATURES = {"sequences": {"hist": {"max_len": 20}}}


def _train(spec, train, model_name: str, hparams: dict) -> dict:
    import torch

    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    model = build_model(model_name, spec, **hparams)
    trainer = Trainer(TrainConfig(epochs=1, batch_size=4096, progress=False, threads=1))
    trainer.fit(model, train, None)
    params = sum(p.numel() for p in model.parameters())
    h = trainer.history[0]
    return {"epoch_seconds": h["seconds"], "rows_per_second": len(train) / h["seconds"],
            "train_loss": h["train_loss"], "model_mib": params * 4 * 4 / 2**20, "train_rows": len(train)}


def step(which: str, mode: str, log: Path, work: Path, rows: int, model: str, hparams: dict) -> dict:
    """One measurement, in this process."""
    import polars as pl
    import torch

    from denoiserec.data.features import FeatureConfig

    extra: dict = {}
    t0 = time.perf_counter()
    store_dir = work / f"store_{rows}"
    tensors = work / f"memory_{rows}.pt"
    if which == "simulate":
        from denoiserec.data.simulate import SimConfig, simulate_to

        simulate_to(SimConfig(users=rows // 100, items=50_000, artists=5_000), log.parent, progress=False)
    elif which == "describe":
        from denoiserec.data import describe

        if mode == "memory":
            df = pl.read_parquet(log)
            extra["stats"] = describe.stats(df)
            describe.by_position(df)
        else:
            extra["stats"] = describe.stats(pl.scan_parquet(log))
            describe.by_position_streamed(log)
    elif which == "encode":
        if mode == "memory":
            from denoiserec.data.encoder import encode_splits
            from denoiserec.data.split import split

            spec, parts = encode_splits(split(pl.read_parquet(log)), FeatureConfig.from_dict(FEATURES))
            seconds = time.perf_counter() - t0
            torch.save({"spec": spec, "train": parts["train"].tensors}, tensors)
            extra["rows_out"] = {k: len(v) for k, v in parts.items()}
            return {"seconds": seconds, **extra}
        from denoiserec.data.store import build_store

        shutil.rmtree(store_dir, ignore_errors=True)
        build_store(log, store_dir, None, FeatureConfig.from_dict(FEATURES))
        extra["store_gib"] = sum(f.stat().st_size for f in store_dir.iterdir()) / 2**30
    elif which == "throughput":  # both paths in this process, alternating, so that load changes hit both
        from denoiserec.data.store import open_store

        spec, parts = open_store(store_dir)
        streamed = parts["train"]
        memory = streamed.load()
        speeds: dict[str, list[float]] = {"memory": [], "stream": []}
        for _ in range(3):
            for name, data in (("memory", memory), ("stream", streamed)):
                speeds[name].append(_train(spec, data, model, hparams)["rows_per_second"])
        extra["rows_per_second"] = {k: sorted(v)[1] for k, v in speeds.items()}
        extra["all_rows_per_second"] = speeds
    elif which == "epoch":
        if mode == "memory":
            from denoiserec.train.encoded import EncodedData

            saved = torch.load(tensors, weights_only=False)
            extra.update(_train(saved["spec"], EncodedData(saved["train"]), model, hparams))
        else:
            from denoiserec.data.store import open_store

            spec, parts = open_store(store_dir)
            extra.update(_train(spec, parts["train"], model, hparams))
    return {"seconds": time.perf_counter() - t0, **extra}


def run_child(which: str, mode: str, log: Path, work: Path, rows: int, model: str, hparams: str) -> dict:
    cmd = ["nice", "-n", "15", sys.executable, "-m", "benchmarks.memory", "--child", which, mode, str(log),
           str(work), str(rows), "--model", model, "--hparams", hparams]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
    ap.add_argument("--memory-max", type=int, default=1_000_000, help="largest log for the in-memory steps")
    ap.add_argument("--work", type=Path, default=Path("/tmp/denoiserec-memory"))
    ap.add_argument("--model", default="deepfm")
    ap.add_argument("--hparams", default='{"embed_dim": 8}', help="the model's hyper-parameters (JSON)")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the simulated logs and stores")
    ap.add_argument("--steps", nargs="+", default=["describe", "encode", "epoch", "throughput"],
                    help="throughput: one epoch in memory and streamed, alternating 3 times in one process "
                         "(median rows/s; needs the store, i.e. encode, and rows <= --memory-max)")
    ap.add_argument("--child", nargs=5, metavar=("STEP", "MODE", "LOG", "WORK", "ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, mode, log, work, rows = args.child
        baseline = peak_rss_mib()
        res = step(which, mode, Path(log), Path(work), int(rows), args.model, json.loads(args.hparams))
        print(json.dumps({**res, "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline}, default=str))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    print("| rows | step | path | seconds | peak RSS MiB | above imports MiB | notes |")
    print("|---:|---|---|---:|---:|---:|---|")
    for rows in args.rows:
        log = args.work / f"sim_{rows}" / "events.parquet"
        plan = [] if log.exists() else [("simulate", "stream")]
        for which in args.steps:
            if rows <= args.memory_max and which != "throughput":
                plan.append((which, "memory"))
            if which != "throughput" or rows <= args.memory_max:
                plan.append((which, "stream" if which != "throughput" else "both"))
        for which, mode in plan:
            r = run_child(which, mode, log, args.work, rows, args.model, args.hparams)
            r.update(rows=rows, step=which, path=mode)
            results.append(r)
            notes = r.get("error", "")
            if "epoch_seconds" in r:
                notes = (f"epoch {r['epoch_seconds']:.1f} s, {r['rows_per_second']:,.0f} rows/s, "
                         f"loss {r['train_loss']:.5f}, model+Adam {r['model_mib']:.0f} MiB")
            if which == "throughput" and "rows_per_second" in r:
                m, st = r["rows_per_second"]["memory"], r["rows_per_second"]["stream"]
                notes = f"median of 3 epochs: in memory {m:,.0f} rows/s, streamed {st:,.0f} rows/s ({st / m - 1:+.1%})"
            if "store_gib" in r:
                notes = f"store {r['store_gib']:.2f} GiB on disk"
            if "error" in r:
                print(f"| {rows:,} | {which} | {mode} | - | - | - | {notes} |", flush=True)
                continue
            print(f"| {rows:,} | {which} | {mode} | {r['seconds']:.1f} | {r['peak_rss_mib']:,.0f} | "
                  f"{r['peak_rss_mib'] - r['baseline_rss_mib']:,.0f} | {notes} |", flush=True)
        if not args.keep:
            shutil.rmtree(args.work / f"store_{rows}", ignore_errors=True)
            (args.work / f"memory_{rows}.pt").unlink(missing_ok=True)
            shutil.rmtree(log.parent, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
