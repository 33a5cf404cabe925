"""Content fingerprints of runs: a SHA-256 over a run's effective settings and its data, stored with every run
result and checkpoint, so a re-run with another config or changed data recomputes instead of reusing a stale
result (docs/reliability.md).

The data part is computed before any data is read: for ``simulate`` its settings (the simulator is
deterministic); for files, the **content** of every file under the data path and of every file an option names
(the ``table`` source's mapping, say), plus the source and its options (:mod:`denoiserec.data.content`: streamed
SHA-256, size+mtime only confirming a stored hash). Settings that cannot change a
result (progress bars, thread count, checkpoint path) are left out; the library's version is in, and so is the
task's *meaning version* (:data:`MEANING`) once bumped.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from denoiserec.data.load import DataSpec, digest

if TYPE_CHECKING:
    from denoiserec.run_settings import CtrSettings, SeqrecSettings, Settings

#: TrainConfig keys that do not change what a run computes
_NOT_RESULT = {"progress", "threads", "checkpoint", "eval_batch_size"}

#: What a stored record (run result, checkpoint) of each task means. Bump a task's number when the same settings
#: and data would now give a record that means something else (a metric redefined, the evaluation protocol or the
#: training loop changed), so that stored results of the old meaning are set aside and recomputed instead of being
#: mixed with new ones. Hashed only once bumped: at 1 every fingerprint is the one it was before the number existed.
MEANING = {"ctr": 1, "seqrec": 1}


_digest = digest


def data_fingerprint(data: DataSpec | dict) -> str:
    """Fingerprint of a config's data (:meth:`DataSpec.fingerprint`; a ``data`` section is read as one)."""
    return (data if isinstance(data, DataSpec) else DataSpec.from_dict(data)).fingerprint()


def _as_dict(cfg: Settings | dict) -> dict:
    """What a fingerprint hashes: the checked config as a dict (:meth:`Settings.to_dict`), as it always did."""
    from denoiserec.run_settings import Settings

    return cfg.to_dict() if isinstance(cfg, Settings) else cfg


def run_fingerprint(cfg: CtrSettings | dict, model: str, method: str, seed: int, data_fp: str) -> str:
    """Fingerprint of one (model, method, seed) run of checked settings ``cfg``."""
    from denoiserec.run_settings import Settings
    from denoiserec.train.trainer import TrainConfig

    train_cfg = cfg.train if isinstance(cfg, Settings) else TrainConfig.from_dict(cfg.get("train"))
    cfg = _as_dict(cfg)
    train = {k: v for k, v in asdict(train_cfg).items() if k not in _NOT_RESULT}
    train["seed"] = seed
    return _digest({"data": data_fp, "code": _code_version(), "split": cfg.get("split") or {"how": "temporal"},
                    "features": cfg.get("features"), "train": train, "model": cfg["models"][model],
                    "model_label": model, "method": cfg["methods"][method], "method_label": method,
                    **({"target": cfg["target"]} if cfg.get("target", "click") != "click" else {}),
                    **({"noise": cfg["noise"]} if cfg.get("noise") is not None else {}), **_meaning("ctr")})


def seqrec_fingerprint(cfg: SeqrecSettings | dict, seed: int) -> str:
    """Fingerprint of one seed of checked ``task: seqrec`` settings (its data and every section but the seeds)."""
    cfg = _as_dict(cfg)
    rest = {k: v for k, v in cfg.items() if k not in ("data", "seeds", "name")}
    return _digest({"data": data_fingerprint(cfg["data"]), "code": _code_version(), "config": rest, "seed": seed,
                    **_meaning("seqrec")})


def _meaning(task: str) -> dict:
    """The task's meaning version as a fingerprint entry, none while it is the first (:data:`MEANING`)."""
    return {"meaning": MEANING[task]} if MEANING[task] != 1 else {}


def _code_version() -> str:
    """The code version that matters for a result: the library's release."""
    from denoiserec._version import __version__

    return __version__
