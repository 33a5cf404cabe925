"""A config's ``data`` section as one :class:`DataSpec` (simulate | source | prepared): its check, the canonical
log it names (the one loader every task -- :mod:`denoiserec.tasks`: CTR and sequential recommendation -- uses),
its content fingerprint, its expected number of rows and its cache key. Nothing else interprets the section."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from denoiserec.errors import ConfigError

#: the ``data`` section's keys and what each means (docs/config.md lists them; :meth:`DataSpec.check` checks them)
KEYS = {
    "simulate": "simulator knobs (data.simulate below); not with source/path",
    "source": "a raw-data adapter (denoiserec data sources), reading `path`",
    "path": "a prepared folder (events.parquet), or the raw files with `source`",
    "options": "the adapter's options (with `source`)",
    "stream": "true, false or auto: encode into an on-disk cache and train from it (auto: when the in-memory "
              "encoding would need more than half the RAM)",
    "cache": "the streamed cache's folder (default $DENOISEREC_CACHE or ~/.cache/denoiserec)",
}


def digest(obj: object) -> str:
    """SHA-256 of ``obj`` as sorted JSON (what every fingerprint hashes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _prefixed(where: str, e: Exception) -> ConfigError:
    text = str(e)
    return ConfigError(text if text.startswith(where) else f"{where}: {text}")


@dataclass(frozen=True)
class DataSpec:
    """Where a log comes from: ``simulate`` (the simulator's settings), ``source`` (an adapter reading the raw
    files at ``path`` with ``options``) or ``prepared`` (a prepared folder or Parquet file at ``path``);
    ``stream`` (true | false | auto) and ``cache`` are read by :mod:`denoiserec.data.store`."""

    kind: str
    simulate: dict | None = None
    source: str | None = None
    path: str | None = None
    options: dict | None = None  # as given (None: no options key)
    stream: bool | str = "auto"
    cache: str | None = None

    @staticmethod
    def check(data: object, where: str = "data") -> dict:
        """The ``data`` section checked (keys, types, the simulator's settings, a source's options against its
        ``read``) before any data is read; returns it with checked values (a :class:`ConfigError` naming the key
        otherwise)."""
        from denoiserec.validate import check_fields, check_mapping, coerce

        data = check_mapping(data, where)
        if not data:
            raise ConfigError(f"{where}: required; give one of 'simulate', 'source' + 'path', or 'path'")
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; known: {', '.join(sorted(KEYS))}")
        if data.get("stream", "auto") not in (True, False, "auto"):  # denoiserec.data.store.use_stream
            raise ConfigError(f"{where}.stream: true, false or auto, got {data['stream']!r}")
        if "cache" in data:
            coerce(data["cache"], str, f"{where}.cache")
        if "simulate" in data:
            other = set(data) - {"simulate", "stream", "cache"}
            if other:
                raise ConfigError(f"{where}: 'simulate' cannot be combined with {sorted(other)}")
            from denoiserec.data.simulate import SimConfig

            sim = check_fields(SimConfig, data["simulate"], f"{where}.simulate")
            try:
                SimConfig.from_dict(sim)  # a scenario's preset, then the keys given
            except (ConfigError, TypeError, ValueError) as e:
                raise _prefixed(f"{where}.simulate", e) from None
            return {**data, "simulate": sim}
        if "path" not in data:
            raise ConfigError(f"{where}.path: required (the raw files with 'source', else a prepared folder)")
        coerce(data["path"], str, f"{where}.path")
        if "source" in data:
            from denoiserec.data.sources import check_options

            coerce(data["source"], str, f"{where}.source")
            opts = check_options(data["source"], data.get("options"), f"{where}.options")
            return {**data, "options": opts} if "options" in data else data
        if "options" in data:
            raise ConfigError(f"{where}.options: only with 'source' (options of a raw-data adapter)")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DataSpec:
        """A (checked) ``data`` section as a spec."""
        common = {"stream": data.get("stream", "auto"), "cache": data.get("cache")}
        if "simulate" in data:
            return cls("simulate", simulate=dict(data["simulate"] or {}), **common)
        if "source" in data:
            return cls("source", source=data["source"], path=data["path"], options=data.get("options"), **common)
        if "path" in data:
            return cls("prepared", path=data["path"], **common)
        raise ConfigError("data: give one of 'simulate', 'source' + 'path', or 'path'")

    def sim_config(self):
        from denoiserec.data.simulate import SimConfig

        return SimConfig.from_dict(self.simulate)

    def load(self) -> pl.DataFrame:
        """The canonical log."""
        if self.kind == "simulate":
            from denoiserec.data.simulate import simulate

            return simulate(self.sim_config())
        if self.kind == "source":
            from denoiserec.data.sources import read

            return read(self.source, self.path, **(self.options or {}))
        from denoiserec.data.log import read_log

        return read_log(self.path)

    def fingerprint(self) -> str:
        """Content fingerprint, read before any data is: for ``simulate`` its settings (the simulator is
        deterministic); for files, the content of every file under the path and of every file an option names
        (:func:`denoiserec.data.content.inputs_digest`: a streamed SHA-256, size+mtime only confirming a stored
        hash), plus the source and its options."""
        if self.kind == "simulate":
            return digest({"simulate": asdict(self.sim_config())})
        from denoiserec.data.content import inputs_digest

        return inputs_digest(self.section())

    def expected_rows(self) -> int | None:
        """Rows of the log, known without reading it (the simulator's expectation, a prepared Parquet file's
        metadata); None for a source's raw files or an unreadable file."""
        if self.kind == "simulate":
            return self.sim_config().expected_rows
        if self.kind == "source":
            return None
        import pyarrow.parquet as pq

        from denoiserec.data.log import EVENTS

        p = Path(self.path)
        p = p / EVENTS if p.is_dir() else p
        try:
            return pq.ParquetFile(p).metadata.num_rows
        except (OSError, ValueError):  # missing or not Parquet: the in-memory reader names the problem
            return None

    def cache_key(self) -> str | None:
        """The folder name of this log in a cache (simulated or prepared from a source; None for a prepared
        log, read where it is)."""
        if self.kind == "simulate":
            return hashlib.sha256(json.dumps(asdict(self.sim_config()), sort_keys=True).encode()).hexdigest()[:16]
        if self.kind == "source":  # the content of the raw files and of the files options name (a mapping)
            from denoiserec.data.content import inputs_digest

            return inputs_digest(self.section())[:16]
        return None

    def section(self) -> dict:
        """The ``data`` section's keys that name the log (what :func:`denoiserec.data.content.inputs_digest` reads)."""
        return {k: v for k, v in (("source", self.source), ("path", self.path), ("options", self.options))
                if v is not None}


def unlabelled_warning(n: int) -> str:
    """What a run says when it leaves ``n`` unlabelled rows out of training (in memory or streamed)."""
    return f"data: {n:,} unlabelled row(s) (no feedback) left out of training; they are for scoring"


def load_log(data: DataSpec | dict, warnings: list | None = None) -> pl.DataFrame:
    """The canonical log of ``data`` (a spec, or a ``data`` section read as one; :meth:`DataSpec.load`); its
    unlabelled rows (null
    ``feedback``, :mod:`denoiserec.data.schema`) are dropped, with a warning (appended to ``warnings`` when given):
    nothing trains on them. A streamed log does the same (:func:`denoiserec.data.store.labelled_log`)."""
    df = (data if isinstance(data, DataSpec) else DataSpec.from_dict(data)).load()
    n = df["feedback"].null_count()
    if n:
        from denoiserec.notices import warn

        warn(unlabelled_warning(n), warnings)
        df = df.filter(pl.col("feedback").is_not_null())
    return df
