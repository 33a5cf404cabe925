"""A service's own log: any CSV, TSV or Parquet table, described by a YAML mapping file (``spec``).

Expected files: ``path`` is one file or a folder of ``*.csv`` / ``*.tsv`` / ``*.parquet`` files (all of one
layout). The mapping names the columns (see docs/data.md for a worked example)::

    format: csv                    # csv | tsv | parquet (default: from the file name); `separator` for others
    header: auto                   # auto (default: a first line whose typed columns fail to parse where the
                                   # next lines' parse is a header) | true | false (Parquet: no header line)
    names: [uid, song, ts, liked]  # optional: the columns of a header-less file, in order (the names that
                                   # `columns`, `side` and `feedback` use); for Parquet, its own columns
    columns:                       # canonical column: the table's column
      user: user_id
      item: media_id
      timestamp: ts_listen
      session: session_id          # optional: else sessions are cut at pauses longer than `session_gap`
      position: pos                # optional: breaks timestamp ties inside a session (renumbered 0, 1, ...)
      context: context_type        # optional: station / context
      artist: artist_id            # optional
      category: genre_id           # optional
      played_ratio: ratio          # optional (never used as a feature: it reveals skips)
    timestamp: {unit: s}           # s | ms | iso (`format`: a strptime format; default: ISO 8601 inferred)
    session_gap: 1800              # seconds
    side: [platform, user_age]     # optional side features, kept as f_<name> (or a mapping f_name: column)
    feedback:                      # either ordered rules over columns; the first that holds gives the kind ...
      rules:
        - {if: "is_listened == 0", then: skip}
        - {if: ["listen_type == 1", "is_listened == 1"], then: autoplay}   # a list: every condition holds
      otherwise: click             # kind of a row no rule matches (leave out: such a row is an error)
      unlabeled: empty             # optional: rows without feedback (scored, never in a history, not trained
                                   # on): `empty` = any feedback column empty, or a condition / list as `if`
    # ... or a label column with an active-flag column (both 0/1):
    # feedback: {label: liked, active: acted}   # kinds: active & 1 -> click, active & 0 -> skip,
    #                                           # passive & 1 -> autoplay, passive & 0 -> unplayed
    #                                           # (override with `kinds: {active_positive: like, ...}`)

A condition is ``COLUMN OP VALUE`` with OP one of ``== != < <= > >= in`` (VALUE read as YAML: ``0``,
``'radio'``, ``[1, 2]``); numbers compare numerically, anything else as text; a null cell matches nothing.
An empty cell in a feedback column never falls through to ``otherwise`` nor reads as 0: it is an error unless
``unlabeled`` says how such rows are read (:mod:`denoiserec.data.schema`: feedback, active, label null).
Feedback kinds are those of :data:`denoiserec.data.kinds.FEEDBACK_KINDS`; (active e, label y) follow from
the kind. Errors name the mapping file and key, or the data file with its line (1-based, header = line 1;
for Parquet, the row number + 1) and column, as the named sources do.
"""

from __future__ import annotations

import copy
import math
import re
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import yaml

from denoiserec.data.kinds import FEEDBACK_KINDS
from denoiserec.data.sources._common import (
    DEFAULT_GAP,
    EPOCH_RANGE,
    ROW,
    derive_sessions,
    find,
    finish,
    head_sample,
    header_by_content,
    hour_of,
    parse,
    positions,
    read_text_table,
    with_kinds,
)
from denoiserec.errors import ConfigError, DataError


class MappingError(DataError, ConfigError):
    """A bad mapping file: a setting error (:class:`ConfigError`) naming the mapping file and key, raised before
    any data is read; also a :class:`DataError` (the file is an input) as it always was."""

OPTIONS = {
    "spec": "the YAML mapping file: columns, timestamp unit, feedback rules (see docs/data.md)",
}

