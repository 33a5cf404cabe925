"""Experiment tasks: what a config's ``task`` key selects (``ctr``, the default, or ``seqrec``), and the one
place that dispatches on it.

A :class:`~denoiserec.tasks.base.Task` checks its config, runs it into a results folder, writes the report and
prints the summary; :mod:`denoiserec.experiment`, the ``run``/``report`` commands of :mod:`denoiserec.cli` and
any Python entry go through :func:`get_task` (or :func:`check_config`), so a results folder is always
re-reported by the task that wrote it. The CTR experiment loop is :mod:`denoiserec.tasks.ctr`, the seqrec one
:mod:`denoiserec.tasks.seqrec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from denoiserec.errors import ConfigError
from denoiserec.tasks.base import Task

if TYPE_CHECKING:
    from denoiserec.run_settings import Settings

TASKS = ("ctr", "seqrec")


def available() -> list[str]:
    return list(TASKS)


def get_task(cfg: Settings | dict | str | None) -> Task:
    """The task of settings, a config (or a task name); ``ctr`` when none is given."""
    from denoiserec.run_settings import Settings

    if isinstance(cfg, Settings):
        name = cfg.task
    else:
        name = cfg if isinstance(cfg, str) else (cfg or {}).get("task") or "ctr"
    if name == "ctr":
        from denoiserec.tasks.ctr import CtrTask

        return CtrTask()
    if name == "seqrec":
        from denoiserec.tasks.seqrec import SeqrecTask

        return SeqrecTask()
    raise ConfigError(f"task: unknown task {name!r}; available: {', '.join(available())}")


def check_config(cfg: object, where: str = "config") -> Settings:
    """Check every section of ``cfg`` with its task's rules and fill the defaults; ``where`` names the file in
    messages. Returns the typed settings (:mod:`denoiserec.run_settings`; settings given are checked again from
    their :meth:`~denoiserec.run_settings.Settings.to_dict`); raises :class:`ConfigError` at the first problem."""
    from denoiserec.run_settings import Settings

    if isinstance(cfg, Settings):
        cfg = cfg.to_dict()
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    if cfg.get("task") not in (None, *TASKS):
        raise ConfigError(f"{where}: task: must be one of {list(TASKS)}, got {cfg['task']!r}")
    return get_task(cfg).check_config(cfg, where)


def folder_config(out_dir: str | Path) -> dict:
    """The ``config.yaml`` a results folder was run with (``{}`` when absent; ``task`` inferred from the runs)."""
    out_dir = Path(out_dir)
    f = out_dir / "config.yaml"
    cfg = (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}
    if "task" not in cfg and any((out_dir / "runs").glob("seqrec__seed*.json")):
        cfg["task"] = "seqrec"
    return cfg


__all__ = ["TASKS", "Task", "available", "check_config", "folder_config", "get_task"]
