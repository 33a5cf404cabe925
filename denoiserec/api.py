"""The Python API: ``prepare`` → ``fit`` → a bundle's ``predict`` / ``recommend``, and ``run`` for a whole config.

::

    import denoiserec as dr
    log = dr.prepare("plays.csv", spec="mapping.yaml")        # or dr.simulate(users=500)
    bundle = dr.fit(log, model="din", method="lcd", epochs=3)  # the CLI's `train`, same defaults and checks
    scores = bundle.predict(log).scores
    results = dr.run("configs/lcd.yaml")                       # the CLI's `run`

One code path: the CLI's ``train`` builds its config with :func:`train_config` and runs it with :func:`run`, as
:func:`fit` does; the CLI's ``run`` and ``demo`` call :func:`run` too. A data frame given to :func:`fit` is
written once, content-addressed, under the data cache (``$DENOISEREC_CACHE`` or ``~/.cache/denoiserec``,
``frames/<sha256>``), so that the run's fingerprint, ``config.yaml`` and the bundle name a folder as they do
for a prepared log.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from denoiserec.errors import ConfigError

if TYPE_CHECKING:
    from denoiserec.run_settings import Settings

#: top-level config keys that ``fit(..., key=value)`` sets directly (the rest go to ``train``)
TOP_LEVEL = ("name", "split", "features", "target", "seeds", "baseline")


def prepare(path_or_frame, source: str | None = None, spec: str | Path | dict | None = None,
            out: str | Path | None = None, **options) -> pl.DataFrame:
    """A canonical log (:mod:`denoiserec.data.schema`) from a data set's raw files (``source``), any
    CSV/TSV/Parquet log through a mapping (``spec``: the ``table`` source, docs/data.md), a prepared folder, or a
    data frame (canonical columns, or raw columns with ``spec``). With ``out``: also written there, as
    ``denoiserec data prepare -o`` does."""
    import tempfile

    from denoiserec.data.log import read_log, write_log
    from denoiserec.data.schema import conform
    from denoiserec.data.sources import read

    if spec is not None:
        source, options["spec"] = source or "table", spec
    frame = _as_frame(path_or_frame)
    if frame is not None and source:  # a frame in a raw layout: through the source, from a temporary file
        with tempfile.TemporaryDirectory(prefix="denoiserec-") as tmp:
            file = Path(tmp) / "log.parquet"
            frame.write_parquet(file)
            df = read(source, file, **options)
    elif frame is not None:
        df = conform(frame, "frame")
    elif source:
        df = read(source, path_or_frame, **options)
    else:
        df = read_log(path_or_frame)
    if out is not None:
        inputs = () if frame is not None else (path_or_frame,)
        write_log(df, out, source or "frame", inputs=inputs, options={k: str(v) for k, v in options.items()})
    return df


def simulate(out: str | Path | None = None, progress: bool = False, **knobs) -> pl.DataFrame:
    """A simulated log with hidden truth (``true_*`` columns; docs/simulator.md): ``scenario``, ``users``,
    ``items``, ``seed`` ... any :class:`~denoiserec.data.simulate.SimConfig` knob, checked as the CLI's."""
    from denoiserec.data.log import read_log
    from denoiserec.data.simulate import SimConfig, simulate_to
    from denoiserec.data.simulate import simulate as sim
    from denoiserec.validate import check_fields

    cfg = SimConfig.from_dict(check_fields(SimConfig, knobs, "simulate"))
    if out is None:
        return sim(cfg, progress=progress)
    simulate_to(cfg, out, progress=progress)
    return read_log(out)


def _as_frame(x) -> pl.DataFrame | None:
    if isinstance(x, pl.DataFrame):
        return x
    if type(x).__module__.startswith("pandas"):
        return pl.from_pandas(x)
    return None


def frame_folder(df: pl.DataFrame, cache: str | Path | None = None) -> Path:
    """A prepared folder holding ``df`` (canonical columns), content-addressed under the data cache; written
    once and reused by every run of the same rows."""
    from denoiserec.data.log import write_log
    from denoiserec.data.schema import conform
    from denoiserec.data.store import cache_dir

    df = conform(df, "frame")
    h = hashlib.sha256(repr((df.columns, [str(t) for t in df.dtypes], df.height)).encode())
    h.update(df.hash_rows(seed=0).to_numpy().tobytes())
    folder = cache_dir({"cache": cache} if cache else None) / "frames" / h.hexdigest()[:32]
    if not (folder / "events.parquet").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        write_log(df, folder, "frame")
    return folder


