"""Files keyed by their content: streamed SHA-256 hashes of input files, with a stored record per large file so
an unchanged file is not read again (docs/reliability.md).

A file of 1 MiB or more whose size, modification time and inode equal those stored with its hash (in
``<cache>/content-hashes.json``) reuses that hash, unless it was modified within a second of being hashed (git's
"racy" rule); smaller files are always read. Known limit: a file rewritten with the same size and its old
modification time put back is taken as unchanged. Used by the run fingerprints (:mod:`denoiserec.fingerprint`)
and the stream caches (:mod:`denoiserec.data.store`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


BLOCK = 1 << 20  #: bytes read at a time; files smaller than this are always hashed
_RACY_NS = 1_000_000_000  #: a file modified this close to its hashing is hashed again


def cache_dir(data: object = None) -> Path:
    """``data.cache`` (of a :class:`~denoiserec.data.load.DataSpec` or a ``data`` section), else
    ``$DENOISEREC_CACHE``, else ``~/.cache/denoiserec``."""
    given = (data or {}).get("cache") if isinstance(data, dict | None) else data.cache
    root = given or os.environ.get("DENOISEREC_CACHE") or Path.home() / ".cache" / "denoiserec"
    return Path(root)


def _records_file() -> Path:
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
    from denoiserec.io import sha256_file

    hashed_at = time.time_ns()
    digest = sha256_file(file, BLOCK)
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
