"""Model zoo. One model per module; each module exposes its class as ``MODEL`` and is registered by name in
:data:`MODELS` (the same explicit style as :data:`denoiserec.methods.METHODS` and
:data:`denoiserec.data.sources.SOURCES`).

``build_model("deepfm", spec, embed_dim=16)`` imports ``denoiserec.models.deepfm`` (lazily) and calls
``MODEL(spec, **hparams)``; ``available()`` lists the registered models.
"""

from __future__ import annotations

import importlib

import torch

from denoiserec.errors import ConfigError

MODELS = ("autoint", "dcn", "dcnv2", "deepfm", "dfn", "dien", "din", "dmt", "dsin", "dumn", "fm", "lr", "pnn",
          "popularity", "widedeep", "xdeepfm", "youtubenet")


def available() -> list[str]:
    return sorted(MODELS)


def model_class(name: str) -> type[torch.nn.Module]:
    if name not in available():
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").MODEL


def build_model(name: str, spec, **hparams) -> torch.nn.Module:
    cls = model_class(name)
    try:
        return cls(spec, **hparams)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from e
