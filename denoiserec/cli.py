"""The ``denoiserec`` command line: ``data``, ``simulate``, ``train``, ``run``, ``report``, ``demo``, ``predict``,
``recommend``, ``export``.

Each sub-command lives next to the code it drives; this module only wires them together.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path

import typer

app = typer.Typer(help="Train recommenders from noisy user feedback, and measure whether denoising helps.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)
data_app = typer.Typer(help="Prepare and describe data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _user_errors(command):
    """Print a user error (bad data, setting, output path or checkpoint) as one line and exit 2, without a
    traceback; anything else is a bug and keeps its traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from denoiserec.errors import DenoiserecError

        try:
            return command(*args, **kwargs)
        except DenoiserecError as e:
            typer.echo(f"error: {' '.join(str(e).split())}", err=True)
            raise typer.Exit(2) from None
    return wrapper


# --- data: sources, prepare, describe (denoiserec/data/sources) -----------------------------------------------


def _key_values(items: list[str], option: str, parse=str) -> list[tuple[str, object]]:
    """Repeated ``KEY=VALUE`` options (``--opt``, ``--set``) as (key, parsed value) pairs; a malformed item is a
    usage error naming the option."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        pairs.append((key.strip(), parse(value)))
    return pairs


def _options(opts: list[str]) -> dict[str, str]:
    return {key.replace("-", "_"): value for key, value in _key_values(opts, "--opt")}


@data_app.command("sources")
def data_sources() -> None:
    """List the data sets that `data prepare` reads, with their options."""
    from rich.console import Console
    from rich.table import Table

    from denoiserec.data.sources import SOURCES, summary

    t = Table(title="data sources (denoiserec data prepare SOURCE PATH -o OUT --opt KEY=VALUE)")
    t.add_column("source")
    t.add_column("what")
    t.add_column("options")
    for name, module in SOURCES.items():
        t.add_row(name, summary(name), "\n".join(f"{k}: {v}" for k, v in module.OPTIONS.items()))
    Console().print(t)


@data_app.command("prepare")
@_user_errors
def data_prepare(
    source: str = typer.Argument(..., help="data set name: see `denoiserec data sources`"),
    path: str = typer.Argument(None, help="the downloaded files: a folder or a file"),
    raw: str = typer.Option(None, "--raw", help="same as PATH"),
    out: str = typer.Option(..., "--out", "-o", help="output folder (events.parquet + meta.json)"),
    opt: list[str] = typer.Option([], "--opt", help="source option KEY=VALUE (repeatable)"),
    spec: str = typer.Option(None, "--spec", help="the `table` source's YAML mapping (same as --opt spec=FILE)"),
) -> None:
    """Read a data set's original files and write the canonical feedback log to OUT (atomically)."""
    import time

    from rich.console import Console

    from denoiserec.data.describe import table
    from denoiserec.data.log import write_log
    from denoiserec.data.sources import check_options, read
    from denoiserec.eval.popularity import log_stats
    from denoiserec.io import check_output

    path = path or raw
    if not path:
        raise typer.BadParameter("give the raw data PATH (or --raw PATH)")
    console = Console(stderr=True)
    options = check_options(source, _options(opt), "--opt")
    if spec:
        options["spec"] = spec
    check_output(out, "data", [path])  # before reading: a refused output costs nothing
    t0 = time.perf_counter()
    with console.status(f"reading {source} from {path} ..."):
        df = read(source, path, **options)
        write_log(df, out, source, inputs=(path,), raw=str(path), options=options)
    console.print(f"wrote {df.height:,} rows to {out} in {time.perf_counter() - t0:.1f} s")
    Console().print(table(df, title=f"{source}: {out}", extra=log_stats(df)))


