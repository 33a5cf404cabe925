"""A hostile-input pass over the command line (issue 27's measure): bad data files for every source, bad mapping
files, bad settings in every config section and for every model and method, bad command options, output-path
hazards, corrupt bundles, checkpoints and caches, kills at every rename.

    OMP_NUM_THREADS=1 nice -n 5 python scripts/hostile_pass.py --out hostile.md [--family NAME ...] [--keep DIR]

Each case runs the CLI in this process (``typer.testing.CliRunner``) in a folder of its own, filled from a base of
tiny data, bundles and results built once. A case is **handled** when (a) it exits 2 with exactly one stderr
line starting ``error:`` (``warning:`` lines aside) that names what the case says it must (the file, line,
column or config key), and no traceback; or, where the case allows it, exits 0 with a result its check accepts;
and (b) no file that was there before changed (content hashes of the case folder before and after; a refusal
also writes nothing new). A traceback, or exit 0 with a result the check rejects, is not handled. Kill cases
run ``tests/killpoints.py``'s loop in a subprocess (each rename of ``simulate``, ``run``, ``predict``, ``data
prepare``, ``recommend``, ``export`` and ``describe --plot`` is a case). docs/reliability.md records the counts.
Prints "N tried, M handled" and a table of the cases not handled; ``--out`` writes the same as Markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from denoiserec.cli import app  # noqa: E402

Check = Callable[[Path], "str | None"]  # a folder -> None when the result is right, else what is wrong


@dataclass
class Case:
    family: str
    name: str
    args: list[str]
    needs: tuple[str, ...] = ()  # base entries copied into the case folder
    prep: Callable[[Path], None] | None = None  # what makes the input hostile
    needles: tuple[str, ...] = ()  # an error must name all of these (case-insensitive)
    ok: Check | None = None  # exit 0 is handled when this check passes (None: only a refusal is handled)
    error: bool = True  # whether a refusal is handled
    may_change: tuple[str, ...] = ()  # paths (prefixes) a handled case may write or replace


@dataclass
class Outcome:
    case: Case
    handled: bool
    what: str
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


# --- the base: tiny valid inputs, built once ----------------------------------------------------------------------

PIKI = "id,liked,personalized,song_id,spotify_popularity,timestamp,user_id\n" + "".join(
    f"{i},{i % 2},1,{i % 7},{40 + i},2019-06-21 01:{i:02d}:00,{i % 3}\n" for i in range(30)
)
MSSD = (
    "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
    "context_type,hist_user_behavior_reason_start,hour_of_day,date\n"
    + "".join(
        f"s{i // 5},{i % 5 + 1},5,t{i % 7},{i % 3 == 0},{i % 2 == 0},False,{i % 2 == 1},"
        f"editorial_playlist,clickrow,16,2018-07-15\n"
        for i in range(30)
    )
)
TAOBAO = (
    "clk,time_stamp,userid,adgroup_id,pid,cate_id,campaign_id,customer,brand,price,cms_segid,"
    "cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,occupation,"
    "new_user_class_level,click_sequence\n"
    + "".join(
        f"{i % 2},2017-05-06 00:{i:02d}:00,{87425 + i % 3},{17229 + i % 7},430548_1007,5443,160194,864,"
        f"339907,3.9,0,3,2,3,,3,0,,1^2\n"
        for i in range(30)
    )
)
KUAIRAND = (
    "user_id\tvideo_id\tdate\thourmin\ttime_ms\tis_click\tis_follow\tis_comment\tis_forward\tlong_view\t"
    "play_time_ms\tduration_ms\tcomment_stay_time\tis_profile_enter\tlabel\ttimestamp\n"
    + "".join(
        f"{111 + i % 3}\t{3892000 + i % 7}\t20220410\t1700\t{1649581149287 + 60000 * i}\t{i % 2}\t0\t0\t"
        f"0\t1\t46186\t45916\t7639\t0\t{(i // 2) % 2}\t2022-04-10 08:59:09\n"
        for i in range(30)
    )
)
LASTFM = "".join(
    f"user_00000{i % 3}\t2009-05-04T{10 + i // 60:02d}:{i % 60:02d}:57Z\tart{i % 4}\tArtist {i % 4}\t"
    f"tr{i % 7}\tTrack {i % 7}\n"
    for i in range(30)
)
TABLE = "user_id,track,ts,liked,acted\n" + "".join(
    f"u{i % 3},t{i % 7},{1_600_000_000 + 60 * i},{i % 2},{(i // 2) % 2}\n" for i in range(30)
)
MAPPING = {
    "columns": {"user": "user_id", "item": "track", "timestamp": "ts"},
    "timestamp": {"unit": "s"},
    "feedback": {"label": "liked", "active": "acted"},
}


@dataclass
class Source:
    """A source's valid raw input: where its main file lives, its separator and which columns mean what."""

    name: str
    file: str  # the main file, relative to the raw folder
    text: str
    sep: str
    header: bool
    user: str
    time: str
    label: str | None
    numeric_time: bool
    extra: list[str] = field(default_factory=list)  # --opt / --spec arguments


SOURCES = [
    Source("piki", "piki.csv", PIKI, ",", True, "user_id", "timestamp", "liked", False),
    Source("mssd", "log_0.csv", MSSD, ",", True, "session_id", "date", "skip_2", False),
    Source("taobao", "joined_sample.csv", TAOBAO, ",", True, "userid", "time_stamp", "clk", False),
    Source("kuairand", "log.tsv", KUAIRAND, "\t", True, "user_id", "time_ms", "label", True),
    Source(
        "lastfm1k",
        "userid-timestamp-artid-artname-traid-traname.tsv",
        LASTFM,
        "\t",
        False,
        "userid",
        "timestamp",
        None,
        False,
    ),
    Source("table", "log.csv", TABLE, ",", True, "user_id", "ts", "liked", True, ["--spec", "m.yaml"]),
]
COLUMN_INDEX = {  # header-less sources: the column names of their fields
    "lastfm1k": ["userid", "timestamp", "artid", "artname", "traid", "traname"],
}
RUN_CFG = {
    "data": {"path": "log"},
    "seeds": [0],
    "train": {"epochs": 1, "batch_size": 64, "threads": 1},
    "models": {"deepfm": {"embed_dim": 4, "hidden": [8]}},
    "methods": {"none": {}},
}
SEQ_CFG = {
    "task": "seqrec",
    "data": {"path": "log"},
    "split": {"test_frac": 0.2, "valid_frac": 0.1},
    "features": {"up": "auto", "station": "context"},
    "train": {"epochs": 1, "batch_size": 32, "threads": 1, "min_epochs": 1},
    "eval": {"candidates": 20, "k": [5]},
    "models": {"both": {"dim": 8, "layers": 1, "heads": 1}},
    "seeds": [0],
}
BUNDLE = "res/bundles/deepfm__none__seed0"
SEQ_BUNDLE = "seq/bundles/seqrec__both__seed0"
RUN_JSON = "res/runs/deepfm__none__seed0.json"


def noise(n: int, seed: int = 0) -> bytes:
    """``n`` pseudo-random bytes, the same on every run (the pass is reproducible)."""
    return random.Random(seed).randbytes(n)


def invoke(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args])


def build_base(base: Path) -> None:
    """Valid raw files of every source, two prepared logs, a CTR and a transformer results folder."""
    from conftest import make_log

    from denoiserec.data.log import write_log

    os.chdir(base)
    for s in SOURCES:
        raw = base / "raw" / s.name
        raw.mkdir(parents=True)
        (raw / s.file).write_text(s.text)
    (base / "m.yaml").write_text(yaml.safe_dump(MAPPING))
    shutil.copytree(ROOT / "tests" / "fixtures" / "music30", base / "raw" / "music30")
    write_log(make_log(n_users=12, per_user=20), base / "log", source="test")
    make_log(n_users=12, per_user=20).select(
        user_id="user", track="item", ts="timestamp", liked="label", acted="active"
    ).write_csv(base / "svc.csv")
    write_log(make_log(n_users=10, per_user=20, seed=3), base / "log2", source="test")
    (base / "cfg.yaml").write_text(yaml.safe_dump(RUN_CFG))
    (base / "seq.yaml").write_text(yaml.safe_dump(SEQ_CFG))
    steps = [
        ["run", "cfg.yaml", "-o", "res", "--no-progress", "--quiet"],
        ["run", "cfg.yaml", "-o", "res2", "--no-progress", "--quiet", "--set", "data.path=log2", "--set", "seeds=[1]"],
        ["run", "seq.yaml", "-o", "seq", "--no-progress", "--quiet"],
    ]
    steps += [
        ["data", "prepare", s.name, f"raw/{s.name}", "-o", f"clean/{s.name}", *s.extra]
        for s in [*SOURCES, Source("music30", "", "", "", False, "", "", None, True)]
    ]
    for args in steps:
        r = invoke(args)
        if r.exit_code != 0:
            tb = "".join(traceback.format_exception(*r.exc_info)) if r.exc_info else ""
            raise SystemExit(f"base: `denoiserec {' '.join(args)}` failed:\n{r.output}\n{tb}")
    (base / "clean" / ".denoiserec.json").unlink(missing_ok=True)


# --- judging ------------------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def under(rel: str, prefixes: tuple[str, ...]) -> bool:
    for p in prefixes:
        p = p.rstrip("/")
        name = Path(p).name
        parent = str(Path(p).parent)
        if rel == p or rel.startswith(p + "/"):
            return True
        tmp = f".{name}.denoiserec-tmp-"  # the output's own temporary sibling
        head = rel if parent == "." else rel[len(parent) + 1 :] if rel.startswith(parent + "/") else ""
        if head.startswith(tmp):
            return True
    return False


def judge(case: Case, r, before: dict, after: dict) -> tuple[bool, str]:
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        last = traceback.format_exception_only(type(r.exception), r.exception)[-1].strip()
        return False, f"traceback: {last[:160]}"
    skip = (".cache", *case.may_change)
    changed = [k for k, v in before.items() if not under(k, skip) and after.get(k) != v]
    stderr = r.stderr if r.stderr_bytes is not None else r.output
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip() and not ln.startswith("warning: ")]
    if r.exit_code == 2:
        new = [k for k in after if k not in before and not under(k, (".cache",))]
        if changed:
            return False, f"refused but changed {changed[:3]}"
        if new:
            return False, f"refused but wrote {new[:3]}"
        if not case.error:
            return False, f"refused a valid input: {' '.join(lines)[:160]}"
        usage = any("Usage:" in ln for ln in lines) or any("─" in ln for ln in lines)
        text = " ".join(lines)
        if usage:
            if "Traceback" in text:
                return False, "usage panel with a traceback"
            missing = [n for n in case.needles if n.lower() not in text.lower()]
            return (
                not missing,
                "usage error (click panel)" if not missing else f"usage error not naming {missing}: {text[:160]}",
            )
        if len(lines) != 1 or not lines[0].startswith("error:"):
            return False, f"exit 2, {len(lines)} stderr line(s): {text[:160]}"
        missing = [n for n in case.needles if n.lower() not in lines[0].lower()]
        if missing:
            return False, f"error not naming {missing}: {lines[0][:160]}"
        return True, lines[0][:160]
    if changed:
        return False, f"exit {r.exit_code}, changed {changed[:3]}"
    if r.exit_code == 0:
        if case.ok is None:
            return False, "exit 0 (accepted): " + (" ".join(lines)[-120:] if lines else "no message")
        try:
            problem = case.ok(Path.cwd())
        except Exception as e:  # noqa: BLE001 - a check that cannot read the result: not handled
            problem = f"result unreadable: {type(e).__name__}: {str(e)[:100]}"
        return (problem is None, "exit 0, correct result" if problem is None else f"exit 0, wrong result: {problem}")
    return False, f"exit {r.exit_code}: {' '.join(lines)[:160]}"


