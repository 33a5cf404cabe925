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


# --- train, run, report, demo (denoiserec/train, experiment.py, report.py) ------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