@data_app.command("describe")
@_user_errors
def data_describe(
    path: str = typer.Argument(..., help="a prepared data folder (or its events.parquet)"),
    positions: int = typer.Option(20, help="show rates by session position up to this position (0: skip)"),
    plot: str = typer.Option(None, help="also save the rates by position as this PNG"),
    stream: bool = typer.Option(None, "--stream/--no-stream",
                                help="aggregate in bounded memory (default: when the log has > 5M rows)"),
) -> None:
    """Print a prepared log's statistics: size, feedback kinds, active and label rates, rates by position."""
    import polars as pl
    from rich.console import Console

    from denoiserec.data import describe
    from denoiserec.data.log import read_log
    from denoiserec.eval.popularity import log_stats
    from denoiserec.io import check_output

    if positions < 0:
        from denoiserec.errors import ConfigError

        raise ConfigError(f"--positions: must be >= 0 (0: skip), got {positions}")
    console = Console()
    if plot is not None:
        check_output(plot, "png", [path], folder=False)
    df = read_log(path, lazy=True)
    if stream is None:
        stream = df.select(pl.len()).collect().item() > 5_000_000
    p = None
    if stream:
        p = describe.by_position_streamed(path, max(positions, 1)) if positions > 0 or plot else None
    else:
        df = df.collect()
    console.print(describe.table(df, title=str(path), extra=log_stats(df)))
    if positions > 0:
        console.print(describe.position_table(df, positions, p=p))
    if plot:
        console.print(f"plot: {describe.plot(df, plot, max(positions, 1), p=p)}")



# --- simulate (denoiserec/data/simulate.py) -------------------------------------------------------------------


def _scenario_help() -> str:
    from denoiserec.data.simulate import SCENARIOS

    return "preset: " + ", ".join(f"{k} ({v['short']})" for k, v in SCENARIOS.items()) + " (docs/simulator.md)"


