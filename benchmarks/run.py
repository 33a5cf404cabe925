"""Side-by-side benchmark: denoiserec vs DeepCTR-Torch and FuxiCTR on the same data, one table.

``python -m benchmarks.run --quick`` (CPU, < 10 min on 2 cores): builds the competitors' venv once
(:mod:`benchmarks.venv`), writes the shared 40-field data (:mod:`benchmarks.data`; for DIN the same rows plus a
behaviour sequence of ``--seq-len`` items, in a file of its own), trains every model in every
library as a subprocess (one at a time, same threads, batch, embedding, MLP, epochs, lr), scores the same
test rows and prints samples/s, the ratio to denoiserec, and test AUC; then the data-path benchmark
(:mod:`benchmarks.datapath`). Results go to ``.bench_venvs/results/<tag>.json`` and ``.md``.

Throughput = training rows × epochs / wall seconds of the training loop (each runner's docstring says what
its loop includes); ``cpu/sample`` is process CPU time per sample, steadier than wall time on a shared
machine (for FuxiCTR it leaves out its DataLoader worker process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import data as bdata
from benchmarks import venv

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench_venvs"
LIBS = ("denoiserec", "denoiserec+bf16", "denoiserec+compile", "denoiserec+default-init", "deepctr", "fuxictr")
DEFAULT_LIBS = "denoiserec,denoiserec+bf16,deepctr,fuxictr"
SEQUENCE_MODELS = ("din",)  # trained on the data with behaviour sequences


def available_models() -> list[str]:
    """DeepFM, plus DCN-V2 and DIN when their denoiserec modules exist on this checkout."""
    models = ["deepfm"]
    if (ROOT / "denoiserec" / "models" / "dcnv2.py").exists():
        models.append("dcnv2")
    if (ROOT / "denoiserec" / "models" / "din.py").exists():
        models.append("din")
    return models


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Exact ROC AUC with ties counted half (rank statistic), the same function for every library."""
    from scipy.stats import rankdata

    pos = y > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    r = rankdata(s)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def run_one(lib: str, model: str, data: Path, args, out_dir: Path) -> dict:
    out = out_dir / f"{lib}_{model}.json"
    common = ["--model", model, "--data", str(data), "--out", str(out), "--epochs", str(args.epochs),
              "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--threads", str(args.threads),
              "--seed", str(args.seed)]
    if lib.startswith("denoiserec"):
        flags = (["--amp-cpu"] if "+bf16" in lib else []) + (["--compile"] if "+compile" in lib else [])
        flags += ["--init", "default"] if "+default-init" in lib else []
        cmd = [sys.executable, "-m", "benchmarks.ours", *common, *flags]
    else:
        cmd = [str(venv.python()), "-m", "benchmarks.competitors", "--lib", lib, *common]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[{lib}/{model}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return {"lib": lib, "model": model, "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(out.read_text())
    res["process_seconds"] = time.perf_counter() - t0
    with np.load(str(out) + ".scores.npz") as sc, np.load(data) as z:
        res["valid_auc"] = [auc(z["y_valid"], sc[f"valid_{e}"]) for e in range(1, args.epochs + 1)]
        res["test_auc_by_epoch"] = [auc(z["y_test"], sc[f"test_{e}"]) for e in range(1, args.epochs + 1)]
    res["best_epoch"] = int(np.argmax(res["valid_auc"])) + 1  # model selection on valid, reported on test
    res["test_auc"] = res["test_auc_by_epoch"][res["best_epoch"] - 1]
    res["cpu_us_per_sample"] = 1e6 * sum(res["epoch_cpu_seconds"]) / (res["train_rows"] * len(res["epoch_cpu_seconds"]))
    print(f"  {lib:<18} {model:<6} {res['samples_per_s']:>10,.0f} samples/s  test AUC by epoch "
          f"{[round(a, 4) for a in res['test_auc_by_epoch']]}", flush=True)
    return res


def table(results: list[dict]) -> str:
    lines = ["| model | library | samples/s | denoiserec ÷ this | CPU µs/sample | test AUC (best-valid epoch) "
             "| ΔAUC vs denoiserec |", "|---|---|---:|---:|---:|---:|---:|"]
    by = {(r["model"], r["lib"]): r for r in results}
    for model in dict.fromkeys(r["model"] for r in results):
        ours = by.get((model, "denoiserec"), {})
        for lib in LIBS:
            r = by.get((model, lib))
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {model} | {lib} | failed: {' '.join(r['error'])[:60]} | | | | |")
                continue
            ratio = (ours["samples_per_s"] / r["samples_per_s"]) if "samples_per_s" in ours else float("nan")
            d_auc = r["test_auc"] - ours["test_auc"] if "test_auc" in ours else float("nan")
            lines.append(f"| {model} | {lib} | {r['samples_per_s']:,.0f} | {ratio:.2f} | "
                         f"{r['cpu_us_per_sample']:.1f} | {r['test_auc']:.4f} (ep {r['best_epoch']}) | {d_auc:+.4f} |")
    return "\n".join(lines)


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count(),
            "load_before": os.getloadavg()}
    try:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if ln.startswith("Model name")),
                           "?")
    except OSError:
        info["cpu"] = platform.processor()
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="default: 1M rows, 3 epochs; quick: 300k rows, 2 epochs")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for every library (1: the machine is shared)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default=None, help="comma-separated (default: all available)")
    p.add_argument("--seq-len", type=int, default=20, help="history length of the DIN data")
    p.add_argument("--libs", default=DEFAULT_LIBS, help=f"comma-separated, of {','.join(LIBS)}")
    p.add_argument("--no-datapath", action="store_true")
    p.add_argument("--datapath-rows", type=int, default=None)
    p.add_argument("--tag", default=None)
    args = p.parse_args(argv)
    rows = args.rows or (300_000 if args.quick else 1_000_000)
    args.epochs = args.epochs or (2 if args.quick else 3)
    models = args.models.split(",") if args.models else available_models()
    libs = [lib for lib in args.libs.split(",") if lib]
    tag = args.tag or ("quick" if args.quick else f"rows{rows}")
    t_start = time.perf_counter()
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, load {info['load_before']}", flush=True)
    if any(not lib.startswith("denoiserec") for lib in libs):
        print("competitors' venv:", venv.ensure(), flush=True)
    files, meta = {}, {}
    for seq_len in dict.fromkeys(args.seq_len if m in SEQUENCE_MODELS else 0 for m in models):
        data = files[seq_len] = bdata.path_for(WORK / "data", rows, args.seed, seq_len)
        if not data.exists():
            what = f"40 fields + a {seq_len}-item history" if seq_len else "40 fields"
            print(f"building data ({rows:,} rows, {what}) -> {data}", flush=True)
            print(bdata.build(data, rows, args.seed, seq_len), flush=True)
        meta[data.name] = json.loads(data.with_suffix(".json").read_text())
    out_dir = WORK / "results" / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    first = next(iter(meta.values()))
    print(f"training: {first['train']:,} rows × {args.epochs} epoch(s), batch {args.batch_size}, "
          f"{args.threads} thread(s); models {models}", flush=True)
    results = [run_one(lib, model, files[args.seq_len if model in SEQUENCE_MODELS else 0], args, out_dir)
               for model in models for lib in libs]
    report = {"machine": info, "data": meta, "settings": vars(args), "results": results}
    text = table(results)
    if not args.no_datapath:
        from benchmarks import datapath

        dp = datapath.run_both(args.datapath_rows or (300_000 if args.quick else 1_000_000), args.seed)
        report["datapath"] = dp
        text += "\n\n" + datapath.table(dp)
    report["machine"]["load_after"] = os.getloadavg()
    report["seconds"] = time.perf_counter() - t_start
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    (out_dir / "table.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\nload average before/after: {info['load_before']} / {report['machine']['load_after']}; "
          f"total {report['seconds']:.0f} s; results in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
