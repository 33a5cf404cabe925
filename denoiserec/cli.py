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


# --- simulate (denoiserec/data/simulate.py) -------------------------------------------------------------------


@app.command("simulate")
def simulate_cmd(
    out: str = typer.Argument(..., help="output folder (events.parquet + meta.json), written atomically"),
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
    for kv in set_:
        key, sep, value = kv.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {kv!r}", param_hint="--set")
        try:
            opts[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            opts[key.strip()] = value
    try:
        cfg = SimConfig.from_dict(opts)
    except (ConfigError, TypeError) as e:
        raise typer.BadParameter(str(e)) from e
    meta = simulate_to(cfg, out, progress=not quiet)
    rates = ", ".join(f"{k} {v:.3f}" for k, v in meta["rates"].items())
    typer.echo(f"wrote {meta['rows']:,} rows to {out} ({rates})")


# --- train, run, report, demo (denoiserec/train, experiment.py, report.py) ------------------------------------
DEMO_CONFIG = Path(__file__).parent / "demo.yaml"


def _parse_sets(sets: list[str]) -> list[tuple[list[str], object]]:
    import yaml

    out = []
    for s in sets:
        if "=" not in s:
            raise typer.BadParameter(f"{s!r}: expected KEY=VALUE (e.g. train.epochs=3)")
        k, v = s.split("=", 1)
        out.append((k.split("."), yaml.safe_load(v)))
    return out


def _apply_sets(cfg: dict, sets: list[str]) -> dict:
    for keys, value in _parse_sets(sets):
        node = cfg
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return cfg


def _run_config(cfg: dict, out: Path | None, progress: bool) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    from denoiserec.errors import ConfigError, DataError
    from denoiserec.experiment import check_config, run_experiment

    try:
        cfg = check_config(cfg, cfg.get("name", "config"))
        out = out or Path("runs") / cfg["name"]
        run_experiment(cfg, out, progress=progress)
    except (ConfigError, DataError) as e:
        raise typer.BadParameter(str(e)) from e
    report = out / "report.md"
    if report.exists():
        Console().print(Markdown(report.read_text()))
        Console().print(f"[bold]results:[/] {out}")


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
    from rich.console import Console
    from rich.markdown import Markdown

    from denoiserec.report import write_report

    if not (results / "runs").is_dir():
        raise typer.BadParameter(f"{results}: not a results folder (no runs/ inside)")
    cfg_file = results / "config.yaml"
    if baseline is None and cfg_file.exists():
        baseline = (yaml.safe_load(cfg_file.read_text()) or {}).get("baseline")
    Console().print(Markdown(write_report(results, baseline).read_text()))


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