@app.command("simulate")
@_user_errors
def simulate_cmd(
    out: str = typer.Option(..., "--out", "-o", help="output folder (events.parquet + meta.json), written atomically"),
    scenario: str = typer.Option("default", help=_scenario_help()),
    like: str = typer.Option(None, "--like", help="fit the knobs to this prepared log's statistics (over the "
                             "scenario's) and print real vs simulated side by side"),
    users: int = typer.Option(None, help="number of users [2000; with --like: the log's]"),
    items: int = typer.Option(None, help="number of tracks [5000; with --like: fitted]"),
    sessions: int = typer.Option(None, help="sessions per user [5; with --like: the log's]"),
    min_len: int = typer.Option(None, help="shortest recommended playlist [10]"),
    max_len: int = typer.Option(None, help="longest recommended playlist [30]"),
    seed: int = typer.Option(0, help="random seed (same seed, same output)"),
    set_: list[str] = typer.Option([], "--set", help="any other SimConfig knob, e.g. --set slip=0.05 (repeatable)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    plot: str = typer.Option(None, help="with --like: also save real vs simulated curves as this PNG"),
) -> None:
    """Simulate music sessions with hidden attention and true preference (see docs/simulator.md)."""
    import json
    from dataclasses import asdict

    from denoiserec.data.simulate import SCENARIOS, SimConfig, simulate_to
    from denoiserec.errors import ConfigError
    from denoiserec.io import check_output
    from denoiserec.validate import check_fields

    def json_or_text(value: str) -> object:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    given = {k: v for k, v in dict(users=users, items=items, sessions=sessions, min_len=min_len,
                                     max_len=max_len).items() if v is not None}
    opts: dict[str, object] = {"scenario": scenario, **given, "seed": seed, **dict(_key_values(set_, "--set",
                                                                                            json_or_text))}
    if scenario not in SCENARIOS:
        raise ConfigError(f"--scenario: unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    try:
        given_knobs = check_fields(SimConfig, opts, "--set")
        cfg = SimConfig.from_dict(given_knobs)
    except ConfigError as e:
        raise ConfigError(str(e) if str(e).startswith("--set") else f"--set: {e}") from None
    check_output(out, "data")
    extra, real = None, None
    if like:
        from denoiserec.data import calibrate
        from denoiserec.data.log import read_log

        base = SimConfig.from_dict({"scenario": scenario})
        fitted, real = calibrate.fit(read_log(like), base, seed=seed)
        cfg = SimConfig.from_dict({**asdict(fitted), **given_knobs})  # explicit options win over the fit
        extra = {"calibration": {"like": str(like), "fitted": calibrate.fitted_knobs(fitted, base), "real": real}}
    meta = simulate_to(cfg, out, progress=not quiet, extra=extra)
    rates = ", ".join(f"{k} {v:.3f}" for k, v in meta["rates"].items())
    typer.echo(f"wrote {meta['rows']:,} rows to {out} ({rates})")
    if like:
        from rich.console import Console

        from denoiserec.data import calibrate
        from denoiserec.data.log import read_log

        sim_df = read_log(out)
        rows = calibrate.compare(real, calibrate.profile(sim_df))
        if plot:
            typer.echo(f"plot: {calibrate.plot(read_log(like), sim_df, plot, f'{like} vs simulated')}")
        Console().print(calibrate.table(rows, f"{like} (real) vs {out} (simulated)"))
        met = sum(bool(r["ok"]) for r in rows if r["ok"] is not None)
        typer.echo(f"{met} of {sum(r['ok'] is not None for r in rows)} statistics within tolerance; fitted knobs: "
                   + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in extra["calibration"]["fitted"].items()))


# --- train, run, report, demo (denoiserec/train, experiment.py, report/) --------------------------------------
DEMO_CONFIG = Path(__file__).parent / "demo.yaml"
#: the demo's known-answer world: labels := the hidden truth, 20 % of training/validation labels flipped
DEMO_KNOWN_CONFIG = Path(__file__).parent / "demo_known.yaml"


def _apply_sets(cfg: dict, sets: list[str]) -> dict:
    """Apply ``--set a.b=VALUE`` overrides (VALUE read as YAML) to a config (:func:`denoiserec.api.apply_sets`)."""
    import yaml

    from denoiserec.api import apply_sets

    for key, value in _key_values(sets, "--set", yaml.safe_load):
        apply_sets(cfg, {key: value})
    return cfg


PROGRESS_HELP = "progress bars (on a terminal only); --no-progress keeps the per-epoch metric lines"
QUIET_HELP = "print nothing but errors (no bars, epoch lines, warnings or summary; warnings stay in the run records)"


def _run_config(cfg: dict | Path, out: Path | None, progress: bool, sets: list[str] = (), quiet: bool = False,
                summary: bool = True):
    """Run a config (a YAML file or a dict) with ``--set`` overrides through :func:`denoiserec.api.run`, the
    one code path of ``run``, ``train``, ``demo`` and the Python API, and print its summary (unless ``summary`` is
    off); return the results."""
    import yaml

    from denoiserec import notices
    from denoiserec.api import run as run_config

    notices.QUIET = quiet
    results = run_config(cfg, out, progress=progress, sets=dict(_key_values(list(sets), "--set", yaml.safe_load)))
    if summary and not quiet:
        _print_summary(results)
    return results


def _print_summary(results) -> None:
    from denoiserec.tasks import get_task

    get_task(results.config).print_summary(results.path, results.config)


@app.command()
@_user_errors
def run(config: Path = typer.Argument(..., help="experiment YAML (see configs/)"),
        out: Path | None = typer.Option(None, "--out", "-o", help="results folder (default runs/<name>)"),
        set_: list[str] = typer.Option([], "--set", help="override a config value, e.g. --set train.epochs=2"),
        progress: bool = typer.Option(True, help=PROGRESS_HELP),
        quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)) -> None:
    """Run an experiment: every model x method x seed of CONFIG; resumes runs already in the results folder."""
    _run_config(config, out, progress, set_, quiet)


