"""The canonical feedback kinds (``docs/data.md``), without polars: what the schema checks, the encoder codes
and the model contract (:class:`denoiserec.data.spec.FeatureSpec`) counts.
"""

from __future__ import annotations

#: Raw feedback kinds and their (active e, label y) under the default music/feed mapping.
#: ``autoplay`` = played to the end without any user action (passive positive);
#: ``unplayed`` = recommended but never reached (session ended first; passive negative).
FEEDBACK_KINDS: dict[str, tuple[int, int]] = {
    "autoplay": (0, 1),
    "complete": (0, 1),
    "unplayed": (0, 0),
    "skip": (1, 0),
    "like": (1, 1),
    "dislike": (1, 0),
    "share": (1, 1),
    "download": (1, 1),
    "click": (1, 1),
    "unclick": (0, 0),
    "view": (0, 1),
    "cart": (1, 1),
    "fav": (1, 1),
    "buy": (1, 1),
}

#: Integer code of each feedback kind (0 is kept for padding in sequence features).
FEEDBACK_CODE: dict[str, int] = {k: i + 1 for i, k in enumerate(FEEDBACK_KINDS)}

#: Kinds grouped by meaning, used by sequence features (e.g. DUMN's four sequences).
POSITIVE_EXPLICIT = ("like", "share", "download", "cart", "fav", "buy")
