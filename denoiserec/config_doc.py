"""``docs/config.md``, generated from the declarations the config check uses: the top-level and ``data`` keys
(:data:`denoiserec.config_check.TOP_KEYS`, ``DATA_KEYS``), the dataclasses and signatures checked key by key
(``SimConfig``, ``split``, ``FeatureConfig``/``HistoryConfig``, ``TrainConfig``, every model's and method's
constructor) with the ranges and allowed values declared on them (:mod:`denoiserec.settings`). A key's
meaning is its declaration's trailing comment, else :data:`MEANINGS`. ``tests/test_config_doc.py`` fails when
the file and the declarations drift; regenerate with ``python -m denoiserec.config_doc > docs/config.md``.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize

#: meanings of the keys whose declaration carries no trailing comment
MEANINGS = {
    "data.simulate.users": "number of users",
    "data.simulate.items": "number of tracks",
    "data.simulate.artists": "number of artists",
    "data.simulate.genres": "number of genres",
    "data.simulate.max_len": "longest recommended playlist",
    "data.simulate.seed": "random seed (same seed, same log)",
    "noise.seed": "seed of the flips (the same seed flips the same rows)",
    "split.how": "temporal (by time), random (rows or sessions), user (whole users), user_temporal (each user's "
                 "last rows)",
    "split.seed": "seed of the random splits",
    "split.fractions": "train / valid / test shares (three numbers summing to 1, valid and test > 0)",
    "split.unit": "what `random` draws: rows or whole sessions",
    "split.test_days": "temporal: the last days as test (instead of fractions)",
    "split.valid_days": "temporal with test_days: the days before the test period as valid",
    "features.categorical": "categorical columns to encode (null: every one present)",
    "features.numeric": "numeric columns to encode (null: every one present)",
    "features.min_count": "values seen fewer times in train map to the out-of-vocabulary id",
    "features.sequences": "name -> a history feature (below); presets: hist, click, unclick, like, dislike, all",
    "features.sequences.<name>.max_len": "the user's last max_len events",
    "features.sequences.<name>.kinds": "feedback kinds kept (null: any)",
    "features.sequences.<name>.label": "label kept (null: any)",
    "train.epochs": "training epochs (at most; early stopping may end sooner)",
    "train.batch_size": "rows per optimiser step (fewer than 10 steps per epoch: a warning)",
    "train.lr": "Adam learning rate",
    "train.weight_decay": "Adam weight decay",
    "train.eval_batch_size": "rows per forward pass when scoring",
    "train.seed": "set by the runner from `seeds`",
    # the seqrec task's sections (denoiserec.tasks.seqrec.sections)
    "seqrec.features.up": "feedback kinds that count as 'up' (auto: explicit positives where the log has any)",
    "seqrec.features.skip": "feedback kinds that count as 'skip'",
    "seqrec.features.down": "feedback kinds that count as 'down' (explicit negatives)",
    "seqrec.features.day_seconds": "seconds in a day (the cascade's same-day tier)",
    "seqrec.split.valid_frac": "share of the users held out for validation",
    "seqrec.model.dim": "embedding and hidden size",
    "seqrec.model.layers": "transformer layers",
    "seqrec.model.heads": "attention heads",
    "seqrec.model.dropout": "dropout rate",
    "seqrec.model.max_len": "input window: the user's last max_len events",
    "seqrec.model.positional": "learned positional embeddings",
    "seqrec.model.feedback_inputs": "feedback-type embeddings and skip/down inputs (false: the paper's up-only "
                                    "baseline)",
    "seqrec.train.p_mask": "share of the 'up' positions masked per window",
    "seqrec.train.p_hard": "chance that a masked position's negative is hard (the explicit-negative cascade)",
    "seqrec.split.test_days": "the last days as the test period (instead of test_frac)",
    "seqrec.train.batch_size": "training windows per optimiser step",
    "seqrec.train.lr": "Adam learning rate",
    "seqrec.train.weight_decay": "Adam weight decay",
    "seqrec.train.threads": "torch CPU threads (null: torch's default)",
    "seqrec.train.device": "auto | cpu | cuda",
    "seqrec.train.progress": "progress bars (set by the command line)",
    "seqrec.eval.k": "cut-offs of recall@k and the other top-k metrics",
    "seqrec.eval.batch_size": "users per forward pass when scoring",
}

_SKIP = {"train": {"seed", "checkpoint", "progress"}}  # set by the runner


def _comments(cls) -> dict[str, str]:
    """``field: type = default  # comment`` -> {field: comment} from the class's source."""
    out, line_field = {}, {}
    src = inspect.getsource(cls)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.start[0] not in line_field:
            line_field[tok.start[0]] = tok.string
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            out.setdefault(line_field[tok.start[0]], tok.string.lstrip("# ").strip())
    return out


