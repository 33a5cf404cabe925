"""What every task is (:class:`Task`) and what both tasks do with a results folder: set aside the run records
(and their bundles) that the current config would not produce."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

from tqdm.auto import tqdm


class Task(ABC):
    """One kind of experiment (a config's ``task``): checks its config, runs it into a results folder (skipping
    what is already there), writes the report and prints the summary."""

    name: str

    @abstractmethod
    def check_config(self, cfg: dict, where: str = "config") -> dict:
        """Validate ``cfg`` and fill its defaults; a one-line :class:`ConfigError` naming the key otherwise."""

    @abstractmethod
    def run(self, cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
        """Every run of ``cfg`` not yet in ``out_dir/runs``, then the report."""

    def sections(self) -> dict[str, type]:
        """The task's own config sections checked key by key: section -> dataclass, its annotations declaring the
        ranges (:mod:`denoiserec.settings`; docs/config.md);
        empty where the task's sections are the shared ones of :mod:`denoiserec.config_check`."""
        return {}

    @abstractmethod
    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        """(Re-)write ``out_dir/report.md`` and its figures from the run records."""

    @abstractmethod
    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        """Print the compact summary table of ``out_dir``."""


def set_aside_stale_runs(runs_dir: Path, wanted: dict[str, str], prefix: str = "") -> None:
    """Move results that this config would not produce -- another config or data (their fingerprint differs),
    or a model/method/seed no longer in the config -- from ``runs/`` to ``stale/``, saying so; they are then
    recomputed or left out of the report, never reused."""
    for file in sorted(runs_dir.glob(f"{prefix}*.json")):
        if file.name.startswith("seqrec__") != (prefix == "seqrec__"):
            continue
        try:
            fp = json.loads(file.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            fp = None
        if wanted.get(file.stem) == fp:
            continue
        why = "not in this config" if file.stem not in wanted else "written for another config or data"
        stale = runs_dir.parent / "stale"
        stale.mkdir(exist_ok=True)
        file.replace(stale / file.name)
        set_aside_bundles(runs_dir.parent, file.stem, stale)
        tqdm.write(f"{file}: {why}; moved to {stale}/" + (" and recomputing" if file.stem in wanted else ""))


def set_aside_bundles(out_dir: Path, run: str, stale: Path) -> None:
    """Move the saved models (:mod:`denoiserec.bundle`) of a run set aside to ``stale/bundles/``: the run's own
    bundle, or for ``seqrec__seed<k>`` every variant's ``seqrec__<variant>__seed<k>``."""
    import shutil

    bundles = out_dir / "bundles"
    if not bundles.is_dir():
        return
    if run.startswith("seqrec__"):
        found = sorted(bundles.glob(f"seqrec__*__{run.removeprefix('seqrec__')}"))
    else:
        found = [bundles / run] if (bundles / run).is_dir() else []
    for folder in found:
        target = stale / "bundles" / folder.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (target / "bundle.json").is_file():  # an older set-aside bundle of ours
            shutil.rmtree(target)
        folder.replace(target)