@app.command()
@_user_errors
def train(data: str = typer.Option("simulate", help="prepared folder, raw path with --source, or 'simulate'"),
          source: str | None = typer.Option(None, help="read DATA as this source's raw files (see `data sources`)"),
          spec: str | None = typer.Option(None, "--spec", help="read DATA with the `table` source and this mapping"),
          model: str = typer.Option("deepfm", help="model (see `denoiserec models`)"),
          method: str = typer.Option("none", help="denoising method (see `denoiserec methods`)"),
          param: list[str] = typer.Option([], "--param", "-p", help="method hyper-parameter KEY=VALUE"),
          model_param: list[str] = typer.Option([], "--model-param", "-m", help="model hyper-parameter KEY=VALUE"),
          seeds: str = typer.Option("0", help="comma-separated seeds"),
          epochs: int = typer.Option(5), batch_size: int = typer.Option(4096), lr: float = typer.Option(1e-3),
          device: str = typer.Option("auto", help="auto | cpu | cuda"),
          split: str | None = typer.Option(None, "--split", help="how to split: temporal | random | user ..., or a "
                                           "YAML mapping such as '{how: random, fractions: [0.8, 0.1, 0.1]}' "
                                           "(docs/config.md)"),
          set_: list[str] = typer.Option([], "--set", help="override any config value, e.g. --set train.patience=3 "
                                         "(as `run`; docs/config.md)"),
          out: Path | None = typer.Option(None, "--out", "-o"),
          progress: bool = typer.Option(True, help=PROGRESS_HELP),
          quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)) -> None:
    """Train one model with one method (a one-line experiment; `denoiserec.fit` in Python). Works under
    `torchrun` for DDP."""
    import yaml

    from denoiserec.api import train_config
    from denoiserec.errors import ConfigError

    try:
        seed_list = [int(s) for s in seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds: expected comma-separated integers, got {seeds!r}") from None
    settings: dict = {}
    if split is not None:
        parsed = yaml.safe_load(split)
        settings["split"] = parsed if isinstance(parsed, dict) else {"how": split}
    cfg = train_config(data, model, method, seeds=seed_list, source=source, spec=spec,
                       model_params=_apply_sets({}, model_param), method_params=_apply_sets({}, param),
                       epochs=epochs, batch_size=batch_size, lr=lr, device=device, **settings)
    _run_config(cfg, out, progress, set_, quiet)


@app.command()
@_user_errors
def report(results: Path = typer.Argument(..., help="results folder of `run`/`train`"),
           baseline: str | None = typer.Option(None, help="method label to compare against (default: config's)")
           ) -> None:
    """Re-write and print the Markdown report (tables, RelaImpr, t-tests) and plots of a results folder."""
    from denoiserec.errors import ConfigError, OutputError
    from denoiserec.tasks import folder_config, get_task

    if results.is_symlink() or not (results / "runs").is_dir():
        raise OutputError(f"{results}: not a results folder of `run`/`train` (no runs/ inside)")
    cfg = folder_config(results)
    labels = list(cfg.get("models" if cfg.get("task") == "seqrec" else "methods") or {})
    if baseline is not None and baseline not in labels:
        raise ConfigError(f"--baseline: {baseline!r} is not a label of this folder's config (labels: "
                          f"{', '.join(labels)})")
    cfg["baseline"] = baseline or cfg.get("baseline")
    task = get_task(cfg)
    task.write_report(results, cfg)
    task.print_summary(results, cfg)


@app.command()
@_user_errors
def demo(out: Path = typer.Option(Path("runs/demo"), "--out", "-o"),
         known_out: Path | None = typer.Option(None, "--known-out", help="results of the known-answer world "
                                               "(default: OUT_known beside OUT)"),
         known: bool = typer.Option(True, "--known/--no-known", help="also run the known-answer world"),
         set_: list[str] = typer.Option([], "--set", help="override a value of both demo configs"),
         progress: bool = typer.Option(True, help=PROGRESS_HELP),
         quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)) -> None:
    """Simulate a music service, train DeepFM with and without denoising, print the comparison table; beside it a
    known-answer world (labels := the simulator's hidden truth with 20 % flipped, clean test labels) showing what
    the label methods win back where the damage is known."""
    import yaml

    worlds = [("A noisy music service (auto-play = liked, unplayed = disliked)", DEMO_CONFIG, out)]
    if known:
        worlds.insert(0, ("Known answer: labels = the hidden truth, 20 % of training labels flipped; test labels clean",
                          DEMO_KNOWN_CONFIG, known_out or out.with_name(out.name + "_known")))
    done = [(title, _run_config(yaml.safe_load(cfg.read_text()), where, progress, set_, quiet, summary=False))
            for title, cfg, where in worlds]
    if not quiet:
        for title, results in done:
            typer.echo(f"\n{title}")
            _print_summary(results)


@app.command()
def models() -> None:
    """List the models."""
    from denoiserec.models import available

    typer.echo("\n".join(available()))


@app.command()
def methods() -> None:
    """List the denoising methods."""
    from denoiserec.methods import available

    typer.echo("\n".join(available()))


# --- predict, recommend, export (denoiserec/bundle.py, denoiserec/export.py; docs/serving.md) ---------------------


