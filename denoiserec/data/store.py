"""Streamed encoding: a canonical log larger than memory → on-disk ``.npy`` arrays, in bounded memory.

The same tensors as :func:`denoiserec.data.encoder.encode_splits` (``docs/design.md``), built without ever
holding the whole log:

1. **Users.** One pass over the ``user`` column checks that each user's rows are contiguous (the simulator
   writes them so). If not, the log is first regrouped into a temporary Parquet file, one hash bucket of users
   at a time (row order: bucket, then input order); the store then keeps each row's input row number in
   ``row``.
2. **Split.** Computed chunk by chunk from global facts gathered in streaming passes: ``temporal`` cuts at
   exact timestamp quantiles (a histogram pass, then the one bucket holding each cut), ``user`` from the
   seeded permutation of all users, ``user_temporal`` within each user. ``random`` needs a permutation of all
   rows and is refused. A ``split`` column already in the log is used as is.
3. **Fit.** Vocabularies and numeric mean/std from the training rows, accumulated chunk by chunk (counts
   summed; mean and variance combined by Chan et al.'s pairwise update).
4. **Transform.** Each chunk of whole users (so leak-free histories stay complete) is encoded by
   :class:`~denoiserec.data.encoder.Encoder` and appended to one ``.npy`` file per split and tensor, with
   ``user``/``session`` given their global dense ranks. ``manifest.json`` records the spec and shapes.

A store is cached under a hash of the log file's content, the split and the feature configuration,
so every run of an experiment (and every later experiment on the same data) reuses it.
:class:`StreamedData` then serves batches from it (see its docstring for the shuffling).

Departures from the in-memory path: numeric mean/std are combined from per-chunk moments, so they may differ
from Polars' one-pass values in the last bits (the tests compare the ``num`` tensor to 1e-6); the
``random`` split is not available.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import torch

from denoiserec.data.content import cache_dir
from denoiserec.data.encoder import Encoder
from denoiserec.data.features import FeatureConfig, HistoryConfig
from denoiserec.data.load import DataSpec
from denoiserec.data.spec import FeatureSpec
from denoiserec.data.split import TEST, TRAIN, VALID, _check, _seeded_units, split
from denoiserec.data.tensors import EncodedTensors
from denoiserec.errors import ConfigError, DataError
from denoiserec.io import atomic_path, is_writer

VERSION = 2
MANIFEST = "manifest.json"
PARTS = ("train", "valid", "test")
#: Rows read per encoding chunk (rounded to whole users).
CHUNK_ROWS = 1 << 17
#: Hash buckets when a log must be regrouped by user.
REGROUP_BUCKETS = 64
#: Histogram buckets of the exact temporal-quantile pass.
TIME_BUCKETS = 1 << 20
#: In-memory encoding peak per log row, measured (``docs/performance.md``): what ``stream: auto`` weighs.
IN_MEMORY_BYTES_PER_ROW = 1300
#: How long a ``torchrun`` rank other than 0 waits for rank 0's store.
WAIT_SECONDS = 24 * 3600


# ------------------------------------------------------------------------------------------------------------
# reading a log in chunks of whole users


def _batches(file: Path, columns: list[str] | None = None, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    for rb in pq.ParquetFile(file).iter_batches(batch_size=rows, columns=columns):
        yield pl.from_arrow(rb)


def user_chunks(file: Path, rows: int = CHUNK_ROWS, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
    """Frames of about ``rows`` rows, in file order, each holding whole users (the log must be grouped)."""
    carry: pl.DataFrame | None = None
    for df in _batches(file, columns, rows):
        if carry is not None:
            df = pl.concat([carry, df], how="vertical_relaxed")
        run = df["user"].rle_id()
        cut = int((run < run[-1]).sum())  # the last user may continue in the next batch
        carry = df[cut:]
        if cut:
            yield df[:cut]
    if carry is not None and carry.height:
        yield carry


def users_grouped(file: Path) -> tuple[bool, pl.DataFrame]:
    """Whether each user's rows are contiguous, and the sorted distinct users."""
    seen: list[pl.Series] = []
    grouped, last = True, None
    for df in _batches(file, ["user"]):
        runs = df["user"].rle()
        values = runs.struct.field("value")
        if last is not None and values[0] == last:
            values = values[1:]
        if values.len():
            seen.append(values)
            last = values[-1]
    users = pl.concat(seen) if seen else pl.Series("user", [], pl.Utf8)
    distinct = users.unique().sort()
    grouped = distinct.len() == users.len()
    return grouped, pl.DataFrame({"user": distinct})


