"""Safe file output. Everything denoiserec writes goes to a temporary sibling and is renamed into place, so a
failed or killed run leaves nothing half-written; and the only thing ever replaced is a previous output of the
same kind that denoiserec itself wrote, recognised by its marker file (:data:`MARKER`), and only when every
entry in it is one the marker records writing (anything else is named in a refusal). See docs/reliability.md.

A whole-folder replace takes two renames (the old folder into the temporary sibling, the new one into place).
A run killed between them leaves both copies in the sibling; the next output to that path, or
:func:`recover`, puts one back (the new copy when it is complete, else the old one) before anything is removed.

Refused output paths (:class:`~denoiserec.errors.OutputError`, one line): an empty path, a symbolic link, ``.``,
the current directory or any ancestor of it, the home directory, the input path, a folder containing the input,
a folder inside which the input lies, an existing file where a folder is expected, a non-empty folder without
the marker, and a place that cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from denoiserec.errors import OutputError

MARKER = ".denoiserec.json"  #: in every output folder: {"written_by": "denoiserec", "kind": KIND, "files": [...]}
_TMP = ".denoiserec-tmp-"  #: temporary siblings are ``.<name>.denoiserec-tmp-<pid>-<random>``
_OWNER = ".owner"  #: inside a temporary sibling: marks it as ours so a later run may remove it
_PREVIOUS = "previous"  #: inside a temporary sibling: the old output while the new one is renamed into place
#: what a marker written before markers recorded their files stands for (the fixed layout of that kind)
_LAYOUT = {"data": {"events.parquet", "meta.json"},
           "bundle": {"bundle.json", "model.safetensors", "vocabularies.parquet", "station_items.parquet",
                      "items.parquet"}}


def is_writer() -> bool:
    """Whether this process writes outputs: rank 0 under ``torchrun`` (its ``RANK`` variable, set before any
    process group exists), or a plain run."""
    return int(os.environ.get("RANK", "0")) == 0


def _marker(folder: Path) -> dict | None:
    """``folder``'s marker when it is a denoiserec output, else None."""
    try:
        info = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("written_by") == "denoiserec" else None


def _marker_kind(folder: Path) -> str | None:
    """The kind recorded in ``folder``'s marker, or None when it is not a denoiserec output."""
    info = _marker(folder)
    return info.get("kind") if info else None


def _entries(folder: Path) -> list[str]:
    """Every entry under ``folder`` (files, links, folders; not followed), as sorted relative POSIX paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / n).as_posix() for n in dirs + files]
    return sorted(out)


def foreign_entries(folder: str | os.PathLike) -> list[str]:
    """Entries of the output folder ``folder`` that its marker does not record denoiserec writing (a marker
    from before markers recorded files stands for its kind's fixed layout); all entries without a marker."""
    folder = Path(folder)
    info = _marker(folder)
    if info is None:
        return _entries(folder)
    files = info.get("files")
    mine = set(files) if isinstance(files, list) else _LAYOUT.get(str(info.get("kind")), set())
    return [e for e in _entries(folder) if e != MARKER and e not in mine]


def is_output(folder: str | os.PathLike, kind: str) -> bool:
    return _marker_kind(Path(folder)) == kind


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


TABLE_KINDS = ("scores", "recommendations")  # single-file outputs written as Parquet, or CSV by their suffix


def check_output(path: str | os.PathLike, kind: str, inputs: Iterable[str | os.PathLike] = (),
                 folder: bool = True, replace: bool = True) -> Path:
    """Refuse an unsafe output path (see the module docstring); return it as a :class:`Path`.

    ``kind`` names what is written ("data", "results", "png"); ``folder`` is False for a single file, which
    may only replace a previous file of that kind that denoiserec marked (for ``png``: a text chunk).
    ``replace`` is False for a folder filled in place (results), where entries of others are kept, not refused.
    """
    recover(path)
    text = os.fspath(path)
    if not text.strip():
        raise OutputError("output path is empty: give a new folder name, e.g. --out runs/x")
    p = Path(text).expanduser()
    if p.is_symlink():
        raise OutputError(f"{text}: is a symbolic link; give a real path (denoiserec does not write through links)")
    r = p.resolve()
    cwd = Path.cwd().resolve()
    if _inside(cwd, r):
        raise OutputError(f"{text}: is the current directory or one of its ancestors; give a new sub-folder")
    if r == Path.home().resolve() or r == Path(r.anchor):
        raise OutputError(f"{text}: is the home or root directory; give a new sub-folder")
    for inp in inputs:
        if inp is None or not os.fspath(inp).strip():
            continue
        ir = Path(inp).expanduser().resolve()
        if _inside(ir, r):
            raise OutputError(f"{text}: is the input {os.fspath(inp)} or a folder containing it; "
                              "write the output somewhere else")
        if _inside(r, ir) and ir.is_dir():
            raise OutputError(f"{text}: lies inside the input folder {os.fspath(inp)}; write it somewhere else")
    if p.exists():
        if folder and not p.is_dir():
            raise OutputError(f"{text}: is a file, not a folder; give a folder name")
        if not folder:
            if p.is_dir():
                raise OutputError(f"{text}: is a folder; give a file name")
            if not _is_previous_file(p, kind):
                what = "PNG image" if kind == "png" else f"{kind} file"
                raise OutputError(f"{text}: exists and is not a {what} denoiserec wrote before; give a new "
                                  "file name or remove it (nothing was changed)")
        elif any(p.iterdir()) and _marker_kind(p) != kind:
            found = _marker_kind(p)
            what = f"a denoiserec {found} folder, not a {kind} folder" if found else "not written by denoiserec"
            raise OutputError(f"{text}: is not empty and {what}; give a new folder (nothing was changed)")
        elif replace and (foreign := foreign_entries(p)):
            names = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(f"{text}: holds files denoiserec did not write ({names}); move them out or give a "
                              "new folder (nothing was changed)")
    if not folder and kind in TABLE_KINDS and p.suffix not in (".parquet", ".csv"):
        raise OutputError(f"{text}: give a .parquet or .csv file name (the {kind} are written as one of them)")
    parent = p.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{text}: {parent} is a file, so no folder can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{text}: cannot write in {parent} (permission denied)")
    return p


FILE_MARK = "denoiserec"  # key of the Parquet / ONNX metadata entry naming the kind of a file denoiserec wrote


def _is_previous_file(p: Path, kind: str) -> bool:
    """Whether the existing file ``p`` is an output of ``kind`` that denoiserec wrote (the only file ever
    replaced): a PNG image for ``png``, else a Parquet or ONNX file whose metadata carries ``FILE_MARK: kind``.
    Other files (a CSV, say) cannot be told apart from a user's own, so they are never replaced."""
    if kind == "png":
        return _png_mark(p) == kind
    try:
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            return (pq.read_metadata(p).metadata or {}).get(FILE_MARK.encode()) == kind.encode()
        if p.suffix == ".onnx":
            import onnx

            props = onnx.load(str(p), load_external_data=False).metadata_props
            return any(e.key == FILE_MARK and e.value == kind for e in props)
    except Exception:  # noqa: BLE001 - unreadable means not ours
        return False
    return False


def write_parquet_output(df, path: Path, kind: str) -> None:
    """Write a polars frame atomically as Parquet, marked as a denoiserec ``kind`` output (see
    :func:`check_output`)."""
    import pyarrow.parquet as pq

    table = df.to_arrow()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), FILE_MARK: kind}), tmp)


