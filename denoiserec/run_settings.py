"""Typed settings: what the config check (:func:`denoiserec.tasks.check_config`) returns -- a frozen
:class:`CtrSettings` or :class:`SeqrecSettings` whose sections are the dataclasses that run them, defaults filled
once, here. Downstream code reads attributes; :meth:`Settings.to_dict` gives back the checked config exactly as
before (what ``config.yaml``, the fingerprints and the bundles record), and :meth:`Settings.given` one section as
written. Read-only mapping access (``settings["name"]``) reads that dict, for Python callers written against it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from denoiserec.data.load import DataSpec


@dataclass(frozen=True)
class ModelSpec:
    """One ``models.<label>`` entry: the model module and its hyper-parameters (without ``model``)."""

    module: str
    params: dict


@dataclass(frozen=True)
class MethodSpec:
    """One ``methods.<label>`` entry: the method module, its hyper-parameters (without ``method``/``oracle``) and
    whether it trains on the hidden truth (:mod:`denoiserec.data.target`)."""

    module: str
    params: dict
    oracle: bool = False


@dataclass(frozen=True, eq=False, kw_only=True)
class Settings(Mapping):
    """What both tasks' settings share: the checked dict they came from (``checked``), read-only, the name, the
    data and the seeds (keyword-only fields, so each task adds its own, defaults included, in any order)."""

    checked: dict = field(repr=False)
    task: str
    name: str
    data: DataSpec
    seeds: tuple[int, ...]

    def to_dict(self) -> dict:
        """The checked config as a plain dict (a copy): exactly what the check returned before typed settings."""
        return copy.deepcopy(self.checked)

    def given(self, key: str) -> Any:
        """Section ``key`` as written in the checked config (None when absent): what records store verbatim."""
        return copy.deepcopy(self.checked.get(key))

    def __getitem__(self, key: str) -> Any:  # a copy: changing it in place cannot change the settings
        return copy.deepcopy(self.checked[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.checked)

    def __len__(self) -> int:
        return len(self.checked)


@dataclass(frozen=True, eq=False, kw_only=True)
class CtrSettings(Settings):
    """A checked CTR config (:func:`denoiserec.config_check.check_ctr_config`)."""

    models: dict[str, ModelSpec]
    methods: dict[str, MethodSpec]
    split: dict  # denoiserec.data.split.split's keyword arguments (default: temporal)
    features: Any  # denoiserec.data.features.FeatureConfig
    train: Any  # denoiserec.train.trainer.TrainConfig (seed, checkpoint, progress: set per run)
    target: str = "click"
    noise: Any = None  # denoiserec.data.noise.LabelNoise or None
    baseline: str | None = None
    select: dict[str, list[str]] = field(default_factory=dict)
    baseline_model: str | None = None
    description: str | None = None
    task: str = "ctr"

    @classmethod
    def from_checked(cls, cfg: dict) -> CtrSettings:
        """The settings of a checked CTR config (its defaults filled here, once)."""
        from denoiserec.data.features import FeatureConfig
        from denoiserec.data.noise import LabelNoise
        from denoiserec.train.trainer import TrainConfig

        models = {label: ModelSpec(hp.get("model", label), {k: v for k, v in hp.items() if k != "model"})
                  for label, hp in cfg["models"].items()}
        methods = {}
        for label, hp in cfg["methods"].items():
            oracle = bool(hp.get("oracle", False))
            methods[label] = MethodSpec(hp.get("method", "none" if oracle else label),
                                        {k: v for k, v in hp.items() if k not in ("method", "oracle")}, oracle)
        return cls(checked=cfg, name=cfg["name"], data=DataSpec.from_dict(cfg["data"]), seeds=tuple(cfg["seeds"]),
                   models=models, methods=methods, split=dict(cfg.get("split") or {"how": "temporal"}),
                   features=FeatureConfig.from_dict(cfg.get("features")), train=TrainConfig.from_dict(cfg.get("train")),
                   target=cfg.get("target", "click"),
                   noise=LabelNoise(**cfg["noise"]) if cfg.get("noise") is not None else None,
                   baseline=cfg.get("baseline"), select={k: list(v) for k, v in (cfg.get("select") or {}).items()},
                   baseline_model=cfg.get("baseline_model"), description=cfg.get("description"))


@dataclass(frozen=True)
class SeqrecVariant:
    """One ``models.<label>`` of a seqrec config: its flat keys as given (``params``) and the three sections
    with them applied (:func:`denoiserec.tasks.seqrec.route`)."""

    params: dict
    model: Any  # denoiserec.seqrec.train.ModelConfig
    train: Any  # denoiserec.seqrec.train.SeqTrainConfig
    eval: Any  # denoiserec.eval.seqrec.EvalConfig


@dataclass(frozen=True, eq=False, kw_only=True)
class SeqrecSettings(Settings):
    """A checked seqrec config (:meth:`denoiserec.tasks.seqrec.SeqrecTask.check_config`)."""

    features: Any  # denoiserec.data.sequences.SequenceConfig
    split: Any  # denoiserec.data.sequences.SeqSplitConfig
    eval: Any  # denoiserec.eval.seqrec.EvalConfig
    models: dict[str, SeqrecVariant]
    baseline: str | None = None
    description: str | None = None
    task: str = "seqrec"


def report_keys(cfg: Settings | dict) -> tuple:
    """``(baseline, select, baseline_model)`` of CTR settings, or of a results folder's stored config as written
    (:func:`denoiserec.tasks.folder_config`, none filled: ``denoiserec report`` and ``Results`` read it)."""
    if isinstance(cfg, CtrSettings):
        return cfg.baseline, cfg.select or None, cfg.baseline_model
    return cfg.get("baseline"), cfg.get("select"), cfg.get("baseline_model")


def _represent(dumper, settings: Settings):
    return dumper.represent_dict(settings.to_dict())


def _register_yaml() -> None:
    """``yaml.safe_dump(settings)`` writes :meth:`Settings.to_dict` (the config as checked)."""
    import yaml

    yaml.SafeDumper.add_multi_representer(Settings, _represent)


_register_yaml()
