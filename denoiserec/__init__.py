"""denoiserec: recommenders trained from noisy user feedback."""

__version__ = "0.1.0"
