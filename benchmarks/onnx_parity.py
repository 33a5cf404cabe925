"""ONNX parity of every model: ``python -m benchmarks.onnx_parity [--rows 1000] [models ...]``.

Trains each CTR model one epoch on a small simulated log (with the ``hist`` sequence and DUMN's four sequences),
and the negative-feedback transformer one epoch, saves their bundles, exports them
(:func:`denoiserec.export.export_onnx`) and prints, per model, the exporter used, the export seconds and the
max |onnxruntime − PyTorch| on ``--rows`` random valid input rows (the suite's ``tests/test_export.py`` checks
DIN and the transformer; this covers the rest).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

SEQUENCES = {n: {"max_len": 10} for n in ("hist", "click", "unclick", "like", "dislike")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="default: every CTR model and the transformer")
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import denoiserec
    from denoiserec.bundle import save_ctr
    from denoiserec.data.encoder import fit_encode_splits
    from denoiserec.data.features import FeatureConfig
    from denoiserec.data.simulate import SimConfig, simulate
    from denoiserec.data.split import split
    from denoiserec.export import example_inputs, export_onnx, parity
    from denoiserec.models import available, build_model
    from denoiserec.train.trainer import TrainConfig, Trainer

    tmp = Path(tempfile.mkdtemp(prefix="onnx-parity-"))
    log = split(simulate(SimConfig(users=100, items=300, seed=0)), how="temporal")
    log = log.drop([c for c in log.columns if c.startswith("true_")])
    enc, parts = fit_encode_splits(log, FeatureConfig.from_dict({"sequences": SEQUENCES}))
    names = args.models or [*available(), "transformer"]
    print("| model | exporter | export s | max abs diff |\n|---|---|---|---|")
    for name in names:
        if name == "transformer":
            from denoiserec.tasks.seqrec import run_seed

            cfg = {"task": "seqrec", "split": {"test_frac": 0.2}, "train": {"epochs": 1, "progress": False},
                   "models": {"default": {"dim": 32, "layers": 2, "max_len": 20}}}
            run_seed(cfg, 0, tmp / "seq", log=log)
            b = denoiserec.load(tmp / "seq" / "bundles" / "seqrec__default__seed0")
        else:
            torch.manual_seed(0)
            model = build_model(name, enc.spec)
            Trainer(TrainConfig(epochs=1, batch_size=1024, progress=False)).fit(model, parts["train"])
            b = denoiserec.load(save_ctr(tmp / name, model, enc, name, {}))
        t0 = time.perf_counter()
        try:
            info = export_onnx(b, tmp / f"{name}.onnx")
        except RuntimeError as e:
            print(f"| {name} | failed: {e} | | |", flush=True)
            continue
        seconds = time.perf_counter() - t0
        diff = parity(b, tmp / f"{name}.onnx", example_inputs(b, rows=args.rows, seed=1))
        print(f"| {name} | {info['exporter']} | {seconds:.1f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