def _read_rows(path: str, source: str | None = None, spec: str | None = None, opt: list[str] | None = None):
    """A canonical log: a prepared folder or events Parquet, a CSV/Parquet table in canonical columns, or raw
    files through a source (``--source``; ``--spec`` implies the ``table`` source)."""
    import polars as pl

    from denoiserec.data.log import read_log
    from denoiserec.data.sources import read
    from denoiserec.errors import DataError

    options = _options(opt or [])
    if spec:
        source, options["spec"] = source or "table", spec
    if source:
        return read(source, path, **options)
    p = Path(path)
    if p.is_file() and p.suffix in (".csv", ".tsv"):
        try:
            return pl.read_csv(p, separator="\t" if p.suffix == ".tsv" else ",", infer_schema_length=10000)
        except pl.exceptions.PolarsError as e:
            raise DataError(p, f"cannot read: {str(e).splitlines()[0]}") from e
    return read_log(p)


@contextmanager
def _naming(files: dict[str, object]):
    """Re-raise a bundle's :class:`~denoiserec.errors.DataError` about a frame it was given (``"log"``,
    ``"history"``: the Python API's words) naming the file the command read it from."""
    from denoiserec.errors import DataError

    try:
        yield
    except DataError as e:
        if e.path in files:
            raise DataError(files[e.path], e.message, e.row, e.column) from e
        raise


def _write_rows(df, out: Path, kind: str) -> None:
    from denoiserec.io import atomic_path, write_parquet_output

    if out.suffix == ".csv":
        with atomic_path(out) as tmp:
            df.write_csv(tmp)
    else:
        write_parquet_output(df, out, kind)


def _check_options(method: str, **values) -> None:
    """Command-line ``values`` against the declarations of both bundle kinds' ``method`` (``predict``,
    ``recommend``), before anything is read: one line naming the option."""
    from denoiserec.bundle import CTRBundle, SeqBundle
    from denoiserec.validate import check_args

    for kind in (CTRBundle, SeqBundle):
        check_args(getattr(kind, method), lambda n: "--" + n.replace("_", "-"), **values)


def _summary(summary: dict, seconds: float, out: Path) -> None:
    import json

    typer.echo(f"wrote {out} in {seconds:.2f} s; {json.dumps(summary)}", err=True)


@app.command()
@_user_errors
def predict(bundle: Path = typer.Argument(..., help="a model bundle folder (<results>/bundles/<run>)"),
            data: str = typer.Option(..., "--data", help="rows to score (+ their history): prepared folder, "
                                     "Parquet/CSV in canonical columns, or raw files with --source/--spec"),
            out: Path = typer.Option(..., "--out", "-o", help="scores file (.parquet or .csv)"),
            source: str | None = typer.Option(None, help="read DATA as this source's raw files"),
            spec: str | None = typer.Option(None, "--spec", help="read DATA with the `table` source and this mapping"),
            opt: list[str] = typer.Option([], "--opt", help="source option KEY=VALUE (repeatable)"),
            batch_size: int = typer.Option(32768, help="rows per forward pass")) -> None:
    """Score every row of DATA with a saved model: one score per row, in DATA's order (unseen ids: counted)."""
    import time

    from denoiserec.bundle import load
    from denoiserec.io import check_output

    _check_options("predict", batch_size=batch_size)
    check_output(out, "scores", [data, bundle], folder=False)
    t0 = time.perf_counter()
    b = load(bundle)
    with _naming({"log": data, "history": data}):
        pred = b.predict(_read_rows(data, source, spec, opt), batch_size)
    _write_rows(pred.scores, out, "scores")
    _summary(pred.summary, time.perf_counter() - t0, out)


