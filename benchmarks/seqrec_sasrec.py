"""External baseline for the ``seqrec`` task: RecBole 1.2.1's SASRec trained on the same training sequences as
the negative-feedback transformer (Mei et al., "Negative Feedback for Music Personalization", UMAP '24) and
scored on the same test queries with denoiserec's own metric code.

Run inside RecBole's venv (``python -m benchmarks.venv recbole`` builds it; denoiserec imports there from the
repository root), on a ``task: seqrec`` config and the results folder of ``denoiserec run`` on it::

    OMP_NUM_THREADS=1 nice -n 15 .bench_venvs/recbole/bin/python -m benchmarks.seqrec_sasrec \\
        configs/negfeedback.yaml -o docs/results/negfeedback_cpu
    denoiserec report docs/results/negfeedback_cpu     # the table gets a ``sasrec_recbole`` row

**Data** (:func:`export`). The split, vocabularies and sequences are denoiserec's
(:func:`denoiserec.tasks.seqrec.prepare`, the paper's protocol of :mod:`denoiserec.data.sequences`). SASRec reads
'up' events only -- like the paper's baseline, it has no feedback-type input -- and RecBole's pre-split
("benchmark") atomic files carry them: ``<name>.train.inter`` holds, for every training user, each 'up' after
her first with the previous ups (at most ``MAX_ITEM_LIST_LENGTH``) as ``item_id_list`` -- exactly RecBole's own
sequential augmentation of her up sequence; ``<name>.valid.inter`` holds each 'up' of a validation user in her
validation period with her previous ups (RecBole's next-item evaluation, for its early stopping; with the
query history of the test protocol -- ups before the period only -- the simulator's validation file had one
row, since its validation period covers most of those users' ups); ``<name>.test.inter`` holds each test-period
'up' with the query history of denoiserec's evaluation (the user's ups before the period; used only by
``--check``); ``<name>.item`` lists every training item, so that SASRec's softmax covers the same catalogue as
the transformer.

**Training**: RecBole's ``Trainer`` and SASRec with RecBole's defaults (2 heads, dropout 0.5, CE loss over all
items, Adam lr 1e-3, max sequence 50, best validation epoch restored), except (:data:`SETTINGS`):

* ``n_layers: 1, hidden_size: 32, inner_size: 128`` (defaults 2, 64, 256): the size of the transformer rows of
  the configs (one layer, 32 dims, a 4x feed-forward), and CPU-sized -- RecBole trains on every prefix of every
  up sequence (its sequential augmentation), 50 positions each, so an epoch of the default model on the
  KuaiRand sample took ~100 s on the shared 2-core machine;
* ``epochs: 60, stopping_step: 5, train_batch_size: 256`` (defaults 300, 10, 2048): CPU-sized; the default
  batch is 3 Adam steps per epoch on the simulator (with a cap of 20 epochs, the simulator's best epoch was
  19.2 on average: the cap bound, hence 60; with the validation file below it now stops at epoch ~4). The
  KuaiRand sample's rows ran with ``--epochs 20``: its epochs are ~20-50 s on the shared machine and the
  validation GAUC kept creeping up by ~1e-4 per epoch, so 60 epochs x 5 seeds did not fit;
* ``valid_metric: GAUC`` (default MRR@10): RecBole's per-user AUC of the validation ups among all items, the
  nearest of its metrics to the paper's per-user AUC; MRR@10 over the 3.7k-item catalogue was 0.0000 at every
  epoch of a first run on the simulator, so early stopping on it never fired;
* ``train_neg_sample_args: None`` (RecBole requires it with the CE loss), ``benchmark_filename`` (the split
  above instead of RecBole's own), ``use_gpu: False``, ``seed`` = the run's seed, logging quiet.

**Scoring** (:class:`SASRecScorer`): for every test (user, station) query, SASRec's hidden state after the
user's last 50 pre-test ups (the same history as the transformer's query, ups only) dotted with the item
embeddings; SASRec has no station, so all stations of a user share a state. A user without any up in her
history gets the state of the padding item (a non-personal score). Metrics:
:func:`denoiserec.eval.seqrec.period_metrics` (headline ``user_auc_down``, pooled ``pair_acc_down``, MRR/recall
among random items, skip-only users, coverage), identical to the transformer's and the popularity rows'.

Writes ``<out>/runs/external__sasrec_recbole__seed<seed>.json`` per seed (test metrics, per-user AUCs for
Fig. 4, best epoch, the data summary); :mod:`denoiserec.report.seqrec` adds it to the table (with paired tests
against the config's ``baseline`` label and the better popularity scorer) where its data summary equals the
seed's run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from denoiserec.data.sequences import UP, Sequences  # noqa: E402
from denoiserec.eval.seqrec import EvalConfig, period_metrics  # noqa: E402
from denoiserec.io import write_json  # noqa: E402
from denoiserec.seqrec.scorer import histories  # noqa: E402
from denoiserec.seqrec.train import SeqData  # noqa: E402
from denoiserec.tasks.seqrec import data_summary, prepare  # noqa: E402

NAME = "sasrec_recbole"
DATASET = "negfb"
MAX_LEN = 50  # RecBole's MAX_ITEM_LIST_LENGTH default
#: RecBole settings changed from its defaults (module docstring)
SETTINGS = {"n_layers": 1, "hidden_size": 32, "inner_size": 128, "epochs": 60, "stopping_step": 5,
            "train_batch_size": 256, "metrics": ["MRR", "GAUC"], "valid_metric": "GAUC"}


def _rows(users: np.ndarray, items: np.ndarray, hist: list[np.ndarray]) -> list[str]:
    return [f"{u}\t{' '.join(map(str, h))}\t{i}" for u, i, h in zip(users, items, hist, strict=True)]


def _period_rows(seq: Sequences, part: str) -> list[str]:
    """Each 'up' target of ``part`` with its user's query history (ups before the period, last MAX_LEN)."""
    tgt = np.flatnonzero(seq.target_mask(part) & (seq.fb == UP))
    users = np.unique(seq.user[tgt])
    h = histories(seq, part, users, MAX_LEN, feedback_inputs=False)
    by_user = {u: t[t > 0] - 1 for u, t in zip(users, h["tokens"], strict=True)}  # denoiserec item ids
    keep = [i for i in tgt if len(by_user[seq.user[i]])]  # RecBole cannot read an empty history
    return _rows(seq.user[keep], seq.item[keep], [by_user[seq.user[i]] for i in keep])


