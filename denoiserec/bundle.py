"""Model bundles: what a trained run leaves behind to score new rows (docs/serving.md).

A bundle is a folder, written atomically (temporary sibling + rename, :func:`denoiserec.io.output_dir`; it
replaces only an earlier bundle, never a foreign folder); its marker ``.denoiserec.json`` is the manifest: each
file's SHA-256, checked on load (:func:`denoiserec.io.check_files`), so a corrupt, truncated, shuffled or swapped
file is one error naming it, before anything is parsed::

    bundle.json              kind (ctr | seqrec), model module + hyper-parameters, method, seed, selected epoch,
                             metrics, feature spec, numeric statistics, config, library / torch versions
    model.safetensors        the selected epoch's weights (safetensors: no pickle, no optimiser state)
    vocabularies.parquet     field, value, id: the vocabularies fitted on the training split (0 = out of vocabulary)
    station_items.parquet    (seqrec only) station id, item id pairs of the training period (station filter)
    items.parquet            (CTR) the item table: each training item's latest attributes (:func:`item_table`),
                             what ``recommend`` gives a candidate that does not bring its own

``denoiserec.load(path)`` returns a :class:`CTRBundle` or a :class:`SeqBundle`. ``predict(log)`` takes a
canonical log (:mod:`denoiserec.data.schema`): the rows to score plus, for history features, the events before
them. A row without feedback (null ``label``) is scored but never enters anyone's history, so candidates can
be scored next to a history. Ids never seen in training map to the out-of-vocabulary id 0, exactly as in
training, and are counted in :attr:`Predictions.summary` instead of failing.

Both kinds hold the epoch training ended with: the best validation epoch (CTR: the trainer's ``restore_best``;
transformer: early stopping on the validation users, :func:`denoiserec.seqrec.train.train_model`). A transformer
bundle keeps its 'up' kinds as resolved on the training log (``up: auto``).
"""

from __future__ import annotations

import copy
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import torch

from denoiserec.errors import DataError
from denoiserec.settings import Count
from denoiserec.validate import check_args

if TYPE_CHECKING:
    from denoiserec.run_settings import CtrSettings

FORMAT = 1
META, WEIGHTS, VOCABS = "bundle.json", "model.safetensors", "vocabularies.parquet"
STATION_ITEMS = "station_items.parquet"
ITEMS = "items.parquet"
NOT_HEARD = ("unplayed", "unclick")  #: kinds of a song that was shown but never played


@dataclass
class Predictions:
    """Scores in the input's row order plus a summary (rows, out-of-vocabulary counts per field)."""

    scores: pl.DataFrame
    summary: dict = field(default_factory=dict)


