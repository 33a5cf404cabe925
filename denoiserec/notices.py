"""What a run tells its user: progress bars, per-epoch lines and one-line warnings when nothing happened.

* Bars (tqdm) only on a terminal and with ``progress`` on: :func:`bar_off`; off a terminal (a piped log) they
  are off, and the per-epoch metric lines (:func:`say`) remain; ``--no-progress`` drops the bars, never the
  lines; ``--quiet`` (:data:`QUIET`) drops both and every warning's line: errors only.
* Warnings (:func:`warn`) are one line on stderr, ``warning: ...``, and are appended to the run record's
  ``warnings`` list. The checks below turn a run that silently did nothing into such a line; each states its
  rule (a threshold) in its message.
"""

from __future__ import annotations

import math
import os
import sys

from tqdm.auto import tqdm

#: ``--quiet``: print nothing but errors (bars, epoch lines and warnings off; warnings are still recorded)
QUIET = False
#: fewer optimiser steps per epoch than this: a warning (the model barely moves from its initialisation)
MIN_STEPS = 10
#: a validation or test part with fewer rows than this, or fewer rows of either label than MIN_CLASS_ROWS
MIN_EVAL_ROWS, MIN_CLASS_ROWS = 200, 20


def bar_off(progress: bool) -> bool | None:
    """tqdm's ``disable``: off when ``progress`` is off or under ``--quiet``; else ``None`` (on a terminal only)."""
    return True if (not progress or QUIET) else None


def say(line: str) -> None:
    """A progress line (an epoch's metrics, an estimator's phase): printed unless ``--quiet``, between bars;
    under ``torchrun`` by rank 0 only."""
    if not QUIET and os.environ.get("RANK", "0") == "0":
        tqdm.write(line, file=sys.stderr)


def warn(message: str, record: list | None = None) -> str:
    """One line ``warning: <message>`` on stderr (unless ``--quiet``), appended to ``record`` when given."""
    message = " ".join(str(message).split())
    if record is not None:
        record.append(message)
    if not QUIET:
        tqdm.write(f"warning: {message}", file=sys.stderr)
    return message


def steps_warning(train_rows: int, batch_size: int) -> str | None:
    """Fewer than :data:`MIN_STEPS` optimiser steps per epoch: the suggested batch is the largest power of two
    giving at least that many (at least 16)."""
    steps = math.ceil(train_rows / batch_size) if train_rows else 0
    if steps >= MIN_STEPS:
        return None
    suggest = max(16, 2 ** int(math.log2(max(train_rows // MIN_STEPS, 1))))
    return (f"train: {train_rows:,} rows at batch_size {batch_size} is {steps} optimiser step(s) per epoch "
            f"(fewer than {MIN_STEPS}): the model barely trains; set train.batch_size to {suggest} or less "
            f"(--batch-size {suggest})")


def part_warnings(parts: dict) -> list[str]:
    """A validation or test part too small for its metrics: fewer than :data:`MIN_EVAL_ROWS` rows or fewer than
    :data:`MIN_CLASS_ROWS` rows of either label (AUC over a handful of pairs; early stopping on noise)."""
    out = []
    for name in ("valid", "test"):
        if name not in parts:
            continue
        labels = parts[name]["label"]
        n = len(labels)
        pos = int(labels.sum()) if n else 0
        if n < MIN_EVAL_ROWS or min(pos, n - pos) < MIN_CLASS_ROWS:
            out.append(f"{name}: {n:,} rows ({pos:,} positive, {n - pos:,} negative), fewer than "
                       f"{MIN_EVAL_ROWS} rows or {MIN_CLASS_ROWS} of a label: its AUC is noise"
                       + ("; early stopping and the kept epoch follow it" if name == "valid" else "")
                       + "; change split.fractions or give more data")
    return out


def method_warnings(label: str, state: dict, weights=None) -> list[str]:
    """A method that never acted: LCD that corrected no step (its start after the last step trained), an
    attention method whose weights are all 1 (no passive row re-weighted); the run then equals ``none``."""
    out = []
    if "corrected_steps" in state and not state["corrected_steps"]:
        start = (f"start_step {state['start_step']}" if state.get("start_step") is not None
                 else f"start_epoch {state.get('start_epoch')}")
        out.append(f"method {label}: never corrected a label ({start} is after the last step trained), so the "
                   "run equals `none`; lower start_step / start_epoch or train longer")
    if weights is not None and len(weights) and bool((weights == 1).all()):
        out.append(f"method {label}: every weight is 1 ({state.get('reweighted_rows', 0):,} rows re-weighted), so "
                   "the run equals `none`; the log may have no passive positives (passive: "
                   f"{state.get('passive')!r})")
    return out


def validation_warning(history: list[dict], monitor: str) -> str | None:
    """Early stopping without a validation signal: ``valid_<monitor>`` NaN or missing at every epoch."""
    key = f"valid_{monitor}"
    if history and not any(key in r and r[key] == r[key] for r in history):
        return (f"valid: no {key} at any epoch (no validation signal): early stopping never acted and the last "
                "epoch was kept")
    return None


def recommendation_warning(scores, users: list[str] | None, k: int) -> str | None:
    """A recommendation list that came out empty: no row at all, or users asked for who got none."""
    n = scores.height
    if n == 0:
        return ("recommend: 0 recommendations written (every candidate excluded or no user matched); check "
                "--users, --exclude-heard, --station-only and the candidates")
    if users:
        missing = sorted(set(users) - set(scores["user"].cast(str).to_list()))
        if missing:
            return f"recommend: no recommendation for {len(missing)} of the {len(users)} users asked ({missing[:5]})"
    return None