def _valid_rows(seq: Sequences) -> list[str]:
    """Each 'up' of a validation user in the validation period with her previous ups (before or within the
    period, last MAX_LEN): RecBole's own next-item evaluation, for its early stopping only."""
    up = np.flatnonzero(seq.valid_user & ~seq.test & (seq.fb == UP) & (seq.item > 0))
    users, items, hist = [], [], []
    for u in np.unique(seq.user[up]):
        ev = up[seq.user[up] == u]
        for k in np.flatnonzero(seq.valid[ev]):
            if k > 0:
                users.append(u)
                items.append(seq.item[ev[k]])
                hist.append(seq.item[ev[max(0, k - MAX_LEN):k]])
    return _rows(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64), hist)


def _train_rows(train: Sequences) -> list[str]:
    """RecBole's sequential augmentation of every training user's up sequence (each up after the first)."""
    up = np.flatnonzero((train.fb == UP) & (train.item > 0))
    users, items, hist = [], [], []
    for u in np.unique(train.user[up]):
        ev = up[train.user[up] == u]
        for k in range(1, len(ev)):
            users.append(u)
            items.append(train.item[ev[k]])
            hist.append(train.item[ev[max(0, k - MAX_LEN):k]])
    return _rows(np.array(users), np.array(items), hist)