REQUIRED_COLUMNS = ("user", "item", "timestamp")
OPTIONAL_COLUMNS = ("session", "position", "context", "artist", "category", "played_ratio")
SPEC_KEYS = {"format", "separator", "header", "names", "columns", "timestamp", "session_gap", "side", "feedback"}
LABEL_KINDS = {"active_positive": "click", "active_negative": "skip", "passive_positive": "autoplay",
               "passive_negative": "unplayed"}
_CONDITION = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|<=|>=|<|>|\bin\b)\s*(.+?)\s*$")
_FORMATS = {"csv": ("*.csv", ","), "tsv": ("*.tsv", "\t"), "parquet": ("*.parquet", None)}


def load_spec(spec: str | Path | dict) -> tuple[dict, str]:
    """The mapping (checked) and the name errors use for it."""
    if isinstance(spec, dict):
        where, d = "spec", copy.deepcopy(spec)
    else:
        where = str(spec)
        if not Path(spec).is_file():
            raise MappingError(where, "no such mapping file")
        try:
            d = yaml.safe_load(Path(spec).read_text())
        except UnicodeDecodeError as e:
            raise MappingError(where, f"not a text (YAML) file: {e.reason} at byte {e.start}") from e
        except yaml.YAMLError as e:
            raise MappingError(where, f"not valid YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(d, dict):
        raise MappingError(where, "expected a mapping (columns, timestamp, feedback ...)")
    bad = set(d) - SPEC_KEYS
    if bad:
        raise MappingError(where, f"unknown key(s) {sorted(bad)}; known: {sorted(SPEC_KEYS)}")
    _check_types(d, where)
    cols = d.get("columns")
    if not isinstance(cols, dict):
        raise MappingError(where, "'columns' must map canonical columns (user, item, timestamp ...) to yours")
    unknown = set(cols) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise MappingError(where, f"columns: unknown canonical column(s) {sorted(unknown)}; "
                           f"known: {[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]}")
    missing = [c for c in REQUIRED_COLUMNS if not cols.get(c)]
    if missing:
        raise MappingError(where, f"columns: {missing} required")
    if cols.get("user") is not None and str(cols.get("user")) == str(cols.get("item")):
        raise MappingError(where, f"columns: user and item both read column {cols['user']!r}; give each its own")
    ts = d.get("timestamp") or {}
    if not isinstance(ts, dict) or ts.get("unit", "s") not in ("s", "ms", "iso") or set(ts) - {"unit", "format"}:
        raise MappingError(where, "timestamp: expected {unit: s | ms | iso, format: <strptime format, iso only>}")
    if "format" in ts and ts.get("unit", "s") != "iso":
        raise MappingError(where, f"timestamp.format: a strptime format reads dates (unit: iso), not unit "
                                  f"{ts.get('unit', 's')!r} (numbers)")
    if d.get("format") not in (None, *_FORMATS):
        raise MappingError(where, f"format: expected one of {list(_FORMATS)}, got {d['format']!r}")
    fb = d.get("feedback")
    if not isinstance(fb, dict) or not (("rules" in fb) ^ ("label" in fb)):
        raise MappingError(where, "feedback: give either 'rules' (+ 'otherwise') or 'label' + 'active'")
    for cond in _unlabeled_conditions(fb):
        if cond != "empty":
            _condition(cond, where, "feedback.unlabeled")
    if "rules" in fb:
        if set(fb) - {"rules", "otherwise", "unlabeled"} or not isinstance(fb["rules"], list):
            raise MappingError(where, "feedback: 'rules' must be a list of {if: CONDITION, then: KIND}; "
                               "other keys: 'otherwise', 'unlabeled'")
        for i, rule in enumerate(fb["rules"]):
            if not isinstance(rule, dict) or set(rule) != {"if", "then"}:
                raise MappingError(where, f"feedback.rules[{i}]: expected {{if: CONDITION, then: KIND}}, got {rule!r}")
            _kind(rule["then"], where, f"feedback.rules[{i}].then")
            for cond in rule["if"] if isinstance(rule["if"], list) else [rule["if"]]:
                _condition(cond, where, f"feedback.rules[{i}].if")
        if fb.get("otherwise") is not None:
            _kind(fb["otherwise"], where, "feedback.otherwise")
    else:
        if set(fb) - {"label", "active", "kinds", "unlabeled"} or "active" not in fb:
            raise MappingError(where, "feedback: with 'label' give 'active' (the active-flag column) and "
                               "optionally 'kinds', 'unlabeled'")
        kinds = fb.get("kinds") or {}
        if set(kinds) - set(LABEL_KINDS):
            raise MappingError(where, f"feedback.kinds: unknown key(s) {sorted(set(kinds) - set(LABEL_KINDS))}; "
                               f"known: {list(LABEL_KINDS)}")
        for k, v in kinds.items():
            _kind(v, where, f"feedback.kinds.{k}")
    if "names" in d:
        used = [*[(f"columns.{k}", v) for k, v in cols.items() if v is not None],
                *[("side", v) for v in _side(d, where).values()],
                *[("feedback", c) for c in _feedback_columns(fb, where)]]
        for key, column in used:
            if column not in d["names"]:
                raise MappingError(where, f"{key}: column {column!r} is not one of names {d['names']}")
    return d, where


def _name(value: object, where: str, key: str) -> str:
    """A column name: a non-empty string (YAML reads ``1`` as a number: a number is taken as its text)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise MappingError(where, f"{key}: expected a column name, got {value!r}")
    return str(value)


def _check_types(d: dict, where: str) -> None:
    """Every value of the mapping of the type its key takes, before anything else is read: one
    :class:`MappingError` naming the key (a list where a name is expected, a word where a number is ...)."""
    for key in ("format", "separator"):
        if key in d and not isinstance(d[key], str):
            raise MappingError(where, f"{key}: expected a string, got {d[key]!r}")
    if "separator" in d and len(d["separator"].encode()) != 1:
        raise MappingError(where, f"separator: expected one single-byte character, got {d['separator']!r}")
    if d.get("header", "auto") not in ("auto", True, False):
        raise MappingError(where, f"header: expected auto, true or false, got {d['header']!r}")
    if "names" in d:
        names = d["names"]
        if not isinstance(names, list) or not names:
            raise MappingError(where, f"names: expected a list of column names, got {names!r}")
        names = [_name(n, where, f"names[{i}]") for i, n in enumerate(names)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise MappingError(where, f"names: {dup} given more than once")
        d["names"] = names
    if d.get("header") is False and "names" not in d:
        raise MappingError(where, "header: false needs `names: [...]`, the file's columns in order")
    cols = d.get("columns")
    if isinstance(cols, dict):
        for k, v in cols.items():
            if v is not None:
                cols[k] = _name(v, where, f"columns.{k}")
    if "session_gap" in d:
        gap = d["session_gap"]
        if isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap) or gap <= 0:
            raise MappingError(where, f"session_gap: expected a number of seconds > 0, got {gap!r}")
    ts = d.get("timestamp")
    if isinstance(ts, dict):
        for key in ("unit", "format"):
            if key in ts and not isinstance(ts[key], str):
                raise MappingError(where, f"timestamp.{key}: expected a string, got {ts[key]!r}")
    side = d.get("side")
    if isinstance(side, list):
        d["side"] = [_name(c, where, f"side[{i}]") for i, c in enumerate(side)]
    elif isinstance(side, dict):
        d["side"] = {_name(k, where, "side"): _name(c, where, f"side.{k}") for k, c in side.items()}
    elif side is not None:
        raise MappingError(where, f"side: expected a list of columns or a mapping f_<name>: column, got {side!r}")
    fb = d.get("feedback")
    if not isinstance(fb, dict):
        return
    if "rules" in fb:
        if not isinstance(fb["rules"], list):
            raise MappingError(where, f"feedback.rules: expected a list of {{if: CONDITION, then: KIND}}, "
                               f"got {fb['rules']!r}")
        for i, rule in enumerate(fb["rules"]):
            if not isinstance(rule, dict):
                continue  # named below with the expected shape
            if "then" in rule and not isinstance(rule["then"], str):
                raise MappingError(where, f"feedback.rules[{i}].then: expected one feedback kind, got {rule['then']!r}")
            if "if" in rule and not _conditions(rule["if"]):
                raise MappingError(where, f"feedback.rules[{i}].if: expected a condition 'COLUMN OP VALUE' or a "
                                   f"list of them, got {rule['if']!r}")
    if fb.get("otherwise") is not None and not isinstance(fb["otherwise"], str):
        raise MappingError(where, f"feedback.otherwise: expected one feedback kind, got {fb['otherwise']!r}")
    for key in ("label", "active"):
        if key in fb:
            fb[key] = _name(fb[key], where, f"feedback.{key}")
    if "kinds" in fb and fb["kinds"] is not None:
        if not isinstance(fb["kinds"], dict):
            raise MappingError(where, f"feedback.kinds: expected a mapping (active_positive: KIND ...), "
                               f"got {fb['kinds']!r}")
        for k, v in fb["kinds"].items():
            if not isinstance(v, str):
                raise MappingError(where, f"feedback.kinds.{k}: expected one feedback kind, got {v!r}")
    u = fb.get("unlabeled")
    if u is not None and not _conditions(u):
        raise MappingError(where, f"feedback.unlabeled: expected 'empty', a condition or a list of conditions, "
                           f"got {u!r}")


def _conditions(value: object) -> bool:
    """A condition (a string) or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(c, str) for c in value)
    return isinstance(value, str)


