"""The up-front check of a whole experiment config (docs/reliability.md): every section -- data, split,
features, train, seeds, models, methods, baseline, select -- is checked with
:mod:`denoiserec.validate` before any data is read, so a bad setting is one :class:`ConfigError` naming the key
path (``train.epochs``, ``methods.lcd.a``) instead of a traceback or a silently wrong run.

:func:`check_ctr_config` checks a CTR config; the section checks (:func:`check_data`, :func:`check_seeds`,
:func:`labelled`, :func:`positive`) are shared with the seqrec task. Which task checks a config is decided by
:func:`denoiserec.tasks.check_config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from denoiserec.data.load import KEYS
from denoiserec.data.target import check_oracle_label
from denoiserec.errors import ConfigError
from denoiserec.io import safe_name
from denoiserec.validate import check_fields, check_mapping, check_params, coerce

if TYPE_CHECKING:
    from denoiserec.run_settings import CtrSettings

#: the top-level keys and what each means (docs/config.md is generated from these declarations)
TOP_KEYS = {
    "name": "the experiment's name (default: the config file's stem); results go to runs/<name>",
    "description": "free text, kept with the results",
    "task": "ctr (rows of a log; the default) or seqrec (the negative-feedback transformer, its own sections)",
    "data": "where the log comes from (the data section below)",
    "target": "what the CTR task predicts: click (the log's label) or dislike (DUMN's task)",
    "noise": "known-answer control on simulated data: labels := the hidden preference, train/valid labels flipped "
             "(denoiserec.data.noise)",
    "split": "how rows are split into train / valid / test (the split section below)",
    "features": "what is encoded (the features section below)",
    "train": "the trainer's settings (the train section below)",
    "seeds": "a seed or a list of seeds; one run per model x method x seed",
    "models": "label -> hyper-parameters (model: <module> when the label differs); see Models below",
    "methods": "label -> hyper-parameters (method: <module> when the label differs; oracle: true on simulated "
               "data); see Methods below",
    "baseline": "the method label RelaImpr and paired t-tests compare against (default: the first method)",
    "select": "name -> candidate method labels: per model, the one with the best validation AUC",
    "baseline_model": "compare models with this model label instead (same method)",
}
KNOWN_KEYS = set(TOP_KEYS)
DATA_KEYS = KEYS  #: the data section's keys and meanings, declared once beside :class:`DataSpec`


def _prefixed(where: str, e: Exception) -> ConfigError:
    text = str(e)
    return ConfigError(text if text.startswith(where) else f"{where}: {text}")


def check_data(data: object, where: str = "data") -> dict:
    """The ``data`` section (:meth:`denoiserec.data.load.DataSpec.check`)."""
    from denoiserec.data.load import DataSpec

    return DataSpec.check(data, where)


def check_target(cfg: dict) -> None:
    """``target`` (:mod:`denoiserec.data.target`): what the CTR task predicts; relabelled in memory, so not with a
    streamed log."""
    from denoiserec.data.target import TARGETS

    target = cfg.get("target", "click")
    if target not in TARGETS:
        raise ConfigError(f"target: must be one of {sorted(TARGETS)}, got {target!r}")
    if target != "click" and cfg["data"].get("stream") is True:
        raise ConfigError(f"target: {target!r} relabels the log in memory; set data.stream: false")


def check_noise(cfg: dict) -> None:
    """``noise`` (:mod:`denoiserec.data.noise`): known-answer label flips on simulated data, relabelled in memory."""
    if cfg.get("noise") is None:
        return
    from denoiserec.data.noise import LabelNoise

    cfg["noise"] = check_fields(LabelNoise, cfg["noise"], "noise")
    try:
        LabelNoise(**cfg["noise"])
    except ConfigError as e:
        raise _prefixed("noise", e) from None
    if "simulate" not in cfg["data"] and "path" not in cfg["data"]:
        raise ConfigError("noise: needs the simulator's hidden true_preference (data.simulate or a simulated log)")
    if cfg.get("target", "click") != "click":
        raise ConfigError("noise: replaces the click label with the hidden preference; not with target: "
                          f"{cfg['target']!r}")
    if cfg["data"].get("stream") is True:
        raise ConfigError("noise: relabels the log in memory; set data.stream: false")


def check_split(split: object, where: str = "split") -> dict:
    from denoiserec.data import split as split_module

    d = check_params(split_module.split, split, where, skip=("df",))
    if "fractions" in d:
        f = coerce(list(d["fractions"]), list[float], f"{where}.fractions")
        if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1) > 1e-6:
            raise ConfigError(f"{where}.fractions: must be three non-negative numbers summing to 1, got {f}")
        if f[1] == 0 or f[2] == 0:
            raise ConfigError(f"{where}.fractions: the valid and test shares must be > 0, got {f}")
    return d


def check_features(features: object, where: str = "features") -> dict:
    from denoiserec.data.features import FeatureConfig, HistoryConfig
    from denoiserec.data.kinds import FEEDBACK_KINDS

    d = check_fields(FeatureConfig, features, where, skip=("sequences",))
    seqs = check_mapping(d.get("sequences"), f"{where}.sequences")
    for name, s in seqs.items():
        path = f"{where}.sequences.{name}"
        s = check_fields(HistoryConfig, s, path)
        for k in s.get("kinds") or ():
            if k not in FEEDBACK_KINDS:
                raise ConfigError(f"{path}.kinds: unknown feedback kind {k!r}; known: {', '.join(FEEDBACK_KINDS)}")
    return d


def check_train(train: object, where: str = "train") -> dict:
    from denoiserec.train.trainer import TrainConfig

    return TrainConfig.check(train, where)


def check_seeds(seeds: object, where: str = "seeds") -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    s = coerce(seeds, list[int], where)
    if not s:
        raise ConfigError(f"{where}: give at least one seed")
    if len(set(s)) != len(s):
        raise ConfigError(f"{where}: repeated seed(s) in {s}")
    if bad := [x for x in s if not 0 <= x < 2**32]:
        raise ConfigError(f"{where}: a seed must be in [0, 2**32), got {bad[0]}")
    return s


def check_models(models: object, where: str = "models") -> dict:
    from denoiserec import models as registry

    out = {}
    for label, hp in labelled(models, where).items():
        hp = dict(check_mapping(hp, f"{where}.{label}"))
        name = hp.pop("model", label)
        if name not in registry.available():
            raise ConfigError(f"{where}.{label}: unknown model {name!r}; available: {', '.join(registry.available())}")
        registry.check_hparams(name, hp, f"{where}.{label}")
        out[label] = hp if name == label else {"model": name, **hp}
    return out


def check_methods(methods: object, where: str = "methods") -> dict:
    """Checks names and types against each method's constructor, then builds it once (methods need no data),
    so range checks in the constructors (e.g. EDM's decay) fire here too."""
    from denoiserec import methods as registry

    out = {}
    for label, hp in labelled(methods, where).items():
        hp = dict(check_mapping(hp, f"{where}.{label}"))
        oracle = hp.pop("oracle", False)  # trains on the hidden truth (denoiserec.data.target)
        if oracle:
            check_oracle_label(str(label), where)
        name = hp.pop("method", "none" if oracle else label)
        if name not in registry.available():
            raise ConfigError(f"{where}.{label}: unknown method {name!r}; "
                              f"available: {', '.join(registry.available())}")
        cls = __import__(f"denoiserec.methods.{name}", fromlist=["METHOD"]).METHOD
        checked = check_params(cls, hp, f"{where}.{label}")
        try:
            cls(**checked)
        except (ConfigError, TypeError, ValueError) as e:
            raise _prefixed(f"{where}.{label}", e) from None
        out[label] = {**({"method": name} if name != label else {}), **({"oracle": True} if oracle else {}), **hp}
    return out


def labelled(d: object, where: str) -> dict:
    """A non-empty mapping of safe labels (``models``, ``methods``) to their settings."""
    if not isinstance(d, dict) or not d:
        raise ConfigError(f"{where}: expected a non-empty mapping of labels to hyper-parameters, got {d!r}")
    for label in d:
        safe_name(label, f"{where}.{label}")
    return d


def positive(v: object) -> str | None:
    """A :func:`denoiserec.validate.check_fields` rule: > 0 (None passes)."""
    return None if v is None or v > 0 else f"must be > 0, got {v!r}"


def check_ctr_config(cfg: object, where: str = "config") -> CtrSettings:
    """Check every section of a CTR config ``cfg`` (see the module docstring) and fill the defaults; ``where``
    names the file in messages (:class:`denoiserec.tasks.ctr.CtrTask`; a seqrec config is checked by
    :class:`denoiserec.tasks.seqrec.SeqrecTask` with the shared checks here). Returns the typed settings
    (:class:`~denoiserec.run_settings.CtrSettings`, defaults filled); raises :class:`ConfigError` at the first
    problem."""
    from pathlib import Path

    from denoiserec.run_settings import CtrSettings, Settings

    if isinstance(cfg, Settings):
        cfg = cfg.to_dict()
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    unknown = sorted(set(cfg) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]}: unknown key; known: {', '.join(sorted(KNOWN_KEYS))}")
    if "data" not in cfg:
        raise ConfigError(f"{where}: data: required")

    def at(e: ConfigError) -> ConfigError:
        return ConfigError(f"{where}: {e}")

    try:
        cfg = dict(cfg)
        cfg["name"] = safe_name(cfg.get("name", Path(where).stem), "name")
        if "description" in cfg:
            coerce(cfg["description"], str, "description")
        cfg["data"] = check_data(cfg["data"])
        check_target(cfg)
        check_noise(cfg)
        cfg["seeds"] = check_seeds(cfg.get("seeds", [0, 1, 2, 3, 4]))
        check_split(cfg.get("split"))
        check_features(cfg.get("features"))
        check_train(cfg.get("train"))
        cfg["models"] = check_models(cfg.get("models", {"deepfm": {}}))
        cfg["methods"] = check_methods(cfg.get("methods", {"none": {}}))
        cfg.setdefault("baseline", next(iter(cfg["methods"])))
        if cfg["baseline"] is not None and cfg["baseline"] not in cfg["methods"]:
            raise ConfigError(f"baseline: {cfg['baseline']!r} is not a method label; labels: {list(cfg['methods'])}")
        if cfg.get("baseline_model") is not None and cfg["baseline_model"] not in cfg["models"]:
            raise ConfigError(f"baseline_model: {cfg['baseline_model']!r} is not a model label; "
                              f"labels: {list(cfg['models'])}")
        for name, candidates in check_mapping(cfg.get("select"), "select").items():
            candidates = coerce(candidates, list[str], f"select.{name}")
            missing = [c for c in candidates if c not in cfg["methods"]]
            if missing:
                raise ConfigError(f"select.{name}: unknown method label(s) {missing}")
        settings = CtrSettings.from_checked(cfg)
    except ConfigError as e:
        raise at(e) from None
    return settings
