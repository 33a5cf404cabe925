"""The ``denoiserec`` command line: ``data``, ``simulate``, ``train``, ``run``, ``report``, ``demo``.

Each sub-command lives next to the code it drives; this module only wires them together.
"""

from __future__ import annotations

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