def run_case(case: Case, base: Path, work: Path) -> Outcome:
    d = work / "case"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    for n in case.needs:
        src = base / n
        (d / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, d / n, symlinks=True) if src.is_dir() else shutil.copy2(src, d / n)
    os.chdir(d)
    os.environ["DENOISEREC_CACHE"] = str(d / ".cache")
    t0 = time.perf_counter()
    try:
        if case.prep:
            case.prep(d)
        before = snapshot(d)
        r = invoke(case.args)
        after = snapshot(d)
        handled, what = judge(case, r, before, after)
    except Exception as e:  # noqa: BLE001 - the harness's own failure: reported, not counted as handled
        handled, what = False, f"harness: {type(e).__name__}: {str(e)[:150]}"
    os.chdir(work)
    return Outcome(case, handled, " ".join(what.split()), time.perf_counter() - t0)


# --- result checks ------------------------------------------------------------------------------------------------

KEYS = ["user", "item", "timestamp", "label", "active", "feedback"]


def same_log(out: str, clean: str) -> Check:
    """The prepared log at ``out`` equals the clean input's (same rows in the canonical columns, any order)."""

    def check(d: Path) -> str | None:
        a = pl.read_parquet(d / out / "events.parquet")
        b = pl.read_parquet(d / clean / "events.parquet")
        cols = [c for c in KEYS if c in a.columns and c in b.columns]
        if a.height != b.height:
            return f"{a.height} rows, expected {b.height}"
        if not a.select(cols).sort(cols).equals(b.select(cols).sort(cols)):
            return "rows differ from the clean input's"
        return None

    return check


def file_rows(
    out: str, expected: int | None = None, check: Callable[[pl.DataFrame], str | None] | None = None
) -> Check:
    def ok(d: Path) -> str | None:
        p = d / out
        df = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p)
        if expected is not None and df.height != expected:
            return f"{df.height} rows, expected {expected}"
        return check(df) if check else None

    return ok


