"""The gap column: the share of the gap between a floor and a ceiling that a row closes, ``(row − floor) /
(ceiling − floor)`` (1 = as good as the ceiling, 0 = no better than the floor, < 0 = worse).

* **CTR** (:func:`add_gap_closed`): the floor is the baseline method of the same model, the ceiling its
  **oracle**: a method entry with ``oracle: true`` trains the same model on the simulator's hidden
  ``true_preference`` (:func:`denoiserec.data.target.oracle_labels`), so the gap is the noise's.
* **seqrec** (:func:`gap_closed`): per seed, from the best popularity baseline to ``oracle_pi``, the hidden
  preference probability (:mod:`denoiserec.eval.seqrec`).
"""

from __future__ import annotations

import math


def add_gap_closed(
    rows: list[dict], baseline: str | None, oracle: set[tuple[str, str]], metrics: tuple[str, ...]
) -> None:
    """Add ``gap_<metric>`` = (row − baseline) / (oracle − baseline) of the same model to every row (in place),
    where the model has an oracle row and the oracle is above the baseline."""
    by_key = {(r["model"], r["method"]): r for r in rows}
    for r in rows:
        o = next((by_key[k] for k in oracle if k[0] == r["model"] and k in by_key), None)
        b = by_key.get((r["model"], baseline))
        if o is None or b is None:
            continue
        for m in metrics:
            if m in r and m in o and m in b:
                denom = o[m][0] - b[m][0]
                r[f"gap_{m}"] = (r[m][0] - b[m][0]) / denom if denom > 0 else math.nan


def gap_closed(x: dict[int, float], floor: dict[int, float], ceiling: dict[int, float]) -> list[float]:
    """Share of the floor -> ceiling gap that ``x`` closes, per seed (``{seed: value}``; the seeds all three have,
    where none is NaN and the ceiling differs from the floor)."""
    seeds = [
        s
        for s in set(x) & set(floor) & set(ceiling)
        if not any(math.isnan(d[s]) for d in (x, floor, ceiling)) and ceiling[s] != floor[s]
    ]
    return [(x[s] - floor[s]) / (ceiling[s] - floor[s]) for s in seeds]
