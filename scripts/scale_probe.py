"""Where does the base model learn? One config re-run at growing simulated sizes, gap closed per size (issue 26).

    python scripts/scale_probe.py configs/uae_cpu.yaml --users 1000 4000 16000 --models dcnv2 \
        --methods none oracle --out /tmp/scale_probe

Per size: the config with ``data.simulate.users`` (and any ``--set KEY=VALUE`` of ``denoiserec run``) replaced,
one seed, only the models / methods named (seqrec: ``--models`` keeps those labels), run by ``denoiserec run``
into ``OUT/<name>_u<users>``; then the base row and the oracle of each model with the gap closed
(``scripts/results_table.py``'s rows: CTR (base − popularity) / (oracle − popularity) of test ``auc_true``;
seqrec the report's share of the gap from the best popularity baseline to ``oracle_pi``), the rows trained on
and the wall time. A finished size is resumed, not re-run (``denoiserec run`` resumes its records).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_table import ctr_rows, seqrec_rows  # noqa: E402

from denoiserec.report.ctr import load_runs, summarize  # noqa: E402


def probe_config(cfg: dict, users: int, models: list[str], methods: list[str], seeds: list[int]) -> dict:
    """``cfg`` at ``users`` users with only ``models`` / ``methods`` (empty: all; the baseline method is kept)
    and ``seeds``."""
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    cfg["data"]["simulate"]["users"] = users
    cfg["seeds"] = seeds
    cfg["name"] = f"{cfg['name']}_u{users}"
    if models:
        cfg["models"] = {k: v for k, v in cfg["models"].items() if k in models or k == "popularity"}
    if methods and "methods" in cfg:
        cfg["methods"] = {k: v for k, v in cfg["methods"].items() if k in methods or k == cfg.get("baseline")}
    if cfg.get("baseline_model") not in cfg["models"]:
        cfg.pop("baseline_model", None)
    return cfg


def _rows_trained(folder: Path, cfg: dict) -> int | str:
    files = sorted((folder / "runs").glob("*.json"))
    for f in files:
        r = json.loads(f.read_text())
        if cfg.get("task") == "seqrec":
            return r.get("data", {}).get("train_events", "?")
        if "rows" in r:
            return r["rows"]["train"]
    return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--users", type=int, nargs="+", required=True)
    ap.add_argument("--models", nargs="*", default=[])
    ap.add_argument("--methods", nargs="*", default=[])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="passed to denoiserec run")
    ap.add_argument("--tag", default="", help="appended to each size's folder name (e.g. the knobs set)")
    ap.add_argument("--out", default="/tmp/scale_probe")
    a = ap.parse_args()
    base_cfg = yaml.safe_load(Path(a.config).read_text())
    for users in a.users:
        cfg = probe_config(base_cfg, users, a.models, a.methods, a.seeds)
        cfg["name"] += a.tag
        folder = Path(a.out) / cfg["name"]
        Path(a.out).mkdir(parents=True, exist_ok=True)
        path = Path(a.out) / f"{cfg['name']}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        cmd = [sys.executable, "-m", "denoiserec", "run", str(path), "-o", str(folder), "--quiet"]
        for s in a.overrides:
            cmd += ["--set", s]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        rows = seqrec_rows(folder, cfg) if cfg.get("task") == "seqrec" else ctr_rows(folder, cfg)
        base = cfg.get("baseline", "none") if cfg.get("task") == "seqrec" else "none"
        for r in rows:
            if r["method"] == base:
                print(
                    f"{cfg['name']}\tusers {users}\ttrain rows {_rows_trained(folder, cfg)}\t{r['model']}\t"
                    f"base {r['metric']} gap closed {r['gap']:+.3f}\twall {wall:.0f} s",
                    flush=True,
                )
        if cfg.get("task") != "seqrec":
            for x in summarize(load_runs(folder), "none"):
                metric = rows[0]["metric"]
                print(f"    {x['model']} {x['method']} {metric} {x[metric][0]:.4f}", flush=True)


if __name__ == "__main__":
    main()
