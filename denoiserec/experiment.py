"""Experiments as configs: one YAML file → data → runs (models × methods × seeds) → a results folder.

::

    name: demo
    data: {simulate: {users: 500}}          # or {source: kuairand, path: RAW, options: {...}} or {path: PREPARED}
                                             # stream: auto|true|false, cache: DIR (denoiserec.data.store)
    split: {how: temporal}                   # denoiserec.data.split
    features: {sequences: {hist: {max_len: 20}}, min_count: 1}
    train: {epochs: 5, batch_size: 4096}     # denoiserec.train.trainer.TrainConfig
    seeds: [0, 1, 2, 3, 4]
    models: {deepfm: {embed_dim: 8}}         # label → hparams; `model: <module>` when the label differs
    methods: {none: {}, lcd: {a: 5, b: 1}}   # label → hparams; `method: <module>` when the label differs
             # oracle: {oracle: true}        # simulated data: the same model trained on true_preference
             #                               # (denoiserec.data.target; a popularity.json is written beside runs/)
    baseline: none                           # RelaImpr and paired t-tests are against this method
    select: {lcd: [lcd_a05, lcd_a1, lcd_a2]} # optional: per model, the label with the best validation AUC
    noise: {flip: 0.3}                       # optional, simulated data: labels := true_preference, train/valid
                                             # flipped (denoiserec.data.noise)
    baseline_model: din                      # optional: compare models with this model instead (same method)

The folder gets ``config.yaml``, ``runs/<model>__<method>__seed<k>.json`` (one per run, written atomically;
a re-run skips the runs already there, so a killed experiment resumes), ``bundles/<run>/`` (the selected epoch's
model, see :mod:`denoiserec.bundle`), ``report.md`` and PNG plots.
This module is the Python entry: :func:`load_config` / :func:`check_config` and :func:`run_experiment` go
through :func:`denoiserec.tasks.get_task`; the CTR experiment loop is :mod:`denoiserec.tasks.ctr`, the seqrec
one :mod:`denoiserec.tasks.seqrec`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from denoiserec.errors import ConfigError
from denoiserec.io import write_text
from denoiserec.run_settings import Settings
from denoiserec.tasks import get_task
from denoiserec.tasks.base import set_aside_bundles, set_aside_stale_runs
from denoiserec.tasks.ctr import check_parts, load_data, run_name, score_attention

__all__ = ["check_config", "check_parts", "load_config", "load_data", "run_experiment", "run_name",
           "score_attention", "set_aside_bundles", "set_aside_stale_runs"]


def load_config(path: str | Path) -> Settings:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    return check_config(cfg, str(path))


def check_config(cfg: dict, where: str = "config") -> Settings:
    """Every section checked up front by the config's task, defaults filled (:func:`denoiserec.tasks.check_config`)."""
    from denoiserec.tasks import check_config as check

    return check(cfg, where)


def _check_same_task(out_dir: Path, cfg: Settings) -> None:
    """Refuse a results folder that holds runs of another task (its config and report would be replaced)."""
    from denoiserec.errors import OutputError
    from denoiserec.io import MARKER
    from denoiserec.tasks import folder_config

    if out_dir.is_symlink() or not (out_dir / MARKER).is_file() or not (out_dir / "runs").is_dir():
        return  # not a results folder of ours: claim_dir's checks decide
    try:
        theirs = folder_config(out_dir).get("task") or "ctr"
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return  # an unreadable config: the folder checks of claim_dir decide
    ours = cfg.task
    if theirs != ours and any((out_dir / "runs").glob("*.json")):
        raise OutputError(f"{out_dir}: holds results of a task: {theirs} run, not {ours}; give a new folder "
                          "(nothing was changed)")


def run_experiment(cfg: Settings | dict, out_dir: str | Path, progress: bool = True) -> Path:
    """Run every run of the settings ``cfg`` (:func:`check_config`'s; a config dict is checked first) not yet in
    ``out_dir`` with its task; write its report."""
    from denoiserec.errors import DenoiserecError
    from denoiserec.io import claim_dir, is_writer, remove_if_only
    from denoiserec.run_settings import Settings

    if not isinstance(cfg, Settings):
        cfg = check_config(cfg)
    created = not Path(out_dir).exists()
    _check_same_task(Path(out_dir), cfg)
    out_dir = claim_dir(out_dir, "results", [cfg.data.path])
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    try:
        return get_task(cfg).run(cfg, out_dir, progress)
    except DenoiserecError:
        if created and is_writer():  # refused before any run was written (bad data, split): no empty folder left
            remove_if_only(out_dir, ["config.yaml", "runs", "checkpoints"])
        raise