def finite_run(d: Path, folder: str = "res", clean: str | None = None) -> str | None:
    """A run record with finite test metrics (equal to the clean base run's when ``clean`` is given)."""
    rec = json.loads((d / folder / "runs" / "deepfm__none__seed0.json").read_text())
    bad = {k: v for k, v in rec["test"].items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        return f"non-finite test metrics {bad}"
    if not (d / folder / "bundles" / "deepfm__none__seed0" / "bundle.json").is_file():
        return "run record without its bundle"
    if clean:
        epochs = [h.get("epoch") for h in json.loads(Path(clean).read_text())["history"]]
        if [h.get("epoch") for h in rec["history"]] != epochs:
            return f"trained epochs {[h.get('epoch') for h in rec['history']]}, a clean run {epochs}"
        want = json.loads(Path(clean).read_text())["test"]
        if {k: round(v, 6) for k, v in rec["test"].items() if isinstance(v, float)} != {
            k: round(v, 6) for k, v in want.items() if isinstance(v, float)
        }:
            return f"test metrics {rec['test']} differ from a clean run's {want}"
    return None


# --- families -----------------------------------------------------------------------------------------------------


def _lines(d: Path, s: Source) -> tuple[Path, list[str]]:
    f = d / "raw" / s.name / s.file
    return f, f.read_text().splitlines(keepends=True)


def _set_field(s: Source, column: str, row: int, value: str) -> Callable[[Path], None]:
    """Set ``column`` of data row ``row`` (1-based, after the header) to ``value``."""

    def prep(d: Path) -> None:
        f, lines = _lines(d, s)
        names = lines[0].rstrip("\n").split(s.sep) if s.header else COLUMN_INDEX[s.name]
        i = names.index(column)
        k = row if s.header else row - 1
        fields = lines[k].rstrip("\n").split(s.sep)
        fields[i] = value
        lines[k] = s.sep.join(fields) + "\n"
        f.write_text("".join(lines))

    return prep


def _edit(s: Source, fn: Callable[[list[str]], list[str] | bytes | str]) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        f, lines = _lines(d, s)
        new = fn(lines)
        f.write_bytes(new if isinstance(new, bytes) else ("".join(new) if isinstance(new, list) else new).encode())

    return prep


def _header_line(s: Source) -> int:
    return 1 if s.header else 0


def source_cases() -> list[Case]:
    cases = []
    for s in SOURCES:
        cases += _one_source(s)
    cases += music30_cases()
    return cases


def _one_source(s: Source) -> list[Case]:
    cases: list[Case] = []
    base_args = ["data", "prepare", s.name, f"raw/{s.name}", "-o", "out", *s.extra]
    needs = ("raw", "clean", "m.yaml")
    same = same_log("out", f"clean/{s.name}")
    h = _header_line(s)  # index of the first data line
    data_line = h + 1  # physical line number of the first data row

    def add(name, prep, needles=(), ok=None, error=True, args=None):
        cases.append(
            Case(
                "data files",
                f"{s.name}: {name}",
                args or base_args,
                needs,
                prep,
                tuple(needles),
                ok,
                error,
                ("out",),
            )
        )

    fname = s.file
    add("empty file", _edit(s, lambda ls: b""), [fname])
    add("whitespace only", _edit(s, lambda ls: "\n \n\t\n"), [fname])
    add("binary garbage", _edit(s, lambda ls: bytes(range(256)) * 8), [fname])
    add("gzip bytes under a .csv name", _edit(s, lambda ls: b"\x1f\x8b\x08\x00" + noise(64)), [fname])
    add(
        "non-UTF-8 byte in row 3",
        _edit(
            s,
            lambda ls: (
                "".join(ls[: h + 2]).encode()
                + ls[h + 2].replace("0", "\xe9", 1).encode("latin-1")
                + "".join(ls[h + 3 :]).encode()
            ),
        ),
        [fname, f"line {h + 3}"],
    )
    add(
        "NUL byte in row 3",
        _edit(s, lambda ls: [*ls[: h + 2], ls[h + 2].replace(s.sep, "\x00" + s.sep, 1), *ls[h + 3 :]]),
        [fname],
        ok=file_rows_same(s),
    )
    add("UTF-8 BOM", _edit(s, lambda ls: "\ufeff" + "".join(ls)), [fname], ok=same)
    add("CRLF line ends", _edit(s, lambda ls: [ln.replace("\n", "\r\n") for ln in ls]), [fname], ok=same)
    add("blank lines between rows", _edit(s, lambda ls: [ln + "\n" for ln in ls]), [fname], ok=same)
    add("no newline at the end", _edit(s, lambda ls: "".join(ls).rstrip("\n")), [fname], ok=same, error=False)
    add(
        "short row (line 4)",
        _edit(s, lambda ls: [*ls[:3], ls[3].rstrip("\n").rsplit(s.sep, 1)[0] + "\n", *ls[4:]]),
        [fname, "line 4"],
    )
    add(
        "long row (line 5)",
        _edit(s, lambda ls: [*ls[:4], ls[4].rstrip("\n") + s.sep + "extra\n", *ls[5:]]),
        [fname, "line 5"],
    )
    add(
        "short row with a quoted field (line 4)",
        _edit(
            s,
            lambda ls: [
                *ls[:3],
                '"' + ls[3].rstrip("\n").rsplit(s.sep, 1)[0].replace(s.sep, '"' + s.sep, 1) + "\n",
                *ls[4:],
            ],
        ),
        [fname, "line 4"],
    )
    add(
        "truncated in the middle of the last line",
        _edit(s, lambda ls: "".join(ls)[:-9]),
        [fname, f"line {len(s.text.splitlines())}"],
        ok=file_rows_same(s),
    )
    add(
        "unbalanced quote in a field (line 4)",
        _edit(s, lambda ls: [*ls[:3], '"' + ls[3], *ls[4:]]),
        [fname, "line 4"],
        ok=file_rows_same(s),
    )
    add(
        "every field quoted",
        _edit(s, lambda ls: [s.sep.join(f'"{x}"' for x in ln.rstrip("\n").split(s.sep)) + "\n" for ln in ls]),
        [fname],
        ok=same,
    )
    add("rows in reverse order", _edit(s, lambda ls: [*ls[:h], *reversed(ls[h:])]), [fname], ok=same)
    add("timestamp is text", _set_field(s, s.time, 3, "yesterday"), [fname, f"line {data_line + 2}", s.time])
    add("timestamp empty", _set_field(s, s.time, 3, ""), [fname, f"line {data_line + 2}", s.time])
    if s.numeric_time:
        for v in ("nan", "inf", "-inf", "1e300", "99999999999999999999"):
            add(f"timestamp {v}", _set_field(s, s.time, 3, v), [fname, f"line {data_line + 2}", s.time])
    else:
        for v in ("2019-13-45 99:99:99", "0000-00-00 00:00:00", "99999-01-01 00:00:00"):
            add(f"timestamp {v}", _set_field(s, s.time, 3, v), [fname, f"line {data_line + 2}", s.time])
    add("user id empty", _set_field(s, s.user, 2, ""), [fname, f"line {data_line + 1}"])
    if s.label:
        add("label is text", _set_field(s, s.label, 2, "maybe"), [fname, f"line {data_line + 1}", s.label])
        add("label 7", _set_field(s, s.label, 2, "7"), [fname, f"line {data_line + 1}", s.label])
        add("label -1", _set_field(s, s.label, 2, "-1"), [fname, f"line {data_line + 1}", s.label])
    if s.header:
        names = s.text.splitlines()[0].split(s.sep)
        add("header renamed (upper case)", _edit(s, lambda ls: [ls[0].upper(), *ls[1:]]), [fname], ok=same)
        add("header missing (file starts with data)", _edit(s, lambda ls: ls[1:]), [fname, "header"])
        add("required column dropped", _drop_column(s, s.user), [fname, s.user])
        other = next(n for n in names if n not in (s.user, s.time, s.label))
        add(
            "duplicate column name",
            _edit(s, lambda ls, o=other: [ls[0].replace(o, s.time, 1), *ls[1:]]),
            [fname, s.time],
        )
        add(
            "extra column",
            _edit(
                s,
                lambda ls: [
                    ls[0].rstrip("\n") + s.sep + "mine\n",
                    *[ln.rstrip("\n") + s.sep + "x\n" for ln in ls[1:]],
                ],
            ),
            [fname],
            ok=same,
        )
        add("columns in another order", _swap_columns(s), [fname], ok=same)
        add("header only", _edit(s, lambda ls: ls[:1]), [fname])
    else:
        add(
            "header line with the adapter's names",
            _edit(s, lambda ls: ["\t".join(COLUMN_INDEX[s.name]) + "\n", *ls]),
            [fname],
            ok=same,
        )
        add(
            "header line with other names (as in the wild)",
            _edit(s, lambda ls: ["user_id\tts\tartist_id\tartist\ttrack_id\ttrack\n", *ls]),
            [fname],
            ok=same,
        )
        add(
            "a column missing in every row",
            _edit(s, lambda ls: [ln.rsplit("\t", 1)[0] + "\n" for ln in ls]),
            [fname],
        )
    add(
        "path does not exist",
        None,
        [f"raw/{s.name}x"],
        args=["data", "prepare", s.name, f"raw/{s.name}x", "-o", "out", *s.extra],
    )
    add(
        "empty folder",
        lambda d: (d / "emptydir").mkdir(),
        ["emptydir"],
        args=["data", "prepare", s.name, "emptydir", "-o", "out", *s.extra],
    )
    add(
        "folder of unrelated files",
        lambda d: ((d / "other").mkdir(), (d / "other" / "README.md").write_text("x")),
        ["other"],
        args=["data", "prepare", s.name, "other", "-o", "out", *s.extra],
    )
    return cases


def file_rows_same(s: Source) -> Check:
    """A quote character read literally: the log keeps every row (a field may then differ)."""

    def check(d: Path) -> str | None:
        a = pl.read_parquet(d / "out" / "events.parquet")
        b = pl.read_parquet(d / "clean" / s.name / "events.parquet")
        return None if a.height == b.height else f"{a.height} rows, expected {b.height} (rows swallowed)"

    return check


def _drop_column(s: Source, column: str) -> Callable[[Path], None]:
    def fn(ls):
        i = ls[0].rstrip("\n").split(s.sep).index(column)
        return [s.sep.join(x for j, x in enumerate(ln.rstrip("\n").split(s.sep)) if j != i) + "\n" for ln in ls]

    return _edit(s, fn)


def _swap_columns(s: Source) -> Callable[[Path], None]:
    def fn(ls):
        out = []
        for ln in ls:
            f = ln.rstrip("\n").split(s.sep)
            f[0], f[-1] = f[-1], f[0]
            out.append(s.sep.join(f) + "\n")
        return out

    return _edit(s, fn)


def music30_cases() -> list[Case]:
    sessions = "raw/music30/relations/sessions.idomaar"
    args = ["data", "prepare", "music30", "raw/music30", "-o", "out"]
    same = same_log("out", "clean/music30")

    def edit(fn):
        def prep(d: Path) -> None:
            f = d / sessions
            ls = f.read_text().splitlines(keepends=True)
            new = fn(ls)
            f.write_bytes(new if isinstance(new, bytes) else "".join(new).encode())

        return prep

    def field_(i, value):
        return edit(
            lambda ls: [
                *ls[:1],
                "\t".join(value if j == i else x for j, x in enumerate(ls[1].rstrip("\n").split("\t"))) + "\n",
                *ls[2:],
            ]
        )

    c = [
        ("empty file", edit(lambda ls: b""), ["sessions.idomaar"], None),
        ("binary garbage", edit(lambda ls: bytes(range(256)) * 4), ["sessions.idomaar"], None),
        (
            "non-UTF-8 byte (line 2)",
            edit(
                lambda ls: (
                    ls[0].encode() + ls[1].replace("play", "pl\xe9y", 1).encode("latin-1") + "".join(ls[2:]).encode()
                )
            ),
            ["sessions.idomaar", "line 2"],
            None,
        ),
        (
            "four fields (line 2)",
            edit(lambda ls: [ls[0], ls[1].rsplit("\t", 1)[0] + "\n", *ls[2:]]),
            ["sessions.idomaar", "line 2"],
            None,
        ),
        ("linked JSON broken (line 2)", field_(4, '{"subjects":[{"type":"user"'), ["sessions.idomaar", "line 2"], None),
        ("properties not JSON (line 2)", field_(3, "numtracks=2"), ["sessions.idomaar", "line 2"], same),
        ("timestamp text (line 2)", field_(2, "yesterday"), ["sessions.idomaar", "line 2"], None),
        ("timestamp nan (line 2)", field_(2, "nan"), ["sessions.idomaar", "line 2"], None),
        ("timestamp inf (line 2)", field_(2, "inf"), ["sessions.idomaar", "line 2"], None),
        ("timestamp 1e300 (line 2)", field_(2, "1e300"), ["sessions.idomaar", "line 2"], None),
        ("timestamp 20 digits (line 2)", field_(2, "99999999999999999999"), ["sessions.idomaar", "line 2"], None),
        (
            "playratio text (line 2)",
            edit(lambda ls: [ls[0], ls[1].replace('"playratio":1.06', '"playratio":"x"'), *ls[2:]]),
            ["sessions.idomaar", "line 2"],
            None,
        ),
        (
            "no user subject (line 2)",
            edit(lambda ls: [ls[0], ls[1].replace('"subjects":[{"type":"user","id":5}]', '"subjects":[]'), *ls[2:]]),
            ["sessions.idomaar", "line 2"],
            None,
        ),
        ("CRLF line ends", edit(lambda ls: [ln.replace("\n", "\r\n") for ln in ls]), ["sessions.idomaar"], same),
        ("blank lines", edit(lambda ls: [ln + "\n" for ln in ls]), ["sessions.idomaar"], same),
        (
            "love file garbage",
            lambda d: (d / "raw/music30/relations/love.idomaar").write_bytes(b"\x00\xff" * 40),
            ["love.idomaar"],
            None,
        ),
        (
            "tracks file with a short line",
            lambda d: (d / "raw/music30/entities/tracks.idomaar").write_text("track\t21\t-1\n"),
            ["tracks.idomaar", "line 1"],
            None,
        ),
    ]
    return [
        Case("data files", f"music30: {n}", args, ("raw", "clean"), p, tuple(nd), ok, True, ("out",))
        for n, p, nd, ok in c
    ]


def mapping_cases() -> list[Case]:
    args = ["data", "prepare", "table", "raw/table", "-o", "out", "--spec", "m.yaml"]
    needs = ("raw", "clean", "m.yaml")

    def spec(change: Callable[[dict], None] | str | bytes) -> Callable[[Path], None]:
        def prep(d: Path) -> None:
            if isinstance(change, (str, bytes)):
                (d / "m.yaml").write_bytes(change.encode() if isinstance(change, str) else change)
                return
            m = json.loads(json.dumps(MAPPING))
            change(m)
            (d / "m.yaml").write_text(yaml.safe_dump(m))

        return prep

    def setk(path: str, value):
        def f(m: dict) -> None:
            *parents, leaf = path.split(".")
            node = m
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value

        return f

    c = [
        ("empty mapping file", spec(""), ["m.yaml"], None),
        ("binary mapping file", spec(bytes(range(256))), ["m.yaml"], None),
        ("not YAML", spec("columns: [user: {"), ["m.yaml"], None),
        ("a list, not a mapping", spec("- user\n- item\n"), ["m.yaml"], None),
        ("unknown top-level key", spec(setk("colour", "red")), ["m.yaml", "colour"], None),
        ("columns is a list", spec(setk("columns", ["user_id", "track", "ts"])), ["m.yaml", "columns"], None),
        ("columns.user is a list", spec(setk("columns.user", ["user_id", "x"])), ["m.yaml", "user"], None),
        ("columns.user is a number", spec(setk("columns.user", 5)), ["m.yaml", "user"], None),
        ("columns.user names no column", spec(setk("columns.user", "uid")), ["uid"], None),
        ("columns.item missing", spec(lambda m: m["columns"].pop("item")), ["m.yaml", "item"], None),
        ("unknown canonical column", spec(setk("columns.colour", "user_id")), ["m.yaml", "colour"], None),
        ("user and item from one column", spec(setk("columns.item", "user_id")), ["m.yaml"], same_log_ok_never),
        ("timestamp.unit h", spec(setk("timestamp.unit", "h")), ["m.yaml", "timestamp"], None),
        ("timestamp.unit a list", spec(setk("timestamp.unit", ["s"])), ["m.yaml", "timestamp"], None),
        ("timestamp a string", spec(setk("timestamp", "seconds")), ["m.yaml", "timestamp"], None),
        ("timestamp.unit ms for seconds", spec(setk("timestamp.unit", "ms")), ["m.yaml"], same_rows("table")),
        ("timestamp.unit iso for epoch numbers", spec(setk("timestamp.unit", "iso")), ["log.csv", "ts"], None),
        ("timestamp.format with unit s", spec(setk("timestamp.format", "%Y")), ["m.yaml", "timestamp"], None),
        ("session_gap abc", spec(setk("session_gap", "abc")), ["m.yaml", "session_gap"], None),
        ("session_gap -5", spec(setk("session_gap", -5)), ["m.yaml", "session_gap"], None),
        ("session_gap 0", spec(setk("session_gap", 0)), ["m.yaml", "session_gap"], None),
        ("session_gap a list", spec(setk("session_gap", [1800])), ["m.yaml", "session_gap"], None),
        ("session_gap .nan", spec(setk("session_gap", float("nan"))), ["m.yaml", "session_gap"], None),
        ("format xml", spec(setk("format", "xml")), ["m.yaml", "format"], None),
        ("format tsv for a CSV", spec(setk("format", "tsv")), ["raw/table"], None),
        ("separator a number", spec(setk("separator", 5)), ["m.yaml", "separator"], None),
        ("separator two characters", spec(setk("separator", ",,")), ["m.yaml", "separator"], None),
        ("side is a number", spec(setk("side", 5)), ["m.yaml", "side"], None),
        ("side names no column", spec(setk("side", ["age"])), ["age"], None),
        ("side a list of lists", spec(setk("side", [["ts"]])), ["m.yaml", "side"], None),
        ("feedback missing", spec(lambda m: m.pop("feedback")), ["m.yaml", "feedback"], None),
        ("feedback a string", spec(setk("feedback", "liked")), ["m.yaml", "feedback"], None),
        ("feedback.label names no column", spec(setk("feedback.label", "love")), ["love"], None),
        ("feedback.label a list", spec(setk("feedback.label", ["liked"])), ["m.yaml", "label"], None),
        ("feedback.active missing", spec(lambda m: m["feedback"].pop("active")), ["m.yaml", "active"], None),
        ("feedback.kinds unknown key", spec(setk("feedback.kinds", {"bogus": "click"})), ["m.yaml", "bogus"], None),
        (
            "feedback.kinds unknown kind",
            spec(setk("feedback.kinds", {"active_positive": "adore"})),
            ["m.yaml", "adore"],
            None,
        ),
        ("feedback.kinds a list", spec(setk("feedback.kinds", ["click"])), ["m.yaml", "kinds"], None),
        (
            "rules not a list",
            spec(setk("feedback", {"rules": {"if": "liked == 1", "then": "click"}})),
            ["m.yaml", "rules"],
            None,
        ),
        (
            "rule then a list",
            spec(setk("feedback", {"rules": [{"if": "liked == 1", "then": ["click"]}], "otherwise": "skip"})),
            ["m.yaml", "then"],
            None,
        ),
        (
            "rule then unknown kind",
            spec(setk("feedback", {"rules": [{"if": "liked == 1", "then": "adore"}], "otherwise": "skip"})),
            ["m.yaml", "then"],
            None,
        ),
        (
            "rule if not a condition",
            spec(setk("feedback", {"rules": [{"if": "liked", "then": "click"}], "otherwise": "skip"})),
            ["m.yaml", "if"],
            None,
        ),
        (
            "rule if a number",
            spec(setk("feedback", {"rules": [{"if": 1, "then": "click"}], "otherwise": "skip"})),
            ["m.yaml", "if"],
            None,
        ),
        (
            "rule if a mapping",
            spec(setk("feedback", {"rules": [{"if": {"liked": 1}, "then": "click"}], "otherwise": "skip"})),
            ["m.yaml", "if"],
            None,
        ),
        (
            "rule on no column",
            spec(setk("feedback", {"rules": [{"if": "love == 1", "then": "click"}], "otherwise": "skip"})),
            ["love"],
            None,
        ),
        (
            "rule 'in' without a list",
            spec(setk("feedback", {"rules": [{"if": "liked in 1", "then": "click"}], "otherwise": "skip"})),
            ["m.yaml", "in"],
            None,
        ),
        (
            "otherwise unknown kind",
            spec(setk("feedback", {"rules": [{"if": "liked == 1", "then": "click"}], "otherwise": "meh"})),
            ["m.yaml", "otherwise"],
            None,
        ),
        (
            "otherwise a list",
            spec(setk("feedback", {"rules": [{"if": "liked == 1", "then": "click"}], "otherwise": ["skip"]})),
            ["m.yaml", "otherwise"],
            None,
        ),
        (
            "no otherwise and unmatched rows",
            spec(setk("feedback", {"rules": [{"if": "liked == 1", "then": "click"}]})),
            ["log.csv", "line"],
            None,
        ),
        ("unlabeled a number", spec(setk("feedback.unlabeled", 5)), ["m.yaml", "unlabeled"], None),
        ("label column holds 2", _set_field(SOURCES[-1], "liked", 2, "2"), ["log.csv", "liked"], None),
        ("active column holds yes", _set_field(SOURCES[-1], "acted", 2, "yes"), ["log.csv", "acted"], None),
        ("mapping path is a folder", lambda d: (d / "mdir").mkdir(), ["mdir"], None),
    ]
    out = [
        Case(
            "mapping files",
            n,
            args if n != "mapping path is a folder" else [*args[:-1], "mdir"],
            needs,
            prep,
            tuple(nd),
            ok,
            True,
            ("out",),
        )
        for n, prep, nd, ok in c
    ]
    out.append(Case("mapping files", "mapping path missing", [*args[:-1], "nope.yaml"], needs, None, ("nope.yaml",)))
    return out


def same_log_ok_never(d: Path) -> str | None:
    return "user and item read from one column: accepted silently"


def same_rows(name: str) -> Check:
    def check(d: Path) -> str | None:
        a = pl.read_parquet(d / "out" / "events.parquet")
        b = pl.read_parquet(d / "clean" / name / "events.parquet")
        return None if a.height == b.height else f"{a.height} rows, expected {b.height}"

    return check


# settings: every config section, every model's and method's hyper-parameters


def config_case(
    family: str, name: str, change: dict | Callable[[dict], None] | str, needles, ok=None, base: dict | None = None
) -> Case:
    def prep(d: Path) -> None:
        if isinstance(change, str):
            (d / "bad.yaml").write_text(change)
            return
        cfg = json.loads(json.dumps(base or RUN_CFG))
        if callable(change):
            change(cfg)
        else:
            merge(cfg, change)
        (d / "bad.yaml").write_text(yaml.safe_dump(cfg))

    return Case(
        family,
        name,
        ["run", "bad.yaml", "-o", "out", "--no-progress", "--quiet"],
        ("log",),
        prep,
        tuple(needles),
        ok,
        True,
        ("out",),
    )


def merge(cfg: dict, change: dict) -> None:
    for k, v in change.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict) and v:
            merge(cfg[k], v)
        else:
            cfg[k] = v