def _fmt(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, tuple):
        v = list(v)
    return f"`{v}`".replace("|", "\\|")


def _row(key: str, hint: object, default: object, rule, meaning: str) -> str:
    from denoiserec.settings import allowed_text, type_text

    typ = type_text(hint).replace("|", "\\|")
    allowed = allowed_text(hint) or (getattr(rule, "text", "") if rule else "")
    return f"| `{key}` | {typ} | {default} | {allowed or '–'} | {meaning.replace('|', chr(92) + '|')} |"


def _fields_table(prefix: str, cls, rules: dict | None = None, skip: set = frozenset(), lookup: str | None = None
                  ) -> list[str]:
    import typing

    comments = _comments(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = (_fmt(f.default) if f.default is not dataclasses.MISSING
                   else _fmt(f.default_factory()) if f.default_factory is not dataclasses.MISSING else "required")
        meaning = comments.get(f.name) or MEANINGS.get(f"{lookup or prefix}.{f.name}", "")
        rows.append(_row(f"{prefix}.{f.name}", hints.get(f.name, f.type), default, (rules or {}).get(f.name),
                         meaning))
    across = [r.text for r in getattr(cls, "settings_rules", ())]
    return rows + (["", "Also checked: " + "; ".join(across) + "."] if across else [])


def _params(fn, skip: tuple = ()) -> list[tuple[str, object, object]]:
    """``(name, type, default)`` of ``fn``'s keyword parameters (a class: its constructor's, with its bases' where
    it passes ``**kwargs`` on), as the config check reads them."""
    from denoiserec.validate import signature_params

    params, hints, _ = signature_params(fn)
    return [(n, hints.get(n, type(p.default) if p.default is not p.empty else p.empty), p.default)
            for n, p in params.items() if n not in skip]


def _params_table(prefix: str, fn, rules: dict | None = None, skip: tuple = ()) -> list[str]:
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, hint, default in _params(fn, skip):
        rows.append(_row(f"{prefix}.{name}", hint, "required" if default is inspect.Parameter.empty else _fmt(default),
                         (rules or {}).get(name), MEANINGS.get(f"{prefix}.{name}", "")))
    return rows


def _hparams(kind: str, names: list[str], cls_of) -> list[str]:
    from denoiserec.settings import allowed_text, type_text

    rows = [f"| {kind} | hyper-parameters (type = default, allowed) |", "|---|---|"]
    for name in names:
        params = []
        for k, hint, default in _params(cls_of(name), skip=("self", "spec")):
            allowed = allowed_text(hint)
            shown = "required" if default is inspect.Parameter.empty else _fmt(default)
            params.append(f"`{k}`: {type_text(hint)} = {shown}" + (f" ({allowed})" if allowed else ""))
        params += [f"{r.text}" for r in getattr(cls_of(name), "settings_rules", ())]
        rows.append(f"| `{name}` | {'; '.join(params).replace('|', '/') or '–'} |")
    return rows


def render() -> str:
    from denoiserec import methods, models
    from denoiserec.config_check import DATA_KEYS, TOP_KEYS
    from denoiserec.data import split
    from denoiserec.data.features import FeatureConfig, HistoryConfig
    from denoiserec.data.noise import LabelNoise
    from denoiserec.data.simulate import SimConfig
    from denoiserec.train.trainer import TrainConfig

    out = ["# Config keys", "",
           "<!-- generated by `python -m denoiserec.config_doc > docs/config.md` from the declarations the config "
           "check uses; tests/test_config_doc.py fails when they drift -->", "",
           "Every key of a CTR experiment config (`denoiserec run CONFIG`, `--set key=value` on `run`, `train` and "
           "`demo`, `denoiserec.run(config)`, `denoiserec.fit(..., key=value)`), as checked before any data is "
           "read: a bad value is one error naming the key. `allowed` is the range or set the check enforces "
           "(– : any value of the type). The `seqrec` task's own sections are at the end "
           "([task: seqrec](#task-seqrec)).", "",
           "## Top level", "", "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in TOP_KEYS.items()]
    out += ["", "## data", "", "| key | meaning |", "|---|---|"]
    out += [f"| `data.{k}` | {v} |" for k, v in DATA_KEYS.items()]
    out += ["", "### data.simulate (docs/simulator.md)", "", *_fields_table("data.simulate", SimConfig)]
    out += ["", "## noise (known-answer label flips on simulated data)", "", *_fields_table("noise", LabelNoise)]
    out += ["", "## split", "", *_params_table("split", split.split, skip=("df",))]
    out += ["", "## features", "", *_fields_table("features", FeatureConfig)]
    out += ["", "### features.sequences.&lt;name&gt;", "",
            *_fields_table("features.sequences.<name>", HistoryConfig)]
    out += ["", "## train", "", *_fields_table("train", TrainConfig, skip=_SKIP["train"])]
    out += ["", "## models.&lt;label&gt; (docs/models.md)", "",
            "A label's hyper-parameters are its model's constructor arguments (`model: NAME` picks the model when "
            "the label is not a model name). Types, ranges and allowed values are declared once on each "
            "constructor (`denoiserec/settings.py`) and checked from there before any data is read.", "",
            *_hparams("model", models.available(), models.model_class)]
    out += ["", "## methods.&lt;label&gt;", "",
            "A label's hyper-parameters are its method's constructor arguments (`method: NAME` when the label is "
            "not a method name; `oracle: true` trains on the simulator's hidden preference).", "",
            *_hparams("method", methods.available(),
                      lambda n: __import__(f"denoiserec.methods.{n}", fromlist=["METHOD"]).METHOD)]
    out += seqrec_tables()
    return "\n".join(out) + "\n"


def seqrec_tables() -> list[str]:
    """The ``seqrec`` task's sections (:meth:`denoiserec.tasks.base.Task.sections`, what its check enforces)."""
    from denoiserec.tasks import get_task

    out = ["", "## task: seqrec", "",
           "A config with `task: seqrec` (the negative-feedback transformer; example: "
           "`configs/negfeedback_quick.yaml`) takes `name`, `description`, `data`, `seeds` and `baseline` as above "
           "and these sections; each `models.<label>` entry takes any `model`, `train` or `eval` key, overriding "
           "the section's value for that label."]
    for section, cls in get_task("seqrec").sections().items():
        out += ["", f"### seqrec {section}", "", *_fields_table(section, cls, lookup=f"seqrec.{section}")]
    return out


def missing_meanings() -> list[str]:
    """Keys of the generated tables without a meaning (a test keeps this empty)."""
    return [line.split("`")[1] for line in render().splitlines()
            if line.startswith("| `") and line.replace("\\|", "").count("|") == 6 and line.rstrip().endswith("|  |")]


if __name__ == "__main__":
    print(render(), end="")