def _unlabeled_conditions(fb: dict) -> list:
    """``feedback.unlabeled``: ``empty`` or conditions (every one holds), as a list (empty when not given)."""
    u = fb.get("unlabeled")
    return [] if u is None else list(u) if isinstance(u, list) else [u]


def _kind(kind: object, where: str, key: str) -> str:
    if kind not in FEEDBACK_KINDS:
        raise MappingError(where, f"{key}: unknown feedback kind {kind!r}; known: {list(FEEDBACK_KINDS)}")
    return str(kind)


def _condition(text: object, where: str, key: str) -> tuple[str, str, object]:
    m = _CONDITION.match(str(text)) if isinstance(text, str) else None
    if not m:
        raise MappingError(where, f"{key}: expected 'COLUMN OP VALUE' (OP: == != < <= > >= in), got {text!r}")
    column, op, raw = m.groups()
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise MappingError(where, f"{key}: cannot read the value {raw!r}") from e
    if op == "in" and not isinstance(value, list):
        raise MappingError(where, f"{key}: 'in' needs a list, e.g. [1, 2]")
    return column, op, value


def _side(d: dict, where: str) -> dict[str, str]:
    side = d.get("side") or {}
    if isinstance(side, list):
        side = {f"f_{c}": c for c in side}
    if not isinstance(side, dict):
        raise MappingError(where, "side: a list of columns or a mapping f_<name>: column")
    return {(k if k.startswith("f_") else f"f_{k}"): v for k, v in side.items()}


