"""denoiserec: recommenders trained from noisy user feedback."""

__version__ = "0.1.0"


def load(path):
    """Load a model bundle (``<results>/bundles/<run>``): see :mod:`denoiserec.bundle`."""
    from denoiserec.bundle import load as _load

    return _load(path)
