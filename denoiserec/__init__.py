"""denoiserec: recommenders trained from noisy user feedback.

``prepare``, ``simulate``, ``fit``, ``run`` and ``Results`` are :mod:`denoiserec.api`'s (imported on first use,
so that ``import denoiserec.models`` stays light); ``load`` opens a saved bundle."""

from denoiserec._version import __version__

__all__ = ["__version__", "load"]

_API = ("prepare", "simulate", "fit", "run", "Results")


def load(path):
    """Load a model bundle (``<results>/bundles/<run>``): see :mod:`denoiserec.bundle`."""
    from denoiserec.bundle import load as _load

    return _load(path)


def __getattr__(name):
    if name in _API:
        from denoiserec import api

        return getattr(api, name)
    raise AttributeError(f"module 'denoiserec' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