def read(path: str | Path, spec: str | Path | dict | None = None) -> pl.DataFrame:
    if spec is None:
        raise DataError(path, "the table source needs a mapping file: --spec mapping.yaml (see docs/data.md)")
    d, where = load_spec(spec)
    fmt = d.get("format")
    patterns = [_FORMATS[fmt][0]] if fmt else [p for p, _ in _FORMATS.values()]
    files = find(path, patterns, "CSV/TSV/Parquet table")
    cols, side = d["columns"], _side(d, where)
    needed = list(dict.fromkeys([*cols.values(), *side.values(), *_feedback_columns(d["feedback"], where)]))
    parts = []
    for i, file in enumerate(files):
        df = _read_file(file, d, where, needed)
        df = _canonical(df, file, d, where, side)
        parts.append(df.with_columns(pl.lit(i).alias("_file")))
    df = pl.concat(parts, how="diagonal_relaxed")
    if "session" in cols:
        df = df.with_columns(session=pl.col("user") + ":" + pl.col("session"))  # a session never spans users
        order = ["timestamp", "position"] if "position" in cols else ["timestamp"]
        df = positions(df, order=[*order, "_file", ROW])  # a mapped position orders ties; renumbered 0..n-1
    else:
        df = derive_sessions(df, float(d.get("session_gap", DEFAULT_GAP)), order=["_file", ROW])
    return finish(with_kinds(df.with_columns(hour=hour_of())))


