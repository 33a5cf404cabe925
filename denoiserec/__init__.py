"""denoiserec: recommenders trained from noisy user feedback."""

from denoiserec._version import __version__

__all__ = ["__version__", "load"]


def load(path):
    """Load a model bundle (``<results>/bundles/<run>``): see :mod:`denoiserec.bundle`."""
    from denoiserec.bundle import load as _load

    return _load(path)
