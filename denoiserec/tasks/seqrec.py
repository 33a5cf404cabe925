"""The sequential-recommendation task: the negative-feedback transformer of Mei et al., "Negative Feedback for
Music Personalization" (UMAP '24) -- :mod:`denoiserec.seqrec` (config layout: :mod:`denoiserec.seqrec.run`)."""

from __future__ import annotations

import json
from pathlib import Path

from denoiserec.errors import ConfigError
from denoiserec.io import is_writer
from denoiserec.tasks import Task

KNOWN_KEYS = {"name", "task", "description", "data", "split", "features", "train", "eval", "models", "baseline",
              "seeds"}


class SeqrecTask(Task):
    name = "seqrec"

    def check_config(self, cfg: dict, where: str = "config") -> dict:
        """Every section checked up front (as :func:`denoiserec.config_check.check_config` does for CTR), defaults
        filled; a :class:`ConfigError` naming the key path otherwise."""
        from denoiserec.config_check import _labelled, _positive, check_data, check_seeds
        from denoiserec.data.sequences import SeqSplitConfig, SequenceConfig
        from denoiserec.io import safe_name
        from denoiserec.seqrec.evaluate import EvalConfig
        from denoiserec.seqrec.train import ModelConfig, SeqTrainConfig
        from denoiserec.validate import at_least, between, check_fields, check_mapping

        if "seqrec" in cfg or "variants" in cfg:
            raise ConfigError(f"{where}: seqrec: the 'seqrec:' section is gone: its keys now live in the CTR "
                              "sections (sequences -> features + split, variants -> models, model -> each models "
                              "entry; see configs/negfeedback_quick.yaml)")
        unknown = sorted(set(cfg) - KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]}: unknown key for task seqrec; known: "
                              f"{', '.join(sorted(KNOWN_KEYS))}")
        if "data" not in cfg:
            raise ConfigError(f"{where}: data: required")
        pos = at_least(1)
        classes = {"model": (ModelConfig, {"dim": pos, "layers": pos, "heads": pos, "max_len": pos,
                                           "dropout": between(0, 1)}),
                   "train": (SeqTrainConfig, {"epochs": pos, "batch_size": pos, "lr": _positive, "patience": pos,
                                              "p_mask": between(0, 1), "p_hard": between(0, 1),
                                              "hardest_of_k": at_least(0)}),
                   "eval": (EvalConfig, {"candidates": pos, "batch_size": pos})}
        try:
            cfg = dict(cfg)
            cfg["name"] = safe_name(cfg.get("name", Path(where).stem), "name")
            if "description" in cfg and not isinstance(cfg["description"], str):
                raise ConfigError(f"description: expected text, got {cfg['description']!r}")
            cfg["data"] = check_data(cfg["data"])
            cfg["seeds"] = check_seeds(cfg.get("seeds", [0, 1, 2, 3, 4]))
            for key, klass in (("features", SequenceConfig), ("split", SeqSplitConfig)):
                try:
                    klass.from_dict(check_mapping(cfg.get(key), key))
                except ConfigError as e:
                    raise ConfigError(str(e) if str(e).startswith(key) else f"{key}: {e}") from None
            for part in ("train", "eval"):
                check_fields(*classes[part][:1], cfg.get(part), part, rules=classes[part][1])
            cfg["models"] = _labelled(cfg.get("models", {"default": {}}), "models")
            for label, hp in cfg["models"].items():
                for key, value in check_mapping(hp, f"models.{label}").items():
                    if key == "model":
                        if value != "negfeedback":
                            raise ConfigError(f"models.{label}.model: the seqrec task has one model, "
                                              f"'negfeedback', got {value!r}")
                        continue
                    home = [p for p, (c, _) in classes.items() if key in c.__dataclass_fields__]
                    if not home:
                        raise ConfigError(f"models.{label}.{key}: unknown key (not a model/train/eval option)")
                    c, rules = classes[home[0]]
                    check_fields(c, {key: value}, f"models.{label}", rules=rules)
            if cfg.get("baseline") is not None and cfg["baseline"] not in cfg["models"]:
                raise ConfigError(f"baseline: {cfg['baseline']!r} is not a models label; labels: "
                                  f"{list(cfg['models'])}")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        return cfg

    def run(self, cfg: dict, out_dir: str | Path, progress: bool = True) -> Path:
        """As :meth:`Task.run`, after setting aside results of another config or data (by fingerprint)."""
        from denoiserec.experiment import set_aside_stale_runs
        from denoiserec.fingerprint import seqrec_fingerprint

        runs_dir = Path(out_dir) / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        if is_writer():  # under torchrun, one process moves files
            wanted = {f"seqrec__seed{s}": seqrec_fingerprint(cfg, s) for s in cfg["seeds"]}
            set_aside_stale_runs(runs_dir, wanted, prefix="seqrec__")
        return super().run(cfg, out_dir, progress)

    def done(self, cfg: dict, seed: int, out_dir: str | Path) -> bool:
        return (Path(out_dir) / "runs" / f"seqrec__seed{seed}.json").exists()

    def run_seed(self, cfg: dict, seed: int, out_dir: str | Path, progress: bool = True) -> None:
        from denoiserec.fingerprint import seqrec_fingerprint
        from denoiserec.io import write_json
        from denoiserec.seqrec.run import run_seed

        run_seed(cfg, seed, out_dir, progress=progress)
        if not is_writer():
            return
        file = Path(out_dir) / "runs" / f"seqrec__seed{seed}.json"
        write_json(file, {**json.loads(file.read_text()), "fingerprint": seqrec_fingerprint(cfg, seed)})

    def write_report(self, out_dir: str | Path, cfg: dict) -> Path:
        from denoiserec.seqrec.report import write_report

        if not is_writer():
            return Path(out_dir) / "report.md"
        return write_report(out_dir, cfg)

    def print_summary(self, out_dir: str | Path, cfg: dict) -> None:
        from denoiserec.seqrec.report import print_summary

        print_summary(out_dir, cfg)