def data_section(data, source: str | None = None, spec: str | Path | None = None, **options) -> dict:
    """A config's ``data`` section for ``data``: ``"simulate"`` (the default simulator), a dict (a ``data``
    section as is), a data frame (see :func:`frame_folder`), or a path (a prepared folder; raw files with
    ``source`` / ``spec``)."""
    if spec is not None:
        source, options["spec"] = source or "table", str(spec)
    if isinstance(data, dict):
        return data
    if isinstance(data, str) and data == "simulate":
        return {"simulate": {}}
    frame = _as_frame(data)
    if frame is not None:
        if source:
            frame = prepare(frame, source=source, **options)
        return {"path": str(frame_folder(frame))}
    if source:
        return {"source": source, "path": str(data), **({"options": options} if options else {})}
    return {"path": str(data)}


def default_sequences(models) -> dict:
    """``features.sequences`` the CLI's ``train`` encodes for ``models``: each model's ``default_sequences``
    (``hist``, every earlier event, for models that declare none), 20 events each."""
    from denoiserec.models import default_sequences as declared

    names: dict = {}
    for m in models:
        for name in declared(m):
            names[name] = {"max_len": 20}
    return names


def train_config(data="simulate", model: str = "deepfm", method: str = "none", *, seeds=0, source: str | None = None,
                 spec: str | Path | None = None, model_params: dict | None = None,
                 method_params: dict | None = None, **settings) -> dict:
    """The config of a one-model, one-method experiment with the CLI ``train``'s defaults: epochs 5, batch 4096,
    lr 1e-3, the model's default sequences (:func:`default_sequences`), the temporal split. ``settings``: any
    ``train`` key (``epochs=3``, ``patience=1``) or top-level key (``split={"how": "random"}``, ``features``,
    ``target``, ``name``); unknown keys are a :class:`ConfigError` listing the known ones."""
    from denoiserec.train.trainer import TrainConfig

    train_keys = {f.name for f in fields(TrainConfig)} - {"seed", "checkpoint"}
    cfg: dict = {"name": f"{model}_{method}", "data": data_section(data, source, spec),
                 "train": {"epochs": 5, "batch_size": 4096, "lr": 1e-3, "device": "auto"},
                 "seeds": [seeds] if isinstance(seeds, int) else list(seeds),
                 "models": {model: dict(model_params or {})}, "methods": {method: dict(method_params or {})},
                 "features": {"sequences": default_sequences([model])}}
    for key, value in settings.items():
        if key in train_keys:
            cfg["train"][key] = value
        elif key in TOP_LEVEL:
            cfg[key] = value
        else:
            raise ConfigError(f"{key}: unknown setting; give a train key ({', '.join(sorted(train_keys))}) or "
                              f"{', '.join(TOP_LEVEL)}")
    return cfg


class Results:
    """A results folder of ``run`` / ``fit``: its run records, summary table and bundles."""

    def __init__(self, path: str | Path, config: Settings | dict | None = None):
        """``config``: the settings it was run with, else the folder's stored ``config.yaml`` is read."""
        from denoiserec.tasks import folder_config

        self.path = Path(path)
        self.config = config if config is not None else folder_config(self.path)

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r}: {len(self.runs)} runs)"

    @property
    def runs(self) -> list[dict]:
        """Every run record (``runs/*.json``; the popularity scorer's too when there is one)."""
        from denoiserec.report.ctr import load_runs

        return load_runs(self.path)

    @property
    def warnings(self) -> list[str]:
        """The warnings every run recorded (its ``warnings`` list), each prefixed with the run."""
        return [f"{r.get('model', 'seqrec')}/{r.get('method', '')}/seed{r.get('seed')}: {w}"
                for r in self.runs for w in r.get("warnings", ())]

    def table(self) -> pl.DataFrame:
        """The report's summary table (mean ± std over seeds, RelaImpr and paired t-tests vs the baseline)."""
        import numpy as np

        from denoiserec.tasks import get_task

        if get_task(self.config).name != "ctr":
            return pl.DataFrame()
        from denoiserec.report.ctr import select_on_validation, summarize
        from denoiserec.run_settings import report_keys

        baseline, select, baseline_model = report_keys(self.config)
        rows = summarize(select_on_validation(self.runs, select), baseline, baseline_model)
        def flat(row: dict) -> dict:
            out: dict = {}
            for k, v in row.items():
                if isinstance(v, tuple):  # (mean, std) over seeds
                    out[k], out[f"{k}_std"] = v
                else:
                    out[k] = v
            return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in out.items()}

        return pl.DataFrame([flat(r) for r in rows])

    def bundles(self) -> list[Path]:
        return sorted(p for p in (self.path / "bundles").glob("*") if (p / "bundle.json").is_file())

    def bundle(self, model: str | None = None, method: str | None = None, seed: int | None = None):
        """The bundle of the first run matching ``model`` / ``method`` / ``seed`` (any when not given)."""
        from denoiserec.bundle import load

        for p in self.bundles():
            parts = p.name.split("__")
            if ((model is None or parts[0] == model) and (method is None or parts[1] == method)
                    and (seed is None or parts[-1] == f"seed{seed}")):
                return load(p)
        raise ConfigError(f"{self.path}: no bundle for model={model} method={method} seed={seed}; "
                          f"have {[p.name for p in self.bundles()]}")


