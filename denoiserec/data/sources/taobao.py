"""Taobao ad display/click data (Tianchi "Ad Display/Click Data on Taobao.com", 2017).

Two layouts are read:

* the original folder: ``raw_sample.csv`` (user, time_stamp, adgroup_id, pid, nonclk, clk), ``ad_feature.csv``
  (adgroup_id, cate_id, campaign_id, customer, brand, price), ``user_profile.csv`` (userid, cms_segid, ...)
  and, with ``behavior=1``, ``behavior_log.csv`` (user, time_stamp, btag, cate, brand);
* the pre-joined layout (one CSV, e.g. FuxiCTR's ``train.csv``): clk, time_stamp, userid, adgroup_id, pid,
  cate_id, campaign_id, customer, brand, price, the profile columns and a ``^``-joined click_sequence.

Mapping: clk = 1 -> ``click`` (e=1, y=1); clk = 0 -> ``unclick`` (e=0, y=0); with ``behavior=1`` the
behaviour log adds pv -> ``view`` (e=0, y=1), cart -> ``cart``, fav -> ``fav``, buy -> ``buy`` (e=1, y=1) rows whose
item is ``brand:<brand>`` and context ``behavior`` (history for sequence features, not ad impressions).
Item = adgroup_id, category = cate_id, context = pid; ad and profile columns become f_* side features.
Sessions: a user's rows cut at pauses longer than ``gap`` seconds.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from denoiserec.data.sources._common import (
    DEFAULT_GAP,
    EPOCH_RANGE,
    ROW,
    check_range,
    check_values,
    datetime_expr,
    derive_sessions,
    find,
    finish,
    head_sample,
    header_by_content,
    hour_of,
    parse,
    read_text_table,
    with_kinds,
)
from denoiserec.errors import DataError

OPTIONS = {
    "gap": f"inactivity gap in seconds that ends a session (default {DEFAULT_GAP})",
    "behavior": "1 to add behavior_log.csv rows (pv/cart/fav/buy) to the log (default 0; the file is ~700M rows)",
    "file_split": "1 to keep the pre-joined layout's own split: files named *train* -> 0, *valid* -> 1, *test* -> 2",
}
SPLIT_NAMES = {"train": 0, "valid": 1, "test": 2}
AD_SIDE = ("campaign_id", "customer", "brand", "price")
PROFILE = ("cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
           "occupation", "new_user_class_level")
BTAGS = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "buy"}


def _time(column: str) -> pl.Expr:
    """Epoch seconds, or a ``YYYY-MM-DD HH:MM:SS`` string (the pre-joined layout)."""
    s = pl.col(column).str.strip_chars()
    return pl.coalesce(s.cast(pl.Int64, strict=False), datetime_expr(column, "%Y-%m-%d %H:%M:%S"))


def read(path: str | Path, gap: float = DEFAULT_GAP, behavior: int | str = 0,
         file_split: int | str = 0) -> pl.DataFrame:
    path = Path(path)
    behavior = str(behavior).lower() in ("1", "true", "yes")
    file_split = str(file_split).lower() in ("1", "true", "yes")
    raw = find(path, ["raw_sample*.csv"], "raw_sample.csv", required=False) if path.is_dir() else []
    if raw:
        df = _raw(path, raw)
    else:
        files = find(path, ["*sample*.csv", "*.csv"], "Taobao CSV")
        df = pl.concat([_joined(f, i, file_split) for i, f in enumerate(files)], how="diagonal_relaxed")
    if behavior:
        log = find(path, ["behavior_log*.csv"], "behavior_log.csv")
        df = pl.concat([df, *[_behavior(f) for f in log]], how="diagonal_relaxed")
    df = derive_sessions(df.with_columns(pl.col("_file").fill_null(-1), pl.col(ROW).fill_null(0)), float(gap),
                         order=["_file", ROW])
    return finish(with_kinds(df).with_columns(hour=hour_of()))


def _ads(df: pl.DataFrame, file: Path, user: str) -> pl.DataFrame:
    df = parse(df, file, {"clk": pl.Int8, "time_stamp": _time("time_stamp")})
    check_range(df, file, "time_stamp", *EPOCH_RANGE)
    check_values(df, file, "clk", [0, 1])
    for c in (user, "adgroup_id"):
        hit = df.filter(pl.col(c).is_null())
        if hit.height:
            raise DataError(file, "empty value", row=int(hit[ROW][0]), column=c)
    side = [pl.col(c).alias(f"f_{c}") for c in (*AD_SIDE, *PROFILE) if c in df.columns and c != "price"]
    if "price" in df.columns:
        side.append(pl.col("price").cast(pl.Float32, strict=False).alias("f_price"))
    opt = [pl.col(c).alias(a) for c, a in (("pid", "context"), ("cate_id", "category")) if c in df.columns]
    return df.select(
        ROW, *opt, *side, user=pl.col(user), item=pl.col("adgroup_id"), timestamp=pl.col("time_stamp"),
        feedback=pl.when(pl.col("clk") == 1).then(pl.lit("click")).otherwise(pl.lit("unclick")),
    )


def _joined(file: Path, i: int, file_split: bool) -> pl.DataFrame:
    df = read_text_table(file, required=("clk", "time_stamp", "userid", "adgroup_id"),
                         source="the Taobao pre-joined layout")
    df = _ads(df, file, "userid").with_columns(pl.lit(i).alias("_file"))
    if file_split:
        code = [v for k, v in SPLIT_NAMES.items() if k in file.stem.lower()]
        if len(code) != 1:
            raise DataError(file, f"file_split=1: the file name must contain one of {list(SPLIT_NAMES)}")
        df = df.with_columns(split=pl.lit(code[0], dtype=pl.Int8))
    return df


def _raw(folder: Path, raw: list[Path]) -> pl.DataFrame:
    parts = []
    for file in raw:
        df = read_text_table(file, required=("user", "time_stamp", "adgroup_id", "clk"),
                             source="Taobao's raw_sample.csv")
        if "nonclk" in df.columns:
            df = parse(df, file, {"nonclk": pl.Int8})
            hit = df.filter(pl.col("nonclk") + pl.col("clk").cast(pl.Int8, strict=False) != 1)
            if hit.height:
                raise DataError(file, "clk + nonclk must be 1", row=int(hit[ROW][0]), column="nonclk")
        parts.append(df)
    df = pl.concat(parts)
    for name, key, cols in (("ad_feature", "adgroup_id", ("cate_id", *AD_SIDE)), ("user_profile", "userid", PROFILE)):
        side = find(folder, [f"{name}*.csv"], f"{name}.csv", required=False)
        if side:
            on = "user" if key == "userid" else key
            tab = read_text_table(side[0], required=(key,), source=f"Taobao's {name}.csv").drop(ROW).rename({key: on})
            tab = tab.select(on, *[c for c in cols if c in tab.columns]).unique(on, keep="first")
            df = df.join(tab, on=on, how="left")
    return _ads(df, raw[0], "user").with_columns(pl.lit(0).alias("_file"))


def _behavior(file: Path) -> pl.DataFrame:
    """The behaviour log is ~700M rows: scanned lazily with a fixed schema, bad values named by column."""
    schema = {"user": pl.Utf8, "time_stamp": pl.Int64, "btag": pl.Utf8, "cate": pl.Utf8, "brand": pl.Utf8}
    header = header_by_content(head_sample(file), list(schema), {"time_stamp": pl.Int64})  # by content
    lf = pl.scan_csv(file, schema=schema, has_header=header)
    try:
        df = lf.select(
            user="user", item=pl.lit("brand:") + pl.col("brand"), timestamp="time_stamp",
            feedback=pl.col("btag").replace_strict(BTAGS, default=None), context=pl.lit("behavior"),
            category="cate", _bad=pl.col("btag"),
        ).collect()
    except pl.exceptions.PolarsError as e:
        raise DataError(file, f"cannot read: {str(e).splitlines()[0]}") from e
    bad = df.with_row_index(ROW, offset=1 + header).filter(pl.col("feedback").is_null())
    if bad.height:
        raise DataError(file, f"unknown btag {bad['_bad'][0]!r}; expected {list(BTAGS)}", row=int(bad[ROW][0]),
                        column="btag")
    return df.drop("_bad")
