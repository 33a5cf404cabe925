"""Denoising methods. One method per module; each module exposes its class as ``METHOD`` and is registered by
name in :data:`METHODS` (``base`` holds the contract, ``_attention`` what the attention methods share).

``build_method("lcd", a=5, b=1)`` imports ``denoiserec.methods.lcd`` and calls ``METHOD(**hparams)``.
"""

from __future__ import annotations

import importlib

from denoiserec.errors import ConfigError
from denoiserec.methods.base import Method

METHODS = ("bootstrap", "edm", "lcd", "lcd_permuted", "lcd_re", "lcd_scale", "ndb", "none", "pn", "rce", "sar", "tce",
           "uae")


def available() -> list[str]:
    return sorted(METHODS)


def build_method(name: str, **hparams) -> Method:
    if name not in available():
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(available())}")
    from denoiserec.validate import check_params

    cls = importlib.import_module(f"{__name__}.{name}").METHOD
    hparams = check_params(cls, hparams, f"methods.{name}")  # the constructor's declared types and ranges
    try:
        return cls(**hparams)
    except TypeError as e:
        raise ConfigError(f"method {name!r}: {e}") from e
