"""Data-path benchmark: a simulated canonical log (parquet, with its ``split`` column) → model-ready arrays,
by denoiserec (polars + numpy: ``encoder.encode_splits`` with the ``hist`` sequence, max_len 20) and by an
equivalent pandas pipeline (run in the competitors' venv: pandas never enters denoiserec's environment).

Both do the same work: read the file; fit vocabularies on the train rows (order: count desc, value asc; OOV 0)
for the canonical categorical columns and the string side features; map every row; standardise the numeric
side features with train mean/std; build each row's last 20 earlier positive items of the same user (and
their feedback codes); user/session ids, labels and the hidden-truth columns; split into train/valid/test.
The pandas version uses pandas idioms (``value_counts``, ``map``, ``groupby().cumsum/ngroup``, one
``merge`` per history lag). Each runs in a fresh subprocess; timed from reading the file to the split
arrays; memory is the process's peak resident set (``VmHWM`` in ``/proc/self/status``), also shown above the
interpreter-plus-imports baseline. The outputs are compared array by array.

Usage (one side): ``python -m benchmarks.datapath --which pandas --log L.parquet --codes C.json --out O.npz``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 20
CANONICAL_CAT = ("user", "item", "context", "artist", "category", "hour")


def peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------------------- denoiserec
def prepare_ours(log: str) -> dict[str, np.ndarray]:
    import polars as pl

    from denoiserec.data.encoder import encode_splits
    from denoiserec.data.features import FeatureConfig

    df = pl.read_parquet(log)
    _, parts = encode_splits(df, FeatureConfig.from_dict({"sequences": {"hist": {"max_len": MAX_LEN}}}))
    keys = ("cat", "num", "seq_hist", "kind_hist", "label", "user", "session")
    return {f"{k}_{name}": part[k].numpy() for name, part in parts.items() for k in keys}


# --------------------------------------------------------------------------------------------------- pandas
def prepare_pandas(log: str, codes: dict[str, int]) -> dict[str, np.ndarray]:
    import pandas as pd

    df = pd.read_parquet(log)
    train = df[df["split"] == 0]
    cat_cols = [c for c in df.columns
                if c in CANONICAL_CAT or (c.startswith("f_") and not pd.api.types.is_numeric_dtype(df[c]))]
    num_cols = [c for c in df.columns if c.startswith("f_") and c not in cat_cols
                and pd.api.types.is_numeric_dtype(df[c])]
    cat = np.zeros((len(df), len(cat_cols)), dtype=np.int32)
    for j, c in enumerate(cat_cols):
        vc = train[c].astype(str).value_counts().rename_axis("value").reset_index(name="n")
        vc = vc.sort_values(["n", "value"], ascending=[False, True], kind="stable")
        vocab = pd.Series(np.arange(1, len(vc) + 1, dtype=np.int32), index=vc["value"].to_numpy())
        cat[:, j] = df[c].astype(str).map(vocab).fillna(0).to_numpy(dtype=np.int32)
    num = np.zeros((len(df), len(num_cols)), dtype=np.float32)
    for j, c in enumerate(num_cols):
        m, s = train[c].astype(float).mean(), train[c].astype(float).std()
        num[:, j] = ((df[c].astype(float) - m) / (s if s > 0 else 1.0)).to_numpy(dtype=np.float32)
    # histories: sort by (user, time), number each user's positives, merge the k-th previous one per lag
    item_id = cat[:, cat_cols.index("item")]
    work = pd.DataFrame({"row": np.arange(len(df)), "user": df["user"], "timestamp": df["timestamp"],
                         "session": df["session"], "position": df["position"], "label": df["label"].astype(int),
                         "item": item_id, "kind": df["feedback"].map(codes).astype(np.int32)})
    work = work.sort_values(["user", "timestamp", "session", "position"], kind="stable")
    work["before"] = work.groupby("user")["label"].cumsum() - work["label"]  # positives strictly earlier
    pos = work[work["label"] == 1][["user", "item", "kind"]].copy()
    pos["k"] = pos.groupby("user").cumcount()
    seq = np.zeros((len(work), MAX_LEN), dtype=np.int32)
    kinds = np.zeros((len(work), MAX_LEN), dtype=np.int32)
    for lag in range(1, MAX_LEN + 1):
        want = pd.DataFrame({"user": work["user"].to_numpy(), "k": (work["before"] - lag).to_numpy()})
        got = want.merge(pos, on=["user", "k"], how="left")
        seq[:, MAX_LEN - lag] = got["item"].fillna(0).to_numpy(dtype=np.int32)
        kinds[:, MAX_LEN - lag] = got["kind"].fillna(0).to_numpy(dtype=np.int32)
    order = work["row"].to_numpy()
    seq_rows, kind_rows = np.empty_like(seq), np.empty_like(kinds)
    seq_rows[order], kind_rows[order] = seq, kinds
    users = sorted(df["user"].unique())
    user = pd.Categorical(df["user"], categories=users).codes.astype(np.int64)
    session = df.groupby(["user", "session"], sort=True).ngroup().to_numpy(dtype=np.int64)
    label = df["label"].to_numpy(dtype=np.float32)
    split = df["split"].to_numpy()
    cols = {"cat": cat, "num": num, "seq_hist": seq_rows, "kind_hist": kind_rows, "label": label, "user": user,
            "session": session}
    for c in df.columns:  # hidden truth, carried along like denoiserec does
        if c.startswith("true_"):
            cols[c] = df[c].astype(np.float32).to_numpy()
    out = {}
    for code, name in enumerate(("train", "valid", "test")):
        idx = np.flatnonzero(split == code)
        out.update({f"{k}_{name}": v[idx] for k, v in cols.items() if not k.startswith("true_")})
    return out


# ---------------------------------------------------------------------------------------------- orchestration
def make_log(rows: int, seed: int, path: Path) -> None:
    import polars as pl

    from denoiserec.data.simulate import SimConfig, simulate
    from denoiserec.data.split import split

    users = max(rows // 100, 10)
    log = split(simulate(SimConfig(users=users, items=max(users * 2, 2000), artists=max(users // 5, 200),
                                   seed=seed)), how="random", seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.write_parquet(path)
    assert isinstance(log, pl.DataFrame)


def run_both(rows: int, seed: int = 0) -> dict:
    from benchmarks import venv
    from denoiserec.data.kinds import FEEDBACK_CODE

    work = ROOT / ".bench_venvs" / "datapath"
    log = work / f"log{rows}_s{seed}.parquet"
    if not log.exists():
        print(f"data path: simulating {rows:,} rows -> {log}", flush=True)
        make_log(rows, seed, log)
    codes = work / "feedback_codes.json"
    codes.write_text(json.dumps(FEEDBACK_CODE))
    res = {"rows": rows}
    for which, py in (("denoiserec", sys.executable), ("pandas", str(venv.python()))):
        out = work / f"out_{which}.npz"
        cmd = [py, "-m", "benchmarks.datapath", "--which", which, "--log", str(log), "--codes", str(codes),
               "--out", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            res[which] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        res[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  data path {which:<10} {res[which]['seconds']:.2f} s, peak RSS {res[which]['peak_rss_mib']:.0f} MiB",
              flush=True)
    if "seconds" in res.get("denoiserec", {}) and "seconds" in res.get("pandas", {}):
        with np.load(work / "out_denoiserec.npz") as a, np.load(work / "out_pandas.npz") as b:
            diff = [k for k in a.files if k not in b.files or a[k].shape != b[k].shape
                    or not np.allclose(a[k], b[k], atol=1e-5)]
        res["identical_outputs"] = not diff
        res["differing_arrays"] = diff
    return res


def table(dp: dict) -> str:
    lines = [f"Data path: {dp['rows']:,}-row simulated log → encoded splits with a 20-item history",
             "", "| pipeline | seconds | × vs denoiserec | peak RSS MiB | above imports MiB |",
             "|---|---:|---:|---:|---:|"]
    ours = dp.get("denoiserec", {})
    for which in ("denoiserec", "pandas"):
        r = dp.get(which, {})
        if "seconds" not in r:
            lines.append(f"| {which} | failed | | | |")
            continue
        ratio = r["seconds"] / ours["seconds"] if "seconds" in ours else float("nan")
        lines.append(f"| {which} | {r['seconds']:.2f} | {ratio:.2f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} |")
    if "identical_outputs" in dp:
        lines.append("")
        lines.append(f"outputs identical: {dp['identical_outputs']}"
                     + (f" (differ: {dp['differing_arrays']})" if dp["differing_arrays"] else ""))
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--which", choices=["denoiserec", "pandas"], required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--codes", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    codes = json.loads(Path(args.codes).read_text())
    if args.which == "pandas":
        import pandas  # noqa: F401  (imports belong to the baseline, not the timed work)
        import pyarrow  # noqa: F401
    else:
        import polars  # noqa: F401

        import denoiserec.data.encoder  # noqa: F401  (imports torch: the encoder returns tensors)
    baseline = peak_rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    arrays = prepare_pandas(args.log, codes) if args.which == "pandas" else prepare_ours(args.log)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_mib()
    np.savez(args.out, **arrays)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak, "baseline_rss_mib": baseline}))


if __name__ == "__main__":
    main()
