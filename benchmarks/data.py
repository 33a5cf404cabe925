"""The shared benchmark data: the simulator's log widened to 40 categorical fields, encoded once by denoiserec
(vocabularies fitted on train, OOV = 0) and written to one ``.npz`` that every library reads.

Fields (40): the simulator's 14 categorical columns (user, item, context, artist, category, hour, position,
age, country, device, duration, gender, year, weekday), 4 derived buckets (duration/30 s, decade, day of
the month, position/5) and 22 hashed crosses (``hash(a, b) mod 2^16``, e.g. user×category, item×context)
-- the kind of crossed id features CTR data sets carry. The label is the simulator's noisy ``label``; the
split is random by row, 80/10/10 (seeded).

``<file>.npz`` holds ``cat_{train,valid,test}`` (int32 ``[N, 40]``), ``y_{train,valid,test}`` (float32),
``cards`` (int64 ``[40]``, vocabulary size per field incl. OOV 0) and ``fields`` (names).

With ``seq_len > 0`` (the DIN data, :func:`path_for`) it also holds ``seq_{train,valid,test}`` (int32
``[N, seq_len]``): per row the user's last ``seq_len`` positively labelled items strictly before it in time
(denoiserec's ``hist`` history over the whole log, ids in the ``item`` field's vocabulary, OOV and padding 0,
left-padded: oldest to newest), and ``seq_len``. The same seed simulates the same log, so ``cat_*`` and ``y_*``
equal the plain file's array by array.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl

BASE = ["user", "item", "context", "artist", "category", "hour", "position", "f_age", "f_country", "f_device",
        "f_duration", "f_gender", "f_year", "weekday"]
DERIVED = {"duration_b": pl.col("f_duration") // 30, "decade": pl.col("f_year") // 10, "day": pl.col("day"),
           "position_b": pl.col("position") // 5}
CROSSES = [("user", "context"), ("user", "category"), ("user", "artist"), ("user", "f_device"), ("user", "hour"),
           ("item", "context"), ("item", "f_device"), ("item", "f_age"), ("item", "f_country"), ("item", "f_gender"),
           ("artist", "context"), ("artist", "f_age"), ("artist", "f_country"), ("artist", "hour"),
           ("category", "context"), ("category", "f_age"), ("category", "f_country"), ("category", "f_gender"),
           ("category", "f_device"), ("category", "hour"), ("context", "f_device"), ("context", "hour")]
HASH_BUCKETS = 1 << 16
SEQ = "hist"  # the behaviour sequence's name (denoiserec's history preset: earlier positives)
FIELDS = BASE + list(DERIVED) + [f"{a}_x_{b}" for a, b in CROSSES]
assert len(FIELDS) == 40


def users_for(rows: int) -> int:
    """Simulator users giving about ``rows`` rows (100 rows per user at the default session settings)."""
    return max(rows // 100, 10)


def widen(df: pl.DataFrame) -> pl.DataFrame:
    """The simulated log plus the derived and crossed fields (all as columns named in :data:`FIELDS`)."""
    ts = pl.from_epoch("timestamp", time_unit="s")
    df = df.with_columns(weekday=ts.dt.weekday(), day=ts.dt.day())
    df = df.with_columns(**{k: e for k, e in DERIVED.items()})
    crosses = {f"{a}_x_{b}": (pl.concat_str([pl.col(a).cast(pl.Utf8), pl.col(b).cast(pl.Utf8)], separator="|")
                              .hash(seed=0) % HASH_BUCKETS) for a, b in CROSSES}
    return df.with_columns(**crosses)


def simulated(rows: int, seed: int = 0) -> pl.DataFrame:
    """The simulated log that :func:`build` encodes: widened to the 40 fields, with its random ``split`` column."""
    from denoiserec.data.simulate import SimConfig, simulate
    from denoiserec.data.split import split

    users = users_for(rows)
    log = simulate(SimConfig(users=users, items=max(users * 2, 2000), artists=max(users // 5, 200), seed=seed))
    return split(widen(log), how="random", seed=seed)


def path_for(folder: Path, rows: int, seed: int = 0, seq_len: int = 0) -> Path:
    """Where :func:`build` writes the data of these settings (the behaviour-sequence data gets its own file)."""
    return folder / (f"sim{rows}_s{seed}" + (f"_hist{seq_len}" if seq_len else "") + ".npz")


def build(path: Path, rows: int, seed: int = 0, seq_len: int = 0) -> dict:
    """Simulate ~``rows`` rows, encode the 40 fields (and with ``seq_len`` the behaviour sequences) with
    denoiserec and write ``path`` (npz). Returns info."""
    from denoiserec.data.encoder import encode_splits
    from denoiserec.data.features import FeatureConfig, HistoryConfig

    t0 = time.perf_counter()
    log = simulated(rows, seed)
    sequences = {SEQ: HistoryConfig(max_len=seq_len, label=1)} if seq_len else {}
    spec, parts = encode_splits(log, FeatureConfig(categorical=FIELDS, numeric=[], sequences=sequences))
    arrays = {"cards": np.asarray(spec.cardinalities, dtype=np.int64), "fields": np.asarray(FIELDS)}
    for name, part in parts.items():
        arrays[f"cat_{name}"] = part["cat"].numpy()
        arrays[f"y_{name}"] = part["label"].numpy()
        if seq_len:
            arrays[f"seq_{name}"] = part[f"seq_{SEQ}"].numpy()
    if seq_len:
        arrays["seq_len"] = np.asarray(seq_len)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    info = {"rows": int(log.height), "train": len(parts["train"]), "valid": len(parts["valid"]),
            "test": len(parts["test"]), "fields": len(FIELDS), "vocab_total": int(sum(spec.cardinalities)),
            "positive_rate": float(parts["train"]["label"].mean()), "seconds": time.perf_counter() - t0}
    if seq_len:
        info.update(seq_len=seq_len, mean_history=float((arrays["seq_train"] > 0).sum(1).mean()))
    path.with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