@app.command()
@_user_errors
def recommend(bundle: Path = typer.Argument(..., help="a model bundle folder (<results>/bundles/<run>)"),
              history: str = typer.Option(..., "--history", help="the users' past events (a canonical log, as --data "
                                          "of predict)"),
              out: Path = typer.Option(..., "--out", "-o", help="recommendations file (.parquet or .csv)"),
              k: int = typer.Option(20, "--k", help="items per user"),
              users: str | None = typer.Option(None, help="comma-separated users (default: all in HISTORY)"),
              candidates: str | None = typer.Option(None, help="CTR models: the candidate rows (user, item, "
                                                    "context ...) to rank, Parquet or CSV"),
              all_items: bool = typer.Option(False, "--all-items", help="CTR models: rank every item of the "
                                             "bundle's item table for each user (instead of --candidates)"),
              exclude_heard: bool = typer.Option(False, help="drop songs already in the history (transformer, "
                                                 "CTR --all-items)"),
              exclude_disliked: bool = typer.Option(True, help="drop songs the user gave a 'down' (transformer, "
                                                    "CTR --all-items)"),
              station: str | None = typer.Option(None, help="transformer: ask at this station / context "
                                                 "(default: each user's last one)"),
              station_only: bool = typer.Option(False, help="transformer: only songs played at that station in "
                                                "training"),
              source: str | None = typer.Option(None, help="read HISTORY as this source's raw files"),
              spec: str | None = typer.Option(None, "--spec", help="read HISTORY with the `table` source and this "
                                              "mapping"),
              opt: list[str] = typer.Option([], "--opt", help="source option KEY=VALUE (repeatable)")) -> None:
    """Top-K items per user: the transformer's next songs from each history, or a CTR model's ranking of a
    candidate set."""
    import time

    from denoiserec.bundle import load
    from denoiserec.errors import ConfigError, DataError
    from denoiserec.io import check_output

    _check_options("recommend", k=k)
    names = [u.strip() for u in users.split(",") if u.strip()] if users is not None else None
    if users is not None and not names:
        raise ConfigError(f"--users: no user id in {users!r} (comma-separated ids)")
    check_output(out, "recommendations", [history, bundle, candidates], folder=False)
    t0 = time.perf_counter()
    b = load(bundle)
    hist = _read_rows(history, source, spec, opt)
    if names and "user" in hist.columns:
        unknown = sorted(set(names) - set(hist["user"].cast(str).unique().to_list()))
        if unknown:
            raise DataError(history, f"--users: {len(unknown)} of the {len(names)} users asked have no event in "
                            f"this history ({', '.join(unknown[:5])}); recommendations follow each user's past "
                            "events: check the ids (as in the log's user column) or pass a history that holds them")
    if b.kind == "seqrec":
        if station is not None and station not in b.stations:
            raise ConfigError(f"--station: {station!r} is not a station of this bundle's training data (known: "
                              f"{', '.join(map(str, b.stations[:8]))}{', ...' if len(b.stations) > 8 else ''})")
        with _naming({"history": history, "log": history}):
            recs = b.recommend(hist, k, names, exclude_heard=exclude_heard, exclude_disliked=exclude_disliked,
                               station=station, station_only=station_only)
    else:
        if bool(candidates) == all_items:
            raise typer.BadParameter("a CTR model ranks a candidate set: pass --candidates FILE or --all-items")
        cand = _read_rows(candidates) if candidates else None
        if cand is not None and cand.height == 0:  # Python returns the empty ranking with a warning
            raise DataError(candidates, "no candidate rows: nothing to rank")
        with _naming({"history": history, "log": history, "candidates": candidates}):
            recs = b.recommend(hist, cand, k, names, exclude_heard=exclude_heard, exclude_disliked=exclude_disliked)
    _write_rows(recs.scores, out, "recommendations")
    _summary(recs.summary, time.perf_counter() - t0, out)


@app.command()
@_user_errors
def export(bundle: Path = typer.Argument(..., help="a model bundle folder (<results>/bundles/<run>)"),
           onnx: Path = typer.Option(..., "--onnx", help="output ONNX file"),
           check: int = typer.Option(1000, help="compare onnxruntime with PyTorch on this many random rows (0: skip)"),
           ) -> None:
    """Export a bundle's model to ONNX (CTR models and the transformer); see docs/serving.md."""
    from denoiserec.bundle import load
    from denoiserec.errors import OutputError
    from denoiserec.export import example_inputs, export_onnx, parity
    from denoiserec.io import check_output

    if check < 0:
        from denoiserec.errors import ConfigError

        raise ConfigError(f"--check: must be >= 0 (0: skip), got {check}")
    check_output(onnx, "onnx", [bundle], folder=False)
    b = load(bundle)
    try:
        info = export_onnx(b, onnx)
    except RuntimeError as e:
        raise OutputError(str(e)) from None
    line = f"wrote {onnx} ({info['exporter']} exporter; inputs {info['inputs']}, output {info['outputs'][0]})"
    if check:
        line += f"; max |onnxruntime - torch| on {check} rows: {parity(b, onnx, example_inputs(b, check, 1)):.3g}"
    typer.echo(line)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