def export(data: SeqData, folder: Path) -> dict[str, int]:
    """Write RecBole's atomic files for ``data`` into ``folder/<DATASET>/``; returns the row counts."""
    d = folder / DATASET
    d.mkdir(parents=True, exist_ok=True)
    head = "user_id:token\titem_id_list:token_seq\titem_id:token"
    parts = {"train": _train_rows(data.train), "valid": _valid_rows(data.seq), "test": _period_rows(data.seq, "test")}
    if not parts["valid"]:  # RecBole needs validation rows; a tiny sample without any gets a training row
        parts["valid"] = parts["train"][-1:]  # (never a test row): early stopping is then blind, as the transformer's
    for name, rows in parts.items():
        (d / f"{DATASET}.{name}.inter").write_text("\n".join([head, *rows]) + "\n")
    items = "\n".join(str(i) for i in range(1, data.seq.n_items + 1))
    (d / f"{DATASET}.item").write_text(f"item_id:token\n{items}\n")
    return {k: len(v) for k, v in parts.items()}


class SASRecScorer:
    """A :class:`denoiserec.eval.seqrec.Scorer` over a trained RecBole SASRec (one state per user)."""

    def __init__(self, model, seq: Sequences, item_ids: np.ndarray, part: str = "test"):
        self.model, self.seq, self.part = model.eval(), seq, part
        self.item_ids = torch.as_tensor(item_ids)  # denoiserec item id (0 = OOV) -> RecBole id (0 = padding)
        self.h: torch.Tensor | None = None

    @torch.no_grad()
    def queries(self, users: np.ndarray, stations: np.ndarray) -> np.ndarray:
        hist = histories(self.seq, self.part, users, MAX_LEN, feedback_inputs=False)
        lens = hist["length"]
        tok = torch.as_tensor(hist["tokens"])  # left-padded item id + 1 (0 = padding)
        tokens = torch.where(tok > 0, self.item_ids[(tok - 1).clamp_min(0)], 0)  # RecBole ids, still left-padded
        # RecBole's sequences are right-padded (positions count from the oldest item): rotate each row left
        shift = (torch.arange(MAX_LEN)[None, :] + torch.as_tensor(MAX_LEN - lens)[:, None]) % MAX_LEN
        item_seq = torch.gather(tokens, 1, shift) if len(users) else tokens
        seq_len = torch.as_tensor(np.maximum(lens, 1))  # an empty history: the padding item's state
        self.h = torch.cat([self.model.forward(item_seq[a:a + 1024], seq_len[a:a + 1024])
                            for a in range(0, len(users), 1024)]) if len(users) else torch.zeros(0, 1)
        return lens

    @torch.no_grad()
    def __call__(self, q: np.ndarray, items: np.ndarray) -> np.ndarray:
        emb = self.model.item_embedding.weight[self.item_ids[torch.as_tensor(items)]]  # [M, K, H]
        return (self.h[torch.as_tensor(q)][:, None, :] * emb).sum(-1).double().numpy()