def _versions() -> dict:
    from denoiserec._version import __version__

    return {"denoiserec": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _vocab_frame(vocabs: dict[str, pl.DataFrame | list[str]]) -> pl.DataFrame:
    parts = []
    for name, v in vocabs.items():
        if isinstance(v, list):
            v = pl.DataFrame({"value": v, "id": list(range(1, len(v) + 1))}, schema={"value": pl.Utf8, "id": pl.Int32})
        parts.append(v.select(pl.lit(name).alias("field"), pl.col("value").cast(pl.Utf8), pl.col("id").cast(pl.Int32)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"field": pl.Utf8, "value": pl.Utf8, "id": pl.Int32})


def _write(path: str | Path, meta: dict, model: torch.nn.Module, vocabs: pl.DataFrame,
           extra: dict[str, pl.DataFrame] | None = None) -> Path:
    from safetensors.torch import save_model

    from denoiserec.io import output_dir

    path = Path(path)
    with output_dir(path, "bundle", hashes=True) as tmp:  # replaces only a previous bundle; refuses others
        cpu = model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()  # caller's stays
        save_model(cpu, str(tmp / WEIGHTS))
        vocabs.write_parquet(tmp / VOCABS)
        for name, df in (extra or {}).items():
            df.write_parquet(tmp / name)
        (tmp / META).write_text(json.dumps({"format": FORMAT, **meta, "versions": _versions()}, indent=2,
                                           default=str) + "\n")
    return path


# --- CTR models ------------------------------------------------------------------------------------------------


#: item attribute: a field with at most this many distinct (item, value) pairs per item in training
ITEM_ATTRIBUTE_PAIRS = 1.05


def item_table(train: pl.DataFrame | pl.LazyFrame, spec) -> pl.DataFrame:
    """Each training item's latest attributes: the feature fields (categorical but user, item, hour and
    context; numeric) that are attributes of the item -- at most :data:`ITEM_ATTRIBUTE_PAIRS` distinct
    (item, value) pairs per item in ``train``, so a price that changed counts and a user's age or the station
    does not -- with each item's value at its last training row (by timestamp)."""
    lf = train.lazy()
    names = lf.collect_schema().names()
    fields = [c for c in (*spec.categorical, *spec.numeric) if c in names and c not in ("user", "item", "hour",
                                                                                       "context")]
    if not fields:
        return lf.select(pl.col("item").cast(pl.Utf8)).unique().sort("item").collect()
    counts = lf.select(pl.col("item").n_unique().alias("_items"),
                       *[pl.struct("item", c).n_unique().alias(c) for c in fields]).collect().row(0, named=True)
    attrs = [c for c in fields if counts[c] <= ITEM_ATTRIBUTE_PAIRS * counts["_items"]]
    order = [c for c in ("timestamp", "session", "position") if c in names]
    return (lf.sort(order).group_by("item").agg([pl.col(c).last() for c in attrs])
            .with_columns(pl.col("item").cast(pl.Utf8)).sort("item").collect())


def training_items(cfg: CtrSettings, rows: pl.DataFrame | None, spec) -> pl.DataFrame | None:
    """The item table of an experiment's training rows (``rows`` with a ``split`` column); a streamed log
    (``rows`` None) is split inside its store, so there the table is of the whole log file."""
    if rows is not None:
        return item_table(rows.lazy().filter(pl.col("split") == 0), spec)
    from denoiserec.data.store import _log_file, cache_dir

    file = _log_file(cfg.data, cache_dir(cfg.data), build=False)
    return item_table(pl.scan_parquet(file), spec) if file is not None and file.exists() else None


def save_ctr(path: str | Path, model: torch.nn.Module, encoder, model_module: str, model_params: dict,
             info: dict | None = None, items: pl.DataFrame | None = None) -> Path:
    """Save a CTR model (``Model(spec, **hparams)``) with its fitted :class:`~denoiserec.data.encoder.Encoder`
    and the item table (:func:`item_table`) of its training rows."""
    cfg = encoder.config
    meta = {
        "kind": "ctr", "model": model_module, "model_params": model_params,
        "spec": asdict(encoder.spec),
        "features": {"categorical": list(encoder.spec.categorical), "numeric": list(encoder.spec.numeric),
                     "sequences": {n: asdict(s) for n, s in cfg.sequences.items()}, "min_count": cfg.min_count},
        "num_stats": {c: list(v) for c, v in encoder.num_stats.items()},
        **(info or {}),
    }
    return _write(path, meta, model, _vocab_frame(encoder.vocabs), {ITEMS: items} if items is not None else None)


class CTRBundle:
    """A saved CTR model with its vocabularies: ``predict(log)``, ``recommend(history, candidates, k)``."""

    kind = "ctr"

    def __init__(self, path: Path, meta: dict, model: torch.nn.Module, encoder, items: pl.DataFrame | None = None):
        self.path, self.meta, self.model, self.encoder, self.items = path, meta, model, encoder, items

    @property
    def spec(self):
        return self.encoder.spec

    def _complete(self, log: pl.DataFrame) -> pl.DataFrame:
        """Fill what scoring needs but a plain table of rows may lack (no feedback = a candidate row)."""
        _require(log, "log", ("user", "item"))
        from denoiserec.data.kinds import FEEDBACK_KINDS

        if "feedback" in log.columns:
            bad = log.filter(pl.col("feedback").is_not_null() & ~pl.col("feedback").is_in(list(FEEDBACK_KINDS)))
            if bad.height:
                raise DataError("log", f"unknown feedback kind {bad['feedback'][0]!r}; known: {list(FEEDBACK_KINDS)}",
                                column="feedback")
            for c, j in (("active", 0), ("label", 1)):  # from the kind, as the sources do
                if c not in log.columns:
                    log = log.with_columns(pl.col("feedback").replace_strict(
                        {k: v[j] for k, v in FEEDBACK_KINDS.items()}, default=None, return_dtype=pl.Int8).alias(c))
        fill = {"timestamp": pl.lit(0, pl.Int64), "feedback": pl.lit(None, pl.Utf8),
                "label": pl.lit(None, pl.Int8), "active": pl.lit(None, pl.Int8),
                "session": pl.col("user").cast(pl.Utf8) + ":" + pl.col("timestamp").cast(pl.Utf8),
                "position": pl.lit(0, pl.Int32)}
        for c, e in fill.items():
            if c not in log.columns:
                log = log.with_columns(e.alias(c))
        for c, dtype in (("timestamp", pl.Int64), ("position", pl.Int32)):
            wrong = log.select(pl.col(c).is_not_null() & pl.col(c).cast(dtype, strict=False).is_null()).to_series()
            if wrong.any():
                i = int(wrong.arg_true()[0])  # line i + 2 of a file with a header line, as the sources count
                raise DataError("log", f"{log[c][i]!r} is not a whole number (Unix seconds for a timestamp)",
                                row=i + 2, column=c)
        if "hour" in self.spec.categorical and "hour" not in log.columns:
            log = log.with_columns(hour=((pl.col("timestamp") // 3600) % 24).cast(pl.Int8))
        for c in self.spec.categorical:
            if c not in log.columns:
                log = log.with_columns(pl.lit(None, pl.Utf8).alias(c))
        for c in self.spec.numeric:
            if c not in log.columns:
                log = log.with_columns(pl.lit(None, pl.Float64).alias(c))
        return log.with_columns(pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8),
                                pl.col("session").cast(pl.Utf8), pl.col("position").cast(pl.Int32),
                                pl.col("timestamp").cast(pl.Int64))

    def encode(self, log: pl.DataFrame, rows: np.ndarray | None = None):
        """(EncodedTensors of every row, out-of-vocabulary counts per field over ``rows``, default all)."""
        log = self._complete(log)
        data = self.encoder.transform(log)
        cat = data["cat"] if rows is None else data["cat"][torch.from_numpy(rows)]
        oov = {c: int((cat[:, i] == 0).sum()) for i, c in enumerate(self.spec.categorical)}
        return data, oov

    def logits(self, log: pl.DataFrame, batch_size: int = 32768,
               rows: np.ndarray | None = None) -> tuple[torch.Tensor, dict]:
        from denoiserec.train.trainer import TrainConfig, Trainer

        data, oov = self.encode(log, rows)
        trainer = Trainer(TrainConfig(device="cpu", progress=False, eval_batch_size=batch_size))
        return trainer.predict(self.model, data), oov

    def predict(self, log: pl.DataFrame, batch_size: Count = 32768) -> Predictions:
        """One score per row of ``log``, in its order: ``logit`` (the trainer's output) and ``score`` = σ(logit)."""
        check_args(self.predict, batch_size=batch_size)
        logit, oov = self.logits(log, batch_size)
        keep = [c for c in ("user", "item", "timestamp", "session", "position") if c in log.columns]
        scores = log.select(keep).with_row_index("row").with_columns(
            logit=pl.Series(logit.numpy()), score=pl.Series(torch.sigmoid(logit).numpy()))
        return Predictions(scores, {"rows": log.height, "oov": oov})

    def recommend(self, history: pl.DataFrame, candidates: pl.DataFrame | None = None, k: Count = 20,
                  users: list[str] | None = None, exclude_heard: bool = False,
                  exclude_disliked: bool = True) -> Predictions:
        """Rank each user's candidate rows (``user``, ``item`` and any context or attribute columns) after their
        history: a candidate is scored as the next event after the user's last one (``timestamp`` = last + 1 s
        unless given). Item attributes a candidate does not bring (artist, genre, price ...) are the item's own,
        from the bundle's item table (its latest training values; an item not in it gets none, counted as
        ``unknown_items``); a context field it lacks (e.g. ``context``) takes the user's last value; ``hour``
        follows from the timestamp. ``candidates=None``: every item of the item table for every user of
        ``history`` (or ``users``), less the songs heard (``exclude_heard``: any kind but unplayed / unclick)
        and disliked (``exclude_disliked``) in ``history``, as the transformer's ``recommend``. The best ``k``
        per user; OOV counts are over the candidates."""
        check_args(self.recommend, k=k)
        _require(history, "history", ("user", "item"))
        if candidates is not None:
            _require(candidates, "candidates", ("user", "item"))
        history = history.with_columns(pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8))
        if candidates is None:
            if self.items is None:
                raise DataError(self.path, f"no item table ({ITEMS}): this bundle predates it; pass candidates")
            who = pl.DataFrame({"user": sorted(set(users) if users else set(history["user"].unique().to_list()))},
                               schema={"user": pl.Utf8})
            candidates = who.join(self.items.select("item"), how="cross")
            drop = []
            if exclude_heard and "feedback" in history.columns:
                drop.append(~pl.col("feedback").is_in(list(NOT_HEARD)))
            if exclude_disliked and "feedback" in history.columns:
                from denoiserec.data.sequences import DEFAULT_DOWN

                drop.append(pl.col("feedback").is_in(list(DEFAULT_DOWN)))
            if drop:
                gone = history.filter(pl.any_horizontal(drop)).select("user", "item").unique()
                candidates = candidates.join(gone, on=["user", "item"], how="anti")
        cand = candidates.with_columns(pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8))
        if users:
            cand = cand.filter(pl.col("user").is_in(users))
        unknown = 0
        if self.items is not None:
            own = [c for c in self.items.columns if c != "item" and c not in cand.columns]
            if own:
                cand = cand.join(self.items.select("item", *own), on="item", how="left")
            unknown = int((~cand["item"].is_in(self.items["item"].implode())).sum())
        inherit = [c for c in self.spec.categorical
                   if c not in cand.columns and c not in ("user", "item", "hour") and c in history.columns]
        order = [c for c in ("timestamp", "session", "position") if c in history.columns]
        last = (history.sort(order).group_by("user").agg(pl.col("timestamp").last().alias("_last"),
                                                          *[pl.col(c).last() for c in inherit])
                if history.height and order else pl.DataFrame(schema={"user": pl.Utf8, "_last": pl.Int64}))
        cand = cand.join(last, on="user", how="left")
        if "timestamp" not in cand.columns:
            cand = cand.with_columns(timestamp=(pl.col("_last").fill_null(0) + 1).cast(pl.Int64))
        cand = cand.drop("_last")
        if "hour" in self.spec.categorical and "hour" not in candidates.columns:
            cand = cand.with_columns(hour=((pl.col("timestamp") // 3600) % 24).cast(pl.Int8))
        cand = cand.with_columns(session=pl.col("user") + ":candidates", position=pl.lit(0, pl.Int32),
                                 feedback=pl.lit(None, pl.Utf8), label=pl.lit(None, pl.Int8),
                                 active=pl.lit(None, pl.Int8), _candidate=pl.lit(True))
        hist = history.with_columns(_candidate=pl.lit(False))
        both = pl.concat([hist, cand.select([c for c in cand.columns if c in hist.columns or c == "_candidate"])],
                         how="diagonal_relaxed")
        is_cand = both["_candidate"].to_numpy()
        logit, oov = self.logits(both.drop("_candidate"), rows=np.flatnonzero(is_cand))
        scored = both.filter(pl.Series(is_cand)).select("user", "item").with_columns(
            score=pl.Series(torch.sigmoid(logit[torch.from_numpy(is_cand)]).numpy()))
        return _recommended(_top_k(scored, k), users, k, {"users": scored["user"].n_unique(),
                                                          "candidates": scored.height, "unknown_items": unknown,
                                                          "oov": oov})


def _require(frame: pl.DataFrame, what: str, columns: tuple[str, ...]) -> None:
    """A :class:`DataError` naming ``what`` (the frame's role: ``log``, ``history``, ``candidates``; the CLI names
    the file it read) at the first of ``columns`` the frame lacks."""
    for c in columns:
        if c not in frame.columns:
            raise DataError(what, f"missing required column {c!r}", column=c)


def _recommended(recs: pl.DataFrame, users: list[str] | None, k: int, summary: dict) -> Predictions:
    """A recommendation result; an empty list (no row, or users asked for who got none) is a warning
    (:func:`denoiserec.notices.recommendation_warning`), printed and kept in ``summary["warnings"]``."""
    from denoiserec.notices import recommendation_warning, warn

    if w := recommendation_warning(recs, [str(u) for u in users] if users else None, k):
        summary["warnings"] = [warn(w)]
    return Predictions(recs, summary)


def _top_k(scored: pl.DataFrame, k: int) -> pl.DataFrame:
    ranked = scored.sort(["user", "score", "item"], descending=[False, True, False])
    ranked = ranked.with_columns(rank=pl.int_range(1, pl.len() + 1).over("user").cast(pl.Int32))
    return ranked.filter(pl.col("rank") <= k).select("user", "rank", "item", "score")


# --- the negative-feedback transformer -------------------------------------------------------------------------


def save_seqrec(path: str | Path, model: torch.nn.Module, data, model_config, sequence_config: dict,
                info: dict | None = None) -> Path:
    """Save a trained :class:`~denoiserec.seqrec.transformer.NegFeedbackTransformer` with its item and station
    vocabularies (``data``: the :class:`~denoiserec.seqrec.train.SeqData` it was trained on)."""
    from denoiserec.data.sequences import SequenceConfig

    seq = data.train
    features = asdict(SequenceConfig.from_dict(sequence_config))
    features["up"] = list(data.seq.up_kinds)  # 'auto' as resolved on the training log
    meta = {"kind": "seqrec", "model": "negfeedback_transformer",
            "model_params": {"n_items": seq.n_items, "n_stations": seq.n_stations, **asdict(model_config)},
            "sequences": features, **(info or {})}
    pairs = pl.DataFrame({"station": seq.station, "item": seq.item}).unique().sort(["station", "item"])
    return _write(path, meta, model, _vocab_frame({"item": list(seq.items), "station": list(seq.stations)}),
                  {STATION_ITEMS: pairs})


def all_item_scores(model: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Scores ``[B, n_items]`` of every song (column i - 1 = item id i) for query states ``[B, E]``: the
    transformer's ``score(h, i) = h · E_song[i + 1] + b[i + 1]`` as one matrix product instead of a
    ``[B, n_items, E]`` broadcast (same values up to float rounding; tests compare the two)."""
    return (hidden @ model.song.weight[2:].T + model.bias.weight[2:, 0]).float()


class SeqBundle:
    """A saved negative-feedback transformer: ``recommend(history, k)`` and ``predict(log)``."""

    kind = "seqrec"

    def __init__(self, path: Path, meta: dict, model: torch.nn.Module, vocabs: pl.DataFrame,
                 station_items: pl.DataFrame):
        from denoiserec.data.sequences import DOWN, SKIP, UP

        self.path, self.meta, self.model = path, meta, model
        self.items = vocabs.filter(pl.col("field") == "item").sort("id")["value"].to_list()
        self.stations = vocabs.filter(pl.col("field") == "station").sort("id")["value"].to_list()
        self.station_items = station_items
        s = meta["sequences"]
        self.kind_type = {**{k: UP for k in s["up"]}, **{k: SKIP for k in s["skip"]}, **{k: DOWN for k in s["down"]}}
        self.station_column = s.get("station")

    def events(self, log: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        """The log's up/skip/down events in time order with item / station ids (0: out of vocabulary)."""
        _require(log, "history", ("user", "item", "timestamp", "feedback"))
        order = [c for c in ("user", "timestamp", "session", "position") if c in log.columns]
        st = self.station_column if self.station_column in log.columns else None
        d = (log.with_row_index("_row").filter(pl.col("feedback").is_in(list(self.kind_type)))
             .with_columns(pl.col("user").cast(pl.Utf8), pl.col("item").cast(pl.Utf8)).sort([*order, "_row"]))
        item_id = {v: i + 1 for i, v in enumerate(self.items)}
        station_id = {v: i + 1 for i, v in enumerate(self.stations)}
        d = d.with_columns(
            _fb=pl.col("feedback").replace_strict(self.kind_type, return_dtype=pl.Int64),
            _item=pl.col("item").replace_strict(item_id, default=0, return_dtype=pl.Int64),
            _station=(pl.col(st).cast(pl.Utf8).replace_strict(station_id, default=0, return_dtype=pl.Int64)
                      if st else pl.lit(0, pl.Int64)))
        return d, {"events": d.height, "oov": {"item": int((d["_item"] == 0).sum()),
                                               "station": int((d["_station"] == 0).sum()) if st else 0}}

    def _query(self, tokens: np.ndarray, fb: np.ndarray, station: np.ndarray, q_station: np.ndarray,
               batch_size: int = 1024) -> torch.Tensor:
        """Hidden state of a mask token (type 'up', at ``q_station``) appended to each left-padded history."""
        from denoiserec.data.sequences import UP
        from denoiserec.seqrec.transformer import MASK_TOKEN

        n = len(q_station)
        tokens = np.concatenate([tokens, np.full((n, 1), MASK_TOKEN)], 1)
        fb = np.concatenate([fb, np.full((n, 1), UP)], 1)
        station = np.concatenate([station, q_station[:, None]], 1)
        self.model.eval()
        out = []
        with torch.no_grad():
            for a in range(0, n, batch_size):
                part = [torch.as_tensor(x[a:a + batch_size], dtype=torch.long) for x in (tokens, fb, station)]
                out.append(self.model(*part)[:, -1].float())
        return torch.cat(out) if out else torch.zeros(0, self.model.song.embedding_dim)

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        return all_item_scores(self.model, hidden)

    def _histories(self, d: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For every event of ``d`` (sorted by user and time): the user's earlier input-eligible events, as the
        model was trained (in-vocabulary items; 'up' only without feedback inputs), left-padded to max_len - 1."""
        from denoiserec.data.history import group_starts, history
        from denoiserec.data.sequences import UP

        L = self.model.max_len - 1
        fb, item, station = d["_fb"].to_numpy(), d["_item"].to_numpy(), d["_station"].to_numpy()
        mask = item > 0
        if not self.model.feedback_inputs:
            mask &= fb == UP
        start = group_starts(d["user"].to_numpy())
        tok, fbs = history(item + 1, fb, mask, start, L)
        sts, _ = history(station, fb, mask, start, L)
        if not self.model.feedback_inputs:
            fbs = np.zeros_like(fbs)
        return tok.astype(np.int64), fbs.astype(np.int64), sts.astype(np.int64), mask

    def predict(self, log: pl.DataFrame, batch_size: Count = 1024) -> Predictions:
        """Score every up/skip/down row's item given the user's earlier events in ``log`` (at the row's station),
        as the test protocol does; rows of other kinds and out-of-vocabulary items get a null score."""
        check_args(self.predict, batch_size=batch_size)
        d, summary = self.events(log)
        tok, fbs, sts, _ = self._histories(d)
        h = self._query(tok, fbs, sts, d["_station"].to_numpy(), batch_size)
        item = torch.as_tensor(d["_item"].to_numpy(writable=True))
        with torch.no_grad():
            s = self.model.score(h, item.clamp_min(1)[:, None]).squeeze(-1).numpy() if len(item) else np.zeros(0)
        s = np.where(d["_item"].to_numpy() > 0, s, np.nan)
        scored = d.select("_row", score=pl.Series(s, dtype=pl.Float32).fill_nan(None))
        keep = [c for c in ("user", "item", "timestamp", "feedback") if c in log.columns]
        out = log.select(keep).with_row_index("row").join(scored.rename({"_row": "row"}), on="row", how="left")
        return Predictions(out.sort("row"), {"rows": log.height, **summary})

    def recommend(self, history: pl.DataFrame, k: Count = 20, users: list[str] | None = None,
                  exclude_heard: bool = False, exclude_disliked: bool = True, station: str | None = None,
                  station_only: bool = False, batch_size: Count = 256) -> Predictions:
        """The next ``k`` songs for each user (all users of ``history`` unless ``users``) from their last events.

        The query is a mask token after the user's history, at ``station`` (default: the station of the user's
        last event). ``exclude_heard`` drops every song played to the user in ``history`` (any kind but
        unplayed / unclick), ``exclude_disliked`` the songs with a 'down' (thumb-down) there; ``station_only``
        keeps the songs played at that station in training.
        """
        check_args(self.recommend, k=k, batch_size=batch_size)
        from denoiserec.data.sequences import DOWN, UP

        d, summary = self.events(history)
        if users is not None:
            d = d.filter(pl.col("user").is_in([str(u) for u in users]))
        names = sorted(set(users) if users is not None else set(d["user"].unique().to_list()))
        if station is not None and station not in self.stations:
            summary["oov"]["query_station"] = 1
        q_station_fixed = self.stations.index(station) + 1 if station in self.stations else 0
        L = self.model.max_len - 1
        mask = d["_item"] > 0
        if not self.model.feedback_inputs:
            mask = mask & (d["_fb"] == UP)
        n = len(names)
        row_of = pl.DataFrame({"user": names, "_r": np.arange(n, dtype=np.int64)}, schema={"user": pl.Utf8,
                                                                                       "_r": pl.Int64})
        inp = (d.filter(mask).with_columns(_back=pl.int_range(pl.len(), 0, -1).over("user"))  # 1 = the last event
               .filter(pl.col("_back") <= L).join(row_of, on="user"))
        r, c = inp["_r"].to_numpy(), L - inp["_back"].to_numpy()
        tok, fbs, sts = (np.zeros((n, L), np.int64) for _ in range(3))
        tok[r, c], sts[r, c] = inp["_item"].to_numpy() + 1, inp["_station"].to_numpy()
        if self.model.feedback_inputs:
            fbs[r, c] = inp["_fb"].to_numpy()
        if station is not None:
            q_station = np.full(n, q_station_fixed, dtype=np.int64)
        else:  # the station of each user's last event
            lasts = d.group_by("user").agg(pl.col("_station").last()).join(row_of, on="user")
            q_station = np.zeros(n, dtype=np.int64)
            q_station[lasts["_r"].to_numpy()] = lasts["_station"].to_numpy()
        h = self._query(tok, fbs, sts, q_station)
        n_items = len(self.items)
        ban = None
        if exclude_heard:  # every song played to the user, whatever its kind (not only up/skip/down)
            item_id = {v: i + 1 for i, v in enumerate(self.items)}
            heard = history.filter(~pl.col("feedback").is_in(NOT_HEARD)).select(
                pl.col("user").cast(pl.Utf8),
                _item=pl.col("item").cast(pl.Utf8).replace_strict(item_id, default=0, return_dtype=pl.Int64))
            ban = heard.filter(pl.col("_item") > 0).join(row_of, on="user").select("_r", "_item")
        elif exclude_disliked:
            ban = d.filter((pl.col("_item") > 0) & (pl.col("_fb") == DOWN)).join(row_of, on="user").select(
                "_r", "_item")
        allowed = None
        if station_only:
            allowed = np.zeros((n, n_items), bool)
            pairs = self.station_items.join(pl.DataFrame({"station": q_station, "_r": np.arange(n)}), on="station")
            allowed[pairs["_r"].to_numpy(), pairs["item"].to_numpy() - 1] = True
        parts = []
        with torch.no_grad():
            for a in range(0, n, batch_size):
                s = self.scores(h[a:a + batch_size])
                if allowed is not None:
                    s[~torch.from_numpy(allowed[a:a + batch_size])] = -torch.inf
                if ban is not None:
                    part = ban.filter((pl.col("_r") >= a) & (pl.col("_r") < a + batch_size))
                    s[torch.from_numpy(part["_r"].to_numpy() - a), torch.from_numpy(part["_item"].to_numpy() - 1)] \
                        = -torch.inf
                top = torch.topk(s, min(k, n_items), dim=1)
                rank = np.broadcast_to(np.arange(1, top.values.shape[1] + 1), top.values.shape)
                rows = np.broadcast_to(np.arange(a, a + s.shape[0])[:, None], top.values.shape)
                ok = torch.isfinite(top.values).numpy()
                parts.append(pl.DataFrame({"_r": rows[ok], "rank": rank[ok].astype(np.int32),
                                           "_i": top.indices.numpy()[ok], "score": top.values.numpy()[ok]}))
        items = pl.Series(self.items, dtype=pl.Utf8)
        recs = (pl.concat(parts) if parts else pl.DataFrame(schema={"_r": pl.Int64, "rank": pl.Int32,
                                                                    "_i": pl.Int64, "score": pl.Float32}))
        recs = recs.select(user=pl.Series(names, dtype=pl.Utf8).gather(recs["_r"]), rank="rank",
                           item=items.gather(recs["_i"]), score="score")
        return _recommended(recs, users, k, {"users": n, **summary})


# --- loading ---------------------------------------------------------------------------------------------------


def _check_sizes(path: Path, make) -> None:
    """Build the model ``bundle.json`` describes on the meta device (nothing allocated) and refuse it when a
    tensor's shape differs from the one stored in the weights file: no size is taken from metadata unchecked.
    Weights of the layout before the fused first-order column are compared as :func:`_load_weights` reads them."""
    from safetensors import safe_open

    from denoiserec.nn.layers import first_order_pairs

    try:
        with torch.device("meta"):
            model = make()
            wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    except (NotImplementedError, RuntimeError):  # a model that cannot be built on the meta device: not checked here
        return
    with safe_open(str(path / WEIGHTS), "pt") as f:
        stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
    for table, old in first_order_pairs(model):
        if old in stored and len(stored.get(table, ())) == 2 and stored[old][0] == stored[table][0]:
            stored[table] = (stored[table][0], stored[table][1] + stored.pop(old)[1])
    bad = [k for k in wanted if k in stored and wanted[k] != stored[k]]
    if bad:
        k = bad[0]
        raise DataError(path / META, f"describes a model whose {k} has shape {list(wanted[k])}, but {WEIGHTS} "
                        f"holds {list(stored[k])} ({len(bad)} such tensor(s)); write the bundle again")


def _load_weights(model: torch.nn.Module, file: Path) -> None:
    """The weights file into ``model``; a file of the layout before the fused first-order column (FM, DeepFM,
    Wide&Deep, xDeepFM, DFN bundles written before it) is read into today's layout (:func:`fuse_first_order`)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, load_model

    from denoiserec.nn.layers import first_order_pairs, fuse_first_order

    pairs = first_order_pairs(model)
    with safe_open(str(file), "pt") as f:
        old_layout = any(old in f.keys() for _, old in pairs)  # noqa: SIM118 - not a dict
    if not old_layout:
        load_model(model, str(file))
        return
    model.load_state_dict(fuse_first_order(load_file(str(file)), model), strict=True)


def load(path: str | Path) -> CTRBundle | SeqBundle:
    """Load a bundle folder written by ``train`` / ``run`` (``<results>/bundles/<run>``)."""
    from safetensors.torch import load_model

    from denoiserec.io import check_files

    path = Path(path)
    if not (path / META).is_file():
        raise DataError(path, f"not a model bundle (no {META}); bundles are under <results>/bundles/")
    check_files(path, "bundle")  # every file as written: a corrupt, truncated or swapped file is named here
    meta = json.loads((path / META).read_text())
    if meta.get("format") != FORMAT:
        raise DataError(path / META, f"bundle format {meta.get('format')!r} is not supported (expected {FORMAT})")
    vocabs = pl.read_parquet(path / VOCABS)
    if meta["kind"] == "seqrec":
        from denoiserec.seqrec.transformer import NegFeedbackTransformer

        _check_sizes(path, lambda: NegFeedbackTransformer(**meta["model_params"]))
        model = NegFeedbackTransformer(**meta["model_params"])
        load_model(model, str(path / WEIGHTS))
        model.eval()
        return SeqBundle(path, meta, model, vocabs, pl.read_parquet(path / STATION_ITEMS))
    from denoiserec.data.encoder import Encoder
    from denoiserec.data.features import FeatureConfig, HistoryConfig
    from denoiserec.data.spec import FeatureSpec
    from denoiserec.models import build_model

    spec = FeatureSpec(**{k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                          for k, v in meta["spec"].items()})
    f = meta["features"]
    enc = Encoder(FeatureConfig(categorical=f["categorical"], numeric=f["numeric"], min_count=f["min_count"],
                                sequences={n: HistoryConfig(**{**s, "kinds": tuple(s["kinds"]) if s["kinds"]
                                                                else None}) for n, s in f["sequences"].items()}))
    enc.spec = spec
    enc.vocabs = {c: vocabs.filter(pl.col("field") == c).select("value", "id").sort("id") for c in spec.categorical}
    enc.num_stats = {c: (float(m), float(s)) for c, (m, s) in meta["num_stats"].items()}
    _check_sizes(path, lambda: build_model(meta["model"], spec, **meta["model_params"]))
    model = build_model(meta["model"], spec, **meta["model_params"])
    _load_weights(model, path / WEIGHTS)
    model.eval()
    return CTRBundle(path, meta, model, enc, pl.read_parquet(path / ITEMS) if (path / ITEMS).is_file() else None)


def selected_epoch(history: list[dict], monitor: str, restore_best: bool = True) -> int | None:
    """The 0-based epoch whose weights the trainer ended with: the best on validation, or the last one."""
    key = f"valid_{monitor}"
    scored = [(r[key], r["epoch"]) for r in history if key in r and r[key] == r[key]]
    if not history:
        return None
    if not restore_best or not scored:
        return history[-1]["epoch"]
    pick = min if monitor == "logloss" else max
    return pick(scored, key=lambda t: t[0])[1]


def save_run_bundle(path: str | Path, model: torch.nn.Module, encoder, result: dict, train_cfg, config: CtrSettings,
                    items: pl.DataFrame | None = None) -> Path:
    """The hook of :func:`denoiserec.experiment.run_experiment`: one CTR bundle per finished run."""
    info = {k: result[k] for k in ("method", "method_module", "method_params", "seed", "test", "valid",
                                   "fingerprint") if k in result}
    info.update(run=Path(path).name, data=config.given("data"), split=config.given("split"), train=asdict(train_cfg),
                selected_epoch=selected_epoch(result["history"], train_cfg.monitor, train_cfg.restore_best))
    return save_ctr(path, model, encoder, result["model_module"], result["model_params"], info, items)
