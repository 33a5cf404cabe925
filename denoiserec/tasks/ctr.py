"""The CTR task: models x methods x seeds on rows of a canonical log (:mod:`denoiserec.experiment`,
:mod:`denoiserec.train.trainer`, :mod:`denoiserec.report`)."""

from __future__ import annotations

from pathlib import Path

from denoiserec.tasks import Task


class CtrTask(Task):
    name = "ctr"

    def check_config(self, cfg: dict, where: str = "config") -> dict:
        from denoiserec.experiment import check_config

        return check_config(cfg, where)

    def done(self, cfg: dict, seed: int, out_dir: str | Path) -> bool:
        from denoiserec.experiment import run_done, run_name

        return all(run_done(out_dir, run_name(m, me, seed)) for m in cfg["models"] for me in cfg["methods"])

    def run_seed(self, cfg: dict, seed: int, out_dir: str | Path, progress: bool = True) -> None:
        from denoiserec.experiment import run_experiment

        run_experiment({**cfg, "seeds": [seed]}, out_dir, progress)

    def run(self, cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
        from denoiserec.experiment import run_experiment

        return run_experiment(cfg, out_dir, progress)

    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        from denoiserec.report import write_report

        return write_report(out_dir, cfg.get("baseline"), cfg.get("select"), cfg.get("baseline_model"))

    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        from denoiserec.report import print_summary

        print_summary(out_dir, cfg.get("baseline"), cfg.get("select"), cfg.get("baseline_model"))
