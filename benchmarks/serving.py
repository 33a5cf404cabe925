"""Batch-scoring throughput of saved model bundles (docs/performance.md, "Serving: batch scoring").

``python -m benchmarks.serving [--users 2000] [--threads 1] [--repeats 3]``: simulates a log (default ~200k rows),
trains DeepFM and DIN for one epoch and the negative-feedback transformer for one epoch, saves their bundles,
then times, best of ``repeats``:

* ``predict`` end to end: :meth:`CTRBundle.predict` on the whole canonical log (vocabulary lookup, history
  sequences, forward passes, output frame), rows/s;
* its two halves: ``encode`` (:meth:`CTRBundle.encode`) and the PyTorch forward passes on the encoded tensors;
* onnxruntime on the same encoded tensors (one session thread = ``--threads``), rows/s, and max |diff| to PyTorch;
* the transformer's ``recommend`` (top 20 of all songs) for every user of the log, users/s.

Prints a Markdown table and writes it with the raw numbers to ``.bench_venvs/results/serving.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32768)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    import denoiserec
    from denoiserec.bundle import save_ctr
    from denoiserec.data.encoder import fit_encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.data.simulate import SimConfig, simulate
    from denoiserec.data.split import split
    from denoiserec.export import export_onnx
    from denoiserec.models import build_model
    from denoiserec.train.trainer import TrainConfig, Trainer

    log = split(simulate(SimConfig(users=args.users, seed=0)), how="temporal")
    log = log.drop([c for c in log.columns if c.startswith("true_")])
    rows = log.height
    results: dict = {"rows": rows, "threads": args.threads, "batch_size": args.batch_size,
                     "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                     "onnxruntime": ort.__version__, "models": {}}
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": 20}}}))
    for name in ("deepfm", "din"):
        torch.manual_seed(0)
        model = build_model(name, enc.spec)
        Trainer(TrainConfig(epochs=1, batch_size=4096, progress=False, threads=args.threads)).fit(
            model, parts["train"], parts["valid"])
        b = denoiserec.load(save_ctr(tmp / name, model, enc, name, {}))
        t_predict, _ = best(lambda b=b: b.predict(log, args.batch_size), args.repeats)
        t_encode, (data, _) = best(lambda b=b: b.encode(log), args.repeats)
        trainer = Trainer(TrainConfig(device="cpu", progress=False, eval_batch_size=args.batch_size))
        t_forward, ref = best(lambda b=b, t=trainer, d=data: t.predict(b.model, d), args.repeats)
        export_onnx(b, tmp / f"{name}.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = args.threads
        sess = ort.InferenceSession(str(tmp / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
        wanted = [i.name for i in sess.get_inputs()]
        arrays = {k: data[k].numpy() for k in wanted}

        def run_onnx(sess=sess, arrays=arrays):
            return np.concatenate([sess.run(None, {k: v[a:a + args.batch_size] for k, v in arrays.items()})[0]
                                   for a in range(0, rows, args.batch_size)])

        t_onnx, got = best(run_onnx, args.repeats)
        results["models"][name] = {
            "predict_rows_per_s": rows / t_predict, "encode_rows_per_s": rows / t_encode,
            "torch_forward_rows_per_s": rows / t_forward, "onnx_forward_rows_per_s": rows / t_onnx,
            "onnx_max_abs_diff": float(np.abs(got - ref.numpy()).max()),
            "seconds": {"predict": t_predict, "encode": t_encode, "torch_forward": t_forward, "onnx": t_onnx}}
    from denoiserec.tasks.seqrec import run_seed

    cfg = {"task": "seqrec", "split": {"test_frac": 0.2},
           "models": {"default": {"dim": 64, "layers": 2, "max_len": 50}},
           "train": {"epochs": 1, "progress": False, "threads": args.threads}}
    run_seed(cfg, 0, tmp / "seq", log=log)
    sb = denoiserec.load(tmp / "seq" / "bundles" / "seqrec__default__seed0")
    users = log["user"].n_unique()
    t_rec, _ = best(lambda: sb.recommend(log, k=20), args.repeats)
    results["models"]["transformer"] = {"recommend_users_per_s": users / t_rec, "users": users,
                                        "items": len(sb.items), "seconds": {"recommend": t_rec}}
    lines = [f"{rows:,} rows, {args.threads} thread(s), batch {args.batch_size}, best of {args.repeats}", "",
             "| model | predict (end to end) | encode | PyTorch forward | onnxruntime forward | max abs diff |",
             "|---|---|---|---|---|---|"]
    for name in ("deepfm", "din"):
        m = results["models"][name]
        lines.append(f"| {name} | {m['predict_rows_per_s']:,.0f} rows/s | {m['encode_rows_per_s']:,.0f} rows/s | "
                     f"{m['torch_forward_rows_per_s']:,.0f} rows/s | {m['onnx_forward_rows_per_s']:,.0f} rows/s | "
                     f"{m['onnx_max_abs_diff']:.1e} |")
    t = results["models"]["transformer"]
    lines += ["", f"Transformer `recommend` (top 20 of {t['items']:,} songs, dim 64, 2 layers, max_len 50): "
              f"{t['recommend_users_per_s']:,.0f} users/s ({t['users']:,} users)."]
    text = "\n".join(lines)
    print(text)
    out = ROOT / ".bench_venvs" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.md").write_text(text + "\n")
    (out / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
