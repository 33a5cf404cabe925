"""What every task's report shares: reading run records, mean ± sd over seeds, the paired t-test, Markdown and
Rich tables, and the figure set-up (PNGs written atomically, :func:`denoiserec.io.write_png`)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from denoiserec.io import pyplot, write_png


def read_records(out_dir: str | Path, pattern: str) -> list[dict]:
    """The JSON records of ``out_dir/runs`` whose names match ``pattern``, in name order."""
    return [json.loads(f.read_text()) for f in sorted((Path(out_dir) / "runs").glob(pattern))]


def mean_sd(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and sample sd (ddof 1) over seeds of the values present (None and NaN are absent); sd 0 for a single
    value, both NaN for none."""
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    if np.isnan(a).all():
        return float("nan"), float("nan")
    return float(np.nanmean(a)), float(np.nanstd(a, ddof=1)) if np.sum(~np.isnan(a)) > 1 else 0.0


def fmt_mean_sd(ms: tuple[float, float] | None) -> str:
    """``mean ± sd`` to four decimals; a dash when absent."""
    return "–" if ms is None or math.isnan(ms[0]) else f"{ms[0]:.4f} ± {ms[1]:.4f}"


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Paired t-test p-value of ``a`` against ``b`` (seeds matched); NaN for fewer than two pairs or no difference."""
    if len(a) < 2 or not np.any(a != b):
        return float("nan")
    with warnings.catch_warnings():  # near-constant differences: SciPy warns, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(a, b).pvalue)


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, float]:
    """Mean difference a - b over the seeds both have (``{seed: value}``, NaN left out), and its
    :func:`paired_p`."""
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    if not seeds:
        return float("nan"), float("nan")
    x, y = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    return float((x - y).mean()), paired_p(x, y)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table's lines."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]


def print_table(
    title: str, header: Sequence[str], rows: Iterable[Sequence[str]], left: Sequence[str], footer: str
) -> None:
    """Print a compact Rich table (columns in ``left`` left-justified, the others right) and a footer line."""
    from rich.table import Table

    con = console()
    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h, justify="left" if h in left else "right")
    for cells in rows:
        table.add_row(*cells)
    con.print(table)
    con.print(footer)


def console():
    """A Rich console; off a terminal (logs, CI) 200 columns wide rather than squeezed into 80."""
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=200)


def figure(size: tuple[float, float], nrows: int = 1, ncols: int = 1):
    """A new figure and its ``[nrows, ncols]`` array of axes."""
    return pyplot().subplots(nrows, ncols, figsize=size, squeeze=False)


def save(fig, path: Path) -> None:
    """Lay the figure out tightly and write it as a PNG (atomically), closing it."""
    fig.tight_layout()
    write_png(fig, path)
