"""The ``denoiserec`` command line: ``data``, ``simulate``, ``train``, ``run``, ``report``, ``demo``.

Each sub-command lives next to the code it drives; this module only wires them together.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Train recommenders from noisy user feedback, and measure whether denoising helps.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)
data_app = typer.Typer(help="Prepare and describe data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


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
def data_prepare(
    source: str = typer.Argument(..., help="data set name: see `denoiserec data sources`"),
    path: str = typer.Argument(None, help="the downloaded files: a folder or a file"),
    raw: str = typer.Option(None, "--raw", help="same as PATH"),
    out: str = typer.Option(..., "--out", "-o", help="output folder (events.parquet + meta.json)"),
    opt: list[str] = typer.Option([], "--opt", help="source option KEY=VALUE (repeatable)"),
) -> None:
    """Read a data set's original files and write the canonical feedback log to OUT (atomically)."""
    import time

    from rich.console import Console

    from denoiserec.data.describe import table
    from denoiserec.data.log import write_log
    from denoiserec.data.sources import read
    from denoiserec.errors import DataError

    path = path or raw
    if not path:
        raise typer.BadParameter("give the raw data PATH (or --raw PATH)")
    console = Console(stderr=True)
    options = _options(opt)
    t0 = time.perf_counter()
    try:
        with console.status(f"reading {source} from {path} ..."):
            df = read(source, path, **options)
            write_log(df, out, source, raw=str(path), options=options)
    except DataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    console.print(f"wrote {df.height:,} rows to {out} in {time.perf_counter() - t0:.1f} s")
    Console().print(table(df, title=f"{source}: {out}"))


@data_app.command("describe")
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
    from denoiserec.errors import DataError

    console = Console()
    try:
        df = read_log(path, lazy=True)
    except DataError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    if stream is None:
        stream = df.select(pl.len()).collect().item() > 5_000_000
    p = None
    if stream:
        p = describe.by_position_streamed(path, max(positions, 1)) if positions > 0 or plot else None
    else:
        df = df.collect()
    console.print(describe.table(df, title=str(path)))
    if positions > 0:
        console.print(describe.position_table(df, positions, p=p))
    if plot:
        console.print(f"plot: {describe.plot(df, plot, max(positions, 1), p=p)}")



# --- simulate (denoiserec/data/simulate.py) -------------------------------------------------------------------


