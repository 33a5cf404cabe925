"""Experiment tasks: what a config's ``task`` key selects (``ctr``, the default, or ``seqrec``).

A :class:`Task` checks its config, runs one seed, runs every seed not yet in the results folder, writes the
report and prints the summary; :mod:`denoiserec.experiment` and the ``run``/``report`` commands of
:mod:`denoiserec.cli` dispatch on it, so a results folder is always re-reported by the task that wrote it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import yaml

from denoiserec.errors import ConfigError


class Task(ABC):
    name: str

    @abstractmethod
    def check_config(self, cfg: dict, where: str = "config") -> dict:
        """Validate ``cfg`` and fill its defaults; a one-line :class:`ConfigError` naming the key otherwise."""

    @abstractmethod
    def run_seed(self, cfg: dict, seed: int, out_dir: str | Path, progress: bool = True) -> None:
        """Run one seed of ``cfg`` into ``out_dir/runs``."""

    @abstractmethod
    def done(self, cfg: dict, seed: int, out_dir: str | Path) -> bool:
        """Whether seed ``seed`` is complete in ``out_dir`` (a re-run skips it)."""

    @abstractmethod
    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        """(Re-)write ``out_dir/report.md`` and its figures from the run records."""

    @abstractmethod
    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        """Print the compact summary table of ``out_dir``."""

    def run(self, cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
        """Every seed not yet done, then the report."""
        from tqdm.auto import tqdm

        from denoiserec import notices

        out_dir = Path(out_dir)
        for seed in tqdm(cfg["seeds"], desc=cfg.get("name", self.name), disable=notices.bar_off(progress)):
            if not self.done(cfg, seed, out_dir):
                self.run_seed(cfg, seed, out_dir, progress)
        self.write_report(out_dir, cfg)
        return out_dir


def available() -> list[str]:
    return ["ctr", "seqrec"]


def get_task(cfg: dict | str | None) -> Task:
    """The task of a config (or a task name); ``ctr`` when none is given."""
    name = cfg if isinstance(cfg, str) else (cfg or {}).get("task") or "ctr"
    if name == "ctr":
        from denoiserec.tasks.ctr import CtrTask

        return CtrTask()
    if name == "seqrec":
        from denoiserec.tasks.seqrec import SeqrecTask

        return SeqrecTask()
    raise ConfigError(f"task: unknown task {name!r}; available: {', '.join(available())}")


def folder_config(out_dir: str | Path) -> dict:
    """The ``config.yaml`` a results folder was run with (``{}`` when absent; ``task`` inferred from the runs)."""
    out_dir = Path(out_dir)
    f = out_dir / "config.yaml"
    cfg = (yaml.safe_load(f.read_text()) or {}) if f.exists() else {}
    if "task" not in cfg and any((out_dir / "runs").glob("seqrec__seed*.json")):
        cfg["task"] = "seqrec"
    return cfg
