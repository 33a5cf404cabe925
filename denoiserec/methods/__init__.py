"""Denoising methods. One method per module; each module exposes its class as ``METHOD``.

``build_method("lcd", a=5, b=1)`` imports ``denoiserec.methods.lcd`` and calls ``METHOD(**hparams)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method

_NOT_METHODS = {"base"}


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_METHODS
                  and not m.name.startswith("_"))


def build_method(name: str, **hparams) -> Method:
    if name not in available():
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(available())}")
    cls = importlib.import_module(f"{__name__}.{name}").METHOD
    try:
        return cls(**hparams)
    except TypeError as e:
        raise ConfigError(f"method {name!r}: {e}") from e