@app.command("simulate")
def simulate_cmd(
    out: str = typer.Option(..., "--out", "-o", help="output folder (events.parquet + meta.json), written atomically"),
    users: int = typer.Option(2000, help="number of users"),
    items: int = typer.Option(5000, help="number of tracks"),
    sessions: int = typer.Option(5, help="sessions per user"),
    min_len: int = typer.Option(10, help="shortest recommended playlist"),
    max_len: int = typer.Option(30, help="longest recommended playlist"),
    seed: int = typer.Option(0, help="random seed (same seed, same output)"),
    set_: list[str] = typer.Option([], "--set", help="any other SimConfig knob, e.g. --set slip=0.05 (repeatable)"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Simulate music sessions with hidden attention and true preference (see docs/simulator.md)."""
    import json

    from denoiserec.data.simulate import SimConfig, simulate_to
    from denoiserec.errors import ConfigError

    opts: dict[str, object] = dict(users=users, items=items, sessions=sessions, min_len=min_len, max_len=max_len,
                                   seed=seed)
    def json_or_text(value: str) -> object:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    opts.update(_key_values(set_, "--set", json_or_text))
    try:
        cfg = SimConfig.from_dict(opts)
    except (ConfigError, TypeError) as e:
        raise typer.BadParameter(str(e)) from e
    meta = simulate_to(cfg, out, progress=not quiet)
    rates = ", ".join(f"{k} {v:.3f}" for k, v in meta["rates"].items())
    typer.echo(f"wrote {meta['rows']:,} rows to {out} ({rates})")


# --- train, run, report, demo (denoiserec/train, experiment.py, report.py) ------------------------------------
DEMO_CONFIG = Path(__file__).parent / "demo.yaml"


def _apply_sets(cfg: dict, sets: list[str]) -> dict:
    """Apply ``--set a.b=VALUE`` overrides (VALUE read as YAML) to a config."""
    import yaml

    for key, value in _key_values(sets, "--set", yaml.safe_load):
        *parents, leaf = key.split(".")
        node = cfg
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = value
    return cfg


def _run_config(cfg: dict, out: Path | None, progress: bool) -> None:
    from denoiserec.errors import ConfigError, DataError
    from denoiserec.experiment import check_config, run_experiment
    from denoiserec.report import print_summary

    try:
        cfg = check_config(cfg, cfg.get("name", "config"))
        out = out or Path("runs") / cfg["name"]
        run_experiment(cfg, out, progress=progress)
    except (ConfigError, DataError) as e:
        raise typer.BadParameter(str(e)) from e
    print_summary(out, cfg.get("baseline"), cfg.get("select"), cfg.get("baseline_model"))


@app.command()
def run(config: Path = typer.Argument(..., help="experiment YAML (see configs/)"),
        out: Path | None = typer.Option(None, "--out", "-o", help="results folder (default runs/<name>)"),
        set_: list[str] = typer.Option([], "--set", help="override a config value, e.g. --set train.epochs=2"),
        progress: bool = typer.Option(True, help="progress bars")) -> None:
    """Run an experiment: every model x method x seed of CONFIG; resumes runs already in the results folder."""
    from denoiserec.errors import ConfigError
    from denoiserec.experiment import load_config

    try:
        cfg = load_config(config)
    except ConfigError as e:
        raise typer.BadParameter(str(e)) from e
    _run_config(_apply_sets(cfg, set_), out, progress)


@app.command()
def train(data: str = typer.Option("simulate", help="prepared folder, raw path with --source, or 'simulate'"),
          source: str | None = typer.Option(None, help="read DATA as this source's raw files (see `data sources`)"),
          model: str = typer.Option("deepfm", help="model (see `denoiserec models`)"),
          method: str = typer.Option("none", help="denoising method (see `denoiserec methods`)"),
          param: list[str] = typer.Option([], "--param", "-p", help="method hyper-parameter KEY=VALUE"),
          model_param: list[str] = typer.Option([], "--model-param", "-m", help="model hyper-parameter KEY=VALUE"),
          seeds: str = typer.Option("0", help="comma-separated seeds"),
          epochs: int = typer.Option(5), batch_size: int = typer.Option(4096), lr: float = typer.Option(1e-3),
          device: str = typer.Option("auto", help="auto | cpu | cuda"),
          out: Path | None = typer.Option(None, "--out", "-o"),
          progress: bool = typer.Option(True)) -> None:
    """Train one model with one method (a one-line experiment). Works under `torchrun` for DDP."""
    if data == "simulate":
        data_cfg: dict = {"simulate": {}}
    elif source:
        data_cfg = {"source": source, "path": data}
    else:
        data_cfg = {"path": data}
    cfg = {
        "name": f"{model}_{method}", "data": data_cfg,
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "device": device},
        "seeds": [int(s) for s in seeds.split(",")],
        "models": {model: _apply_sets({}, model_param)}, "methods": {method: _apply_sets({}, param)},
        "features": {"sequences": {"hist": {"max_len": 20}}},
    }
    _run_config(cfg, out, progress)


@app.command()
def report(results: Path = typer.Argument(..., help="results folder of `run`/`train`"),
           baseline: str | None = typer.Option(None, help="method label to compare against (default: config's)")
           ) -> None:
    """Re-write and print the Markdown report (tables, RelaImpr, t-tests) and plots of a results folder."""
    import yaml

    from denoiserec.report import print_summary, write_report

    if not (results / "runs").is_dir():
        raise typer.BadParameter(f"{results}: not a results folder (no runs/ inside)")
    cfg_file = results / "config.yaml"
    cfg = (yaml.safe_load(cfg_file.read_text()) or {}) if cfg_file.exists() else {}
    baseline = baseline or cfg.get("baseline")
    write_report(results, baseline, cfg.get("select"), cfg.get("baseline_model"))
    print_summary(results, baseline, cfg.get("select"), cfg.get("baseline_model"))


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), "--out", "-o"),
         set_: list[str] = typer.Option([], "--set", help="override a demo config value"),
         progress: bool = typer.Option(True)) -> None:
    """Simulate a data set, train DeepFM with and without denoising, print the comparison table."""
    import yaml

    cfg = yaml.safe_load(DEMO_CONFIG.read_text())
    _run_config(_apply_sets(cfg, set_), out, progress)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
