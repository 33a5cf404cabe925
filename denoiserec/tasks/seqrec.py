"""The sequential-recommendation task: the negative-feedback transformer of Mei et al., "Negative Feedback for
Music Personalization" (UMAP '24) -- :mod:`denoiserec.seqrec` (config layout: :mod:`denoiserec.seqrec.run`)."""

from __future__ import annotations

from pathlib import Path

from denoiserec.errors import ConfigError
from denoiserec.tasks import Task

KNOWN_KEYS = {"name", "task", "description", "data", "split", "features", "train", "eval", "models", "baseline",
              "seeds"}


class SeqrecTask(Task):
    name = "seqrec"

    def check_config(self, cfg: dict, where: str = "config") -> dict:
        from denoiserec.data.sequences import SeqSplitConfig, SequenceConfig
        from denoiserec.seqrec.run import resolve_configs

        if "seqrec" in cfg or "variants" in cfg:
            raise ConfigError(f"{where}: the 'seqrec:' section is gone: its keys now live in the CTR sections "
                              "(sequences -> features + split, variants -> models, model -> each models entry; "
                              "see configs/negfeedback_quick.yaml)")
        unknown = set(cfg) - KNOWN_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for task seqrec; known: {sorted(KNOWN_KEYS)}")
        if "data" not in cfg:
            raise ConfigError(f"{where}: 'data' is required")
        cfg.setdefault("name", Path(where).stem)
        cfg.setdefault("seeds", [0, 1, 2, 3, 4])
        cfg.setdefault("models", {"default": {}})
        if not isinstance(cfg["models"], dict) or not cfg["models"]:
            raise ConfigError(f"{where}: 'models' must map labels to settings")
        try:
            SequenceConfig.from_dict(cfg.get("features"))
            SeqSplitConfig.from_dict(cfg.get("split"))
            for label, hp in cfg["models"].items():
                if hp is not None and not isinstance(hp, dict):
                    raise ConfigError(f"models.{label} must be a mapping, got {hp!r}")
                resolve_configs(cfg, label)
        except (ConfigError, TypeError) as e:
            raise ConfigError(f"{where}: {e}") from e
        if cfg.get("baseline") is not None and cfg["baseline"] not in cfg["models"]:
            raise ConfigError(f"{where}: baseline {cfg['baseline']!r} is not a models label")
        return cfg

    def done(self, cfg: dict, seed: int, out_dir: str | Path) -> bool:
        return (Path(out_dir) / "runs" / f"seqrec__seed{seed}.json").exists()

    def run_seed(self, cfg: dict, seed: int, out_dir: str | Path, progress: bool = True) -> None:
        from denoiserec.seqrec.run import run_seed

        run_seed(cfg, seed, out_dir, progress=progress)

    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        from denoiserec.seqrec.report import write_report

        return write_report(out_dir, cfg)

    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        from denoiserec.seqrec.report import print_summary

        print_summary(out_dir, cfg)