def _feedback_columns(fb: dict, where: str) -> list[str]:
    out = [_condition(c, where, "feedback.unlabeled")[0] for c in _unlabeled_conditions(fb) if c != "empty"]
    if "label" in fb:
        return list(dict.fromkeys([fb["label"], fb["active"], *out]))
    for i, rule in enumerate(fb["rules"]):
        for cond in rule["if"] if isinstance(rule["if"], list) else [rule["if"]]:
            out.append(_condition(cond, where, f"feedback.rules[{i}].if")[0])
    return list(dict.fromkeys(out))


def _rule_columns(fb: dict, where: str) -> list[str]:
    """The columns that decide a labelled row's kind (the label and active flags, or the rules' columns)."""
    if "label" in fb:
        return [fb["label"], fb["active"]]
    return list(dict.fromkeys(_condition(c, where, f"feedback.rules[{i}].if")[0] for i, r in enumerate(fb["rules"])
                              for c in (r["if"] if isinstance(r["if"], list) else [r["if"]])))


def _empty(column: str) -> pl.Expr:
    return pl.col(f"_src_{column}").is_null() | (pl.col(f"_src_{column}").str.strip_chars() == "")


def _unlabeled(df: pl.DataFrame, file: Path, fb: dict, where: str) -> pl.Expr:
    """The rows ``feedback.unlabeled`` marks as without feedback (all of its conditions hold)."""
    conds = _unlabeled_conditions(fb)
    if not conds:
        return pl.lit(False)
    hold = pl.lit(True)
    for c in conds:
        if c == "empty":
            hold = hold & pl.any_horizontal([_empty(col) for col in _rule_columns(fb, where)])
        else:
            hold = hold & _holds(df, file, *_condition(c, where, "feedback.unlabeled")).fill_null(False)
    return hold


@contextmanager
def _named_in(where: str):
    """A missing-column error of the data file also says which mapping named the column."""
    try:
        yield
    except DataError as e:
        if e.message.startswith("missing column"):
            raise DataError(e.path, f"{e.message} (the column(s) the mapping {where} names)", e.row,
                            e.column) from None
        raise


def _read_file(file: Path, d: dict, where: str, needed: list[str]) -> pl.DataFrame:
    """Every column as text (Parquet date-times as epoch seconds) plus :data:`ROW`; a text file's header line
    as the mapping's ``header`` and ``names`` say (auto: by content)."""
    fmt = d.get("format") or next((f for f, (p, _) in _FORMATS.items() if file.name.endswith(p[1:])), "csv")
    names, header = d.get("names"), d.get("header", "auto")
    if fmt != "parquet":
        sep = d.get("separator") or _FORMATS[fmt][1]
        if names is None:  # the header line names the columns
            with _named_in(where):
                return read_text_table(file, separator=sep, required=needed,
                                       source=f"the mapping {where} (no `names:`)",
                                       hint="; or name the file's columns in the mapping: `names: [...]`")
        sample = head_sample(file, sep)
        if header == "auto":
            named = [f.strip().lstrip("#").strip() for f in sample[0]] == names if sample else False
            header = named or header_by_content(sample, names, _probe(d))
        row = sample[1 if header else 0] if len(sample) > int(header) else None
        if row is not None and len(row) != len(names):
            raise MappingError(where, f"names: {len(names)} name(s), but the first data row of {file} has "
                               f"{len(row)} field(s) (header line: {'yes' if header else 'no'})")
        with _named_in(where):
            return read_text_table(file, names, separator=sep, header="skip" if header else False, required=needed)
    try:
        df = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(file, f"cannot read as Parquet: {str(e).splitlines()[0]}") from e
    other = [n for n in names or [] if n not in df.columns]
    if other:  # a Parquet file names its columns (and has no header line): `names` may only repeat them
        raise MappingError(where, f"names: {other} are not columns of {file} (Parquet names its columns: "
                           f"{df.columns[:12]})")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(file, f"missing column(s) {missing}; found {df.columns} (the column(s) the mapping {where} "
                        "names)", column=missing[0])
    if df.height == 0:
        raise DataError(file, "the file has no data rows")
    df = df.with_columns([(pl.col(c).dt.epoch("s") if df.schema[c].is_temporal() else pl.col(c)).cast(pl.Utf8)
                          for c in df.columns])
    return df.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _probe(d: dict) -> dict[str, pl.Expr | pl.DataType]:
    """The mapping's typed columns (the timestamp; a position), parsed as :func:`_canonical` parses them: what
    tells a header line from data by content."""
    cols = d["columns"]
    out: dict[str, pl.Expr | pl.DataType] = {cols["timestamp"]: _timestamp(cols["timestamp"], d.get("timestamp") or {})}
    if cols.get("position"):
        out[cols["position"]] = pl.Int32
    return out