def _regroup(file: Path, out: Path, buckets: int = REGROUP_BUCKETS) -> None:
    """Write ``file`` grouped by user: one pass per hash bucket, rows of a bucket stably sorted by user."""
    writer = None
    try:
        for b in range(buckets):
            df = (pl.scan_parquet(file).with_row_index("row")
                  .filter(pl.col("user").hash(seed=0) % buckets == b).collect()
                  .sort("user", maintain_order=True))
            table = df.with_columns(pl.col("row").cast(pl.Int64)).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


# ------------------------------------------------------------------------------------------------------------
# the split, chunk by chunk


def _temporal_cuts(file: Path, targets: tuple[float, ...]) -> list[int]:
    """For each fraction a: the largest timestamp t with #(timestamps < t) / n < a (``split``'s rank rule), in
    two streaming passes: a histogram, then the distinct timestamps of the one bucket holding the cut."""
    lo = hi = None
    for df in _batches(file, ["timestamp"]):
        ts = df["timestamp"]
        lo = ts.min() if lo is None else min(lo, ts.min())
        hi = ts.max() if hi is None else max(hi, ts.max())
    if lo is None:
        return [0 for _ in targets]
    width = max(1, -(-(hi - lo + 1) // TIME_BUCKETS))
    counts = np.zeros(TIME_BUCKETS, dtype=np.int64)
    for df in _batches(file, ["timestamp"]):
        counts += np.bincount((df["timestamp"].to_numpy() - lo) // width, minlength=TIME_BUCKETS)
    n = int(counts.sum())
    inv = 1.0 / n  # Polars divides a column by a scalar as a product with its reciprocal: so do we
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = []
    for a in targets:
        ok = np.flatnonzero((counts > 0) & (before * inv < a))
        picked.append(int(ok[-1]) if ok.size else -1)
    inside: dict[int, list[np.ndarray]] = {b: [] for b in picked if b >= 0}
    for df in _batches(file, ["timestamp"]):
        ts = df["timestamp"].to_numpy()
        bucket = (ts - lo) // width
        for b in inside:
            inside[b].append(ts[bucket == b])
    cuts = []
    for a, b in zip(targets, picked, strict=True):
        if b < 0:
            cuts.append(lo - 1)  # no row qualifies
            continue
        values, c = np.unique(np.concatenate(inside[b]), return_counts=True)
        less = before[b] + np.concatenate([[0], np.cumsum(c)[:-1]])  # rows with a smaller timestamp
        cuts.append(int(values[np.flatnonzero(less * inv < a)[-1]]))
    return cuts


class _Splitter:
    """Assigns the ``split`` column of a chunk as :func:`denoiserec.data.split.split` would for the whole log."""

    def __init__(self, file: Path, users: pl.DataFrame, columns: list[str], how: str = "temporal", seed: int = 0,
                 fractions=(0.8, 0.1, 0.1), unit: str = "row", test_days: float | None = None,
                 valid_days: float | None = None):
        self.how, self.fractions, self.expr, self.units = how, fractions, None, None
        if "split" in columns:
            self.how = "given"
            return
        a, ab = _check(fractions)
        if how == "temporal":
            if test_days is not None:
                end = pl.scan_parquet(file).select(pl.col("timestamp").max()).collect().item()
                t_test = end - float(test_days) * 86400
                t_valid = t_test - float(valid_days or 0) * 86400
                self.expr = (pl.when(pl.col("timestamp") > t_test).then(TEST)
                             .when(pl.col("timestamp") > t_valid).then(VALID).otherwise(TRAIN).cast(pl.Int8))
            else:
                ta, tab = _temporal_cuts(file, (a, ab))
                self.expr = (pl.when(pl.col("timestamp") <= ta).then(TRAIN)
                             .when(pl.col("timestamp") <= tab).then(VALID).otherwise(TEST).cast(pl.Int8))
        elif how == "user":
            units = _seeded_units(users, "user", seed)
            self.units = units.with_columns(
                split=pl.when(pl.col("_u") < a).then(TRAIN).when(pl.col("_u") < ab).then(VALID)
                .otherwise(TEST).cast(pl.Int8)).drop("_u")
        elif how != "user_temporal":
            raise ConfigError(f"split.how={how!r} needs the whole log in memory; with data.stream use "
                              "temporal, user or user_temporal (or set data.stream: false)")

    def __call__(self, chunk: pl.DataFrame) -> pl.DataFrame:
        if self.how == "given":
            return chunk
        if self.expr is not None:
            return chunk.with_columns(split=self.expr)
        if self.units is not None:
            return chunk.join(self.units, on="user", how="left", maintain_order="left")
        return split(chunk, how="user_temporal", fractions=self.fractions)  # whole users: same as on the log


# ------------------------------------------------------------------------------------------------------------
# fitting and writing


def _fit(file: Path, splitter: _Splitter, config: FeatureConfig, schema: pl.Schema, chunk_rows: int
         ) -> tuple[Encoder, dict[str, int], pl.DataFrame]:
    """Vocabularies, numeric statistics, split sizes and sessions per user, in one pass over the chunks."""
    enc = Encoder(config).fit(pl.DataFrame(schema=schema))  # the columns and spec layout; fitted below
    spec = enc.spec
    counts: dict[str, list[pl.DataFrame]] = {c: [] for c in spec.categorical}
    moments = {c: (0, 0.0, 0.0) for c in spec.numeric}  # (count, mean, M2)
    sizes = dict.fromkeys(PARTS, 0)
    sessions = []
    for chunk in user_chunks(file, chunk_rows):
        chunk = splitter(chunk)
        for code, name in enumerate(PARTS):
            sizes[name] += int((chunk["split"] == code).sum())
        sessions.append(chunk.group_by("user").agg(n=pl.col("session").n_unique()))
        train = chunk.filter(pl.col("split") == TRAIN)
        for c in spec.categorical:
            counts[c].append(train.group_by(pl.col(c).cast(pl.Utf8).alias("value")).len())
            if len(counts[c]) >= 16:
                counts[c] = [_sum_counts(counts[c])]
        for c in spec.numeric:
            x = train[c].cast(pl.Float64).drop_nulls()
            nb = x.len()
            if nb:
                n, mean, m2 = moments[c]
                mb, m2b = float(x.mean()), float(((x - x.mean()) ** 2).sum())
                delta, tot = mb - mean, n + nb
                moments[c] = (tot, mean + delta * nb / tot, m2 + m2b + delta * delta * n * nb / tot)
    for c in spec.categorical:
        total = _sum_counts(counts[c]) if counts[c] else pl.DataFrame(schema={"value": pl.Utf8, "len": pl.UInt32})
        total = (total.filter(pl.col("len") >= config.min_count)
                 .sort(["len", "value"], descending=[True, False], nulls_last=True).drop_nulls("value"))
        enc.vocabs[c] = total.select("value", pl.int_range(1, total.height + 1, dtype=pl.Int32).alias("id"))
    for c in spec.numeric:
        n, mean, m2 = moments[c]
        std = (m2 / (n - 1)) ** 0.5 if n > 1 else None
        enc.num_stats[c] = (float(mean) if n else 0.0, float(std) if std else 1.0)
    enc.spec = replace(spec, cardinalities=tuple(enc.vocabs[c].height + 1 for c in spec.categorical))
    return enc, sizes, pl.concat(sessions).sort("user") if sessions else pl.DataFrame()


def _sum_counts(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames).group_by("value").agg(pl.col("len").sum().cast(pl.UInt32))


def _write_header(f, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_2_0(
        f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})


def build_store(file: str | Path, out_dir: str | Path, split_cfg: dict | None = None,
                config: FeatureConfig | None = None, chunk_rows: int = CHUNK_ROWS) -> Path:
    """Encode the canonical log ``file`` (Parquet) into ``out_dir`` (written atomically), chunk by chunk."""
    file, out_dir = Path(file), Path(out_dir)
    config = config or FeatureConfig()
    schema = pl.scan_parquet(file).collect_schema()
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        grouped, users = users_grouped(file)
        src = file
        if not grouped:
            src = tmp / "_grouped.parquet"
            _regroup(file, src)
        splitter = _Splitter(src, users, list(schema), **(split_cfg or {"how": "temporal"}))
        enc, sizes, sessions = _fit(src, splitter, config, schema, chunk_rows)
        user_rank = users.with_columns(_g=pl.int_range(pl.len(), dtype=pl.Int64))
        offsets = sessions.join(user_rank, on="user").sort("_g")
        session_start = np.concatenate([[0], np.cumsum(offsets["n"].to_numpy())[:-1]]).astype(np.int64)
        files: dict[tuple[str, str], object] = {}
        layout: dict[str, list] = {}
        written = dict.fromkeys(PARTS, 0)
        try:
            for chunk in user_chunks(src, chunk_rows):
                chunk = splitter(chunk)
                code = chunk["split"].to_numpy()
                rows = {name: np.flatnonzero(code == k) for k, name in enumerate(PARTS)}
                encoded = enc.transform(chunk.drop("row") if "row" in chunk.columns else chunk, rows)
                g = chunk.join(user_rank, on="user", how="left", maintain_order="left")["_g"].to_numpy()
                local = chunk.select(pl.struct("user", "session").rank("dense")).to_series().to_numpy()
                first = pl.DataFrame({"g": g, "r": local}).group_by("g").agg(pl.col("r").min())
                first_of = pl.DataFrame({"g": g}).join(first, on="g", how="left", maintain_order="left")["r"]
                session = session_start[g] + (local - first_of.to_numpy()).astype(np.int64)
                extra = {"user": g, "session": session}
                if "row" in chunk.columns:
                    extra["row"] = chunk["row"].to_numpy().astype(np.int64)
                for name, part in encoded.items():
                    arrays = {k: v.numpy() for k, v in part.tensors.items()}
                    arrays.update({k: v[rows[name]] for k, v in extra.items()})
                    for key, arr in arrays.items():
                        if (name, key) not in files:
                            f = open(tmp / f"{name}.{key}.npy", "wb")  # noqa: SIM115 (closed below)
                            _write_header(f, arr.dtype, (sizes[name], *arr.shape[1:]))
                            files[name, key] = f
                            layout[key] = [np.lib.format.dtype_to_descr(arr.dtype), list(arr.shape[1:])]
                        files[name, key].write(np.ascontiguousarray(arr).tobytes())
                    written[name] += len(part)
        finally:
            for f in files.values():
                f.close()
        if written != sizes:
            raise DataError(file, f"streamed encoding wrote {written} rows, expected {sizes}")
        for name in PARTS:  # a part with no rows gets empty arrays too
            for key, (descr, trail) in layout.items():
                path = tmp / f"{name}.{key}.npy"
                if not path.exists():
                    np.save(path, np.zeros((0, *trail), dtype=np.lib.format.descr_to_dtype(descr)))
        (tmp / "_grouped.parquet").unlink(missing_ok=True)
        for i, c in enumerate(enc.spec.categorical):  # the fitted encoder, for model bundles
            enc.vocabs[c].write_parquet(tmp / f"vocab_{i}.parquet")
        manifest = {"version": VERSION, "source": str(file), "rows": sizes, "layout": layout,
                    "spec": asdict(enc.spec), "grouped": grouped, "config": asdict(config),
                    "num_stats": enc.num_stats,
                    "sizes": {f.name: f.stat().st_size for f in sorted(tmp.iterdir()) if f.is_file()}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def store_key(file: str | Path, split_cfg: dict | None, config: FeatureConfig) -> str:
    """Hash of the log file's content (:func:`denoiserec.fingerprint.file_hash`), the split and the features."""
    from denoiserec.data.content import file_hash

    blob = json.dumps({"v": VERSION, "content": file_hash(file), "split": split_cfg or {"how": "temporal"},
                       "features": asdict(config)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_store(file: str | Path, split_cfg: dict | None, config: FeatureConfig, cache: Path,
                 chunk_rows: int = CHUNK_ROWS) -> Path:
    """The store for this log + split + features, built on first use."""
    out = cache / "encoded" / store_key(file, split_cfg, config)
    if out.exists() and not store_ok(out):
        _discard(out, MANIFEST)
    if not (out / MANIFEST).exists():
        build_store(file, out, split_cfg, config, chunk_rows)
    return out


def store_ok(folder: Path) -> bool:
    """Whether a cached store is as it was built: its manifest readable, of this version, and every file it
    recorded present with its recorded size (a truncated, emptied or replaced cache file is rebuilt, not read)."""
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    sizes = m.get("sizes") if isinstance(m, dict) and m.get("version") == VERSION else None
    if not isinstance(sizes, dict):
        return False
    try:
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except OSError:
        return False


def _log_ok(folder: Path) -> bool:
    """Whether a cached log folder reads: its meta file and Parquet footer, with the row count meta records."""
    from denoiserec.data.log import EVENTS, read_meta

    try:
        rows = pl.scan_parquet(folder / EVENTS).select(pl.len()).collect().item()
        return read_meta(folder).get("rows") == rows
    except (OSError, ValueError, AttributeError, pl.exceptions.PolarsError):
        return False


def _discard(folder: Path, own: str) -> None:
    """Remove a damaged cache entry denoiserec built (it holds ``own``, or nothing); refuse anything else."""
    if (folder / own).exists() or not any(folder.rglob("*")):
        shutil.rmtree(folder)
    else:
        raise DataError(folder, f"a damaged cache entry without its {own}; remove the folder (a cache: it is "
                                "rebuilt)")


def open_store(folder: str | Path, **options) -> tuple[FeatureSpec, dict[str, StreamedData]]:
    folder = Path(folder)
    m = json.loads((folder / MANIFEST).read_text())
    s = m["spec"]
    spec = FeatureSpec(categorical=tuple(s["categorical"]), cardinalities=tuple(s["cardinalities"]),
                       numeric=tuple(s["numeric"]), sequences=tuple(tuple(x) for x in s["sequences"]),
                       n_feedback_kinds=s["n_feedback_kinds"])
    return spec, {p: StreamedData(folder, p, m["rows"][p], **options) for p in PARTS}


# ------------------------------------------------------------------------------------------------------------
# experiments: when to stream, and where the log file is


def use_stream(data: DataSpec) -> bool:
    """``data.stream``: true, false or ``auto`` (default): stream when the in-memory encoding's measured peak
    (:data:`IN_MEMORY_BYTES_PER_ROW` per row) would pass half of this machine's physical memory."""
    mode = data.stream
    if mode is True or mode is False:
        return mode
    if mode != "auto":
        raise ConfigError(f"data.stream must be true, false or auto, got {mode!r}")
    rows = data.expected_rows()
    if rows is None:  # a source's raw files, or a file the in-memory reader will name the problem of
        return False
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return rows * IN_MEMORY_BYTES_PER_ROW > ram / 2


def _log_file(data: DataSpec, cache: Path, build: bool = True) -> Path | None:
    """The Parquet file of the config's log; a simulated log is written once (streamed) into the cache.
    ``build=False``: only where it will be (None if that depends on files not written yet)."""
    from denoiserec.data.log import EVENTS, write_log

    spec = data
    if spec.kind == "simulate":
        from denoiserec.data.simulate import simulate_to

        out = cache / "simulated" / spec.cache_key()
        if build and out.exists() and not _log_ok(out):
            _discard(out, EVENTS)
        if build and not (out / EVENTS).exists():
            simulate_to(spec.sim_config(), out, progress=False)
        return out / EVENTS
    if spec.kind == "source":  # the adapters read in memory; the log is then encoded in bounded memory
        out = cache / "prepared" / spec.cache_key()
        if build and out.exists() and not _log_ok(out):
            _discard(out, EVENTS)
        if build and not (out / EVENTS).exists():
            write_log(spec.load(), out, spec.source)
        return out / EVENTS
    p = Path(spec.path)
    return p / EVENTS if p.is_dir() else p


def load_encoder(folder: str | Path) -> Encoder:
    """The :class:`Encoder` fitted while building the store (vocabularies, numeric statistics, spec)."""
    folder = Path(folder)
    m = json.loads((folder / MANIFEST).read_text())
    c = dict(m["config"])
    seqs = {n: HistoryConfig(**{**s, "kinds": tuple(s["kinds"]) if s["kinds"] is not None else None})
            for n, s in c.pop("sequences").items()}
    enc = Encoder(FeatureConfig(sequences=seqs, **c))
    enc.spec = open_store(folder)[0]
    enc.vocabs = {col: pl.read_parquet(folder / f"vocab_{i}.parquet") for i, col in enumerate(enc.spec.categorical)}
    enc.num_stats = {k: (float(a), float(b)) for k, (a, b) in m["num_stats"].items()}
    return enc


def labelled_log(file: Path, cache: Path, warnings: list | None = None, build: bool = True) -> Path:
    """The log file to encode: ``file`` itself or, when it holds unlabelled rows (null ``feedback``), a copy
    without them in the cache (written once, streamed, row order kept), with the warning the in-memory path
    gives (:func:`denoiserec.data.load.load_log`): both leave them out of training the same way."""
    from denoiserec.data.load import unlabelled_warning

    n = pl.scan_parquet(file).select(pl.col("feedback").null_count()).collect().item()
    if not n:
        return file
    from denoiserec.data.content import file_hash

    out = cache / "labelled" / file_hash(file)[:16] / file.name
    if build:
        from denoiserec.notices import warn

        warn(unlabelled_warning(n), warnings)
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp:
                pl.scan_parquet(file).filter(pl.col("feedback").is_not_null()).sink_parquet(tmp)
    return out


def streamed_splits(data: DataSpec, split_cfg: dict | None, config: FeatureConfig, warnings: list | None = None,
                    **options) -> tuple[Encoder, dict[str, StreamedData]]:
    """``fit_encode_splits`` for an experiment's log (``data``), split and features, through the cached on-disk
    store; unlabelled rows are left out first (:func:`labelled_log`; the warning appended to ``warnings``). Under
    ``torchrun`` only rank 0 simulates and encodes; the other ranks wait for its finished (atomically renamed)
    files."""
    cache = cache_dir(data)
    if is_writer():
        file = labelled_log(_log_file(data, cache), cache, warnings)
        out = cached_store(file, split_cfg, config, cache)
        return load_encoder(out), open_store(out, **options)[1]
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        file = _log_file(data, cache, build=False)
        if file is not None and file.exists():
            file = labelled_log(file, cache, build=False)
        if file is not None and file.exists():
            out = cache / "encoded" / store_key(file, split_cfg, config)
            if (out / MANIFEST).exists():
                return load_encoder(out), open_store(out, **options)[1]
        if time.monotonic() > deadline:
            raise DataError(cache, f"rank {os.environ['RANK']}: rank 0 did not finish the encoded store in "
                                   f"{WAIT_SECONDS} s")
        time.sleep(1.0)


def remove_store(folder: str | Path) -> None:
    """Delete a store folder this module built (it holds a manifest)."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        shutil.rmtree(folder)


# ------------------------------------------------------------------------------------------------------------
# batches from the store


class _Columns(Mapping):
    """Whole columns of a :class:`StreamedData`, read on access (what metrics and methods look up)."""

    def __init__(self, data: StreamedData):
        self.data = data
        self._cache: dict[str, torch.Tensor] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._cache:
            if key not in self.data.keys:
                raise KeyError(key)
            value = self.data.read(key, 0, len(self.data))
            if value.dim() > 1:
                return value  # wide columns are not kept
            self._cache[key] = value
        return self._cache[key]

    def __iter__(self):
        return iter(self.data.keys)

    def __len__(self) -> int:
        return len(self.data.keys)


class StreamedData:
    """One split of a store, served like :class:`~denoiserec.train.encoded.EncodedData`.

    Reads use ``np.fromfile`` at an offset (contiguous ranges) or a short-lived memory map (strided rows), so
    the process holds at most one buffer of rows, not the file's pages.

    Shuffling (``batches(shuffle=True)``), seeded by the trainer's generator: when the split has at most
    ``buffer_rows`` rows it is one buffer and the shuffle is exactly the in-memory one
    (``torch.randperm(n)``: identical batches and losses). Otherwise each epoch draws a permutation of chunks of
    ``chunk_rows`` consecutive rows, fills a buffer of ``buffer_rows // chunk_rows`` chunks in that order,
    permutes the buffer's rows and yields full batches, carrying the remainder into the next buffer. Every row
    is seen once per epoch; rows mix within a buffer, not across buffers.
    """

    def __init__(self, folder: Path, part: str, n: int, chunk_rows: int = 1 << 14, buffer_rows: int = 1 << 19,
                 device: torch.device | str | None = None, start: int = 0, rows: np.ndarray | None = None):
        self.folder, self.part, self.n = Path(folder), part, n
        self.chunk_rows, self.buffer_rows = chunk_rows, buffer_rows
        self.device = torch.device(device) if device is not None else None
        self.start, self.rows = start, rows
        layout = json.loads((self.folder / MANIFEST).read_text())["layout"]
        self.keys = list(layout)
        self.meta = {}
        for key, (descr, trail) in layout.items():
            path = self.folder / f"{part}.{key}.npy"
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
                offset = f.tell()
            self.meta[key] = (path, np.lib.format.descr_to_dtype(descr), tuple(trail), offset)
        self.tensors = _Columns(self)

    def _view(self, n: int | None = None, **kw) -> StreamedData:
        args = dict(chunk_rows=self.chunk_rows, buffer_rows=self.buffer_rows, device=self.device,
                    start=self.start, rows=self.rows)
        args.update(kw)
        view = StreamedData(self.folder, self.part, self.n if n is None else n, **args)
        view.keys = [k for k in view.keys if k in self.keys]  # a view keeps its parent's columns (see without)
        return view

    def without(self, prefix: str) -> StreamedData:
        """This view without the columns whose names start with ``prefix`` (the trainer drops ``true_*``)."""
        view = self._view()
        view.keys = [k for k in self.keys if not k.startswith(prefix)]
        return view

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def to(self, device: torch.device | str) -> StreamedData:
        """Batches are then moved to ``device`` (from pinned memory, asynchronously, on CUDA)."""
        return self._view(device=device)

    def shard(self, rank: int, world: int) -> StreamedData:
        """Rank ``rank``'s contiguous share of ``len // world`` rows (DDP: each rank reads only its own rows)."""
        per = len(self) // world
        if self.rows is not None:
            return self._view(n=per, rows=self.rows[rank * per:(rank + 1) * per])
        return self._view(n=per, start=self.start + rank * per)

    def subset(self, index) -> StreamedData:
        index = np.asarray(torch.as_tensor(index).cpu().numpy(), dtype=np.int64)
        base = self.rows[index] if self.rows is not None else self.start + index
        return self._view(n=len(index), rows=base, start=0)

    def _rows(self, lo: int, hi: int) -> np.ndarray | slice:
        if self.rows is not None:
            return self.rows[lo:hi]
        return slice(self.start + lo, self.start + hi)

    def read(self, key: str, lo: int, hi: int) -> torch.Tensor:
        """Rows ``lo:hi`` of this view's column ``key``."""
        path, dtype, trail, offset = self.meta[key]
        width = int(np.prod(trail)) if trail else 1
        where = self._rows(lo, hi)
        if isinstance(where, slice):
            n = where.stop - where.start  # not -1: a column of width 0 (no numeric features) has n rows of nothing
            arr = np.fromfile(path, dtype=dtype, count=n * width,
                              offset=offset + where.start * width * dtype.itemsize).reshape(n, *trail)
        else:
            mm = np.load(path, mmap_mode="r")
            arr = np.ascontiguousarray(mm[where])
            del mm
        return torch.from_numpy(arr)

    def _index(self, lo: int, hi: int) -> torch.Tensor:
        where = self._rows(lo, hi)
        if isinstance(where, slice):
            return torch.arange(where.start, where.stop, dtype=torch.int64)
        return torch.from_numpy(np.asarray(where, dtype=np.int64))

    def _load(self, ranges: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        out = {k: torch.cat([self.read(k, lo, hi) for lo, hi in ranges]) for k in self.keys}
        out["index"] = torch.cat([self._index(lo, hi) for lo, hi in ranges])
        return out

    def _send(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device is None or self.device.type == "cpu":
            return batch
        return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()}

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        """Yield dict batches (with ``index``, the rows' numbers in the split), as ``EncodedData.batches``."""
        n = len(self)
        if not shuffle or n <= self.buffer_rows:
            perm = torch.randperm(n, generator=generator) if shuffle else None
            step = n if shuffle else max(1, self.buffer_rows // batch_size) * batch_size
            for lo in range(0, n, max(step, 1)):
                t = self._load([(lo, min(lo + step, n))])
                if perm is not None:
                    t = {k: v[perm] for k, v in t.items()}
                for s in range(0, len(t["label"]), batch_size):
                    yield self._send({k: v[s:s + batch_size] for k, v in t.items()})
            return
        n_chunks = -(-n // self.chunk_rows)
        order = torch.randperm(n_chunks, generator=generator).tolist()
        per_buffer = max(1, self.buffer_rows // self.chunk_rows)
        carry: dict[str, torch.Tensor] | None = None
        for b in range(0, n_chunks, per_buffer):
            ranges = [(c * self.chunk_rows, min((c + 1) * self.chunk_rows, n)) for c in order[b:b + per_buffer]]
            t = self._load(ranges)
            if carry is not None:
                t = {k: torch.cat([carry[k], v]) for k, v in t.items()}
            m = len(t["label"])
            perm = torch.randperm(m, generator=generator)
            t = {k: v[perm] for k, v in t.items()}
            full = m - m % batch_size
            for s in range(0, full, batch_size):
                yield self._send({k: v[s:s + batch_size] for k, v in t.items()})
            carry = {k: v[full:] for k, v in t.items()}
        if carry is not None and len(carry["label"]):
            yield self._send(carry)

    def load(self) -> EncodedTensors:
        """The whole split in memory (for small stores and tests)."""
        t = self._load([(0, len(self))])
        t.pop("index")
        return EncodedTensors(t)
