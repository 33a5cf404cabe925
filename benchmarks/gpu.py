"""Side-by-side GPU benchmark (run by ``benchmarks/gpu_check.sh``): denoiserec's DeepFM and DCN-V2 in each
precision / fast path against FuxiCTR and DeepCTR-Torch on the same data, in one process tree, one table.

``python -m benchmarks.gpu --out DIR`` on a CUDA machine; ``--cpu-dry-run`` runs the same code on the CPU with
tiny sizes (to check that it parses and runs). Data: the 40-field simulated log of :mod:`benchmarks.data`
(``--rows``, 80/10/10 split), embedding 8, MLP 256-128-64, Adam ``--lr``, batch ``--batch-size``; every run
trains ``--epochs`` epoch(s) and is scored on the same test rows (the same rank AUC for every library).

Throughput: training rows × epochs / wall seconds of the timed epochs (first epoch, compilation and graph
capture included); for denoiserec also ``steady``: a further ``--steady-epochs`` epochs on the same model, the
last one's samples/s. Then the per-step profile of :mod:`benchmarks.gpu_profile` (plain, graph and bf16 steps:
kernels per step, device time per kernel class, fraction of the peak FLOP/s and bandwidth). Variants
(``--variants``):

* ``denoiserec`` fp32 (the default), ``+bf16`` (``amp``), ``+tf32``, ``+graph`` (``cuda_graph``),
  ``+compile`` (``torch.compile``, mode default), ``+compile-ro`` (mode ``reduce-overhead``: CUDA graphs
  through Inductor), ``+large`` (batch ``--large-batch`` with the large-batch recipe: LR scaled linearly from
  ``--batch-size``, ``--warmup-steps`` of warm-up), ``+large-graph``;
* ``fuxictr`` 2.3.10 and ``deepctr`` (DeepCTR-Torch 0.3.0) on the same device, run with ``--competitor-python``.

Runs go in order of importance and stop starting new ones once ``--budget-s`` has passed (the table says
which were skipped). Writes ``DIR/gpu_table.md`` and ``DIR/gpu_report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import data as bdata
from benchmarks.run import auc

ROOT = Path(__file__).resolve().parent.parent
DENOISEREC = {  # variant -> benchmarks.ours flags
    "denoiserec": [],
    "denoiserec+graph": ["--cuda-graph"],
    "denoiserec+bf16": ["--amp"],
    "denoiserec+tf32": ["--tf32"],
    "denoiserec+compile": ["--compile"],
    "denoiserec+compile-ro": ["--compile", "--compile-mode", "reduce-overhead"],
    "denoiserec+large": ["LARGE"],
    "denoiserec+large-graph": ["LARGE", "--cuda-graph"],
}
COMPETITORS = ("fuxictr", "deepctr")
DEFAULT_VARIANTS = ("denoiserec,denoiserec+graph,fuxictr,denoiserec+bf16,denoiserec+compile-ro,denoiserec+large,"
                    "denoiserec+large-graph,denoiserec+tf32,denoiserec+compile,deepctr")
GPU_ONLY = ("+bf16", "+tf32", "+graph", "-ro")  # variants that mean nothing on a CPU dry run


def run_one(variant: str, model: str, data: Path, args, work: Path) -> dict:
    out = work / f"{variant}_{model}.json"
    batch, extra = args.batch_size, []
    flags = DENOISEREC.get(variant, [])
    if "LARGE" in flags:  # the large-batch recipe: LR scaled from the reference batch, linear warm-up
        batch = args.large_batch
        extra = ["--lr-ref-batch", str(args.batch_size), "--warmup-steps", str(args.warmup_steps)]
        flags = [f for f in flags if f != "LARGE"]
    common = ["--model", model, "--data", str(data), "--out", str(out), "--epochs", str(args.epochs),
              "--batch-size", str(batch), "--lr", str(args.lr), "--threads", str(args.threads),
              "--seed", str(args.seed), "--device", args.device]
    if variant in DENOISEREC:
        cmd = [sys.executable, "-m", "benchmarks.ours", *common, *flags, *extra, "--label", variant,
               "--steady-epochs", str(args.steady_epochs)]
    else:
        cmd = [args.competitor_python, "-m", "benchmarks.competitors", "--lib", variant, *common]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
           "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        return {"lib": variant, "model": model, "error": [f"timed out after {args.run_timeout} s"]}
    if proc.returncode != 0:
        print(f"[{variant}/{model}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr, flush=True)
        return {"lib": variant, "model": model, "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(out.read_text())
    res.update(lib=variant, batch_size=batch, process_seconds=time.perf_counter() - t0)
    with np.load(str(out) + ".scores.npz") as sc, np.load(data) as z:
        res["test_auc"] = auc(z["y_test"], sc[f"test_{args.epochs}"])
    steady = f", steady {res['steady_samples_per_s']:,.0f}" if "steady_samples_per_s" in res else ""
    print(f"  {variant:<24} {model:<6} {res['samples_per_s']:>12,.0f} samples/s{steady}  test AUC "
          f"{res['test_auc']:.4f}", flush=True)
    return res


def table(results: list[dict], skipped: list[str]) -> str:
    lines = ["| model | library / variant | batch | samples/s (timed epochs) | samples/s (steady) | ÷ FuxiCTR "
             "(steady or timed) | test AUC | ΔAUC vs FuxiCTR |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model in dict.fromkeys(r["model"] for r in results):
        fuxi = next((r for r in results if r["model"] == model and r["lib"] == "fuxictr" and "error" not in r), {})
        for r in (r for r in results if r["model"] == model):
            if "error" in r:
                lines.append(f"| {model} | {r['lib']} | | failed: {' '.join(r['error'])[:80]} | | | | |")
                continue
            speed = r.get("steady_samples_per_s", r["samples_per_s"])
            ratio = f"{speed / fuxi['samples_per_s']:.1f}" if fuxi else "–"
            d_auc = f"{r['test_auc'] - fuxi['test_auc']:+.4f}" if fuxi else "–"
            steady = f"{r['steady_samples_per_s']:,.0f}" if "steady_samples_per_s" in r else "–"
            lines.append(f"| {model} | {r['lib']} | {r['batch_size']} | {r['samples_per_s']:,.0f} | {steady} | "
                         f"{ratio} | {r['test_auc']:.4f} | {d_auc} |")
    if skipped:
        lines.append(f"\nNot run (time budget or not applicable): {', '.join(skipped)}")
    return "\n".join(lines)


def profile(model: str, flags: list[str], data: Path, args, work: Path) -> dict:
    """One :mod:`benchmarks.gpu_profile` run (a subprocess: its own CUDA state)."""
    out = work / f"profile_{model}_{'_'.join(f.strip('-') for f in flags) or 'plain'}.json"
    cmd = [sys.executable, "-m", "benchmarks.gpu_profile", "--data", str(data), "--model", model, "--device",
           args.device, "--batch-size", str(args.batch_size), "--out", str(out), *flags]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        return {"model": model, "flags": flags, "error": "timed out"}
    if proc.returncode != 0:
        print(f"[profile {model} {flags}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr, flush=True)
        return {"model": model, "flags": flags, "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(out.read_text())
    res["flags"] = flags
    return res


def profile_table(profiles: list[dict]) -> str:
    lines = ["| model | step | ms/step | samples/s | kernels/step | kernel µs/step | µs per class "
             "(gemm / elementwise / embedding-index / reduction / adam / other) | % fp32 peak FLOP/s "
             "| % HBM bandwidth (Adam bytes only) |", "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in profiles:
        step = " ".join(r["flags"]) or "plain"
        if "error" in r:
            lines.append(f"| {r['model']} | {step} | failed: {' '.join(r['error'])[:80]} | | | | | | |")
            continue
        cls = r["classes"]
        parts = " / ".join(f"{cls.get(c, {}).get('us_per_step', 0):.0f}"
                           for c in ("gemm", "elementwise", "embedding / index", "reduction", "adam", "other"))
        lines.append(f"| {r['model']} | {step} | {r['ms_per_step']:.3f} | {r['samples_per_s']:,.0f} | "
                     f"{r['kernels_per_step']:.0f} | {r['kernel_us_per_step']:.0f} | {parts} | "
                     f"{100 * r['fraction_of_peak_flops']:.1f} | "
                     f"{100 * r['fraction_of_peak_bandwidth_adam_only']:.1f} |")
    return "\n".join(lines)


def machine(device: str) -> dict:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, sms=props.multi_processor_count, memory_gib=props.total_memory / 2**30)
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for gpu_table.md and gpu_report.json")
    p.add_argument("--cpu-dry-run", action="store_true", help="CPU, tiny data: check that everything runs")
    p.add_argument("--rows", type=int, default=2_000_000, help="simulated rows (80 %% train)")
    p.add_argument("--data", default=None, help="the .npz of benchmarks.data, built here unless it exists")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steady-epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--large-batch", type=int, default=65536)
    p.add_argument("--warmup-steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="deepfm,dcnv2")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--competitor-python", default=sys.executable,
                   help="the interpreter that imports fuxictr and deepctr_torch (default: this one)")
    p.add_argument("--budget-s", type=float, default=240, help="start no run after this many seconds")
    p.add_argument("--run-timeout", type=float, default=180)
    p.add_argument("--no-profile", dest="profile", action="store_false", help="skip the per-step profile")
    args = p.parse_args(argv)
    if args.cpu_dry_run:
        args.device, args.rows, args.batch_size, args.large_batch, args.warmup_steps = "cpu", 6000, 256, 1024, 2
        args.steady_epochs, args.threads = 1, 1
    else:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("benchmarks.gpu: no CUDA device (use --cpu-dry-run to check the script on a CPU)")
        args.device = "cuda:0"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    info = machine(args.device)
    print(f"machine: {info}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_bench_"))
    data = Path(args.data) if args.data else work / f"sim{args.rows}.npz"
    if data.exists() and data.with_suffix(".json").exists():  # built ahead (gpu_check.sh: while the tests run)
        meta = json.loads(data.with_suffix(".json").read_text())
    else:
        meta = bdata.build(data, args.rows, args.seed)
    print(f"data: {meta}", flush=True)
    results, skipped = [], []
    for variant in [v for v in args.variants.split(",") if v]:
        for model in [m for m in args.models.split(",") if m]:
            name = f"{variant}/{model}"
            if variant not in DENOISEREC and variant not in COMPETITORS:
                raise SystemExit(f"unknown variant {variant!r}; known: {[*DENOISEREC, *COMPETITORS]}")
            if args.cpu_dry_run and any(g in variant for g in GPU_ONLY):
                skipped.append(f"{name} (GPU only)")
                continue
            if variant in COMPETITORS and model == "dcnv2" and variant == "deepctr":
                skipped.append(f"{name} (DeepFM only for DeepCTR-Torch, to save time)")
                continue
            if time.perf_counter() - t_start > args.budget_s:
                skipped.append(f"{name} (budget)")
                continue
            results.append(run_one(variant, model, data, args, work))
    profiles = []
    if args.profile:
        for model in [m for m in args.models.split(",") if m]:
            for flags in ([[]] if args.cpu_dry_run else [[], ["--cuda-graph"], ["--amp"]]):
                if time.perf_counter() - t_start > args.budget_s + 60:
                    skipped.append(f"profile {model} {' '.join(flags) or 'plain'} (budget)")
                    continue
                profiles.append(profile(model, flags, data, args, work))
    report = {"machine": info, "data": meta, "settings": vars(args), "results": results, "skipped": skipped,
              "profiles": profiles, "seconds": time.perf_counter() - t_start}
    text = table(results, skipped)
    if profiles:
        what = "CPU operators, dry run" if args.cpu_dry_run else "CUDA kernels"
        text += f"\n\nPer-step profile (batch {args.batch_size}, torch.profiler; {what}):\n\n"
        text += profile_table(profiles)
    (out / "gpu_report.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_table.md").write_text(text + "\n")
    print("\n" + text + f"\n\ntotal {report['seconds']:.0f} s; results in {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