def _timestamp(column: str, ts: dict) -> pl.Expr:
    """Epoch seconds (Int64); null when the value does not parse or lies outside :data:`EPOCH_RANGE` (inf, nan,
    a huge number)."""
    raw = pl.col(column).str.strip_chars()
    unit = ts.get("unit", "s")
    if unit == "iso":
        parsed = raw.str.to_datetime(ts.get("format"), strict=False, time_unit="us", time_zone="UTC")
        return parsed.dt.epoch("s").cast(pl.Int64)
    number = raw.cast(pl.Float64, strict=False)
    seconds = number / 1000 if unit == "ms" else number
    ok = seconds.is_finite() & seconds.is_between(*EPOCH_RANGE)
    return pl.when(ok).then((number // 1000 if unit == "ms" else number.floor()).cast(pl.Int64))


def _canonical(df: pl.DataFrame, file: Path, d: dict, where: str, side: dict[str, str]) -> pl.DataFrame:
    cols = d["columns"]
    fb_cols = dict.fromkeys(_feedback_columns(d["feedback"], where))
    df = df.select(ROW, *[pl.col(src).alias(dst) for dst, src in cols.items()],
                   *[pl.col(src).alias(f"_src_{src}") for src in fb_cols],
                   *[pl.col(src).alias(dst) for dst, src in side.items()])
    for c in ("user", "item"):
        hit = df.filter(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == ""))
        if hit.height:
            raise DataError(file, f"empty value ({hit.height} bad row(s))", row=int(hit[ROW][0]), column=cols[c])
    casts: dict[str, pl.Expr | pl.DataType] = {"timestamp": _timestamp("timestamp", d.get("timestamp") or {})}
    if "position" in cols:
        casts["position"] = pl.Int32
    if "played_ratio" in cols:
        casts["played_ratio"] = pl.Float32
    try:
        df = parse(df, file, casts, optional=[c for c in casts if c == "played_ratio"])
    except DataError as e:  # name the user's column, not the canonical one
        why = e.message
        if e.column == "timestamp" and (d.get("timestamp") or {}).get("unit", "s") != "iso":
            unit = "seconds" if (d.get("timestamp") or {}).get("unit", "s") == "s" else "milliseconds"
            why += f": expected a finite number of {unit} since 1970 within years 1-9999 (timestamp.unit)"
        raise DataError(file, why, row=e.row, column=cols.get(e.column, e.column)) from None
    for name in side:  # numeric side columns stay numeric
        as_num = df[name].cast(pl.Float64, strict=False)
        if as_num.null_count() == df[name].null_count() and df[name].null_count() < df.height:
            df = df.with_columns(as_num.alias(name))
    if "session" in cols:
        hit = df.filter(pl.col("session").is_null())
        if hit.height:
            raise DataError(file, "empty value", row=int(hit[ROW][0]), column=cols["session"])
    fb = d["feedback"]
    df = df.with_columns(_unlabeled=_unlabeled(df, file, fb, where))
    if "rules" in fb:  # an empty cell never falls through to `otherwise`
        rules_only = {**fb, "otherwise": None}
        for col in _rule_columns(fb, where):
            hit = df.filter(_empty(col) & ~pl.col("_unlabeled") & _feedback(df, file, rules_only, where).is_null())
            if hit.height:
                raise DataError(file, f"empty value ({hit.height} row(s)) that no rule reads: say how such rows "
                                f"are read with a rule or 'unlabeled: empty' (no feedback: scored, never in a "
                                f"history) in {where}", row=int(hit[ROW][0]), column=col)
    df = df.with_columns(feedback=pl.when(pl.col("_unlabeled")).then(pl.lit(None, pl.Utf8))
                         .otherwise(_feedback(df.filter(~pl.col("_unlabeled")) if "label" in fb else df, file, fb,
                                              where)))
    hit = df.filter(pl.col("feedback").is_null() & ~pl.col("_unlabeled"))
    if hit.height:
        raise DataError(file, f"no feedback rule matches ({hit.height} row(s)); add a rule or 'otherwise' to "
                        f"{where}", row=int(hit[ROW][0]))
    df = df.drop("_unlabeled")
    return df.drop([c for c in df.columns if c.startswith("_src_")])


def _feedback(df: pl.DataFrame, file: Path, fb: dict, where: str) -> pl.Expr:
    if "label" in fb:
        kinds = {**LABEL_KINDS, **(fb.get("kinds") or {})}
        flags = {}
        for key in ("label", "active"):
            col = f"_src_{fb[key]}"
            v = pl.col(col).str.strip_chars().str.to_lowercase()
            flag = pl.when(v.is_in(["1", "true", "1.0"])).then(1).when(v.is_in(["0", "false", "0.0"])).then(0)
            hit = df.filter(flag.is_null())
            if hit.height:
                found = hit[col][0]
                why = (f"empty value ({hit.height} row(s)): say 'unlabeled: empty' in feedback if these rows have no "
                       "feedback (scored, never in a history)" if found is None or not found.strip()
                       else f"expected 0 or 1, found {found!r}")
                raise DataError(file, why, row=int(hit[ROW][0]), column=fb[key])
            flags[key] = flag
        e, y = flags["active"], flags["label"]
        return (pl.when((e == 1) & (y == 1)).then(pl.lit(kinds["active_positive"]))
                .when(e == 1).then(pl.lit(kinds["active_negative"]))
                .when(y == 1).then(pl.lit(kinds["passive_positive"]))
                .otherwise(pl.lit(kinds["passive_negative"])))
    expr = pl.lit(fb.get("otherwise"), dtype=pl.Utf8)
    for i in reversed(range(len(fb["rules"]))):  # built back to front: the first rule that holds wins
        rule = fb["rules"][i]
        conds = rule["if"] if isinstance(rule["if"], list) else [rule["if"]]
        hold = pl.lit(True)
        for cond in conds:
            hold = hold & _holds(df, file, *_condition(cond, where, f"feedback.rules[{i}].if"))
        expr = pl.when(hold.fill_null(False)).then(pl.lit(rule["then"])).otherwise(expr)
    return expr


def _holds(df: pl.DataFrame, file: Path, column: str, op: str, value: object) -> pl.Expr:
    values = value if isinstance(value, list) else [value]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    col = pl.col(f"_src_{column}").str.strip_chars()
    if numeric:
        num = col.cast(pl.Float64, strict=False)
        hit = df.filter(num.is_null() & col.is_not_null() & (col != ""))
        if hit.height:
            raise DataError(file, f"cannot compare {hit[f'_src_{column}'][0]!r} with a number",
                            row=int(hit[ROW][0]), column=column)
        col, values = num, [float(v) for v in values]
    else:
        values = [str(v) for v in values]
    if op == "in":
        return col.is_in(values)
    v = values[0]
    return {"==": col == v, "!=": col != v, "<": col < v, "<=": col <= v, ">": col > v, ">=": col >= v}[op]
