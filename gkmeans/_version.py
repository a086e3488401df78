"""The version of gkmeans (one place: the package, the CLI and model files read it)."""

__version__ = "0.1.0"