def _config(config) -> tuple[dict, str]:
    """A config dict and the name its messages use (the file, whose stem is the default ``name``); settings give
    their :meth:`~denoiserec.run_settings.Settings.to_dict`."""
    import yaml

    from denoiserec.run_settings import Settings

    if isinstance(config, Settings):
        return config.to_dict(), "config"
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of sections at the top level, got a "
                              f"{type(loaded).__name__}")
        return loaded, str(path)
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping or a YAML file, got {type(config).__name__}")
    return dict(config), "config"


def apply_sets(cfg: dict, sets: dict) -> dict:
    """Apply overrides ``{"a.b": VALUE}`` (``--set a.b=VALUE``) to a config in place, creating sections as needed;
    a key path through a value that is not a section (``seeds.x`` when ``seeds`` is a list) is a ConfigError."""
    for key, value in sets.items():
        *parents, leaf = str(key).split(".")
        node = cfg
        for i, k in enumerate(parents):
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parents[:i + 1])} is {node!r}, not a section with keys")
        node[leaf] = value
    return cfg


def run(config, out: str | Path | None = None, progress: bool = True, sets: dict | None = None) -> Results:
    """Run an experiment config (a dict or a YAML file; ``sets``: overrides such as ``{"train.epochs": 2}``, as
    ``--set``): every model × method × seed not yet in ``out`` (default ``runs/<name>``), then its report.

    A CTR config without ``features.sequences`` gets the sequences its sequence models need
    (:func:`default_sequences` of the models that declare them, ``hist`` for DIN/DMT), so every model runs."""
    from denoiserec.experiment import check_config, run_experiment

    cfg, where = _config(config)
    apply_sets(cfg, sets or {})
    if _as_frame(cfg.get("data")) is not None:  # a frame in Python: its cached folder
        cfg["data"] = data_section(cfg["data"])
    cfg = _with_sequences(cfg)
    cfg = check_config(cfg, where)
    out = Path(out) if out is not None else Path("runs") / cfg.name
    run_experiment(cfg, out, progress=progress)
    return Results(out, cfg)


def _with_sequences(cfg: dict) -> dict:
    """``cfg`` with ``features.sequences`` filled, when it names none, with what its sequence models attend over:
    the sequences their hyper-parameters name (``sequence``, ``sequences``, AutoInt's ``umn_sequences`` with
    ``umn``), else their ``default_sequences``."""
    from denoiserec.models import available, model_class

    features = cfg.get("features") or {}
    if (cfg.get("task", "ctr") != "ctr" or not isinstance(cfg.get("models"), dict) or not isinstance(features, dict)
            or features.get("sequences")):
        return cfg
    names: dict = {}
    for label, hp in cfg["models"].items():
        hp = hp if isinstance(hp, dict) else {}
        name = hp.get("model", label)
        if name not in available():
            continue  # the config check names it
        wanted = hp.get("sequences") or hp.get("sequence") or (hp.get("umn") and hp.get("umn_sequences"))
        if hp.get("umn") and not wanted:
            wanted = ("click", "unclick", "like", "dislike")
        if not wanted and hasattr(model_class(name), "default_sequences"):
            wanted = model_class(name).default_sequences
        for n in [wanted] if isinstance(wanted, str) else wanted or ():
            names[n] = {"max_len": 20}
    return {**cfg, "features": {**features, "sequences": names}} if names else cfg


def fit(data="simulate", model: str = "deepfm", method: str = "none", *, out: str | Path | None = None,
        seed: int = 0, progress: bool = True, source: str | None = None, spec: str | Path | None = None,
        model_params: dict | None = None, method_params: dict | None = None, **settings):
    """Train ``model`` with ``method`` on ``data`` (a canonical frame from :func:`prepare` / :func:`simulate`, a
    prepared folder, raw files with ``source`` / ``spec``, or ``"simulate"``) exactly as ``denoiserec train``
    does, and return the saved bundle (``predict``, ``recommend``; docs/serving.md). The results folder
    (``out``, default ``runs/<model>_<method>``) holds the run record and report: ``Results(out)``."""
    cfg = train_config(data, model, method, seeds=seed, source=source, spec=spec, model_params=model_params,
                       method_params=method_params, **settings)
    results = run(cfg, out, progress=progress)
    return results.bundle(model, method, seed)