def _annotation(func, p) -> str:
    """``p``'s declared type as text without its range markers (``Dims`` -> ``tuple[int, ...]``, ``Rate`` ->
    ``float``, ``int | None`` -> ``int``), resolved from the constructor's hints; its raw annotation otherwise."""
    import types
    import typing

    from denoiserec.settings import bare

    try:
        hint = typing.get_type_hints(func, include_extras=True).get(p.name)
    except Exception:  # an annotation that does not resolve: read its text
        hint = None
    if hint is None:
        return str(p.annotation)
    hint = bare(hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        hint = next(a for a in args if a is not type(None))
    return (hint.__name__ if isinstance(hint, type) else str(hint)).replace("typing.", "")


def _bad_values(annotation: str, name: str, default) -> list[tuple[str, object]]:
    """Out-of-range and wrong-type values for a hyper-parameter, from its annotation and default."""
    a = annotation.replace(" ", "")
    if a.startswith("bool"):
        return [("not a bool", "maybe")]
    if a.startswith("int"):
        # 0 can be meaningful (a seed, a run length of 0, gru_dim 0 = embed_dim): -1 / -3 there
        zero_ok = name.endswith(("seed", "start_epoch", "layers", "min_run", "gru_dim"))
        return [("wrong type", "abc"), ("-1", -1) if zero_ok else ("0", 0), ("-3", -3)]
    if a.startswith("float"):
        if "dropout" in name or name in ("p", "rate", "alpha", "drop_rate", "noise", "p_hard", "p_mask"):
            return [("wrong type", "abc"), ("1.5", 1.5), ("-0.1", -0.1)]
        return [("wrong type", "abc"), ("-1", -1.0), ("nan", float("nan"))]
    if a.startswith("tuple[int") or a.startswith("list[int"):
        return [("[-5]", [-5]), ("[0]", [0]), ("a string", "abc")]
    if a.startswith("str") or a.startswith("Literal"):
        return [("unknown value", "nonsense")]
    return [("a dict", {"x": 1})]


def settings_cases() -> list[Case]:
    import inspect

    from denoiserec.methods import METHODS  # noqa: F401 - the registry
    from denoiserec.methods import available as methods
    from denoiserec.models import available as models
    from denoiserec.models import model_class

    fam = "settings"
    cases = [
        config_case(fam, "config: not YAML", "models: {deepfm: [", ["bad.yaml"]),
        config_case(fam, "config: empty file", "", ["bad.yaml"]),
        config_case(fam, "config: a list", "- a\n- b\n", ["bad.yaml"]),
        config_case(fam, "config: binary", "\x00\x01\x02garbage", ["bad.yaml"]),
        config_case(fam, "config: unknown top-level key", {"colour": "red"}, ["colour"]),
        config_case(fam, "name: ../../x", {"name": "../../x"}, ["name"]),
        config_case(fam, "data: missing path", {"data": {"path": None}}, ["data"]),
        config_case(fam, "data.path does not exist", {"data": {"path": "nowhere"}}, ["nowhere"]),
        config_case(fam, "data: unknown key", {"data": {"colour": 1}}, ["data.colour"]),
        config_case(fam, "data.stream: maybe", {"data": {"stream": "maybe"}}, ["data.stream"]),
        config_case(fam, "data.source unknown", {"data": {"source": "spotify", "path": "log"}}, ["spotify"]),
        config_case(
            fam, "data.simulate.users: 0", lambda c: c.__setitem__("data", {"simulate": {"users": 0}}), ["users"]
        ),
        config_case(
            fam, "data.simulate.users: abc", lambda c: c.__setitem__("data", {"simulate": {"users": "abc"}}), ["users"]
        ),
        config_case(
            fam, "data.simulate unknown knob", lambda c: c.__setitem__("data", {"simulate": {"colour": 1}}), ["colour"]
        ),
        config_case(fam, "train.epochs: 0", {"train": {"epochs": 0}}, ["train.epochs"]),
        config_case(fam, "train.epochs: five", {"train": {"epochs": "five"}}, ["train.epochs"]),
        config_case(fam, "train.batch_size: -7", {"train": {"batch_size": -7}}, ["train.batch_size"]),
        config_case(fam, "train.lr: -1", {"train": {"lr": -1}}, ["train.lr"]),
        config_case(fam, "train.lr: .nan", {"train": {"lr": float("nan")}}, ["train.lr"]),
        config_case(fam, "train.lr: .inf", {"train": {"lr": float("inf")}}, ["train.lr"]),
        config_case(fam, "train.patience: -1", {"train": {"patience": -1}}, ["train.patience"]),
        config_case(fam, "train.monitor: acc", {"train": {"monitor": "acc"}}, ["train.monitor"]),
        config_case(fam, "train.device: tpu", {"train": {"device": "tpu"}}, ["train.device"]),
        config_case(fam, "train.threads: 0", {"train": {"threads": 0}}, ["train.threads"]),
        config_case(fam, "train.weight_decay: -1", {"train": {"weight_decay": -1}}, ["train.weight_decay"]),
        config_case(fam, "train: unknown key", {"train": {"colour": 1}}, ["train.colour"]),
        config_case(fam, "train: a list", {"train": [1, 2]}, ["train"]),
        config_case(fam, "seeds: '0,1'", {"seeds": "0,1"}, ["seeds"]),
        config_case(fam, "seeds: []", {"seeds": []}, ["seeds"]),
        config_case(fam, "seeds: [a]", {"seeds": ["a"]}, ["seeds"]),
        config_case(fam, "seeds: [-1]", {"seeds": [-1]}, ["seeds"]),
        config_case(fam, "split.how: bogus", {"split": {"how": "bogus"}}, ["split.how"]),
        config_case(
            fam,
            "split.fractions sum 1.5",
            {"split": {"how": "random", "fractions": [0.9, 0.3, 0.3]}},
            ["split.fractions"],
        ),
        config_case(
            fam,
            "split.fractions negative",
            {"split": {"how": "random", "fractions": [1.2, -0.1, -0.1]}},
            ["split.fractions"],
        ),
        config_case(fam, "split: unknown key", {"split": {"colour": 1}}, ["split.colour"]),
        config_case(fam, "features: unknown key", {"features": {"foo": 1}}, ["features.foo"]),
        config_case(fam, "features.categorical: a number", {"features": {"categorical": 5}}, ["features.categorical"]),
        config_case(fam, "features.categorical: unknown column", {"features": {"categorical": ["nope"]}}, ["nope"]),
        config_case(
            fam, "features.sequences.x.max_len: 0", {"features": {"sequences": {"click": {"max_len": 0}}}}, ["max_len"]
        ),
        config_case(fam, "features.impute: bogus", {"features": {"impute": "bogus"}}, ["features.impute"]),
        config_case(fam, "target: hate", {"target": "hate"}, ["target"]),
        config_case(fam, "models: empty", {"models": {}}, ["models"]),
        config_case(fam, "models: null", lambda c: c.__setitem__("models", None), ["models"]),
        config_case(fam, "models: unknown model", {"models": {"transformerx": {}}}, ["transformerx"]),
        config_case(fam, "methods: null", lambda c: c.__setitem__("methods", None), ["methods"]),
        config_case(fam, "methods: unknown method", {"methods": {"magic": {}}}, ["magic"]),
        config_case(fam, "methods.none: a list", {"methods": {"none": [1]}}, ["methods.none"]),
        config_case(fam, "baseline: unknown label", {"baseline": "lcd"}, ["baseline"]),
        config_case(fam, "baseline_model: unknown", {"baseline_model": "xx"}, ["baseline_model"]),
        config_case(fam, "select: bogus", {"select": "bogus"}, ["select"]),
        config_case(fam, "task: bogus", {"task": "bogus"}, ["task"]),
        config_case(fam, "seqrec: models.both.dim 0", {"models": {"both": {"dim": 0}}}, ["dim"], base=SEQ_CFG),
        config_case(fam, "seqrec: models.both.p_hard 2", {"models": {"both": {"p_hard": 2}}}, ["p_hard"], base=SEQ_CFG),
        config_case(
            fam, "seqrec: models.both unknown key", {"models": {"both": {"colour": 1}}}, ["colour"], base=SEQ_CFG
        ),
        config_case(fam, "seqrec: eval.k [0]", {"eval": {"k": [0]}}, ["eval.k"], base=SEQ_CFG),
        config_case(fam, "seqrec: eval.candidates -1", {"eval": {"candidates": -1}}, ["eval.candidates"], base=SEQ_CFG),
        config_case(fam, "seqrec: split.test_frac 1.5", {"split": {"test_frac": 1.5}}, ["test_frac"], base=SEQ_CFG),
    ]
    for m in models():
        sig = inspect.signature(model_class(m).__init__)
        cases.append(
            config_case("model settings", f"{m}: unknown key", {"models": {m: {"colour": 1}}}, [f"models.{m}.colour"])
        )
        params = [
            p
            for p in sig.parameters.values()
            if p.name not in ("self", "spec") and p.default is not inspect.Parameter.empty
        ]
        picked = [
            p
            for p in params
            if p.name
            in (
                "embed_dim",
                "dropout",
                "hidden",
                "heads",
                "layers",
                "structure",
                "product",
                "score",
                "cross_layers",
                "sessions",
                "slots",
                "cin_layers",
                "gru_dim",
                "aux_weight",
                "softmax",
                "purify",
            )
        ]
        for p in picked[:4]:
            for label, value in _bad_values(_annotation(model_class(m).__init__, p), p.name, p.default)[:2]:
                cases.append(
                    config_case(
                        "model settings",
                        f"{m}: {p.name} {label}",
                        {"models": {m: {p.name: value}}},
                        [f"models.{m}.{p.name}"],
                    )
                )
    for name in methods():
        import importlib

        cls = importlib.import_module(f"denoiserec.methods.{name}").METHOD
        sig = inspect.signature(cls.__init__)
        cases.append(
            config_case(
                "method settings",
                f"{name}: unknown key",
                {"methods": {name: {"colour": 1}}},
                [f"methods.{name}", "colour"],
            )
        )
        params = [p for p in sig.parameters.values() if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        for p in params[:3]:
            for label, value in _bad_values(_annotation(cls.__init__, p), p.name, p.default)[:2]:
                cases.append(
                    config_case(
                        "method settings",
                        f"{name}: {p.name} {label}",
                        {"methods": {name: {p.name: value}}},
                        [f"methods.{name}"],
                    )
                )
    return cases


def cli_cases() -> list[Case]:
    fam = "CLI options"
    b, sb = BUNDLE, SEQ_BUNDLE
    rec = ["recommend", b, "--history", "log", "-o", "recs.parquet"]
    srec = ["recommend", sb, "--history", "log", "-o", "recs.parquet"]
    needs = ("log", "res")
    sneeds = ("log", "seq")

    def cand(d: Path) -> None:
        (
            pl.read_parquet(d / "log" / "events.parquet")
            .select("user", "item")
            .unique()
            .write_csv(  # noqa: E731
                d / "cand.csv"
            )
        )

    def topk(k: int) -> Check:
        def check(d: Path) -> str | None:
            df = pl.read_parquet(d / "recs.parquet")
            counts = df.group_by("user").len()["len"]
            return None if df.height and counts.max() <= k else f"{df.height} rows, max per user {counts.max()}"

        return check

    c = [
        Case(fam, "recommend --k 0 (CTR)", [*rec, "--candidates", "cand.csv", "--k", "0"], needs, cand, ("--k",)),
        Case(fam, "recommend --k -3 (CTR)", [*rec, "--candidates", "cand.csv", "--k", "-3"], needs, cand, ("--k",)),
        Case(fam, "recommend --k 0 (transformer)", [*srec, "--k", "0"], sneeds, None, ("--k",)),
        Case(fam, "recommend --k -3 (transformer)", [*srec, "--k", "-3"], sneeds, None, ("--k",)),
        Case(fam, "recommend --k abc", [*srec, "--k", "abc"], sneeds, None, ("--k",)),
        Case(
            fam,
            "recommend --k 10**6 (transformer)",
            [*srec, "--k", "1000000"],
            sneeds,
            None,
            ("--k",),
            ok=topk(10**6),
            may_change=("recs.parquet",),
        ),
        Case(fam, "recommend unknown user (transformer)", [*srec, "--users", "nobody"], sneeds, None, ("nobody",)),
        Case(
            fam,
            "recommend unknown user (CTR)",
            [*rec, "--candidates", "cand.csv", "--users", "nobody"],
            needs,
            cand,
            ("nobody",),
        ),
        Case(
            fam,
            "recommend --users ''",
            [*srec, "--users", ""],
            sneeds,
            None,
            ("--users",),
            ok=topk(20),
            may_change=("recs.parquet",),
        ),
        Case(fam, "recommend --users ' , '", [*srec, "--users", " , "], sneeds, None, ("--users",)),
        Case(fam, "recommend CTR without candidates", rec, needs, None, ("--candidates",)),
        Case(
            fam,
            "recommend CTR with both --candidates and --all-items",
            [*rec, "--candidates", "cand.csv", "--all-items"],
            needs,
            cand,
            ("--candidates",),
        ),
        Case(fam, "recommend candidates file missing", [*rec, "--candidates", "nope.csv"], needs, None, ("nope.csv",)),
        Case(
            fam,
            "recommend candidates without item column",
            [*rec, "--candidates", "cand.csv"],
            needs,
            lambda d: (d / "cand.csv").write_text("user,song\n0,1\n"),
            ("cand.csv", "item"),
        ),
        Case(
            fam,
            "recommend candidates garbage",
            [*rec, "--candidates", "cand.csv"],
            needs,
            lambda d: (d / "cand.csv").write_bytes(bytes(range(256)) * 4),
            ("cand.csv",),
        ),
        Case(
            fam,
            "recommend candidates empty",
            [*rec, "--candidates", "cand.csv"],
            needs,
            lambda d: (d / "cand.csv").write_text("user,item\n"),
            ("cand.csv",),
        ),
        Case(fam, "recommend --station unknown", [*srec, "--station", "nowhere"], sneeds, None, ("nowhere",)),
        Case(
            fam,
            "recommend history missing",
            ["recommend", sb, "--history", "nolog", "-o", "r.parquet"],
            sneeds,
            None,
            ("nolog",),
        ),
        Case(
            fam,
            "recommend history garbage CSV",
            ["recommend", sb, "--history", "h.csv", "-o", "r.parquet"],
            sneeds,
            lambda d: (d / "h.csv").write_bytes(b"\xff\xfe" + noise(200)),
            ("h.csv",),
        ),
        Case(
            fam,
            "recommend history without user column",
            ["recommend", sb, "--history", "h.csv", "-o", "r.parquet"],
            sneeds,
            lambda d: (d / "h.csv").write_text("song,ts\n1,2\n"),
            ("h.csv", "user"),
        ),
        Case(
            fam,
            "predict --batch-size 0",
            ["predict", b, "--data", "log", "-o", "s.parquet", "--batch-size", "0"],
            needs,
            None,
            ("--batch-size",),
        ),
        Case(
            fam,
            "predict --batch-size -5",
            ["predict", b, "--data", "log", "-o", "s.parquet", "--batch-size", "-5"],
            needs,
            None,
            ("--batch-size",),
        ),
        Case(
            fam, "predict --data missing", ["predict", b, "--data", "nolog", "-o", "s.parquet"], needs, None, ("nolog",)
        ),
        Case(
            fam,
            "predict --data CSV without item column",
            ["predict", b, "--data", "d.csv", "-o", "s.parquet"],
            needs,
            lambda d: (d / "d.csv").write_text("user,timestamp\n0,1\n"),
            ("d.csv", "item"),
        ),
        Case(
            fam,
            "predict --data empty CSV",
            ["predict", b, "--data", "d.csv", "-o", "s.parquet"],
            needs,
            lambda d: (d / "d.csv").write_text(""),
            ("d.csv",),
        ),
        Case(
            fam,
            "predict --data CSV with text timestamp",
            ["predict", b, "--data", "d.csv", "-o", "s.parquet"],
            needs,
            lambda d: (
                pl.read_parquet(d / "log" / "events.parquet")
                .head(5)
                .with_columns(timestamp=pl.lit("yesterday"))
                .write_csv(d / "d.csv")
            ),
            ("d.csv", "timestamp"),
        ),
        Case(
            fam,
            "predict -o with an unknown suffix",
            ["predict", b, "--data", "log", "-o", "s.xlsx"],
            needs,
            None,
            ("s.xlsx",),
        ),
        Case(
            fam,
            "predict --source unknown",
            ["predict", b, "--data", "log", "--source", "spotify", "-o", "s.parquet"],
            needs,
            None,
            ("spotify",),
        ),
        Case(fam, "export --check -1", ["export", b, "--onnx", "m.onnx", "--check", "-1"], needs, None, ("--check",)),
        Case(
            fam,
            "train --epochs 0",
            ["train", "--data", "log", "--epochs", "0", "-o", "out"],
            ("log",),
            None,
            ("epochs",),
        ),
        Case(
            fam,
            "train --seeds 0,x",
            ["train", "--data", "log", "--seeds", "0,x", "-o", "out"],
            ("log",),
            None,
            ("--seeds",),
        ),
        Case(
            fam,
            "train --split bogus",
            ["train", "--data", "log", "--split", "bogus", "-o", "out"],
            ("log",),
            None,
            ("split",),
        ),
        Case(
            fam,
            "train --split '{how: random, fractions: [2]}'",
            ["train", "--data", "log", "--split", "{how: random, fractions: [2]}", "-o", "out"],
            ("log",),
            None,
            ("split.fractions",),
        ),
        Case(
            fam,
            "train -p a=abc (lcd)",
            ["train", "--data", "log", "--method", "lcd", "-p", "a=abc", "-o", "out"],
            ("log",),
            None,
            ("a",),
        ),
        Case(
            fam,
            "train -m embed_dim=0",
            ["train", "--data", "log", "-m", "embed_dim=0", "-o", "out"],
            ("log",),
            None,
            ("embed_dim",),
        ),
        Case(
            fam,
            "train --model unknown",
            ["train", "--data", "log", "--model", "gpt", "-o", "out"],
            ("log",),
            None,
            ("gpt",),
        ),
        Case(fam, "train --lr -1", ["train", "--data", "log", "--lr", "-1", "-o", "out"], ("log",), None, ("lr",)),
        Case(
            fam,
            "train --device tpu",
            ["train", "--data", "log", "--device", "tpu", "-o", "out"],
            ("log",),
            None,
            ("device",),
        ),
        Case(
            fam,
            "train --set train.epochs=0",
            ["train", "--data", "log", "--set", "train.epochs=0", "-o", "out"],
            ("log",),
            None,
            ("train.epochs",),
        ),
        Case(
            fam,
            "train --set without =",
            ["train", "--data", "log", "--set", "epochs", "-o", "out"],
            ("log",),
            None,
            ("--set",),
        ),
        Case(
            fam,
            "run --set a.b.c on a scalar",
            ["run", "cfg.yaml", "--set", "seeds.x=1", "-o", "out"],
            ("log", "cfg.yaml"),
            None,
            ("seeds",),
        ),
        Case(fam, "simulate --users 0", ["simulate", "-o", "sim", "--users", "0", "--quiet"], (), None, ("users",)),
        Case(fam, "simulate --users -5", ["simulate", "-o", "sim", "--users", "-5", "--quiet"], (), None, ("users",)),
        Case(fam, "simulate --items 0", ["simulate", "-o", "sim", "--items", "0", "--quiet"], (), None, ("items",)),
        Case(
            fam,
            "simulate --min-len 10 --max-len 5",
            ["simulate", "-o", "sim", "--min-len", "10", "--max-len", "5", "--quiet"],
            (),
            None,
            ("len",),
        ),
        Case(
            fam, "simulate --set slip=2", ["simulate", "-o", "sim", "--set", "slip=2", "--quiet"], (), None, ("slip",)
        ),
        Case(
            fam,
            "simulate --set colour=1",
            ["simulate", "-o", "sim", "--set", "colour=1", "--quiet"],
            (),
            None,
            ("colour",),
        ),
        Case(
            fam,
            "simulate --scenario bogus",
            ["simulate", "-o", "sim", "--scenario", "bogus", "--quiet"],
            (),
            None,
            ("scenario",),
        ),
        Case(
            fam,
            "simulate --like a missing log",
            ["simulate", "-o", "sim", "--like", "nolog", "--quiet"],
            (),
            None,
            ("nolog",),
        ),
        Case(
            fam,
            "describe --positions -1",
            ["data", "describe", "log", "--positions", "-1"],
            ("log",),
            None,
            ("--positions",),
        ),
        Case(fam, "describe a missing folder", ["data", "describe", "nolog"], (), None, ("nolog",)),
        Case(
            fam,
            "prepare unknown source",
            ["data", "prepare", "spotify", "raw/piki", "-o", "out"],
            ("raw",),
            None,
            ("spotify",),
        ),
        Case(
            fam,
            "prepare --opt gap=-5",
            ["data", "prepare", "piki", "raw/piki", "-o", "out", "--opt", "gap=-5"],
            ("raw",),
            None,
            ("gap",),
        ),
        Case(
            fam,
            "prepare --opt colour=1",
            ["data", "prepare", "piki", "raw/piki", "-o", "out", "--opt", "colour=1"],
            ("raw",),
            None,
            ("colour",),
        ),
        Case(
            fam,
            "prepare --opt without =",
            ["data", "prepare", "piki", "raw/piki", "-o", "out", "--opt", "gap"],
            ("raw",),
            None,
            ("--opt",),
        ),
        Case(
            fam,
            "prepare --opt skip_ratio=abc (music30)",
            ["data", "prepare", "music30", "raw/music30", "-o", "out", "--opt", "skip_ratio=abc"],
            ("raw",),
            None,
            ("skip_ratio",),
        ),
        Case(fam, "report a missing folder", ["report", "nope"], (), None, ("nope",)),
        Case(
            fam,
            "report --baseline unknown",
            ["report", "res", "--baseline", "magic"],
            needs,
            None,
            ("magic",),
            may_change=("res/report.md", "res/plots", "res/report"),
        ),
    ]
    return c


def output_cases() -> list[Case]:
    fam = "output paths"

    def foreign(d: Path) -> None:
        (d / "mine").mkdir()
        (d / "mine" / "thesis.txt").write_text("years of work")
        (d / "notes.txt").write_text("keep me")
        (d / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
        (d / "mine.parquet").write_bytes(b"PAR1" + b"\0" * 10 + b"PAR1")
        (d / "link").symlink_to(d / "mine")
        (d / "flink").symlink_to(d / "notes.txt")

    writers = {
        "prepare": (["data", "prepare", "piki", "raw/piki", "-o"], ("raw",), "folder"),
        "simulate": (["simulate", "--users", "5", "--items", "20", "--sessions", "1", "--quiet", "-o"], (), "folder"),
        "run": (["run", "cfg.yaml", "--no-progress", "--quiet", "-o"], ("log", "cfg.yaml"), "folder"),
        "train": (
            ["train", "--data", "log", "--epochs", "1", "--batch-size", "64", "--no-progress", "--quiet", "-o"],
            ("log",),
            "folder",
        ),
        "predict": (["predict", BUNDLE, "--data", "log", "-o"], ("log", "res"), "file"),
        "recommend": (["recommend", SEQ_BUNDLE, "--history", "log", "-o"], ("log", "seq"), "file"),
        "export": (["export", BUNDLE, "--check", "0", "--onnx"], ("log", "res"), "file"),
        "describe --plot": (["data", "describe", "log", "--plot"], ("log",), "file"),
    }
    targets_folder = [
        ("a foreign folder", "mine", ["mine"]),
        ("a symlink to a folder", "link", ["link"]),
        (".", ".", ["current directory"]),
        ("''", "", []),  # typer reads '' as '.' for Path options: any one-line refusal
        ("a file", "notes.txt", ["notes.txt"]),
    ]
    targets_file = [
        ("a foreign file", "notes.txt", ["notes.txt"]),
        ("a user's PNG", "photo.png", ["photo.png"]),
        ("a user's Parquet", "mine.parquet", ["mine.parquet"]),
        ("a folder", "mine", ["mine"]),
        ("a symlink to a file", "flink", ["flink"]),
        (".", ".", ["."]),
    ]
    cases = []
    for w, (args, needs, kind) in writers.items():
        for label, target, needles in targets_folder if kind == "folder" else targets_file:
            cases.append(Case(fam, f"{w} -o {label}", [*args, target], needs, foreign, tuple(needles)))
    inputs = [
        ("prepare", ["data", "prepare", "piki", "raw/piki", "-o", "raw/piki"], ("raw",), ["raw/piki"]),
        ("prepare", ["data", "prepare", "piki", "raw/piki", "-o", "raw"], ("raw",), ["raw"]),
        ("prepare", ["data", "prepare", "piki", "raw/piki", "-o", "raw/piki/out"], ("raw",), ["raw/piki"]),
        ("run", ["run", "cfg.yaml", "-o", "log", "--quiet"], ("log", "cfg.yaml"), ["log"]),
        (
            "predict",
            ["predict", BUNDLE, "--data", "log", "-o", "log/events.parquet"],
            ("log", "res"),
            ["events.parquet"],
        ),
        (
            "predict",
            ["predict", BUNDLE, "--data", "log", "-o", f"{BUNDLE}/model.safetensors"],
            ("log", "res"),
            ["model.safetensors"],
        ),
        (
            "recommend",
            ["recommend", SEQ_BUNDLE, "--history", "log", "-o", "log/events.parquet"],
            ("log", "seq"),
            ["events.parquet"],
        ),
        ("export", ["export", BUNDLE, "--onnx", f"{BUNDLE}/bundle.json"], ("res",), ["bundle.json"]),
        ("run", ["run", "cfg.yaml", "-o", "res2", "--quiet", "--no-progress"], ("log", "cfg.yaml", "seq"), []),
        ("prepare", ["data", "prepare", "piki", "raw/piki", "-o", "res"], ("raw", "res"), ["res"]),
        ("simulate", ["simulate", "-o", "seq", "--users", "5", "--quiet"], ("seq",), ["seq"]),
    ]
    for w, args, needs, needles in inputs:
        if args[-3:] == ["res2", "--quiet", "--no-progress"]:
            # a transformer results folder given as a CTR run's output: refused (another task), or filled alongside
            args = ["run", "cfg.yaml", "-o", "seq", "--quiet", "--no-progress"]
            needles = ["seq"]
        cases.append(
            Case(
                fam,
                f"{w} -o {args[args.index('-o') + 1] if '-o' in args else args[-1]} (an input or "
                f"another kind of output)",
                args,
                needs,
                None,
                tuple(needles),
            )
        )
    # a user's file inside our own output; a stale temporary sibling that is not ours
    cases.append(
        Case(
            fam,
            "simulate over its own output holding a user file",
            ["simulate", "-o", "sim", "--users", "5", "--quiet", "--seed", "1"],
            (),
            lambda d: (
                invoke(["simulate", "-o", "sim", "--users", "5", "--quiet"]),
                (d / "sim" / "notes.txt").write_text("mine"),
            ),
            ("notes.txt",),
        )
    )
    cases.append(
        Case(
            fam,
            "prepare over its own output: replaced",
            ["data", "prepare", "piki", "raw/piki", "-o", "p", "--opt", "gap=60"],
            ("raw",),
            lambda d: invoke(["data", "prepare", "piki", "raw/piki", "-o", "p"]).exit_code,
            ok=lambda d: None if (d / "p" / "events.parquet").is_file() else "no output",
            error=False,
            may_change=("p",),
        )
    )
    cases.append(
        Case(
            fam,
            "a look-alike temporary sibling is left alone",
            ["data", "prepare", "piki", "raw/piki", "-o", "p"],
            ("raw",),
            lambda d: (d / ".p.denoiserec-tmp-1-abc").mkdir(),
            ok=lambda d: None if (d / ".p.denoiserec-tmp-1-abc").is_dir() else "removed a folder not ours",
            error=False,
            may_change=("p",),
        )
    )
    cases.append(
        Case(
            fam,
            "run -o a user folder with config.yaml and a PNG",
            ["run", "cfg.yaml", "-o", "u", "--quiet"],
            ("log", "cfg.yaml"),
            lambda d: (
                (d / "u").mkdir(),
                (d / "u" / "config.yaml").write_text("a: 1"),
                (d / "u" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n"),
            ),
            ("u",),
        )
    )
    cases.append(
        Case(
            fam,
            "run -o a results folder holding a user file",
            ["run", "cfg.yaml", "-o", "res", "--quiet", "--no-progress", "--set", "train.lr=0.01"],
            ("log", "cfg.yaml", "res"),
            lambda d: (d / "res" / "notes.txt").write_text("mine"),
            ("res",),
            ok=lambda d: None if (d / "res" / "notes.txt").read_text() == "mine" else "notes lost",
            may_change=(
                "res/runs",
                "res/bundles",
                "res/stale",
                "res/report",
                "res/plots",
                "res/config",
                "res/.denoiserec.json",
                "res/checkpoints",
                "res/report.md",
                "res/config.yaml",
                "res/curves.png",
                "res/test_auc.png",
                "res/test_auc_true.png",
                "res/popularity.json",
            ),
        )
    )
    return cases


def bundle_cases() -> list[Case]:
    fam = "bundles"
    files = ["bundle.json", "model.safetensors", "vocabularies.parquet", "items.parquet", ".denoiserec.json"]
    needs = ("log", "res", "res2", "seq")
    consumers = {
        "predict": ["predict", "b", "--data", "log", "-o", "s.parquet"],
        "recommend": ["recommend", "b", "--history", "log", "--all-items", "-o", "r.parquet"],
        "export": ["export", "b", "--onnx", "m.onnx", "--check", "0"],
    }
    other = "res2/bundles/deepfm__none__seed1"

    def corrupt(name: str, how: str, src: str = BUNDLE) -> Callable[[Path], None]:
        def prep(d: Path) -> None:
            shutil.copytree(d / src, d / "b")
            f = d / "b" / name
            if how == "missing":
                f.unlink()
            elif how == "zero bytes":
                f.write_bytes(b"")
            elif how == "truncated":
                f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 2)])
            elif how == "garbage":
                f.write_bytes(noise(max(64, f.stat().st_size)))
            elif how == "another run's":
                shutil.copy(d / other / name, f)
            elif how == "a folder":
                f.unlink()
                f.mkdir()
            elif how == "one byte flipped":
                data = bytearray(f.read_bytes())
                data[len(data) // 2] ^= 0xFF
                f.write_bytes(bytes(data))

        return prep

    cases = []
    for name in files:
        for how in ["missing", "zero bytes", "truncated", "garbage", "another run's", "a folder", "one byte flipped"]:
            if name == ".denoiserec.json" and how == "another run's":
                continue
            cases.append(
                Case(
                    fam,
                    f"predict: {name} {how}",
                    consumers["predict"],
                    needs,
                    corrupt(name, how),
                    (name if name != ".denoiserec.json" else "b",),
                )
            )
    for cons in ("recommend", "export"):
        for name in ("model.safetensors", "vocabularies.parquet", "items.parquet"):
            cases.append(
                Case(fam, f"{cons}: {name} truncated", consumers[cons], needs, corrupt(name, "truncated"), (name,))
            )

    def edit_json(fn):
        def prep(d: Path) -> None:
            shutil.copytree(d / BUNDLE, d / "b")
            meta = json.loads((d / "b" / "bundle.json").read_text())
            fn(meta)
            (d / "b" / "bundle.json").write_text(json.dumps(meta))

        return prep

    def forge_manifest(d: Path) -> None:
        """A forged size with a manifest rewritten to match: the loader must still not trust it."""
        import denoiserec.io as dio

        shutil.copytree(d / BUNDLE, d / "b")
        meta = json.loads((d / "b" / "bundle.json").read_text())
        meta["spec"]["cardinalities"] = [10**12 for _ in meta["spec"]["cardinalities"]]
        (d / "b" / "bundle.json").write_text(json.dumps(meta))
        marker = json.loads((d / "b" / dio.MARKER).read_text())
        for key in ("sha256", "hashes", "files"):
            entry = marker.get(key)
            if isinstance(entry, dict) and "bundle.json" in entry:
                entry["bundle.json"] = hashlib.sha256((d / "b" / "bundle.json").read_bytes()).hexdigest()
        (d / "b" / dio.MARKER).write_text(json.dumps(marker))

    def shuffle_vocab(d: Path) -> None:
        shutil.copytree(d / BUNDLE, d / "b")
        v = pl.read_parquet(d / "b" / "vocabularies.parquet")
        v.with_columns(pl.col(v.columns[-1]).shuffle(seed=1).over(v.columns[0])).write_parquet(
            d / "b" / "vocabularies.parquet"
        )

    cases += [
        Case(
            fam,
            "predict: forged table size in bundle.json",
            consumers["predict"],
            needs,
            edit_json(lambda m: m["spec"].__setitem__("cardinalities", [10**12 for _ in m["spec"]["cardinalities"]])),
            ("bundle.json",),
        ),
        Case(
            fam, "predict: forged table size, manifest re-hashed", consumers["predict"], needs, forge_manifest, ("b",)
        ),
        Case(
            fam, "predict: vocabulary shuffled", consumers["predict"], needs, shuffle_vocab, ("vocabularies.parquet",)
        ),
        Case(
            fam,
            "predict: bundle path missing",
            ["predict", "nob", "--data", "log", "-o", "s.parquet"],
            needs,
            None,
            ("nob",),
        ),
        Case(
            fam,
            "predict: bundle path is a file",
            ["predict", "log/events.parquet", "--data", "log", "-o", "s.parquet"],
            needs,
            None,
            ("events.parquet",),
        ),
        Case(
            fam,
            "predict: bundle path is a results folder",
            ["predict", "res", "--data", "log", "-o", "s.parquet"],
            needs,
            None,
            ("res",),
        ),
        Case(
            fam,
            "predict: an empty folder",
            ["predict", "b", "--data", "log", "-o", "s.parquet"],
            needs,
            lambda d: (d / "b").mkdir(),
            ("b",),
        ),
        Case(
            fam,
            "predict: a stray extra file in the bundle",
            consumers["predict"],
            needs,
            lambda d: (shutil.copytree(d / BUNDLE, d / "b"), (d / "b" / "notes.txt").write_text("mine")),
            ("b",),
            ok=file_rows("s.parquet", 240),
            may_change=("s.parquet",),
        ),
        Case(
            fam,
            "predict: transformer bundle.json garbage",
            ["predict", "b", "--data", "log", "-o", "s.parquet"],
            needs,
            corrupt("bundle.json", "garbage", SEQ_BUNDLE),
            ("bundle.json",),
        ),
        Case(
            fam,
            "recommend: transformer weights truncated",
            ["recommend", "b", "--history", "log", "-o", "r.parquet"],
            needs,
            corrupt("model.safetensors", "truncated", SEQ_BUNDLE),
            ("model.safetensors",),
        ),
    ]
    return cases


def checkpoint_cases() -> list[Case]:
    """A run whose record and bundle are gone but whose checkpoint is there (as after a kill): resumed, refused,
    or retrained; never a NaN model or a run that trained past its epochs."""
    import torch

    fam = "checkpoints and caches"
    args = ["run", "cfg.yaml", "-o", "ck", "--no-progress", "--quiet", "--set", "train.epochs=2"]
    needs = ("log", "cfg.yaml", "ck")
    ck = "ck/checkpoints/deepfm__none__seed0.pt"

    def with_ckpt(fn) -> Callable[[Path], None]:
        def prep(d: Path) -> None:
            fn(d / ck)

        return prep

    def nan_weights(p: Path) -> None:
        s = torch.load(p, weights_only=True)
        s["model"] = {
            k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in s["model"].items()
        }
        if "best_state" in s and isinstance(s["best_state"], dict):
            s["best_state"] = dict(s["model"])
        torch.save(s, p)

    def set_key(key, value):
        def f(p: Path) -> None:
            s = torch.load(p, weights_only=True)
            s[key] = value
            torch.save(s, p)

        return f

    def drop_key(key):
        def f(p: Path) -> None:
            s = torch.load(p, weights_only=True)
            s.pop(key, None)
            torch.save(s, p)

        return f

    def ok(d: Path) -> str | None:
        return finite_run(d, "ck", str(d / "clean_run.json"))

    may = ("ck",)
    c = [
        ("unchanged (control: resumed)", lambda p: None),
        ("zero bytes", lambda p: p.write_bytes(b"")),
        ("truncated", lambda p: p.write_bytes(p.read_bytes()[:200])),
        ("garbage", lambda p: p.write_bytes(noise(4096))),
        ("NaN weights", nan_weights),
        ("epoch 99", set_key("epoch", 99)),
        ("epoch -1", set_key("epoch", -1)),
        ("epoch a string", set_key("epoch", "two")),
        ("model state missing", drop_key("model")),
        ("optimiser state missing", drop_key("optim")),
        ("history a string", set_key("history", "x")),
        ("a folder in its place", lambda p: (p.unlink(), p.mkdir())),
        ("pickled code", lambda p: p.write_bytes(__import__("pickle").dumps(__import__("os").getcwd))),
    ]
    cases = [
        Case(
            fam,
            f"checkpoint {n}",
            args,
            (*needs, "clean_run.json"),
            with_ckpt(f),
            ("deepfm__none__seed0.pt",),
            ok=ok,
            may_change=may,
        )
        for n, f in c
    ]
    # stream caches: corrupt entries are rebuilt or refused by name, never trained on
    scfg = {
        **RUN_CFG,
        "data": {"source": "table", "path": "svc.csv", "options": {"spec": "m.yaml"}, "stream": True, "cache": "cache"},
    }
    sargs = ["run", "s.yaml", "-o", "sres", "--no-progress", "--quiet"]

    def cache_prep(fn) -> Callable[[Path], None]:
        def prep(d: Path) -> None:
            (d / "s.yaml").write_text(yaml.safe_dump(scfg))
            assert invoke([*sargs[:3], "first", *sargs[4:]]).exit_code == 0
            files = sorted(p for root in ("cache", ".cache") for p in (d / root).rglob("*") if p.is_file())
            fn(d, files)

        return prep

    def each(pred, action):
        def f(d, files):
            for p in files:
                if pred(p):
                    action(p)

        return f

    def sok(d: Path) -> str | None:
        a = json.loads((d / "sres" / "runs" / "deepfm__none__seed0.json").read_text())["test"]
        b = json.loads((d / "first" / "runs" / "deepfm__none__seed0.json").read_text())["test"]
        return None if a == b else f"test metrics {a} differ from the first run's {b}"

    stream = [
        (
            "cache: every Parquet truncated",
            each(lambda p: p.suffix == ".parquet", lambda p: p.write_bytes(p.read_bytes()[:50])),
        ),
        (
            "cache: every Parquet garbage",
            each(lambda p: p.suffix == ".parquet", lambda p: p.write_bytes(noise(300))),
        ),
        (
            "cache: every .npy truncated",
            each(lambda p: p.suffix == ".npy", lambda p: p.write_bytes(p.read_bytes()[:90])),
        ),
        ("cache: every JSON garbage", each(lambda p: p.suffix == ".json", lambda p: p.write_text("{garbage"))),
        ("cache: every file empty", each(lambda p: True, lambda p: p.write_bytes(b""))),
        ("cache: every file removed but the folders", each(lambda p: True, lambda p: p.unlink())),
        (
            "cache: content-hashes.json a list",
            each(lambda p: p.name == "content-hashes.json", lambda p: p.write_text("[1, 2]")),
        ),
        (
            "cache: other rows in the prepared log",
            each(
                lambda p: p.suffix == ".parquet" and "events" in p.name,
                lambda p: pl.read_parquet(p).head(40).write_parquet(p),
            ),
        ),
    ]
    cases += [
        Case(fam, n, sargs, ("svc.csv", "m.yaml"), cache_prep(f), ("cache",), ok=sok, may_change=("sres", "cache"))
        for n, f in stream
    ]
    return cases


def kill_cases(work: Path) -> list[Outcome]:
    """Each rename of simulate, run, predict (tests/killpoints.py) and of prepare, recommend, export and describe
    --plot (:func:`kill_worker`, the same mechanism) killed, then the command rerun."""
    out = []
    for name in (*KILLPOINTS_CASES, *EXTRA_KILLS):
        d = work / f"kill-{name}"
        d.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1",
        }
        env.pop("DENOISEREC_CACHE", None)
        t0 = time.perf_counter()
        cmd = (
            [str(ROOT / "tests" / "killpoints.py"), str(d), name]
            if name in KILLPOINTS_CASES
            else [str(Path(__file__).resolve()), "--kill-worker", str(d), name]
        )
        done = subprocess.run(
            [sys.executable, *cmd],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            case = Case("kills", f"{name}: harness", [])
            out.append(
                Outcome(case, False, f"killpoints.py failed: {done.stderr.strip().splitlines()[-1][:160]}", seconds)
            )
            continue
        report = json.loads(done.stdout.strip().splitlines()[-1])
        for p in report["points"]:
            ok = (
                p["killed"] and p["consistent"] and p["rerun_code"] == 0 and p["after_rerun_new"] and not p["leftovers"]
            )
            what = (
                f"after the kill: {p['after_kill']}; rerun exit {p['rerun_code']}"
                + ("" if p["after_rerun_new"] else ", rerun output not the new one")
                + (f", left {p['leftovers']}" if p["leftovers"] else "")
            )
            out.append(
                Outcome(
                    Case("kills", f"{name}: killed before rename {p['k']} of {report['renames']}", []),
                    ok,
                    what,
                    seconds / max(1, len(report["points"])),
                )
            )
    return out


FAMILIES = {
    "data files": source_cases,
    "mapping files": mapping_cases,
    "settings": settings_cases,
    "CLI options": cli_cases,
    "output paths": output_cases,
    "bundles": bundle_cases,
    "checkpoints and caches": checkpoint_cases,
}


def prepare_checkpoint(base: Path) -> None:
    """``ck/``: a 2-epoch run of the base config stopped just after its first epoch's checkpoint was saved (as
    after a kill), and ``clean_run.json``: the record an uninterrupted 2-epoch run writes."""
    import denoiserec.train.trainer as tr

    os.chdir(base)
    two = ["--set", "train.epochs=2"]
    r = invoke(["run", "cfg.yaml", "-o", "clean2", "--no-progress", "--quiet", *two])
    if r.exit_code != 0:
        raise SystemExit(f"base: the clean 2-epoch run failed:\n{r.output}")
    shutil.copy(base / "clean2" / "runs" / "deepfm__none__seed0.json", base / "clean_run.json")

    def save_then_stop(*a, **k):
        real(*a, **k)
        raise KeyboardInterrupt("harness: stopped after the first checkpoint")

    real, tr.save_checkpoint = tr.save_checkpoint, save_then_stop
    try:
        invoke(["run", "cfg.yaml", "-o", "ck", "--no-progress", "--quiet", *two])
    finally:
        tr.save_checkpoint = real
    if not (base / "ck" / "checkpoints" / "deepfm__none__seed0.pt").is_file():
        raise SystemExit("base: no checkpoint left by the stopped run")


def markdown(outcomes: list[Outcome], commit: str, seconds: float) -> str:
    tried, handled = len(outcomes), sum(o.handled for o in outcomes)
    fams = Counter(o.case.family for o in outcomes)
    ok = Counter(o.case.family for o in outcomes if o.handled)
    usage = sum(o.handled and o.what.startswith("usage error") for o in outcomes)
    lines = [
        f"# Hostile-input pass ({time.strftime('%Y-%m-%d', time.gmtime())}, commit {commit})",
        "",
        f"**{tried} tried, {handled} handled** ({seconds:.0f} s; {usage} of the handled are click usage "
        "panels rather than one `error:` line)",
        "",
        "| family | tried | handled |",
        "|---|---|---|",
    ]
    lines += [f"| {f} | {n} | {ok[f]} |" for f, n in fams.items()]
    lines += ["", "## Not handled", "", "| family | case | what happened |", "|---|---|---|"]
    lines += [f"| {o.case.family} | {o.case.name} | {o.what.replace('|', '/')} |" for o in outcomes if not o.handled]
    return "\n".join(lines) + "\n"


KILLPOINTS_CASES = ("simulate", "run", "predict")
EXTRA_KILLS = ("prepare", "recommend", "export", "describe-plot")


def kill_worker(workdir: str, name: str) -> None:
    """tests/killpoints.py's loop for more commands: its ``case`` extended with prepare, recommend, export and
    describe --plot (their old and new outputs differ; polars and torch are used in forked children only)."""
    import killpoints as kp

    real = kp.case

    def case(n: str) -> dict:
        if n in KILLPOINTS_CASES:
            return real(n)
        real("predict")  # the logs, configs and a CTR bundle (model/)
        bundle = "model/bundles/deepfm__none__seed0"
        if n == "prepare":
            Path("raw").mkdir(exist_ok=True)
            Path("raw/piki.csv").write_text(PIKI)
            return {
                "old": ["data", "prepare", "piki", "raw", "-o", "prep"],
                "new": ["data", "prepare", "piki", "raw", "-o", "prep", "--opt", "gap=60"],
                "out": "prep",
                "state": kp.digest,
            }
        if n == "recommend":
            if not Path("seqm").exists():
                Path("seq.yaml").write_text(json.dumps(SEQ_CFG))
                assert kp.invoke(["run", "seq.yaml", "-o", "seqm", "--no-progress", "--quiet"])[0] == 0
            args = ["recommend", "seqm/bundles/seqrec__both__seed0", "--history", "log", "-o", "recs.parquet"]
            return {"old": [*args, "--k", "5"], "new": [*args, "--k", "3"], "out": "recs.parquet", "state": kp.digest}
        if n == "export":
            if not Path("model2").exists():
                assert kp.invoke(["run", "new.yaml", "-o", "model2", "--no-progress", "--quiet"])[0] == 0
            return {
                "old": ["export", bundle, "--onnx", "m.onnx", "--check", "0"],
                "new": ["export", "model2/bundles/deepfm__none__seed0", "--onnx", "m.onnx", "--check", "0"],
                "out": "m.onnx",
                "state": kp.digest,
            }
        if n == "describe-plot":
            return {
                "old": ["data", "describe", "log", "--positions", "5", "--plot", "p.png"],
                "new": ["data", "describe", "log", "--positions", "10", "--plot", "p.png"],
                "out": "p.png",
                "state": kp.digest,
            }
        raise SystemExit(f"unknown kill case {n}")

    kp.case = case
    kp.main(workdir, name)


def main() -> None:
    if sys.argv[1:2] == ["--kill-worker"]:
        kill_worker(*sys.argv[2:4])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the Markdown summary here")
    ap.add_argument("--family", action="append", help=f"only these families: {', '.join(FAMILIES)}, kills")
    ap.add_argument("--match", help="only cases whose name contains this")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out_path = a.out.resolve() if a.out else None
    work = Path(tempfile.mkdtemp(prefix="hostile-")) if a.keep is None else a.keep.resolve()
    work.mkdir(parents=True, exist_ok=True)
    chosen = a.family or [*FAMILIES, "kills"]
    cases = [c for f in chosen if f in FAMILIES for c in FAMILIES[f]()]
    if a.match:
        cases = [c for c in cases if a.match in c.name]
    if a.list:
        for c in cases:
            print(f"{c.family}\t{c.name}")
        print(f"{len(cases)} cases (+ kills)")
        return
    t0 = time.perf_counter()
    outcomes: list[Outcome] = []
    if "kills" in chosen and not a.match:  # first: forks before this process starts polars' thread pool
        outcomes += kill_cases(work)
    base = work / "base"
    if cases:
        if not (base / "ck" / "checkpoints").is_dir():
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
            build_base(base)
            prepare_checkpoint(base)
        for i, c in enumerate(cases):
            o = run_case(c, base, work)
            outcomes.append(o)
            print(
                f"[{i + 1}/{len(cases)}] {'ok ' if o.handled else 'NOT'} {c.family}: {c.name}: {o.what}",
                file=sys.stderr,
                flush=True,
            )
    os.chdir(ROOT)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    md = markdown(outcomes, commit, time.perf_counter() - t0)
    print(md)
    if out_path:
        out_path.write_text(md)
    if a.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
