"""The model contract: the encoded feature layout every model is built from (``docs/design.md``, "Encoded
data"). Light on purpose (no polars), so that the models and :mod:`denoiserec.nn` import only torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from denoiserec.data.kinds import FEEDBACK_CODE


@dataclass(frozen=True)
class FeatureSpec:
    """The encoded feature layout that models are built from."""

    categorical: tuple[str, ...]
    cardinalities: tuple[int, ...]  # per field, including the OOV id 0
    numeric: tuple[str, ...]
    sequences: tuple[tuple[str, int], ...]  # (name, max_len); ids are in the ``item`` field's vocabulary
    n_feedback_kinds: int = len(FEEDBACK_CODE) + 1  # feedback codes, 0 = padding

    def field_index(self, name: str) -> int:
        return self.categorical.index(name)

    @property
    def item_field(self) -> int:
        return self.field_index("item")

    @property
    def user_field(self) -> int | None:
        return self.field_index("user") if "user" in self.categorical else None
