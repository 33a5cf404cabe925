"""Model zoo. One model per module; each module exposes its class as ``MODEL``.

``build_model("deepfm", spec, embed_dim=16)`` imports ``denoiserec.models.deepfm`` and calls
``MODEL(spec, **hparams)``; ``available()`` lists the models found.
"""

from __future__ import annotations

import importlib
import pkgutil

import torch

from denoiserec.errors import ConfigError


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


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
