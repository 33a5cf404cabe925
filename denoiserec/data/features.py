"""What to encode (``docs/design.md``, "Encoded data"): the feature configuration and the named history
presets. The encoding itself is :mod:`denoiserec.data.encoder`, the history building :mod:`denoiserec.data.history`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from denoiserec.data.kinds import POSITIVE_EXPLICIT
from denoiserec.settings import Count

#: Optional canonical columns used as categorical features when present. ``played_ratio`` is left out on
#: purpose: it reveals skips, i.e. the label.
DEFAULT_CATEGORICAL = ("user", "item", "context", "artist", "category", "hour")


@dataclass(frozen=True)
class HistoryConfig:
    """A history feature: the user's last ``max_len`` events whose kind is in ``kinds`` (None: any) and whose
    label equals ``label`` (None: any)."""

    max_len: Count = 20
    kinds: tuple[str, ...] | None = None
    label: Literal[0, 1] | None = None


#: DUMN's four behaviour sequences (Bian et al., RecSys '21, §4.1.1), disjoint, by canonical feedback kind:
#: click = implicit positive (simply clicked / viewed / played through), unclick = implicit negative (shown and
#: not taken up; a skip is the music analogue), like = explicit positive, dislike = explicit negative only.
#: ``unplayed`` (never reached) is in none of them. See ``docs/models.md`` for the per-source table.
DUMN_KINDS: dict[str, tuple[str, ...]] = {
    "click": ("click", "view", "autoplay", "complete"),
    "unclick": ("unclick", "skip"),
    "like": POSITIVE_EXPLICIT,
    "dislike": ("dislike",),
}

#: Named presets: ``hist`` (positives, for pooled-history models), DUMN's four behaviour sequences and ``all``
#: (their union in time order: DUMN_AF).
SEQUENCE_PRESETS: dict[str, HistoryConfig] = {
    "hist": HistoryConfig(label=1),
    "all": HistoryConfig(kinds=tuple(k for kinds in DUMN_KINDS.values() for k in kinds)),
    **{name: HistoryConfig(kinds=kinds) for name, kinds in DUMN_KINDS.items()},
}


@dataclass
class FeatureConfig:
    """What to encode. ``categorical``/``numeric`` None = infer from the columns present."""

    categorical: list[str] | None = None
    numeric: list[str] | None = None
    sequences: dict[str, HistoryConfig] = field(default_factory=dict)
    min_count: Count = 1
    impute: Literal["mean"] | None = None  # "mean": NaN/inf numeric values count as missing (else they are an error)

    @classmethod
    def from_dict(cls, d: dict | None) -> FeatureConfig:
        d = dict(d or {})
        seqs = {}
        for name, s in (d.pop("sequences", None) or {}).items():
            base = SEQUENCE_PRESETS.get(name, HistoryConfig())
            s = dict(s or {})
            if "kinds" in s and s["kinds"] is not None:
                s["kinds"] = tuple(s["kinds"])
            seqs[name] = HistoryConfig(**{**base.__dict__, **s})
        return cls(sequences=seqs, **d)
