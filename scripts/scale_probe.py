"""Where does the base model learn? One config re-run at growing simulated sizes, gap closed per size (issue 26).

    python scripts/scale_probe.py configs/uae_cpu.yaml --users 1000 4000 16000 --models dcnv2 \
        --methods none oracle --out /tmp/scale_probe

Per size: the config with ``data.simulate.users`` (and any ``--set KEY=VALUE`` of ``denoiserec run``) replaced,
one seed, only the models / methods named (seqrec: ``--models`` keeps those labels), run by ``denoiserec run``
into ``OUT/<name>_u<users>``; then the base row and the oracle of each model with the gap closed
(CTR: (base − popularity) / (oracle − popularity) of test ``auc_true``, and of ``gauc_true``, the per-user
AUC, which leaves out what the model thinks of each user's level; popularity is the scorer of
``popularity.json``; seqrec: the report's share of the gap from the best popularity baseline to
``oracle_pi``), the rows trained on and the wall time. A finished size is resumed, not re-run (``denoiserec
run`` resumes its records); ``--no-run`` only prints the folders already written.
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
from results_table import seqrec_rows  # noqa: E402

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


def ctr_gaps(folder: Path) -> list[str]:
    """Per model with ``none`` and ``oracle`` rows: base, oracle and the popularity scorer (``popularity.json``)
    on test ``auc_true`` and ``gauc_true`` (per-user AUC: the within-user share), and the gap closed of each."""
    summary = {(x["model"], x["method"]): x for x in summarize(load_runs(folder), "none")}
    pop = json.loads((folder / "popularity.json").read_text())["test"]
    lines = []
    for model in sorted({m for m, _ in summary}):
        if (model, "none") not in summary or (model, "oracle") not in summary:
            continue
        parts = [model]
        for metric in ("auc_true", "gauc_true"):
            b, o, p = summary[model, "none"][metric][0], summary[model, "oracle"][metric][0], pop[metric]
            parts.append(f"{metric} base {b:.4f} oracle {o:.4f} popularity {p:.4f} gap closed {(b - p) / (o - p):+.3f}")
        lines.append("\t".join(parts))
    return lines


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
    ap.add_argument("--no-run", action="store_true", help="only print the folders already written")
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
        if not a.no_run:
            subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        head = f"{cfg['name']}\tusers {users}\ttrain rows {_rows_trained(folder, cfg)}"
        if cfg.get("task") == "seqrec":
            for r in seqrec_rows(folder, cfg):
                if r["method"] == cfg.get("baseline"):
                    print(f"{head}\t{r['metric']} gap closed {r['gap']:+.3f}\twall {wall:.0f} s", flush=True)
            continue
        for line in ctr_gaps(folder):
            print(f"{head}\t{line}\twall {wall:.0f} s", flush=True)


if __name__ == "__main__":
    main()