def train_sasrec(folder: Path, seed: int, epochs: int | None = None, stopping_step: int | None = None):
    """RecBole's SASRec on the atomic files in ``folder``; returns (model, dataset, convergence record)."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    settings = {**SETTINGS, "data_path": str(folder), "benchmark_filename": ["train", "valid", "test"],
                "load_col": {"inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id"]},
                "alias_of_item_id": ["item_id_list"], "train_neg_sample_args": None, "use_gpu": False,
                "device": "cpu", "seed": seed, "checkpoint_dir": str(folder / "saved"), "show_progress": False,
                "state": "WARNING"}
    if epochs is not None:
        settings["epochs"] = epochs
    if stopping_step is not None:
        settings["stopping_step"] = stopping_step
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also reads --key=value from the command line
    try:
        config = Config(model="SASRec", dataset=DATASET, config_dict=settings)
    finally:
        sys.argv = argv
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logging.getLogger().setLevel(logging.WARNING)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = SASRec(config, train_data.dataset)
    trainer = Trainer(config, model)
    t0 = time.perf_counter()
    best, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    seconds = time.perf_counter() - t0
    state = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    conv = {"best_epoch": int(state["epoch"]) + 1, "epochs_run": len(trainer.train_loss_dict),
            "train_seconds": seconds, "monitor": config["valid_metric"].lower(), "valid_monitor": float(best)}
    return model, dataset, test_data.dataset.inter_feat, conv


def self_check(model, dataset, test_inter, seq: Sequences, item_ids: np.ndarray) -> float:
    """Largest |score difference| between RecBole's own ``SASRec.predict`` on its test rows (built by RecBole
    from the atomic files) and :class:`SASRecScorer` on the same users and items: the export, the id mapping and
    the re-padding of the queries, checked end to end."""
    with torch.no_grad():
        theirs = model.eval().predict(test_inter).double().numpy()
    users = np.array([int(t) for t in dataset.id2token("user_id", test_inter["user_id"].numpy())])
    items = np.array([int(t) for t in dataset.id2token("item_id", test_inter["item_id"].numpy())])
    q_users, q = np.unique(users, return_inverse=True)
    scorer = SASRecScorer(model, seq, item_ids)
    scorer.queries(q_users, np.zeros(len(q_users), dtype=np.int64))
    ours = scorer(q, items[:, None])[:, 0]
    return float(np.abs(ours - theirs).max()) if len(ours) else 0.0


def run_seed(cfg: dict, seed: int, out_dir: Path, epochs: int | None = None, stopping_step: int | None = None,
             check: bool = False) -> dict[str, float]:
    data = prepare(cfg)
    torch.set_num_threads(int((cfg.get("train") or {}).get("threads") or 1))
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="recbole_") as tmp:
        rows = export(data, Path(tmp))
        os.chdir(tmp)  # RecBole writes ./log/ and ./log_tensorboard/ into the working directory
        try:
            model, dataset, test_inter, conv = train_sasrec(Path(tmp), seed, epochs, stopping_step)
        finally:
            os.chdir(cwd)
    token2id = dataset.field2token_id["item_id"]
    item_ids = np.array([0] + [token2id[str(i)] for i in range(1, data.seq.n_items + 1)])
    if check:
        diff = self_check(model, dataset, test_inter, data.seq, item_ids)
        print(f"self-check: max |RecBole predict - scorer| = {diff:.3g}", flush=True)
        if diff > 1e-4:
            raise SystemExit(f"self-check failed: scores differ by {diff:.3g}")
    per_user: dict = {}
    ecfg = EvalConfig(**(cfg.get("eval") or {}))
    test = period_metrics(SASRecScorer(model, data.seq, item_ids), data.seq, ecfg, "test", seed, per_user)
    write_json(out_dir / "runs" / f"external__{NAME}__seed{seed}.json",
               {"task": "seqrec", "external": NAME, "seed": seed, "data": data_summary(data), "rows": rows,
                "params": {"library": "recbole==1.2.1", "model": "SASRec", **SETTINGS,
                           **({"epochs": epochs} if epochs else {}),
                           **({"stopping_step": stopping_step} if stopping_step else {})},
                "test": test, "convergence": conv, "per_user": per_user})
    return test


def main(argv: list[str] | None = None) -> int:
    import yaml

    from denoiserec.experiment import check_config, load_config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="a task: seqrec config (configs/negfeedback*.yaml)")
    ap.add_argument("-o", "--out", required=True, help="its results folder (denoiserec run ... -o OUT)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, as denoiserec run")
    ap.add_argument("--seeds", type=int, nargs="*", help="default: the config's seeds")
    ap.add_argument("--epochs", type=int, help="RecBole's epochs (default here 60)")
    ap.add_argument("--stopping-step", type=int, help="RecBole's stopping_step (default here 5)")
    ap.add_argument("--check", action="store_true", help="compare the scorer with RecBole's own predict")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # RecBole 1.2.1 on pandas 2.x / torch 2.13
    cfg = load_config(args.config).to_dict()
    for item in args.sets:  # as denoiserec's --set (typer is not in this venv): a.b=VALUE, VALUE read as YAML
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = cfg
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = yaml.safe_load(value)
    cfg = check_config(cfg, args.config)
    for seed in args.seeds if args.seeds is not None else cfg["seeds"]:
        test = run_seed(cfg, seed, Path(args.out).resolve(), args.epochs, args.stopping_step, args.check)
        print(f"seed {seed}: user_auc_down {test['user_auc_down']:.4f}  pair_acc_down {test['pair_acc_down']:.4f}  "
              f"user_auc_skip {test['user_auc_skip']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
