"""Content fingerprints of runs: a SHA-256 over a run's effective settings and its data, stored with every run
result and checkpoint, so a re-run with another config or changed data recomputes instead of reusing a stale
result (docs/reliability.md).

The data part is computed before any data is read: for ``simulate`` its settings (the simulator is
deterministic); for files, the **content** of every file under the data path and of every file an option names
(the ``table`` source's mapping, say), plus the source and its options. Contents are SHA-256 hashes read in
1 MiB blocks (:func:`content_hash`); a file of 1 MiB or more whose size, modification time and inode equal those
stored with its hash (in ``<cache>/content-hashes.json``, :func:`denoiserec.data.store.cache_dir`) reuses that
hash, unless it was modified within a second of being hashed (git's "racy" rule). Known limit: a file rewritten
with the same size and its old modification time put back is taken as unchanged. Settings that cannot change a
result (progress bars, thread count, checkpoint path) are left out; the library's version is in.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

#: TrainConfig keys that do not change what a run computes
_NOT_RESULT = {"progress", "threads", "checkpoint", "eval_batch_size"}


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


BLOCK = 1 << 20  #: bytes read at a time; files smaller than this are always hashed
_RACY_NS = 1_000_000_000  #: a file modified this close to its hashing is hashed again


def _records_file() -> Path:
    from denoiserec.data.store import cache_dir

    return cache_dir() / "content-hashes.json"


def _read_records() -> dict:
    try:
        records = json.loads(_records_file().read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def content_hash(file: str | Path, records: dict | None = None) -> str:
    """SHA-256 of ``file``'s bytes, streamed; ``records`` (path → size, mtime, inode, hash, when hashed) lets an
    unchanged large file skip the read and receives the new record."""
    file = Path(file)
    st = file.stat()
    key = str(file.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    if records is not None and st.st_size >= BLOCK:
        r = records.get(key)
        if (isinstance(r, dict) and r.get("stamp") == stamp and isinstance(r.get("sha256"), str)
                and r.get("hashed_at", 0) - st.st_mtime_ns > _RACY_NS):
            return r["sha256"]
    h = hashlib.sha256()
    hashed_at = time.time_ns()
    with open(file, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    digest = h.hexdigest()
    if records is not None and st.st_size >= BLOCK:
        records[key] = {"stamp": stamp, "sha256": digest, "hashed_at": hashed_at}
    return digest


def file_hash(file: str | Path) -> str:
    """:func:`content_hash` with the stored records (read, and saved when they changed)."""
    records = _read_records()
    before = dict(records)
    digest = content_hash(file, records)
    if records != before:
        _save_records(records)
    return digest


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.name, path)]
    if path.is_dir():
        return [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*")) if p.is_file()]
    return []


def inputs_digest(data: dict) -> str:
    """Hash of a ``data`` section with a path: the source, its options, and the content of every file under the
    path and of every file an option names (relative names kept, so a renamed file counts as a change)."""
    records = _read_records()
    before = dict(records)
    files = {name: content_hash(f, records) for name, f in _files(Path(data["path"]))}
    options = data.get("options") or {}
    named = {k: {n: content_hash(f, records) for n, f in _files(Path(v))} for k, v in options.items()
             if isinstance(v, str | os.PathLike) and v and Path(v).exists()}
    if records != before:
        _save_records(records)
    return _digest({"source": data.get("source"), "options": options, "files": files, "option_files": named})


def _save_records(records: dict) -> None:
    """Store the content hashes (atomically; a cache that cannot be written only costs a re-read)."""
    from denoiserec.errors import OutputError
    from denoiserec.io import write_json

    try:
        _records_file().parent.mkdir(parents=True, exist_ok=True)
        write_json(_records_file(), records)
    except (OSError, OutputError):
        pass


def data_fingerprint(data: dict) -> str:
    """Fingerprint of a config's ``data`` section and the content of the files it names."""
    if "simulate" in data:
        from denoiserec.data.simulate import SimConfig

        return _digest({"simulate": asdict(SimConfig.from_dict(data["simulate"]))})
    return inputs_digest(data)


def run_fingerprint(cfg: dict, model: str, method: str, seed: int, data_fp: str) -> str:
    """Fingerprint of one (model, method, seed) run of a checked config ``cfg``."""
    from denoiserec.train.trainer import TrainConfig

    train = {k: v for k, v in asdict(TrainConfig.from_dict(cfg.get("train"))).items() if k not in _NOT_RESULT}
    train["seed"] = seed
    return _digest({"data": data_fp, "code": _code_version(), "split": cfg.get("split") or {"how": "temporal"},
                    "features": cfg.get("features"), "train": train, "model": cfg["models"][model],
                    "model_label": model, "method": cfg["methods"][method], "method_label": method,
                    **({"target": cfg["target"]} if cfg.get("target", "click") != "click" else {})})


def seqrec_fingerprint(cfg: dict, seed: int) -> str:
    """Fingerprint of one seed of a checked ``task: seqrec`` config (its data and every section but the seeds)."""
    rest = {k: v for k, v in cfg.items() if k not in ("data", "seeds", "name")}
    return _digest({"data": data_fingerprint(cfg["data"]), "code": _code_version(), "config": rest, "seed": seed})


def _code_version() -> str:
    """The code version that matters for a result: the library's release."""
    import denoiserec

    return denoiserec.__version__
