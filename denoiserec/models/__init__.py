"""Model zoo. One model per module; each module exposes its class as ``MODEL`` and is registered by name in
:data:`MODELS` (the same explicit style as :data:`denoiserec.methods.METHODS` and
:data:`denoiserec.data.sources.SOURCES`).

``build_model("deepfm", spec, embed_dim=16)`` imports ``denoiserec.models.deepfm`` (lazily) and calls
``MODEL(spec, **hparams)``; ``available()`` lists the registered models. What a model is: :class:`Model`;
adding one: docs/extending.md.
"""

from __future__ import annotations

import importlib
from typing import ClassVar, Protocol

import torch

from denoiserec.errors import ConfigError

MODELS = ("autoint", "dcn", "dcnv2", "deepfm", "dfn", "dien", "din", "dmt", "dsin", "dumn", "fm", "lr", "pnn",
          "popularity", "widedeep", "xdeepfm", "youtubenet")
#: the behaviour-sequence models (target attention, interest evolution, memories: :mod:`denoiserec.nn.sequence`);
#: their tests are in tests/test_dumn.py, every other model's in tests/test_models.py
SEQUENCE_MODELS = ("dfn", "dien", "din", "dmt", "dsin", "dumn")
#: the histories a model is given when a command builds its features for it (``denoiserec train``)
DEFAULT_SEQUENCES = ("hist",)


class Model(Protocol):
    """The model contract (docs/design.md, "Model"): a :class:`torch.nn.Module` built as
    ``MODEL(spec: FeatureSpec, **hparams)`` whose ``forward(batch)`` takes the model inputs of
    :func:`denoiserec.train.batch.model_inputs` and returns logits ``[B]``, or ``(logits, aux_loss)``.

    ``default_sequences`` (optional, default :data:`DEFAULT_SEQUENCES`): the history presets of
    :mod:`denoiserec.data.features` the model needs when a command builds its features
    (:func:`default_sequences`)."""

    default_sequences: ClassVar[tuple[str, ...]]

    def __init__(self, spec, **hparams) -> None: ...

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def available() -> list[str]:
    return sorted(MODELS)


def model_class(name: str) -> type[torch.nn.Module]:
    if name not in available():
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").MODEL


def default_sequences(name: str) -> tuple[str, ...]:
    """The history presets model ``name`` declares it needs (:attr:`Model.default_sequences`)."""
    return tuple(getattr(model_class(name), "default_sequences", DEFAULT_SEQUENCES))


def check_hparams(name: str, hparams: dict, where: str | None = None) -> dict:
    """Model ``name``'s hyper-parameters checked against its constructor's declarations (names, types, ranges and
    allowed values: :mod:`denoiserec.settings`), coerced; a :class:`ConfigError` naming ``where`` otherwise."""
    from denoiserec.validate import check_params

    return check_params(model_class(name), hparams, where or f"models.{name}", skip=("self", "spec"))


def build_model(name: str, spec, **hparams) -> torch.nn.Module:
    cls = model_class(name)
    hparams = check_hparams(name, hparams)
    try:
        return cls(spec, **hparams)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from e