def _png_mark(p: Path) -> str | None:
    """The ``FILE_MARK`` text chunk of the PNG image ``p`` (written by :func:`write_png`), read chunk by chunk
    up to the image data; None when there is none or ``p`` is no PNG."""
    import struct

    try:
        with open(p, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while len(head := f.read(8)) == 8:
                size, ctype = struct.unpack(">I4s", head)
                if ctype in (b"IDAT", b"IEND") or size > 1 << 20:
                    return None
                body = f.read(size)
                f.seek(4, 1)  # CRC
                if ctype == b"tEXt" and body.startswith(FILE_MARK.encode() + b"\0"):
                    return body[len(FILE_MARK) + 1:].decode("latin-1")
    except OSError:
        return None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_siblings(path: Path) -> list[Path]:
    """Temporary siblings of ``path`` left by killed denoiserec processes (owner-marked, process gone), newest
    first."""
    found = []
    if not path.parent.is_dir():
        return found
    for d in path.parent.glob(f".{path.name}{_TMP}*"):
        try:
            pid = int(d.name[len(f".{path.name}{_TMP}"):].split("-")[0])
        except ValueError:
            continue
        if d.is_dir() and not d.is_symlink() and (d / _OWNER).is_file() and not _alive(pid):
            found.append(d)
    return sorted(found, key=lambda d: d.stat().st_mtime_ns, reverse=True)


def recover(path: str | os.PathLike) -> Path | None:
    """Put back an output that a killed replace left in its temporary sibling (``path`` missing): the new copy
    when it is complete (its marker is written last), else the previous one. Returns what was put back."""
    path = Path(path)
    if not path.name or path.exists() or path.is_symlink():
        return None
    for d in _stale_siblings(path):
        new, old = d / path.name, d / _PREVIOUS
        for cand in ((new,) if (new / MARKER).is_file() else ()) + (old,):
            if cand.exists() and not cand.is_symlink():
                os.replace(cand, path)
                return cand
    return None


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` left by killed denoiserec runs (their process is gone), after
    :func:`recover` has put back an output they held; returns what was removed. Only folders carrying
    denoiserec's owner mark are touched."""
    path = Path(path)
    recover(path)
    removed = _stale_siblings(path)
    for d in removed:
        shutil.rmtree(d, ignore_errors=True)
    return removed


@contextlib.contextmanager
def _sibling(path: Path) -> Iterator[Path]:
    """A fresh owner-marked temporary folder next to ``path``; removed (only it) on exit."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(path)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}{_TMP}{os.getpid()}-", dir=path.parent))
    except OSError as e:
        raise OutputError(f"{path}: cannot write here ({e.strerror or e})") from None
    try:
        (tmpdir / _OWNER).write_text(str(os.getpid()))
        yield tmpdir
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; on success rename it onto ``path``, on error delete it.

    For files denoiserec owns (results JSON, checkpoints, reports, plots): a directory or a symbolic link at
    ``path`` is refused, never replaced. Output folders use :func:`output_dir`.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise OutputError(f"{os.fspath(path)!r}: not a file name")
    if path.is_symlink() or path.is_dir():
        raise OutputError(f"{path}: is a {'symbolic link' if path.is_symlink() else 'folder'}; give a file name")
    with _sibling(path) as tmpdir:
        tmp = tmpdir / path.name
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def output_dir(path: str | os.PathLike, kind: str, inputs: Iterable[str | os.PathLike] = (),
               hashes: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder to fill; on success it replaces ``path`` (only if ``path`` is missing,
    empty or a previous ``kind`` output of denoiserec, checked by :func:`check_output`); on error it is removed
    and ``path`` is untouched. ``hashes``: the marker also records each file's SHA-256 (:func:`check_files`)."""
    path = check_output(path, kind, inputs)
    with _sibling(path) as tmpdir:
        tmp = tmpdir / path.name
        tmp.mkdir()
        yield tmp
        write_marker(tmp, kind, _entries(tmp), hashes)  # last: a complete new output is one with its marker
        check_output(path, kind, inputs)  # nothing appeared there meanwhile
        old = tmpdir / _PREVIOUS
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old.exists():
                os.replace(old, path)
            raise


def claim_dir(path: str | os.PathLike, kind: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check ``path`` (see :func:`check_output`), create it and mark it as a ``kind`` output: for folders that
    are filled in place and resumed (results folders)."""
    path = check_output(path, kind, inputs, replace=False)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not (path / MARKER).is_file():
            write_marker(path, kind)
    except OSError as e:
        raise OutputError(f"{path}: cannot write here ({e.strerror or e})") from None
    return path


def remove_if_only(folder: Path, names: Iterable[str]) -> bool:
    """Remove ``folder`` (our output) when it holds nothing but its marker, ``names`` and empty folders among
    them; else leave it. Whether it was removed."""
    allowed = {MARKER, *names}
    entries = list(folder.iterdir())
    if any(p.name not in allowed or p.is_symlink() or (p.is_dir() and any(p.iterdir())) for p in entries):
        return False
    for p in entries:
        p.rmdir() if p.is_dir() else p.unlink()
    folder.rmdir()
    return True


def write_marker(folder: Path, kind: str, files: list[str] | None = None, hashes: bool = False) -> None:
    """Mark ``folder`` as a denoiserec ``kind`` output; ``files``: every entry written into it (a folder that
    is replaced whole), None for a folder filled in place; ``hashes``: with each file's SHA-256."""
    info = {"written_by": "denoiserec", "kind": kind, **({"files": files} if files is not None else {})}
    if hashes and files is not None:
        info["sha256"] = {f: sha256_file(folder / f) for f in files if (folder / f).is_file()}
    (folder / MARKER).write_text(json.dumps(info) + "\n")


def sha256_file(file: str | os.PathLike, block: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read ``block`` bytes at a time."""
    import hashlib

    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def check_files(folder: str | os.PathLike, kind: str) -> None:
    """Check an output folder written with ``hashes`` against its marker: every recorded file present with the
    recorded content; else :class:`~denoiserec.errors.DataError` naming the first file that differs."""
    from denoiserec.errors import DataError

    folder = Path(folder)
    info = _marker(folder)
    sums = info.get("sha256") if info else None
    if not info or info.get("kind") != kind or not isinstance(sums, dict):
        raise DataError(folder / MARKER, f"no manifest of a denoiserec {kind} (missing, unreadable or of another "
                        "kind); write the folder again")
    for name, digest in sorted(sums.items()):
        f = folder / name
        if not f.is_file():
            raise DataError(f, f"missing: the {kind} recorded writing it; write the folder again")
        if sha256_file(f) != digest:
            raise DataError(f, f"changed since denoiserec wrote it (its content hash differs from the {kind}'s "
                            "manifest); write the folder again")


def safe_name(name: object, what: str) -> str:
    """``name`` if it can be a file name inside an output folder (letters, digits, ``_ - . = +``, not starting
    with a dot), else :class:`~denoiserec.errors.ConfigError` naming ``what``."""
    import re

    from denoiserec.errors import ConfigError

    text = str(name)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*", text) or len(text) > 200:
        raise ConfigError(f"{what}: {text!r} cannot be used as a file name (use letters, digits, _ - . = +; "
                          "no slashes, no leading dot)")
    return text


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _jsonable(o: object) -> object:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend (imported on first use: plotting is optional work)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_png(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a Matplotlib figure as PNG atomically, then close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", metadata={FILE_MARK: "png"})
    pyplot().close(fig)
    return path
